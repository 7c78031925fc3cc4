"""Backtest engine benchmarks: single-run throughput, sweeps, CLI cold start, sweep memory.

Data is generated in-process (random walks), except the CLI figure which needs a small
synthetic store. Run: `python -m benchmarks.bench_backtest` (or through benchmarks.run).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    from benchmarks.common import Result
except ImportError:  # benchmarks/common.py not there yet: same fields
    from dataclasses import dataclass

    @dataclass
    class Result:  # type: ignore[no-redef]
        name: str
        value: float
        unit: str
        target: float | None = None
        higher_is_better: bool = True


__all__ = ["run"]

T0 = 1_704_067_200_000
ROOT = Path(__file__).resolve().parents[1]


def _trades(n: int, seed: int = 0):
    from gridlab.backtest.data import MarketData
    from gridlab.strategy.enums import Filters

    rng = np.random.default_rng(seed)
    ts = T0 + np.cumsum(rng.integers(0, 520, n)).astype(np.int64)  # ~30 days for 10M
    price = np.round(30_000 * np.exp(np.cumsum(rng.normal(0, 4e-5, n))), 1)
    size = np.round(rng.exponential(0.01, n), 3)
    return MarketData.from_trades(ts, price, size, symbol="BTCUSDT",
                                  filters=Filters(0.1, 0.001, 0.001, 0.0, 5.0))


def _klines(n_bars: int, seed: int = 1):
    from gridlab.backtest.data import MarketData
    from gridlab.strategy.enums import Filters

    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 4e-5, (n_bars, 60)).cumsum(axis=1)
    start = np.concatenate([[0.0], steps[:-1, -1]]).cumsum()
    path = 30_000 * np.exp(steps + start[:, None])
    o = np.round(np.concatenate([[30_000.0], path[:-1, -1]]), 1)
    c = np.round(path[:, -1], 1)
    h = np.maximum(np.round(path.max(axis=1), 1), np.maximum(o, c))
    low = np.minimum(np.round(path.min(axis=1), 1), np.minimum(o, c))
    ot = T0 + 60_000 * np.arange(n_bars, dtype=np.int64)
    return MarketData.from_klines(ot, o, h, low, c, np.ones(n_bars), bar_ms=60_000, source="1",
                                  symbol="BTCUSDT", filters=Filters(0.1, 0.001, 0.001, 0.0, 5.0))


def _grid(n: int) -> dict[str, list]:
    spacing = [round(0.001 + 0.0005 * i, 6) for i in range(10)]
    if n == 1000:
        return {"grid.spacing": spacing, "grid.n_buy": list(range(3, 13)),
                "grid.profit_target": [round(0.0005 * i, 6) for i in range(10)]}
    return {"grid.spacing": spacing, "grid.n_buy": list(range(3, 13))}


_ALL_OFF = {"recenter.dominance.enabled": False, "recenter.pump_dump.enabled": False,
            "recenter.deviation.enabled": False, "recenter.time.enabled": False}


def _one_run_ms(bars, overrides: dict) -> float:
    """Best of 20 in-process kernel runs (run_arrays, metrics only), milliseconds."""
    from gridlab.backtest.engine import run_arrays
    from gridlab.backtest.params import effective_config, run_params

    cfg = effective_config(None, None, {"capital": 10_000.0, **overrides})
    rp = run_params(cfg, bars.filters, bars.category, trades=False, record=False)
    run_arrays(bars, rp)
    return _best_of(lambda: run_arrays(bars, rp), 20) * 1e3


def _best_of(fn, repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


_MEM_SCRIPT = """
import resource, sys
sys.path.insert(0, {root!r})
from benchmarks.bench_backtest import _klines, _grid
from gridlab.backtest.sweep import sweep
data = _klines(43_200)
sweep(data, {{'grid.spacing': [0.002]}}, capital=10_000.0)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sweep(data, _grid(1000), capital=10_000.0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak / 1024, (peak - base) / 1024)
"""


def _cli_cold_start(tmp: Path) -> float:
    from gridlab.data.synth import write_synthetic_market
    from gridlab.store.core import Store

    db = tmp / "bench.duckdb"
    with Store.open(db) as s:
        write_synthetic_market(s, days=1, trades_per_day=100_000, intervals=("1",))
    exe = Path(sys.executable).with_name("gridlab")
    cmd = [str(exe), "backtest", "--db", str(db), "--source", "trades", "--no-save"]
    env = dict(os.environ, PYTHONHASHSEED="0")
    subprocess.run(cmd, check=True, capture_output=True, env=env)  # fills the numba cache
    best = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        best = min(best, time.perf_counter() - t)
    return best


def run() -> list[Result]:
    """The backtest benchmark figures (each with its target)."""
    from gridlab.backtest.engine import backtest
    from gridlab.backtest.sweep import sweep

    out: list[Result] = []
    trades = _trades(10_000_000)
    small = trades.slice(trades.start_ms, trades.start_ms + 3_600_000)
    backtest(small, capital=10_000.0)  # compile / load the cached kernels
    sweep(small, {"grid.spacing": [0.002, 0.003]}, capital=10_000.0)
    dt = _best_of(lambda: backtest(trades, capital=10_000.0))
    out.append(Result("backtest 1 run, 10M trades (fills + equity recorded)",
                      trades.n_events / dt / 1e6, "M trades/s", 100.0, True))

    dt = _best_of(lambda: backtest(trades, capital=10_000.0, record=False))
    out.append(Result("backtest 1 run, 10M trades (metrics only)",
                      trades.n_events / dt / 1e6, "M trades/s", 250.0, True))

    bars = _klines(43_200)
    out.append(Result("backtest 1 run x 43,200 1m bars, in process, metrics only",
                      _one_run_ms(bars, {}), "ms", 1.0, False))
    out.append(Result("  same, every recenter trigger off (the floor)",
                      _one_run_ms(bars, _ALL_OFF), "ms", None, False))
    dt = _best_of(lambda: sweep(bars, _grid(1000), capital=10_000.0))
    out.append(Result("sweep 1,000 sets x 30 d of 1m klines (43,200 bars)", dt, "s", 0.6, False))
    off = {"recenter.dominance.enabled": False, "recenter.pump_dump.enabled": False}
    dt = _best_of(lambda: sweep(bars, _grid(1000), capital=10_000.0, **off), repeat=1)
    out.append(Result("  same, dominance + pump/dump triggers off (for comparison)", dt,
                      "s", None, False))

    dt = _best_of(lambda: sweep(trades, _grid(100), capital=10_000.0), repeat=1)
    out.append(Result("sweep 100 sets x 10M trades", dt, "s", 1.5, False))

    with tempfile.TemporaryDirectory() as tmp:
        out.append(Result("gridlab backtest CLI, cold process, cached kernels",
                          _cli_cold_start(Path(tmp)), "s", 3.0, False))
    res = subprocess.run([sys.executable, "-c", _MEM_SCRIPT.format(root=str(ROOT))],
                         check=True, capture_output=True, text=True)
    peak, extra = (float(x) for x in res.stdout.split())
    out.append(Result("sweep 1,000 sets x 43,200 bars: peak RSS of the process", peak, "MB",
                      None, False))
    out.append(Result("sweep 1,000 sets x 43,200 bars: RSS added by the sweep", extra, "MB",
                      None, False))
    return out


if __name__ == "__main__":
    for r in run():
        ratio = ""
        if r.target:
            ratio = f"  ({r.value / r.target:.2f}x target {r.target})"
        print(f"{r.name}: {r.value:,.3f} {r.unit}{ratio}")
