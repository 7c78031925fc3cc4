"""Store side of the synthetic market (gridlab.data.synth): what a span holds, clearing it,
and the bulk insert of generated trade arrays (ids and sides built in SQL, not in Python)."""

from __future__ import annotations

from typing import NamedTuple

import duckdb
import pyarrow as pa

from gridlab.errors import DataError
from gridlab.store.core import Store, load_sql
from gridlab.store.market import validate_category, validate_symbol

__all__ = ["SpanCounts", "clear_market_span", "insert_synthetic_trades", "span_counts"]


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


def insert_synthetic_trades(store: Store, table: pa.Table, *, symbol: str, category: str,
                            prefix: str) -> int:
    """Insert generated trades (Arrow columns ts, price, size, buy, seq); returns rows added.

    trade_id is `prefix` + ts + '-' + seq, side Buy/Sell from `buy`. The caller has checked
    that the span holds no trades (span_counts) or cleared it.
    """
    if table.num_rows == 0:
        return 0
    store.con.register("_gl_syn", table)
    try:
        rows = store.con.execute(load_sql("synth_insert_trades"), {
            "symbol": validate_symbol(symbol), "category": validate_category(category),
            "prefix": prefix}).fetchall()
    except duckdb.Error as exc:
        raise DataError(f"synthetic trades rejected by the store {store.path}: "
                        f"{str(exc).strip().splitlines()[0]}", "report this bug") from None
    finally:
        store.con.unregister("_gl_syn")
    return int(rows[0][0]) if rows else 0
