"""Fixtures for tests that need the local exchange (load with `pytest_plugins`).

`fake_exchange`: a started gridlab.fakex FakeExchange on a free loopback port (state file in
tmp_path, server rate limits off), with `.url`, `.ws_public`, `.ws_private`, `.api_key`,
`.api_secret`, `.credentials`, `.engine`, `.faults`, `.market`, `.config()`, `.restart()`.
`fast_config`: the function `fast_config(fx, **overrides)` -> an ExchangeConfig for it with
short timeouts and backoffs. `fake_exchange_factory`: `make(**FakeExchange kwargs)` -> a started
FakeExchange, closed at teardown (it also takes `rules=Rules(...)` for small retention windows
and limits). `pybit_http`: `http(fx, **HTTP kwargs)` -> pybit's own HTTP session pointed at `fx`
(one attempt unless `max_retries` is given). `pybit_ws`: `ws(fx, channel)` -> pybit's own
WebSocket on `fx` ("linear", "spot" or "private"), exited at teardown. (Test modules take these
as fixtures: importing this module directly as well as loading it as a plugin would defeat
pytest's assertion rewriting.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pybit.unified_trading as ut
import pytest
from pybit.unified_trading import HTTP, WebSocket

from gridlab.config.exchange import ExchangeConfig
from gridlab.fakex.handle import FakeExchange

__all__ = [
    "fake_exchange",
    "fake_exchange_factory",
    "fast_config",
    "fast_config_fixture",
    "make_fake_exchange",
    "pybit_http",
    "pybit_ws",
]


def fast_config(fx: FakeExchange, **overrides: Any) -> ExchangeConfig:
    """Client config for tests: 1 s timeout, 4 attempts, millisecond backoffs, high limits."""
    fields: dict[str, Any] = {
        "timeout": 1.0,
        "retry": {"max_attempts": 4, "backoff_base": 0.01, "backoff_cap": 0.05, "jitter": 0.01},
        "rate_limits": {"market": 1000, "order": 1000, "position": 1000, "account": 1000},
    }
    fields.update(overrides)
    return fx.config(**fields)


def make_fake_exchange(tmp_path: Path, **kwargs: Any) -> FakeExchange:
    """A started FakeExchange with test defaults (no server rate limits, 0.1 s ack delay)."""
    kwargs.setdefault("rate_limits", {})
    kwargs.setdefault("state_path", tmp_path / "fakex-state.json")
    return FakeExchange(**kwargs).start()


@pytest.fixture
def fake_exchange(tmp_path: Path) -> Iterator[FakeExchange]:
    """A running local exchange with BTCUSDT (linear) at 60 000 and a 100 000 USDT account."""
    fx = make_fake_exchange(tmp_path)
    try:
        yield fx
    finally:
        fx.close()


@pytest.fixture(name="fast_config")
def fast_config_fixture() -> Callable[..., ExchangeConfig]:
    """The `fast_config` helper."""
    return fast_config


@pytest.fixture
def fake_exchange_factory(tmp_path: Path) -> Iterator[Callable[..., FakeExchange]]:
    """`make(**kwargs)` starts more local exchanges (each in its own folder), closed after."""
    made: list[FakeExchange] = []

    def make(**kwargs: Any) -> FakeExchange:
        folder = tmp_path / f"fx{len(made)}"
        folder.mkdir()
        fx = make_fake_exchange(folder, **kwargs)
        made.append(fx)
        return fx

    try:
        yield make
    finally:
        for fx in made:
            fx.close()


@pytest.fixture
def pybit_http() -> Callable[..., HTTP]:
    """`http(fx, **kwargs)`: a pybit HTTP session on the local exchange `fx`."""

    def make(fx: FakeExchange, **kwargs: Any) -> HTTP:
        kwargs.setdefault("api_key", fx.api_key)
        kwargs.setdefault("api_secret", fx.api_secret)
        kwargs.setdefault("max_retries", 1)
        session = HTTP(**kwargs)
        session.endpoint = fx.url
        return session

    return make


@pytest.fixture
def pybit_ws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., WebSocket]]:
    """`ws(fx, channel)`: a connected pybit WebSocket on `fx`, exited at teardown."""
    made: list[WebSocket] = []

    def make(fx: FakeExchange, channel: str = "linear") -> WebSocket:
        monkeypatch.setattr(ut, "PUBLIC_WSS", fx.ws_public + "/{CHANNEL_TYPE}")
        monkeypatch.setattr(ut, "PRIVATE_WSS", fx.ws_private)
        if channel == "private":
            ws = WebSocket(testnet=True, channel_type="private", api_key=fx.api_key,
                           api_secret=fx.api_secret)
        else:
            ws = WebSocket(testnet=True, channel_type=channel)
        made.append(ws)
        return ws

    try:
        yield make
    finally:
        for ws in made:
            ws.exit()
