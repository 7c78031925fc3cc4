"""The live audit: replay a runner's recorded tape through `gridlab.backtest` with the
parameters the runner traded, and compare fill by fill with its real fills.

Reads through a DuckDB connection that sees the runner's tables: the runner's own file when
it is stopped, or its Parquet mirror (`open_live_views`) while it runs. The parameters are
the ones the runner stored with its state (`profile.params`: grid, recenter, risk), laid
over the runner's config, with the instrument filters and the fee rates the runner traded
with (`market` in its state); the fill model and latency are the caller's choice. The replay
starts flat at the first tape trade, as a runner started on an empty account does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np

from gridlab.backtest.data import MarketData
from gridlab.backtest.engine import backtest
from gridlab.config import GridlabConfig
from gridlab.config.strategy import GridConfig, RecenterConfig, RiskConfig
from gridlab.errors import DataError
from gridlab.research.audit import AuditResult, match_fills, pnl_attribution
from gridlab.store.live_audit import live_fills_span, live_funding, read_live_state
from gridlab.store.live_tape import load_tape, tape_gaps
from gridlab.strategy.enums import Filters

__all__ = ["LiveAudit", "audit_live", "params_hash"]


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

    def summary(self) -> dict[str, Any]:
        """The row stored in `live_audits`."""
        c = self.result.counts
        return {"runner": self.runner, "symbol": self.symbol, "start_ms": self.start_ms,
                "end_ms": self.end_ms, "fill_model": self.fill_model,
                "latency_ms": self.latency_ms, "params_hash": params_hash(self.params),
                "n_trades": self.n_trades, "n_gaps": len(self.gaps), "matched": c["matched"],
                "missed": c["missed"], "extra": c["extra"], "gap": c["gap"],
                "match_rate": self.result.match_rate, "pnl": self.pnl}


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
    lo = -(2**62) if start_ms is None else int(start_ms)
    hi = 2**62 if end_ms is None else int(end_ms)
    tape = load_tape(con, symbol, lo, hi)
    if tape.empty:
        raise DataError(f"runner {runner} recorded no {symbol} trades in the span",
                        "the tape is recorded from the trade stream (live.ws true); pick a "
                        "span the runner was running")
    t0, t1 = int(tape["ts"].iloc[0]), int(tape["ts"].iloc[-1]) + 1
    gaps = tape_gaps(con, symbol, t0, t1)
    cfg = config.model_copy(update={
        "profile": None, "grid": GridConfig.model_validate(params["grid"]),
        "recenter": RecenterConfig.model_validate(params["recenter"]),
        "risk": RiskConfig.model_validate(params["risk"])})
    md = MarketData.from_trades(tape["ts"].to_numpy(np.int64), tape["price"].to_numpy(),
                                tape["size"].to_numpy(), symbol=symbol, category=category,
                                filters=filters)
    run = backtest(md, cfg, fill_model=fill_model, latency_ms=int(latency_ms), **fees)
    assert run.fills is not None
    sim = run.fills[["ts", "side", "price", "qty", "fee"]]
    live = live_fills_span(con, symbol, t0, t1)[["ts", "side", "price", "qty", "fee"]]
    result = match_fills(sim, live, tol_ms=tol_ms, gaps=[(a, b) for a, b, _ in gaps])
    mark = float(tape["price"].iloc[-1])
    pnl = pnl_attribution(result, mark, live_funding=live_funding(con, symbol, t0, t1),
                          sim_funding=float(run.metrics["funding"]))
    return LiveAudit(runner, symbol, t0, t1, fill_model, int(latency_ms), params, len(tape),
                     gaps, result, pnl, list(run.warnings))
