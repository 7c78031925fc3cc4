"""Store side of the synthetic market (gridlab.data.synth): what a span holds, clearing it,
and the bulk insert of generated trade arrays (ids and sides built in SQL, not in Python).

Generated trades go through a scratch database (`TradeStage`): DuckDB keeps the rows a
transaction appends in memory until it commits, so a month of trades written inside the one
transaction that replaces a span took about a gigabyte. The scratch database takes the trades
day by day (each insert committed on its own and flushed), and a single INSERT ... SELECT
inside the caller's transaction publishes them, so the store still changes all at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np

from gridlab.errors import DataError
from gridlab.store.core import MEMORY, Store, load_sql
from gridlab.store.market import validate_category, validate_symbol

__all__ = ["STAGE_MEMORY_LIMIT", "SpanCounts", "TradeStage", "clear_market_span", "span_counts",
           "trade_stage"]


class SpanCounts(NamedTuple):
    """Rows a market span already holds."""

    trades: int
    klines: int
    funding: int

    @property
    def empty(self) -> bool:
        return not (self.trades or self.klines or self.funding)


def _params(symbol: str, category: str, start_ms: int, end_ms: int) -> dict[str, object]:
    return {"symbol": validate_symbol(symbol), "category": validate_category(category),
            "start": int(start_ms), "end": int(end_ms)}


def span_counts(store: Store, symbol: str, category: str, start_ms: int,
                end_ms: int) -> SpanCounts:
    """Trades, klines (any interval) and funding rates of the symbol in [start_ms, end_ms)."""
    rows = store.con.execute(load_sql("synth_span_counts"),
                             _params(symbol, category, start_ms, end_ms)).fetchall()
    return SpanCounts(*(int(v) for v in rows[0]))


def clear_market_span(store: Store, symbol: str, category: str, start_ms: int,
                      end_ms: int) -> None:
    """Delete the symbol's trades, klines, funding (not spot) and file-log rows of the span.

    Call it inside the caller's transaction, so that the replacement lands atomically.
    """
    params = _params(symbol, category, start_ms, end_ms)
    names = ["synth_delete_trades", "synth_delete_klines", "synth_delete_files"]
    if category != "spot":
        names.append("synth_delete_funding")
    for name in names:
        store.con.execute(load_sql(name),
                          {k: v for k, v in params.items()
                           if name != "synth_delete_funding" or k != "category"})


class TradeStage:
    """The scratch table of generated trades of one synthetic run (see `trade_stage`)."""

    def __init__(self, store: Store, symbol: str, category: str, prefix: str) -> None:
        self.store = store
        self.params = {"symbol": validate_symbol(symbol),
                       "category": validate_category(category), "prefix": prefix}
        self.rows = 0

    def add(self, arrays: Mapping[str, np.ndarray]) -> int:
        """Stage generated trades (arrays ts, price, size, buy, seq); returns the rows added.

        trade_id is `prefix` + ts + '-' + seq, side Buy/Sell from `buy`. Each call commits on
        its own in the scratch database (call it outside a store transaction).
        """
        if not len(arrays["ts"]):
            return 0
        con = self.store.con
        con.register("_gl_syn", dict(arrays))
        try:
            rows = con.execute(load_sql("synth_insert_trades"), self.params).fetchall()
        except duckdb.Error as exc:
            raise DataError(f"synthetic trades rejected by the store {self.store.path}: "
                            f"{str(exc).strip().splitlines()[0]}", "report this bug") from None
        finally:
            con.unregister("_gl_syn")
        added = int(rows[0][0]) if rows else 0
        self.rows += added
        return added

    def publish(self) -> int:
        """Copy every staged trade into `trades` (call it inside the caller's transaction,
        after clearing the span); returns the rows added."""
        rows = self.store.con.execute(load_sql("synth_stage_publish")).fetchall()
        return int(rows[0][0]) if rows else 0


def _stage_path(store: Store) -> str:
    return MEMORY if str(store.path) == MEMORY else f"{store.path}.synth-stage"


def _drop_stage(store: Store, path: str) -> None:
    with suppress(duckdb.Error):
        if store.con.execute(load_sql("synth_stage_exists")).fetchall()[0][0]:
            store.con.execute(load_sql("synth_stage_detach"))
    if path != MEMORY:
        for name in (path, f"{path}.wal"):
            with suppress(FileNotFoundError):
                os.remove(name)


STAGE_MEMORY_LIMIT = "64MB"
"""DuckDB's buffer-pool limit while a synthetic run writes (restored afterwards)."""


@contextmanager
def trade_stage(store: Store, symbol: str, category: str, prefix: str) -> Iterator[TradeStage]:
    """A scratch database for generated trades, attached to the store's connection: the file
    `<store>.synth-stage` next to it (in memory for an in-memory store), detached and deleted
    on exit, also on failure (a scratch file left by a killed run is replaced). DuckDB's
    memory limit is STAGE_MEMORY_LIMIT meanwhile (a file store only: the store is checkpointed
    before the limit goes back to DuckDB's default, which the store never changes)."""
    if store.read_only:
        raise DataError(f"the store {store.path} is open read-only",
                        "open it read-write to write a synthetic market")
    path = _stage_path(store)
    _drop_stage(store, path)
    if path != MEMORY:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        store.con.execute(load_sql("synth_memory_limit_set"), {"limit": STAGE_MEMORY_LIMIT})
    try:
        store.con.execute(load_sql("synth_stage_attach"), {"path": path})
        store.con.execute(load_sql("synth_stage_create"))
        yield TradeStage(store, symbol, category, prefix)
    finally:
        _drop_stage(store, path)
        if path != MEMORY:
            with suppress(duckdb.Error):
                if not store.in_transaction:
                    store.con.execute(load_sql("synth_checkpoint"))
            with suppress(duckdb.Error):
                store.con.execute(load_sql("synth_memory_limit_reset"))


