"""Several grids from one account in one runner (config section `portfolio`), against the local
exchange: every fill of every symbol stored once, a failing symbol contained, the account kill
switch on total equity stopping every grid, the total exposure cap, the panel's per-symbol and
total views."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridlab.fakex.handle import FakeExchange
from gridlab.strategy.enums import Stop
from live.ids import parse_link
from live.runner import CommandError, LiveRunner
from tests.live_helpers import RunnerThread, local_config

pytest_plugins = ["tests.fakex_fixtures"]

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
PRICES = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0}
T0 = 1_700_000_040_000  # 40 s into a minute: the first check is the first print
MIN = 60_000


def portfolio(**limits: Any) -> dict[str, Any]:
    """Three linear grids, a third of 3000 USDT each."""
    return {"capital": 3000.0, **limits,
            "symbols": [{"symbol": s, "allocation": 1 / 3} for s in SYMBOLS]}


class Rig:
    """A local exchange with three symbols, a portfolio runner on it, and a market clock."""

    def __init__(self, fx: FakeExchange, tmp: Path, start: bool = True, **sections: Any) -> None:
        self.fx = fx
        sections.setdefault("portfolio", portfolio())
        sections.setdefault("recenter", {"deviation": {"enabled": False},
                                         "pump_dump": {"enabled": False}})
        self.cfg = local_config(fx, tmp / "live", **sections)
        self.alerts: list[tuple[str, str]] = []
        self.ts = T0 - 1000
        self.runner = self.rt = None
        if start:
            self.start()

    def start(self) -> Rig:
        self.runner = LiveRunner(self.cfg, credentials=self.fx.credentials,
                                 install_signals=False)
        self.runner.alerter.notify = self._alert  # type: ignore[method-assign]
        self.rt = RunnerThread(self.runner).start()
        return self

    def _alert(self, kind: str, message: str, **_: Any) -> bool:
        self.alerts.append((kind, message))
        return True

    def core(self, symbol: str) -> Any:
        return self.runner.core_of(symbol)

    def trade(self, moves: dict[str, float], dt: int = 1000, settle: bool = True) -> int:
        """One print per symbol at the same time: price = start price x (1 + move)."""
        self.ts += dt
        for sym, move in moves.items():
            self.fx.engine.trade(sym, round(PRICES[sym] * (1 + move), 2), ts=self.ts)
        if settle:
            self.rt.settle(self.fx, self.ts, symbols=list(moves))
        return self.ts

    def everywhere(self, move: float, dt: int = 1000) -> int:
        return self.trade({s: move for s in SYMBOLS}, dt)

    def open_orders(self, symbol: str | None = None) -> list[Any]:
        with self.fx.engine.lock:
            return [o for o in self.fx.engine.open[self.fx.api_key].values()
                    if symbol is None or o.symbol == symbol]

    def executions(self) -> list[dict[str, Any]]:
        with self.fx.engine.lock:
            return [dict(e) for e in self.fx.engine.accounts[self.fx.api_key].executions]

    def exposure(self) -> tuple[float, dict[str, float], float]:
        """(total |position| x price, per symbol, total equity) from the runner's ledgers."""
        per = {s: abs(self.core(s).ledger.position) * self.core(s).last_price for s in SYMBOLS}
        return sum(per.values()), per, self.runner.account.total_equity()

    def stop(self) -> None:
        if self.rt is not None:
            self.rt.stop()


@pytest.fixture
def fx(fake_exchange_factory: Callable[..., FakeExchange]) -> FakeExchange:
    f = fake_exchange_factory(symbols=SYMBOLS, price=PRICES)
    for s in SYMBOLS:
        f.engine.set_funding_rate(s, 0.0)
    return f


@pytest.fixture
def rig(fx: FakeExchange, tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(**sections: Any) -> Rig:
        r = Rig(fx, tmp_path, **sections)
        made.append(r)
        return r

    yield make
    for r in made:
        r.stop()


def test_three_symbols_every_fill_stored_once(rig: Callable[..., Rig]) -> None:
    r = rig(live={"order_poll_s": 0.1})
    r.everywhere(0.0)
    for s in SYMBOLS:
        assert len(r.open_orders(s)) == 8, s
    path = [-0.0025, -0.0045, -0.0065, -0.0015, 0.0015, 0.0035, 0.0, -0.003, 0.0025]
    for i, move in enumerate(path):  # the symbols move apart: not every one fills each time
        r.trade({"BTCUSDT": move, "ETHUSDT": path[(i + 3) % len(path)],
                 "SOLUSDT": -path[(i + 5) % len(path)]}, dt=2000)
    r.rt.wait(lambda: sum(c.stats["duplicates"] for c in r.runner.cores.values()) > 0, 10,
              "the REST poll to re-deliver fills")
    ex = r.executions()
    df = r.runner.store.fills(100_000)
    assert sorted(df["exec_id"]) == sorted(e["execId"] for e in ex)
    assert df["exec_id"].is_unique and bool(df["applied"].all())
    by_sym = Counter(e["symbol"] for e in ex)
    assert set(by_sym) == set(SYMBOLS) and min(by_sym.values()) >= 4, by_sym
    assert Counter(df["symbol"]) == by_sym
    with r.fx.engine.lock:
        positions = {s: p.size for s, p in r.fx.engine.accounts[r.fx.api_key].positions.items()}
    tags = set()
    for s in SYMBOLS:
        core = r.core(s)
        assert core.ledger.position == pytest.approx(positions.get(s, 0.0), abs=1e-9), s
        assert len(r.open_orders(s)) == core.strategy.active_slots()
        # every order of the symbol carries its grid's tag; one exchange order per id
        for o in r.open_orders(s):
            assert parse_link(o.order_link_id, "gl", core.s.tag) is not None
        tags.add(core.s.tag)
    assert len(tags) == 3
    with r.fx.engine.lock:
        links = [o.order_link_id for o in r.fx.engine.accounts[r.fx.api_key].orders.values()]
    assert len(links) == len(set(links))
    # rows carry their symbol: grid builds, events, per-symbol readers
    grids = r.runner.store.grids()
    assert sorted(grids["symbol"]) == sorted(SYMBOLS)
    assert set(r.runner.store.events(200)["symbol"].dropna()) == set(SYMBOLS)
    assert (r.runner.store.fills(1000, symbol="ETHUSDT")["symbol"] == "ETHUSDT").all()
    # one REST worker thread and one rate limiter serve every symbol
    ex0 = r.runner.exchange
    assert all(c.ex._pool is ex0._pool for c in r.runner.cores.values())
    assert all(c.ex.client.limiter is ex0.client.limiter for c in r.runner.cores.values())
    assert len(r.runner.streams) == 2  # public linear + private
    assert sorted(r.runner.streams[0].topics) == sorted(
        [f"publicTrade.{s}" for s in SYMBOLS] + [f"orderbook.1.{s}" for s in SYMBOLS])


def test_a_failing_symbol_is_contained(rig: Callable[..., Rig]) -> None:
    pf = portfolio()
    pf["symbols"] = [{"symbol": s, "allocation": 0.25} for s in (*SYMBOLS, "DOGEUSDT")]
    r = rig(portfolio=pf)
    # DOGEUSDT is not listed on the exchange: that grid does not start, the others do
    assert set(r.runner.cores) == {("linear", s) for s in SYMBOLS}
    assert "DOGEUSDT" in {k[1] for k in r.runner.failed}
    r.everywhere(0.0)
    assert all(len(r.open_orders(s)) == 8 for s in SYMBOLS)
    # SOLUSDT stops trading on the exchange: its next order is refused (110065)
    with r.fx.engine.lock:
        r.fx.engine.instruments[("linear", "SOLUSDT")].status = "Closed"
    placed = {s: r.core(s).stats["orders_placed"] for s in SYMBOLS}
    r.everywhere(-0.0025)  # each grid fills its first buy and wants the counter order
    sol = r.core("SOLUSDT")
    assert sol.error is not None and "110065" in sol.error
    assert sol.state_name == "error" and not sol.trading
    assert r.open_orders("SOLUSDT") == []  # its orders cancelled
    ev = r.runner.store.events(200)
    errs = ev[ev["kind"] == "grid_error"]
    assert set(errs["symbol"]) == {"SOLUSDT", "DOGEUSDT"}
    assert ("grid_error" in {k for k, _ in r.alerts})
    assert any("SOLUSDT" in m for k, m in r.alerts if k == "grid_error")
    # the other grids keep trading
    for move in (-0.0045, -0.0015, 0.0025):
        r.everywhere(move, dt=2000)
    for s in ("BTCUSDT", "ETHUSDT"):
        core = r.core(s)
        assert core.trading and core.stats["orders_placed"] > placed[s] + 2
        assert len(r.open_orders(s)) == core.strategy.active_slots()
    assert r.open_orders("SOLUSDT") == []
    # totals and per-symbol states on the API functions
    from live.panel import status

    st = status(r.runner)
    assert st["state"] == "partial"
    assert {g["symbol"]: g["state"] for g in st["grids"]} == {
        "BTCUSDT": "running", "ETHUSDT": "running", "SOLUSDT": "error", "DOGEUSDT": "error"}
    with pytest.raises(CommandError, match="did not start"):
        r.rt.call(r.runner.command("start", "DOGEUSDT"))
    # back to trading after the exchange lists it again and an explicit start
    with r.fx.engine.lock:
        r.fx.engine.instruments[("linear", "SOLUSDT")].status = "Trading"
    out = r.rt.call(r.runner.command("start", "SOLUSDT"))
    assert out["trading"] and out["was"] == "error"
    assert sol.error is None and len(r.open_orders("SOLUSDT")) > 0


def test_a_symbol_not_trading_at_start_waits_in_error(fx: FakeExchange, tmp_path: Path) -> None:
    with fx.engine.lock:
        fx.engine.instruments[("linear", "ETHUSDT")].status = "PreLaunch"
    r = Rig(fx, tmp_path)
    try:
        eth = r.core("ETHUSDT")
        assert eth.error == "instrument status is PreLaunch (not Trading)"
        r.everywhere(0.0)
        r.everywhere(-0.003, dt=MIN)
        assert r.open_orders("ETHUSDT") == [] and eth.stats["orders_placed"] == 0
        assert all(len(r.open_orders(s)) > 0 for s in ("BTCUSDT", "SOLUSDT"))
        assert {k for k, m in r.alerts if "ETHUSDT" in m} == {"grid_error"}
    finally:
        r.stop()


def test_repeated_refusals_put_one_grid_in_error(rig: Callable[..., Rig]) -> None:
    r = rig(live={"symbol_error_limit": 3})
    r.everywhere(0.0)
    r.fx.faults.reject_orders(count=3, code=110007)  # the next three order requests
    r.trade({"ETHUSDT": -0.0025, "BTCUSDT": 0.0, "SOLUSDT": 0.0})  # ETH wants a counter order
    eth = r.core("ETHUSDT")
    assert eth.error is None and eth.refused_in_row == 1  # refused once: retried at a check
    r.trade({"ETHUSDT": -0.0025, "BTCUSDT": 0.0, "SOLUSDT": 0.0}, dt=MIN)
    r.trade({"ETHUSDT": -0.0025, "BTCUSDT": 0.0, "SOLUSDT": 0.0}, dt=MIN)
    assert eth.error is not None and "3 orders refused in a row" in eth.error
    assert r.open_orders("ETHUSDT") == []
    assert r.core("BTCUSDT").trading and len(r.open_orders("BTCUSDT")) == 8


def test_account_kill_switch_stops_every_symbol(rig: Callable[..., Rig], tmp_path: Path
                                                ) -> None:
    r = rig(portfolio=portfolio(kill_switch_dd=0.01),
            risk={"kill_switch_dd": 0.05, "max_exposure_pct": 1.0})
    r.everywhere(0.0)
    for move in (-0.003, -0.005, -0.007, -0.0095):
        r.everywhere(move)
    assert all(r.core(s).ledger.position > 0 for s in SYMBOLS)
    r.everywhere(-0.02)
    assert r.runner.account.stopped == Stop.NONE  # no check time yet
    # the next check (the first print past it; the others' last prices are all -2 % by then):
    # total equity >= 1 % below the day's max
    r.everywhere(-0.02, dt=MIN)
    acct = r.runner.account
    assert acct.stopped == Stop.KILL_SWITCH
    total = acct.total_equity()
    assert (acct.kill_state[1] - total) / acct.kill_state[1] >= 0.01
    for s in SYMBOLS:  # no grid's own 5 % switch fired: the account's did
        core = r.core(s)
        eq = core.ledger.equity(core.last_price)
        assert (core.risk.kill_state[1] - eq) / core.risk.kill_state[1] < 0.05
        assert core.risk.stopped == Stop.KILL_SWITCH and not core.trading
    assert r.open_orders() == []
    ev = r.runner.store.events(200)
    acc_ev = ev[ev["kind"] == "account_kill_switch"]
    assert len(acc_ev) == 1 and acc_ev["symbol"].isna().all()
    assert set(ev[ev["kind"] == "kill_switch"]["symbol"]) == set(SYMBOLS)
    assert [k for k, _ in r.alerts].count("account_kill_switch") == 1
    assert "kill_switch" not in {k for k, _ in r.alerts}  # one alert for the account
    # nothing new afterwards, across checks
    n_orders = r.fx.engine.stats["orders"]
    r.everywhere(0.0, dt=MIN)
    r.everywhere(0.004, dt=MIN)
    assert r.open_orders() == [] and r.fx.engine.stats["orders"] == n_orders
    with pytest.raises(CommandError, match="account kill switch"):
        r.rt.call(r.runner.command("start", "BTCUSDT"))
    # it survives a restart
    r.stop()
    again = Rig(r.fx, tmp_path, portfolio=portfolio(kill_switch_dd=0.01),
                risk={"kill_switch_dd": 0.05, "max_exposure_pct": 1.0})
    try:
        again.ts = r.ts
        assert again.runner.account.stopped == Stop.KILL_SWITCH
        again.everywhere(0.0, dt=MIN)
        assert again.open_orders() == [] and r.fx.engine.stats["orders"] == n_orders
        # a start without a symbol clears it and rebuilds every grid
        out = again.rt.call(again.runner.command("start"))
        assert out["trading"] and again.runner.account.stopped == Stop.NONE
        assert all(len(again.open_orders(s)) > 0 for s in SYMBOLS)
    finally:
        again.stop()


def test_total_exposure_cap_is_never_exceeded(rig: Callable[..., Rig]) -> None:
    # share ~ cap / 3: every grid gets a part of the total (a larger share lets the first
    # grids take the whole cap: it is checked on the worst case, first come first served)
    cap, share = 0.4, 0.14
    r = rig(portfolio=portfolio(max_total_exposure_pct=cap, max_symbol_share=share),
            risk={"max_exposure_pct": 1.0, "kill_switch_dd": 0.0},
            grid={"n_buy": 5, "n_sell": 5})
    r.everywhere(0.0)
    worst = r.runner.account.summary()["worst_notional"]
    assert worst <= cap * 3000.0 * (1 + 1e-9)  # the resting orders' worst case fits the cap
    n_open = [len(r.open_orders(s)) for s in SYMBOLS]
    assert min(n_open) > 0 and sum(n_open) < 30, n_open  # every grid trades; the caps block
    seen = 0.0
    moves = [-0.002, -0.004, -0.006, -0.008, -0.01, -0.007, -0.012, -0.009, -0.014, -0.011]
    for i, move in enumerate(moves):
        r.trade({"BTCUSDT": move, "ETHUSDT": moves[(i + 2) % len(moves)],
                 "SOLUSDT": moves[(i + 4) % len(moves)]}, dt=20_000)
        total, per, eq = r.exposure()
        assert total <= cap * eq * 1.01, (i, total, eq)
        for s, v in per.items():
            assert v <= share * eq * 1.01, (i, s, v, eq)
        seen = max(seen, total / eq)
    assert seen >= 0.5 * cap  # the grids did load up to near the cap
    assert sum(r.core(s).stats["blocked_account"] for s in SYMBOLS) > 0
    assert r.runner.account.blocked > 0


def test_panel_per_symbol_and_totals(rig: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
                                     ) -> None:
    monkeypatch.setenv("GRIDLAB_PANEL_TOKEN", "tok-portfolio")
    r = rig(live={"panel": {"enabled": True, "port": 0}, "snapshot_s": 0.2})
    r.everywhere(0.0)
    for move in (-0.0025, -0.0045, 0.0015):
        r.everywhere(move, dt=2000)
    r.rt.wait(lambda: len(r.runner.store.account()) > 0, 10, "an account snapshot")
    url = r.runner.panel_url

    def get(path: str) -> Any:
        resp = httpx.get(url + path, timeout=30)
        assert resp.status_code == 200, (path, resp.text)
        return resp.json()

    st = get("/api/status")
    assert st["multi"] and st["symbols"] == list(SYMBOLS) and st["state"] == "running"
    assert [g["symbol"] for g in st["grids"]] == list(SYMBOLS)
    eq_sum = sum(g["equity"] for g in st["grids"])
    assert st["account"]["equity"] == pytest.approx(eq_sum, rel=1e-9)  # allocations add to 1
    one = get("/api/status?symbol=ETHUSDT")
    assert one["symbol"] == "ETHUSDT" and one["capital"] == pytest.approx(1000.0)
    pnl = get("/api/pnl")
    assert pnl["n_fills"] == sum(g["n_fills"] for g in pnl["grids"]) > 0
    assert get("/api/pnl?symbol=BTCUSDT")["n_fills"] == pnl["grids"][0]["n_fills"]
    lv = get("/api/grid/levels")
    assert [g["symbol"] for g in lv["grids"]] == list(SYMBOLS)
    lv_sol = get("/api/grid/levels?symbol=SOLUSDT")
    assert lv_sol["symbol"] == "SOLUSDT" and len(lv_sol["slots"]) == 8
    trades = get("/api/trades/recent?limit=500&symbol=BTCUSDT")["trades"]
    assert trades and {t["symbol"] for t in trades} == {"BTCUSDT"}
    chart = get("/api/equity/chart")
    assert len(chart["equity"]) >= 1 and set(chart["grids"]) == set(SYMBOLS)
    risk = get("/api/risk/metrics")
    assert [g["symbol"] for g in risk["grids"]] == list(SYMBOLS) and "equity" in risk
    assert get("/api/positions")["grids"][1]["symbol"] == "ETHUSDT"
    assert all(e["symbol"] in (None, "SOLUSDT") for e in get("/api/events?symbol=SOLUSDT"))
    assert get("/api/balance")["account"]["n_grids"] == 3
    assert httpx.get(url + "/api/status?symbol=XRPUSDT", timeout=30).status_code == 404
    assert httpx.get(url + "/api/status?symbol=no!", timeout=30).status_code == 422
    m = httpx.get(url + "/metrics", timeout=30).text
    assert 'gridlab_live_equity{symbol="SOLUSDT"}' in m and "gridlab_live_account_equity" in m
    # control per symbol: stop BTC only, then everything, then start everything
    auth = {"Authorization": "Bearer tok-portfolio"}
    before = {s: len(r.open_orders(s)) for s in SYMBOLS}
    resp = httpx.post(url + "/api/stop?symbol=BTCUSDT", headers=auth, timeout=60)
    assert resp.status_code == 200 and resp.json()["trading"] is False
    assert r.open_orders("BTCUSDT") == []
    assert {s: len(r.open_orders(s)) for s in SYMBOLS[1:]} == {s: before[s] for s in SYMBOLS[1:]}
    assert get("/api/status")["state"] == "partial"
    assert httpx.post(url + "/api/stop", headers=auth, timeout=60).status_code == 200
    assert r.open_orders() == [] and get("/api/status")["state"] == "paused"
    resp = httpx.post(url + "/api/start", headers=auth, timeout=60)
    assert resp.status_code == 200 and resp.json()["grids"] == {s: "running" for s in SYMBOLS}
    assert all(len(r.open_orders(s)) > 0 for s in SYMBOLS)
    for page in ("/", "/grid", "/positions", "/history", "/settings", "/grid?symbol=ETHUSDT"):
        html = httpx.get(url + page, timeout=30)
        assert html.status_code == 200 and 'id="symbol"' in html.text
        assert all(f'<option value="{s}">' in html.text for s in SYMBOLS)
    assert math.isfinite(r.runner.account.total_equity())
