"""The live runner's store (tables `live_*`, migrations 0004, 0006, 0015 and 0016) and its Parquet
mirror; promotions.

One store holds every grid (symbol) of one runner: per-grid rows carry `symbol`, and the
readers take an optional `symbol` (None = every symbol). Events with symbol None are the
runner's or the account's; `live_account` holds the account snapshots (every grid together).

DuckDB lets one process hold a file for writing and then no other process may open it, not
even read-only. So the runner is the single writer of its live file and keeps it open; every
order, fill, snapshot and event is committed at once (durable on commit). Keys make replays
idempotent: fills by execId, orders by orderLinkId.

Every `export_s` (and on shutdown) the tables that changed are copied to
`<mirror>/<table>.parquet` (written to a temporary name, then `os.replace`, so a reader never
sees half a file). Other processes read the mirror with `open_live_views(mirror)`: a DuckDB
connection with one view per table, named like the table. The mirror lags the file by at most
`export_s`; the panel, inside the runner, reads the file itself through a cursor.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pandas as pd

from gridlab.errors import StoreError
from gridlab.store.core import Store, load_sql
from gridlab.store.live_tape import tape_views

__all__ = [
    "LIVE_TABLES",
    "FillRow",
    "LiveStore",
    "OrderRow",
    "Promotion",
    "add_promotion",
    "latest_promotion",
    "list_promotions",
    "open_live_views",
]

LIVE_TABLES: tuple[str, ...] = ("live_orders", "live_fills", "live_positions", "live_equity",
                                "live_grid", "live_events", "live_state", "live_account",
                                "live_state_log", "live_links")
"""Tables of a live store, each mirrored to `<table>.parquet`."""

ACTIVE_STATUSES = ("Intent", "New", "PartiallyFilled")


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class OrderRow:
    """One order of the runner (`live_orders`)."""

    order_link_id: str
    symbol: str
    kind: str  # grid | seed | flatten
    gen: int
    slot: int
    leg: str  # o | c | s | f
    cycle: int
    attempt: int
    side: int
    price: float
    qty: float
    status: str = "Intent"
    order_id: str = ""
    filled_qty: float = 0.0
    reason: str = ""
    created_at: int = 0
    updated_at: int = 0
    rem: float = field(default=math.nan, compare=False)
    """what is left to fill, tracked fill by fill (`fill_remainder_nb`), in the exchange's
    decimals (12 places: a qty of n x step is sent and filled as its decimal); not stored: a
    reloaded row starts from qty - filled_qty"""

    def __post_init__(self) -> None:
        if math.isnan(self.rem):
            self.rem = round(max(0.0, self.qty - self.filled_qty), 12)

    @property
    def active(self) -> bool:
        """Intent, New or PartiallyFilled."""
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True)
class FillRow:
    """One execution as stored (`live_fills`), before it is applied."""

    exec_id: str
    exec_time: int
    symbol: str
    order_link_id: str
    order_id: str
    exec_type: str
    side: int
    price: float
    qty: float
    fee: float
    fee_rate: float
    is_maker: bool
    source: str = "ws"


class Promotion(NamedTuple):
    """One row of `promotions`."""

    id: int
    profile: str
    version: int
    promoted_at: int
    note: str
    run_id: str | None
    params: dict[str, Any]
    source_kind: str = ""  # run | sweep | walkforward | trial | profile | rollback
    source_id: str = ""
    lineage: dict[str, Any] = {}  # noqa: RUF012 - NamedTuple default, never mutated


class LiveStore:
    """Writes and reads of one live store; tracks which tables changed since the last export.

    All writes go through the owning `Store` connection (one thread: the runner's event loop);
    `reader()` hands out cursors for reads from other threads.
    """

    def __init__(self, store: Store, mirror_dir: str | Path | None = None) -> None:
        self.store = store
        self.mirror_dir = Path(mirror_dir) if mirror_dir is not None else None
        self._dirty: set[str] = set(LIVE_TABLES)
        self._dirty_lock = threading.Lock()
        self.exports = 0
        self.last_export_ms = 0

    @classmethod
    def open(cls, path: str | Path, mirror_dir: str | Path | None = None,
             wait_s: float = 0.0) -> LiveStore:
        """Open (create, migrate) the live store at `path`; mirror to `mirror_dir`."""
        return cls(Store.open(path, wait_s=wait_s), mirror_dir)

    def close(self) -> None:
        """Close the connection."""
        self.store.close()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.store.con

    # ---- transactions ----------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[LiveStore]:
        """One transaction around several writes (nested batches join the outer one)."""
        with self.store.transaction():
            yield self

    def _mark(self, *tables: str) -> None:
        with self._dirty_lock:
            self._dirty.update(tables)

    def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self.reader() as cur:
            return cur.execute(load_sql(sql), params or {}).fetchall()

    def _df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        with self.reader() as cur:
            return cur.execute(load_sql(sql), params or {}).df()

    def _exec(self, sql: str, params: dict[str, Any], *tables: str) -> list[tuple[Any, ...]]:
        with self.store.transaction() as con:
            rows = con.execute(load_sql(sql), params).fetchall()
        self._mark(*tables)
        return rows

    # ---- orders ----------------------------------------------------------------------------

    def put_order(self, row: OrderRow) -> None:
        """Insert or rewrite an order row."""
        now = _now_ms()
        row.created_at = row.created_at or now
        row.updated_at = now
        params = asdict(row)
        del params["rem"]  # tracked in memory only
        self._exec("live_order_upsert", params, "live_orders")

    def update_order(self, order_link_id: str, status: str, filled_qty: float, *,
                     order_id: str = "", reason: str = "") -> None:
        """Change an order's status / filled qty (and learn its exchange id)."""
        self._exec("live_order_update", {
            "order_link_id": order_link_id, "order_id": order_id, "status": status,
            "filled_qty": float(filled_qty), "reason": reason[:200], "updated_at": _now_ms()},
            "live_orders")

    def orders(self, active_only: bool = False, limit: int = 100_000, *,
               symbol: str | None = None) -> list[OrderRow]:
        """Orders (of `symbol`, or all), newest first."""
        rows = self._rows("live_orders_select", {"active_only": active_only, "limit": limit,
                                                 "symbol": symbol})
        return [OrderRow(order_link_id=r[0], order_id=r[1], symbol=r[2], kind=r[3], gen=r[4],
                         slot=r[5], leg=r[6], cycle=r[7], attempt=r[8], side=r[9], price=r[10],
                         qty=r[11], status=r[12], filled_qty=r[13], reason=r[14],
                         created_at=r[15], updated_at=r[16]) for r in rows]

    # ---- fills -----------------------------------------------------------------------------

    def insert_fill(self, fill: FillRow, *, kind: str, gen: int, slot: int) -> bool:
        """Store an execution; False when its execId was stored before (nothing written)."""
        params = asdict(fill)
        params.update(kind=kind, gen=int(gen), slot=int(slot), stored_at=_now_ms(),
                      is_maker=bool(fill.is_maker), side=int(fill.side))
        rows = self._exec("live_fill_insert", params, "live_fills")
        return bool(rows)

    def mark_applied(self, exec_id: str, *, apply_seq: int, kind: str, gen: int, slot: int,
                     position: float, grid_profit: float) -> None:
        """Record that a stored fill was booked (ledger + strategy)."""
        self._exec("live_fill_applied", {
            "exec_id": exec_id, "apply_seq": int(apply_seq), "kind": kind, "gen": int(gen),
            "slot": int(slot), "position": float(position), "grid_profit": float(grid_profit)},
            "live_fills")

    def unapplied_fills(self, symbol: str | None = None) -> list[FillRow]:
        """Stored fills (of `symbol`, or all) that were never applied, oldest first."""
        rows = self._rows("live_fills_unapplied", {"symbol": symbol})
        return [FillRow(exec_id=r[0], exec_time=r[1], symbol=r[2], order_link_id=r[3],
                        order_id=r[4], exec_type=r[5], side=r[6], price=r[7], qty=r[8], fee=r[9],
                        fee_rate=r[10], is_maker=r[11], source=r[12]) for r in rows]

    def last_exec_time(self, symbol: str | None = None) -> int | None:
        """execTime of the newest stored execution (of `symbol`, or of any)."""
        rows = self._rows("live_fills_last_time", {"symbol": symbol})
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    def fills(self, limit: int = 100, *, symbol: str | None = None) -> pd.DataFrame:
        """The latest fills (of `symbol`, or all), newest first."""
        return self._df("live_fills_recent", {"limit": limit, "symbol": symbol})

    def fills_summary(self, symbol: str | None = None) -> dict[str, Any]:
        """Counts and totals over the stored executions (of `symbol`, or all)."""
        with self.reader() as cur:
            cur.execute(load_sql("live_fills_summary"), {"symbol": symbol})
            names = [d[0] for d in cur.description]
            row = cur.fetchall()[0]
        return dict(zip(names, row, strict=True))

    def fills_by_symbol(self) -> pd.DataFrame:
        """Counts and totals over the stored executions, one row per symbol."""
        return self._df("live_fills_by_symbol")

    # ---- events, snapshots, grid, state ----------------------------------------------------

    def add_event(self, kind: str, message: str, *, severity: str = "info",
                  details: dict[str, Any] | None = None, ts: int | None = None,
                  symbol: str | None = None) -> int:
        """Append an event (of grid `symbol`; None = the runner / account); returns its id."""
        rows = self._exec("live_event_insert", {
            "ts": _now_ms() if ts is None else int(ts), "kind": kind, "severity": severity,
            "message": message[:2000],
            "details": None if details is None else json.dumps(details, default=str),
            "symbol": symbol}, "live_events")
        return int(rows[0][0])

    def events(self, limit: int = 100, *, symbol: str | None = None) -> pd.DataFrame:
        """The latest events, newest first: all, or those of `symbol` and of the runner."""
        return self._df("live_events_recent", {"limit": limit, "symbol": symbol})

    def error_count(self, *, symbol: str | None = None) -> int:
        """Stored error / critical events (those `events` would show for `symbol`)."""
        return int(self._rows("live_events_errors", {"symbol": symbol})[0][0])

    def add_equity(self, **row: Any) -> None:
        """One equity snapshot of one grid (columns of `live_equity`; `symbol` defaults to
        '')."""
        row.setdefault("symbol", "")
        self._exec("live_equity_insert", row, "live_equity")

    def equity(self, since: int = 0, limit: int = 100_000, *,
               symbol: str | None = None) -> pd.DataFrame:
        """Equity snapshots (of `symbol`, or all) since `since`, oldest first."""
        return self._df("live_equity_select", {"since": since, "limit": limit,
                                               "symbol": symbol})

    def add_account(self, **row: Any) -> None:
        """One account snapshot (columns of `live_account`)."""
        self._exec("live_account_insert", row, "live_account")

    def account(self, since: int = 0, limit: int = 100_000) -> pd.DataFrame:
        """Account snapshots since `since`, oldest first."""
        return self._df("live_account_select", {"since": since, "limit": limit})

    def add_position(self, **row: Any) -> None:
        """One exchange position snapshot (columns of `live_positions`)."""
        self._exec("live_position_insert", row, "live_positions")

    def positions(self, limit: int = 100, *, symbol: str | None = None) -> pd.DataFrame:
        """The latest position snapshots (of `symbol`, or all), newest first."""
        return self._df("live_positions_recent", {"limit": limit, "symbol": symbol})

    def add_grid(self, **row: Any) -> None:
        """One grid build (columns of `live_grid`; `symbol` defaults to '')."""
        row.setdefault("symbol", "")
        self._exec("live_grid_insert", row, "live_grid")

    def grids(self, limit: int = 100, *, symbol: str | None = None) -> pd.DataFrame:
        """The latest grid builds (of `symbol` by generation, or of all by time), newest
        first."""
        return self._df("live_grid_recent", {"limit": limit, "symbol": symbol})

    def claim_symbol(self, symbol: str) -> None:
        """Give the equity and grid rows written before migration 0006 (symbol '') to
        `symbol` (a single-symbol runner's store)."""
        with self.store.transaction() as con:
            for sql in ("live_claim_equity", "live_claim_grid"):
                con.execute(load_sql(sql), {"symbol": symbol})
        self._mark("live_equity", "live_grid")

    def put_state(self, key: str, value: Any) -> None:
        """Write a JSON-able state value."""
        self._exec("live_state_put", {"key": key, "value": json.dumps(value),
                                      "updated_at": _now_ms()}, "live_state")

    def get_state(self, key: str, default: Any = None) -> Any:
        """A state value (`default` when unset)."""
        rows = self._rows("live_state_get", {"key": key})
        return default if not rows else json.loads(rows[0][0])

    def log_state(self, state_key: str, symbol: str, ts: int, kind: str, value: Any,
                  bars: Any = None) -> None:
        """Log a grid state a replay can start from (table live_state_log, migration 0015):
        `kind` start (a session's first state) or snapshot; `ts` the market time of the last
        print it has seen."""
        self._exec("live_state_log_insert", {
            "state_key": state_key, "symbol": symbol, "ts": int(ts), "kind": kind,
            "recorded_at": _now_ms(), "value": json.dumps(value),
            "bars": None if bars is None else json.dumps(bars)}, "live_state_log")

    # ---- reads from other threads ----------------------------------------------------------

    def reader(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the writer's database (sees committed data; one per call)."""
        return self.store.con.cursor()

    # ---- Parquet mirror --------------------------------------------------------------------

    @property
    def dirty(self) -> set[str]:
        with self._dirty_lock:
            return set(self._dirty)

    def export(self, tables: tuple[str, ...] | list[str] | None = None,
               con: duckdb.DuckDBPyConnection | None = None) -> list[Path]:
        """Copy the changed tables (or `tables`) to `<mirror>/<table>.parquet` atomically.

        Safe to call from a worker thread (it reads through its own cursor); a table changed
        while it is being copied stays marked and goes out with the next export.
        """
        if self.mirror_dir is None:
            return []
        with self._dirty_lock:
            todo = [t for t in LIVE_TABLES if t in (self._dirty if tables is None else tables)]
            self._dirty.difference_update(todo)
        self.mirror_dir.mkdir(parents=True, exist_ok=True)
        cur = con or self.reader()
        out = []
        try:
            for table in todo:
                final = self.mirror_dir / f"{table}.parquet"
                tmp = self.mirror_dir / f".{table}.parquet.tmp"
                try:
                    cur.table(table).write_parquet(str(tmp))
                    os.replace(tmp, final)
                except (duckdb.Error, OSError) as exc:
                    self._mark(table)
                    raise StoreError(f"exporting {table} to {final} failed: {exc}",
                                     "check free space and permissions of the mirror folder"
                                     ) from None
                out.append(final)
        finally:
            if con is None:
                cur.close()
        self.exports += 1
        self.last_export_ms = _now_ms()
        return out


def open_live_views(mirror_dir: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view per mirrored table (`live_fills`, ...).

    For notebooks, reports and any process other than the runner: the views read the Parquet
    files at each query, so they follow the runner's exports (lag <= `live.export_s`).
    """
    folder = Path(mirror_dir)
    if not folder.is_dir():
        raise StoreError(f"no live mirror at {folder}",
                         "start the runner (gridlab live) or check the path: "
                         "<live.data_dir>/<name>/")
    con = duckdb.connect()
    found = 0
    for table in LIVE_TABLES:
        path = folder / f"{table}.parquet"
        if path.exists():
            con.read_parquet(str(path)).create_view(table)
            found += 1
    tape_views(con, folder)
    if not found:
        con.close()
        raise StoreError(f"the live mirror {folder} holds no table yet",
                         "wait for the runner's first export (live.export_s)")
    return con


# ---- promotions (research store) ---------------------------------------------------------

def add_promotion(store: Store, profile: str, version: int, params: dict[str, Any], *,
                  note: str = "", run_id: str | None = None, source_kind: str = "",
                  source_id: str = "", lineage: dict[str, Any] | None = None) -> int:
    """Record that `profile` v`version` goes live (and where its parameters came from:
    `source_kind`, `source_id`, `lineage`); returns the promotion id."""
    with store.transaction() as con:
        row = con.execute(load_sql("promotions_insert"), {
            "profile": profile, "version": int(version), "promoted_at": _now_ms(),
            "note": note, "run_id": run_id, "params": json.dumps(params, sort_keys=True),
            "source_kind": source_kind, "source_id": source_id,
            "lineage": json.dumps(lineage or {}, sort_keys=True, default=str)},
        ).fetchone()
    assert row is not None
    return int(row[0])


def list_promotions(store: Store, limit: int = 100) -> list[Promotion]:
    """Promotions, newest first."""
    rows = store.con.execute(load_sql("promotions_list"), {"limit": limit}).fetchall()
    return [Promotion(int(r[0]), r[1], int(r[2]), int(r[3]), r[4], r[5], json.loads(r[6]),
                      r[7], r[8], json.loads(r[9])) for r in rows]


def latest_promotion(store: Store) -> Promotion | None:
    """The newest promotion (None when nothing was promoted)."""
    found = list_promotions(store, 1)
    return found[0] if found else None
