"""Klines -> intra-bar path points (numba).

Each bar of length `bar_ms` becomes four points, processed by the engine exactly like trades:

- nearer extreme first: `O -> H -> L -> C` when the high is nearer the open
  (`H - O < O - L`), `O -> L -> H -> C` when the low is nearer;
- tie (`H - O == O - L`): a bar that closes at or above its open goes `O -> L -> H -> C`
  (it more plausibly dipped before rising), a bar closing below its open goes `O -> H -> L -> C`;
- point times: `open_time`, `open_time + bar_ms // 3`, `open_time + 2 * bar_ms // 3`,
  `open_time + bar_ms - 1`.

Between consecutive points the price is taken to move monotonically, so checking the points
is exact for the `cross` and `touch` fill models (the `queue` model needs trades).
Each point carries a quarter of the bar volume as its size (informational only).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["POINTS_PER_BAR", "kline_path", "kline_path_nb", "kline_path_order_nb"]

POINTS_PER_BAR = 4


@njit(cache=True)
def kline_path_order_nb(o: float, h: float, low: float, c: float) -> bool:
    """True when the path visits the high before the low (O -> H -> L -> C)."""
    up = h - o
    down = o - low
    if up < down:
        return True
    if up > down:
        return False
    return c < o


@njit(cache=True)
def kline_path_nb(open_time, o, h, low, c, volume, bar_ms, out_ts, out_price, out_size):
    """Write the 4 path points of every bar into `out_*` (length 4 * n_bars)."""
    n = open_time.shape[0]
    t1 = bar_ms // 3
    t2 = 2 * bar_ms // 3
    t3 = bar_ms - 1
    for i in range(n):
        j = 4 * i
        t0 = open_time[i]
        out_ts[j] = t0
        out_ts[j + 1] = t0 + t1
        out_ts[j + 2] = t0 + t2
        out_ts[j + 3] = t0 + t3
        out_price[j] = o[i]
        if kline_path_order_nb(o[i], h[i], low[i], c[i]):
            out_price[j + 1] = h[i]
            out_price[j + 2] = low[i]
        else:
            out_price[j + 1] = low[i]
            out_price[j + 2] = h[i]
        out_price[j + 3] = c[i]
        q = volume[i] * 0.25
        out_size[j] = q
        out_size[j + 1] = q
        out_size[j + 2] = q
        out_size[j + 3] = q


def kline_path(open_time: np.ndarray, o: np.ndarray, h: np.ndarray, low: np.ndarray,
               c: np.ndarray, volume: np.ndarray, bar_ms: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allocate and return (ts, price, size) of the path points of the given bars."""
    n = len(open_time)
    ts = np.empty(4 * n, np.int64)
    price = np.empty(4 * n, np.float64)
    size = np.empty(4 * n, np.float64)
    kline_path_nb(np.ascontiguousarray(open_time, np.int64), np.ascontiguousarray(o, np.float64),
                  np.ascontiguousarray(h, np.float64), np.ascontiguousarray(low, np.float64),
                  np.ascontiguousarray(c, np.float64), np.ascontiguousarray(volume, np.float64),
                  np.int64(bar_ms), ts, price, size)
    return ts, price, size
