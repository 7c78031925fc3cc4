"""The taxonomy's handling through pybit against the local exchange: ambiguous creates end with
exactly one order, a spent orderLinkId is refused, HTTP 403 waits, 10006 waits for the reset
header, leverage refusals continue with the leverage in force."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gridlab.bybit.client import BybitClient
from gridlab.bybit.errors import BybitError, DuplicateOrderLinkId, IpRateLimited
from gridlab.bybit.parse import BUY
from gridlab.fakex.handle import FakeExchange
from gridlab.fakex.records import EngineError

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
Maker = Callable[..., Any]


class FakeClock:
    """A monotonic clock that only moves when the client sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += max(0.0, s)


def _client(fx: FakeExchange, fast_config: Maker, clock: FakeClock | None = None,
            **overrides: Any) -> BybitClient:
    if clock is None:
        return BybitClient(fast_config(fx, **overrides), fx.credentials)
    return BybitClient(fast_config(fx, **overrides), fx.credentials, sleep=clock.sleep,
                       clock=clock)


@pytest.mark.parametrize("code", [10000, 10016])
def test_ambiguous_retcode_after_accept_ends_with_one_order(
        fake_exchange: FakeExchange, fast_config: Maker, code: int) -> None:
    fx = fake_exchange
    fx.faults.ambiguous(count=1, code=code)  # accepted and resting, then the error reply
    c = _client(fx, fast_config)
    ack = c.place_order(SYM, BUY, 0.01, 59_000.0, order_link_id="amb-1")
    resting = fx.engine.orders_with_link("amb-1")
    assert ack.existed and len(resting) == 1 and ack.order_id == resting[0].order_id
    assert c.stats["lookups"] == 1 and c.paths["/v5/order/create"] == 1


def test_5xx_after_accept_ends_with_one_order(fake_exchange: FakeExchange,
                                              fast_config: Maker) -> None:
    fx = fake_exchange
    fx.faults.timeout(count=1, seconds=0.0, path="/v5/order/create", after_accept=True)
    c = _client(fx, fast_config)
    ack = c.place_order(SYM, BUY, 0.01, 59_000.0, order_link_id="amb-5xx")
    assert ack.existed and len(fx.engine.orders_with_link("amb-5xx")) == 1


def test_ambiguous_before_accept_sends_the_same_link_again(fake_exchange: FakeExchange,
                                                           fast_config: Maker) -> None:
    fx = fake_exchange
    fx.faults.http_error(count=1, status=503, path="/v5/order/create")  # never reached the book
    c = _client(fx, fast_config)
    ack = c.place_order(SYM, BUY, 0.01, 59_000.0, order_link_id="amb-2")
    assert not ack.existed and ack.order_id
    assert len(fx.engine.orders_with_link("amb-2")) == 1
    assert c.stats["lookups"] == 1 and c.paths["/v5/order/create"] == 2


def _hide(fx: FakeExchange, links: set[str]) -> None:
    """Bybit's retention: these orders are no longer returned by realtime or history."""
    eng = fx.engine
    for name in ("open_orders", "order_history"):
        original = getattr(eng, name)

        def hidden(key: str, p: dict[str, Any], original: Any = original) -> dict[str, Any]:
            out = original(key, p)
            return {**out, "list": [d for d in out["list"] if d["orderLinkId"] not in links]}

        setattr(eng, name, hidden)


def test_spent_link_is_refused_not_recorded(fake_exchange: FakeExchange,
                                            fast_config: Maker) -> None:
    fx = fake_exchange
    c = _client(fx, fast_config)
    c.place_order(SYM, BUY, 0.01, 59_000.0, order_link_id="old-1")
    assert c.cancel_order(SYM, order_link_id="old-1")
    _hide(fx, {"old-1"})
    with pytest.raises(DuplicateOrderLinkId, match="no such order"):
        c.place_order(SYM, BUY, 0.01, 59_000.0, order_link_id="old-1")
    assert [o.order_link_id for o in c.get_open_orders(SYM)] == []


def test_http_403_stops_every_request_for_the_ban_wait(fake_exchange: FakeExchange,
                                                       fast_config: Maker) -> None:
    fx = fake_exchange
    clock = FakeClock()
    c = _client(fx, fast_config, clock, ip_ban_wait_s=600.0)
    fx.faults.http_error(count=1, status=403)
    with pytest.raises(IpRateLimited) as exc:
        c.get_open_orders(SYM)
    assert exc.value.retry_after == 600.0 and c.stats["retries"] == 0
    sent = c.stats["requests"]
    clock.now += 599.0
    with pytest.raises(IpRateLimited, match="another 1 s"):
        c.place_order(SYM, BUY, 0.01, 59_000.0, order_link_id="ban-1")
    assert c.stats["requests"] == sent and not fx.engine.orders_with_link("ban-1")
    assert not clock.slept  # no quick retries: the wait is the caller's (an event)
    clock.now += 1.5
    assert c.place_order(SYM, BUY, 0.01, 59_000.0, order_link_id="ban-1").order_id


def test_10006_storm_waits_for_the_reset_header(fake_exchange: FakeExchange,
                                                fast_config: Maker) -> None:
    fx = fake_exchange
    clock = FakeClock()
    c = _client(fx, fast_config, clock)  # backoffs of 0.01-0.05 s
    fx.faults.rate_limit(count=3, path="/v5/order/realtime")  # reset 200 ms ahead
    assert c.get_open_orders(SYM) == []
    assert c.stats["retries"] == 3
    assert len(clock.slept) >= 3 and all(s >= 0.1 for s in clock.slept[-3:])


@pytest.mark.parametrize("code", [110038, 100028, 110036])
def test_leverage_refusal_continues_with_the_leverage_in_force(
        fake_exchange: FakeExchange, fast_config: Maker, code: int) -> None:
    fx = fake_exchange
    c = _client(fx, fast_config)
    assert c.set_leverage(SYM, 3).changed

    def refuse(key: str, p: dict[str, Any]) -> dict[str, Any]:
        raise EngineError(code, "Portfolio margin mode is not allowed to change leverage")

    fx.engine.set_leverage = refuse  # type: ignore[method-assign]
    res = c.set_leverage(SYM, 5)
    assert (res.changed, res.in_force, res.code) == (False, 3.0, code)
    assert "leverage in force is 3" in res.warning and str(code) in res.warning


def test_cancel_all_with_nothing_open_is_done_not_retried(fake_exchange: FakeExchange,
                                                          fast_config: Maker) -> None:
    fx = fake_exchange

    def nothing(key: str, p: dict[str, Any]) -> dict[str, Any]:
        raise EngineError(10016, "Cancel All No Result")

    fx.engine.cancel_all = nothing  # type: ignore[method-assign]
    c = _client(fx, fast_config)
    assert c.cancel_all_orders(SYM) == [] and c.stats["retries"] == 0

    def broken(key: str, p: dict[str, Any]) -> dict[str, Any]:
        raise EngineError(10016, "Server error")

    fx.engine.cancel_all = broken  # type: ignore[method-assign]
    with pytest.raises(BybitError):
        c.cancel_all_orders(SYM)  # a real 10016 on cancel-all: retried, then raised
    assert c.stats["retries"] == 3
