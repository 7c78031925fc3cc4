"""BybitStream: one supervised pybit WebSocket (a public channel or the private stream).

pybit keeps the socket, signs the private `auth`, and sends pings; this module routes every
message itself (pybit's `callback_function` hook, which also sidesteps pybit's subscribe-ack
race), parses data into gridlab types, and runs a supervisor thread that reconnects with
exponential backoff + jitter and resubscribes every topic whenever the socket is gone (pybit
alone does not reconnect after a clean server-side close). `healthy` is the stream-health flag.

Callbacks run on pybit's socket thread; keep them short. An exception in a callback is logged
and does not close the stream. After a reconnect `on_reconnect` is called (resync over REST:
messages sent while the stream was down are lost).
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from gridlab.bybit.client import PybitWebSocket
from gridlab.bybit.credentials import Credentials
from gridlab.bybit.errors import AuthError
from gridlab.bybit.parse import (
    Execution,
    Kline,
    Order,
    Position,
    PublicTrade,
    Ticker,
    Wallet,
    parse_execution,
    parse_kline_ws,
    parse_order,
    parse_position,
    parse_public_trade_ws,
    parse_ticker,
    parse_wallet,
)
from gridlab.bybit.results import BookTop
from gridlab.config.exchange import ExchangeConfig

__all__ = ["BybitStream"]

log = logging.getLogger("gridlab.bybit.ws")

_CHANNELS = ("linear", "spot", "private")
_MAX_ARGS = 10  # Bybit accepts at most 10 topics per public subscribe request


class _PybitWebSocket(PybitWebSocket):
    """pybit's WebSocket bound to an explicit URL (no module globals touched)."""

    def __init__(self, url: str, channel_type: str, **kwargs: Any) -> None:
        self._gridlab_url = url
        super().__init__(channel_type, **kwargs)

    def _connect(self, url: str) -> None:
        super()._connect(self._gridlab_url)


class BybitStream:
    """Subscriptions on one channel ("linear", "spot" or "private") with reconnect."""

    def __init__(self, config: ExchangeConfig | None = None,
                 credentials: Credentials | None = None, channel: str = "linear", *,
                 ping_interval: float = 20.0, ping_timeout: float = 10.0,
                 reconnect_delay: float = 0.5, max_reconnect_delay: float = 10.0,
                 check_interval: float = 0.2,
                 on_reconnect: Callable[[], None] | None = None) -> None:
        if channel not in _CHANNELS:
            raise ValueError(f"channel must be one of {_CHANNELS}, got {channel!r}")
        if channel == "private" and credentials is None:
            raise AuthError("the private stream needs API keys", code=0)
        self.config = config or ExchangeConfig()
        self.channel = channel
        self.url = (self.config.ws_private_url() if channel == "private"
                    else self.config.ws_public_url(channel))
        self._creds = credentials
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.check_interval = check_interval
        self.on_reconnect = on_reconnect
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._tickers: dict[str, dict[str, Any]] = {}
        self._books: dict[str, tuple[dict[float, float], dict[float, float]]] = {}
        self._pending: dict[str, list[str]] = {}  # req_id -> topics awaiting their ack
        self._acked: set[str] = set()
        self._lock = threading.RLock()
        self._ws: _PybitWebSocket | None = None
        self._authed = False
        self.auth_error: str | None = None
        self._closed = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.reconnects = 0
        self.last_message_at = 0.0
        self.errors: list[str] = []

    def __repr__(self) -> str:
        return f"BybitStream(channel={self.channel!r}, url={self.url!r}, healthy={self.healthy})"

    # ---- subscriptions ---------------------------------------------------------------------

    def _add(self, topic: str, handler: Callable[[dict[str, Any]], None]) -> None:
        if self.channel == "private" and topic not in ("order", "execution", "position",
                                                        "wallet"):
            raise ValueError(f"{topic} is not a private topic")
        with self._lock:
            if topic in self._handlers:
                raise ValueError(f"already subscribed to {topic}")
            self._handlers[topic] = handler
        if self._connected():
            self._send_subscribe([topic])

    def subscribe_trades(self, symbol: str, callback: Callable[[list[PublicTrade]], None]) -> None:
        """publicTrade.{symbol}: prints, oldest first."""
        self._add(f"publicTrade.{symbol}", lambda m: callback(
            [parse_public_trade_ws(d) for d in m.get("data", [])]))

    def subscribe_klines(self, symbol: str, interval: str | int,
                         callback: Callable[[list[Kline]], None]) -> None:
        """kline.{interval}.{symbol}: bar updates (confirm=True once a bar is closed)."""
        self._add(f"kline.{interval}.{symbol}", lambda m: callback(
            [parse_kline_ws(d) for d in m.get("data", [])]))

    def subscribe_tickers(self, symbol: str, callback: Callable[[Ticker], None]) -> None:
        """tickers.{symbol}: the full ticker after each snapshot or delta."""
        topic = f"tickers.{symbol}"

        def handle(m: dict[str, Any]) -> None:
            data = m.get("data", {})
            if m.get("type") == "snapshot" or topic not in self._tickers:
                self._tickers[topic] = dict(data)
            else:
                self._tickers[topic].update(data)
            callback(parse_ticker(self._tickers[topic], int(m.get("ts") or 0)))

        self._add(topic, handle)

    def subscribe_orderbook(self, symbol: str, callback: Callable[[BookTop], None],
                            depth: int = 1) -> None:
        """orderbook.{depth}.{symbol}: the best bid and ask after each snapshot or delta
        (a level of size 0 leaves the book; nan while a side is empty)."""
        topic = f"orderbook.{depth}.{symbol}"

        def handle(m: dict[str, Any]) -> None:
            data = m.get("data", {})
            if m.get("type") == "snapshot" or topic not in self._books:
                self._books[topic] = ({}, {})
            bids, asks = self._books[topic]
            for side, levels in ((bids, data.get("b") or []), (asks, data.get("a") or [])):
                for price, size in levels:
                    p, q = float(price), float(size)
                    if q > 0:
                        side[p] = q
                    else:
                        side.pop(p, None)
            callback(BookTop(symbol, max(bids) if bids else math.nan,
                             min(asks) if asks else math.nan, int(m.get("ts") or 0)))

        self._add(topic, handle)

    def subscribe_orders(self, callback: Callable[[list[Order]], None]) -> None:
        """Private `order` updates."""
        self._add("order", lambda m: callback([parse_order(d) for d in m.get("data", [])]))

    def subscribe_executions(self, callback: Callable[[list[Execution]], None]) -> None:
        """Private `execution` (fills and funding)."""
        self._add("execution", lambda m: callback(
            [parse_execution(d) for d in m.get("data", [])]))

    def subscribe_positions(self, callback: Callable[[list[Position]], None]) -> None:
        """Private `position` updates."""
        self._add("position", lambda m: callback([parse_position(d) for d in m.get("data", [])]))

    def subscribe_wallet(self, callback: Callable[[Wallet], None]) -> None:
        """Private `wallet` updates (first account of each push)."""
        self._add("wallet", lambda m: [callback(parse_wallet(d)) for d in m.get("data", [])[:1]])

    @property
    def topics(self) -> list[str]:
        """Subscribed topics."""
        with self._lock:
            return list(self._handlers)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, wait: float = 5.0) -> BybitStream:
        """Connect (in the supervisor thread) and wait up to `wait` s for the stream to be healthy.

        Returns self even when not yet healthy: the supervisor keeps trying; check `healthy`.
        """
        if self._supervisor is None:
            self._closed.clear()
            self._supervisor = threading.Thread(target=self._supervise, daemon=True,
                                                name=f"bybit-ws-{self.channel}")
            self._supervisor.start()
        self.wait_healthy(wait)
        return self

    def close(self) -> None:
        """Stop reconnecting and close the socket."""
        self._closed.set()
        if self._supervisor is not None:
            self._supervisor.join(5)
            self._supervisor = None
        self._drop_socket()

    def __enter__(self) -> BybitStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def healthy(self) -> bool:
        """Connected, authenticated (private) and every topic acknowledged."""
        if self._closed.is_set() or not self._connected():
            return False
        with self._lock:
            return (self.channel != "private" or self._authed) and \
                set(self._handlers) <= self._acked

    def wait_healthy(self, timeout: float = 5.0) -> bool:
        """Block until healthy (True) or `timeout` s passed (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy:
                return True
            if self.auth_error:
                return False
            time.sleep(0.02)
        return self.healthy

    # ---- internals -------------------------------------------------------------------------

    def _connected(self) -> bool:
        ws = self._ws
        return ws is not None and ws.is_connected()

    def _drop_socket(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.exit()
            except Exception as exc:  # the socket may already be gone
                log.debug("closing the old socket: %s", exc)

    def _open_socket(self) -> None:
        with self._lock:
            self._authed = False
            self._acked.clear()
            self._pending.clear()
            self._tickers.clear()
            self._books.clear()
        kwargs: dict[str, Any] = {
            "testnet": self.config.env == "testnet", "ping_interval": self.ping_interval,
            "ping_timeout": self.ping_timeout, "retries": 3, "restart_on_error": False,
            "callback_function": self._on_message,
        }
        if self.channel == "private":
            assert self._creds is not None
            kwargs.update(api_key=self._creds.api_key, api_secret=self._creds.api_secret)
        self._ws = _PybitWebSocket(self.url, self.channel, **kwargs)
        self._send_subscribe(self.topics)

    def _send_subscribe(self, topics: list[str]) -> None:
        ws = self._ws
        for i in range(0, len(topics), _MAX_ARGS):
            chunk = topics[i:i + _MAX_ARGS]
            req_id = uuid.uuid4().hex
            with self._lock:
                self._pending[req_id] = chunk
            try:
                assert ws is not None
                ws.ws.send(json.dumps({"op": "subscribe", "req_id": req_id, "args": chunk}))
            except Exception as exc:  # the supervisor reconnects and resubscribes
                log.warning("subscribe %s failed: %s", chunk, exc)

    def _supervise(self) -> None:
        failures = 0
        first = True
        while not self._closed.is_set():
            if self.auth_error:
                self._closed.wait(self.check_interval)
                continue
            if not self._connected():
                if not first:
                    log.warning("stream %s disconnected; reconnecting", self.url)
                self._drop_socket()
                try:
                    self._open_socket()
                except Exception as exc:
                    failures += 1
                    delay = min(self.max_reconnect_delay,
                                self.reconnect_delay * 2 ** (failures - 1))
                    delay += random.uniform(0, self.reconnect_delay)
                    log.warning("stream %s: connect failed (%s); retry in %.1f s",
                                self.url, type(exc).__name__, delay)
                    self._closed.wait(delay)
                    continue
                failures = 0
                if not first:
                    self.reconnects += 1
                    if self.on_reconnect is not None:
                        try:
                            self.on_reconnect()
                        except Exception:
                            log.exception("on_reconnect callback failed")
                first = False
            self._closed.wait(self.check_interval)

    def _on_message(self, msg: dict[str, Any]) -> None:
        self.last_message_at = time.monotonic()
        op = msg.get("op")
        if op == "auth":
            if msg.get("success"):
                self._authed = True
            else:
                self.auth_error = (f"WebSocket auth refused: {msg.get('ret_msg')}. Check "
                                   "GRIDLAB_BYBIT_API_KEY / GRIDLAB_BYBIT_API_SECRET and the env")
                log.error(self.auth_error)
            return
        if op in ("subscribe", "unsubscribe"):
            with self._lock:
                topics = self._pending.pop(str(msg.get("req_id")), [])
                if msg.get("success"):
                    self._acked.update(topics)
                else:
                    err = f"subscribe {topics} refused: {msg.get('ret_msg')}"
                    self.errors.append(err)
                    log.error(err)
            return
        topic = msg.get("topic")
        handler = self._handlers.get(topic) if topic else None
        if handler is None:
            return
        try:
            handler(msg)
        except Exception:
            log.exception("stream callback for %s failed", topic)
