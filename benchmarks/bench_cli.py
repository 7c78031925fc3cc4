"""CLI start-up: `gridlab --help` and a cold kline backtest, each a fresh process.

"Cold" = a new Python process (imports, config, store, numba kernels loaded from the on-disk
cache, replay, printing), the way a user runs it; the kernels are compiled once before timing.
Each figure is the minimum of a few runs (the machine is shared). The interpreter's own start
(`python -c pass`) is printed as the floor.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Result

__all__ = ["run"]

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5
DAYS = 30
ENTRY = "import sys; from gridlab.cli import main; main(sys.argv[1:])"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _min_time(argv: list[str], runs: int = RUNS) -> float:
    """Minimum wall time of `argv` over `runs` fresh processes (each must succeed)."""
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(argv, cwd=ROOT, env=_env(), capture_output=True, text=True,
                             timeout=300)
        dt = time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[3:])} failed: {out.stderr[-500:]}")
        best = min(best, dt)
    return best


def _market(db: Path) -> None:
    """30 days of 1m bars (about 43,200) in a fresh store."""
    from gridlab.data.synth import write_synthetic_market
    from gridlab.store.core import Store

    with Store.open(db) as store:
        write_synthetic_market(store, "BTCUSDT", "linear", days=DAYS, seed=1,
                               trades_per_day=30_000)


def run() -> list[Result]:
    py = sys.executable
    floor = _min_time([py, "-c", "pass"])
    help_s = _min_time([py, "-c", ENTRY, "--help"])
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        db = Path(tmp) / "cli.duckdb"
        _market(db)
        bt = [py, "-c", ENTRY, "backtest", "--db", str(db), "--source", "1", "--no-save"]
        _min_time(bt, runs=1)  # compile / load the kernels into the on-disk cache
        backtest_s = _min_time(bt)
    return [
        Result("python -c pass (floor)", floor, "s", note="interpreter start alone"),
        Result("gridlab --help, cold process", help_s, "s", target=0.3,
               higher_is_better=False, note=f"min of {RUNS}"),
        Result(f"gridlab backtest, {DAYS} d of 1m bars, cold process", backtest_s, "s",
               target=1.0, higher_is_better=False,
               note=f"min of {RUNS}; kernels from the numba cache"),
    ]


if __name__ == "__main__":
    for r in run():
        target = "" if r.target is None else f"  (target <= {r.target:g} s, ratio {r.ratio:.2f})"
        print(f"{r.name}: {r.value:.3f} {r.unit}{target}")
