"""The local exchange: pybit itself (unchanged) against it, auth, matching, filters, streams,
market driver, several symbols on one clock, persistence."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from pathlib import Path

import numpy as np
import pybit.unified_trading as ut
import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP, WebSocket

from gridlab.fakex.engine import Engine, EngineError
from gridlab.fakex.handle import FakeExchange
from gridlab.fakex.market import MarketDriver, klines_to_prints

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"


def session(fx: FakeExchange, secret: str | None = None, key: str | None = None) -> HTTP:
    s = HTTP(api_key=key or fx.api_key, api_secret=secret or fx.api_secret, max_retries=1)
    s.endpoint = fx.url
    return s


def limit(s: HTTP, side: str, price: str, qty: str = "0.01", tif: str = "PostOnly",
          link: str | None = None, **kw: object) -> dict:
    params = {"category": "linear", "symbol": SYM, "side": side, "orderType": "Limit",
              "qty": qty, "price": price, "timeInForce": tif, **kw}
    if link:
        params["orderLinkId"] = link
    return s.place_order(**params)["result"]


def order_status(s: HTTP, link: str) -> dict:
    return s.get_open_orders(category="linear", symbol=SYM, orderLinkId=link)["result"]["list"][0]


# ---- pybit, unchanged -------------------------------------------------------------------------

def test_pybit_places_cancels_and_lists_orders(fake_exchange: FakeExchange) -> None:
    s = session(fake_exchange)
    assert s.get_server_time()["retCode"] == 0
    res = limit(s, "Buy", "59000", link="a-1")
    assert res["orderLinkId"] == "a-1" and res["orderId"]
    for i in range(60):
        limit(s, "Buy", f"{50000 + i}", link=f"b-{i}")
    page1 = s.get_open_orders(category="linear", symbol=SYM, limit=50)["result"]
    assert len(page1["list"]) == 50 and page1["nextPageCursor"]
    page2 = s.get_open_orders(category="linear", symbol=SYM, limit=50,
                              cursor=page1["nextPageCursor"])["result"]
    assert len(page2["list"]) == 11 and page2["nextPageCursor"] == ""
    s.cancel_order(category="linear", symbol=SYM, orderLinkId="a-1")
    assert order_status(s, "a-1")["orderStatus"] == "Cancelled"
    with pytest.raises(InvalidRequestError) as exc:
        s.cancel_order(category="linear", symbol=SYM, orderLinkId="a-1")
    assert exc.value.status_code == 110001
    done = s.cancel_all_orders(category="linear", symbol=SYM)["result"]
    assert len(done["list"]) == 60 and done["success"] == "1"
    assert s.get_open_orders(category="linear", symbol=SYM)["result"]["list"] == []
    hist = s.get_order_history(category="linear", symbol=SYM, limit=50)["result"]
    assert len(hist["list"]) == 50 and hist["nextPageCursor"]
    with pytest.raises(InvalidRequestError) as exc:
        limit(s, "Buy", "59000", link="b-3")
    assert exc.value.status_code == 110072  # duplicate orderLinkId


def test_pybit_streams_executions_over_websocket(fake_exchange: FakeExchange,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fx = fake_exchange
    monkeypatch.setattr(ut, "PUBLIC_WSS", fx.ws_public + "/{CHANNEL_TYPE}")
    monkeypatch.setattr(ut, "PRIVATE_WSS", fx.ws_private)
    got: list[tuple] = []
    event = threading.Event()

    def on_exec(m: dict) -> None:
        got.append(("exec", m["data"][0]))
        event.set()

    priv = WebSocket(testnet=True, channel_type="private", api_key=fx.api_key,
                     api_secret=fx.api_secret)
    pub = WebSocket(testnet=True, channel_type="linear")
    try:
        priv.execution_stream(on_exec)
        priv.order_stream(lambda m: got.append(("order", m["data"][0]["orderStatus"])))
        pub.trade_stream(SYM, lambda m: got.append(("trade", m["data"][0]["p"])))
        pub.ticker_stream(SYM, lambda m: got.append(("ticker", m["type"],
                                                     m["data"]["lastPrice"])))
        time.sleep(0.35)  # acks arrive after the server's 0.1 s delay
        s = session(fx)
        limit(s, "Buy", "59000", link="ws-1")
        fx.engine.trade(SYM, 59000.0, side=-1)  # at the price: no fill (cross rule)
        fx.engine.trade(SYM, 58999.9, side=-1)  # strictly below: fills
        assert event.wait(3)
        time.sleep(0.1)
    finally:
        priv.exit()
        pub.exit()
    ex = next(g[1] for g in got if g[0] == "exec")
    assert ex["orderLinkId"] == "ws-1" and ex["execPrice"] == "59000" and ex["isMaker"] is True
    assert ("order", "New") in got and ("order", "Filled") in got
    assert ("trade", "58999.9") in got
    tickers = [g for g in got if g[0] == "ticker"]
    assert tickers[0][1] == "snapshot" and tickers[-1][2] == "58999.9"


# ---- auth -------------------------------------------------------------------------------------

def test_wrong_secret_unknown_key_and_stale_timestamp_are_refused(
        fake_exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch) -> None:
    fx = fake_exchange
    with pytest.raises(InvalidRequestError) as exc:
        session(fx, secret="not-the-secret").get_wallet_balance(accountType="UNIFIED")
    assert exc.value.status_code == 10004
    with pytest.raises(InvalidRequestError) as exc:
        session(fx, key="nobody").get_wallet_balance(accountType="UNIFIED")
    assert exc.value.status_code == 10003
    # stale: sign by hand with a timestamp 10 s old (recv_window 5 s)
    ts = int(time.time() * 1000) - 10_000
    query = "accountType=UNIFIED"
    sign = hmac.new(fx.api_secret.encode(), f"{ts}{fx.api_key}5000{query}".encode(),
                    hashlib.sha256).hexdigest()
    r = requests.get(f"{fx.url}/v5/account/wallet-balance?{query}", timeout=5, headers={
        "X-BAPI-API-KEY": fx.api_key, "X-BAPI-SIGN": sign, "X-BAPI-SIGN-TYPE": "2",
        "X-BAPI-TIMESTAMP": str(ts), "X-BAPI-RECV-WINDOW": "5000"})
    assert r.json()["retCode"] == 10002
    # the same request signed now passes: the check is over the raw query string
    ts = int(time.time() * 1000)
    sign = hmac.new(fx.api_secret.encode(), f"{ts}{fx.api_key}5000{query}".encode(),
                    hashlib.sha256).hexdigest()
    r = requests.get(f"{fx.url}/v5/account/wallet-balance?{query}", timeout=5, headers={
        "X-BAPI-API-KEY": fx.api_key, "X-BAPI-SIGN": sign, "X-BAPI-SIGN-TYPE": "2",
        "X-BAPI-TIMESTAMP": str(ts), "X-BAPI-RECV-WINDOW": "5000"})
    assert r.json()["retCode"] == 0
    # a POST body tampered after signing fails
    body = json.dumps({"category": "linear", "symbol": SYM})
    sign = hmac.new(fx.api_secret.encode(), f"{ts}{fx.api_key}5000{body}".encode(),
                    hashlib.sha256).hexdigest()
    r = requests.post(f"{fx.url}/v5/order/cancel-all", data=body.replace("BTC", "ETH"),
                      timeout=5, headers={"X-BAPI-API-KEY": fx.api_key, "X-BAPI-SIGN": sign,
                                          "X-BAPI-TIMESTAMP": str(ts),
                                          "X-BAPI-RECV-WINDOW": "5000"})
    assert r.json()["retCode"] == 10004


def test_rate_limit_reply_has_future_reset_and_pybit_waits_for_it(tmp_path: Path) -> None:
    fx = FakeExchange(state_path=tmp_path / "s.json", rate_limits={"/v5/order/realtime": 3})
    with fx:
        s = HTTP(api_key=fx.api_key, api_secret=fx.api_secret)  # pybit's default retries
        s.endpoint = fx.url
        raw = HTTP(api_key=fx.api_key, api_secret=fx.api_secret, max_retries=1,
                   return_response_headers=True)
        raw.endpoint = fx.url
        _, _, headers = raw.get_open_orders(category="linear", symbol=SYM)
        assert headers["X-Bapi-Limit"] == "3" and headers["X-Bapi-Limit-Status"] == "2"
        for _ in range(5):  # over the limit: pybit sleeps until the reset and succeeds
            assert s.get_open_orders(category="linear", symbol=SYM)["retCode"] == 0
        reset = None
        for _ in range(4):
            try:
                raw.get_open_orders(category="linear", symbol=SYM)
            except FailedRequestError:  # pybit slept, retried once, gave up
                reset = True
                break
        assert reset


# ---- matching and filters ---------------------------------------------------------------------

def test_post_only_that_would_cross_is_accepted_then_cancelled(
        fake_exchange: FakeExchange) -> None:
    s = session(fake_exchange)  # ask 60 000, bid 59 999.9
    res = limit(s, "Buy", "60000", link="po-buy")
    assert res["orderId"]
    o = order_status(s, "po-buy")
    assert o["orderStatus"] == "Cancelled" and o["rejectReason"] == "EC_PostOnlyWillTakeLiquidity"
    limit(s, "Sell", "59999.9", link="po-sell")
    assert order_status(s, "po-sell")["rejectReason"] == "EC_PostOnlyWillTakeLiquidity"
    limit(s, "Buy", "59999.9", link="po-ok")
    assert order_status(s, "po-ok")["orderStatus"] == "New"


@pytest.mark.parametrize(("qty", "price", "code"), [
    ("0.0105", "59000", 10001),  # qty off the step
    ("0.01", "59000.05", 10001),  # price off the tick
    ("0.0004", "59000", 110017),  # qty truncates to zero
    ("0.001", "4000", 110094),  # notional 4 < 5
    ("5000", "59000", 10001),  # above max qty
    ("20", "59000", 110007),  # 1.18M notional at 10x > 100k balance
])
def test_filters_give_bybit_codes(fake_exchange: FakeExchange, qty: str, price: str,
                                  code: int) -> None:
    with pytest.raises(InvalidRequestError) as exc:
        limit(session(fake_exchange), "Buy", price, qty=qty, tif="GTC")
    assert exc.value.status_code == code


def test_cross_rule_fees_positions_pnl_and_funding() -> None:
    e = Engine(maker_fee=0.0002, taker_fee=0.00055)
    e.add_instrument(SYM, price=100.0, tick_size=0.1, qty_step=0.1, min_qty=0.1,
                     min_notional=1.0, funding_interval_min=480)
    acct = e.add_account("k", "s", balance=10_000.0)
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % 28_800_000 + 1000
    e.trade(SYM, 100.0, ts=t0)
    e.create_order("k", {"category": "linear", "symbol": SYM, "side": "Buy",
                         "orderType": "Limit", "qty": "10", "price": "99",
                         "timeInForce": "GTC", "orderLinkId": "b"})
    e.trade(SYM, 99.0, side=-1, ts=t0 + 1)  # equal: rests
    assert e.orders_with_link("b")[0].status == "New"
    e.trade(SYM, 98.9, side=-1, ts=t0 + 2)  # strictly below: maker fill at 99
    o = e.orders_with_link("b")[0]
    assert o.status == "Filled" and o.cum_value == pytest.approx(990.0)
    pos = acct.positions[SYM]
    assert pos.size == pytest.approx(10.0) and pos.avg_price == pytest.approx(99.0)
    assert acct.coins["USDT"] == pytest.approx(10_000 - 990 * 0.0002)
    # market sell 4 at the bid (98.9 print: bid 98.9) as taker: realised (98.9 - 99) * 4
    e.create_order("k", {"category": "linear", "symbol": SYM, "side": "Sell",
                         "orderType": "Market", "qty": "4"})
    assert pos.size == pytest.approx(6.0)
    fees = 990 * 0.0002 + 4 * 98.9 * 0.00055
    assert acct.coins["USDT"] == pytest.approx(10_000 - fees + (98.9 - 99.0) * 4)
    # funding at the next 8 h boundary: long 6 pays 6 * mark * 0.0001
    before = acct.coins["USDT"]
    e.trade(SYM, 100.0, ts=t0 + 28_800_000)
    assert acct.coins["USDT"] == pytest.approx(before - 6 * 98.9 * 0.0001)
    funding = [x for x in acct.executions if x["execType"] == "Funding"]
    assert len(funding) == 1 and e.funding_history({"category": "linear", "symbol": SYM,
                                                    })["list"][0]["fundingRate"] == "0.0001"
    # reduce-only in the wrong direction is refused; flipping resets the average
    with pytest.raises(EngineError) as exc:
        e.create_order("k", {"category": "linear", "symbol": SYM, "side": "Buy",
                             "orderType": "Market", "qty": "1", "reduceOnly": True})
    assert exc.value.code == 110017
    e.create_order("k", {"category": "linear", "symbol": SYM, "side": "Sell",
                         "orderType": "Market", "qty": "8"})
    assert pos.size == pytest.approx(-2.0) and pos.avg_price == pytest.approx(99.9)


def test_spot_balances_and_codes() -> None:
    e = Engine(maker_fee=0.001, taker_fee=0.001)
    e.add_instrument(SYM, "spot", price=100.0, tick_size=0.01, qty_step=0.0001,
                     min_qty=0.0001, min_notional=1.0, funding_interval_min=0)
    acct = e.add_account("k", "s", balance=1000.0)
    e.create_order("k", {"category": "spot", "symbol": SYM, "side": "Buy",
                         "orderType": "Market", "qty": "1"})
    # the seed price 100 is the ask (bid one tick below); fee in the received coin
    assert acct.coins["BTC"] == pytest.approx(0.999) and acct.coins["USDT"] == pytest.approx(900)
    for params, code in (({"qty": "5"}, 170131), ({"qty": "0.00001"}, 170137),
                         ({"qty": "0.001"}, 170140), ({"price": "1.001"}, 170134)):
        p = {"category": "spot", "symbol": SYM, "side": "Sell", "orderType": "Limit",
             "qty": "0.5", "price": "101", **params}
        with pytest.raises(EngineError) as exc:
            e.create_order("k", p)
        assert exc.value.code == code


def test_kline_endpoint_newest_first_with_paging(fake_exchange: FakeExchange) -> None:
    t = np.arange(0, 3000) * 60_000 + 1_700_000_000_000 // 60_000 * 60_000
    fake_exchange.engine.load_klines(SYM, "1", t, [[1, 2, 0.5, 1.5, 10, 15]] * len(t))
    s = session(fake_exchange)
    res = s.get_kline(category="linear", symbol=SYM, interval="1", start=int(t[0]),
                      end=int(t[-1]), limit=1000)["result"]["list"]
    assert len(res) == 1000 and int(res[0][0]) == t[-1] and int(res[-1][0]) == t[2000]
    res = s.get_kline(category="linear", symbol=SYM, interval="1", start=int(t[10]),
                      end=int(t[14]))["result"]["list"]
    assert [int(r[0]) for r in res] == list(t[10:15][::-1])
    with pytest.raises(InvalidRequestError) as exc:
        s.get_kline(category="linear", symbol="NOPEUSDT", interval="1")
    assert exc.value.status_code == 10001


# ---- market driver ----------------------------------------------------------------------------

def test_market_driver_merges_symbols_on_one_clock() -> None:
    e = Engine()
    e.add_instrument("BTCUSDT", price=100.0)
    e.add_instrument("ETHUSDT", price=10.0, tick_size=0.01, qty_step=0.01, min_qty=0.01)
    seen: list[tuple[str, int]] = []

    class Rec:
        def wants(self, channel: str, topic: str, key: str | None) -> bool:
            return topic.startswith("publicTrade.")

        def push(self, channel: str, topic: str, key: str | None, msg: dict) -> None:
            seen.append((topic.split(".")[1], msg["ts"]))

    e.listeners.append(Rec())
    d = MarketDriver(e)
    d.add_trades("BTCUSDT", {"ts": np.array([1, 4, 6]), "price": np.array([100.0, 101, 102]),
                             "size": np.ones(3), "side": np.array([1, -1, 1])})
    d.add_trades("ETHUSDT", {"ts": np.array([2, 3, 5]), "price": np.array([10.0, 11, 12]),
                             "size": np.ones(3), "side": np.array([1, 1, -1])})
    assert d.step(2) == 2 and e.market_time == 2
    assert d.run_until(5) == 3
    d.step(10)
    assert d.done and [ts for _, ts in seen] == [1, 2, 3, 4, 5, 6]
    assert [s for s, _ in seen] == ["BTCUSDT", "ETHUSDT", "ETHUSDT", "BTCUSDT", "ETHUSDT",
                                    "BTCUSDT"]


def test_market_driver_speed_and_kline_paths() -> None:
    k = {"open_time": np.array([0, 60_000]), "open": np.array([10.0, 12.0]),
         "high": np.array([13.0, 12.5]), "low": np.array([9.0, 8.0]),
         "close": np.array([12.0, 9.0]), "volume": np.array([4.0, 8.0])}
    p = klines_to_prints(k, 60_000)
    assert list(p["price"]) == [10, 9, 13, 12, 12, 12.5, 8, 9]
    assert list(p["ts"][:4]) == [0, 15_000, 30_000, 45_000] and p["size"][4] == 2.0
    e = Engine()
    e.add_instrument(SYM, price=10.0, tick_size=0.5)
    d = MarketDriver(e, speed=200.0)  # 105 s of market in ~0.5 s
    d.add_klines(SYM, k, "1")
    t0 = time.monotonic()
    d.start()
    while not d.done and time.monotonic() - t0 < 5:
        time.sleep(0.01)
    elapsed = time.monotonic() - t0
    d.stop()
    assert d.done and 0.4 < elapsed < 2.0
    bars = e.klines({"category": "linear", "symbol": SYM, "interval": "1"})["list"]
    assert [b[1:5] for b in bars] == [["12", "12.5", "8", "9"], ["10", "13", "9", "12"]]


def test_synthetic_market_drives_matching(fake_exchange: FakeExchange) -> None:
    fx = fake_exchange
    n = fx.market.add_synthetic(SYM, 1_700_000_000_000, days=0.02, seed=3, base_price=60_000)
    assert n > 100
    s = session(fx)
    limit(s, "Buy", "59000", link="deep")
    fx.market.step(n)
    assert fx.engine.market_time is not None and fx.market.done
    low = min(float(t["price"]) for t in fx.engine.markets[("linear", SYM)].trades)
    status = order_status(s, "deep")["orderStatus"]
    assert status == ("Filled" if low < 59000 else "New")


# ---- persistence and admin --------------------------------------------------------------------

def test_restart_keeps_state(fake_exchange: FakeExchange) -> None:
    fx = fake_exchange
    s = session(fx)
    limit(s, "Buy", "59000", link="keep")
    fx.engine.create_order(fx.api_key, {"category": "linear", "symbol": SYM, "side": "Buy",
                                        "orderType": "Market", "qty": "0.5"})
    port = fx.port
    fx.restart()
    assert fx.port == port
    s = session(fx)
    assert order_status(s, "keep")["orderStatus"] == "New"
    pos = s.get_positions(category="linear", symbol=SYM)["result"]["list"][0]
    assert pos["size"] == "0.500" and pos["side"] == "Buy"
    fx.engine.trade(SYM, 58999.0, side=-1)  # the reloaded book still matches
    assert order_status(s, "keep")["orderStatus"] == "Filled"
    assert Engine.load(fx.save()).snapshot()["accounts"][0]["coins"] == \
        fx.engine.snapshot()["accounts"][0]["coins"]


def test_admin_endpoints(fake_exchange: FakeExchange) -> None:
    fx = fake_exchange
    r = requests.post(f"{fx.url}/admin/faults", timeout=5,
                      json={"action": "http_error", "count": 2, "status": 502,
                            "path": "/v5/market/time"})
    assert r.json()["ok"]
    assert requests.get(f"{fx.url}/v5/market/time", timeout=5).status_code == 502
    assert requests.get(f"{fx.url}/v5/market/time", timeout=5).status_code == 502
    assert requests.get(f"{fx.url}/v5/market/time", timeout=5).status_code == 200
    assert requests.get(f"{fx.url}/admin/faults", timeout=5).json()["fired"]["status"] == 2
    r = requests.post(f"{fx.url}/admin/faults", timeout=5, json={"action": "nope"})
    assert r.status_code == 400
    requests.post(f"{fx.url}/admin/trade", timeout=5, json={"symbol": SYM, "price": 61000})
    assert requests.get(f"{fx.url}/admin/state", timeout=5).json()["stats"]["trades"] == 1
