"""The live audit report (`gridlab report --live RUNNER`): notebooks/06_live_audit.ipynb run by
papermill and rendered to offline HTML like the backtest report (gridlab.research.report).

`run_live_report` picks the newest stored audit of each symbol of the runner (research store,
tables live_audits / live_audit_fills) or, when the runner has none, runs one on its Parquet
mirror and stores it; the report says which. The notebook only calls `load_live_report` and
the table / figure functions below.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gridlab.errors import ConfigError, DataError
from gridlab.fmt import pct, side_name, utc_iso
from gridlab.research.live_audit import CAUSE_NAMES, CAUSES, audit_runner, mirror_dir
from gridlab.store.core import Store
from gridlab.store.live_audit import audit_fills, list_audits

__all__ = ["LIVE_REPORT_NOTEBOOK", "LiveReport", "audit_figure", "counts_table", "fills_table",
           "header_table", "latest_audits", "load_live_report", "pick_audits", "pnl_table",
           "run_live_report"]

LIVE_REPORT_NOTEBOOK = "06_live_audit.ipynb"
_PNL_EPS = 1e-9
"""PnL amounts below this are float rounding of a zero difference (shown as 0, no share)."""
_PRICE_EPS = 1e-12
"""Relative price differences below this are float rounding (shown as 0)."""
_STATUS = ("matched", "missed", "extra", "gap")
_STATUS_NAMES = {"matched": "matched (both filled)", "missed": "missed (backtest filled, live "
                 "did not)", "extra": "extra (live filled, backtest did not)",
                 "gap": "in tape gaps (not judged)"}


@dataclass
class LiveReport:
    """What the report shows: one stored audit row per symbol (`audits`), their fill rows,
    and the runner's tape over each audit's span when its mirror is at hand."""

    runner: str
    origin: str
    audits: pd.DataFrame
    fills: dict[int, pd.DataFrame] = field(default_factory=dict)
    tapes: dict[int, pd.DataFrame | None] = field(default_factory=dict)


def latest_audits(store: Store, runner: str) -> pd.DataFrame:
    """The newest stored audit of each symbol of `runner` (empty when it has none)."""
    rows = list_audits(store, runner, limit=1_000_000)
    return rows.drop_duplicates("symbol", keep="first").sort_values("symbol")


def pick_audits(runner: str, *, db_path: str | Path, config: Any = None,
                mirror: str | Path | None = None, fill_model: str = "cross",
                latency_ms: int = 0) -> tuple[list[int], str]:
    """(audit ids, how they were found): the newest stored ones, else a new audit of the
    runner's mirror (default `<live.data_dir>/<runner>`), stored in `db_path`."""
    from gridlab.config import GridlabConfig

    db = Path(db_path)
    if db.exists():
        with Store.open(db, read_only=True, wait_s=5.0) as store:
            rows = latest_audits(store, runner)
        if len(rows):
            ids = [int(x) for x in rows["audit_id"]]
            when = utc_iso(int(rows["created_at"].max()))
            return ids, (f"stored audit {', '.join(map(str, ids))} (made {when}; "
                         "`gridlab live audit` makes a new one)")
    cfg = config if config is not None else GridlabConfig()
    where = Path(mirror) if mirror is not None else mirror_dir(cfg, runner)
    done = audit_runner(cfg, where, runner, fill_model=fill_model, latency_ms=latency_ms,
                        save=True, db_path=db)
    ids = [int(aid) for _, aid in done if aid is not None]
    return ids, (f"no stored audit of {runner}: ran audit {', '.join(map(str, ids))} now "
                 f"on {where} (fill model {fill_model}, latency {latency_ms} ms)")


def load_live_report(db_path: str | Path, audit_ids: list[int], runner: str, origin: str,
                     mirror: str | Path | None = None) -> LiveReport:
    """The stored audits `audit_ids`, their fills, and the tape from `mirror` if it exists."""
    from gridlab.store.live import open_live_views
    from gridlab.store.live_tape import load_tape

    with Store.open(db_path, read_only=True, wait_s=5.0) as store:
        rows = list_audits(store, runner, limit=1_000_000)
        rows = rows[rows["audit_id"].isin(audit_ids)].sort_values("symbol")
        if len(rows) != len(set(audit_ids)):
            raise DataError(f"audits {audit_ids} of {runner} are not all in {db_path}",
                            "list them with `gridlab live audit` or the live_audits table")
        fills = {int(a): audit_fills(store, int(a)) for a in rows["audit_id"]}
    rep = LiveReport(runner, origin, rows.reset_index(drop=True), fills)
    con = None
    if mirror is not None and Path(mirror).is_dir():
        con = open_live_views(mirror)
    try:
        for r in rep.audits.itertuples(index=False):
            rep.tapes[int(r.audit_id)] = (load_tape(con, r.symbol, int(r.start_ms),
                                                    int(r.end_ms)) if con is not None else None)
    finally:
        if con is not None:
            con.close()
    return rep


def _pnl(row: Any) -> dict[str, float]:
    p = row.pnl if hasattr(row, "pnl") else row["pnl"]
    return json.loads(p) if isinstance(p, str) else dict(p)


def header_table(rep: LiveReport, row: Any) -> pd.DataFrame:
    """Which audit this is: runner, symbol, span (UTC ISO), tape, replay settings, origin."""
    items = {
        "runner": rep.runner, "symbol": row.symbol, "audit": f"{int(row.audit_id)} ({rep.origin})",
        "span": f"{utc_iso(int(row.start_ms))} .. {utc_iso(int(row.end_ms) - 1)}",
        "tape": f"{int(row.n_trades):,} trades, {int(row.n_gaps)} recorded gap(s)",
        "replay": f"fill model {row.fill_model}, latency {int(row.latency_ms)} ms",
        "parameters hash": row.params_hash,
        "start": _start(row),
    }
    return pd.DataFrame({"": list(items.values())}, index=pd.Index(list(items)))


def _start(row: Any) -> str:
    """Where the replay started: flat, or the runner's logged state and its position."""
    kind = str(getattr(row, "start_kind", "flat") or "flat")
    if kind == "flat":
        return "flat (no logged runner state)"
    pos = float(getattr(row, "start_position", 0.0) or 0.0)
    return f"the runner's {kind} state, position {pos:g}"


def counts_table(row: Any) -> pd.DataFrame:
    """Matched / missed / extra / gap fills: count and percent of all fills, and the match
    rate (matched / (matched + missed + extra))."""
    n = sum(int(getattr(row, k)) for k in _STATUS)
    rows = [(_STATUS_NAMES[k], int(getattr(row, k)),
             pct(int(getattr(row, k)) / n if n else float("nan"))) for k in _STATUS]
    judged = int(row.matched) + int(row.missed) + int(row.extra)
    rows.append(("match rate (matched / matched + missed + extra)", judged,
                 pct(float(row.match_rate))))
    return pd.DataFrame(rows, columns=["fills", "count", "percent"]).set_index("fills")


def pnl_table(row: Any) -> pd.DataFrame:
    """Live PnL, backtest PnL and their difference split into causes, with each cause's share
    of the difference."""
    p = {k: _clean(v, _PNL_EPS) for k, v in _pnl(row).items()}
    total = p["total"]
    rows = [("live PnL", p["live_pnl"], ""), ("backtest PnL", p["sim_pnl"], "")]
    if p.get("held"):  # a span that started with a position: in both PnLs, in no cause
        rows.append(("  of which the starting position's move (both)", p["held"], ""))
    rows.append(("difference live - backtest", total, pct(1.0 if total else float("nan"))))
    rows += [(f"  {CAUSE_NAMES[k]}", p[k], pct(p[k] / total if total else float("nan")))
             for k in CAUSES]
    out = pd.DataFrame(rows, columns=["PnL", "amount", "share of the difference"])
    out["amount"] = [f"{v:+,.4f}" for v in out["amount"]]
    return out.set_index("PnL")


def _clean(v: float, eps: float) -> float:
    """0.0 for float rounding noise (|v| < eps), so that it prints as +0 and has no share."""
    return 0.0 if abs(v) < eps else float(v)


def _iso(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else utc_iso(int(v))


def _num(v: Any, fmt: str = "{:,.8g}") -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def fills_table(fills: pd.DataFrame) -> pd.DataFrame:
    """Fill by fill: status, side, live and backtest time (UTC ISO) and price, the time
    difference (ms, live - backtest) and the price difference (live - backtest)."""
    dpx = [v if v != v else _clean(v, _PRICE_EPS * max(1.0, abs(p)))
           for v, p in zip(fills["live_price"] - fills["sim_price"], fills["sim_price"],
                           strict=True)]
    return pd.DataFrame({
        "status": fills["status"], "side": [side_name(s) for s in fills["side"]],
        "live time": [_iso(v) for v in fills["live_ts"]],
        "backtest time": [_iso(v) for v in fills["sim_ts"]],
        "live price": [_num(v) for v in fills["live_price"]],
        "backtest price": [_num(v) for v in fills["sim_price"]],
        "time diff (ms)": [_num(v, "{:+,.0f}") for v in fills["dt_ms"]],
        "price diff": [_num(v, "{:+,.8g}") for v in dpx],
        "live qty": [_num(v) for v in fills["live_qty"]],
        "backtest qty": [_num(v) for v in fills["sim_qty"]],
    }).reset_index(drop=True)


def audit_figure(fills: pd.DataFrame, tape: pd.DataFrame | None = None, *,
                 title: str = "Price, live fills and backtest fills",
                 max_points: int = 20_000) -> Any:
    """Plotly figure: the tape's price (when given), the live fills (filled triangles) and the
    backtest fills (open circles) by side; unmatched fills are named in the hover text."""
    import plotly.graph_objects as go

    def dt(ms: Any) -> Any:
        return pd.to_datetime(pd.Series(ms, dtype="float64"), unit="ms", utc=True)

    fig = go.Figure()
    if tape is not None and len(tape):
        line = tape.iloc[::max(1, -(-len(tape) // max(1, max_points)))]
        fig.add_trace(go.Scattergl(x=dt(line["ts"]), y=line["price"], mode="lines",
                                   name="price (live tape)", line={"width": 1, "color": "#444"}))
    colors = {1: "#2ca02c", -1: "#d62728"}
    for who, ts, px, symbol in (("live", "live_ts", "live_price", "triangle"),
                                ("backtest", "sim_ts", "sim_price", "circle-open")):
        for side, name in ((1, "buy"), (-1, "sell")):
            f = fills[(fills["side"] == side) & fills[ts].notna()]
            shape = (f"{symbol}-up" if side == 1 else f"{symbol}-down") if who == "live" \
                else symbol
            fig.add_trace(go.Scatter(x=dt(f[ts]), y=f[px], mode="markers",
                                     name=f"{who} {name} fills", text=f["status"],
                                     marker={"symbol": shape, "size": 9 if who == "live" else 13,
                                             "color": colors[side]}))
    fig.update_layout(title=title, xaxis_title="time (UTC)", yaxis_title="price",
                      legend={"orientation": "h"})
    return fig


def run_live_report(runner: str, *, db_path: str | Path, config: str | Path | None = None,
                    mirror: str | Path | None = None, fill_model: str = "cross",
                    latency_ms: int = 0, out_dir: str | Path = "reports",
                    kernel_name: str | None = None, notebook: Path | None = None,
                    name: str | None = None, timeout: int = 600, progress: bool = False
                    ) -> Path:
    """Write `live_<runner>.ipynb` + `.html` (offline) into `out_dir`; return the HTML path.
    `config` is the runner's config.yaml (live.data_dir, instruments); `mirror` its Parquet
    mirror (default `<live.data_dir>/<runner>`); `fill_model` / `latency_ms` are used only
    when no audit is stored and one is run now."""
    from gridlab.config import GridlabConfig, load_config
    from gridlab.research.report import (
        code_version,
        execute_notebook,
        notebooks_dir,
        render_html,
        report_name,
    )

    cfg = GridlabConfig()
    if config is not None:
        if not Path(config).exists():
            raise ConfigError(f"config file {Path(config).resolve()} does not exist",
                              "check --config")
        cfg = load_config(config)
    db = Path(db_path).resolve()
    where = Path(mirror) if mirror is not None else mirror_dir(cfg, runner)
    ids, origin = pick_audits(runner, db_path=db, config=cfg, mirror=where,
                              fill_model=fill_model, latency_ms=latency_ms)
    stem = name or report_name(runner, "audit", "", "live").rstrip("_")
    parameters = {"db_path": str(db), "runner": runner, "audit_ids": json.dumps(ids),
                  "origin": origin, "mirror_dir": str(where.resolve()),
                  "code_version": code_version()}
    nb_path = notebook or notebooks_dir() / LIVE_REPORT_NOTEBOOK
    out = Path(out_dir).resolve()
    executed = execute_notebook(nb_path, out / f"{stem}.ipynb", parameters,
                                kernel_name=kernel_name, cwd=nb_path.parent, timeout=timeout,
                                progress=progress)
    return render_html(executed, out / f"{stem}.html")
