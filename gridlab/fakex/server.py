"""The local Bybit-v5-compatible exchange: REST `/v5/...`, WebSocket `/v5/public/{linear,spot}` and
`/v5/private` (gridlab.fakex.ws), and loopback-only admin endpoints `/admin/...`, in one
FastAPI/Starlette app.

Replies use Bybit's envelope {"retCode","retMsg","result","retExtInfo","time"}; private calls are
signature-checked (gridlab.fakex.auth) and rate limited (gridlab.fakex.ratelimit). A path the
exchange does not serve (or a wrong method) answers HTTP 404 with retCode 10017 "Route not
found." (docs/v5/error: HTTP 404 "Cannot find path", 10017 "Route not found").
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from gridlab.fakex.auth import AuthFailure, verify_rest
from gridlab.fakex.engine import Engine, EngineError
from gridlab.fakex.faults import Faults
from gridlab.fakex.ratelimit import BATCH_PATHS, DEFAULT_RATE_LIMITS, RateLimits
from gridlab.fakex.records import Batch
from gridlab.fakex.ws import Hub, serve_ws

__all__ = ["DEFAULT_RATE_LIMITS", "ROUTES", "ExchangeState", "RateLimits", "create_app"]

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
    ("POST", "/v5/order/amend"): ("amend_order", True),
    ("POST", "/v5/order/cancel"): ("cancel_order", True),
    ("POST", "/v5/order/cancel-all"): ("cancel_all", True),
    ("POST", "/v5/order/create-batch"): ("batch_create", True),
    ("POST", "/v5/order/amend-batch"): ("batch_amend", True),
    ("POST", "/v5/order/cancel-batch"): ("batch_cancel", True),
    ("GET", "/v5/order/realtime"): ("open_orders", True),
    ("GET", "/v5/order/history"): ("order_history", True),
    ("GET", "/v5/execution/list"): ("executions", True),
    ("GET", "/v5/position/list"): ("positions", True),
    ("POST", "/v5/position/set-leverage"): ("set_leverage", True),
    ("GET", "/v5/account/wallet-balance"): ("wallet", True),
    ("GET", "/v5/account/fee-rate"): ("fee_rate", True),
}
_LOOPBACK = ("127.0.0.1", "::1", "localhost", "testclient")


def _now_ms() -> int:
    return int(time.time() * 1000)


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
    ext: dict[str, Any] = {}
    if isinstance(result, Batch):
        result, ext = result.result, result.ext
    return {"retCode": code, "retMsg": msg, "result": result if result is not None else {},
            "retExtInfo": ext, "time": _now_ms()}


def _weight(path: str, params: dict[str, Any]) -> int:
    """Rate-limit units of a request: a batch counts its items (docs/v5/rate-limit)."""
    if path in BATCH_PATHS:
        items = params.get("request")
        return max(1, len(items)) if isinstance(items, list) else 1
    return 1


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
            return _json(_envelope(None, 10017, "Route not found."), status=404)
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
            verdict = state.limits.check(key, path, _weight(path, params))
            allowed, headers = verdict.allowed, verdict.headers
            if fault is not None and fault.kind == "rate_limit":
                allowed = False
                headers = headers or {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0",
                                      "X-Bapi-Limit-Reset-Timestamp": str(_now_ms() + 200)}
            if not allowed:
                return _json(_envelope(None, 10006, "Too many visits!"), headers)
            if fault is not None and fault.kind == "reject":
                return _json(_envelope(None, fault.code, fault.msg), headers)
            if path in BATCH_PATHS:
                result = getattr(engine, name)(key, params, allowed=verdict.granted)
            else:
                result = getattr(engine, name)(key, params)
        except AuthFailure as exc:
            return _json(_envelope(None, exc.code, exc.msg))
        except EngineError as exc:
            return _json(_envelope(None, exc.code, exc.msg), headers)
        late = faults.take(path, private=True, after_accept=True)
        if late is not None and late.kind == "ambiguous":  # accepted, but the reply is an error
            return _json(_envelope(None, late.code, late.msg), headers)
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
        await serve_ws(state, websocket, channel)

    async def ws_private(websocket: WebSocket) -> None:
        await serve_ws(state, websocket, "private")

    async def not_found(_request: Request) -> Response:
        return _json(_envelope(None, 10017, "Route not found."), status=404)

    app.router.routes.append(WebSocketRoute("/v5/public/{channel}", ws_public))
    app.router.routes.append(WebSocketRoute("/v5/private", ws_private))
    app.router.routes.append(Route("/{rest:path}", not_found, methods=[
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]))
    return app

