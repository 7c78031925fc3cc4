"""Streams and position fields of the local exchange through pybit itself: `orderbook.1` and the
best bid/ask in `tickers`, category topics (`order.linear`, ...), the position stream's
`entryPrice`, matching `seq` across execution and position messages, `liqPrice`,
`nextFundingTime`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from gridlab.fakex.handle import FakeExchange

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
Maker = Callable[..., Any]


def wait_for(pred: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def test_orderbook_1_sends_best_bid_and_ask_snapshots(fake_exchange: FakeExchange,
                                                      pybit_ws: Maker) -> None:
    fx = fake_exchange
    ws = pybit_ws(fx, "linear")
    books: list[dict[str, Any]] = []
    tickers: list[dict[str, Any]] = []
    ws.orderbook_stream(1, SYM, lambda m: books.append(m))
    ws.ticker_stream(SYM, lambda m: tickers.append(m["data"]))
    assert wait_for(lambda: bool(books) and bool(tickers))
    first = books[0]
    assert first["topic"] == f"orderbook.1.{SYM}" and first["type"] == "snapshot"
    assert first["data"]["b"] == [["59999.9", "1"]] and first["data"]["a"] == [["60000", "1"]]
    fx.engine.trade(SYM, 59990.0, side=-1)  # a sell print: bid 59 990, ask one tick above
    assert wait_for(lambda: len(books) >= 2 and len(tickers) >= 2)
    last = books[-1]["data"]
    assert last["b"] == [["59990", "1"]] and last["a"] == [["59990.1", "1"]]
    assert last["u"] > first["data"]["u"] and last["s"] == SYM
    assert tickers[-1]["bid1Price"] == "59990" and tickers[-1]["ask1Price"] == "59990.1"
    n = len(books)
    fx.engine.trade(SYM, 59990.0, side=-1)  # same touch: no new book message
    fx.engine.trade(SYM, 59991.0, side=1)  # a buy print lifts the ask: new touch
    assert wait_for(lambda: len(books) == n + 1)
    assert books[-1]["data"]["a"] == [["59991", "1"]]


def test_category_topics_entry_price_and_matching_seq(fake_exchange: FakeExchange,
                                                      pybit_ws: Maker,
                                                      pybit_http: Maker) -> None:
    fx = fake_exchange
    ws = pybit_ws(fx, "private")
    got: dict[str, list[dict[str, Any]]] = {}
    done = threading.Event()

    def keep(m: dict[str, Any]) -> None:
        got.setdefault(m["topic"], []).append(m)
        if "position.linear" in got and "execution.linear" in got:
            done.set()

    for topic in ("order.linear", "execution.linear", "position.linear", "position"):
        ws.subscribe(topic, keep, symbol="-")  # pybit formats non-standard topics
    time.sleep(0.35)
    s = pybit_http(fx)
    s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Limit", qty="0.5",
                  price="59000", orderLinkId="seq-1")
    fx.engine.trade(SYM, 58999.9, side=-1)
    assert done.wait(3) and wait_for(lambda: "position" in got)
    orders = [d["orderStatus"] for m in got["order.linear"] for d in m["data"]]
    assert orders[:2] == ["New", "Filled"]
    ex = got["execution.linear"][0]["data"][0]
    pos = got["position.linear"][-1]["data"][0]
    assert got["position"][-1]["topic"] == "position" and pos["entryPrice"] == "59000"
    assert "avgPrice" not in pos and pos["size"] == "0.500" and pos["side"] == "Buy"
    assert ex["seq"] == pos["seq"] and ex["orderLinkId"] == "seq-1"
    rest = s.get_positions(category="linear", symbol=SYM)["result"]["list"][0]
    assert rest["avgPrice"] == "59000" and rest["seq"] == ex["seq"]
    # isolated long at 10x, mmr 0.5 %: 59 000 * (1 - 0.1 + 0.005) = 53 395
    assert rest["liqPrice"] == "53395" and rest["positionMM"] == "147.5"


def test_short_liq_price_and_flat_position_over_rest(fake_exchange: FakeExchange,
                                                     pybit_http: Maker) -> None:
    s = pybit_http(fake_exchange)
    flat = s.get_positions(category="linear", symbol=SYM)["result"]["list"][0]
    assert flat["liqPrice"] == "" and flat["side"] == ""
    s.set_leverage(category="linear", symbol=SYM, buyLeverage="5", sellLeverage="5")
    s.place_order(category="linear", symbol=SYM, side="Sell", orderType="Market", qty="0.1")
    pos = s.get_positions(category="linear", symbol=SYM)["result"]["list"][0]
    # sold at the bid 59 999.9, 5x: 59 999.9 * (1 + 0.2 - 0.005) = 71 699.88 -> down to the tick
    assert pos["side"] == "Sell" and pos["liqPrice"] == "71699.8"


def test_tickers_carry_next_funding_time(fake_exchange: FakeExchange,
                                         pybit_http: Maker) -> None:
    fx = fake_exchange
    s = pybit_http(fx)
    t = s.get_tickers(category="linear", symbol=SYM)["result"]["list"][0]
    now = fx.engine.now_ms()
    eight_h = 8 * 3_600_000
    assert int(t["nextFundingTime"]) == (now // eight_h + 1) * eight_h
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % eight_h + 1000
    fx.engine.trade(SYM, 60_000.0, ts=t0)  # the market clock: funding follows it
    t = s.get_tickers(category="linear", symbol=SYM)["result"]["list"][0]
    assert int(t["nextFundingTime"]) == t0 - 1000 + eight_h
    assert t["bid1Price"] == "59999.9" and t["ask1Price"] == "60000"


def test_unchanged_orderbook_1_is_sent_again_with_the_same_update_id(
        fake_exchange: FakeExchange, pybit_ws: Maker) -> None:
    fx = fake_exchange
    fx.faults.book_repush_s = 0.3  # Bybit: 3 s
    books: list[dict[str, Any]] = []
    pybit_ws(fx, "linear").orderbook_stream(1, SYM, lambda m: books.append(m["data"]))
    assert wait_for(lambda: len(books) >= 3)
    assert len({b["u"] for b in books}) == 1 and books[0]["b"] == books[-1]["b"]
    fx.engine.trade(SYM, 59990.0, side=-1)
    assert wait_for(lambda: books[-1]["u"] > books[0]["u"])
    assert books[-1]["b"] == [["59990", "1"]]
