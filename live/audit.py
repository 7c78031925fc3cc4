"""`gridlab live audit`: the runner's fills against the replay of its tape, for a terminal.

Finds the runner from the config (or `--name`) and its grids, and runs
`gridlab.research.live_audit.audit_runner` on its Parquet mirror (so it works while the runner
runs), which stores each audit in the research store; returns the lines to print.
"""

from __future__ import annotations

from gridlab.backtest.data import to_ms
from gridlab.config import GridlabConfig
from gridlab.errors import DataError
from gridlab.fmt import pct, side_name, utc_iso
from gridlab.research.live_audit import CAUSE_NAMES, CAUSES, AuditGrid, LiveAudit, audit_runner
from live.grids import grid_specs, live_paths

__all__ = ["audit_lines", "run_audit"]


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
    return audit_runner(config, mirror, runner,
                        [AuditGrid(s.symbol, s.category, s.state_key) for s in specs],
                        start_ms=to_ms(start), end_ms=to_ms(end), fill_model=fill_model,
                        latency_ms=latency_ms, tol_ms=tol_ms, save=save)


def _start(audit: LiveAudit) -> str:
    s = audit.start
    if s is None or s.state is None:
        return ("flat" if s is None or s.kind == "flat" else
                f"flat (the runner's {s.kind} state holds no position, grid or order)")
    n = int((s.state.arrays.orders["side"] != 0).sum())
    return (f"the runner's {s.kind} state after the print of {utc_iso(s.ts)}: position "
            f"{s.position:g}, {n} resting order(s); live fills after it")


def audit_lines(audit: LiveAudit, audit_id: int | None, most: int = 20) -> list[str]:
    """The audit as terminal lines: span, counts, the PnL split, the unmatched fills."""
    c = audit.result.counts
    lines = [
        f"live audit of {audit.runner} {audit.symbol}: {utc_iso(audit.start_ms)} .. "
        f"{utc_iso(audit.end_ms)}, {audit.n_trades:,} tape trades, {len(audit.gaps)} gap(s); "
        f"replayed with fill model {audit.fill_model}, latency {audit.latency_ms} ms",
        f"  start: {_start(audit)}",
        f"  fills: {c['matched']} matched, {c['missed']} missed (backtest filled, live did "
        f"not), {c['extra']} extra (live filled, backtest did not), {c['gap']} in tape gaps; "
        f"match rate {pct(audit.result.match_rate)}",
        f"  PnL: live {audit.pnl['live_pnl']:,.4f}, backtest {audit.pnl['sim_pnl']:,.4f}, "
        f"difference {audit.pnl['total']:+,.4f}",
    ]
    if audit.pnl.get("held"):
        lines.append(f"    {'(in both: the starting position marked)':<45} "
                     f"{audit.pnl['held']:+,.4f}")
    lines += [f"    {CAUSE_NAMES[k]:<45} {audit.pnl[k]:+,.4f}" for k in CAUSES]
    lines += [f"  note: {w}" for w in audit.warnings if not w.startswith("annualized")]
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
