"""The speed ceiling: a minimal static grid kernel, and gridlab's ratio to it.

The minimal kernel (issue 11): a static neutral grid around the first price, cross fills on the
four-point kline path, cash / position / maker fees, drawdown on each bar's close equity, O(1)
work per path point unless a level is crossed (one "gap" index: buys rest below it, sells
above). No recenter, no risk checks, no latency, no recording: the floor any grid backtest
over the same data pays. Printed beside gridlab's single run and 1,000-set sweep over the
same 43,200 1m bars. Run: `python -m benchmarks.run ceiling`.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit, prange

from benchmarks.common import Result

__all__ = ["ceiling_nb", "ceiling_sweep_nb", "run"]


@njit(cache=True)
def ceiling_nb(price, spacing, n_half, qty, fee):
    """Final equity and max close-equity drawdown of a static neutral grid over `price`
    (4 points per bar, the 4th is the close)."""
    p0 = price[0]
    n = 2 * n_half
    lv = np.empty(n + 1)
    for j in range(n + 1):
        lv[j] = p0 * (1.0 + spacing * (j - n_half))
    gap = n_half
    cash = 0.0
    pos = 0.0
    peak = 0.0
    max_dd = 0.0
    lo = lv[gap - 1] if gap > 0 else -np.inf
    hi = lv[gap + 1] if gap < n else np.inf
    for i in range(price.shape[0]):
        p = price[i]
        while p < lo:  # falling through the buy at gap - 1: it fills, a sell rests at gap
            cash -= lo * qty * (1.0 + fee)
            pos += qty
            gap -= 1
            hi = lv[gap + 1]
            lo = lv[gap - 1] if gap > 0 else -np.inf
        while p > hi:  # rising through the sell at gap + 1
            cash += hi * qty * (1.0 - fee)
            pos -= qty
            gap += 1
            lo = lv[gap - 1]
            hi = lv[gap + 1] if gap < n else np.inf
        if i & 3 == 3:
            e = cash + pos * p
            if e > peak:
                peak = e
            elif peak - e > max_dd:
                max_dd = peak - e
    return cash + pos * price[-1], max_dd


@njit(parallel=True, cache=True)
def ceiling_sweep_nb(price, spacings, n_halves, qty, fee, out):
    """ceiling_nb for every (spacing, n_half) row, in parallel."""
    for j in prange(spacings.shape[0]):
        e, dd = ceiling_nb(price, spacings[j], n_halves[j], qty, fee)
        out[j, 0] = e
        out[j, 1] = dd


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run() -> list[Result]:
    """Ceiling figures, gridlab's matching figures and the ratios (ceiling / gridlab)."""
    from benchmarks.bench_backtest import _grid, _klines
    from gridlab.backtest.engine import run_arrays
    from gridlab.backtest.params import effective_config, run_params
    from gridlab.backtest.sweep import sweep

    bars = _klines(43_200)
    price = np.ascontiguousarray(bars.price)
    ceiling_nb(price, 0.002, 6, 0.01, 0.0002)
    t_one = _best(lambda: ceiling_nb(price, 0.002, 6, 0.01, 0.0002), 20)
    sp = np.repeat(np.linspace(0.001, 0.0055, 10), 100)
    nh = np.tile(np.arange(3, 13), 100).astype(np.int64)
    out = np.zeros((1000, 2))
    ceiling_sweep_nb(price, sp[:4], nh[:4], 0.01, 0.0002, out[:4])
    t_sw = _best(lambda: ceiling_sweep_nb(price, sp, nh, 0.01, 0.0002, out), 3)

    cfg = effective_config(None, None, {"capital": 10_000.0})
    rp = run_params(cfg, bars.filters, bars.category, trades=False, record=False)
    run_arrays(bars, rp)
    g_one = _best(lambda: run_arrays(bars, rp), 20)
    sweep(bars, {"grid.spacing": [0.002, 0.003]}, capital=10_000.0)
    g_sw = _best(lambda: sweep(bars, _grid(1000), capital=10_000.0), 2)
    return [
        Result("ceiling: minimal static grid, 1 run x 43,200 1m bars", t_one * 1e3, "ms",
               None, False),
        Result("ceiling: minimal static grid, 1,000 runs x 43,200 bars", t_sw, "s", None, False),
        Result("gridlab 1 run x 43,200 bars (metrics only) vs ceiling", t_one / g_one, "x",
               None, True, f"gridlab {g_one * 1e3:.2f} ms"),
        Result("gridlab sweep 1,000 sets x 43,200 bars vs ceiling", t_sw / g_sw, "x", None,
               True, f"gridlab {g_sw:.2f} s"),
    ]
