"""The live audit: replay a runner's recorded tape through `gridlab.backtest` with the
parameters the runner traded, and compare fill by fill with its real fills.

Reads through a DuckDB connection that sees the runner's tables: the runner's own file when
it is stopped, or its Parquet mirror (`open_live_views`) while it runs. The parameters are
the ones the runner stored with its state (`profile.params`: grid, recenter, risk), laid
over the runner's config, with the instrument filters and the fee rates the runner traded
with (`market` in its state); the fill model and latency are the caller's choice. The replay
starts from the runner's own state at the start of the span (`live_start.replay_start`: the
grid state it logged when the session started or at an equity snapshot, with its position,
ledger, grid and resting orders), so a span that begins with an open position (a restarted
runner, a `--from` in the middle of a session) is replayed as the runner traded it; the live
fills compared are those the runner applied after that state. The PnL of both sides counts
the starting position marked from the state's last price (equal on both sides, so the causes
of the difference are the fills').

`audit_runner` audits every grid of a runner from its Parquet mirror and stores the audits
in the research store (what `gridlab live audit` and `gridlab report --live` run);
`runner_grids` finds the grids in the mirror itself, for callers without the runner's config.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np

from gridlab.backtest.data import MarketData
from gridlab.backtest.engine import backtest
from gridlab.config import GridlabConfig
from gridlab.config.strategy import GridConfig, RecenterConfig, RiskConfig
from gridlab.errors import DataError
from gridlab.fmt import utc_iso
from gridlab.research.audit import AuditResult, match_fills, pnl_attribution
from gridlab.research.live_start import ReplayStart, replay_start
from gridlab.store.core import MEMORY, Store
from gridlab.store.live import open_live_views
from gridlab.store.live_audit import (
    live_fills_span,
    live_funding,
    read_live_state,
    read_live_states,
    save_audit,
    tape_symbols,
)
from gridlab.store.live_tape import load_tape, tape_gaps
from gridlab.strategy.enums import Filters

__all__ = ["CAUSES", "CAUSE_NAMES", "AuditGrid", "LiveAudit", "audit_live", "audit_runner",
           "mirror_dir", "params_hash", "runner_grids", "store_filters"]

CAUSES = ("missed", "extra", "matched", "fees", "funding", "gap")
"""The parts of the PnL difference live - backtest (gridlab.research.audit.pnl_attribution)."""
CAUSE_NAMES = {"missed": "missed fills (backtest filled, live did not)",
               "extra": "extra fills (live filled, backtest did not)",
               "matched": "latency: price/timing of matched fills",
               "fees": "fees", "funding": "funding", "gap": "fills in tape gaps"}
"""What each cause is called in the terminal and the report."""


class AuditGrid(NamedTuple):
    """One grid of a runner to audit: its symbol, category and live_state key."""

    symbol: str
    category: str
    state_key: str


def params_hash(params: dict[str, Any]) -> str:
    """sha256 prefix of the canonical JSON of strategy parameters."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LiveAudit:
    """The audit of one symbol of one runner over a span."""

    runner: str
    symbol: str
    start_ms: int
    end_ms: int
    fill_model: str
    latency_ms: int
    params: dict[str, Any]
    n_trades: int
    gaps: list[tuple[int, int, str]]
    result: AuditResult
    pnl: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    start: ReplayStart | None = None
    """where the replay started (None: flat, as before the state log)"""
    live_position: float = 0.0
    """the runner's position at the end: its starting position + its fills in the span"""
    sim_position: float = 0.0
    """the replay's position at the end"""

    def summary(self) -> dict[str, Any]:
        """The row stored in `live_audits`."""
        c = self.result.counts
        return {"runner": self.runner, "symbol": self.symbol, "start_ms": self.start_ms,
                "end_ms": self.end_ms, "fill_model": self.fill_model,
                "latency_ms": self.latency_ms, "params_hash": params_hash(self.params),
                "n_trades": self.n_trades, "n_gaps": len(self.gaps), "matched": c["matched"],
                "missed": c["missed"], "extra": c["extra"], "gap": c["gap"],
                "match_rate": self.result.match_rate, "pnl": self.pnl,
                "start_kind": self.start.kind if self.start else "flat",
                "start_position": self.start.position if self.start else 0.0}


def audit_live(con: duckdb.DuckDBPyConnection, config: GridlabConfig, *, runner: str,
               symbol: str, state_key: str, filters: Filters | None = None,
               category: str = "linear",
               start_ms: int | None = None, end_ms: int | None = None,
               fill_model: str = "cross", latency_ms: int = 0, tol_ms: int = 5_000
               ) -> LiveAudit:
    """Audit `symbol` of `runner` (see the module docstring)."""
    state = read_live_state(con, state_key)
    if not state or "profile" not in state:
        raise DataError(f"runner {runner} has no stored state under {state_key!r}",
                        "audit a runner that has run (its live store or mirror)")
    params = state["profile"]["params"]
    market = state.get("market") or {}
    if market.get("filters"):
        filters = Filters(*(float(x) for x in market["filters"]))  # what the runner traded
    if filters is None:
        raise DataError(f"runner {runner} stored no instrument filters",
                        "pass filters= (the instrument's tick, lot step, min qty, ...)")
    fees = {k: float(market[k]) for k in ("maker_fee", "taker_fee") if k in market}
    cfg = config.model_copy(update={
        "profile": None, "grid": GridConfig.model_validate(params["grid"]),
        "recenter": RecenterConfig.model_validate(params["recenter"]),
        "risk": RiskConfig.model_validate(params["risk"])})
    start = replay_start(con, state_key, cfg, filters, category, start_ms)
    if start.state is not None and start.capital is not None:  # the budget the ledger traded
        cfg = cfg.model_copy(update={"trading": cfg.trading.model_copy(
            update={"capital": start.capital})})
    lo = -(2**62) if start_ms is None else int(start_ms)
    notes: list[str] = []
    if start.kind != "flat":  # the span starts with the logged state: the tape after it
        lo = start.ts + 1
        if start_ms is not None and lo < int(start_ms):
            notes.append(f"the audit starts at the runner's {start.kind} state logged after "
                         f"the print of {utc_iso(start.ts)}, the latest before "
                         f"{utc_iso(int(start_ms))} (--from)")
    hi = 2**62 if end_ms is None else int(end_ms)
    tape = load_tape(con, symbol, lo, hi)
    if tape.empty:
        raise DataError(f"runner {runner} recorded no {symbol} trades in the span",
                        "the tape is recorded from the trade stream (live.ws true); pick a "
                        "span the runner was running")
    t0, t1 = int(tape["ts"].iloc[0]), int(tape["ts"].iloc[-1]) + 1
    gaps = tape_gaps(con, symbol, t0, t1)
    md = MarketData.from_trades(tape["ts"].to_numpy(np.int64), tape["price"].to_numpy(),
                                tape["size"].to_numpy(), symbol=symbol, category=category,
                                filters=filters)
    run = backtest(md, cfg, fill_model=fill_model, latency_ms=int(latency_ms),
                   initial_state=start.state, **fees)
    assert run.fills is not None
    sim = run.fills[["ts", "side", "price", "qty", "fee"]]
    live = live_fills_span(con, symbol, t0, t1)
    if start.apply_seq > 0:  # fills the state already held are not the span's
        live = live[~(live["apply_seq"] <= start.apply_seq)]
    live = live[["ts", "side", "price", "qty", "fee"]]
    result = match_fills(sim, live, tol_ms=tol_ms, gaps=[(a, b) for a, b, _ in gaps])
    mark = float(tape["price"].iloc[-1])
    p0 = start.price if start.position != 0.0 else mark
    pnl = pnl_attribution(result, mark, live_funding=live_funding(con, symbol, t0, t1),
                          sim_funding=float(run.metrics["funding"]) - start.funding,
                          start_position=start.position, start_price=p0)
    warnings = [*notes, *start.warnings, *run.warnings]
    live_pos = start.position + float((live["side"] * live["qty"]).sum())
    sim_pos = float(run.metrics["position"])
    if abs(live_pos - sim_pos) > max(filters.qty_step, 1e-12) * 1e-6:
        warnings.append(f"the replay ends with position {sim_pos:g}, the runner with "
                        f"{live_pos:g}")
    return LiveAudit(runner, symbol, t0, t1, fill_model, int(latency_ms), params, len(tape),
                     gaps, result, pnl, warnings, start, live_pos, sim_pos)


def mirror_dir(config: GridlabConfig, runner: str) -> Path:
    """The Parquet mirror of runner `runner`: `<live.data_dir>/<runner>`."""
    return Path(config.live.data_dir) / runner


def runner_grids(con: duckdb.DuckDBPyConnection) -> list[AuditGrid]:
    """The grids a runner's store holds, found in the store itself: each live_state value with
    a `profile` and a `market` is the state of one grid; its symbol is the key's last part
    when that is one of the tape's symbols (a portfolio grid), else the tape's only symbol."""
    symbols = tape_symbols(con)
    out = []
    for key, value in read_live_states(con).items():
        if not isinstance(value, dict) or "profile" not in value or "market" not in value:
            continue
        tail = key.rsplit("/", 1)[-1]
        symbol = tail if tail in symbols else (symbols[0] if len(symbols) == 1 else None)
        if symbol is None:
            continue
        out.append(AuditGrid(symbol, str(value["market"].get("category", "linear")), key))
    return out


def store_filters(db_path: str | Path, symbol: str, category: str) -> Filters:
    """Instrument filters from the research store (else the shipped snapshot), for a runner
    state that stored none (written before the runner kept them)."""
    from gridlab.data.instruments import instrument_filters
    from gridlab.strategy.params import make_filters

    path = Path(db_path)
    with Store.open(path if path.exists() else MEMORY, read_only=path.exists()) as store:
        row = instrument_filters(store, symbol, category).row
    return make_filters(float(row["tick_size"]), float(row["qty_step"]), float(row["min_qty"]),
                        float(row["min_notional"]), float(row["max_qty"]))


def audit_runner(config: GridlabConfig, mirror: str | Path, runner: str,
                 grids: Sequence[AuditGrid] | None = None, *, start_ms: int | None = None,
                 end_ms: int | None = None, fill_model: str = "cross", latency_ms: int = 0,
                 tol_ms: int = 5_000, save: bool = True, db_path: str | Path | None = None
                 ) -> list[tuple[LiveAudit, int | None]]:
    """Audit each of `grids` (default: `runner_grids` of the mirror) of `runner` from its
    Parquet mirror; with `save` store each audit in the research store (`db_path`, default
    the config's data.db_path). Returns (audit, stored audit id or None) per grid."""
    db = Path(db_path if db_path is not None else config.data.db_path)
    con = open_live_views(mirror)
    out: list[tuple[LiveAudit, int | None]] = []
    try:
        found = list(grids) if grids is not None else runner_grids(con)
        if not found:
            raise DataError(f"the live mirror {mirror} holds no grid state with a tape",
                            "audit a runner that has traded with live.ws on")
        for g in found:
            state = read_live_state(con, g.state_key) or {}
            filters = (None if (state.get("market") or {}).get("filters")
                       else store_filters(db, g.symbol, g.category))
            audit = audit_live(con, config, runner=runner, symbol=g.symbol,
                               state_key=g.state_key, category=g.category, filters=filters,
                               start_ms=start_ms, end_ms=end_ms, fill_model=fill_model,
                               latency_ms=latency_ms, tol_ms=tol_ms)
            aid = None
            if save:
                with Store.open(db, wait_s=5.0) as store:
                    aid = save_audit(store, audit.summary(), audit.result.fills)
            out.append((audit, aid))
    finally:
        con.close()
    return out
