"""The control panel: FastAPI inside the runner process (same event loop), 127.0.0.1 by default.

Pages (dashboard, grid, positions, history, settings) render with Jinja2 and fill themselves
from the JSON API every `panel.refresh_s` seconds; charts use plotly.js served from the
installed plotly package (never a CDN). Reads go through the runner's memory and the writer's
own DuckDB connection (a cursor). Every mutating endpoint needs `Authorization: Bearer <token>`
with the token from the environment variable `live.panel.token_env`; with no token configured
they answer 403. Secrets never appear in responses or pages. Prometheus metrics at /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import math
import time
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from pydantic import BaseModel, ConfigDict, Field

from gridlab.strategy.enums import Side, SlotState, Stop, name_of

if TYPE_CHECKING:
    from live.runner import LiveRunner

__all__ = ["ProfileChange", "create_app", "plotly_js_path", "serve_panel"]

_HERE = Path(__file__).resolve().parent
PAGES = {"/": ("dashboard", "Dashboard"), "/grid": ("grid", "Grid"),
         "/positions": ("positions", "Positions"), "/history": ("history", "History"),
         "/settings": ("settings", "Settings")}


def plotly_js_path() -> Path:
    """plotly.min.js of the installed plotly package."""
    return Path(str(resources.files("plotly").joinpath("package_data", "plotly.min.js")))


class ProfileChange(BaseModel):
    """Body of POST /api/profile/change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    version: int | None = Field(None, ge=1, le=1_000_000)


# ---- JSON helpers --------------------------------------------------------------------------

def _num(x: Any) -> Any:
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _num(v) for k, v in row.items()} for row in df.to_dict("records")]


def _side(code: int) -> str:
    return {Side.BUY: "Buy", Side.SELL: "Sell"}.get(int(code), "")


# ---- data --------------------------------------------------------------------------------

def _state_name(r: LiveRunner) -> str:
    core = r.core
    if core is None:
        return "starting"
    if core.risk.stopped != Stop.NONE:
        return "stopped:" + name_of(Stop, core.risk.stopped).lower()
    return "paused" if core.paused else "running"


def status(r: LiveRunner) -> dict[str, Any]:
    core = r.core
    assert core is not None and r.active is not None
    cfg = r.config
    return {
        "name": r.name, "state": _state_name(r), "trading": core.trading,
        "exchange": cfg.exchange.env, "paper": r.paper, "symbol": cfg.trading.symbol,
        "category": cfg.trading.category, "capital": cfg.trading.capital,
        "profile": {"name": r.active.name, "version": r.active.version,
                    "source": r.active.source},
        "generation": core.gen, "last_price": _num(core.last_price),
        "last_market_ts": core.last_ts if core.last_ts >= 0 else None,
        "streams_healthy": r.streams_healthy, "uptime_s": round(time.time() - r.started_at, 1),
        "pending_fills": len(core.pending), "stats": dict(core.stats),
        "control_enabled": r.panel_token is not None,
        "last_export_ms": r.store.last_export_ms if r.store else None,
        "refresh_s": cfg.live.panel.refresh_s,
    }


def balance(r: LiveRunner) -> dict[str, Any]:
    core = r.core
    assert core is not None
    p = core.last_price
    out: dict[str, Any] = {"strategy": {k: _num(v) for k, v in core.ledger.totals(
        p if not math.isnan(p) else core.ledger.avg_price or 0.0).items()},
        "capital": core.ledger.capital}
    w = r.wallet
    out["wallet"] = None if w is None else {
        "total_equity": w.total_equity, "total_wallet_balance": w.total_wallet_balance,
        "total_available_balance": w.total_available_balance,
        "total_unrealised_pnl": w.total_unrealised_pnl}
    return out


def positions(r: LiveRunner) -> dict[str, Any]:
    core, store = r.core, r.store
    assert core is not None and store is not None
    p = core.last_price
    led = {"symbol": r.config.trading.symbol, "size": core.ledger.position,
           "avg_price": core.ledger.avg_price, "mark_price": _num(p),
           "unrealized": _num(core.ledger.unrealized(p)) if not math.isnan(p) else None}
    snaps = _records(store.positions(1))
    return {"ledger": led, "exchange": snaps[0] if snaps else None,
            "history": _records(store.positions(100))}


def grid_levels(r: LiveRunner) -> dict[str, Any]:
    core = r.core
    assert core is not None
    rows = []
    for v in core.strategy.levels():
        link = core.slot_link.get(v.slot)
        o = core.orders.get(link) if link else None
        rows.append({"slot": v.slot, "home": _side(v.home), "lo": v.lo, "hi": v.hi,
                     "qty": v.qty, "notional": v.notional,
                     "state": name_of(SlotState, v.state), "status": v.status_name,
                     "order": None if o is None else {
                         "link": o.order_link_id, "side": _side(o.side), "price": o.price,
                         "qty": o.qty, "filled": o.filled_qty, "status": o.status}})
    lo, hi = core.strategy.bounds() if core.strategy.built else (math.nan, math.nan)
    return {"generation": core.gen, "centre": _num(core.strategy.centre),
            "spacing": core.strategy.spacing, "lowest": _num(lo), "highest": _num(hi),
            "last_price": _num(core.last_price), "slots": rows,
            "recent_grids": _records(r.store.grids(20)) if r.store else []}


def recent_trades(r: LiveRunner, limit: int) -> dict[str, Any]:
    assert r.store is not None
    return {"trades": _records(r.store.fills(limit))}


def pnl(r: LiveRunner) -> dict[str, Any]:
    core, store = r.core, r.store
    assert core is not None and store is not None
    p = core.last_price
    tot = core.ledger.totals(p if not math.isnan(p) else core.ledger.avg_price or 0.0)
    summ = {k: _num(v) for k, v in store.fills_summary().items()}
    eq = tot["equity"]
    return {**{k: _num(v) for k, v in tot.items()}, **summ,
            "return": _num(eq / core.ledger.capital - 1.0) if core.ledger.capital else None}


def equity_chart(r: LiveRunner, since: int) -> dict[str, Any]:
    assert r.store is not None
    df = r.store.equity(since)
    return {"ts": df["ts"].tolist(), "equity": [_num(x) for x in df["equity"]],
            "price": [_num(x) for x in df["price"]],
            "wallet_equity": [_num(x) for x in df["wallet_equity"]]}


def risk_metrics(r: LiveRunner) -> dict[str, Any]:
    core = r.core
    assert core is not None
    p = core.last_price
    rk = core.risk.rk
    eq = core.ledger.equity(p) if not math.isnan(p) else core.ledger.capital
    pos = core.ledger.position
    rb, rs, _ = core._resting()
    day_max = float(core.risk.kill_state[1])
    worst = max(abs(pos + rb), abs(pos - rs))
    return {
        "equity": _num(eq), "position": pos,
        "exposure": _num(abs(pos) * p / eq) if eq > 0 and not math.isnan(p) else None,
        "worst_case_exposure": _num(worst * p / eq) if eq > 0 and not math.isnan(p) else None,
        "max_exposure_pct": rk.max_exposure_pct, "max_position": rk.max_position,
        "resting_buy_qty": rb, "resting_sell_qty": rs,
        "kill_switch_dd": rk.kill_switch_dd, "daily_max_equity": _num(day_max) or None,
        "daily_drawdown": _num((day_max - eq) / day_max) if day_max > 0 else None,
        "stopped": name_of(Stop, core.risk.stopped), "paused": core.paused,
        "blocked_orders": core.stats["blocked"],
    }


# ---- metrics -----------------------------------------------------------------------------

class _Collector:
    """Prometheus collector reading the runner at scrape time."""

    def __init__(self, r: LiveRunner) -> None:
        self.r = r

    def collect(self) -> Iterator[Metric]:
        core = self.r.core
        if core is None:
            return
        p = core.last_price
        g = GaugeMetricFamily
        yield g("gridlab_live_up", "1 while the runner is trading", value=int(core.trading))
        yield g("gridlab_live_stopped", "stop code (0 = none, 1 = kill switch, ...)",
                value=int(core.risk.stopped))
        yield g("gridlab_live_generation", "grid generation", value=core.gen)
        yield g("gridlab_live_position", "strategy position (base units)",
                value=core.ledger.position)
        if not math.isnan(p):
            yield g("gridlab_live_price", "last market price", value=p)
            yield g("gridlab_live_equity", "strategy equity", value=core.ledger.equity(p))
        yield g("gridlab_live_open_orders", "working orders of the grid",
                value=len(core.slot_link))
        yield g("gridlab_live_pending_fills", "stored fills not applied yet",
                value=len(core.pending))
        yield g("gridlab_live_streams_healthy", "1 when every WebSocket stream is healthy",
                value=int(self.r.streams_healthy))
        for name, help_ in (("fills_stored", "executions stored"),
                            ("fills_applied", "executions applied"),
                            ("duplicates", "execution deliveries dropped as duplicates"),
                            ("orders_placed", "orders placed"),
                            ("orders_refused", "orders refused by the exchange"),
                            ("blocked", "orders blocked by the risk checks"),
                            ("post_only", "PostOnly orders cancelled as takers"),
                            ("recenters", "grid recenters"), ("errors", "errors")):
            c = CounterMetricFamily(f"gridlab_live_{name}", help_)
            c.add_metric([], core.stats[name])
            yield c


# ---- the app -----------------------------------------------------------------------------

def create_app(r: LiveRunner) -> FastAPI:
    """The panel app of one runner."""
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(r))  # type: ignore[arg-type]

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(title="gridlab live panel", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)

    @app.get("/static/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> FileResponse:
        return FileResponse(plotly_js_path(), media_type="application/javascript")

    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")

    def need_token(request: Request) -> None:
        token = r.panel_token
        if token is None:
            raise HTTPException(403, "control is disabled: no panel token is configured; set "
                                     f"{r.config.live.panel.token_env} and restart the runner")
        got = request.headers.get("authorization", "")
        scheme, _, value = got.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                                 token.encode()):
            raise HTTPException(401, "missing or wrong token: send Authorization: Bearer "
                                     "<token>", headers={"WWW-Authenticate": "Bearer"})

    def ready() -> None:
        if r.core is None or r.store is None:
            raise HTTPException(503, "the runner is starting")

    def page(key: str) -> Any:
        async def handler(request: Request) -> HTMLResponse:
            ready()
            template, title = PAGES[key]
            return templates.TemplateResponse(request, f"{template}.html", {
                "title": title, "page": template, "pages": PAGES, "name": r.name,
                "symbol": r.config.trading.symbol, "env": r.config.exchange.env,
                "refresh_ms": int(r.config.live.panel.refresh_s * 1000)})
        return handler

    for path in PAGES:
        app.add_api_route(path, page(path), methods=["GET"], response_class=HTMLResponse)

    api = [("/api/status", status), ("/api/balance", balance), ("/api/positions", positions),
           ("/api/grid/levels", grid_levels), ("/api/pnl", pnl),
           ("/api/risk/metrics", risk_metrics)]
    for path, fn in api:
        def make(fn: Any = fn) -> Any:
            async def handler() -> JSONResponse:
                ready()
                return JSONResponse(r.redact.clean(fn(r)))
            return handler
        app.add_api_route(path, make(), methods=["GET"])

    @app.get("/api/trades/recent")
    async def trades(limit: int = Query(50, ge=1, le=1000)) -> JSONResponse:
        ready()
        return JSONResponse(recent_trades(r, limit))

    @app.get("/api/equity/chart")
    async def equity(since: int = Query(0, ge=0)) -> JSONResponse:
        ready()
        return JSONResponse(equity_chart(r, since))

    @app.get("/api/events")
    async def events(limit: int = Query(50, ge=1, le=1000)) -> JSONResponse:
        ready()
        assert r.store is not None
        rows = _records(r.store.events(limit))
        for row in rows:
            if isinstance(row.get("details"), str):
                row["details"] = json.loads(row["details"])
        return JSONResponse(r.redact.clean(rows))

    @app.post("/api/start", dependencies=[Depends(need_token)])
    async def start() -> JSONResponse:
        ready()
        return JSONResponse(await r.command("start"))

    @app.post("/api/stop", dependencies=[Depends(need_token)])
    async def stop() -> JSONResponse:
        ready()
        return JSONResponse(await r.command("stop"))

    @app.post("/api/profile/change", dependencies=[Depends(need_token)])
    async def change(body: ProfileChange) -> JSONResponse:
        ready()
        try:
            out = await r.command("profile", profile=body.profile, version=body.version)
        except Exception as exc:
            raise HTTPException(400, r.redact(str(exc))) from None
        return JSONResponse(out)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        ok = r.core is not None
        return JSONResponse({"ok": ok, "state": _state_name(r)}, status_code=200 if ok else 503)

    return app


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the runner owns SIGTERM / SIGINT)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_panel(r: LiveRunner) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """Serve the panel on the runner's loop; returns (server, task, base URL)."""
    pc = r.config.live.panel
    config = uvicorn.Config(create_app(r), host=pc.host, port=pc.port, log_level="warning",
                            access_log=False, lifespan="on", log_config=None,
                            timeout_graceful_shutdown=1)
    server = _Server(config)
    task = asyncio.create_task(server.serve(), name="panel")
    while not server.started:
        if task.done():
            task.result()  # raises the bind error
            raise RuntimeError("the panel did not start")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    host = "127.0.0.1" if pc.host in ("0.0.0.0", "") else pc.host
    return server, task, f"http://{host}:{port}"
