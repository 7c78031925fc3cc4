"""The panel's data: plain JSON-able dicts built from the runner's memory and its live store.

Each `grid_*` function answers for one grid; the function of the same name without the prefix
answers for the whole runner (totals and a row per grid; with one grid, that grid). Times are
epoch milliseconds (UTC) in the API; the pages print them as UTC ISO. Nothing here decides
anything: slot block reasons come from `TradingCore.refusal` (the risk gate itself).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridlab.strategy.enums import Side, SlotState, Stop, name_of
from live.panel_marks import MarkBook, candles

if TYPE_CHECKING:
    from live.core import TradingCore
    from live.runner import LiveRunner

__all__ = ["balance", "equity_chart", "exchange_liq_price", "grid_balance", "grid_equity_chart",
           "grid_levels", "grid_market", "grid_pnl", "grid_positions", "grid_risk", "grid_status",
           "levels", "open_orders", "pnl", "positions", "records", "risk_metrics", "status"]

DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS


def num(x: Any) -> Any:
    """numpy scalars to Python; NaN / inf to None."""
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: num(v) for k, v in row.items()} for row in df.to_dict("records")]


def _side(code: int) -> str:
    return {Side.BUY: "Buy", Side.SELL: "Sell"}.get(int(code), "")


def _now_ms() -> int:
    return int(time.time() * 1000)


# ---- one grid ------------------------------------------------------------------------------

def state_name(r: LiveRunner) -> str:
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


def mark(core: TradingCore) -> float:
    p = core.last_price
    return p if not math.isnan(p) else core.ledger.avg_price or 0.0


def _profile(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    a = r.actives[(core.s.category, core.s.symbol)]
    return {"name": a.name, "version": a.version, "source": a.source}


def _errors(r: LiveRunner, symbol: str | None) -> int:
    assert r.store is not None
    return r.store.error_count(symbol=symbol)


def exchange_liq_price(r: LiveRunner, core: TradingCore) -> float | None:
    """The liquidation price of the grid's position as the exchange reports it (`liqPrice` of
    its latest position snapshot); None when flat or not reported (Bybit shows "")."""
    if r.store is None:
        return None
    snaps = r.store.positions(1, symbol=core.s.symbol)
    if not len(snaps):
        return None
    row = snaps.iloc[0]
    lp, size = float(row["liq_price"] or 0.0), float(row["size"] or 0.0)
    return lp if size != 0.0 and math.isfinite(lp) and lp > 0.0 else None


def grid_status(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    cfg = r.config
    return {
        "name": r.name, "state": core.state_name, "trading": core.trading,
        "exchange": cfg.exchange.env, "paper": r.paper, "symbol": core.s.symbol,
        "category": core.s.category, "capital": core.ledger.capital,
        "profile": _profile(r, core), "generation": core.gen,
        "last_price": num(core.last_price),
        "last_market_ts": core.last_ts if core.last_ts >= 0 else None,
        "now_ms": _now_ms(), "started_ms": int(r.started_at * 1000),
        "error": core.error, "streams_healthy": r.streams_healthy,
        "uptime_s": round(time.time() - r.started_at, 1),
        "pending_fills": len(core.pending), "stats": dict(core.stats),
        "error_events": _errors(r, core.s.symbol),
        "control_enabled": r.panel_token is not None,
        "last_export_ms": r.store.last_export_ms if r.store else None,
        "refresh_s": cfg.live.panel.refresh_s, "multi": r.multi,
        "liq_price": exchange_liq_price(r, core),
    }


def grid_row(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    """One line of the per-symbol tables: state, position, PnL, equity."""
    m = mark(core)
    tot = core.ledger.totals(m)
    eq = tot["equity"]
    return {"symbol": core.s.symbol, "category": core.s.category, "state": core.state_name,
            "trading": core.trading, "error": core.error, "generation": core.gen,
            "profile": _profile(r, core)["name"], "capital": core.ledger.capital,
            "last_price": num(core.last_price), "position": tot["position"],
            "notional": abs(tot["position"]) * m, "equity": num(eq),
            "pnl": num(eq - core.ledger.capital), "grid_profit": tot["grid_profit"],
            "exposure": num(abs(tot["position"]) * m / eq) if eq > 0 else None,
            "open_orders": len(core.slot_link), "fills": core.stats["fills_applied"],
            "liq_price": exchange_liq_price(r, core)}


def _failed_rows(r: LiveRunner) -> list[dict[str, Any]]:
    return [{"symbol": k[1], "category": k[0], "state": "error", "trading": False,
             "error": v} for k, v in r.failed.items()]


def _wallet(r: LiveRunner) -> dict[str, Any] | None:
    w = r.wallet
    return None if w is None else {
        "total_equity": w.total_equity, "total_wallet_balance": w.total_wallet_balance,
        "total_available_balance": w.total_available_balance,
        "total_unrealised_pnl": w.total_unrealised_pnl}


def grid_balance(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    return {"strategy": {k: num(v) for k, v in core.ledger.totals(mark(core)).items()},
            "capital": core.ledger.capital, "wallet": _wallet(r)}


def grid_positions(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    assert r.store is not None
    p = core.last_price
    led = {"symbol": core.s.symbol, "size": core.ledger.position,
           "avg_price": core.ledger.avg_price, "mark_price": num(p),
           "notional": num(abs(core.ledger.position) * p) if not math.isnan(p) else None,
           "unrealized": num(core.ledger.unrealized(p)) if not math.isnan(p) else None}
    snaps = records(r.store.positions(1, symbol=core.s.symbol))
    return {"ledger": led, "exchange": snaps[0] if snaps else None,
            "history": records(r.store.positions(100, symbol=core.s.symbol))}


def _refused(r: LiveRunner, core: TradingCore) -> dict[int, str]:
    """Per slot of the current generation: the exchange's reason for its last refused order
    (stored rows), if its newest order was refused."""
    assert r.store is not None
    out: dict[int, str] = {}
    seen: set[int] = set()
    for row in r.store.orders(limit=500, symbol=core.s.symbol):
        if row.gen != core.gen or row.slot < 0 or row.slot in seen:
            continue
        seen.add(row.slot)
        if row.status == "Rejected":
            out[row.slot] = row.reason or "refused"
    return out


def _block(core: TradingCore, slot: int, refused: dict[int, str]) -> tuple[str, str]:
    """(status, reason) of an enabled slot without a working order."""
    if not core.trading:
        return "idle", f"not trading ({core.state_name})"
    want = core.desired(slot)
    if want is None:
        return "idle", "no order wanted"
    side, price, qty = want
    p = mark(core)
    why = core.refusal(side, qty, price, p)
    rk = core.risk.rk
    if why == "grid":
        caps = []
        if rk.max_exposure_pct > 0:
            caps.append(f"exposure cap {rk.max_exposure_pct:.0%} of equity")
        if rk.max_position > 0:
            caps.append(f"max position {rk.max_position:g}")
        return "blocked", ("the order would exceed the grid's " + " / ".join(caps or ["limits"])
                           + " in the worst case (every resting order of its side filled)")
    if why == "spot":
        return "blocked", "not enough cash (buy) or inventory (sell) on the spot account"
    if why == "account":
        a = core.account
        lim = []
        if a is not None and a.max_total_exposure_pct > 0:
            lim.append(f"total exposure cap {a.max_total_exposure_pct:.0%}")
        if a is not None and a.max_symbol_share > 0:
            lim.append(f"symbol share cap {a.max_symbol_share:.0%}")
        return "blocked", "the account limits refuse it (" + ", ".join(lim or ["limits"]) + ")"
    if slot in refused:
        return "refused", f"refused by the exchange: {refused[slot]}"
    return "waiting", "placed at the next grid check"


def grid_levels(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    rows = []
    refused = _refused(r, core) if core.trading else {}
    now = _now_ms()
    for v in core.strategy.levels():
        link = core.slot_link.get(v.slot)
        o = core.orders.get(link) if link else None
        if v.state == SlotState.DISABLED:
            st, why = "disabled", v.status_name.lower().replace("_", " ")
        elif o is not None:
            st, why = "resting", ""
        else:
            st, why = _block(core, v.slot, refused)
        rows.append({"slot": v.slot, "home": _side(v.home), "lo": v.lo, "hi": v.hi,
                     "qty": v.qty, "notional": v.notional,
                     "state": name_of(SlotState, v.state), "status": v.status_name,
                     "display": st, "reason": why,
                     "order": None if o is None else {
                         "link": o.order_link_id, "side": _side(o.side), "price": o.price,
                         "qty": o.qty, "filled": o.filled_qty, "status": o.status,
                         "age_s": round((now - o.created_at) / 1000, 1)
                         if o.created_at else None}})
    lo, hi = core.strategy.bounds() if core.strategy.built else (math.nan, math.nan)
    return {"symbol": core.s.symbol, "generation": core.gen,
            "centre": num(core.strategy.centre), "spacing": core.strategy.spacing,
            "lowest": num(lo), "highest": num(hi), "last_price": num(core.last_price),
            "slots": rows,
            "blocked": sum(1 for x in rows if x["display"] in ("blocked", "refused")),
            "recent_grids": records(r.store.grids(20, symbol=core.s.symbol)) if r.store
            else []}


def grid_market(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    """The candle chart's data: the strategy's bars, grid levels, working orders, fills, the
    exchange position's liquidation price."""
    assert r.store is not None
    lv = [x for x in core.strategy.levels() if x.state != SlotState.DISABLED]
    levels_ = sorted({round(p, 10) for x in lv for p in (x.lo, x.hi) if math.isfinite(p)})
    orders = [{"price": o.price, "side": _side(o.side), "qty": o.qty, "slot": o.slot,
               "link": o.order_link_id} for o in core.orders.values()
              if o.active and o.price > 0]
    f = r.store.fills(300, symbol=core.s.symbol)
    f = f[f["exec_type"] == "Trade"] if len(f) else f
    fills = {"t": [int(x) for x in f["exec_time"]] if len(f) else [],
             "price": [float(x) for x in f["price"]] if len(f) else [],
             "side": [_side(int(x)) for x in f["side"]] if len(f) else [],
             "qty": [float(x) for x in f["qty"]] if len(f) else []}
    return {"symbol": core.s.symbol, "generation": core.gen, "bars": candles(core),
            "levels": levels_, "orders": orders, "fills": fills,
            "last_price": num(core.last_price), "liq_price": exchange_liq_price(r, core),
            "last_market_ts": core.last_ts if core.last_ts >= 0 else None}


def _daily(snaps: pd.DataFrame, capital: float, equity_now: float) -> list[dict[str, Any]]:
    """PnL per UTC day from the equity snapshots (the day's last equity minus the previous
    day's; the first day from the capital), today ending at the current equity."""
    today = _now_ms() // DAY_MS
    by_day: dict[int, float] = {}
    for ts, eq in zip(snaps["ts"].tolist(), snaps["equity"].tolist(), strict=True):
        if eq is not None and math.isfinite(eq):
            by_day[int(ts) // DAY_MS] = float(eq)
    by_day[today] = equity_now
    out, prev = [], capital
    for d in sorted(by_day):
        out.append({"day": pd.Timestamp(d * DAY_MS, unit="ms").strftime("%Y-%m-%d"),
                    "equity": by_day[d], "pnl": by_day[d] - prev})
        prev = by_day[d]
    return out[::-1][:14]


def _perf(equity: float, capital: float, started_ms: int) -> dict[str, Any]:
    run_ms = max(0, _now_ms() - started_ms)
    ret = equity / capital - 1.0 if capital else None
    apr = ret * YEAR_MS / run_ms if ret is not None and run_ms >= 60_000 else None
    return {"return": num(ret), "runtime_s": round(run_ms / 1000), "apr": num(apr),
            "apr_note": None if run_ms >= 7 * DAY_MS else
            "annualized from less than 7 days of trading: not a forecast"}


def grid_pnl(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    assert r.store is not None
    tot = core.ledger.totals(mark(core))
    summ = {k: num(v) for k, v in r.store.fills_summary(core.s.symbol).items()}
    cap = core.ledger.capital
    snaps = r.store.equity(0, symbol=core.s.symbol)
    return {**summ, **{k: num(v) for k, v in tot.items()},
            **_perf(tot["equity"], cap, core.created_at), "capital": cap,
            "daily": _daily(snaps, cap, tot["equity"])}


def _merge(snaps: dict[str, list[Any]], marks: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Snapshots before the first mark, then the marks (both wall clock)."""
    first = marks["ts"][0] if marks["ts"] else None
    keep = [i for i, t in enumerate(snaps["ts"]) if first is None or t < first]
    out = {k: [snaps[k][i] for i in keep] + list(marks.get(k) or [None] * len(marks["ts"]))
           for k in ("ts", "equity", "price")}
    return out


def grid_equity_chart(r: LiveRunner, core: TradingCore, since: int,
                      marks: MarkBook | None = None) -> dict[str, Any]:
    assert r.store is not None
    df = r.store.equity(since, symbol=core.s.symbol)
    snaps = {"ts": df["ts"].tolist(), "equity": [num(x) for x in df["equity"]],
             "price": [num(x) for x in df["price"]]}
    m = marks.series(core.s.symbol) if marks else {"ts": [], "equity": [], "price": []}
    m = {k: [v for t, v in zip(m["ts"], m[k], strict=True) if t >= since] for k in m}
    out = _merge(snaps, m)
    out["n_snapshots"], out["n_marks"] = len(df), len(m["ts"])
    return out


def grid_risk(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    p = core.last_price
    rk = core.risk.rk
    eq = core.ledger.equity(p) if not math.isnan(p) else core.ledger.capital
    pos = core.ledger.position
    rb, rs, _ = core._resting()
    day_max = float(core.risk.kill_state[1])
    worst = max(abs(pos + rb), abs(pos - rs))
    return {
        "symbol": core.s.symbol, "equity": num(eq), "position": pos,
        "exposure": num(abs(pos) * p / eq) if eq > 0 and not math.isnan(p) else None,
        "worst_case_exposure": num(worst * p / eq) if eq > 0 and not math.isnan(p) else None,
        "max_exposure_pct": rk.max_exposure_pct, "max_position": rk.max_position,
        "resting_buy_qty": rb, "resting_sell_qty": rs,
        "kill_switch_dd": rk.kill_switch_dd, "daily_max_equity": num(day_max) or None,
        "daily_drawdown": num((day_max - eq) / day_max) if day_max > 0 else None,
        "stopped": name_of(Stop, core.risk.stopped), "paused": core.paused,
        "error": core.error, "blocked_orders": core.stats["blocked"],
        "blocked_by_account": core.stats["blocked_account"],
    }


def open_orders(r: LiveRunner, core: TradingCore | None) -> dict[str, Any]:
    """Working orders of one grid or of every grid, newest first, with their age."""
    now = _now_ms()
    rows = []
    for c in ([core] if core is not None else list(r.cores.values())):
        for o in c.orders.values():
            if not o.active:
                continue
            rows.append({"symbol": c.s.symbol, "link": o.order_link_id, "kind": o.kind,
                         "slot": o.slot, "side": _side(o.side), "price": o.price, "qty": o.qty,
                         "filled": o.filled_qty, "status": o.status,
                         "notional": o.price * o.qty, "created_ms": o.created_at or None,
                         "age_s": round((now - o.created_at) / 1000, 1)
                         if o.created_at else None})
    rows.sort(key=lambda x: -(x["created_ms"] or 0))
    return {"orders": rows, "now_ms": now}


# ---- every grid (no `symbol`) ---------------------------------------------------------------

def _sum_stats(r: LiveRunner) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in r.cores.values():
        for k, v in c.stats.items():
            out[k] = out.get(k, 0) + v
    out["errors"] = out.get("errors", 0) + r.stats["errors"]
    return out


def account(r: LiveRunner) -> dict[str, Any]:
    assert r.account is not None
    return {k: num(v) for k, v in r.account.summary().items()}


def status(r: LiveRunner) -> dict[str, Any]:
    cfg = r.config
    core = r.core
    assert core is not None and r.account is not None
    out = {
        "name": r.name, "state": state_name(r),
        "trading": any(c.trading for c in r.cores.values()), "exchange": cfg.exchange.env,
        "paper": r.paper, "symbol": None, "category": None, "capital": r.account.capital,
        "profile": {"name": None, "version": None, "source": "per grid"},
        "streams_healthy": r.streams_healthy,
        "uptime_s": round(time.time() - r.started_at, 1), "now_ms": _now_ms(),
        "started_ms": int(r.started_at * 1000),
        "last_market_ts": max((c.last_ts for c in r.cores.values()), default=-1),
        "pending_fills": sum(len(c.pending) for c in r.cores.values()),
        "stats": _sum_stats(r), "error_events": _errors(r, None),
        "control_enabled": r.panel_token is not None,
        "last_export_ms": r.store.last_export_ms if r.store else None,
        "refresh_s": cfg.live.panel.refresh_s, "multi": r.multi,
        "symbols": [g.symbol for g in r.grids],
        "grids": [grid_row(r, c) for c in r.cores.values()] + _failed_rows(r),
        "account": account(r),
    }
    if out["last_market_ts"] < 0:
        out["last_market_ts"] = None
    if not r.multi:  # one grid: its status is the runner's
        out.update({k: v for k, v in grid_status(r, core).items() if k != "state"})
    return out


_TOTAL_KEYS = ("equity", "realized", "unrealized", "fees", "funding", "grid_profit")


def balance(r: LiveRunner) -> dict[str, Any]:
    if not r.multi:
        assert r.core is not None
        return {**grid_balance(r, r.core), "account": account(r)}
    a = account(r)
    return {"strategy": {k: a[k] for k in _TOTAL_KEYS}, "capital": a["capital"],
            "wallet": _wallet(r), "account": a,
            "grids": {c.s.symbol: grid_balance(r, c)["strategy"] for c in r.cores.values()}}


def positions(r: LiveRunner) -> dict[str, Any]:
    assert r.store is not None
    rows = [grid_row(r, c) for c in r.cores.values()]
    if not r.multi:
        assert r.core is not None
        return {**grid_positions(r, r.core), "grids": rows}
    latest = records(r.store.positions(len(r.cores) * 4))
    seen: dict[str, dict[str, Any]] = {}
    for row in latest:
        seen.setdefault(row["symbol"], row)
    ledger = {c.s.symbol: {"size": c.ledger.position, "avg_price": c.ledger.avg_price,
                           "mark_price": num(c.last_price)} for c in r.cores.values()}
    return {"ledger": ledger, "exchange": seen or None, "grids": rows,
            "history": records(r.store.positions(100))}


def levels(r: LiveRunner) -> dict[str, Any]:
    if not r.multi:
        assert r.core is not None
        return grid_levels(r, r.core)
    out = []
    for c in r.cores.values():
        lo, hi = c.strategy.bounds() if c.strategy.built else (math.nan, math.nan)
        out.append({"symbol": c.s.symbol, "generation": c.gen,
                    "centre": num(c.strategy.centre), "spacing": c.strategy.spacing,
                    "lowest": num(lo), "highest": num(hi), "last_price": num(c.last_price),
                    "slots": c.strategy.active_slots(), "open_orders": len(c.slot_link)})
    return {"grids": out, "symbols": [c.s.symbol for c in r.cores.values()],
            "recent_grids": records(r.store.grids(20)) if r.store else []}


def pnl(r: LiveRunner) -> dict[str, Any]:
    assert r.store is not None
    if not r.multi:
        assert r.core is not None
        return grid_pnl(r, r.core)
    a = account(r)
    summ = {k: num(v) for k, v in r.store.fills_summary().items()}
    by = {row["symbol"]: row for row in records(r.store.fills_by_symbol())}
    grids = []
    for c in r.cores.values():
        row = grid_row(r, c)
        f = by.get(c.s.symbol, {})
        grids.append({**row, "realized": c.ledger.totals(mark(c))["realized"],
                      "n_fills": f.get("n_fills", 0),
                      "n_round_trips": f.get("n_round_trips", 0)})
    started = min(c.created_at for c in r.cores.values())
    return {**summ, **{k: a[k] for k in _TOTAL_KEYS}, "position": None,
            "capital": a["capital"], **_perf(a["equity"], a["capital"], started),
            "daily": _daily(r.store.account(0), a["capital"], a["equity"]), "grids": grids}


def equity_chart(r: LiveRunner, since: int, marks: MarkBook | None = None) -> dict[str, Any]:
    assert r.store is not None
    if not r.multi:
        assert r.core is not None
        return grid_equity_chart(r, r.core, since, marks)
    acc = r.store.account(since)
    snaps = {"ts": acc["ts"].tolist(), "equity": [num(x) for x in acc["equity"]],
             "price": [None] * len(acc)}
    m = marks.series(None) if marks else {"ts": [], "equity": [], "price": []}
    out: dict[str, Any] = _merge(snaps, m)
    out["price"] = []
    out["n_snapshots"], out["n_marks"] = len(acc), len(m["ts"])
    per: dict[str, dict[str, list[Any]]] = {}
    for c in r.cores.values():
        g = grid_equity_chart(r, c, since, marks)
        per[c.s.symbol] = {"ts": g["ts"], "equity": g["equity"]}
    out["grids"] = per
    return out


def risk_metrics(r: LiveRunner) -> dict[str, Any]:
    if not r.multi:
        assert r.core is not None
        return {**grid_risk(r, r.core), "account": account(r)}
    a = account(r)
    return {**a, "paused": all(c.paused for c in r.cores.values()),
            "grids": [grid_risk(r, c) for c in r.cores.values()]}
