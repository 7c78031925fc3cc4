"""Alerts: webhook and Telegram posts (to a local HTTP server) on kill switch, errors and
recenters; failures never break anything and never log the URL."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gridlab.config.live import AlertsConfig
from gridlab.fakex.handle import FakeExchange
from live.alerts import Alerter
from live.runner import LiveRunner
from tests.live_helpers import RunnerThread, local_config

pytest_plugins = ["tests.fakex_fixtures"]


class Sink:
    """A local HTTP server recording POSTs (status 200, or `fail` -> 500)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.fail = False
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.posts.append((self.path, json.loads(body or b"{}")))
                self.send_response(500 if sink.fail else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.posts) < n and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.close()


def test_alerter_posts_dedupes_and_survives_failures(sink: Sink,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    tg = f"{sink.url}/botSECRET-TOKEN"
    cfg = AlertsConfig(webhook_url=f"{sink.url}/hook", telegram_url=tg, telegram_chat_id="42",
                       on_recenter=False, min_interval_s=60)

    async def go() -> Alerter:
        a = Alerter(cfg, runner="r1")
        assert a.notify("kill_switch", "KILL_SWITCH at 58700", severity="critical")
        assert a.notify("error", "boom")
        assert not a.notify("error", "boom")  # errors: one per min_interval_s
        assert not a.notify("error", "another error")
        assert not a.notify("recenter", "grid 2")  # switched off
        await a.drain(timeout=60)
        sink.fail = True
        a._last.clear()
        with caplog.at_level(logging.WARNING):
            assert a.notify("error", "other")
            await a.drain(timeout=60)
        await a.close()
        return a

    a = asyncio.run(go())
    paths = [p for p, _ in sink.posts]
    assert paths.count("/hook") == 3 and paths.count("/botSECRET-TOKEN/sendMessage") == 3
    hook = {b["kind"]: b for p, b in sink.posts if p == "/hook"}  # sent concurrently
    assert hook["kill_switch"]["severity"] == "critical" and hook["kill_switch"]["runner"] == "r1"
    tg_msgs = [b for p, b in sink.posts if p.endswith("sendMessage")]
    assert all(m["chat_id"] == "42" for m in tg_msgs)
    assert any("CRITICAL kill_switch: KILL_SWITCH" in m["text"] for m in tg_msgs)
    assert a.sent == 4 and a.failed == 2 and a.suppressed == 2
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("gridlab"))
    assert "alert failed" in ours
    assert "SECRET-TOKEN" not in ours and sink.url not in ours
    assert "SECRET-TOKEN" not in repr(cfg)


def test_runner_alerts_on_recenter_and_kill_switch(fake_exchange: FakeExchange, tmp_path: Path,
                                                   sink: Sink) -> None:
    fx = fake_exchange
    cfg = local_config(fx, tmp_path / "live",
                       risk={"kill_switch_dd": 0.03, "max_exposure_pct": 5.0},
                       recenter={"deviation": {"pct": 0.01}, "pump_dump": {"enabled": False}},
                       live={"alerts": {"webhook_url": f"{sink.url}/hook"}})
    runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
    rt = RunnerThread(runner).start()
    ts = 1_700_000_040_000
    try:
        for p, dt in ((60_000, 0), (61_150, 60_000), (61_700, 1000), (63_500, 60_000)):
            ts += dt
            fx.engine.trade("BTCUSDT", float(p), ts=ts)
            rt.settle(fx, ts)
        sink.wait(2)
    finally:
        rt.stop()
    kinds = [b["kind"] for _, b in sink.posts]
    assert "recenter" in kinds and "kill_switch" in kinds
    kill = next(b for _, b in sink.posts if b["kind"] == "kill_switch")
    assert kill["severity"] == "critical" and "cancelled" in kill["message"]
