"""Batch create/amend/cancel and amend through pybit against the local exchange (its Bybit
rate limits on): per-order typed results, limits and weights, ambiguous batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gridlab.bybit.client import BybitClient
from gridlab.bybit.errors import DuplicateOrderLinkId, OrderNotFound, QtyTooSmall
from gridlab.bybit.parse import BUY, SELL
from gridlab.bybit.results import AmendRequest, OrderRequest
from gridlab.bybit.taxonomy import Action
from gridlab.fakex.handle import FakeExchange

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
Maker = Callable[..., Any]


def _levels(n: int, prefix: str = "lv") -> list[OrderRequest]:
    """n PostOnly orders around 60 000, buys below and sells above."""
    out = []
    for i in range(n):
        side, price = (BUY, 59_000.0 - 10 * i) if i % 2 == 0 else (SELL, 61_000.0 + 10 * i)
        out.append(OrderRequest(SYM, side, 0.001, price, f"{prefix}-{i}"))
    return out


def test_40_levels_cost_4_requests_and_no_10006(fake_exchange_factory: Maker,
                                                fast_config: Maker) -> None:
    fx: FakeExchange = fake_exchange_factory(rate_limits=None)  # Bybit's per-UID limits
    c = BybitClient(fast_config(fx), fx.credentials)
    res = c.place_batch(_levels(40))
    assert [r.ok for r in res] == [True] * 40 and all(r.order_id for r in res)
    assert c.paths == {"/v5/order/create-batch": 4}  # 10 orders each (the batch rate limit)
    assert c.stats["retries"] == 0  # the limiter's weights kept every item under the limit
    assert len(c.get_open_orders(SYM)) == 40
    gone = c.cancel_batch([(SYM, f"lv-{i}") for i in range(40)])
    assert all(r.ok for r in gone) and c.paths["/v5/order/cancel-batch"] == 4
    assert c.get_open_orders(SYM) == []


def test_items_get_typed_outcomes(fake_exchange: FakeExchange, fast_config: Maker) -> None:
    c = BybitClient(fast_config(fake_exchange), fake_exchange.credentials)
    first = c.place_order(SYM, BUY, 0.01, 58_000.0, order_link_id="b-old")
    res = c.place_batch([OrderRequest(SYM, BUY, 0.01, 58_500.0, "b-ok"),
                         OrderRequest(SYM, BUY, 0.0001, 58_500.0, "b-tiny"),
                         OrderRequest(SYM, BUY, 0.01, 58_000.0, "b-old")])
    ok, tiny, old = res
    assert ok.ok and ok.code == 0 and ok.action is None and not ok.existed
    assert not tiny.ok and isinstance(tiny.error, QtyTooSmall)
    assert tiny.action is Action.REFUSE and tiny.code == 110017
    assert old.ok and old.existed and old.order_id == first.order_id  # 110072: looked up
    assert len(fake_exchange.engine.orders_with_link("b-old")) == 1


def test_ambiguous_batch_ends_with_one_order_each(fake_exchange: FakeExchange,
                                                  fast_config: Maker) -> None:
    fx = fake_exchange
    fx.faults.ambiguous(count=1, code=10016, path="/v5/order/create-batch")
    c = BybitClient(fast_config(fx), fx.credentials)
    res = c.place_batch(_levels(6, "amb"))
    assert all(r.ok and r.existed for r in res)  # found open: not sent again
    assert c.paths["/v5/order/create-batch"] == 1
    assert all(len(fx.engine.orders_with_link(f"amb-{i}")) == 1 for i in range(6))


def test_timeout_before_accept_resends_the_same_links(fake_exchange: FakeExchange,
                                                      fast_config: Maker) -> None:
    fx = fake_exchange
    fx.faults.http_error(count=1, status=502, path="/v5/order/create-batch")
    c = BybitClient(fast_config(fx), fx.credentials)
    res = c.place_batch(_levels(4, "t"))
    assert all(r.ok and not r.existed for r in res)
    assert c.paths["/v5/order/create-batch"] == 2
    assert all(len(fx.engine.orders_with_link(f"t-{i}")) == 1 for i in range(4))


def test_items_over_the_limit_wait_for_the_reset(fake_exchange_factory: Maker,
                                                 fast_config: Maker) -> None:
    fx: FakeExchange = fake_exchange_factory(rate_limits={"/v5/order/create-batch": 10})
    # the client believes 20 orders/s: the exchange grants 10, the other 10 get 10006 items
    c = BybitClient(fast_config(fx, rate_limits={"batch": 20}), fx.credentials)
    res = c.place_batch(_levels(20, "w"))
    assert all(r.ok for r in res) and c.paths["/v5/order/create-batch"] == 2
    assert c.stats["retries"] == 1


def test_amend_and_amend_batch(fake_exchange: FakeExchange, fast_config: Maker) -> None:
    c = BybitClient(fast_config(fake_exchange), fake_exchange.credentials)
    c.place_batch(_levels(3, "m"))
    c.amend_order(SYM, "m-0", price=58_900.0)
    res = c.amend_batch([AmendRequest(SYM, "m-1", price=61_100.0),
                         AmendRequest(SYM, "m-2", price=58_800.0, qty=0.002),
                         AmendRequest(SYM, "nope", price=58_000.0)])
    assert [r.ok for r in res] == [True, True, False]
    assert isinstance(res[2].error, OrderNotFound) and res[2].action is Action.REFUSE
    by = {o.order_link_id: o for o in c.get_open_orders(SYM)}
    assert (by["m-0"].price, by["m-1"].price) == (58_900.0, 61_100.0)
    assert (by["m-2"].price, by["m-2"].qty) == (58_800.0, 0.002)
    assert len(by) == 3  # amended in place, nothing new


def test_cancel_batch_counts_gone_orders_as_cancelled(fake_exchange: FakeExchange,
                                                      fast_config: Maker) -> None:
    c = BybitClient(fast_config(fake_exchange), fake_exchange.credentials)
    c.place_batch(_levels(2, "k"))
    assert c.cancel_order(SYM, order_link_id="k-0")
    res = c.cancel_batch([(SYM, "k-0"), (SYM, "k-1")])
    assert [r.ok for r in res] == [True, True] and c.get_open_orders(SYM) == []


def test_spot_batches_hold_10(fake_exchange: FakeExchange, fast_config: Maker) -> None:
    c = BybitClient(fast_config(fake_exchange, rate_limits={"batch": 100}),
                    fake_exchange.credentials)
    assert c.batch_size() == 20 and c.for_category("spot").batch_size() == 10
    assert BybitClient(fast_config(fake_exchange)).batch_size() == 10  # 10 orders/s default


def test_spent_link_in_a_batch_is_a_failed_item(fake_exchange: FakeExchange,
                                                fast_config: Maker) -> None:
    fx = fake_exchange
    c = BybitClient(fast_config(fx), fx.credentials)
    c.place_order(SYM, BUY, 0.01, 58_000.0, order_link_id="s-old")
    c.cancel_order(SYM, order_link_id="s-old")
    eng = fx.engine
    for name in ("open_orders", "order_history"):
        original = getattr(eng, name)

        def hidden(key: str, p: dict[str, Any], original: Any = original) -> dict[str, Any]:
            out = original(key, p)
            return {**out, "list": [d for d in out["list"] if d["orderLinkId"] != "s-old"]}

        setattr(eng, name, hidden)
    (res,) = c.place_batch([OrderRequest(SYM, BUY, 0.01, 58_000.0, "s-old")])
    assert not res.ok and isinstance(res.error, DuplicateOrderLinkId) and not res.existed
