"""Compile the replay kernels into numba's cache before the test workers start (`make test`).

A cold compile of the single-run kernel takes about two minutes and the portfolio's as long;
without this step each pytest-xdist worker (and each CLI or runner subprocess that starts
before a cache file exists) compiles the same kernels again. `python tests/warm_kernels.py
single|portfolio` compiles one half, so `make test` runs the two halves side by side, one per
core. The kernels compiled are exactly those the tests call (same array types), through the
public API on a few hundred synthetic bars; nothing is asserted here.
"""

from __future__ import annotations

import sys
import time

import numpy as np

T0 = 1_704_067_200_000


def _klines(symbol: str, seed: int, n: int = 600):
    from gridlab.backtest.data import MarketData

    rng = np.random.default_rng(seed)
    c = np.round(100.0 * np.exp(np.cumsum(rng.normal(0, 2e-3, n))), 2)
    o = np.concatenate([[100.0], c[:-1]])
    h = np.maximum(o, c) + 0.05
    lo = np.minimum(o, c) - 0.05
    ot = T0 + 60_000 * np.arange(n, dtype=np.int64)
    return MarketData.from_klines(ot, o, h, lo, c, np.ones(n), symbol=symbol)


def warm_single() -> None:
    """`run_nb`, `run_state_nb` (a run kept and resumed) and the sweep kernel."""
    from gridlab.backtest.engine import run_backtest
    from gridlab.backtest.sweep import sweep

    md = _klines("AAAUSDT", 1)
    out = run_backtest(md, keep_state=True)
    run_backtest(md, record=False)
    run_backtest(md, initial_state=out.out.state)
    sweep(md, {"spacing": [0.002, 0.004]})


def warm_portfolio() -> None:
    """The portfolio kernel and its sweep."""
    from gridlab.backtest.portfolio import backtest_portfolio, sweep_portfolio

    datas = [_klines("AAAUSDT", 1), _klines("BBBUSDT", 2)]
    cfg = {"portfolio": {"capital": 10_000.0, "symbols": [
        {"symbol": "AAAUSDT", "allocation": 0.5}, {"symbol": "BBBUSDT", "allocation": 0.5}]}}
    backtest_portfolio(datas, cfg)
    backtest_portfolio(datas, cfg, record=False)
    sweep_portfolio(datas, {"spacing": [0.002, 0.004]}, cfg)


PARTS = {"single": warm_single, "portfolio": warm_portfolio}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PARTS:
        print(f"usage: python tests/warm_kernels.py {{{'|'.join(PARTS)}}}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    PARTS[argv[0]]()
    print(f"warm {argv[0]}: {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
