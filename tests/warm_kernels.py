"""Compile the replay kernels into numba's cache before the test workers start (`make test`).

A cold compile of the single-run kernel takes about two minutes and the portfolio's as long;
without this step each pytest-xdist worker (and each CLI or runner subprocess that starts
before a cache file exists) compiles the same kernels again. `python -m tests.warm_kernels
single|portfolio`, run from the repository root, compiles one half, so `make test` runs the
two halves side by side, one per core. The kernels compiled are exactly those the tests call
(same array types), through the public API on a few thousand synthetic trades; nothing is
asserted here.
"""

from __future__ import annotations

import sys
import time


def _market(symbol: str, seed: int):
    """Random-walk trades (the tests' `random_market`): the kernels' array types do not
    depend on trades or klines."""
    from gridlab.backtest.data import MarketData
    from tests.backtest_helpers import random_market

    return MarketData.from_trades(*random_market(seed, 2_000), symbol=symbol)


def warm_single() -> None:
    """`run_nb`, `run_state_nb` (a run kept and resumed) and the sweep kernel."""
    from gridlab.backtest.engine import run_backtest
    from gridlab.backtest.sweep import sweep

    md = _market("AAAUSDT", 1)
    out = run_backtest(md, keep_state=True)
    run_backtest(md, record=False)
    run_backtest(md, initial_state=out.out.state)
    sweep(md, {"spacing": [0.002, 0.004]})


def warm_portfolio() -> None:
    """The portfolio kernel and its sweep."""
    from gridlab.backtest.portfolio import backtest_portfolio, sweep_portfolio

    datas = [_market("AAAUSDT", 1), _market("BBBUSDT", 2)]
    cfg = {"portfolio": {"capital": 10_000.0, "symbols": [
        {"symbol": "AAAUSDT", "allocation": 0.5}, {"symbol": "BBBUSDT", "allocation": 0.5}]}}
    backtest_portfolio(datas, cfg)
    backtest_portfolio(datas, cfg, record=False)
    sweep_portfolio(datas, {"spacing": [0.002, 0.004]}, cfg)


PARTS = {"single": warm_single, "portfolio": warm_portfolio}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PARTS:
        print(f"usage: python -m tests.warm_kernels {{{'|'.join(PARTS)}}}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    PARTS[argv[0]]()
    print(f"warm {argv[0]}: {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
