"""CLI start-up and memory: `gridlab --help`, a cold kline backtest, `gridlab synth`.

"Cold" = a new Python process (imports, config, store, numba kernels loaded from the on-disk
cache, replay, printing), the way a user runs it; the kernels are compiled once before timing.
Each time is the minimum of a few runs (the machine is shared: each note carries the load
average). The interpreter's own start (`python -c pass`) is printed as the floor.

`gridlab synth` memory: the peak resident set (VmHWM, shared libraries included) of a fresh
`gridlab synth` process writing 30 days at the default 150,000 trades a day, next to the same
for 1 day: the difference is what the span length costs (O(chunk): about nothing).
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


def _load() -> str:
    """The 1-minute load average (2 cores shared: above ~2, times stretch)."""
    return f"load {os.getloadavg()[0]:.1f}"


def _peak_memory_mb(argv: list[str]) -> tuple[float, float]:
    """Peak resident set (VmHWM: shared libraries' pages included) and peak anonymous memory
    (RssAnon, sampled every 20 ms: the process's own data) of one fresh process running
    `argv` (it must succeed), in MB."""
    proc = subprocess.Popen(argv, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    anon_kb = hwm_kb = 0
    status_file = Path(f"/proc/{proc.pid}/status")
    while True:
        try:
            for line in status_file.read_text().splitlines():
                if line.startswith("RssAnon:"):
                    anon_kb = max(anon_kb, int(line.split()[1]))
                elif line.startswith("VmHWM:"):
                    hwm_kb = max(hwm_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        if _exited(proc.pid):
            break
        time.sleep(0.02)
    _pid, status, _usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv[3:])} failed: {err[-500:]}")
    # VmHWM of the process's own memory map, sampled; not ru_maxrss, which Linux carries
    # over an exec from the forking process (the bench process's own peak would show)
    return max(hwm_kb, 1) / 1024, anon_kb / 1024


def _exited(pid: int) -> bool:
    """True once `pid` has exited (a zombie waiting for wait4), without reaping it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


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
    help_note = f"min of {RUNS}; {_load()}"
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        db = Path(tmp) / "cli.duckdb"
        _market(db)
        # the kline replay alone: --no-model-error, since the store also holds the span's
        # trades and the model error would add their replay (a second, separate job)
        bt = [py, "-c", ENTRY, "backtest", "--db", str(db), "--source", "1", "--no-save",
              "--no-model-error"]
        _min_time(bt, runs=1)  # compile / load the kernels into the on-disk cache
        backtest_s = _min_time(bt)
        bt_note = f"min of {RUNS}; kernels from the numba cache; {_load()}"
        synth = [py, "-c", ENTRY, "synth", "--no-progress", "--seed", "3"]
        rss_1, anon_1 = _peak_memory_mb([*synth, "--days", "1",
                                         "--db", str(Path(tmp) / "s1.duckdb")])
        t0 = time.perf_counter()
        rss_30, anon_30 = _peak_memory_mb([*synth, "--days", str(DAYS),
                                           "--db", str(Path(tmp) / "s30.duckdb")])
        synth_s = time.perf_counter() - t0
        synth_note = (f"150,000 trades/day, {synth_s:.0f} s; 1 day: {rss_1:.0f} MB; "
                      f"{_load()}")
    return [
        Result("python -c pass (floor)", floor, "s", note="interpreter start alone"),
        Result("gridlab --help, cold process", help_s, "s", target=0.3,
               higher_is_better=False, note=help_note),
        Result(f"gridlab backtest, {DAYS} d of 1m bars, cold process", backtest_s, "s",
               target=1.0, higher_is_better=False, note=bt_note),
        Result(f"gridlab synth {DAYS} d, peak RSS", rss_30, "MB", target=300.0,
               higher_is_better=False, note=synth_note),
        Result(f"gridlab synth {DAYS} d, peak anonymous memory", anon_30, "MB",
               note=f"the process's own data, shared libraries' pages excluded; 1 day: "
                    f"{anon_1:.0f} MB"),
        Result(f"gridlab synth: peak RSS {DAYS} d minus 1 d", rss_30 - rss_1, "MB",
               note="what the span length costs (O(chunk) memory)"),
    ]


if __name__ == "__main__":
    for r in run():
        target = ("" if r.target is None else
                  f"  (target <= {r.target:g} {r.unit}, ratio {r.ratio:.2f})")
        print(f"{r.name}: {r.value:.3f} {r.unit}{target}  [{r.note}]")
