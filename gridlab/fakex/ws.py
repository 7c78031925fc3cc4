"""WebSocket side of the local exchange: connections, the subscription hub (an Engine listener),
subscribe/auth/ping handling, as docs/v5/ws/connect and the topic pages describe.

Public topics: `publicTrade.{symbol}`, `kline.{interval}.{symbol}`, `tickers.{symbol}` (snapshot,
then deltas; bid1Price/ask1Price are the best bid/ask) and `orderbook.{depth}.{symbol}` (depth 1,
50, 200, 1000; snapshot messages with the best bid and ask - docs/v5/websocket/public/orderbook).
Private: `order`, `execution`, `position`, `wallet`, and the category topics `order.linear`,
`execution.spot`, `position.linear`, ... (docs/v5/websocket/private/order), each message
carrying the topic it was subscribed as. Acks and first pushes wait `faults.ws_ack_delay`
(pybit records a subscription only after sending it) and echo req_id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect

from gridlab.bybit.constants import KLINE_INTERVALS
from gridlab.fakex.auth import AuthFailure, verify_ws
from gridlab.fakex.engine import Engine
from gridlab.fakex.faults import Faults

__all__ = ["Conn", "Hub", "serve_ws"]

_PRIVATE_TOPICS = ("order", "execution", "position", "wallet")
_CATEGORY_TOPICS = {"order": ("linear", "spot"), "execution": ("linear", "spot"),
                    "position": ("linear",)}
_BOOK_DEPTHS = ("1", "50", "200", "1000")


def _now_ms() -> int:
    return int(time.time() * 1000)


class WsState(Protocol):
    """What the WebSocket handlers need of the app's shared state."""

    engine: Engine
    faults: Faults
    hub: Hub

    def secret_of(self, key: str) -> str | None: ...


@dataclass(eq=False)
class Conn:
    """One WebSocket connection and its ordered outbound queue."""

    ws: WebSocket
    channel: str  # "linear" | "spot" | "private"
    loop: asyncio.AbstractEventLoop
    conn_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    key: str | None = None
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)

    def send(self, item: str | tuple[str, int]) -> None:
        """Queue a text frame (or a ("close", code) request) from any thread."""
        with contextlib.suppress(RuntimeError):  # loop closed
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class Hub:
    """Engine listener: fans events out to subscribed WebSocket connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.conns: set[Conn] = set()
        self.subs: dict[tuple[str, str, str | None], set[Conn]] = {}

    def wants(self, channel: str, topic: str, key: str | None) -> bool:
        return (channel, topic, key) in self.subs

    def push(self, channel: str, topic: str, key: str | None, msg: dict[str, Any]) -> None:
        with self._lock:
            conns = tuple(self.subs.get((channel, topic, key), ()))
        if conns:
            text = json.dumps(msg, separators=(",", ":"))
            for c in conns:
                c.send(text)

    def add(self, conn: Conn, topic: str) -> None:
        with self._lock:
            self.subs.setdefault((conn.channel, topic, conn.key), set()).add(conn)

    def discard(self, conn: Conn, topic: str | None = None) -> None:
        with self._lock:
            for k in list(self.subs):
                if topic is None or k[1] == topic:
                    self.subs[k].discard(conn)
                    if not self.subs[k]:
                        del self.subs[k]
            if topic is None:
                self.conns.discard(conn)

    def drop(self, which: str = "all", abrupt: bool = False) -> int:
        """Close connections of a kind ("all", "public", "private", or a channel)."""
        with self._lock:
            targets = [c for c in self.conns if which == "all" or c.channel == which
                       or (which == "public" and c.channel != "private")]
        for c in targets:
            c.send(("close", 1011 if abrupt else 1001))
        return len(targets)



def _topic_ok(state: WsState, channel: str, topic: str) -> bool:
    parts = topic.split(".")
    if channel == "private":
        return topic in _PRIVATE_TOPICS or (
            len(parts) == 2 and parts[1] in _CATEGORY_TOPICS.get(parts[0], ()))
    if parts[0] in ("publicTrade", "tickers") and len(parts) == 2:
        sym = parts[1]
    elif len(parts) == 3 and ((parts[0] == "kline" and parts[1] in KLINE_INTERVALS)
                              or (parts[0] == "orderbook" and parts[1] in _BOOK_DEPTHS)):
        sym = parts[2]
    else:
        return False
    return (channel, sym) in state.engine.instruments


async def _subscribe(state: WsState, conn: Conn, msg: dict[str, Any], op: str) -> None:
    """Ack (after the configured delay, echoing req_id), then activate; tickers and orderbook
    topics get a snapshot first."""
    await asyncio.sleep(state.faults.ws_ack_delay)
    topics = [str(t) for t in msg.get("args") or []]
    reply = {"success": True, "ret_msg": "", "conn_id": conn.conn_id, "op": op}
    if msg.get("req_id") is not None:
        reply["req_id"] = msg["req_id"]
    if conn.channel == "private" and conn.key is None:
        reply.update(success=False, ret_msg="Request not authorized")
    elif op == "subscribe" and not all(_topic_ok(state, conn.channel, t) for t in topics):
        bad = [t for t in topics if not _topic_ok(state, conn.channel, t)]
        reply.update(success=False, ret_msg=f"Invalid topic :{bad}")
    conn.queue.put_nowait(json.dumps(reply))
    if not reply["success"]:
        return
    if op == "unsubscribe":
        for t in topics:
            state.hub.discard(conn, t)
        return
    eng = state.engine
    with eng.lock:  # snapshot before activation, both under the engine lock: no lost delta
        for t in topics:
            snap = None
            if t.startswith("tickers."):
                snap = eng.ticker_snapshot(conn.channel, t.split(".", 1)[1])
            elif t.startswith("orderbook."):
                snap = eng.book_snapshot(conn.channel, t)
            if snap is not None:
                conn.queue.put_nowait(json.dumps(snap, separators=(",", ":")))
            state.hub.add(conn, t)


async def serve_ws(state: WsState, websocket: WebSocket, channel: str) -> None:
    await websocket.accept()
    conn = Conn(websocket, channel, asyncio.get_running_loop())
    hub = state.hub
    with hub._lock:
        hub.conns.add(conn)

    async def sender() -> None:
        while True:
            item = await conn.queue.get()
            if isinstance(item, tuple):
                await websocket.close(code=item[1])
                return
            await websocket.send_text(item)

    send_task = asyncio.create_task(sender())
    tasks: set[asyncio.Task] = set()
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                msg = json.loads(raw)
            except json.JSONDecodeError:
                continue
            op = msg.get("op")
            if op == "ping":
                pong = ({"req_id": msg.get("req_id", ""), "op": "pong", "args": [str(_now_ms())],
                         "conn_id": conn.conn_id} if channel == "private" else
                        {"success": True, "ret_msg": "pong", "conn_id": conn.conn_id,
                         "req_id": msg.get("req_id", ""), "op": "ping"})
                conn.queue.put_nowait(json.dumps(pong))
            elif op == "auth" and channel == "private":
                try:
                    conn.key = verify_ws(list(msg.get("args") or []), state.secret_of)
                    reply = {"success": True, "ret_msg": "", "op": "auth",
                             "conn_id": conn.conn_id}
                except AuthFailure as exc:
                    reply = {"success": False, "ret_msg": f"{exc.msg}", "op": "auth",
                             "conn_id": conn.conn_id}
                if msg.get("req_id"):
                    reply["req_id"] = msg["req_id"]
                conn.queue.put_nowait(json.dumps(reply))
            elif op in ("subscribe", "unsubscribe"):
                t = asyncio.create_task(_subscribe(state, conn, msg, op))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.discard(conn)
        for t in (*tasks, send_task):
            t.cancel()
