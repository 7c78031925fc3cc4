"""A rebuild moves the resting orders with amend (live/moves.py, docs/live.md "Moving orders
with amend"): a small recenter of a 40-level grid costs a few amend-batch requests, ends with
one resting order per slot at the new prices, a fill of a moved order goes to its new slot,
a refused amend falls back to cancel + create, and the link aliases survive a restart (also
one cut between the amend and its record)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gridlab.fakex.handle import FakeExchange
from gridlab.fakex.records import EngineError
from gridlab.strategy.enums import Reason
from live.ids import LinkKey, parse_link
from tests.test_bybit_runner import Started, example_exchange

pytest_plugins = ["tests.fakex_fixtures"]

GRID = {"spacing": 0.001, "n_buy": 20, "n_sell": 20, "profit_target": 0.0}
SECTIONS: dict[str, Any] = {
    "grid": GRID, "trading": {"capital": 5000.0}, "risk": {"max_exposure_pct": 100.0},
    "recenter": {"deviation": {"enabled": False}, "pump_dump": {"enabled": False}}}


@pytest.fixture
def fx(fake_exchange_factory: Callable[..., FakeExchange]) -> FakeExchange:
    made = fake_exchange_factory(rate_limits=None)  # Bybit's per-UID limits
    made.engine.set_funding_rate("BTCUSDT", 0.0)
    return made


@pytest.fixture
def run(fx: FakeExchange, tmp_path: Path) -> Iterator[Callable[..., Started]]:
    """`run()`: a runner on `fx` with the example rate limits (the same store each call)."""
    made: list[Started] = []

    def make(**extra: Any) -> Started:
        r = Started(fx, tmp_path, exchange=example_exchange(), **SECTIONS, **extra)
        if made:
            r.ts = made[-1].ts
        made.append(r)
        return r

    yield make
    for r in made:
        r.rt.stop()


def entry_delta(r: Started, before: dict[str, int]) -> dict[str, int]:
    """Order-entry requests sent since `before`, by path (zeros left out)."""
    d = {p: n - before.get(p, 0) for p, n in r.order_entry().items()}
    return {p: n for p, n in d.items() if n}


def assert_one_per_slot(r: Started) -> None:
    """Every slot that wants an order has exactly one resting, at the wanted side, price and
    qty, under the link the runner holds for the slot; nothing else of ours rests."""
    core = r.runner.core
    want = {d.slot: d for d in core.strategy.orders()}
    opened = {o.order_link_id: o for o in r.open_orders()}
    assert set(core.slot_link) == set(want)
    assert len(opened) == len(want) == len(set(core.slot_link.values()))
    for slot, link in core.slot_link.items():
        o, d = opened[link], want[slot]
        assert (o.side == "Buy") == (d.side > 0), slot
        assert o.price == pytest.approx(d.price, abs=1e-9) and o.qty == pytest.approx(d.qty)


def small_recenter(r: Started, price: float = 60_020.0) -> dict[str, int]:
    """Build at 60000, then rebuild at `price` (less than a level away: nothing fills)."""
    r.trade(["BTCUSDT"], {"BTCUSDT": 60_000.0})
    assert r.runner.core.gen == 1 and len(r.open_orders()) == 40
    r.trade(["BTCUSDT"], {"BTCUSDT": price})
    before = r.order_entry()
    r.rt.call(r.runner.command("start", "BTCUSDT"))  # a manual rebuild at the last price
    r.rt.settle(r.fx)
    assert r.runner.core.gen == 2
    return entry_delta(r, before)


def moved_links(r: Started) -> dict[str, LinkKey]:
    """The resting orders that were moved (an alias) -> the key they stand for now."""
    core = r.runner.core
    moves = core.link_moves()
    return {link: core.key_of(link) for link in core.slot_link.values() if moves.get(link)}


def nearest_buy(r: Started) -> tuple[int, str, float]:
    core = r.runner.core
    d = max((d for d in core.strategy.orders() if d.side > 0), key=lambda d: d.price)
    return d.slot, core.slot_link[d.slot], d.price


def fill_row(r: Started, link: str) -> dict[str, Any]:
    df = r.runner.store.fills(limit=1000)
    rows = df[df["order_link_id"] == link]
    assert len(rows) == 1, rows
    return rows.iloc[0].to_dict()


def test_a_small_recenter_moves_the_orders_with_amend_batches(run: Callable[..., Started]
                                                              ) -> None:
    r = run()
    sent = small_recenter(r)
    assert sent == {"/v5/order/amend-batch": 4}  # before: 1 cancel-all + 4 create-batch
    assert_one_per_slot(r)
    moved = moved_links(r)
    assert len(moved) == 40 and all(k.gen == 2 for k in moved.values())
    assert r.runner.core.stats["amended"] == 40
    assert r.refused == [] and r.client.stats["retries"] == 0


def test_a_fill_of_a_moved_order_goes_to_its_new_slot(run: Callable[..., Started]) -> None:
    r = run()
    small_recenter(r)
    slot, link, price = nearest_buy(r)
    assert r.runner.core.key_of(link) == LinkKey(2, slot, "o", 0, 0)
    assert link.split("-")[1] == "1"  # its id still names generation 1
    r.trade(["BTCUSDT"], {"BTCUSDT": price - 5.0})  # fills that buy only
    f = fill_row(r, link)
    assert (f["kind"], f["gen"], f["slot"], f["price"]) == ("grid", 2, slot, price)
    core = r.runner.core
    assert core.cycles[slot] == 0 and core.slot_link[slot] != link  # its counter order rests
    assert core.key_of(core.slot_link[slot]) == LinkKey(2, slot, "c", 0, 0)
    assert core.stats["late_fills"] == 0
    assert_one_per_slot(r)


def test_a_fill_at_the_old_price_is_a_late_fill_of_the_old_grid(
        run: Callable[..., Started]) -> None:
    r = run()
    small_recenter(r)
    core = r.runner.core
    slot, link, price = nearest_buy(r)
    old = core.link_moves()[link][-1].from_price
    assert old != price
    assert core.key_of(link, old) == parse_link(link, core.s.prefix, core.s.tag)
    assert core.key_of(link, old).gen == 1  # a fill before the move: late (old grid)
    assert core.key_of(link, price) == LinkKey(2, slot, "o", 0, 0)


def test_an_amend_refused_mid_batch_falls_back_to_cancel_and_create(
        run: Callable[..., Started], fx: FakeExchange) -> None:
    refuse: set[str] = set()
    original = fx.engine._amend

    def amend(acct: Any, p: dict[str, Any]) -> Any:
        if p.get("orderLinkId") in refuse:
            raise EngineError(110064, "the modified qty cannot be <= the filled qty")
        return original(acct, p)

    fx.engine._amend = amend  # type: ignore[method-assign]
    r = run()
    r.trade(["BTCUSDT"], {"BTCUSDT": 60_000.0})
    links = sorted(o.order_link_id for o in r.open_orders())
    refuse.update(links[14:16])  # two items of the second batch
    r.trade(["BTCUSDT"], {"BTCUSDT": 60_020.0})
    before = r.order_entry()
    r.rt.call(r.runner.command("start", "BTCUSDT"))
    r.rt.settle(r.fx)
    sent = entry_delta(r, before)
    assert sent == {"/v5/order/amend-batch": 4, "/v5/order/cancel-batch": 1,
                    "/v5/order/create-batch": 1}
    assert_one_per_slot(r)
    core = r.runner.core
    opened = {o.order_link_id for o in r.open_orders()}
    assert not (refuse & opened)  # the refused ones were cancelled ...
    for link in refuse:
        assert core.key_of(link).gen == 1  # ... and stand for their old grid again
        assert core.orders[link].status == "Cancelled"
    assert core.stats["amended"] == 38 and core.stats["amends_refused"] == 2


def test_a_restart_after_an_amend_keeps_the_alias(run: Callable[..., Started]) -> None:
    r = run()
    small_recenter(r)
    slot, link, price = nearest_buy(r)
    r.rt.stop()
    r2 = run()  # the same store: orders adopted, aliases reloaded
    assert r2.runner.core.key_of(link) == LinkKey(2, slot, "o", 0, 0)
    assert_one_per_slot(r2)
    r2.trade(["BTCUSDT"], {"BTCUSDT": price - 5.0})
    f = fill_row(r2, link)
    assert (f["kind"], f["gen"], f["slot"]) == ("grid", 2, slot)
    assert_one_per_slot(r2)


class Killed(Exception):
    """Stands for a kill -9 right after (or before) the amend request."""


@pytest.mark.parametrize("sent", [True, False], ids=["amend-accepted", "amend-lost"])
def test_a_restart_between_the_amend_and_its_record(run: Callable[..., Started],
                                                    sent: bool) -> None:
    """The runner dies after the moves were written (pending) and the amend was sent (or
    before it left): the restart keeps the moves the exchange shows and reverts the others;
    either way one order per slot at the new prices, and the fill goes to the new slot."""
    r = run(live={"order_poll_s": 3600.0})
    r.trade(["BTCUSDT"], {"BTCUSDT": 60_000.0})
    r.trade(["BTCUSDT"], {"BTCUSDT": 60_020.0})
    core = r.runner.core
    real = core.ex.amend_many

    async def dies(moves: list[Any]) -> Any:
        if sent:
            await real(moves)
        raise Killed  # nothing after the request is recorded

    async def rebuild() -> None:
        await core.rebuild(core.last_ts, core.last_price, Reason.MANUAL)

    core.ex.amend_many = dies  # type: ignore[method-assign]
    with pytest.raises(Killed):
        r.rt.call(rebuild())
    assert [m.status for m in core.store.links("BTCUSDT")] == ["pending"] * 40
    r.rt.stop()
    r2 = run()
    moves = r2.runner.store.links("BTCUSDT")
    assert len(moves) == 40 and {m.status for m in moves} == ({"done"} if sent else {"refused"})
    assert_one_per_slot(r2)
    slot, link, price = nearest_buy(r2)
    r2.trade(["BTCUSDT"], {"BTCUSDT": price - 5.0})
    f = fill_row(r2, link)
    assert (f["kind"], f["gen"], f["slot"]) == ("grid", 2, slot)
    assert_one_per_slot(r2)


def _row(link: str, side: int, price: float, qty: float = 0.01) -> Any:
    from gridlab.store.live import OrderRow

    return OrderRow(link, "BTCUSDT", "grid", 1, 0, "o", 0, 0, side, price, qty, status="New")


def test_pairing_rule_keeps_same_orders_then_pairs_nearest_the_market_first() -> None:
    from gridlab.strategy.classes import DesiredOrder
    from live.moves import pair_moves

    kept = [_row("b1", 1, 99.0), _row("b2", 1, 98.0), _row("b3", 1, 97.0),
            _row("s1", -1, 101.0), _row("s2", -1, 102.0, 0.02)]
    want = [DesiredOrder(0, 1, 98.5, 0.01), DesiredOrder(1, 1, 98.0, 0.01),  # b2 as it is
            DesiredOrder(2, 1, 97.5, 0.01), DesiredOrder(3, -1, 101.5, 0.01),
            DesiredOrder(4, -1, 102.5, 0.01), DesiredOrder(5, -1, 103.5, 0.01)]
    got = {slot: r.order_link_id for slot, r in pair_moves(kept, want).items()}
    # b2 stays; b1 (nearest) -> the nearest free buy 98.5, b3 -> 97.5; sells lowest first;
    # a side with more new orders than kept ones leaves the farthest to create-batch
    assert got == {1: "b2", 0: "b1", 2: "b3", 3: "s1", 4: "s2"}
    fewer = [DesiredOrder(0, 1, 98.6, 0.01)]
    assert {s: r.order_link_id for s, r in pair_moves(kept, fewer).items()} == {0: "b1"}
