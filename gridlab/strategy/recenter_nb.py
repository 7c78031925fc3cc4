"""Recenter triggers: one reason code per check (numba kernel).

Checked in Reason order: TRAIL_UP, TRAIL_DOWN, DEVIATION, PUMP_DUMP, DOMINANCE, TIME; the
first that fires wins. INITIAL, MANUAL and KILL are set by the caller.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gridlab.strategy.bars_nb import B_CLOSE, B_OPEN, B_OPEN_TIME, H_COUNT, bar_at_nb
from gridlab.strategy.enums import Reason

__all__ = ["dominance_share_nb", "pump_dump_ref_nb", "recenter_reason_nb"]


@njit(cache=True)
def pump_dump_ref_nb(ring, meta, since):
    """Open of the oldest completed bar with open_time >= since; nan if there is none."""
    ref = np.nan
    for i in range(meta[H_COUNT]):
        r = bar_at_nb(ring, meta, i)
        if ring[r, B_OPEN_TIME] < since:
            break
        ref = ring[r, B_OPEN]
    return ref


@njit(cache=True)
def dominance_share_nb(ring, meta, since, centre):
    """(share of closes above centre, share below, n bars) over completed bars opened >= since."""
    above = 0
    below = 0
    total = 0
    for i in range(meta[H_COUNT]):
        r = bar_at_nb(ring, meta, i)
        if ring[r, B_OPEN_TIME] < since:
            break
        c = ring[r, B_CLOSE]
        total += 1
        if c > centre:
            above += 1
        elif c < centre:
            below += 1
    if total == 0:
        return 0.0, 0.0, 0
    return above / total, below / total, total


@njit(cache=True)
def recenter_reason_nb(ts, price, centre, lowest_level, highest_level, last_recenter_ts,
                       ring, meta, rp):
    """Reason code of the first recenter trigger that fires at (ts, price); 0 = none.

    `lowest_level` / `highest_level` are the outer levels of the enabled slots (see
    `grid_bounds_nb`); nan (no enabled slot) disables the trailing and deviation triggers.
    """
    up_ok = rp.trail_up_limit <= 0.0 or price <= rp.trail_up_limit
    if rp.trail_up and price > highest_level and up_ok:
        return Reason.TRAIL_UP
    down_ok = rp.trail_down_limit <= 0.0 or price >= rp.trail_down_limit
    if rp.trail_down and price < lowest_level and down_ok:
        return Reason.TRAIL_DOWN
    above = price > highest_level * (1.0 + rp.deviation)
    below = price < lowest_level * (1.0 - rp.deviation)
    if rp.dev_enabled and (above or below):
        return Reason.DEVIATION
    if rp.pd_enabled:
        ref = pump_dump_ref_nb(ring, meta, max(ts - rp.pd_window_ms, last_recenter_ts))
        if not np.isnan(ref) and ref > 0.0 and abs(price / ref - 1.0) >= rp.pd_pct:
            return Reason.PUMP_DUMP
    if rp.dom_enabled and ts - last_recenter_ts >= rp.dom_window_ms:
        up, down, total = dominance_share_nb(ring, meta, ts - rp.dom_window_ms, centre)
        if total > 0 and (up >= rp.dom_share or down >= rp.dom_share):
            return Reason.DOMINANCE
    if rp.time_enabled and ts - last_recenter_ts >= rp.max_age_ms:
        return Reason.TIME
    return Reason.NONE
