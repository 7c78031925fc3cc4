"""The control panel API: data endpoints, token-protected control, validation, /metrics, and a
scan for secrets over logs, the live store, its Parquet mirror, API responses and pages."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridlab.fakex.handle import FakeExchange
from live.runner import LiveRunner, setup_logging
from tests.live_helpers import RunnerThread, local_config

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
T0 = 1_700_000_040_000
GET_PATHS = ["/api/status", "/api/balance", "/api/positions", "/api/grid/levels",
             "/api/trades/recent?limit=5", "/api/pnl", "/api/equity/chart",
             "/api/risk/metrics", "/api/events?limit=5"]
PAGES = ["/", "/grid", "/positions", "/history", "/settings"]


class Panel:
    def __init__(self, fx: FakeExchange, tmp: Path, token: str | None,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        if token is None:
            monkeypatch.delenv("GRIDLAB_PANEL_TOKEN", raising=False)
        else:
            monkeypatch.setenv("GRIDLAB_PANEL_TOKEN", token)
        self.fx, self.token = fx, token
        cfg = local_config(fx, tmp / "live",
                           live={"panel": {"enabled": True, "port": 0}, "snapshot_s": 0.2,
                                 "export_s": 0.2})
        self.runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
        self.rt = RunnerThread(self.runner).start()
        self.url = self.runner.panel_url
        self.ts = T0
        for p in (60_000, 59_850, 59_700, 60_000, 60_150):
            self.trade(p)

    def trade(self, price: float, dt: int = 1000) -> None:
        self.ts += dt
        self.fx.engine.trade(SYM, float(price), ts=self.ts)
        self.rt.settle(self.fx, self.ts)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30)

    def post(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(self.url + path, headers=headers, timeout=60, **kw)


@pytest.fixture
def panel(fake_exchange: FakeExchange, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Panel]:
    p = Panel(fake_exchange, tmp_path, "tok-" + secrets.token_hex(8), monkeypatch)
    yield p
    p.rt.stop()


def test_api_returns_data(panel: Panel) -> None:
    panel.rt.wait(lambda: len(panel.runner.store.equity()) > 0, 10, "an equity snapshot")
    out = {p: panel.get(p) for p in GET_PATHS}
    assert all(r.status_code == 200 for r in out.values()), {p: r.text for p, r in out.items()}
    st = out["/api/status"].json()
    assert st["state"] == "running" and st["symbol"] == SYM and st["generation"] == 1
    assert st["control_enabled"] is True
    lv = out["/api/grid/levels"].json()
    assert len(lv["slots"]) == 8 and all(s["order"] for s in lv["slots"])
    assert len(out["/api/trades/recent?limit=5"].json()["trades"]) == 5
    assert out["/api/pnl"].json()["n_fills"] >= 5
    assert out["/api/pnl"].json()["grid_profit"] > 0
    assert len(out["/api/equity/chart"].json()["equity"]) >= 1
    assert out["/api/risk/metrics"].json()["stopped"] == "NONE"
    assert out["/api/positions"].json()["exchange"]["symbol"] == SYM
    assert {e["kind"] for e in out["/api/events?limit=5"].json()} >= {"grid_built"}
    assert out["/api/balance"].json()["wallet"]["total_equity"] > 0
    for p in PAGES:
        r = panel.get(p)
        assert r.status_code == 200 and "/static/plotly.min.js" in r.text
        assert "cdn" not in r.text.lower()
    js = panel.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    m = panel.get("/metrics").text
    assert "gridlab_live_fills_applied_total" in m and "gridlab_live_equity" in m


def test_control_needs_the_token(panel: Panel) -> None:
    assert panel.post("/api/stop").status_code == 401
    assert panel.post("/api/stop", token="wrong").status_code == 401
    assert panel.post("/api/start").status_code == 401
    assert panel.post("/api/profile/change", json={"profile": "Conservative"}).status_code == 401
    assert len(panel.fx.engine.open[panel.fx.api_key]) == 8  # nothing happened
    r = panel.post("/api/stop", token=panel.token)
    assert r.status_code == 200 and r.json()["trading"] is False
    assert panel.fx.engine.open[panel.fx.api_key] == {}
    assert panel.get("/api/status").json()["state"] == "paused"
    r = panel.post("/api/start", token=panel.token)
    assert r.status_code == 200 and r.json()["trading"] is True
    n_open = len(panel.fx.engine.open[panel.fx.api_key])
    assert n_open == len(panel.runner.core.slot_link) >= 6  # the exposure cap may block one
    # settings are validated
    bad = [{"profile": "no spaces!"}, {"profile": "Normal", "version": 0}, {"profile": "x" * 41},
           {"profile": "Normal", "extra": 1}, {}]
    for body in bad:
        assert panel.post("/api/profile/change", token=panel.token, json=body
                          ).status_code == 422, body
    assert panel.post("/api/profile/change", token=panel.token,
                      json={"profile": "NoSuchProfile"}).status_code == 400
    gen = panel.runner.core.gen
    r = panel.post("/api/profile/change", token=panel.token, json={"profile": "Conservative"})
    assert r.status_code == 200, r.text
    assert r.json()["gen"] == gen + 1
    st = panel.get("/api/status").json()
    assert st["profile"] == {"name": "Conservative", "version": None, "source": "panel"}
    assert abs(panel.get("/api/grid/levels").json()["spacing"] - 0.0035) < 1e-12
    ev = panel.get("/api/events?limit=50").json()
    assert "profile_change" in {e["kind"] for e in ev}


def test_control_disabled_without_a_token(fake_exchange: FakeExchange, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    p = Panel(fake_exchange, tmp_path, None, monkeypatch)
    try:
        for path in ("/api/start", "/api/stop"):
            r = p.post(path, token="anything")
            assert r.status_code == 403 and "GRIDLAB_PANEL_TOKEN" in r.json()["detail"]
        assert p.get("/api/status").json()["control_enabled"] is False
    finally:
        p.rt.stop()


def test_no_secret_anywhere(fake_exchange: FakeExchange, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakex_fixtures import make_fake_exchange

    key, secret = "K" + secrets.token_hex(10), "S" + secrets.token_hex(16)
    token = "T" + secrets.token_hex(12)
    hook = "http://127.0.0.1:9/hook-" + secrets.token_hex(8)
    fx = make_fake_exchange(tmp_path / "fx2", api_key=key, api_secret=secret)
    log_file = tmp_path / "runner.log"
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    noisy = {n: logging.getLogger(n).level for n in ("websocket", "pybit", "httpx",
                                                      "uvicorn.access")}
    setup_logging("DEBUG", log_file)
    monkeypatch.setenv("GRIDLAB_PANEL_TOKEN", token)
    try:
        cfg = local_config(fx, tmp_path / "live",
                           live={"panel": {"enabled": True, "port": 0}, "snapshot_s": 0.2,
                                 "export_s": 0.2, "alerts": {"webhook_url": hook}})
        runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
        rt = RunnerThread(runner).start()
        ts = T0
        for price in (60_000, 59_800, 60_100):
            ts += 1000
            fx.engine.trade(SYM, float(price), ts=ts)
            rt.settle(fx, ts)
        fx.faults.http_error(count=1, path="/v5/order/create")
        ts += 1000
        fx.engine.trade(SYM, 59_790.0, ts=ts)
        rt.settle(fx, ts)
        url = runner.panel_url
        assert httpx.post(url + "/api/stop", headers={"Authorization": f"Bearer {token}"},
                          timeout=30).status_code == 200
        texts = [httpx.get(url + p, timeout=30).text for p in GET_PATHS + PAGES]
        texts.append(httpx.get(url + "/metrics", timeout=30).text)
        texts.append(httpx.post(url + "/api/stop", headers={"Authorization": "Bearer x" + token},
                                timeout=30).text)
        repr_texts = [repr(runner.config), repr(runner.credentials), repr(runner.exchange.client)]
        rt.stop()
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
                h.close()
        root.setLevel(level)
        for n, lv in noisy.items():
            logging.getLogger(n).setLevel(lv)
        fx.close()
    blobs: dict[str, bytes] = {"log": log_file.read_bytes()}
    for f in (tmp_path / "live").rglob("*"):
        if f.is_file():
            blobs[str(f)] = f.read_bytes()
    for i, t in enumerate(texts + repr_texts):
        blobs[f"http/repr {i}"] = t.encode()
    assert any(f.endswith(".parquet") for f in blobs) and any(f.endswith(".duckdb") for f in blobs)
    assert len(blobs["log"]) > 0
    for name, data in blobs.items():
        for s in (key, secret, token, hook):
            assert s.encode() not in data, f"a secret leaked into {name}"
