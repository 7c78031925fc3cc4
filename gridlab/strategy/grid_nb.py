"""Grid slots: build a grid, the order each slot wants, slot fills (numba kernels).

See docs/strategy-kernels.md "Grid layout: levels and slots" for the semantics.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gridlab.strategy.enums import Mode, QtyMode, Side, SlotState, Status
from gridlab.strategy.levels_nb import ceil_to_nb, floor_to_nb, grid_levels_nb

__all__ = [
    "FILTER_TOL",
    "build_slots_nb",
    "fill_remainder_nb",
    "grid_bounds_nb",
    "on_slot_fill_nb",
    "slot_order_nb",
]

FILTER_TOL = 1e-9
"""Relative tolerance of the min-qty / min-notional / max-qty checks (float noise of n * step)."""


@njit(cache=True)
def _home_side(k, n_buy, mode):
    if mode == Mode.LONG:
        return Side.BUY
    if mode == Mode.SHORT:
        return Side.SELL
    return Side.BUY if k < n_buy else Side.SELL


@njit(cache=True)
def build_slots_nb(centre, spacing, gp, f, capital, slots):
    """Fill `slots` (n_buy + n_sell rows) for a grid centred at `centre`.

    Returns the seed quantity the caller trades at market: > 0 (buy) for LONG, < 0 (sell)
    for SHORT, 0 for NEUTRAL. Slots whose levels are dropped or whose qty fails a filter are
    DISABLED with that Status, never resized.
    """
    n = gp.n_buy + gp.n_sell
    return build_slots_into_nb(centre, spacing, gp, f, capital, slots,
                               np.empty(n + 1, dtype=np.float64), np.empty(n + 1, dtype=np.int64))


@njit(cache=True)
def build_slots_into_nb(centre, spacing, gp, f, capital, slots, lp, ls):
    """`build_slots_nb` with the caller's scratch arrays for the levels (`lp` f8[n+1], `ls`
    i8[n+1]): allocates nothing, so the step kernel can run without reference counting."""
    n_buy = gp.n_buy
    n = n_buy + gp.n_sell
    if slots.shape[0] != n or lp.shape[0] != n + 1 or ls.shape[0] != n + 1:
        raise ValueError("slots must have n_buy + n_sell rows, lp and ls one more")
    grid_levels_nb(centre, spacing, n_buy, gp.n_sell, gp.spacing_mode, gp.lower, gp.upper,
                   f.tick, lp, ls)
    total = capital * gp.leverage
    k_max = n
    if gp.mode == Mode.NEUTRAL:
        k_max = max(n_buy, gp.n_sell)
    base_qty = 0.0
    if gp.qty_mode == QtyMode.EQUAL_BASE:
        s_buy = 0.0
        s_sell = 0.0
        for k in range(n):
            if ls[k] == Status.OK and ls[k + 1] == Status.OK:
                if gp.mode == Mode.NEUTRAL and k >= n_buy:
                    s_sell += lp[k]
                else:
                    s_buy += lp[k]
        s = max(s_buy, s_sell)
        if s > 0.0:
            base_qty = floor_to_nb(total / s, f.qty_step)
    seed = 0.0
    for k in range(n):
        lo = lp[k]
        hi = lp[k + 1]
        st = ls[k]
        if st == Status.OK:
            st = ls[k + 1]
        home = _home_side(k, n_buy, gp.mode)
        qty = 0.0
        if st == Status.OK:
            if gp.qty_mode == QtyMode.EQUAL_BASE:
                qty = base_qty
            else:
                qty = floor_to_nb(total / k_max / lo, f.qty_step)
            if qty <= 0.0 or qty < f.min_qty * (1.0 - FILTER_TOL):
                st = Status.DROP_MIN_QTY
            elif qty * lo < f.min_notional * (1.0 - FILTER_TOL):
                st = Status.DROP_MIN_NOTIONAL
            elif f.max_qty > 0.0 and qty > f.max_qty * (1.0 + FILTER_TOL):
                st = Status.DROP_MAX_QTY
        row = slots[k]
        row["lo"] = lo
        row["hi"] = hi
        row["qty"] = qty
        row["entry"] = 0.0
        row["target"] = 0.0
        row["home"] = home
        row["status"] = st
        if st != Status.OK:
            row["state"] = SlotState.DISABLED
        elif gp.mode == Mode.LONG and k >= n_buy:
            row["state"] = SlotState.CLOSE_LEG
            row["entry"] = centre
            row["target"] = hi
            seed += qty
        elif gp.mode == Mode.SHORT and k < n_buy:
            row["state"] = SlotState.CLOSE_LEG
            row["entry"] = centre
            row["target"] = lo
            seed -= qty
        else:
            row["state"] = SlotState.OPEN_LEG
    return seed


@njit(cache=True)
def slot_order_nb(slots, k):
    """The order slot `k` wants resting: (side, price, qty); side 0 = no order."""
    state = slots[k]["state"]
    home = slots[k]["home"]
    if state == SlotState.OPEN_LEG:
        if home == Side.BUY:
            return home, slots[k]["lo"], slots[k]["qty"]
        return home, slots[k]["hi"], slots[k]["qty"]
    if state == SlotState.CLOSE_LEG:
        return -home, slots[k]["target"], slots[k]["qty"]
    return Side.NONE, 0.0, 0.0


@njit(cache=True, inline="always")
def fill_remainder_nb(rem, q):
    """The completeness rule: a fill of `q` on an order with remainder `rem` completes it iff
    `q >= rem`. Returns (complete, remainder after the fill: 0.0 when complete, else
    `rem - q`). The remainder is tracked exactly, fill by fill, with no tolerance."""
    if q >= rem:
        return True, 0.0
    return False, rem - q


@njit(cache=True)
def on_slot_fill_nb(slots, k, fill_price, profit_target, tick):
    """Apply the complete fill of slot `k`'s resting order at `fill_price`.

    Opening leg -> CLOSE_LEG with `entry` and `target`; closing leg -> OPEN_LEG and the round
    trip's grid profit `(fill_price - entry) * qty * home` (before fees).
    Returns (completed_round_trip, grid_profit). A DISABLED slot is left unchanged.
    """
    state = slots[k]["state"]
    home = slots[k]["home"]
    if state == SlotState.OPEN_LEG:
        p = fill_price
        if home == Side.BUY:
            if profit_target > 0.0:
                target = ceil_to_nb(p * (1.0 + profit_target), tick)
            else:
                target = slots[k]["hi"]
            if target < p + tick:
                target = ceil_to_nb(p + tick, tick)
        else:
            if profit_target > 0.0:
                target = floor_to_nb(p * (1.0 - profit_target), tick)
            else:
                target = slots[k]["lo"]
            if target > p - tick:
                target = floor_to_nb(p - tick, tick)
        slots[k]["state"] = SlotState.CLOSE_LEG
        slots[k]["entry"] = p
        slots[k]["target"] = target
        return False, 0.0
    if state == SlotState.CLOSE_LEG:
        profit = (fill_price - slots[k]["entry"]) * slots[k]["qty"] * home
        slots[k]["state"] = SlotState.OPEN_LEG
        slots[k]["entry"] = 0.0
        slots[k]["target"] = 0.0
        return True, profit
    return False, 0.0


@njit(cache=True)
def grid_bounds_nb(slots):
    """(lowest lo, highest hi) over the enabled slots; (nan, nan) if none is enabled."""
    lowest = np.inf
    highest = -np.inf
    for k in range(slots.shape[0]):
        if slots[k]["state"] != SlotState.DISABLED:
            lowest = min(lowest, slots[k]["lo"])
            highest = max(highest, slots[k]["hi"])
    if lowest == np.inf:
        return np.nan, np.nan
    return lowest, highest
