"""The local Bybit-v5-compatible exchange: REST `/v5/...`, WebSocket `/v5/public/{linear,spot}` and
`/v5/private`, and loopback-only admin endpoints `/admin/...`, in one FastAPI/Starlette app.

Replies use Bybit's envelope {"retCode","retMsg","result","retExtInfo","time"}; private calls are
signature-checked (gridlab.fakex.auth) and rate limited per key and path (retCode 10006 with
X-Bapi-Limit* headers, the reset time always in the future).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from gridlab.bybit.constants import KLINE_INTERVALS
from gridlab.fakex.auth import AuthFailure, verify_rest, verify_ws
from gridlab.fakex.engine import Engine, EngineError
from gridlab.fakex.faults import Faults

__all__ = ["DEFAULT_RATE_LIMITS", "ROUTES", "ExchangeState", "create_app"]

log = logging.getLogger("gridlab.fakex")

# (method, path) -> (engine method, private?)
ROUTES: dict[tuple[str, str], tuple[str, bool]] = {
    ("GET", "/v5/market/time"): ("server_time", False),
    ("GET", "/v5/market/kline"): ("klines", False),
    ("GET", "/v5/market/instruments-info"): ("instruments_info", False),
    ("GET", "/v5/market/tickers"): ("tickers", False),
    ("GET", "/v5/market/recent-trade"): ("recent_trades", False),
    ("GET", "/v5/market/funding/history"): ("funding_history", False),
    ("POST", "/v5/order/create"): ("create_order", True),
    ("POST", "/v5/order/cancel"): ("cancel_order", True),
    ("POST", "/v5/order/cancel-all"): ("cancel_all", True),
    ("GET", "/v5/order/realtime"): ("open_orders", True),
    ("GET", "/v5/order/history"): ("order_history", True),
    ("GET", "/v5/execution/list"): ("executions", True),
    ("GET", "/v5/position/list"): ("positions", True),
    ("POST", "/v5/position/set-leverage"): ("set_leverage", True),
    ("GET", "/v5/account/wallet-balance"): ("wallet", True),
    ("GET", "/v5/account/fee-rate"): ("fee_rate", True),
}

# Per API key and path, requests per second (Bybit's per-UID defaults for linear).
DEFAULT_RATE_LIMITS: dict[str, int] = {
    "/v5/order/create": 10, "/v5/order/cancel": 10, "/v5/order/cancel-all": 10,
    "/v5/order/realtime": 50, "/v5/order/history": 50, "/v5/execution/list": 50,
    "/v5/position/list": 50, "/v5/position/set-leverage": 10,
    "/v5/account/wallet-balance": 50, "/v5/account/fee-rate": 10,
}
_PRIVATE_TOPICS = ("order", "execution", "position", "wallet")
_LOOPBACK = ("127.0.0.1", "::1", "localhost", "testclient")


def _now_ms() -> int:
    return int(time.time() * 1000)


class RateLimits:
    """Fixed one-second windows per (api key, path)."""

    def __init__(self, limits: dict[str, int] | None) -> None:
        self.limits: dict[str, int] = dict(limits or {})
        self._windows: dict[tuple[str, str], list[int]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, path: str) -> tuple[bool, dict[str, str]]:
        """(allowed, X-Bapi-Limit* headers) for one request."""
        limit = self.limits.get(path)
        if not limit:
            return True, {}
        now = _now_ms()
        with self._lock:
            w = self._windows.get((key, path))
            if w is None or now >= w[0]:
                w = self._windows[(key, path)] = [now - now % 1000 + 1000, 0]
            w[1] += 1
            used, reset = w[1], w[0]
        headers = {"X-Bapi-Limit": str(limit), "X-Bapi-Limit-Status": str(max(0, limit - used)),
                   "X-Bapi-Limit-Reset-Timestamp": str(max(reset, now + 1))}
        return used <= limit, headers


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


@dataclass
class ExchangeState:
    """Everything the app's handlers share."""

    engine: Engine
    faults: Faults
    limits: RateLimits
    hub: Hub = field(default_factory=Hub)
    market: Any = None  # gridlab.fakex.market.MarketDriver
    save: Callable[[], Any] | None = None

    def secret_of(self, key: str) -> str | None:
        """The secret of an API key (None when unknown)."""
        acct = self.engine.accounts.get(key)
        return acct.secret if acct else None


def _envelope(result: Any, code: int = 0, msg: str = "OK") -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": result if result is not None else {},
            "retExtInfo": {}, "time": _now_ms()}


def _json(body: dict[str, Any], headers: dict[str, str] | None = None,
          status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status,
                    media_type="application/json", headers=headers)


def create_app(state: ExchangeState) -> FastAPI:
    """The ASGI app serving one ExchangeState."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.engine.listeners.append(state.hub)
        state.faults.drop_hook = state.hub.drop
        try:
            yield
        finally:
            if state.hub in state.engine.listeners:
                state.engine.listeners.remove(state.hub)

    app = FastAPI(title="gridlab local exchange", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)
    app.state.exchange = state

    def engine_of() -> Engine:
        return state.engine

    async def rest(request: Request) -> Response:
        path = request.url.path
        route = ROUTES.get((request.method, path))
        if route is None:
            return _json({"retCode": 10001, "retMsg": f"unknown path {path}"}, status=404)
        name, private = route
        faults = state.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        fault = faults.take(path, private=private)
        if fault is not None and fault.kind == "status":
            return Response("Service Unavailable", status_code=fault.status)
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(fault.seconds)
            return Response("Gateway Timeout", status_code=504)
        body = (await request.body()).decode() if request.method == "POST" else ""
        try:
            params: dict[str, Any] = (json.loads(body or "{}") if request.method == "POST"
                                      else dict(request.query_params))
        except json.JSONDecodeError:
            return _json(_envelope(None, 10001, "params error: body is not JSON"))
        engine = engine_of()
        headers: dict[str, str] = {}
        try:
            if not private:
                if name == "server_time":
                    ns = time.time_ns()
                    return _json(_envelope({"timeSecond": str(ns // 10**9),
                                            "timeNano": str(ns)}))
                return _json(_envelope(getattr(engine, name)(params)))
            payload = request.url.query if request.method == "GET" else body
            key = verify_rest(request.headers, payload, state.secret_of)
            allowed, headers = state.limits.check(key, path)
            if fault is not None and fault.kind == "rate_limit":
                allowed = False
                headers = headers or {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0",
                                      "X-Bapi-Limit-Reset-Timestamp": str(_now_ms() + 200)}
            if not allowed:
                return _json(_envelope(None, 10006, "Too many visits!"), headers)
            if fault is not None and fault.kind == "reject":
                return _json(_envelope(None, fault.code, fault.msg), headers)
            result = getattr(engine, name)(key, params)
        except AuthFailure as exc:
            return _json(_envelope(None, exc.code, exc.msg))
        except EngineError as exc:
            return _json(_envelope(None, exc.code, exc.msg), headers)
        late = faults.take(path, private=True, after_accept=True)
        if late is not None:
            await asyncio.sleep(late.seconds)
            return Response("Gateway Timeout", status_code=504)
        return _json(_envelope(result), headers)

    for method, path in ROUTES:
        app.router.routes.append(Route(path, rest, methods=[method]))

    def loopback(request: Request) -> bool:
        return request.client is None or request.client.host in _LOOPBACK

    async def admin_faults(request: Request) -> Response:
        if not loopback(request):
            return JSONResponse({"error": "loopback only"}, status_code=403)
        if request.method == "GET":
            return JSONResponse(state.faults.to_dict())
        spec = await request.json()
        specs = spec if isinstance(spec, list) else [spec]
        try:
            out = []
            for s in specs:
                if s.get("action") == "restart":  # reply first, then restart
                    threading.Timer(0.05, state.faults.restart).start()
                    out.append("restarting")
                else:
                    out.append(state.faults.apply(s))
        except (ValueError, TypeError, RuntimeError) as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, "result": out})

    async def admin_state(request: Request) -> Response:
        if not loopback(request):
            return JSONResponse({"error": "loopback only"}, status_code=403)
        eng = engine_of()
        with eng.lock:
            info = {"stats": dict(eng.stats), "market_time": eng.market_time,
                    "instruments": [f"{c}:{s}" for c, s in eng.instruments],
                    "accounts": len(eng.accounts),
                    "ws_connections": len(state.hub.conns)}
        if state.market is not None:
            info["market"] = state.market.status()
        return JSONResponse(info)

    async def admin_save(request: Request) -> Response:
        if not loopback(request):
            return JSONResponse({"error": "loopback only"}, status_code=403)
        if state.save is None:
            return JSONResponse({"ok": False, "error": "no state file configured"}, 400)
        return JSONResponse({"ok": True, "path": str(state.save())})

    async def admin_trade(request: Request) -> Response:
        if not loopback(request):
            return JSONResponse({"error": "loopback only"}, status_code=403)
        d = await request.json()
        try:
            engine_of().trade(d["symbol"], float(d["price"]), float(d.get("size", 1.0)),
                              int(d.get("side", 1)), d.get("ts"), d.get("category", "linear"))
        except (KeyError, ValueError, EngineError) as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True})

    async def admin_step(request: Request) -> Response:
        if not loopback(request):
            return JSONResponse({"error": "loopback only"}, status_code=403)
        if state.market is None:
            return JSONResponse({"ok": False, "error": "no market driver"}, status_code=400)
        d = await request.json() if await request.body() else {}
        n = await asyncio.to_thread(state.market.step, int(d.get("n", 1)))
        return JSONResponse({"ok": True, "stepped": n})

    app.router.routes.append(Route("/admin/faults", admin_faults, methods=["GET", "POST"]))
    app.router.routes.append(Route("/admin/state", admin_state, methods=["GET"]))
    app.router.routes.append(Route("/admin/save", admin_save, methods=["POST"]))
    app.router.routes.append(Route("/admin/trade", admin_trade, methods=["POST"]))
    app.router.routes.append(Route("/admin/step", admin_step, methods=["POST"]))

    async def ws_public(websocket: WebSocket) -> None:
        channel = websocket.path_params["channel"]
        if channel not in ("linear", "spot"):
            await websocket.close(code=1008)
            return
        await _serve_ws(state, websocket, channel)

    async def ws_private(websocket: WebSocket) -> None:
        await _serve_ws(state, websocket, "private")

    app.router.routes.append(WebSocketRoute("/v5/public/{channel}", ws_public))
    app.router.routes.append(WebSocketRoute("/v5/private", ws_private))
    return app


def _topic_ok(state: ExchangeState, channel: str, topic: str) -> bool:
    if channel == "private":
        return topic in _PRIVATE_TOPICS
    parts = topic.split(".")
    if parts[0] in ("publicTrade", "tickers") and len(parts) == 2:
        sym = parts[1]
    elif parts[0] == "kline" and len(parts) == 3 and parts[1] in KLINE_INTERVALS:
        sym = parts[2]
    else:
        return False
    return (channel, sym) in state.engine.instruments


async def _subscribe(state: ExchangeState, conn: Conn, msg: dict[str, Any], op: str) -> None:
    """Ack (after the configured delay, echoing req_id), then activate; tickers get a snapshot."""
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
            if t.startswith("tickers."):
                snap = eng.ticker_snapshot(conn.channel, t.split(".", 1)[1])
                if snap is not None:
                    conn.queue.put_nowait(json.dumps(snap, separators=(",", ":")))
            state.hub.add(conn, t)


async def _serve_ws(state: ExchangeState, websocket: WebSocket, channel: str) -> None:
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
