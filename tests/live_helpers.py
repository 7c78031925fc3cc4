"""Helpers to run a LiveRunner in a background thread against the local exchange (tests,
benchmarks): start, wait until it has digested every print and fill, stop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from gridlab.config import GridlabConfig, config_from_dict
from gridlab.config.strategy import deep_merge
from live.runner import LiveRunner

__all__ = ["RunnerThread", "local_config"]

T = TypeVar("T")


def local_config(fx: Any, data_dir: str | Path, **sections: Any) -> GridlabConfig:
    """A config for a runner on the local exchange `fx` (panel off, fast client retries);
    keyword sections are merged in (e.g. grid={...}, live={...}, portfolio={...})."""
    raw: dict[str, Any] = {
        "exchange": {"env": "local", "endpoint": fx.url, "ws_public": fx.ws_public,
                     "ws_private": fx.ws_private, "timeout": 2.0,
                     "retry": {"max_attempts": 6, "backoff_base": 0.02, "backoff_cap": 0.2,
                               "jitter": 0.01},
                     "rate_limits": {"market": 1000, "order": 1000, "batch": 1000,
                                     "position": 1000, "account": 1000}},
        "trading": {"symbol": "BTCUSDT", "category": "linear", "capital": 1000.0,
                    "leverage": 1.0},
        "profile": None,
        "grid": {"spacing": 0.002, "n_buy": 4, "n_sell": 4, "profit_target": 0.0},
        "live": {"data_dir": str(data_dir), "panel": {"enabled": False},
                 "order_poll_s": 5.0, "snapshot_s": 3600.0, "export_s": 1.0},
        "data": {"db_path": str(Path(data_dir) / "research.duckdb")},
    }
    return config_from_dict(deep_merge(raw, sections))


class RunnerThread:
    """A LiveRunner on its own event loop in a daemon thread."""

    def __init__(self, runner: LiveRunner) -> None:
        self.runner = runner
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.code: int | None = None

    def start(self, timeout: float = 60.0) -> RunnerThread:
        """Run until ready (RuntimeError if it stopped instead)."""
        def main() -> None:
            self.loop = asyncio.new_event_loop()
            try:
                self.code = self.loop.run_until_complete(self.runner.run())
            finally:
                self.loop.close()

        self.thread = threading.Thread(target=main, name="live-runner", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.runner.ready.is_set():
            if self.runner.stopped.is_set() or time.monotonic() > deadline:
                raise RuntimeError(f"the runner did not start (exit code {self.code})")
            time.sleep(0.01)
        return self

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run a coroutine on the runner's loop and wait for its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def wait(self, pred: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what or pred}")
            time.sleep(0.005)

    def settle(self, fx: Any, ts: int | None = None, timeout: float = 20.0,
               symbols: list[str] | tuple[str, ...] | None = None) -> None:
        """Wait until the grids of `symbols` (default: every grid) saw the print at `ts` (if
        given), every grid stored and applied every execution of its symbol on the account,
        and the runner has nothing queued."""
        cores = list(self.runner.cores.values())
        assert cores
        clocked = [c for c in cores if symbols is None or c.s.symbol in symbols]
        acct = fx.engine.accounts[self.runner.credentials.api_key]

        def done() -> bool:
            if ts is not None and any(c.last_ts < ts for c in clocked):
                return False
            with fx.engine.lock:
                n: dict[str, int] = {}
                for e in acct.executions:
                    n[e["symbol"]] = n.get(e["symbol"], 0) + 1
            return (all(c.apply_seq >= n.get(c.s.symbol, 0) for c in cores)
                    and self.runner.idle())

        self.wait(done, timeout, "the runner to settle")
        time.sleep(0.002)
        self.wait(done, timeout, "the runner to settle")

    def stop(self, timeout: float = 60.0) -> int | None:
        """Graceful stop; returns the exit code."""
        self.runner.request_stop()
        if self.thread is not None:
            self.thread.join(timeout)
        return self.code


def warm_live_step_kernels() -> None:
    """Compile (or load from the numba cache) every step entry point the live runner calls,
    in this process, so that runner subprocesses started by the tests load them from the
    cache instead of compiling them inside a test's settle timeout (a cold cache costs tens
    of seconds on 2 cores)."""
    from gridlab.config.strategy import GridConfig, RecenterConfig, RiskConfig
    from gridlab.strategy.enums import Reason, Side, Stop
    from gridlab.strategy.params import make_filters
    from live.step import GridStep

    f = make_filters(0.1, 0.001, 0.001, 5.0, 100.0)
    s = GridStep(GridConfig(spacing=0.002, n_buy=2, n_sell=2), RecenterConfig(), RiskConfig(),
                 f, 10_000.0, maker_fee=0.0002, taker_fee=0.00055)
    s.observe(1_000, 60_000.0)
    s.check(1_000, 60_000.0)
    buys = [r for r in range(s.n) if s.g.orders[r]["side"] == Side.BUY]
    if buys:
        s.fill(buys[0], float(s.g.orders[buys[0]]["qty"]), 2_000, 59_800.0, 0.0002)
    s.gate(Side.BUY, 0.001, 59_000.0, 60_000.0)
    s.retry(3_000, 60_000.0)
    s.rebuild(4_000, 60_000.0, Reason.MANUAL)
    s.late_fill(Side.SELL, 0.001, 60_100.0, 5_000, 60_100.0, 0.0002)
    s.stop(6_000, 60_000.0, Stop.KILL_SWITCH)
