"""`gridlab live audit`: the runner's fills against the replay of its tape, for a terminal.

Finds the runner from the config (or `--name`), reads its Parquet mirror (so it works while
the runner runs), takes the instrument filters from the research store or the shipped
snapshot, runs `gridlab.research.live_audit.audit_live` per grid, stores each audit in the
research store, and returns the lines to print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gridlab.backtest.data import to_ms
from gridlab.config import GridlabConfig
from gridlab.data.instruments import instrument_filters
from gridlab.errors import DataError
from gridlab.fmt import pct, side_name, utc_iso
from gridlab.research.live_audit import LiveAudit, audit_live
from gridlab.store.core import MEMORY, Store
from gridlab.store.live import open_live_views
from gridlab.store.live_audit import read_live_state, save_audit
from gridlab.strategy.params import make_filters
from live.grids import grid_specs, live_paths

__all__ = ["audit_lines", "run_audit"]

_CAUSES = ("matched", "missed", "extra", "gap", "fees", "funding")
_CAUSE_NAMES = {"matched": "price/timing of matched fills", "missed": "missed fills",
                "extra": "extra fills", "gap": "fills in tape gaps", "fees": "fees",
                "funding": "funding"}


def _filters(config: GridlabConfig, symbol: str, category: str) -> Any:
    """Filters for a runner state that has none (written before it kept them)."""
    path = Path(config.data.db_path)
    with Store.open(path if path.exists() else MEMORY, read_only=path.exists()) as store:
        row = instrument_filters(store, symbol, category).row
    return make_filters(float(row["tick_size"]), float(row["qty_step"]), float(row["min_qty"]),
                        float(row["min_notional"]), float(row["max_qty"]))


def run_audit(config: GridlabConfig, *, name: str | None = None, symbol: str | None = None,
              start: str | None = None, end: str | None = None, fill_model: str = "cross",
              latency_ms: int = 0, tol_ms: int = 5_000, save: bool = True
              ) -> list[tuple[LiveAudit, int | None]]:
    """Audit every grid (or `symbol`) of the config's runner; returns (audit, stored id)."""
    if name is not None:
        config = config.model_copy(update={"live": config.live.model_copy(update={"name": name})})
    runner, _, mirror = live_paths(config)
    specs = [s for s in grid_specs(config, runner) if symbol is None or s.symbol == symbol]
    if not specs:
        raise DataError(f"runner {runner} has no grid {symbol}", "pick one of its symbols")
    con = open_live_views(mirror)
    out: list[tuple[LiveAudit, int | None]] = []
    try:
        for spec in specs:
            state = read_live_state(con, spec.state_key) or {}
            filters = (None if (state.get("market") or {}).get("filters")
                       else _filters(config, spec.symbol, spec.category))
            audit = audit_live(con, config, runner=runner, symbol=spec.symbol,
                               state_key=spec.state_key, category=spec.category,
                               filters=filters, start_ms=to_ms(start), end_ms=to_ms(end),
                               fill_model=fill_model, latency_ms=latency_ms, tol_ms=tol_ms)
            aid = None
            if save:
                with Store.open(config.data.db_path, wait_s=5.0) as store:
                    aid = save_audit(store, audit.summary(), audit.result.fills)
            out.append((audit, aid))
    finally:
        con.close()
    return out


def audit_lines(audit: LiveAudit, audit_id: int | None, most: int = 20) -> list[str]:
    """The audit as terminal lines: span, counts, the PnL split, the unmatched fills."""
    c = audit.result.counts
    lines = [
        f"live audit of {audit.runner} {audit.symbol}: {utc_iso(audit.start_ms)} .. "
        f"{utc_iso(audit.end_ms)}, {audit.n_trades:,} tape trades, {len(audit.gaps)} gap(s); "
        f"replayed with fill model {audit.fill_model}, latency {audit.latency_ms} ms",
        f"  fills: {c['matched']} matched, {c['missed']} missed (backtest filled, live did "
        f"not), {c['extra']} extra (live filled, backtest did not), {c['gap']} in tape gaps; "
        f"match rate {pct(audit.result.match_rate)}",
        f"  PnL: live {audit.pnl['live_pnl']:,.4f}, backtest {audit.pnl['sim_pnl']:,.4f}, "
        f"difference {audit.pnl['total']:+,.4f}",
    ]
    lines += [f"    {_CAUSE_NAMES[k]:<30} {audit.pnl[k]:+,.4f}" for k in _CAUSES]
    for a, b, reason in audit.gaps:
        lines.append(f"  gap {utc_iso(a)} .. {utc_iso(b)} ({reason})")
    odd = audit.result.fills[audit.result.fills["status"] != "matched"].head(most)
    for r in odd.itertuples(index=False):
        live_side = r.live_ts == r.live_ts  # not NaN: the live fill of the row
        t = r.live_ts if live_side else r.sim_ts
        px = r.live_price if live_side else r.sim_price
        lines.append(f"  {r.status:<7} {utc_iso(t)} {side_name(r.side):<4} @ {px:,.8g}")
    dt = audit.result.fills.loc[audit.result.fills["status"] == "matched", "dt_ms"]
    if len(dt):
        lines.append(f"  matched fills: live - backtest time {dt.mean():+.0f} ms on average, "
                     f"{dt.abs().max():.0f} ms at most")
    if audit_id is not None:
        lines.append(f"  stored as audit {audit_id} (tables live_audits, live_audit_fills)")
    return lines
