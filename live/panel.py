"""The control panel: FastAPI inside the runner process (same event loop), 127.0.0.1 by default.

Pages (dashboard, grid, orders, positions, history, settings) render with Jinja2 and fill
themselves from the JSON API every `panel.refresh_s` seconds; charts use plotly.js served from
the installed plotly package (never a CDN). Every page has a symbol selector: every endpoint
takes an optional `symbol` query parameter (one grid) and without it answers for the whole
runner (totals over the grids, and a row per grid; with one grid, that grid). Reads go through
the runner's memory and the writer's own DuckDB connection (a cursor). Every mutating endpoint
needs `Authorization: Bearer <token>` with the token from the environment variable
`live.panel.token_env`; with no token configured they answer 403. Secrets never appear in
responses or pages. Prometheus metrics at /metrics (one series per grid, label `symbol`).

Hardening (live/panel_security.py): requests whose Host header does not name the panel get
421 (DNS rebinding), every response carries CSP, X-Frame-Options and nosniff headers, and a
panel bound to anything but loopback logs a warning and shows a banner on every page. The data
of the endpoints is built in live/panel_views.py and live/panel_settings.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from gridlab.errors import GridlabError
from live import panel_views as V
from live.panel_marks import MarkBook
from live.panel_metrics import Collector
from live.panel_security import HostGuard, allowed_hosts, warn_if_exposed
from live.panel_settings import profile_choices, profile_diff, running_params
from live.panel_views import status

if TYPE_CHECKING:
    from live.core import TradingCore
    from live.runner import LiveRunner

__all__ = ["CancelOrder", "ProfileChange", "create_app", "plotly_js_path", "serve_panel",
           "status"]

_HERE = Path(__file__).resolve().parent
PAGES = {"/": ("dashboard", "Dashboard"), "/grid": ("grid", "Grid"),
         "/orders": ("orders", "Orders"), "/positions": ("positions", "Positions"),
         "/history": ("history", "History"), "/settings": ("settings", "Settings")}
_NAME = r"^[A-Za-z0-9_.-]{1,40}$"


def plotly_js_path() -> Path:
    """plotly.min.js of the installed plotly package."""
    return Path(str(resources.files("plotly").joinpath("package_data", "plotly.min.js")))


class ProfileChange(BaseModel):
    """Body of POST /api/profile/change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str = Field(pattern=_NAME)
    version: int | None = Field(None, ge=1, le=1_000_000)


class CancelOrder(BaseModel):
    """Body of POST /api/orders/cancel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_link_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,45}$")


def create_app(r: LiveRunner, *, port: int | None = None) -> FastAPI:
    """The panel app of one runner (`port`: the bound port, if known; else the configured)."""
    pc = r.config.live.panel
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(r))  # type: ignore[arg-type]
    marks = MarkBook()
    exposed = warn_if_exposed(pc.host)
    bound = {"port": port if port is not None else pc.port}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(marks.run(r), name="panel-marks")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="gridlab live panel", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)
    app.state.bound = bound
    app.state.marks = marks
    app.add_middleware(HostGuard,  # type: ignore[arg-type]
                       hosts=lambda: allowed_hosts(pc.host, bound["port"], pc.allowed_hosts))

    @app.get("/static/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> FileResponse:
        return FileResponse(plotly_js_path(), media_type="application/javascript")

    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")

    def need_token(request: Request) -> None:
        token = r.panel_token
        if token is None:
            raise HTTPException(403, "control is disabled: no panel token is configured; set "
                                     f"{pc.token_env} and restart the runner")
        got = request.headers.get("authorization", "")
        scheme, _, value = got.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                                 token.encode()):
            raise HTTPException(401, "missing or wrong token: send Authorization: Bearer "
                                     "<token>", headers={"WWW-Authenticate": "Bearer"})

    def ready() -> None:
        if not r.ready.is_set() or r.store is None or r.account is None:
            raise HTTPException(503, "the runner is starting")

    def grid(symbol: str | None) -> TradingCore | None:
        """The core of `symbol` (None: no symbol given); 404 / 409 otherwise."""
        if symbol is None:
            return None
        core = r.core_of(symbol)
        if core is None:
            why = next((v for k, v in r.failed.items() if k[1] == symbol), None)
            if why is not None:
                raise HTTPException(409, f"the {symbol} grid did not start: {why}")
            raise HTTPException(404, f"no grid trades {symbol}; symbols: "
                                     f"{', '.join(g.symbol for g in r.grids)}")
        return core

    def one(symbol: str | None) -> TradingCore:
        """The grid of `symbol`, else the first grid."""
        core = grid(symbol) or r.core
        assert core is not None
        return core

    def page(key: str) -> Any:
        async def handler(request: Request) -> HTMLResponse:
            ready()
            template, title = PAGES[key]
            first = r.grids[0]
            return templates.TemplateResponse(request, f"{template}.html", {
                "title": title, "page": template, "pages": PAGES, "name": r.name,
                "symbol": first.symbol if not r.multi else f"{len(r.grids)} symbols",
                "symbols": [g.symbol for g in r.grids], "multi": r.multi,
                "env": r.config.exchange.env, "paper": r.paper, "exposed": exposed,
                "refresh_ms": int(pc.refresh_s * 1000)})
        return handler

    for path in PAGES:
        app.add_api_route(path, page(path), methods=["GET"], response_class=HTMLResponse)

    SYM = Query(None, pattern=r"^[A-Z0-9]{2,30}$", description="one grid; none = totals")
    api = [("/api/status", V.status, V.grid_status), ("/api/balance", V.balance, V.grid_balance),
           ("/api/positions", V.positions, V.grid_positions),
           ("/api/grid/levels", V.levels, V.grid_levels), ("/api/pnl", V.pnl, V.grid_pnl),
           ("/api/risk/metrics", V.risk_metrics, V.grid_risk)]
    for path, total_fn, grid_fn in api:
        def make(total_fn: Any = total_fn, grid_fn: Any = grid_fn) -> Any:
            async def handler(symbol: str | None = SYM) -> JSONResponse:
                ready()
                core = grid(symbol)
                out = total_fn(r) if core is None else grid_fn(r, core)
                return JSONResponse(r.redact.clean(out))
            return handler
        app.add_api_route(path, make(), methods=["GET"])

    @app.get("/api/chart/market")
    async def market(symbol: str | None = SYM) -> JSONResponse:
        """Candles of one grid (the first without `symbol`), levels, orders, fills."""
        ready()
        return JSONResponse(V.grid_market(r, one(symbol)))

    @app.get("/api/orders")
    async def orders(symbol: str | None = SYM) -> JSONResponse:
        ready()
        return JSONResponse(V.open_orders(r, grid(symbol)))

    @app.get("/api/trades/recent")
    async def trades(limit: int = Query(50, ge=1, le=1000),
                     symbol: str | None = SYM) -> JSONResponse:
        ready()
        grid(symbol)
        assert r.store is not None
        return JSONResponse({"trades": V.records(r.store.fills(limit, symbol=symbol))})

    @app.get("/api/equity/chart")
    async def equity(since: int = Query(0, ge=0), symbol: str | None = SYM) -> JSONResponse:
        ready()
        core = grid(symbol)
        return JSONResponse(V.equity_chart(r, since, marks) if core is None
                            else V.grid_equity_chart(r, core, since, marks))

    @app.get("/api/events")
    async def events(limit: int = Query(50, ge=1, le=1000),
                     symbol: str | None = SYM) -> JSONResponse:
        ready()
        grid(symbol)
        assert r.store is not None
        rows = V.records(r.store.events(limit, symbol=symbol))
        for row in rows:
            if isinstance(row.get("details"), str):
                row["details"] = json.loads(row["details"])
        return JSONResponse(r.redact.clean(rows))

    @app.get("/api/profiles")
    async def profiles(symbol: str | None = SYM) -> JSONResponse:
        """The running parameters of a grid (the first without `symbol`) and the choices."""
        ready()
        core = one(symbol)
        choices = await asyncio.to_thread(profile_choices, r)
        return JSONResponse(r.redact.clean({"running": running_params(r, core), **choices}))

    @app.get("/api/profiles/diff")
    async def diff(profile: str = Query(..., pattern=_NAME),
                   version: int | None = Query(None, ge=1, le=1_000_000),
                   symbol: str | None = SYM) -> JSONResponse:
        ready()
        core = one(symbol)
        try:
            out = await asyncio.to_thread(profile_diff, r, core, profile, version)
        except GridlabError as exc:
            raise HTTPException(400, r.redact(str(exc))) from None
        return JSONResponse(r.redact.clean(out))

    async def run(name: str, symbol: str | None, **kwargs: Any) -> JSONResponse:
        from live.runner import CommandError

        ready()
        grid(symbol)
        try:
            out = await r.command(name, symbol, **kwargs)
        except CommandError as exc:
            raise HTTPException(exc.status, r.redact(str(exc))) from None
        except Exception as exc:
            raise HTTPException(400, r.redact(str(exc))) from None
        return JSONResponse(out)

    @app.post("/api/start", dependencies=[Depends(need_token)])
    async def start(symbol: str | None = SYM) -> JSONResponse:
        return await run("start", symbol)

    @app.post("/api/stop", dependencies=[Depends(need_token)])
    async def stop(symbol: str | None = SYM) -> JSONResponse:
        """Pause: cancel the grid's orders; the position stays open."""
        return await run("stop", symbol)

    @app.post("/api/position/close", dependencies=[Depends(need_token)])
    async def close(symbol: str | None = SYM) -> JSONResponse:
        """Pause, then close the position with a reduce-only market order."""
        return await run("close", symbol)

    @app.post("/api/orders/cancel", dependencies=[Depends(need_token)])
    async def cancel(body: CancelOrder, symbol: str | None = SYM) -> JSONResponse:
        return await run("cancel", symbol, order_link_id=body.order_link_id)

    @app.post("/api/profile/change", dependencies=[Depends(need_token)])
    async def change(body: ProfileChange, symbol: str | None = SYM) -> JSONResponse:
        return await run("profile", symbol, profile=body.profile, version=body.version)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        ok = bool(r.cores)
        return JSONResponse({"ok": ok, "state": V.state_name(r)},
                            status_code=200 if ok else 503)

    return app


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the runner owns SIGTERM / SIGINT)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_panel(r: LiveRunner) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """Serve the panel on the runner's loop; returns (server, task, base URL)."""
    pc = r.config.live.panel
    app = create_app(r)
    config = uvicorn.Config(app, host=pc.host, port=pc.port, log_level="warning",
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
    app.state.bound["port"] = port  # the Host guard learns a port 0 bind
    host = "127.0.0.1" if pc.host in ("0.0.0.0", "", "::") else pc.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return server, task, f"http://{host}:{port}"
