"""BybitClient against the local exchange: parsed types, paging, idempotent placement,
10001 rounding, error mapping, secrets kept out of logs/reprs; token bucket; config; keys."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pybit._helpers
import pytest

from gridlab.bybit.client import BybitClient, format_number, new_order_link_id
from gridlab.bybit.credentials import ENV_KEY, ENV_SECRET, Credentials, load_credentials
from gridlab.bybit.errors import (
    AuthError,
    BybitError,
    DuplicateOrderLinkId,
    InsufficientBalance,
    InvalidParameter,
    NotionalTooSmall,
    OrderNotFound,
    QtyTooSmall,
    RateLimited,
    TimestampError,
    error_from_code,
)
from gridlab.bybit.parse import BUY, SELL, Kline, Wallet
from gridlab.bybit.ratelimit import RateLimiter, TokenBucket
from gridlab.config import config_from_dict
from gridlab.config.exchange import ExchangeConfig
from gridlab.errors import ConfigError
from gridlab.fakex.handle import FakeExchange

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
Maker = Callable[..., Any]


@pytest.fixture
def client(fake_exchange: FakeExchange, fast_config: Maker) -> BybitClient:
    return BybitClient(fast_config(fake_exchange), fake_exchange.credentials)


def test_market_data_is_parsed(fake_exchange: FakeExchange, client: BybitClient) -> None:
    fx = fake_exchange
    assert abs(client.get_server_time() - time.time() * 1000) < 5000
    inst = client.get_instrument(SYM)
    assert (inst.tick_size, inst.qty_step, inst.min_qty, inst.min_notional) == (0.1, 0.001,
                                                                                0.001, 5.0)
    assert inst.funding_interval_min == 480 and inst.max_leverage == 100
    with pytest.raises(InvalidParameter, match="unknown linear symbol NOPEUSDT"):
        client.get_instrument("NOPEUSDT")
    t = client.get_ticker(SYM)
    assert (t.last_price, t.bid, t.ask, t.funding_rate) == (60000.0, 59999.9, 60000.0, 0.0001)
    base = 1_700_000_000_000 // 60_000 * 60_000
    fx.engine.load_klines(SYM, "1", [base + i * 60_000 for i in range(5)],
                          [[i, i + 1, i - 1, i + 0.5, 1, 2] for i in range(5)])
    bars = client.get_klines(SYM, "1", base, base + 4 * 60_000)
    assert [b.open_time for b in bars] == [base + i * 60_000 for i in range(5)]  # oldest first
    assert bars[0] == Kline(base, 0.0, 1.0, -1.0, 0.5, 1.0, 2.0)
    fx.engine.load_funding(SYM, [base, base + 28_800_000], [0.0001, -0.0002])
    assert [f.rate for f in client.get_funding_history(SYM, base, base + 10**9)] == [0.0001,
                                                                                    -0.0002]
    fx.engine.trade(SYM, 60010.0, 0.5, side=1)
    fx.engine.trade(SYM, 60000.0, 0.25, side=-1)
    trades = client.get_recent_trades(SYM)
    assert [(x.price, x.size, x.side) for x in trades] == [(60010.0, 0.5, BUY),
                                                          (60000.0, 0.25, SELL)]
    fees = client.get_fee_rates(SYM)
    assert (fees.maker, fees.taker) == (0.0002, 0.00055)


def test_account_and_orders(fake_exchange: FakeExchange, client: BybitClient) -> None:
    w = client.get_wallet_balance()
    assert isinstance(w, Wallet) and w.total_equity == 100_000 and w.coins["USDT"].equity == 100_000
    for i in range(55):
        client.place_order(SYM, BUY, 0.001, 50_000.0 + i, order_link_id=f"o-{i}")
    opened = client.get_open_orders(SYM)  # two pages of 50
    assert len(opened) == 55 and all(o.is_open and o.side == BUY for o in opened)
    assert client.find_order(SYM, "o-7").price == 50_007.0  # type: ignore[union-attr]
    assert client.cancel_order(SYM, order_link_id="o-0")
    assert not client.cancel_order(SYM, order_link_id="o-0", missing_ok=True)
    with pytest.raises(OrderNotFound):
        client.cancel_order(SYM, order_link_id="o-0")
    assert len(client.cancel_all_orders(SYM)) == 54
    assert client.get_open_orders() == []
    assert len(client.get_order_history(SYM)) == 55
    ack = client.place_order(SYM, BUY, 0.2, order_type="Market")
    assert ack.order_link_id.startswith("gl-")
    pos = client.get_positions(SYM)[0]
    assert pos.side == BUY and pos.size == pytest.approx(0.2) and pos.avg_price == 60000.0
    assert client.set_leverage(SYM, 5).changed is True
    again = client.set_leverage(SYM, 5)  # 110043 = not modified = fine
    assert (again.changed, again.in_force, again.code, again.warning) == (False, 5, 110043, "")
    assert client.get_positions()[0].leverage == 5


def test_executions_page_through_cursor(fake_exchange: FakeExchange,
                                        client: BybitClient) -> None:
    eng = fake_exchange.engine
    t0 = eng.now_ms()
    for i in range(130):
        client.place_order(SYM, BUY if i % 2 == 0 else SELL, 0.001, order_type="Market",
                           order_link_id=f"e-{i}")
    ex = client.get_executions(SYM, start_ms=t0 - 1)
    assert len(ex) == 130 and ex[0].order_link_id == "e-0" and not ex[0].is_maker
    assert ex[1].closed_size == pytest.approx(0.001)
    assert all(a.exec_time <= b.exec_time for a, b in itertools.pairwise(ex))


def test_duplicate_link_id_means_already_placed(fake_exchange: FakeExchange,
                                                client: BybitClient) -> None:
    first = client.place_order(SYM, BUY, 0.01, 59_000.0, order_link_id="dup")
    again = client.place_order(SYM, BUY, 0.01, 59_000.0, order_link_id="dup")
    assert again.existed and again.order_id == first.order_id
    assert len(fake_exchange.engine.orders_with_link("dup")) == 1


def test_10001_rounds_to_the_filters_once(fake_exchange: FakeExchange,
                                          client: BybitClient) -> None:
    ack = client.place_order(SYM, BUY, 0.0109, 59_000.07, order_link_id="round-b")
    o = client.find_order(SYM, "round-b")
    assert ack.order_id and o is not None and (o.qty, o.price) == (0.01, 59_000.0)
    client.place_order(SYM, SELL, 0.0101, 61_000.01, order_link_id="round-s")
    o = client.find_order(SYM, "round-s")
    assert o is not None and (o.qty, o.price) == (0.01, 61_000.1)  # sells round up
    with pytest.raises(QtyTooSmall):
        client.place_order(SYM, BUY, 0.0004, 59_000.0)
    with pytest.raises(NotionalTooSmall):
        client.place_order(SYM, BUY, 0.001, 4_000.0)
    with pytest.raises(InsufficientBalance):
        client.place_order(SYM, BUY, 20, 59_000.0)
    with pytest.raises(InvalidParameter):  # still wrong after one rounding: above max qty
        client.place_order(SYM, BUY, 5000.00001, 59_000.0)


def test_auth_errors_name_the_variables_and_never_the_secret(
        fake_exchange: FakeExchange, fast_config: Maker, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cr3t-that-must-not-leak"
    bad = BybitClient(fast_config(fake_exchange), Credentials(fake_exchange.api_key, secret))
    with pytest.raises(AuthError) as exc:
        bad.get_wallet_balance()
    assert exc.value.code == 10004 and ENV_KEY in str(exc.value) and ENV_SECRET in str(exc.value)
    unknown = BybitClient(fast_config(fake_exchange), Credentials("nobody-key", secret))
    with pytest.raises(AuthError) as exc:
        unknown.place_order(SYM, BUY, 0.01, 59_000.0)
    assert exc.value.code == 10003
    with pytest.raises(AuthError, match="needs API keys"):
        BybitClient(fast_config(fake_exchange)).get_positions(SYM)
    monkeypatch.setattr(pybit._helpers, "generate_timestamp",
                        lambda: int(time.time() * 1000) - 60_000)
    with pytest.raises(TimestampError, match="NTP"):
        BybitClient(fast_config(fake_exchange), fake_exchange.credentials).get_positions(SYM)
    text = caplog.text + repr(bad) + str(bad) + repr(exc.value)
    assert secret not in text and fake_exchange.api_secret not in text
    assert "***" in repr(Credentials(fake_exchange.api_key, secret))
    assert secret not in repr(Credentials("k" * 10, secret))


def test_retries_log_without_secrets(fake_exchange: FakeExchange, fast_config: Maker,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = BybitClient(fast_config(fake_exchange), fake_exchange.credentials)
    fake_exchange.faults.http_error(count=2, path="/v5/order/realtime")
    fake_exchange.faults.rate_limit(count=1)
    assert c.get_open_orders(SYM) == []
    assert c.stats["retries"] == 3 and "retrying" in caplog.text
    assert fake_exchange.api_secret not in caplog.text


def test_error_mapping_and_backoff() -> None:
    cases = {10001: InvalidParameter, 10002: TimestampError, 10003: AuthError, 10004: AuthError,
             10006: RateLimited, 110001: OrderNotFound, 110007: InsufficientBalance,
             110017: QtyTooSmall, 110094: NotionalTooSmall, 110072: DuplicateOrderLinkId,
             170131: InsufficientBalance, 170136: QtyTooSmall, 170140: NotionalTooSmall}
    for code, cls in cases.items():
        err = error_from_code(code, "msg", "/v5/x")
        assert type(err) is cls and err.code == code and "/v5/x" in str(err)
    assert type(error_from_code(12345, "odd")) is BybitError
    c = BybitClient(ExchangeConfig(retry={"backoff_base": 0.5, "backoff_cap": 3.0,
                                          "jitter": 0.0}))
    assert [c._backoff(n, None) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    limited = RateLimited("x")
    limited.retry_after = 2.5
    assert c._backoff(1, limited) == 2.5
    assert format_number(0.1 + 0.2) == "0.3" and format_number(60000.0) == "60000"
    assert format_number(0.0104, 0.001) == "0.01" and len(new_order_link_id()) <= 36


def test_token_bucket_rate_and_threads() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    b = TokenBucket(10, burst=2, clock=lambda: now[0], sleep=sleep)
    waits = [b.acquire() for _ in range(5)]
    assert waits[:2] == [0.0, 0.0] and waits[2] == pytest.approx(0.1)
    assert sum(slept) == pytest.approx(0.3)
    assert TokenBucket(0).acquire() == 0.0  # unlimited
    limiter = RateLimiter({"order": 50.0, "market": 0})
    t0 = time.monotonic()
    threads = [threading.Thread(target=lambda: [limiter.acquire("order") for _ in range(10)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - t0 >= (40 - 50) / 50 - 0.01  # 40 tokens at 50/s with burst 50
    limiter.block("order", 0.2)
    t1 = time.monotonic()
    limiter.acquire("order")
    assert time.monotonic() - t1 >= 0.15


def test_exchange_config(tmp_path: Path) -> None:
    assert ExchangeConfig(env="mainnet").rest_url() == "https://api.bybit.com"
    assert ExchangeConfig(env="testnet").ws_public_url("spot") == \
        "wss://stream-testnet.bybit.com/v5/public/spot"
    demo = ExchangeConfig(env="demo")
    assert demo.rest_url() == "https://api-demo.bybit.com"
    assert demo.ws_private_url() == "wss://stream-demo.bybit.com/v5/private"
    local = ExchangeConfig(env="local", endpoint="http://127.0.0.1:9/")
    assert local.ws_public_url() == "ws://127.0.0.1:9/v5/public/linear"
    with pytest.raises(ConfigError, match=r"exchange\.retry\.max_attempts"):
        config_from_dict({"exchange": {"retry": {"max_attempts": 0}}})
    with pytest.raises(ConfigError, match=r"exchange\.endpoint"):
        config_from_dict({"exchange": {"endpoint": "ftp://x"}})
    with pytest.raises(ConfigError, match="unknown field"):
        config_from_dict({"exchange": {"rate_limit": {}}})


def test_credentials_from_env_and_dotenv(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_SECRET, raising=False)
    assert load_credentials(tmp_path / ".env") is None
    with pytest.raises(ConfigError, match=ENV_KEY):
        load_credentials(tmp_path / ".env", required=True)
    (tmp_path / ".env").write_text(f"{ENV_KEY}=filekey123\n{ENV_SECRET}=filesecret\n")
    c = load_credentials(tmp_path / ".env")
    assert c is not None and c.api_key == "filekey123" and "filesecret" not in repr(c)
    monkeypatch.setenv(ENV_KEY, "envkey4567")
    monkeypatch.setenv(ENV_SECRET, "envsecret")
    c = load_credentials(tmp_path / ".env")
    assert c is not None and (c.api_key, c.api_secret) == ("envkey4567", "envsecret")
    monkeypatch.delenv(ENV_SECRET)
    (tmp_path / ".env").write_text("")
    with pytest.raises(ConfigError, match=ENV_SECRET):
        load_credentials(tmp_path / ".env")
