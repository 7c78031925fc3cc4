"""Every injected fault, and the adapter recovering without a duplicate order (orders are
counted on the engine by orderLinkId)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from gridlab.bybit.client import BybitClient
from gridlab.bybit.errors import InsufficientBalance, NetworkError, RequestTimeout, ServerError
from gridlab.bybit.ws import BybitStream
from gridlab.fakex.handle import FakeExchange

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
CREATE = "/v5/order/create"


Maker = Callable[..., Any]


@pytest.fixture
def client(fast_config: Maker) -> Maker:
    """client(fx, **config overrides) -> a BybitClient with test timeouts/backoffs."""
    return lambda fx, **kw: BybitClient(fast_config(fx, **kw), fx.credentials)


def count(fx: FakeExchange, link: str) -> int:
    return len(fx.engine.orders_with_link(link))


def test_http_5xx_on_create_is_retried_once_placed(
        fake_exchange: FakeExchange, client: Maker) -> None:
    fx = fake_exchange
    c = client(fx)
    fx.faults.http_error(count=2, status=503, path=CREATE)
    ack = c.place_order(SYM, 1, 0.01, 59000.0, order_link_id="h5")
    assert ack.order_id and count(fx, "h5") == 1
    assert fx.faults.fired["status"] == 2 and c.stats["lookups"] == 2


def test_timeout_after_accept_finds_the_order_instead_of_placing_again(
        fake_exchange: FakeExchange, client: Maker) -> None:
    fx = fake_exchange
    c = client(fx, timeout=0.3)
    fx.faults.timeout(count=1, seconds=0.6, path=CREATE, after_accept=True)
    ack = c.place_order(SYM, 1, 0.01, 59000.0, order_link_id="late")
    assert ack.existed and ack.order_id == fx.engine.orders_with_link("late")[0].order_id
    assert count(fx, "late") == 1


def test_timeout_before_accept_places_on_retry(fake_exchange: FakeExchange, client: Maker) -> None:
    fx = fake_exchange
    c = client(fx, timeout=0.3)
    fx.faults.timeout(count=1, seconds=0.6, path=CREATE)
    ack = c.place_order(SYM, -1, 0.01, 61000.0, order_link_id="early")
    assert not ack.existed and count(fx, "early") == 1


def test_timeouts_past_every_attempt_raise_and_never_duplicate(
        fake_exchange: FakeExchange, client: Maker) -> None:
    fx = fake_exchange
    c = client(fx, timeout=0.2, retry={"max_attempts": 2, "backoff_base": 0.01,
                                       "backoff_cap": 0.01, "jitter": 0})
    fx.faults.timeout(count=5, seconds=0.4, path=CREATE, after_accept=True)
    fx.faults.timeout(count=5, seconds=0.4, path="/v5/order/realtime")
    with pytest.raises(RequestTimeout):
        c.place_order(SYM, 1, 0.01, 59000.0, order_link_id="lost")
    fx.faults.clear()
    assert count(fx, "lost") == 1
    again = client(fx).place_order(SYM, 1, 0.01, 59000.0, order_link_id="lost")
    assert again.existed and count(fx, "lost") == 1  # 110072 -> already placed


def test_rate_limit_storm_is_waited_out(fake_exchange: FakeExchange, client: Maker) -> None:
    fx = fake_exchange
    c = client(fx)
    fx.faults.rate_limit(count=3)
    ack = c.place_order(SYM, 1, 0.01, 59000.0, order_link_id="storm")
    assert not ack.existed and count(fx, "storm") == 1 and fx.faults.fired["rate_limit"] == 3
    fx.faults.rate_limit(count=2, path="/v5/position/list")
    assert c.get_positions(SYM)[0].size == 0


def test_server_rate_limit_headers_pause_the_client(
        fake_exchange: FakeExchange, client: Maker) -> None:
    fx = fake_exchange
    fx.set_rate_limit("/v5/order/realtime", 5)
    c = client(fx, retry={"max_attempts": 6, "backoff_base": 0.01, "backoff_cap": 0.05,
                          "jitter": 0.0})
    for _ in range(12):
        c.get_open_orders(SYM)
    assert c.stats["retries"] >= 1  # hit 10006, waited for the reset, went on


def test_forced_rejection_raises_typed_error(fake_exchange: FakeExchange, client: Maker) -> None:
    fx = fake_exchange
    c = client(fx)
    fx.faults.reject_orders(count=1, code=110007)
    with pytest.raises(InsufficientBalance) as exc:
        c.place_order(SYM, 1, 0.01, 59000.0, order_link_id="rej")
    assert exc.value.code == 110007 and "add funds" in str(exc.value)
    assert count(fx, "rej") == 0
    assert not c.place_order(SYM, 1, 0.01, 59000.0, order_link_id="rej").existed


def test_5xx_on_reads_is_retried_and_exhaustion_raises(
        fake_exchange: FakeExchange, client: Maker) -> None:
    fx = fake_exchange
    c = client(fx)
    fx.faults.http_error(count=3, status=502, path="/v5/market/tickers")
    assert c.get_ticker(SYM).last_price == 60000.0
    fx.faults.http_error(count=10, status=500, path="/v5/market/tickers")
    with pytest.raises(ServerError):
        c.get_ticker(SYM)


def test_server_down_is_a_network_error(fake_exchange: FakeExchange, client: Maker) -> None:
    c = client(fake_exchange)
    fake_exchange.stop()
    with pytest.raises(NetworkError):
        c.get_server_time()


def test_restart_with_state_mid_session(fake_exchange: FakeExchange, client: Maker) -> None:
    fx = fake_exchange
    c = client(fx)
    c.place_order(SYM, 1, 0.01, 59000.0, order_link_id="r1")
    c.place_order(SYM, 1, 0.5, order_type="Market", order_link_id="r2")
    fx.faults.restart()
    assert [o.order_link_id for o in c.get_open_orders(SYM)] == ["r1"]
    assert c.get_positions(SYM)[0].size == pytest.approx(0.5)
    assert client(fx).place_order(SYM, 1, 0.01, 59000.0, order_link_id="r1").existed
    assert count(fx, "r1") == 1


def test_restart_during_placement_recovers(fake_exchange: FakeExchange, client: Maker) -> None:
    fx = fake_exchange
    c = client(fx, timeout=0.5, retry={"max_attempts": 6, "backoff_base": 0.1,
                                       "backoff_cap": 0.3, "jitter": 0.0})
    threading.Timer(0.05, fx.restart, kwargs={"downtime": 0.3}).start()
    acks = []
    for i in range(10):
        acks.append(c.place_order(SYM, 1, 0.01, 50000.0 + i, order_link_id=f"rs-{i}"))
        time.sleep(0.03)
    time.sleep(0.1)
    assert all(count(fx, f"rs-{i}") == 1 for i in range(10))


def test_dropped_streams_reconnect_and_resubscribe(
        fake_exchange: FakeExchange, client: Maker, fast_config: Maker) -> None:
    fx = fake_exchange
    config = fast_config(fx)
    fills: list[str] = []
    prints: list[float] = []
    reconnected = threading.Event()
    priv = BybitStream(config, fx.credentials, "private", reconnect_delay=0.05,
                       on_reconnect=reconnected.set)
    pub = BybitStream(config, None, "linear", reconnect_delay=0.05)
    priv.subscribe_executions(lambda xs: fills.extend(x.order_link_id for x in xs))
    pub.subscribe_trades(SYM, lambda ts: prints.extend(t.price for t in ts))
    with priv, pub:
        assert priv.healthy and pub.healthy
        for abrupt in (False, True):
            assert fx.faults.drop_ws("all", abrupt=abrupt) == 2
            assert reconnected.wait(5)
            reconnected.clear()
            assert priv.wait_healthy(5) and pub.wait_healthy(5)
        c = client(fx)
        c.place_order(SYM, 1, 0.01, 59000.0, order_link_id="after-drop")
        fx.engine.trade(SYM, 58000.0, side=-1)
        deadline = time.monotonic() + 3
        while (not fills or not prints) and time.monotonic() < deadline:
            time.sleep(0.02)
    assert fills == ["after-drop"] and prints == [58000.0]
    assert priv.reconnects == 2 and pub.reconnects == 2


def test_delayed_acks_still_become_healthy(fake_exchange: FakeExchange, fast_config: Maker) -> None:
    fx = fake_exchange
    fx.faults.delay_acks(0.6)
    stream = BybitStream(fast_config(fx), None, "linear")
    stream.subscribe_tickers(SYM, lambda t: None)
    try:
        stream.start(wait=0.2)
        assert not stream.healthy  # connected, ack not yet in
        assert stream.wait_healthy(3)
    finally:
        stream.close()


def test_latency_fault_slows_but_does_not_break(fake_exchange: FakeExchange, client: Maker) -> None:
    fx = fake_exchange
    fx.faults.set_latency(0.2)
    c = client(fx)
    t0 = time.perf_counter()
    c.get_server_time()
    assert time.perf_counter() - t0 >= 0.2
