"""Tick/step rounding and grid level prices (numba kernels).

Rounding uses integer counts of the step: `floor(x / step + 1e-9) * step` (down),
`ceil(x / step - 1e-9) * step` (up), `round(x / step) * step` (nearest). A step <= 0 means
"no rounding" and returns `x` unchanged.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from gridlab.strategy.enums import SpacingMode, Status

__all__ = [
    "ceil_to_nb",
    "floor_to_nb",
    "grid_levels_nb",
    "round_to_nb",
    "shift_range_nb",
]

_EPS = 1e-9


@njit(cache=True)
def floor_to_nb(x: float, step: float) -> float:
    """Largest multiple of `step` <= x (within 1e-9 steps); `x` if step <= 0."""
    if step <= 0.0:
        return x
    return np.floor(x / step + _EPS) * step


@njit(cache=True)
def ceil_to_nb(x: float, step: float) -> float:
    """Smallest multiple of `step` >= x (within 1e-9 steps); `x` if step <= 0."""
    if step <= 0.0:
        return x
    return np.ceil(x / step - _EPS) * step


@njit(cache=True)
def round_to_nb(x: float, step: float) -> float:
    """Nearest multiple of `step` (half to even); `x` if step <= 0."""
    if step <= 0.0:
        return x
    return np.round(x / step) * step


@njit(cache=True)
def grid_levels_nb(centre, spacing, n_buy, n_sell, spacing_mode, lower, upper, tick,
                   out_price, out_status):
    """Fill the `n_buy + n_sell + 1` level prices and statuses; return the number of OK levels.

    The centre level `L[n_buy]` is `centre` rounded to the nearest tick; buy-side levels are
    rounded down, sell-side levels up. Dropped levels keep their price and get a status:
    DROP_NONPOSITIVE (price <= 0), DROP_RANGE (outside [lower, upper], 0 = unset), or
    DROP_TICK_COLLAPSE (rounded onto its neighbour on the centre side). Checked in that order.
    """
    n = n_buy + n_sell
    c = round_to_nb(centre, tick)
    n_ok = 0
    for idx in range(n + 1):
        if idx < n_buy:
            i = n_buy - idx
            if spacing_mode == SpacingMode.GEOMETRIC:
                raw = c / math.pow(1.0 + spacing, float(i))
            else:
                raw = c * (1.0 - spacing * i)
            p = floor_to_nb(raw, tick)
        elif idx == n_buy:
            p = c
        else:
            i = idx - n_buy
            if spacing_mode == SpacingMode.GEOMETRIC:
                raw = c * math.pow(1.0 + spacing, float(i))
            else:
                raw = c * (1.0 + spacing * i)
            p = ceil_to_nb(raw, tick)
        out_price[idx] = p
    for idx in range(n + 1):
        p = out_price[idx]
        if p <= 0.0:
            st = Status.DROP_NONPOSITIVE
        elif (lower > 0.0 and p < lower) or (upper > 0.0 and p > upper):
            st = Status.DROP_RANGE
        elif (idx < n_buy and p >= out_price[idx + 1]) or (idx > n_buy and p <= out_price[idx - 1]):
            st = Status.DROP_TICK_COLLAPSE
        else:
            st = Status.OK
            n_ok += 1
        out_status[idx] = st
    return n_ok


@njit(cache=True)
def shift_range_nb(lower, upper, old_centre, new_centre):
    """Move a bounded range with the centre by the same ratio (0 = unset stays 0)."""
    if old_centre <= 0.0:
        return lower, upper
    r = new_centre / old_centre
    return lower * r, upper * r
