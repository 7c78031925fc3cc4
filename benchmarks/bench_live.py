"""Live runner benchmarks, against the local exchange on loopback.

The runner runs as its own process (`python -m live live --paper`, panel on), so its resident
memory and CPU are its own. Two runners, one after the other:
- one grid (BTCUSDT): RSS and CPU idle (grid resting, no prints) and while fills stream in (a
  mean-reverting random walk of prints, many per second); the time from a fill on the exchange
  (the wall clock when the print that filled it returned) to its row committed in the runner's
  DuckDB (`live_fills.stored_at`, 1 ms resolution), p50 / p95 / max;
- a portfolio of 20 symbols in one runner (one public stream with 20 subscriptions, one private
  stream, one REST thread, one DuckDB writer): RSS and CPU idle and while all 20 stream, and
  the same fill-to-DuckDB latency.

Run: `python -m benchmarks.bench_live` (about a minute).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import yaml

from benchmarks.common import Result
from gridlab.bybit.credentials import ENV_KEY, ENV_SECRET
from gridlab.fakex.handle import FakeExchange
from gridlab.store.live import LiveStore, open_live_views
from tests.live_helpers import local_config

__all__ = ["run", "run_portfolio", "run_single"]

SYM = "BTCUSDT"
ROOT = Path(__file__).resolve().parents[1]


def _cpu_rss(proc: psutil.Process, seconds: float) -> tuple[float, float]:
    """(CPU % of one core, max RSS in MB) of `proc` over `seconds`."""
    proc.cpu_percent(None)
    rss = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.2)
        rss = max(rss, proc.memory_info().rss / 2**20)
    return proc.cpu_percent(None), rss


def _wait(pred: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _mirror_rows(mirror: Path, sql: str) -> int:
    try:
        return int(open_live_views(mirror).execute(sql).fetchall()[0][0])
    except Exception:
        return -1


class _Runner:
    """A `python -m live live --paper` process on `fx` with config `cfg`."""

    def __init__(self, fx: FakeExchange, cfg: Any, tmp: Path, name: str) -> None:
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
        env = {**os.environ, ENV_KEY: fx.api_key, ENV_SECRET: fx.api_secret}
        self.log = (tmp / f"{name}.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "live", "live", "--config",
                                      str(path), "--paper", "--log-level", "WARNING"],
                                     cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.mirror = tmp / "live" / name
        self.db = tmp / "live" / f"{name}.duckdb"
        t0 = time.monotonic()
        _wait(lambda: _mirror_rows(self.mirror, "select count(*) from live_events where "
                                                "kind='start'") > 0
              or self.proc.poll() is not None, 120, "the runner to start")
        if self.proc.poll() is not None:
            raise RuntimeError(f"the runner exited with {self.proc.returncode}")
        self.startup_s = time.monotonic() - t0
        self.ps = psutil.Process(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def _stream(fx: FakeExchange, runner: _Runner, prices: dict[str, float], seconds: float,
            rate: float, ts: int) -> tuple[float, float, int, dict[str, float]]:
    """Prints at `rate` per second over all symbols for `seconds`: (CPU %, max RSS MB, prints,
    {execId: wall time of the print that made it})."""
    rng = np.random.default_rng(1)
    now_p = dict(prices)
    syms = list(prices)
    fill_wall: dict[str, float] = {}
    acct = fx.engine.accounts[fx.api_key]
    p = runner.ps
    p.cpu_percent(None)
    rss = 0.0
    t_end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < t_end:
        sym = syms[n % len(syms)]
        if n % len(syms) == 0:
            ts += 1000
        p0 = prices[sym]
        px = now_p[sym] + rng.normal(0, 4e-4 * p0) - 0.05 * (now_p[sym] - p0)
        now_p[sym] = px
        before = len(acct.executions)
        fx.engine.trade(sym, round(px, 1), ts=ts)
        wall = time.time()
        for e in acct.executions[before:]:
            fill_wall[e["execId"]] = wall
        n += 1
        if n % 50 == 0:
            rss = max(rss, p.memory_info().rss / 2**20)
        time.sleep(max(0.0, 1.0 / rate - 0.0002))
    return p.cpu_percent(None), rss, n, fill_wall


def _latency(runner: _Runner, fill_wall: dict[str, float]) -> np.ndarray:
    ls = LiveStore.open(runner.db)
    try:
        df = ls.fills(1_000_000)
    finally:
        ls.close()
    return np.array([(row.stored_at - fill_wall[row.exec_id] * 1000.0)
                     for row in df.itertuples() if row.exec_id in fill_wall])


def run_single(stream_s: float = 8.0, idle_s: float = 4.0, rate: float = 300.0) -> list[Result]:
    """One grid (BTCUSDT)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    fx = FakeExchange(rate_limits={}, state_path=tmp / "fx.json").start()
    fx.engine.set_funding_rate(SYM, 0.0)
    cfg = local_config(fx, tmp / "live", grid={"spacing": 0.001, "n_buy": 10, "n_sell": 10},
                       live={"panel": {"enabled": True, "port": 0}, "export_s": 5.0,
                             "snapshot_s": 300.0})
    runner = None
    try:
        runner = _Runner(fx, cfg, tmp, "btcusdt-linear")
        ts = 1_700_000_040_000
        fx.engine.trade(SYM, 60_000.0, ts=ts)
        _wait(lambda: len(fx.engine.open[fx.api_key]) == 20, 30, "the grid")
        time.sleep(1.0)
        cpu_idle, rss_idle = _cpu_rss(runner.ps, idle_s)
        cpu, rss, n, fill_wall = _stream(fx, runner, {SYM: 60_000.0}, stream_s, rate, ts)
        n_fills = len(fill_wall)
        _wait(lambda: _mirror_rows(runner.mirror, "select count(*) from live_fills")
              >= n_fills, 60, "the fills stored")
        runner.stop()
        lat = _latency(runner, fill_wall)
    finally:
        if runner is not None:
            runner.stop()
        fx.close()
    return [
        Result("live runner RSS, idle", rss_idle, "MB", 400.0, False,
               "runner process incl. panel, numba, pybit"),
        Result("live runner CPU, idle", cpu_idle, "% of a core", 5.0, False),
        Result("live runner RSS, fills streaming", rss, "MB", 400.0, False),
        Result("live runner CPU, fills streaming", cpu, "% of a core", None, False,
               f"{n / stream_s:.0f} prints/s, {n_fills / stream_s:.1f} fills/s"),
        Result("fill on exchange -> row in DuckDB, p50", float(np.percentile(lat, 50)),
               "ms", 20.0, False, f"{len(lat)} fills, 1 ms resolution"),
        Result("fill on exchange -> row in DuckDB, p95", float(np.percentile(lat, 95)),
               "ms", 50.0, False),
        Result("fill on exchange -> row in DuckDB, max", float(lat.max()), "ms", None, False),
    ]


def run_portfolio(n_symbols: int = 20, stream_s: float = 10.0, idle_s: float = 4.0,
                  rate: float = 600.0) -> list[Result]:
    """`n_symbols` grids in one runner (a portfolio), all streaming."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-pf-"))
    syms = [f"B{i:02d}USDT" for i in range(n_symbols)]
    prices = {s: float(200 + 90 * i) for i, s in enumerate(syms)}
    fx = FakeExchange(rate_limits={}, state_path=tmp / "fx.json", symbols=syms,
                      price=prices).start()
    for s in syms:
        fx.engine.set_funding_rate(s, 0.0)
    pf = {"capital": 20_000.0, "max_total_exposure_pct": 3.0,
          "symbols": [{"symbol": s, "allocation": 1.0 / n_symbols} for s in syms]}
    cfg = local_config(fx, tmp / "live", portfolio=pf,
                       grid={"spacing": 0.002, "n_buy": 5, "n_sell": 5},
                       risk={"max_exposure_pct": 1.5},
                       live={"panel": {"enabled": True, "port": 0}, "export_s": 5.0,
                             "snapshot_s": 300.0})
    runner = None
    try:
        runner = _Runner(fx, cfg, tmp, "portfolio")
        ts = 1_700_000_040_000
        for s in syms:
            fx.engine.trade(s, prices[s], ts=ts)
        _wait(lambda: len({o.symbol for o in list(fx.engine.open[fx.api_key].values())})
              == n_symbols, 60, "every grid")
        n_orders = len(fx.engine.open[fx.api_key])
        time.sleep(1.0)
        cpu_idle, rss_idle = _cpu_rss(runner.ps, idle_s)
        cpu, rss, n, fill_wall = _stream(fx, runner, prices, stream_s, rate, ts)
        n_fills = len(fill_wall)
        _wait(lambda: _mirror_rows(runner.mirror, "select count(*) from live_fills")
              >= n_fills, 60, "the fills stored")
        runner.stop()
        lat = _latency(runner, fill_wall)
        threads = "1 REST worker, 2 streams"
    finally:
        if runner is not None:
            runner.stop()
        fx.close()
    note = f"{n_symbols} symbols, {n_orders} resting orders"
    return [
        Result(f"live runner, {n_symbols} symbols: start-up", runner.startup_s, "s", 30.0,
               False, "process start to the first mirror export (reconciles every grid)"),
        Result(f"live runner, {n_symbols} symbols: RSS, idle", rss_idle, "MB", 450.0, False,
               note),
        Result(f"live runner, {n_symbols} symbols: CPU, idle", cpu_idle, "% of a core", 10.0,
               False, threads),
        Result(f"live runner, {n_symbols} symbols: RSS, streaming", rss, "MB", 450.0, False),
        Result(f"live runner, {n_symbols} symbols: CPU, streaming", cpu, "% of a core", None,
               False, f"{n / stream_s:.0f} prints/s, {n_fills / stream_s:.1f} fills/s"),
        Result(f"live runner, {n_symbols} symbols: fill -> DuckDB, p50",
               float(np.percentile(lat, 50)), "ms", 20.0, False, f"{len(lat)} fills"),
        Result(f"live runner, {n_symbols} symbols: fill -> DuckDB, p95",
               float(np.percentile(lat, 95)), "ms", 100.0, False),
    ]


def run() -> list[Result]:
    return run_single() + run_portfolio()


if __name__ == "__main__":
    t0 = time.monotonic()
    for r in run():
        print(f"{r.name:<48} {r.value:10.2f} {r.unit:<12} target {r.target} {r.note}")
    print(f"({time.monotonic() - t0:.0f} s)")
