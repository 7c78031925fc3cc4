"""Live runner benchmarks, against the local exchange on loopback.

The runner runs as its own process (`python -m live live --paper`, panel on), so its resident
memory and CPU are its own:
- RSS and CPU while idle (grid resting, no prints);
- RSS and CPU while fills stream in (a mean-reverting random walk of prints, many per second);
- time from a fill on the exchange (the wall clock when the print that filled it returned) to
  its row committed in the runner's DuckDB (`live_fills.stored_at`, 1 ms resolution), p50 /
  p95 / max.

Run: `python -m benchmarks.bench_live`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import yaml

from benchmarks.common import Result
from gridlab.bybit.credentials import ENV_KEY, ENV_SECRET
from gridlab.fakex.handle import FakeExchange
from gridlab.store.live import LiveStore, open_live_views
from live.testing import local_config

__all__ = ["run"]

SYM = "BTCUSDT"
ROOT = Path(__file__).resolve().parents[1]


def _cpu_rss(proc: psutil.Process, seconds: float) -> tuple[float, float]:
    """(CPU % of one core, max RSS in MB) of `proc` and its children over `seconds`."""
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


def run(stream_s: float = 8.0, idle_s: float = 4.0, rate: float = 300.0) -> list[Result]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    fx = FakeExchange(rate_limits={}, state_path=tmp / "fx.json").start()
    fx.engine.set_funding_rate(SYM, 0.0)
    cfg = local_config(fx, tmp / "live", grid={"spacing": 0.001, "n_buy": 10, "n_sell": 10},
                       live={"panel": {"enabled": True, "port": 0}, "export_s": 5.0,
                             "snapshot_s": 300.0})
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    env = {**os.environ, ENV_KEY: fx.api_key, ENV_SECRET: fx.api_secret}
    log = (tmp / "runner.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "live", "live", "--config", str(path),
                             "--paper", "--log-level", "WARNING"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    mirror = tmp / "live" / "btcusdt-linear"
    out: list[Result] = []
    try:
        def started() -> bool:
            try:
                return open_live_views(mirror).execute(
                    "select count(*) from live_events where kind='start'").fetchall()[0][0] > 0
            except Exception:
                return proc.poll() is not None

        _wait(started, 120, "the runner to start")
        ts = 1_700_000_040_000
        fx.engine.trade(SYM, 60_000.0, ts=ts)
        _wait(lambda: len(fx.engine.open[fx.api_key]) == 20, 30, "the grid")
        p = psutil.Process(proc.pid)
        time.sleep(1.0)
        cpu_idle, rss_idle = _cpu_rss(p, idle_s)
        # stream prints: fills happen several times a second
        rng = np.random.default_rng(1)
        price = 60_000.0
        fill_wall: dict[str, float] = {}
        acct = fx.engine.accounts[fx.api_key]
        p.cpu_percent(None)
        rss_stream = 0.0
        t_end = time.monotonic() + stream_s
        n = 0
        while time.monotonic() < t_end:
            price += rng.normal(0, 25) - 0.05 * (price - 60_000.0)
            ts += 1000
            before = len(acct.executions)
            fx.engine.trade(SYM, round(price * 10) / 10, ts=ts)
            now = time.time()
            for e in acct.executions[before:]:
                fill_wall[e["execId"]] = now
            n += 1
            if n % 50 == 0:
                rss_stream = max(rss_stream, p.memory_info().rss / 2**20)
            time.sleep(max(0.0, 1.0 / rate - 0.0002))
        cpu_stream = p.cpu_percent(None)
        n_fills = len(fill_wall)
        _wait(lambda: len(open_live_views(mirror).execute(
            "select exec_id from live_fills").fetchall()) >= n_fills, 60, "the fills stored")
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        ls = LiveStore.open(tmp / "live" / "btcusdt-linear.duckdb")
        df = ls.fills(1_000_000)
        ls.close()
        lat = np.array([(row.stored_at - fill_wall[row.exec_id] * 1000.0)
                        for row in df.itertuples() if row.exec_id in fill_wall])
        out += [
            Result("live runner RSS, idle", rss_idle, "MB", 400.0, False,
                   "runner process incl. panel, numba, pybit"),
            Result("live runner CPU, idle", cpu_idle, "% of a core", 5.0, False),
            Result("live runner RSS, fills streaming", rss_stream, "MB", 400.0, False),
            Result("live runner CPU, fills streaming", cpu_stream, "% of a core", None, False,
                   f"{n / stream_s:.0f} prints/s, {n_fills / stream_s:.1f} fills/s"),
            Result("fill on exchange -> row in DuckDB, p50", float(np.percentile(lat, 50)),
                   "ms", 20.0, False, f"{len(lat)} fills, 1 ms resolution"),
            Result("fill on exchange -> row in DuckDB, p95", float(np.percentile(lat, 95)),
                   "ms", 50.0, False),
            Result("fill on exchange -> row in DuckDB, max", float(lat.max()), "ms", None,
                   False),
        ]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
        fx.close()
    return out


if __name__ == "__main__":
    for r in run():
        print(f"{r.name:<45} {r.value:10.2f} {r.unit:<12} target {r.target} {r.note}")
