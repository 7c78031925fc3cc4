"""Order entry on the local exchange through pybit itself: batch place/amend/cancel with Bybit's
per-item replies and item limits, amend, the 500-open-orders cap, market order price,
cancelType, and ambiguous 10000/10016 replies to orders that were accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from gridlab.fakex.handle import FakeExchange
from gridlab.fakex.rules import Rules

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
Maker = Callable[..., Any]


def item(price: str, link: str, side: str = "Buy", qty: str = "0.01",
         tif: str = "PostOnly") -> dict[str, str]:
    return {"symbol": SYM, "side": side, "orderType": "Limit", "qty": qty, "price": price,
            "timeInForce": tif, "orderLinkId": link}


def open_links(fx: FakeExchange) -> set[str]:
    return {o.order_link_id for o in fx.engine.open[fx.api_key].values()}


def realtime(s: HTTP, link: str) -> dict[str, Any]:
    return s.get_open_orders(category="linear", symbol=SYM, orderLinkId=link)["result"]["list"][0]


# ---- batches ----------------------------------------------------------------------------------

def test_batch_place_replies_per_item_in_request_order(fake_exchange: FakeExchange,
                                                       pybit_http: Maker) -> None:
    fx, s = fake_exchange, pybit_http(fake_exchange)
    s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Limit", qty="0.01",
                  price="50000", orderLinkId="taken")
    body = s.place_batch_order(category="linear", request=[
        item("59000", "b-ok-1"), item("59000.05", "b-tick"), item("58000", "taken"),
        item("57000", "b-ok-2")])
    assert body["retCode"] == 0
    rows, ext = body["result"]["list"], body["retExtInfo"]["list"]
    assert [e["code"] for e in ext] == [0, 10001, 110072, 0]
    assert [r["orderLinkId"] for r in rows] == ["b-ok-1", "b-tick", "taken", "b-ok-2"]
    assert rows[0]["orderId"] and rows[0]["createAt"] and rows[0]["category"] == "linear"
    assert rows[0]["symbol"] == SYM and rows[1]["orderId"] == "" and rows[2]["orderId"] == ""
    assert open_links(fx) == {"taken", "b-ok-1", "b-ok-2"}
    assert len(fx.engine.orders_with_link("taken")) == 1


def test_batch_amend_and_cancel_reply_per_item(fake_exchange: FakeExchange,
                                               pybit_http: Maker) -> None:
    fx, s = fake_exchange, pybit_http(fake_exchange)
    s.place_batch_order(category="linear", request=[item("59000", "a"), item("58000", "b")])
    body = s.amend_batch_order(category="linear", request=[
        {"symbol": SYM, "orderLinkId": "a", "price": "59100"},
        {"symbol": SYM, "orderLinkId": "nope", "price": "1"},
        {"symbol": SYM, "orderLinkId": "b", "qty": "0.02"}])
    assert [e["code"] for e in body["retExtInfo"]["list"]] == [0, 110001, 0]
    assert [r["orderLinkId"] for r in body["result"]["list"]] == ["a", "nope", "b"]
    assert realtime(s, "a")["price"] == "59100.0" and realtime(s, "b")["qty"] == "0.020"
    body = s.cancel_batch_order(category="linear", request=[
        {"symbol": SYM, "orderLinkId": "b"}, {"symbol": SYM, "orderLinkId": "b"}])
    assert [e["code"] for e in body["retExtInfo"]["list"]] == [0, 110001]
    assert open_links(fx) == {"a"} and realtime(s, "b")["orderStatus"] == "Cancelled"


@pytest.mark.parametrize(("category", "n"), [("linear", 20), ("spot", 10)])
def test_batch_item_limit_per_request(fake_exchange_factory: Maker, pybit_http: Maker,
                                      category: str, n: int) -> None:
    fx = fake_exchange_factory(category=category)
    s = pybit_http(fx)
    for path in ("place_batch_order", "amend_batch_order", "cancel_batch_order"):
        with pytest.raises(InvalidRequestError) as exc:
            getattr(s, path)(category=category, request=[
                item(f"{50000 + i}", f"x{i}") for i in range(n + 1)])
        assert exc.value.status_code == 10001 and str(n) in exc.value.message
    assert fx.engine.orders_with_link("x0") == []
    body = s.place_batch_order(category=category, request=[
        item(f"{50000 + i}", f"x{i}", tif="GTC") for i in range(n)])
    assert [e["code"] for e in body["retExtInfo"]["list"]] == [0] * n


# ---- amend ------------------------------------------------------------------------------------

def test_amend_changes_price_and_qty_and_refuses_what_bybit_refuses(
        fake_exchange: FakeExchange, pybit_http: Maker) -> None:
    fx, s = fake_exchange, pybit_http(fake_exchange)  # bid 59 999.9, ask 60 000
    s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Limit", qty="0.01",
                  price="59000", timeInForce="PostOnly", orderLinkId="am")
    res = s.amend_order(category="linear", symbol=SYM, orderLinkId="am", price="59500",
                        qty="0.03")["result"]
    assert res["orderLinkId"] == "am" and res["orderId"]
    o = realtime(s, "am")
    assert (o["price"], o["qty"], o["orderStatus"]) == ("59500.0", "0.030", "New")
    fx.engine.trade(SYM, 59499.9, side=-1)  # the amended price fills
    assert realtime(s, "am")["orderStatus"] == "Filled"
    with pytest.raises(InvalidRequestError) as exc:
        s.amend_order(category="linear", symbol=SYM, orderLinkId="am", price="59400")
    assert exc.value.status_code == 110001  # closed: too late to replace
    s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Limit", qty="0.01",
                  price="59000", timeInForce="PostOnly", orderLinkId="po")
    with pytest.raises(InvalidRequestError) as exc:
        s.amend_order(category="linear", symbol=SYM, orderLinkId="po", price="59000")
    assert exc.value.status_code == 10001  # nothing to change
    with pytest.raises(InvalidRequestError) as exc:
        s.amend_order(category="linear", symbol=SYM, orderLinkId="po", price="59000.05")
    assert exc.value.status_code == 10001  # off the tick
    s.amend_order(category="linear", symbol=SYM, orderLinkId="po", price="61000")
    o = realtime(s, "po")  # a PostOnly moved through the touch is cancelled, as on create
    assert o["orderStatus"] == "Cancelled"
    assert o["rejectReason"] == "EC_PostOnlyWillTakeLiquidity"
    assert "po" not in open_links(fx)


def test_amend_price_loses_queue_priority(fake_exchange: FakeExchange,
                                          pybit_http: Maker) -> None:
    fx, s = fake_exchange, pybit_http(fake_exchange)
    fx.engine.partial_fills = True
    for link in ("first", "second"):
        s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Limit",
                      qty="0.01", price="59000", orderLinkId=link)
    s.amend_order(category="linear", symbol=SYM, orderLinkId="first", price="59000.1")
    s.amend_order(category="linear", symbol=SYM, orderLinkId="first", price="59000")
    fx.engine.trade(SYM, 58999.9, size=0.01, side=-1)  # room for one of the two
    assert realtime(s, "second")["orderStatus"] == "Filled"
    assert realtime(s, "first")["orderStatus"] == "New"


# ---- caps, prices, cancel types ---------------------------------------------------------------

def test_500_open_orders_per_symbol_then_110020(fake_exchange: FakeExchange,
                                                pybit_http: Maker) -> None:
    fx, s = fake_exchange, pybit_http(fake_exchange)
    fx.engine.add_account("rich", "rich-secret", balance=1e9)
    s = pybit_http(fx, api_key="rich", api_secret="rich-secret")
    for b in range(25):
        body = s.place_batch_order(category="linear", request=[
            item(f"{40000 + b * 20 + i}", f"c{b}-{i}", qty="0.001") for i in range(20)])
        assert {e["code"] for e in body["retExtInfo"]["list"]} == {0}
    assert len(fx.engine.open["rich"]) == 500
    with pytest.raises(InvalidRequestError) as exc:
        s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Limit",
                      qty="0.001", price="39000", orderLinkId="c-501")
    assert exc.value.status_code == 110020
    body = s.place_batch_order(category="linear", request=[item("39001", "c-502", qty="0.001")])
    assert body["retExtInfo"]["list"][0]["code"] == 110020
    s.cancel_order(category="linear", symbol=SYM, orderLinkId="c0-0")
    s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Limit", qty="0.001",
                  price="39000", orderLinkId="c-503")  # room again
    assert len(fx.engine.open["rich"]) == 500


def test_open_order_cap_is_configurable(fake_exchange_factory: Maker,
                                        pybit_http: Maker) -> None:
    fx = fake_exchange_factory(rules=Rules(max_open_orders=2))
    s = pybit_http(fx)
    codes = [e["code"] for e in s.place_batch_order(category="linear", request=[
        item(f"{50000 + i}", f"k{i}") for i in range(3)])["retExtInfo"]["list"]]
    assert codes == [0, 0, 110020]


def test_market_order_reports_its_protection_price_and_ioc(fake_exchange: FakeExchange,
                                                           pybit_http: Maker) -> None:
    s = pybit_http(fake_exchange)  # ask 60 000, bid 59 999.9; band 3 %
    s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Market", qty="0.01",
                  orderLinkId="mb")
    s.place_order(category="linear", symbol=SYM, side="Sell", orderType="Market", qty="0.01",
                  orderLinkId="ms")
    buy, sell = realtime(s, "mb"), realtime(s, "ms")
    assert buy["price"] == "61800.0" and buy["timeInForce"] == "IOC"
    assert sell["price"] == "58199.9" and sell["avgPrice"] == "59999.9"
    ex = s.get_executions(category="linear", symbol=SYM, orderLinkId="mb")["result"]["list"]
    assert ex[0]["orderPrice"] == "61800" and ex[0]["execPrice"] == "60000"


def test_cancel_type_names_who_cancelled(fake_exchange: FakeExchange,
                                         pybit_http: Maker) -> None:
    s = pybit_http(fake_exchange)
    for link, price in (("user", "59000"), ("all", "58000"), ("po", "61000")):
        s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Limit",
                      qty="0.01", price=price, timeInForce="PostOnly", orderLinkId=link)
    assert realtime(s, "user")["cancelType"] == "UNKNOWN"  # open
    s.cancel_order(category="linear", symbol=SYM, orderLinkId="user")
    s.cancel_all_orders(category="linear", symbol=SYM)
    assert realtime(s, "user")["cancelType"] == "CancelByUser"
    assert realtime(s, "all")["cancelType"] == "CancelByUser"
    assert realtime(s, "po")["cancelType"] == "UNKNOWN"  # the exchange rejected it


# ---- ambiguous replies ------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "msg"), [(10000, "Server Timeout"), (10016, "Server error")])
def test_ambiguous_error_after_accept_leaves_the_order_resting(
        fake_exchange: FakeExchange, pybit_http: Maker, code: int, msg: str) -> None:
    fx, s = fake_exchange, pybit_http(fake_exchange)
    fx.faults.ambiguous(code=code)
    with pytest.raises(InvalidRequestError) as exc:
        s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Limit",
                      qty="0.01", price="59000", orderLinkId="amb")
    assert exc.value.status_code == code and msg in exc.value.message
    assert realtime(s, "amb")["orderStatus"] == "New"  # it was accepted
    assert len(fx.engine.orders_with_link("amb")) == 1 and fx.faults.fired["ambiguous"] == 1
    with pytest.raises(InvalidRequestError) as exc:  # re-sending finds it taken
        s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Limit",
                      qty="0.01", price="59000", orderLinkId="amb")
    assert exc.value.status_code == 110072 and len(fx.engine.orders_with_link("amb")) == 1


def test_ambiguous_fault_on_a_batch_and_over_admin(fake_exchange: FakeExchange,
                                                   pybit_http: Maker) -> None:
    import requests

    fx, s = fake_exchange, pybit_http(fake_exchange)
    r = requests.post(f"{fx.url}/admin/faults", timeout=5, json={
        "action": "ambiguous", "code": 10016, "path": "/v5/order/create-batch"})
    assert r.json()["ok"]
    with pytest.raises(InvalidRequestError) as exc:
        s.place_batch_order(category="linear", request=[item("59000", "ab1"),
                                                        item("58000", "ab2")])
    assert exc.value.status_code == 10016
    assert open_links(fx) == {"ab1", "ab2"}
    with pytest.raises(ValueError, match="10000 or 10016"):
        fx.faults.ambiguous(code=110007)
