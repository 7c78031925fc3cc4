"""The live runner against the local exchange: grid placement, fills stored once (stream and REST
poll), recenter, kill switch, exposure cap, fault recovery."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gridlab.fakex.handle import FakeExchange
from gridlab.strategy.enums import Stop
from live.runner import LiveRunner
from tests.live_helpers import RunnerThread, local_config

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
T0 = 1_700_000_040_000  # 40 s into a minute: the first check is the first print
MIN = 60_000


class Rig:
    """A local exchange, a runner on it, and a market clock."""

    def __init__(self, fx: FakeExchange, tmp: Path, **sections: Any) -> None:
        self.fx = fx
        self.cfg = local_config(fx, tmp / "live", **sections)
        self.runner = LiveRunner(self.cfg, credentials=fx.credentials, install_signals=False)
        self.rt = RunnerThread(self.runner).start()
        self.ts = T0 - 1000

    @property
    def core(self) -> Any:
        return self.runner.core

    def trade(self, price: float, dt: int = 1000, side: int = 1, settle: bool = True) -> int:
        self.ts += dt
        self.fx.engine.trade(SYM, float(price), side=side, ts=self.ts)
        if settle:
            self.rt.settle(self.fx, self.ts)
        return self.ts

    def open_orders(self) -> list[Any]:
        with self.fx.engine.lock:
            return [o for o in self.fx.engine.open[self.fx.api_key].values()]

    def executions(self) -> list[dict[str, Any]]:
        with self.fx.engine.lock:
            return [dict(e) for e in self.fx.engine.accounts[self.fx.api_key].executions
                    if e["symbol"] == SYM]

    def fills(self) -> Any:
        return self.runner.store.fills(100_000)


@pytest.fixture
def rig(fake_exchange: FakeExchange, tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(**sections: Any) -> Rig:
        r = Rig(fake_exchange, tmp_path, **sections)
        made.append(r)
        return r

    yield make
    for r in made:
        r.rt.stop()


def assert_stored_once(r: Rig) -> None:
    ex = r.executions()
    df = r.fills()
    assert sorted(df["exec_id"]) == sorted(e["execId"] for e in ex)
    assert df["exec_id"].is_unique and bool(df["applied"].all())


def test_places_the_grid_and_stores_each_fill_once(rig: Callable[..., Rig]) -> None:
    r = rig(live={"order_poll_s": 0.05})
    r.trade(60_000.0)
    orders = r.open_orders()
    assert len(orders) == 8
    want = {(d.side, d.price, d.qty) for d in r.core.strategy.orders()}
    assert {(1 if o.side == "Buy" else -1, o.price, o.qty) for o in orders} == want
    assert all(o.tif == "PostOnly" for o in orders)
    for p in (59_900, 59_700, 59_500, 59_800, 60_100, 60_300, 60_000):
        r.trade(p, dt=2000)
    r.rt.wait(lambda: r.core.stats["duplicates"] > 0, 10, "the REST poll to re-deliver fills")
    ex = r.executions()
    df = r.fills()
    assert len(ex) >= 8
    assert sorted(df["exec_id"]) == sorted(e["execId"] for e in ex)
    assert df["exec_id"].is_unique
    # every fill applied once, the ledger agrees with the exchange position
    pos = r.fx.engine.accounts[r.fx.api_key].positions[SYM].size
    assert r.core.ledger.position == pytest.approx(pos, abs=1e-9)
    assert Counter(df["kind"]) == {"grid": len(ex)}
    assert len(r.open_orders()) == r.core.strategy.active_slots()
    # round trips booked
    assert (df["grid_profit"] > 0).any()


def test_recenter_on_deviation(rig: Callable[..., Rig]) -> None:
    r = rig(recenter={"deviation": {"enabled": True, "pct": 0.01}})
    r.trade(60_000.0)
    old = {o.order_link_id for o in r.open_orders()}
    hi = r.core.strategy.bounds()[1]
    r.trade(hi * 1.012, dt=MIN)  # the next check sees price beyond highest * (1 + 1 %)
    assert r.core.gen == 2
    grids = r.runner.store.grids()
    assert grids["reason"].tolist() == ["DEVIATION", "INITIAL"]
    now = {o.order_link_id for o in r.open_orders()}
    assert not (now & old) and len(now) >= 4
    assert all(o.price > 60_000 for o in r.open_orders())
    assert "recenter" in set(r.runner.store.events()["kind"])


def test_kill_switch_cancels_all_and_stops(rig: Callable[..., Rig]) -> None:
    r = rig(risk={"kill_switch_dd": 0.01, "max_exposure_pct": 5.0},
            recenter={"deviation": {"enabled": False}, "pump_dump": {"enabled": False}})
    r.trade(60_000.0)
    for p in (59_800, 59_600, 59_400):
        r.trade(p, dt=1000)
    assert r.core.ledger.position > 0
    r.trade(58_700.0, dt=MIN)  # equity falls >= 1 % below the day's max at the check
    assert r.core.risk.stopped == Stop.KILL_SWITCH
    assert r.open_orders() == []
    ev = r.runner.store.events()
    assert "kill_switch" in set(ev["kind"])
    # no trading afterwards, even across checks
    r.trade(60_000.0, dt=MIN)
    r.trade(60_500.0, dt=MIN)
    assert r.open_orders() == []
    # a manual start clears it and rebuilds
    out = r.rt.call(r.runner.command("start"))
    assert out["trading"] and len(r.open_orders()) > 0


def test_exposure_never_exceeds_the_cap(rig: Callable[..., Rig]) -> None:
    cap = 0.5
    r = rig(risk={"max_exposure_pct": cap}, grid={"n_buy": 6, "n_sell": 6},
            recenter={"deviation": {"enabled": False}, "pump_dump": {"enabled": False}})
    r.trade(60_000.0)
    buys = [o for o in r.open_orders() if o.side == "Buy"]
    assert 0 < len(buys) < 6  # the cap blocks the deeper buys (worst case counts resting ones)
    prices = [59_700, 59_300, 58_900, 58_500, 59_200, 58_400, 58_000, 59_500, 58_200]
    for p in prices:
        r.trade(p, dt=20_000)
    df = r.fills().sort_values("apply_seq")
    led = r.core.ledger
    worst = 0.0
    for _, f in df.iterrows():
        worst = max(worst, abs(f["position"]) * f["price"] / led.capital)
    assert worst <= cap * 1.01  # equity ~ capital here; the cap holds on every fill
    assert r.core.stats["blocked"] > 0


def test_recovers_from_faults(rig: Callable[..., Rig]) -> None:
    r = rig(live={"order_poll_s": 0.2})
    fx = r.fx
    r.trade(60_000.0)
    assert len(r.open_orders()) == 8
    # WebSocket drop while fills happen: the REST poll and the resync catch them
    fx.faults.drop_ws("all")
    r.trade(59_850.0, settle=False)
    r.trade(59_700.0, settle=False)
    r.rt.settle(fx, r.ts)
    r.rt.wait(lambda: all(s.healthy for s in r.runner.streams), 15, "streams back")
    assert sum(s.reconnects for s in r.runner.streams) >= 1
    # 5xx and 10006 storms on order placement: the client retries, nothing is duplicated
    fx.faults.http_error(count=2, status=503, path="/v5/order/create")
    fx.faults.rate_limit(count=3, path="/v5/order/create")
    r.trade(60_000.0, dt=2000)
    r.trade(60_200.0, dt=2000)
    # insufficient balance: refused, retried at the next check
    fx.faults.reject_orders(count=2, code=110007)
    r.trade(59_850.0, dt=2000)
    r.trade(59_990.0, dt=MIN)
    r.trade(60_000.0, dt=MIN)
    df = r.runner.store.events()
    assert "order_refused" in set(df["kind"])
    assert len(r.open_orders()) == r.core.strategy.active_slots()
    links = [o.order_link_id for o in r.core.orders.values()]
    assert len(links) == len(set(links))
    assert_stored_once(r)
    assert math.isfinite(r.core.ledger.equity(60_000.0))


def test_post_only_rejections_are_retried_at_the_next_check(rig: Callable[..., Rig]) -> None:
    r = rig()
    fx = r.fx
    r.core.ex.best_bid_ask = lambda p, ts=0: (p, p)  # the runner does not see the jump coming
    fx.faults.set_latency(0.1)  # orders reach the book after the price jumped through them
    r.trade(60_000.0, settle=False)
    fx.engine.set_price(SYM, 62_000.0)  # no print: only the book moves
    r.rt.settle(fx, r.ts, timeout=60)
    fx.faults.set_latency(0.0)
    dead = [o for o in r.core.orders.values() if o.reason == "EC_PostOnlyWillTakeLiquidity"]
    assert len(dead) == 4 and all(o.side == -1 for o in dead)
    assert r.core.stats["post_only"] == 4
    r.trade(60_000.0, dt=MIN)  # the next check places them again, with a new attempt number
    assert len(r.open_orders()) == 8
    again = {o.order_link_id for o in r.open_orders() if o.side == "Sell"}
    assert all(link.endswith("-1") for link in again)


def test_partial_fills_flip_the_slot_once_complete(tmp_path: Path) -> None:
    from gridlab.fakex.engine import Engine
    from tests.fakex_fixtures import make_fake_exchange

    eng = Engine(partial_fills=True)
    eng.add_instrument(SYM, "linear", price=60_000.0, tick_size=0.1, qty_step=0.001,
                       min_qty=0.001, min_notional=5.0)
    fx = make_fake_exchange(tmp_path / "fx", engine=eng)
    try:
        r = Rig(fx, tmp_path)
        try:
            r.trade(60_000.0)
            buy = max((o for o in r.open_orders() if o.side == "Buy"), key=lambda o: o.price)
            slot = next(k for k, v in r.core.slot_link.items() if v == buy.order_link_id)
            half = buy.qty / 2
            fx.engine.trade(SYM, buy.price - 10, size=half, side=-1, ts=r.ts + 1000)
            r.ts += 1000
            r.rt.settle(fx, r.ts)
            assert r.core.slot_link[slot] == buy.order_link_id  # still the opening leg
            assert r.core.orders[buy.order_link_id].status == "PartiallyFilled"
            fx.engine.trade(SYM, buy.price - 10, size=half, side=-1, ts=r.ts + 1000)
            r.ts += 1000
            r.rt.settle(fx, r.ts)
            new = r.core.orders[r.core.slot_link[slot]]
            assert new.side == -1 and new.leg == "c"  # the closing leg after the full fill
            df = r.fills()
            part = df[df["order_link_id"] == buy.order_link_id]
            assert len(part) == 2 and part["qty"].sum() == pytest.approx(buy.qty)
        finally:
            r.rt.stop()
    finally:
        fx.close()


def test_long_mode_buys_the_seed_at_market(rig: Callable[..., Rig]) -> None:
    r = rig(grid={"mode": "long", "n_buy": 3, "n_sell": 3})
    r.trade(60_000.0)
    df = r.fills()
    seed = df[df["kind"] == "seed"]
    assert len(seed) == 1 and seed["side"].iloc[0] == 1 and not seed["is_maker"].iloc[0]
    assert r.core.ledger.position == pytest.approx(seed["qty"].iloc[0])
    sells = [o for o in r.open_orders() if o.side == "Sell"]
    buys = [o for o in r.open_orders() if o.side == "Buy"]
    assert len(sells) == 3 and len(buys) == 3
    assert sum(o.qty for o in sells) == pytest.approx(seed["qty"].iloc[0])


def test_one_check_clock_the_backtests(rig: Callable[..., Rig]) -> None:
    """Stops, kill switch and recenter run on `backtest.check_interval_ms`, the backtest's one
    check clock: checks fall on its multiples of the market clock, nothing else."""
    r = rig(backtest={"check_interval_ms": 20_000})
    assert r.core.s.check_ms == 20_000
    r.trade(60_000.0)  # the first print is a check (the first grid)
    assert r.core.stats["checks"] == 1 and r.core.next_check == (T0 // 20_000 + 1) * 20_000
    for _ in range(19):  # to T0 + 19 s: no check
        r.trade(60_000.0)
    assert r.core.stats["checks"] == 1
    r.trade(60_000.0)  # T0 + 20 s
    assert r.core.stats["checks"] == 2
    r.trade(60_000.0, dt=45_000)  # T0 + 65 s: one check for the two multiples passed
    assert r.core.stats["checks"] == 3 and r.core.next_check == T0 + 80_000


def test_the_removed_live_clocks_are_refused_by_name() -> None:
    from gridlab.config import config_from_dict
    from gridlab.errors import ConfigError

    for field in ("grid_check_s", "risk_check_s"):
        with pytest.raises(ConfigError) as err:
            config_from_dict({"live": {field: 60}})
        assert f"live.{field}" in str(err.value)
        assert "backtest.check_interval_ms" in str(err.value)


def test_spot_seed_is_gated_with_the_taker_fee(fake_exchange_factory: Any, tmp_path: Path
                                               ) -> None:
    """The seed is a market order: the spot no-borrow check charges it the taker fee (as the
    backtest's gate does), not the maker fee. Capital covers the seed with the maker fee but
    not with the taker fee: no seed is bought."""
    fx = fake_exchange_factory(category="spot")
    maker, taker = fx.engine.maker_fee, fx.engine.taker_fee
    assert maker < taker
    qty = 0.010  # one slot at the centre level: the seed is its qty, bought at 60 000
    capital = qty * 60_000.0 * (1 + (maker + taker) / 2)
    r = Rig(fx, tmp_path, trading={"category": "spot", "capital": capital},
            grid={"mode": "long", "n_buy": 0, "n_sell": 1, "spacing": 0.002})
    try:
        fx.engine.trade(SYM, 60_000.0, ts=T0, category="spot")
        r.rt.settle(fx, T0)
        assert r.core.strategy.slots["qty"][0] == pytest.approx(qty)
        assert r.executions() == [] and r.core.ledger.position == 0.0  # no seed bought
        assert r.core.stats["blocked"] == 2  # the seed, and the slot's sell: no inventory
    finally:
        r.rt.stop()


def test_fill_completeness_is_the_remainder_rule() -> None:
    """An order is complete when a fill covers its remainder, tracked fill by fill with no
    tolerance (the rule of `fill_remainder_nb`, which the live core calls): a fill that leaves
    less than half a qty step is not a complete fill."""
    from gridlab.store.live import OrderRow
    from gridlab.strategy.grid_nb import fill_remainder_nb

    row = OrderRow("l", SYM, "grid", 1, 0, "o", 0, 0, 1, 59_880.0, 0.003)
    assert row.rem == 0.003
    full, row.rem = fill_remainder_nb(row.rem, 0.001)
    assert not full and row.rem == 0.003 - 0.001
    full, row.rem = fill_remainder_nb(row.rem, 0.0019996)  # 0.0000004 left: < step / 2
    assert not full and row.rem == pytest.approx(4e-7)
    full, row.rem = fill_remainder_nb(row.rem, float(row.rem))  # exactly what is left
    assert full and row.rem == 0.0
    assert OrderRow("m", SYM, "grid", 1, 0, "o", 0, 0, 1, 1.0, 0.003, filled_qty=0.001).rem \
        == pytest.approx(0.002)  # a reloaded row starts from what is left
