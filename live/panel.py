"""The control panel: FastAPI inside the runner process (same event loop), 127.0.0.1 by default.

Pages (dashboard, grid, positions, history, settings) render with Jinja2 and fill themselves
from the JSON API every `panel.refresh_s` seconds; charts use plotly.js served from the
installed plotly package (never a CDN). Every page has a symbol selector: every endpoint takes
an optional `symbol` query parameter (one grid) and without it answers for the whole runner
(totals over the grids, and a row per grid; with one grid, that grid). Reads go through the
runner's memory and the writer's own DuckDB connection (a cursor). Every mutating endpoint
needs `Authorization: Bearer <token>` with the token from the environment variable
`live.panel.token_env`; with no token configured they answer 403. Secrets never appear in
responses or pages. Prometheus metrics at /metrics (one series per grid, label `symbol`).
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
    from live.core import TradingCore
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


# ---- data: one grid ----------------------------------------------------------------------

def _state_name(r: LiveRunner) -> str:
    """The runner's state: one grid's; with several: `stopped:account_kill_switch`, `running`
    (every grid), `partial` (some trade) or the grids' common state."""
    if not r.cores:
        return "starting"
    if r.account is not None and r.account.stopped != Stop.NONE and r.multi:
        return "stopped:account_kill_switch"
    states = [c.state_name for c in r.cores.values()] + ["error"] * len(r.failed)
    if len(set(states)) == 1:
        return states[0]
    return "partial" if any(c.trading for c in r.cores.values()) else states[0]


def _mark(core: TradingCore) -> float:
    p = core.last_price
    return p if not math.isnan(p) else core.ledger.avg_price or 0.0


def _profile(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    a = r.actives[(core.s.category, core.s.symbol)]
    return {"name": a.name, "version": a.version, "source": a.source}


def grid_status(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    cfg = r.config
    return {
        "name": r.name, "state": core.state_name, "trading": core.trading,
        "exchange": cfg.exchange.env, "paper": r.paper, "symbol": core.s.symbol,
        "category": core.s.category, "capital": core.ledger.capital,
        "profile": _profile(r, core), "generation": core.gen,
        "last_price": _num(core.last_price),
        "last_market_ts": core.last_ts if core.last_ts >= 0 else None,
        "error": core.error, "streams_healthy": r.streams_healthy,
        "uptime_s": round(time.time() - r.started_at, 1),
        "pending_fills": len(core.pending), "stats": dict(core.stats),
        "control_enabled": r.panel_token is not None,
        "last_export_ms": r.store.last_export_ms if r.store else None,
        "refresh_s": cfg.live.panel.refresh_s, "multi": r.multi,
    }


def grid_row(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    """One line of the per-symbol tables: state, position, PnL, equity."""
    m = _mark(core)
    tot = core.ledger.totals(m)
    eq = tot["equity"]
    return {"symbol": core.s.symbol, "category": core.s.category, "state": core.state_name,
            "trading": core.trading, "error": core.error, "generation": core.gen,
            "profile": _profile(r, core)["name"], "capital": core.ledger.capital,
            "last_price": _num(core.last_price), "position": tot["position"],
            "notional": abs(tot["position"]) * m, "equity": _num(eq),
            "pnl": _num(eq - core.ledger.capital), "grid_profit": tot["grid_profit"],
            "exposure": _num(abs(tot["position"]) * m / eq) if eq > 0 else None,
            "open_orders": len(core.slot_link), "fills": core.stats["fills_applied"]}


def _failed_rows(r: LiveRunner) -> list[dict[str, Any]]:
    return [{"symbol": k[1], "category": k[0], "state": "error", "trading": False,
             "error": v} for k, v in r.failed.items()]


def grid_balance(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    return {"strategy": {k: _num(v) for k, v in core.ledger.totals(_mark(core)).items()},
            "capital": core.ledger.capital, "wallet": _wallet(r)}


def _wallet(r: LiveRunner) -> dict[str, Any] | None:
    w = r.wallet
    return None if w is None else {
        "total_equity": w.total_equity, "total_wallet_balance": w.total_wallet_balance,
        "total_available_balance": w.total_available_balance,
        "total_unrealised_pnl": w.total_unrealised_pnl}


def grid_positions(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    assert r.store is not None
    p = core.last_price
    led = {"symbol": core.s.symbol, "size": core.ledger.position,
           "avg_price": core.ledger.avg_price, "mark_price": _num(p),
           "unrealized": _num(core.ledger.unrealized(p)) if not math.isnan(p) else None}
    snaps = _records(r.store.positions(1, symbol=core.s.symbol))
    return {"ledger": led, "exchange": snaps[0] if snaps else None,
            "history": _records(r.store.positions(100, symbol=core.s.symbol))}


def grid_levels(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
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
    return {"symbol": core.s.symbol, "generation": core.gen,
            "centre": _num(core.strategy.centre), "spacing": core.strategy.spacing,
            "lowest": _num(lo), "highest": _num(hi), "last_price": _num(core.last_price),
            "slots": rows,
            "recent_grids": _records(r.store.grids(20, symbol=core.s.symbol)) if r.store
            else []}


def grid_pnl(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    assert r.store is not None
    tot = core.ledger.totals(_mark(core))
    summ = {k: _num(v) for k, v in r.store.fills_summary(core.s.symbol).items()}
    cap = core.ledger.capital
    return {**{k: _num(v) for k, v in tot.items()}, **summ,
            "return": _num(tot["equity"] / cap - 1.0) if cap else None}


def grid_equity_chart(r: LiveRunner, core: TradingCore, since: int) -> dict[str, Any]:
    assert r.store is not None
    df = r.store.equity(since, symbol=core.s.symbol)
    return {"ts": df["ts"].tolist(), "equity": [_num(x) for x in df["equity"]],
            "price": [_num(x) for x in df["price"]],
            "wallet_equity": [_num(x) for x in df["wallet_equity"]]}


def grid_risk(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    p = core.last_price
    rk = core.risk.rk
    eq = core.ledger.equity(p) if not math.isnan(p) else core.ledger.capital
    pos = core.ledger.position
    rb, rs, _ = core._resting()
    day_max = float(core.risk.kill_state[1])
    worst = max(abs(pos + rb), abs(pos - rs))
    return {
        "symbol": core.s.symbol, "equity": _num(eq), "position": pos,
        "exposure": _num(abs(pos) * p / eq) if eq > 0 and not math.isnan(p) else None,
        "worst_case_exposure": _num(worst * p / eq) if eq > 0 and not math.isnan(p) else None,
        "max_exposure_pct": rk.max_exposure_pct, "max_position": rk.max_position,
        "resting_buy_qty": rb, "resting_sell_qty": rs,
        "kill_switch_dd": rk.kill_switch_dd, "daily_max_equity": _num(day_max) or None,
        "daily_drawdown": _num((day_max - eq) / day_max) if day_max > 0 else None,
        "stopped": name_of(Stop, core.risk.stopped), "paused": core.paused,
        "error": core.error, "blocked_orders": core.stats["blocked"],
        "blocked_by_account": core.stats["blocked_account"],
    }


# ---- data: every grid (no `symbol`) ---------------------------------------------------------

def _sum_stats(r: LiveRunner) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in r.cores.values():
        for k, v in c.stats.items():
            out[k] = out.get(k, 0) + v
    out["errors"] = out.get("errors", 0) + r.stats["errors"]
    return out


def _account(r: LiveRunner) -> dict[str, Any]:
    assert r.account is not None
    return {k: _num(v) for k, v in r.account.summary().items()}


def status(r: LiveRunner) -> dict[str, Any]:
    cfg = r.config
    core = r.core
    assert core is not None and r.account is not None
    out = {
        "name": r.name, "state": _state_name(r),
        "trading": any(c.trading for c in r.cores.values()), "exchange": cfg.exchange.env,
        "paper": r.paper, "symbol": None, "category": None, "capital": r.account.capital,
        "profile": {"name": None, "version": None, "source": "per grid"},
        "streams_healthy": r.streams_healthy,
        "uptime_s": round(time.time() - r.started_at, 1),
        "pending_fills": sum(len(c.pending) for c in r.cores.values()),
        "stats": _sum_stats(r), "control_enabled": r.panel_token is not None,
        "last_export_ms": r.store.last_export_ms if r.store else None,
        "refresh_s": cfg.live.panel.refresh_s, "multi": r.multi,
        "symbols": [g.symbol for g in r.grids],
        "grids": [grid_row(r, c) for c in r.cores.values()] + _failed_rows(r),
        "account": _account(r),
    }
    if not r.multi:  # one grid: its status is the runner's
        out.update({k: v for k, v in grid_status(r, core).items() if k != "state"})
    return out


def balance(r: LiveRunner) -> dict[str, Any]:
    if not r.multi:
        assert r.core is not None
        return {**grid_balance(r, r.core), "account": _account(r)}
    a = _account(r)
    keys = ("equity", "realized", "unrealized", "fees", "funding", "grid_profit")
    return {"strategy": {k: a[k] for k in keys}, "capital": a["capital"], "wallet": _wallet(r),
            "account": a, "grids": {c.s.symbol: grid_balance(r, c)["strategy"]
                                    for c in r.cores.values()}}


def positions(r: LiveRunner) -> dict[str, Any]:
    assert r.store is not None
    rows = [grid_row(r, c) for c in r.cores.values()]
    if not r.multi:
        assert r.core is not None
        return {**grid_positions(r, r.core), "grids": rows}
    latest = _records(r.store.positions(len(r.cores) * 4))
    seen: dict[str, dict[str, Any]] = {}
    for row in latest:
        seen.setdefault(row["symbol"], row)
    ledger = {c.s.symbol: {"size": c.ledger.position, "avg_price": c.ledger.avg_price,
                           "mark_price": _num(c.last_price)} for c in r.cores.values()}
    return {"ledger": ledger, "exchange": seen or None, "grids": rows,
            "history": _records(r.store.positions(100))}


def levels(r: LiveRunner) -> dict[str, Any]:
    if not r.multi:
        assert r.core is not None
        return grid_levels(r, r.core)
    out = []
    for c in r.cores.values():
        lo, hi = c.strategy.bounds() if c.strategy.built else (math.nan, math.nan)
        out.append({"symbol": c.s.symbol, "generation": c.gen,
                    "centre": _num(c.strategy.centre), "spacing": c.strategy.spacing,
                    "lowest": _num(lo), "highest": _num(hi), "last_price": _num(c.last_price),
                    "slots": c.strategy.active_slots(), "open_orders": len(c.slot_link)})
    return {"grids": out, "symbols": [c.s.symbol for c in r.cores.values()],
            "recent_grids": _records(r.store.grids(20)) if r.store else []}


def pnl(r: LiveRunner) -> dict[str, Any]:
    assert r.store is not None
    if not r.multi:
        assert r.core is not None
        return grid_pnl(r, r.core)
    a = _account(r)
    summ = {k: _num(v) for k, v in r.store.fills_summary().items()}
    by = {row["symbol"]: row for row in _records(r.store.fills_by_symbol())}
    grids = []
    for c in r.cores.values():
        row = grid_row(r, c)
        f = by.get(c.s.symbol, {})
        grids.append({**row, "realized": c.ledger.totals(_mark(c))["realized"],
                      "n_fills": f.get("n_fills", 0),
                      "n_round_trips": f.get("n_round_trips", 0)})
    keys = ("equity", "realized", "unrealized", "fees", "funding", "grid_profit")
    return {**{k: a[k] for k in keys}, "position": None, **summ, "capital": a["capital"],
            "return": _num(a["equity"] / a["capital"] - 1.0) if a["capital"] else None,
            "grids": grids}


def equity_chart(r: LiveRunner, since: int) -> dict[str, Any]:
    assert r.store is not None
    if not r.multi:
        assert r.core is not None
        return grid_equity_chart(r, r.core, since)
    acc = r.store.account(since)
    per: dict[str, dict[str, list[Any]]] = {}
    df = r.store.equity(since)
    for sym, g in df.groupby("symbol", sort=True):
        per[str(sym)] = {"ts": g["ts"].tolist(), "equity": [_num(x) for x in g["equity"]]}
    return {"ts": acc["ts"].tolist(), "equity": [_num(x) for x in acc["equity"]],
            "price": [], "wallet_equity": [_num(x) for x in acc["wallet_equity"]],
            "grids": per}


def risk_metrics(r: LiveRunner) -> dict[str, Any]:
    if not r.multi:
        assert r.core is not None
        return {**grid_risk(r, r.core), "account": _account(r)}
    a = _account(r)
    return {**a, "paused": all(c.paused for c in r.cores.values()),
            "grids": [grid_risk(r, c) for c in r.cores.values()]}


# ---- metrics -----------------------------------------------------------------------------

class _Collector:
    """Prometheus collector reading the runner at scrape time (label `symbol` per grid)."""

    def __init__(self, r: LiveRunner) -> None:
        self.r = r

    def collect(self) -> Iterator[Metric]:
        r = self.r
        if not r.cores or r.account is None:
            return
        g = GaugeMetricFamily
        cores = list(r.cores.values())

        def per(name: str, help_: str, fn: Any) -> Metric:
            m = g(name, help_, labels=["symbol"])
            for c in cores:
                v = fn(c)
                if v is not None and not (isinstance(v, float) and math.isnan(v)):
                    m.add_metric([c.s.symbol], v)
            return m

        yield per("gridlab_live_up", "1 while the grid is trading", lambda c: int(c.trading))
        yield per("gridlab_live_stopped", "stop code (0 = none, 1 = kill switch, ...)",
                  lambda c: int(c.risk.stopped))
        yield per("gridlab_live_error", "1 while the grid is in its error state",
                  lambda c: int(c.error is not None))
        yield per("gridlab_live_generation", "grid generation", lambda c: c.gen)
        yield per("gridlab_live_position", "strategy position (base units)",
                  lambda c: c.ledger.position)
        yield per("gridlab_live_price", "last market price", lambda c: c.last_price)
        yield per("gridlab_live_equity", "grid equity",
                  lambda c: None if math.isnan(c.last_price) else c.ledger.equity(c.last_price))
        yield per("gridlab_live_open_orders", "working orders of the grid",
                  lambda c: len(c.slot_link))
        yield per("gridlab_live_pending_fills", "stored fills not applied yet",
                  lambda c: len(c.pending))
        a = r.account.summary()
        yield g("gridlab_live_account_equity", "total equity of every grid",
                value=a["equity"])
        yield g("gridlab_live_account_exposure", "total |position| x price / total equity",
                value=a["exposure"] or 0.0)
        yield g("gridlab_live_account_stopped", "account stop code (1 = kill switch)",
                value=int(r.account.stopped))
        yield g("gridlab_live_grids_failed", "grids that could not start", value=len(r.failed))
        yield g("gridlab_live_streams_healthy", "1 when every WebSocket stream is healthy",
                value=int(r.streams_healthy))
        for name, help_ in (("fills_stored", "executions stored"),
                            ("fills_applied", "executions applied"),
                            ("duplicates", "execution deliveries dropped as duplicates"),
                            ("orders_placed", "orders placed"),
                            ("orders_refused", "orders refused by the exchange"),
                            ("blocked", "orders blocked by the risk checks"),
                            ("blocked_account", "orders blocked by the account limits"),
                            ("post_only", "PostOnly orders cancelled as takers"),
                            ("recenters", "grid recenters"), ("errors", "errors")):
            c = CounterMetricFamily(f"gridlab_live_{name}", help_, labels=["symbol"])
            for core in cores:
                c.add_metric([core.s.symbol], core.stats[name])
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

    def page(key: str) -> Any:
        async def handler(request: Request) -> HTMLResponse:
            ready()
            template, title = PAGES[key]
            first = r.grids[0]
            return templates.TemplateResponse(request, f"{template}.html", {
                "title": title, "page": template, "pages": PAGES, "name": r.name,
                "symbol": first.symbol if not r.multi else f"{len(r.grids)} symbols",
                "symbols": [g.symbol for g in r.grids], "multi": r.multi,
                "env": r.config.exchange.env,
                "refresh_ms": int(r.config.live.panel.refresh_s * 1000)})
        return handler

    for path in PAGES:
        app.add_api_route(path, page(path), methods=["GET"], response_class=HTMLResponse)

    SYM = Query(None, pattern=r"^[A-Z0-9]{2,30}$", description="one grid; none = totals")
    api = [("/api/status", status, grid_status), ("/api/balance", balance, grid_balance),
           ("/api/positions", positions, grid_positions),
           ("/api/grid/levels", levels, grid_levels), ("/api/pnl", pnl, grid_pnl),
           ("/api/risk/metrics", risk_metrics, grid_risk)]
    for path, total_fn, grid_fn in api:
        def make(total_fn: Any = total_fn, grid_fn: Any = grid_fn) -> Any:
            async def handler(symbol: str | None = SYM) -> JSONResponse:
                ready()
                core = grid(symbol)
                out = total_fn(r) if core is None else grid_fn(r, core)
                return JSONResponse(r.redact.clean(out))
            return handler
        app.add_api_route(path, make(), methods=["GET"])

    @app.get("/api/trades/recent")
    async def trades(limit: int = Query(50, ge=1, le=1000),
                     symbol: str | None = SYM) -> JSONResponse:
        ready()
        grid(symbol)
        assert r.store is not None
        return JSONResponse({"trades": _records(r.store.fills(limit, symbol=symbol))})

    @app.get("/api/equity/chart")
    async def equity(since: int = Query(0, ge=0), symbol: str | None = SYM) -> JSONResponse:
        ready()
        core = grid(symbol)
        return JSONResponse(equity_chart(r, since) if core is None
                            else grid_equity_chart(r, core, since))

    @app.get("/api/events")
    async def events(limit: int = Query(50, ge=1, le=1000),
                     symbol: str | None = SYM) -> JSONResponse:
        ready()
        grid(symbol)
        assert r.store is not None
        rows = _records(r.store.events(limit, symbol=symbol))
        for row in rows:
            if isinstance(row.get("details"), str):
                row["details"] = json.loads(row["details"])
        return JSONResponse(r.redact.clean(rows))

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
        return await run("stop", symbol)

    @app.post("/api/profile/change", dependencies=[Depends(need_token)])
    async def change(body: ProfileChange, symbol: str | None = SYM) -> JSONResponse:
        return await run("profile", symbol, profile=body.profile, version=body.version)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        ok = bool(r.cores)
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
