"""Ring buffer of completed bars fed by ticks; simple and Wilder ATR; effective spacing.

State (preallocated by the caller: `ring, meta = new_bar_ring(cap)`, `cur = np.zeros(4)`):
- `ring` f8[capacity, 5]: rows (open_time, open, high, low, close) of completed bars,
  written circularly; the newest is at `(head - 1) % capacity`.
- `meta` i8[4]: (head, count, cur_open_time, -), `cur_open_time = -1` before the first tick.
- `cur` f8[4]: (open, high, low, close) of the bar being formed.
Bars without any tick are not synthesised: the ring holds only bars that saw a price.
Open times in the ring strictly increase from the oldest bar to the newest (a bar completes
only when a tick opens a later one), which the recenter kernels' binary search relies on.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gridlab.strategy.enums import AtrMode

__all__ = [
    "atr_nb",
    "atr_simple_nb",
    "atr_wilder_nb",
    "bar_at_nb",
    "bar_update_nb",
    "effective_spacing_nb",
    "new_bar_ring",
    "ring_capacity_nb",
]

H_HEAD, H_COUNT, H_CUR_OPEN = 0, 1, 2
B_OPEN_TIME, B_OPEN, B_HIGH, B_LOW, B_CLOSE = 0, 1, 2, 3, 4


@njit(cache=True)
def new_bar_ring(capacity):
    """Fresh ring state: (ring f8[capacity, 5], meta i8[4]); the caller adds `cur = zeros(4)`."""
    ring = np.zeros((capacity, 5), dtype=np.float64)
    meta = np.zeros(4, dtype=np.int64)
    meta[H_CUR_OPEN] = -1
    return ring, meta


@njit(cache=True)
def ring_capacity_nb(bar_ms, atr_period, dom_window_ms, pd_window_ms):
    """Ring size both runtimes use: the longest recenter window in bars, and 10 ATR periods."""
    cap = 10 * atr_period + 2
    cap = max(cap, dom_window_ms // bar_ms + 2)
    cap = max(cap, pd_window_ms // bar_ms + 2)
    return cap


@njit(cache=True, inline="always")
def bar_update_nb(ring, meta, cur, ts, price, bar_ms):
    """Feed one tick. A tick in a later bar completes the forming bar into the ring.

    A tick older than the forming bar (out of order) updates the forming bar. Fast path: a
    tick before `cur_open_time + bar_ms` belongs to the forming bar (`cur_open_time` is a
    multiple of `bar_ms`), so nothing is divided; the first tick of the next bar takes
    `cur_open + bar_ms`, a division runs only after a gap of a bar or more.
    """
    cur_open = meta[H_CUR_OPEN]
    if cur_open >= 0 and ts < cur_open + bar_ms:
        if price > cur[1]:
            cur[1] = price
        if price < cur[2]:
            cur[2] = price
        cur[3] = price
        return
    if cur_open >= 0 and ts < cur_open + 2 * bar_ms:
        bar_open = cur_open + bar_ms  # the next bar (no division: the common case)
    else:
        bar_open = (ts // bar_ms) * bar_ms
    if cur_open < 0:
        meta[H_CUR_OPEN] = bar_open
        cur[0] = price
        cur[1] = price
        cur[2] = price
        cur[3] = price
        return
    # here ts >= cur_open + bar_ms, so bar_open > cur_open: the forming bar is complete
    cap = ring.shape[0]
    head = meta[H_HEAD]
    ring[head, B_OPEN_TIME] = cur_open
    ring[head, B_OPEN] = cur[0]
    ring[head, B_HIGH] = cur[1]
    ring[head, B_LOW] = cur[2]
    ring[head, B_CLOSE] = cur[3]
    meta[H_HEAD] = head + 1 if head + 1 < cap else 0
    if meta[H_COUNT] < cap:
        meta[H_COUNT] += 1
    meta[H_CUR_OPEN] = bar_open
    cur[0] = price
    cur[1] = price
    cur[2] = price
    cur[3] = price


@njit(cache=True)
def bar_at_nb(ring, meta, i):
    """Row index in `ring` of the i-th most recent completed bar (0 = newest); 0 <= i < count.

    `(head - 1 - i) % capacity`, with an add instead of the division (hot in the scans)."""
    r = meta[H_HEAD] - 1 - i
    if r < 0:
        r += ring.shape[0]
        if r < 0:
            r %= ring.shape[0]
    return r


@njit(cache=True)
def atr_simple_nb(ring, meta, period):
    """Mean |c_i - c_(i-1)| over the last period + 1 closes (the seed's ATR); nan if too few."""
    if period < 1 or meta[H_COUNT] < period + 1:
        return np.nan
    s = 0.0
    prev = ring[bar_at_nb(ring, meta, period), B_CLOSE]
    for j in range(period - 1, -1, -1):
        c = ring[bar_at_nb(ring, meta, j), B_CLOSE]
        s += abs(c - prev)
        prev = c
    return s / period


@njit(cache=True)
def atr_wilder_nb(ring, meta, period):
    """Wilder's ATR over every bar in the ring, oldest first; nan if fewer than period + 1 bars.

    TR_i = max(h_i - l_i, |h_i - c_(i-1)|, |l_i - c_(i-1)|) for each bar with a predecessor;
    the first ATR is the mean of the first `period` TRs, then ATR = (ATR * (period - 1) + TR)
    / period.
    """
    count = meta[H_COUNT]
    if period < 1 or count < period + 1:
        return np.nan
    atr = 0.0
    prev_c = ring[bar_at_nb(ring, meta, count - 1), B_CLOSE]
    for j in range(count - 2, -1, -1):
        r = bar_at_nb(ring, meta, j)
        h = ring[r, B_HIGH]
        lo = ring[r, B_LOW]
        tr = max(h - lo, max(abs(h - prev_c), abs(lo - prev_c)))
        prev_c = ring[r, B_CLOSE]
        n_tr = count - 1 - j  # TRs so far
        if n_tr < period:
            atr += tr
        elif n_tr == period:
            atr = (atr + tr) / period
        else:
            atr = (atr * (period - 1) + tr) / period
    return atr


@njit(cache=True)
def atr_nb(ring, meta, atr_mode, period):
    """ATR of `atr_mode` (AtrMode): simple, Wilder, or nan when OFF."""
    if atr_mode == AtrMode.SIMPLE:
        return atr_simple_nb(ring, meta, period)
    if atr_mode == AtrMode.WILDER:
        return atr_wilder_nb(ring, meta, period)
    return np.nan


@njit(cache=True)
def effective_spacing_nb(base_spacing, atr, price, atr_mode, atr_mult, floor, ceil):
    """clip(atr / price * mult, floor, ceil) when ATR is on and known, else `base_spacing`."""
    if atr_mode == AtrMode.OFF or np.isnan(atr) or price <= 0.0:
        return base_spacing
    s = atr / price * atr_mult
    if s < floor:
        s = floor
    if s > ceil:
        s = ceil
    return s
