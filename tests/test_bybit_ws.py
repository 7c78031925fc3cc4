"""BybitStream against the local exchange: parsed public and private streams, health flag,
reconnect + resubscribe after server-side drops and restarts, auth failure, bad callbacks."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from gridlab.bybit.client import BybitClient
from gridlab.bybit.credentials import Credentials
from gridlab.bybit.errors import AuthError
from gridlab.bybit.parse import BUY, Execution, Kline, Order, Position, PublicTrade, Ticker, Wallet
from gridlab.bybit.results import BookTop
from gridlab.bybit.ws import BybitStream
from gridlab.fakex.handle import FakeExchange

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
Maker = Callable[..., Any]


def wait_for(cond: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def test_public_streams_are_parsed(fake_exchange: FakeExchange, fast_config: Maker) -> None:
    fx = fake_exchange
    trades: list[PublicTrade] = []
    bars: list[Kline] = []
    tickers: list[Ticker] = []
    s = BybitStream(fast_config(fx), None, "linear")
    s.subscribe_trades(SYM, trades.extend)
    s.subscribe_klines(SYM, 1, bars.extend)
    s.subscribe_tickers(SYM, tickers.append)
    with s:
        assert s.healthy and sorted(s.topics) == sorted(
            [f"publicTrade.{SYM}", f"kline.1.{SYM}", f"tickers.{SYM}"])
        assert wait_for(lambda: len(tickers) == 1)  # the snapshot
        t0 = 1_700_000_000_000 // 60_000 * 60_000
        fx.engine.trade(SYM, 60_100.0, 0.2, side=1, ts=t0 + 1000)
        fx.engine.trade(SYM, 60_050.0, 0.3, side=-1, ts=t0 + 61_000)  # opens the next bar
        assert wait_for(lambda: len(trades) == 2 and len(tickers) == 3)
    assert trades[0] == PublicTrade(SYM, t0 + 1000, 60_100.0, 0.2, BUY, trades[0].trade_id)
    assert tickers[0].last_price == 60_000.0 and tickers[-1].last_price == 60_050.0
    assert tickers[-1].funding_rate == 0.0001  # kept from the snapshot through deltas
    closed = [b for b in bars if b.confirm]
    assert closed and closed[0].open_time == t0 and closed[0].close == 60_100.0
    assert bars[-1].open_time == t0 + 60_000 and not bars[-1].confirm


def test_private_streams_are_parsed(fake_exchange: FakeExchange, fast_config: Maker) -> None:
    fx = fake_exchange
    orders: list[Order] = []
    execs: list[Execution] = []
    positions: list[Position] = []
    wallets: list[Wallet] = []
    s = BybitStream(fast_config(fx), fx.credentials, "private")
    s.subscribe_orders(orders.extend)
    s.subscribe_executions(execs.extend)
    s.subscribe_positions(positions.extend)
    s.subscribe_wallet(wallets.append)
    with s:
        assert s.healthy
        c = BybitClient(fast_config(fx), fx.credentials)
        c.place_order(SYM, BUY, 0.01, 59_000.0, order_link_id="p-1")
        fx.engine.trade(SYM, 58_990.0, side=-1)
        assert wait_for(lambda: bool(execs) and bool(wallets) and len(orders) == 2)
    assert [o.status for o in orders] == ["New", "Filled"] and orders[0].order_link_id == "p-1"
    assert execs[0].price == 59_000.0 and execs[0].is_maker and execs[0].fee == pytest.approx(
        0.118)
    assert positions[-1].side == BUY and positions[-1].size == pytest.approx(0.01)
    assert wallets[-1].coins["USDT"].wallet_balance == pytest.approx(100_000 - 0.118)


def test_reconnects_and_resubscribes_after_server_drop_and_restart(
        fake_exchange: FakeExchange, fast_config: Maker) -> None:
    fx = fake_exchange
    prints: list[float] = []
    reconnects = threading.Semaphore(0)
    s = BybitStream(fast_config(fx), None, "linear", reconnect_delay=0.05,
                    on_reconnect=reconnects.release)
    s.subscribe_trades(SYM, lambda ts: prints.extend(t.price for t in ts))
    with s:
        fx.engine.trade(SYM, 1.0)
        assert wait_for(lambda: prints == [1.0])
        fx.faults.drop_ws("public")
        assert wait_for(lambda: not s.healthy, 2)  # the health flag drops
        assert reconnects.acquire(timeout=5) and s.wait_healthy(5)
        fx.engine.trade(SYM, 2.0)
        assert wait_for(lambda: prints == [1.0, 2.0])
        fx.restart(downtime=0.3)  # server gone for a while, then back with its state
        assert reconnects.acquire(timeout=5) and s.wait_healthy(5)
        fx.engine.trade(SYM, 3.0)
        assert wait_for(lambda: prints == [1.0, 2.0, 3.0])
    assert s.reconnects >= 2 and not s.healthy  # a restart may cost two reconnects


def test_private_auth_failure_is_reported(fake_exchange: FakeExchange,
                                          fast_config: Maker) -> None:
    s = BybitStream(fast_config(fake_exchange), Credentials(fake_exchange.api_key, "wrong!"),
                    "private")
    s.subscribe_orders(lambda xs: None)
    try:
        s.start(wait=2)
        assert not s.healthy and s.auth_error and "GRIDLAB_BYBIT_API_KEY" in s.auth_error
        assert "wrong!" not in s.auth_error
    finally:
        s.close()
    with pytest.raises(AuthError):
        BybitStream(fast_config(fake_exchange), None, "private")


def test_callback_errors_do_not_kill_the_stream(fake_exchange: FakeExchange,
                                                fast_config: Maker) -> None:
    fx = fake_exchange
    seen: list[float] = []

    def flaky(ts: list[PublicTrade]) -> None:
        seen.extend(t.price for t in ts)
        if len(seen) == 1:
            raise RuntimeError("boom")

    s = BybitStream(fast_config(fx), None, "linear")
    s.subscribe_trades(SYM, flaky)
    with s:
        fx.engine.trade(SYM, 1.0)
        fx.engine.trade(SYM, 2.0)
        assert wait_for(lambda: seen == [1.0, 2.0])
        assert s.healthy and s.reconnects == 0
    with pytest.raises(ValueError, match="already subscribed"):
        s.subscribe_trades(SYM, flaky)
    with pytest.raises(ValueError, match="not a private topic"):
        BybitStream(fast_config(fx), fx.credentials, "private").subscribe_trades(SYM, flaky)


def test_subscribing_an_unknown_symbol_is_an_error_not_a_hang(
        fake_exchange: FakeExchange, fast_config: Maker) -> None:
    s = BybitStream(fast_config(fake_exchange), None, "linear")
    s.subscribe_trades("NOPEUSDT", lambda ts: None)
    try:
        assert not s.start(wait=1).healthy
        assert any("NOPEUSDT" in e for e in s.errors)
    finally:
        s.close()


def test_orderbook_1_gives_the_best_bid_and_ask(fake_exchange: FakeExchange,
                                               fast_config: Maker) -> None:
    fx = fake_exchange
    tops: list[BookTop] = []
    s = BybitStream(fast_config(fx), None, "linear")
    s.subscribe_orderbook(SYM, tops.append)
    with s:
        assert s.healthy and s.topics == [f"orderbook.1.{SYM}"]
        assert wait_for(lambda: len(tops) >= 1)  # the snapshot on subscribe
        assert (tops[0].bid, tops[0].ask) == (59_999.9, 60_000.0) and tops[0].known
        fx.engine.trade(SYM, 60_200.0, 0.1, side=1)
        assert wait_for(lambda: tops[-1].ask >= 60_200.0)
    assert tops[-1].bid < tops[-1].ask


def test_orderbook_deltas_add_and_remove_levels() -> None:
    tops: list[BookTop] = []
    s = BybitStream(None, None, "linear")
    s.subscribe_orderbook(SYM, tops.append, depth=50)
    handle = s._handlers[f"orderbook.50.{SYM}"]
    handle({"type": "snapshot", "ts": 1, "data": {"b": [["99.5", "1"], ["99.0", "2"]],
                                                  "a": [["100.0", "1"]]}})
    handle({"type": "delta", "ts": 2, "data": {"b": [["99.5", "0"]], "a": [["99.8", "3"]]}})
    handle({"type": "delta", "ts": 3, "data": {"a": [["99.8", "0"], ["100.0", "0"]]}})
    assert [(t.bid, t.ask, t.ts) for t in tops[:2]] == [(99.5, 100.0, 1), (99.0, 99.8, 2)]
    assert tops[2].bid == 99.0 and math.isnan(tops[2].ask) and not tops[2].known
