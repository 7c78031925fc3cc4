"""Portfolio backtest benchmarks: throughput of one account replaying 3 and 20 symbols.

Data: seeded random walks generated in-process (trades, and 1m klines as 4-point paths), each
symbol its own price level and seed. Account limits are on (exposure cap, symbol share, kill
switch) so the account gate runs on every order decision. Run: `python -m
benchmarks.bench_portfolio` (or through benchmarks.run). Takes ~30 s.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import Result

__all__ = ["run"]

T0 = 1_704_067_200_000


def _trades(sym: str, n: int, seed: int, p0: float):
    from gridlab.backtest.data import MarketData
    from gridlab.strategy.enums import Filters

    rng = np.random.default_rng(seed)
    ts = T0 + np.cumsum(rng.integers(0, 520, n)).astype(np.int64)
    price = np.round(p0 * np.exp(np.cumsum(rng.normal(0, 4e-5, n))), 2)
    size = np.round(rng.exponential(0.01, n), 3)
    return MarketData.from_trades(ts, price, size, symbol=sym,
                                  filters=Filters(0.01, 0.001, 0.001, 0.0, 5.0))


def _klines(sym: str, n_bars: int, seed: int, p0: float):
    from gridlab.backtest.data import MarketData
    from gridlab.strategy.enums import Filters

    rng = np.random.default_rng(seed)
    c = np.round(p0 * np.exp(np.cumsum(rng.normal(0, 5e-4, n_bars))), 2)
    o = np.concatenate([[p0], c[:-1]])
    h = np.maximum(o, c) + np.round(rng.exponential(p0 * 2e-4, n_bars), 2)
    lo = np.minimum(o, c) - np.round(rng.exponential(p0 * 2e-4, n_bars), 2)
    ot = T0 + 60_000 * np.arange(n_bars, dtype=np.int64)
    return MarketData.from_klines(ot, o, h, lo, c, np.ones(n_bars), bar_ms=60_000, source="1",
                                  symbol=sym, filters=Filters(0.01, 0.001, 0.001, 0.0, 5.0))


def _config(syms: list[str]) -> dict:
    a = round(1.0 / len(syms), 6)
    return {"portfolio": {"capital": 100_000.0, "max_total_exposure_pct": 3.0,
                          "max_symbol_share": 0.5, "kill_switch_dd": 0.5,
                          "symbols": [{"symbol": s, "allocation": a} for s in syms]}}


def _best(fn, repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run() -> list[Result]:
    from gridlab.backtest.portfolio import backtest_portfolio

    out: list[Result] = []
    warm = [_trades("S0USDT", 2_000, 0, 100.0)]
    backtest_portfolio(warm, _config(["S0USDT"]))  # load / compile the cached kernel
    for n_sym, per_sym in ((3, 2_000_000), (20, 300_000)):
        syms = [f"S{i}USDT" for i in range(n_sym)]
        ds = [_trades(s, per_sym, 10 + i, 20.0 + 7.0 * i) for i, s in enumerate(syms)]
        total = sum(d.n_events for d in ds)
        for rec in (True, False):
            dt = _best(lambda ds=ds, syms=syms, rec=rec:
                       backtest_portfolio(ds, _config(syms), record=rec))
            out.append(Result(f"portfolio {n_sym} symbols x {per_sym:,} trades "
                              f"({'recorded' if rec else 'metrics only'})",
                              total / dt / 1e6, "M trades/s", None, True,
                              f"{total:,} events in {dt:.2f} s"))
    for n_sym in (3, 20):
        syms = [f"K{i}USDT" for i in range(n_sym)]
        bars = 43_200  # 30 days of 1m klines per symbol
        ds = [_klines(s, bars, 100 + i, 20.0 + 7.0 * i) for i, s in enumerate(syms)]
        dt = _best(lambda ds=ds, syms=syms: backtest_portfolio(ds, _config(syms), record=False))
        out.append(Result(f"portfolio {n_sym} symbols x 30 d of 1m klines (metrics only)",
                          n_sym * bars / dt / 1e6, "M bars/s", None, True,
                          f"{n_sym * bars:,} bars in {dt:.2f} s"))
    # events/s of the 20-symbol portfolio against a single run over one of its symbols
    from gridlab.backtest.engine import backtest

    one = ds[0]
    backtest(one, capital=5_000.0, record=False)
    dt1 = _best(lambda: backtest(one, capital=5_000.0, record=False), 5)
    single = one.n_events / dt1
    port = sum(d.n_events for d in ds) / dt
    out.append(Result("portfolio 20 x 1m klines: events/s relative to a single run", port / single,
                      "x", 0.8, True, f"portfolio {port / 1e6:.1f} M/s, single "
                      f"{single / 1e6:.1f} M/s"))
    return out


if __name__ == "__main__":
    t0 = time.perf_counter()
    for r in run():
        print(f"{r.name:<62} {r.value:10.3f} {r.unit:<12} {r.note}")
    print(f"total {time.perf_counter() - t0:.1f} s")
