"""The control panel API: data endpoints, token-protected control, validation, /metrics, and a
scan for secrets over logs, the live store, its Parquet mirror, API responses and pages."""

from __future__ import annotations

import asyncio
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
             "/api/risk/metrics", "/api/events?limit=5", "/api/chart/market", "/api/orders",
             "/api/profiles"]
PAGES = ["/", "/grid", "/orders", "/positions", "/history", "/settings"]


class Panel:
    """A runner with its panel on the local exchange; five prints that fill some orders."""

    def __init__(self, fx: FakeExchange, tmp: Path, token: str | None,
                 monkeypatch: pytest.MonkeyPatch, *, t0: int = T0, snapshot_s: float = 0.2,
                 prices: tuple[float, ...] = (60_000, 59_850, 59_700, 60_000, 60_150),
                 **sections: Any) -> None:
        if token is None:
            monkeypatch.delenv("GRIDLAB_PANEL_TOKEN", raising=False)
        else:
            monkeypatch.setenv("GRIDLAB_PANEL_TOKEN", token)
        self.fx, self.token = fx, token
        live = {"panel": {"enabled": True, "port": 0}, "snapshot_s": snapshot_s,
                "export_s": 0.2}
        cfg = local_config(fx, tmp / "live", live=live, **sections)
        self.runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
        self.rt = RunnerThread(self.runner).start()
        self.url = self.runner.panel_url
        self.ts = t0
        for p in prices:
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


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Panel]:
    """One panel for the read-only tests of this module (snapshots every hour: the equity
    chart has one snapshot and the runner's marks)."""
    from tests.fakex_fixtures import make_fake_exchange

    tmp = tmp_path_factory.mktemp("shared-panel")
    fx = make_fake_exchange(tmp)
    mp = pytest.MonkeyPatch()
    p = Panel(fx, tmp, "tok-" + secrets.token_hex(8), mp, snapshot_s=3600.0)
    try:
        yield p
    finally:
        p.rt.stop()
        fx.close()
        mp.undo()


def _host_get(p: Panel, path: str, host: str) -> httpx.Response:
    return httpx.get(p.url + path, headers={"Host": host}, timeout=30)


def test_host_header_must_name_the_panel(shared: Panel) -> None:
    """DNS rebinding: a request whose Host is another name gets 421 on every route."""
    port = shared.url.rsplit(":", 1)[1]
    for path in ("/", "/api/status", "/static/panel.js", "/metrics"):
        assert _host_get(shared, path, f"127.0.0.1:{port}").status_code == 200
        assert _host_get(shared, path, f"localhost:{port}").status_code == 200
        for bad in ("evil.example", f"evil.example:{port}", "127.0.0.1:1", f"127.0.0.2:{port}"):
            r = _host_get(shared, path, bad)
            assert r.status_code == 421, (path, bad, r.status_code)
            assert "Host header" in r.json()["detail"]
    r = httpx.post(shared.url + "/api/stop", headers={"Host": "evil.example",
                                                      "Authorization": f"Bearer {shared.token}"},
                   timeout=30)
    assert r.status_code == 421 and shared.runner.core.trading  # nothing happened


def test_allowed_hosts_rule() -> None:
    from live.panel_security import allowed_hosts

    lo = allowed_hosts("127.0.0.1", 8000)
    assert lo == {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"}
    assert allowed_hosts("0.0.0.0", 8000) == lo  # every interface: loopback names only
    lan = allowed_hosts("192.168.1.5", 8000, ("panel.example.com", "proxy.local:443"))
    assert lan == {"192.168.1.5:8000", "panel.example.com:8000", "proxy.local:443"}
    assert "127.0.0.1" in allowed_hosts("127.0.0.1", 80)  # port 80: browsers omit it


def test_security_headers_on_every_response(shared: Panel) -> None:
    from live.panel_security import CSP

    resps = [shared.get(p) for p in ("/", "/grid", "/api/status", "/static/panel.js",
                                     "/static/plotly.min.js", "/api/nowhere", "/metrics")]
    resps.append(shared.post("/api/stop"))  # 401
    resps.append(_host_get(shared, "/", "evil.example"))  # 421
    for r in resps:
        assert r.headers["content-security-policy"] == CSP, r.url
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self';" in CSP and "frame-ancestors 'none'" in CSP
    assert "unsafe-eval" not in CSP


def test_exposed_panel_warns_in_the_log_and_on_every_page(
        shared: Panel, caplog: pytest.LogCaptureFixture) -> None:
    from live.panel import create_app
    from live.panel_security import warn_if_exposed

    assert warn_if_exposed("127.0.0.1") is None and warn_if_exposed("::1") is None
    assert "exposed-banner" not in shared.get("/").text
    r = shared.runner
    live = r.config.live.model_copy(update={"panel": r.config.live.panel.model_copy(
        update={"host": "0.0.0.0", "port": 8000})})
    cfg = r.config.model_copy(update={"live": live})

    class Exposed:
        config = cfg

        def __getattr__(self, name: str) -> Any:
            return getattr(r, name)

    with caplog.at_level(logging.WARNING, logger="gridlab.live"):
        app = create_app(Exposed())  # type: ignore[arg-type]
    assert any("PANEL EXPOSED" in m and "0.0.0.0" in m for m in caplog.messages)

    async def pages() -> list[str]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://127.0.0.1:8000") as client:
            return [(await client.get(path)).text for path in PAGES]

    for path, html in zip(PAGES, asyncio.run(pages()), strict=True):
        assert 'id="exposed-banner"' in html and "not on loopback" in html, path


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


def test_market_chart_has_candles_levels_orders_fills(shared: Panel) -> None:
    m = shared.get("/api/chart/market").json()
    bars = m["bars"]
    assert len(bars["t"]) >= 1 and bars["bar_ms"] == 60_000
    assert all(lo <= o <= hi and lo <= c <= hi for o, hi, lo, c in
               zip(bars["open"], bars["high"], bars["low"], bars["close"], strict=True))
    assert min(bars["low"]) == 59_700 and max(bars["high"]) == 60_150  # the fixture's prints
    slots = [s for s in shared.get("/api/grid/levels").json()["slots"]]
    assert m["levels"] == sorted({x for s in slots for x in (s["lo"], s["hi"])})
    assert len(m["orders"]) == len(shared.runner.core.slot_link) == 8
    assert {o["side"] for o in m["orders"]} == {"Buy", "Sell"}
    n_trades = int((shared.runner.store.fills(1000)["exec_type"] == "Trade").sum())
    assert len(m["fills"]["t"]) == n_trades >= 5
    assert set(m["fills"]["side"]) == {"Buy", "Sell"}


def test_open_orders_have_an_age(shared: Panel) -> None:
    o = shared.get("/api/orders").json()
    assert len(o["orders"]) == 8
    for row in o["orders"]:
        assert row["age_s"] is not None and 0 <= row["age_s"] < 600
        assert row["created_ms"] <= o["now_ms"]
        assert row["link"] in shared.runner.core.orders


def test_equity_chart_has_marks_before_the_first_snapshot_interval(shared: Panel) -> None:
    """Snapshots every hour: the chart still gets a point per second from the runner's marks."""
    shared.rt.wait(lambda: shared.get("/api/equity/chart").json()["n_marks"] >= 3, 20,
                   "three marks")
    eq = shared.get("/api/equity/chart").json()
    assert eq["n_snapshots"] <= 1 and len(eq["ts"]) >= 3
    assert eq["ts"] == sorted(eq["ts"])
    core = shared.runner.core
    assert eq["equity"][-1] == pytest.approx(core.ledger.equity(core.last_price))
    assert eq["price"][-1] == core.last_price


def test_error_counter_counts_the_error_events(shared: Panel) -> None:
    def errors_shown() -> int:
        ev = shared.get("/api/events?limit=1000").json()
        return sum(1 for e in ev if e["severity"] in ("error", "critical"))

    before = shared.get("/api/status").json()["error_events"]
    assert before == errors_shown()

    async def add() -> None:
        shared.runner.event("error", "a test error", "error", symbol=SYM)
        shared.runner.event("note", "not an error", "warning", symbol=SYM)
        shared.runner.event("error", "an account error", "critical")

    shared.rt.call(add())
    st = shared.get("/api/status").json()
    assert st["error_events"] == before + 2 == errors_shown()
    assert shared.get(f"/api/status?symbol={SYM}").json()["error_events"] == before + 2


def test_profile_diff_lists_every_parameter(shared: Panel) -> None:
    pr = shared.get("/api/profiles").json()
    assert pr["running"]["params"]["grid.spacing"] == 0.002
    assert "Conservative" in {x["profile"] for x in pr["named"]}
    assert pr["promoted"] == [] and "nothing promoted" in pr["note"]
    d = shared.get("/api/profiles/diff?profile=Conservative").json()
    rows = {x["param"]: x for x in d["rows"]}
    assert set(rows) == set(pr["running"]["params"])
    assert rows["grid.spacing"] == {"param": "grid.spacing", "running": 0.002,
                                    "chosen": 0.0035, "changed": True}
    assert d["n_changed"] == sum(x["changed"] for x in d["rows"]) >= 1
    assert d["rows"][0]["changed"]  # changed first
    same = shared.get("/api/profiles/diff?profile=Conservative").json()
    assert same == d
    assert shared.get("/api/profiles/diff?profile=NoSuch").status_code == 400
    assert shared.get("/api/profiles/diff?profile=bad name").status_code == 422


def test_blocked_slots_show_the_exposure_cap(fake_exchange: FakeExchange, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A cap of 50 % lets two of the four buys rest: the others show as blocked, with why."""
    p = Panel(fake_exchange, tmp_path, "tok", monkeypatch, prices=(60_000,),
              risk={"max_exposure_pct": 0.5})
    try:
        lv = p.get("/api/grid/levels").json()
        blocked = [s for s in lv["slots"] if s["display"] == "blocked"]
        resting = [s for s in lv["slots"] if s["display"] == "resting"]
        assert blocked and resting and lv["blocked"] == len(blocked)
        for s in blocked:
            assert s["order"] is None and "exposure cap 50%" in s["reason"]
        assert all(s["order"] is not None and s["reason"] == "" for s in resting)
        assert len(resting) == len(fake_exchange.engine.open[fake_exchange.api_key])
        assert p.runner.core.stats["blocked"] >= len(blocked)
        n = p.runner.core.stats["blocked"]
        p.get("/api/grid/levels")
        assert p.runner.core.stats["blocked"] == n  # asking counts nothing
    finally:
        p.rt.stop()


def test_cancel_one_order_and_close_the_position(panel: Panel) -> None:
    fx, core = panel.fx, panel.runner.core
    link = next(iter(core.slot_link.values()))
    body = {"order_link_id": link}
    assert panel.post("/api/orders/cancel", json=body).status_code == 401
    assert panel.post("/api/orders/cancel", token=panel.token,
                      json={"order_link_id": "nope"}).status_code == 404
    assert panel.post("/api/orders/cancel", token=panel.token,
                      json={"order_link_id": "a b"}).status_code == 422
    r = panel.post("/api/orders/cancel", token=panel.token, json=body)
    assert r.status_code == 200, r.text
    assert link not in {o.order_link_id for o in fx.engine.open[fx.api_key].values()}
    assert core.orders[link].status == "Cancelled"
    assert link not in {o["link"] for o in panel.get("/api/orders").json()["orders"]}
    panel.trade(59_550)  # fills buys: a long position
    assert core.ledger.position > 0
    assert panel.post("/api/position/close").status_code == 401
    r = panel.post("/api/position/close", token=panel.token)
    assert r.status_code == 200, r.text
    assert r.json()["positions"][SYM]["after"] == 0.0 and core.ledger.position == 0.0
    assert not core.trading and fx.engine.open[fx.api_key] == {}
    kinds = {e["kind"] for e in panel.get("/api/events?limit=50").json()}
    assert {"order_cancel", "position_closed"} <= kinds


def test_slot_refused_by_the_exchange_shows_its_reason(panel: Panel) -> None:
    """Margin: the exchange refuses a slot's next order (110007): the slot shows it."""
    core = panel.runner.core
    panel.fx.faults.reject_orders(count=1, code=110007, msg="ab not enough for new order")
    before = set(core.slot_link)
    panel.trade(59_870)  # a buy fills: its slot's counter order is refused
    empty = [s for s in panel.get("/api/grid/levels").json()["slots"] if s["order"] is None]
    assert len(empty) == 1 and empty[0]["slot"] in before
    assert empty[0]["display"] == "refused"
    assert empty[0]["reason"].startswith("refused by the exchange")
    assert "ab not enough for new order" in empty[0]["reason"]
