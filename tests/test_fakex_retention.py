"""Order retention, required parameters, 7-day ranges and stable cursors of the local exchange,
through pybit itself (small retention windows via `Rules`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from gridlab.fakex.handle import FakeExchange
from gridlab.fakex.rules import DAY_MS, Rules

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
Maker = Callable[..., Any]
WINDOW = 60_000  # cancelled orders stay in history this long in these tests


def place(s: HTTP, link: str, price: str = "59000", **kw: Any) -> str:
    params = {"category": "linear", "symbol": SYM, "side": "Buy", "orderType": "Limit",
              "qty": "0.01", "price": price, "orderLinkId": link, **kw}
    return s.place_order(**params)["result"]["orderId"]


def links(rows: list[dict[str, Any]]) -> list[str]:
    return [r["orderLinkId"] for r in rows]


def realtime(s: HTTP, **kw: Any) -> list[dict[str, Any]]:
    return s.get_open_orders(category="linear", symbol=SYM, **kw)["result"]["list"]


def history(s: HTTP, **kw: Any) -> list[dict[str, Any]]:
    return s.get_order_history(category="linear", symbol=SYM, limit=50, **kw)["result"]["list"]


@pytest.fixture
def small(fake_exchange_factory: Maker) -> FakeExchange:
    """A local exchange keeping 3 closed orders in realtime and cancelled ones for 60 s."""
    return fake_exchange_factory(rules=Rules(closed_realtime=3, cancelled_history_ms=WINDOW))


# ---- retention --------------------------------------------------------------------------------

def test_realtime_keeps_only_the_latest_closed_orders(small: FakeExchange,
                                                      pybit_http: Maker) -> None:
    s = pybit_http(small)
    for i in range(5):
        place(s, f"r{i}")
        s.cancel_order(category="linear", symbol=SYM, orderLinkId=f"r{i}")
    assert realtime(s) == []  # openOnly=0: open orders only
    assert links(realtime(s, openOnly=1)) == ["r4", "r3", "r2"]
    assert links(realtime(s, orderLinkId="r4")) == ["r4"]
    assert realtime(s, orderLinkId="r0") == []  # closed and no longer kept here ...
    assert "r0" in links(history(s))  # ... but still in history


def test_an_id_no_longer_returned_is_still_taken_and_nothing_rests(
        small: FakeExchange, pybit_http: Maker) -> None:
    fx, s = small, pybit_http(small)
    place(s, "gone")
    s.cancel_order(category="linear", symbol=SYM, orderLinkId="gone")
    for i in range(3):  # three newer closed orders push it out of realtime
        place(s, f"filler{i}", price="50000", timeInForce="IOC")
    place(s, "filled")
    fx.engine.trade(SYM, 58999.9, side=-1)
    fx.engine.trade(SYM, 60000.0, ts=fx.engine.now_ms() + 2 * WINDOW)  # time passes
    assert links(history(s)) == ["filled"]  # the cancelled ones expired, the filled one stays
    assert history(s, orderLinkId="gone") == [] and realtime(s, orderLinkId="gone") == []
    with pytest.raises(InvalidRequestError) as exc:
        place(s, "gone")
    assert exc.value.status_code == 110072  # "exists" although no query returns it
    assert fx.engine.open[fx.api_key] == {}
    assert [o.status for o in fx.engine.orders_with_link("gone")] == ["Cancelled"]


def test_default_retention_is_bybits() -> None:
    r = Rules()
    assert (r.closed_realtime, r.cancelled_history_ms, r.max_range_ms) == (500, DAY_MS,
                                                                           7 * DAY_MS)
    assert (r.max_open_orders, r.batch_max("linear"), r.batch_max("spot")) == (500, 20, 10)


# ---- required parameters ----------------------------------------------------------------------

def test_open_orders_and_cancel_all_need_a_symbol_or_coin_on_linear(
        fake_exchange: FakeExchange, pybit_http: Maker) -> None:
    s = pybit_http(fake_exchange)
    place(s, "a")
    for call in (s.get_open_orders, s.cancel_all_orders):
        with pytest.raises(InvalidRequestError) as exc:
            call(category="linear")
        assert exc.value.status_code == 10001 and "settleCoin" in exc.value.message
    assert links(s.get_open_orders(category="linear", settleCoin="USDT")["result"]["list"]) == [
        "a"]
    assert links(s.get_open_orders(category="linear", baseCoin="BTC")["result"]["list"]) == ["a"]
    assert s.get_open_orders(category="linear", baseCoin="ETH")["result"]["list"] == []
    done = s.cancel_all_orders(category="linear", settleCoin="USDT")["result"]["list"]
    assert links(done) == ["a"]


def test_spot_open_orders_and_cancel_all_without_symbol(fake_exchange_factory: Maker,
                                                        pybit_http: Maker) -> None:
    s = pybit_http(fake_exchange_factory(category="spot"))
    s.place_order(category="spot", symbol=SYM, side="Buy", orderType="Limit", qty="0.01",
                  price="59000", orderLinkId="sp")
    assert links(s.get_open_orders(category="spot")["result"]["list"]) == ["sp"]
    assert links(s.cancel_all_orders(category="spot")["result"]["list"]) == ["sp"]


def test_history_and_executions_refuse_ranges_over_7_days(fake_exchange: FakeExchange,
                                                          pybit_http: Maker) -> None:
    fx, s = fake_exchange, pybit_http(fake_exchange)
    t0 = 1_700_000_000_000
    fx.engine.trade(SYM, 60000.0, ts=t0)
    place(s, "d0")
    fx.engine.trade(SYM, 58000.0, side=-1, ts=t0 + 1)  # fills d0 at t0 + 1
    fx.engine.trade(SYM, 60000.0, ts=t0 + 8 * DAY_MS)
    place(s, "d8")
    fx.engine.trade(SYM, 58000.0, side=-1, ts=t0 + 8 * DAY_MS + 1)
    for call in (s.get_order_history, s.get_executions):
        with pytest.raises(InvalidRequestError) as exc:
            call(category="linear", symbol=SYM, startTime=t0, endTime=t0 + 7 * DAY_MS + 1)
        assert exc.value.status_code == 10001 and "7 days" in exc.value.message
    week = {"startTime": t0, "endTime": t0 + 7 * DAY_MS}
    assert links(history(s, **week)) == ["d0"]
    ex = s.get_executions(category="linear", symbol=SYM, execType="Trade", **week)
    assert links(ex["result"]["list"]) == ["d0"]
    # only startTime: [start, start + 7 days]; neither: the last 7 days
    assert links(history(s, startTime=t0)) == ["d0"]
    assert links(history(s)) == ["d8"]
    ex = s.get_executions(category="linear", symbol=SYM, execType="Trade")
    assert links(ex["result"]["list"]) == ["d8"]
    assert links(history(s, orderLinkId="d0")) == ["d0"]  # a named order ignores the range


# ---- cursors ----------------------------------------------------------------------------------

def _pages(fetch: Callable[[str | None], dict[str, Any]],
           between: Callable[[int], None]) -> list[str]:
    seen, cursor, i = [], None, 0
    while True:
        res = fetch(cursor)
        seen += links(res["list"])
        cursor = res["nextPageCursor"]
        if not cursor:
            return seen
        between(i)
        i += 1


def test_cursors_neither_repeat_nor_skip_when_orders_arrive_between_pages(
        fake_exchange: FakeExchange, pybit_http: Maker) -> None:
    s = pybit_http(fake_exchange)
    first = [f"o{i}" for i in range(25)]
    for i, link in enumerate(first):
        place(s, link, price=f"{50000 + i}")
    seen = _pages(lambda c: s.get_open_orders(category="linear", symbol=SYM, limit=10,
                                              **({"cursor": c} if c else {}))["result"],
                  lambda i: [place(s, f"new{i}-{j}", price=f"{40000 + 10 * i + j}")
                             for j in range(3)])
    assert seen == first[::-1]  # newest first, each once
    # history: more orders close between pages
    s.cancel_all_orders(category="linear", symbol=SYM)
    closed = links(history(s))

    def close_two(i: int) -> None:
        for j in range(2):
            place(s, f"late{i}-{j}")
            s.cancel_order(category="linear", symbol=SYM, orderLinkId=f"late{i}-{j}")

    seen = _pages(lambda c: s.get_order_history(category="linear", symbol=SYM, limit=10,
                                                **({"cursor": c} if c else {}))["result"],
                  close_two)
    assert seen == closed and len(set(seen)) == len(seen) == 25 + 6


def test_execution_cursor_is_stable_while_fills_arrive(fake_exchange: FakeExchange,
                                                       pybit_http: Maker) -> None:
    fx, s = fake_exchange, pybit_http(fake_exchange)
    fx.engine.partial_fills = False
    for i in range(12):
        s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Market",
                      qty="0.001", orderLinkId=f"m{i}")
    seen = _pages(lambda c: s.get_executions(category="linear", symbol=SYM, limit=5,
                                             **({"cursor": c} if c else {}))["result"],
                  lambda i: s.place_order(category="linear", symbol=SYM, side="Sell",
                                          orderType="Market", qty="0.001",
                                          orderLinkId=f"late{i}"))
    assert seen == [f"m{i}" for i in range(11, -1, -1)]
