"""What the live audit reads from a runner's store (or its mirror) and writes to the research
store: the runner's state, the grid states it logged (where a replay can start), its trade
executions over a span, and the audit rows."""

from __future__ import annotations

import json
import time
from typing import Any

import duckdb
import pandas as pd

from gridlab.store.core import Store, load_sql

__all__ = [
    "audit_fills",
    "list_audits",
    "live_fills_span",
    "live_funding",
    "logged_state",
    "logged_states",
    "read_live_state",
    "read_live_states",
    "save_audit",
    "tape_symbols",
]


def read_live_state(con: duckdb.DuckDBPyConnection, key: str) -> dict[str, Any] | None:
    """The JSON state a runner keeps under `key` (None when absent)."""
    row = con.execute(load_sql("live_state_value"), {"key": key}).fetchone()
    if row is None:
        return None
    value = row[0]
    return json.loads(value) if isinstance(value, str) else value


def read_live_states(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Every key of the runner's live_state with its decoded JSON value."""
    return {k: json.loads(v) if isinstance(v, str) else v
            for k, v in con.execute(load_sql("live_state_all")).fetchall()}


def logged_states(con: duckdb.DuckDBPyConnection, key: str) -> list[tuple[int, str, int]]:
    """(ts, kind, recorded_at) of the states the runner logged for the grid `key` (table
    live_state_log), oldest first; none for a store written before the log existed."""
    try:
        rows = con.execute(load_sql("live_state_log_select"), {"state_key": key}).fetchall()
    except duckdb.CatalogException:
        return []
    return [(int(t), str(k), int(r)) for t, k, r in rows]


def logged_state(con: duckdb.DuckDBPyConnection, key: str, recorded_at: int, kind: str
                 ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One logged state of grid `key`: (state, bar ring or None)."""
    row = con.execute(load_sql("live_state_log_get"), {
        "state_key": key, "recorded_at": int(recorded_at), "kind": kind}).fetchone()
    if row is None:
        raise KeyError(f"no logged state {key} {kind} at {recorded_at}")

    def dec(v: Any) -> Any:
        return json.loads(v) if isinstance(v, str) else v

    return dec(row[0]), (dec(row[1]) if row[1] is not None else None)


def tape_symbols(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The symbols the runner's tape holds (none when it has no tape)."""
    try:
        return [r[0] for r in con.execute(load_sql("live_tape_symbols")).fetchall()]
    except duckdb.CatalogException:  # a mirror without a tape yet
        return []


def live_fills_span(con: duckdb.DuckDBPyConnection, symbol: str, start_ms: int,
                    end_ms: int) -> pd.DataFrame:
    """Trade executions of `symbol` in [start_ms, end_ms) (ts, side, price, qty, fee, ...)."""
    return con.execute(load_sql("live_fills_span"), {
        "symbol": symbol, "start_ms": int(start_ms), "end_ms": int(end_ms)}).df()


def live_funding(con: duckdb.DuckDBPyConnection, symbol: str, start_ms: int,
                 end_ms: int) -> float:
    """Funding received (+) / paid (-) by the runner's `symbol` position in the span."""
    row = con.execute(load_sql("live_funding_sum"), {
        "symbol": symbol, "start_ms": int(start_ms), "end_ms": int(end_ms)}).fetchone()
    return float(row[0]) if row else 0.0


def save_audit(store: Store, summary: dict[str, Any], fills: pd.DataFrame) -> int:
    """Store one audit and its fill rows in one transaction; returns the audit id."""
    frame = fills.reset_index(drop=True).assign(n=lambda d: range(len(d)))
    params = {**summary, "pnl": json.dumps(summary["pnl"], sort_keys=True),
              "created_at": int(time.time() * 1000)}
    store.con.register("_gl_audit", frame)
    try:
        with store.transaction() as con:
            row = con.execute(load_sql("live_audit_insert"), params).fetchone()
            assert row is not None
            audit_id = int(row[0])
            con.execute(load_sql("live_audit_fills_insert"), {"audit_id": audit_id})
    finally:
        store.con.unregister("_gl_audit")
    return audit_id


def list_audits(store: Store, runner: str | None = None, limit: int = 50) -> pd.DataFrame:
    """Stored audits, newest first."""
    return store.con.execute(load_sql("live_audits_list"),
                             {"runner": runner, "limit": limit}).df()


def audit_fills(store: Store, audit_id: int) -> pd.DataFrame:
    """The fill rows of one stored audit."""
    return store.con.execute(load_sql("live_audit_fills_select"), {"audit_id": audit_id}).df()
