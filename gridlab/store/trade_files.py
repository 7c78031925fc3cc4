"""Trade dump files in the store: staging a Bybit CSV, checking it, inserting it in one
transaction, and the log of ingested files (table `trade_files`). Used by gridlab.data.files."""

from __future__ import annotations

import re
import time
from contextlib import suppress
from pathlib import Path

import duckdb

from gridlab.errors import DataError, StoreError
from gridlab.store.core import Store, load_sql, quiet_connection
from gridlab.store.market import PLAUSIBLE_MS, fmt_utc, implausible_time, row_of

__all__ = [
    "STAGE_SLOTS",
    "drop_staged",
    "ingest_trade_csv",
    "insert_staged_trades",
    "log_trade_file",
    "stage_trade_csv",
    "staging_cursor",
    "trade_file_seen",
]


def trade_file_seen(store: Store, symbol: str, category: str, source: str,
                    nbytes: int) -> dict[str, int] | None:
    """The log row of a trade file already ingested (same name and size), or None."""
    row = row_of(store.con, "trade_files_seen", {
        "symbol": symbol, "category": category, "source": source, "bytes": int(nbytes)})
    if row is None:
        return None
    return {"rows_read": int(row[0]), "rows_added": int(row[1]), "ingested_at": int(row[2])}


def log_trade_file(store: Store, *, source: str, symbol: str, category: str, nbytes: int,
                   cover: tuple[int, int], rows_read: int, rows_added: int) -> None:
    """Record what a trade file (or synthetic batch) covered and added."""
    row_of(store.con, "trade_files_log", {
        "source": source, "symbol": symbol, "category": category, "bytes": int(nbytes),
        "cover_start": int(cover[0]), "cover_end": int(cover[1]), "rows_read": int(rows_read),
        "rows_added": int(rows_added), "ingested_at": int(time.time() * 1000)})


_CSV_LINE_RE = re.compile(r"CSV Error on Line: (\d+)")


def _csv_error(path: Path, exc: duckdb.Error) -> str:
    """One line out of DuckDB's multi-line CSV error: the line number and what went wrong."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    head = re.sub(r"^[A-Za-z ]*Error: ", "", lines[0] if lines else type(exc).__name__)
    m = _CSV_LINE_RE.search(text)
    if not m:
        return head.replace(f": {path}", "").replace(str(path), path.name)
    detail = next((ln for ln in lines[1:] if not ln.startswith("Original Line")), head)
    conv = re.match(r'Error when converting column "([^"]+)"\. (.*)', detail)
    if conv:
        detail = f"column {conv.group(1)}: {conv.group(2)[0].lower()}{conv.group(2)[1:]}"
    return f"line {m.group(1)}: {detail}"


# Staging slots (whitelisted identifiers): 0 and 1 are tables of the attached in-memory database
# gl_stage, filled from a worker thread's cursor; 2 and 3 are temp tables of the store's own
# connection (usable inside a caller's transaction, which may write to one database only).
STAGE_SLOTS: tuple[str, ...] = ("gl_stage.slot0", "gl_stage.slot1", "_gl_slot2", "_gl_slot3")
_TRADE_FILE_FIX = "re-download the file (it may be truncated or not a Bybit trade dump)"


def _stage_sql(name: str, slot: int) -> str:
    table = STAGE_SLOTS[slot]
    create = f"CREATE OR REPLACE {'TABLE' if '.' in table else 'TEMP TABLE'} {table}"
    return load_sql(name).replace("{create}", create).replace("{stage}", table)


def staging_cursor(store: Store) -> duckdb.DuckDBPyConnection:
    """A second connection to the store for staging files from a worker thread."""
    store.con.execute("ATTACH IF NOT EXISTS ':memory:' AS gl_stage")
    cur = store.con.cursor()
    quiet_connection(cur)
    return cur


def stage_trade_csv(store: Store, path: Path, *, fmt: str, columns: dict[str, str],
                    compression: str = "auto", slot: int = 0,
                    con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Read one Bybit trade dump (`fmt` 'derivatives' or 'spot') into staging slot `slot`.

    Staging tables are in memory (slots 0/1: an attached database, filled through a
    `staging_cursor` from a worker thread, since DuckDB reads a gzip file on one core and the
    next file can be read while this one is inserted; slots 2/3: temp tables of the store's
    connection), so the store file does not change. Unreadable input raises DataError naming
    the file and line.
    """
    if fmt not in ("derivatives", "spot"):
        raise ValueError(f"unknown trade file format {fmt!r}")
    if store.read_only:
        raise StoreError(f"the store {store.path} is open read-only", "open it read-write")
    if con is None:
        con = store.con
        if "." in STAGE_SLOTS[slot]:  # (a staging_cursor has attached it already)
            con.execute("ATTACH IF NOT EXISTS ':memory:' AS gl_stage")
    try:
        con.execute(_stage_sql(f"trades_stage_{fmt}", slot),
                    {"path": str(path), "columns": columns, "compression": compression})
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.IOException | duckdb.OutOfMemoryException) and (
                "space" in str(exc).lower() or "memory" in str(exc).lower()):
            raise StoreError(f"staging {path.name} failed: {_csv_error(path, exc)}",
                             "free memory / disk space and run again") from None
        raise DataError(f"cannot read trade file {path.name}: {_csv_error(path, exc)}",
                        _TRADE_FILE_FIX) from None


def drop_staged(store: Store, slot: int) -> None:
    """Drop staging slot `slot` (no error if it does not exist)."""
    with suppress(duckdb.Error):
        store.con.execute(f"DROP TABLE IF EXISTS {STAGE_SLOTS[slot]}")


def insert_staged_trades(store: Store, *, slot: int, name: str, fmt: str, symbol: str,
                         category: str, source: str, nbytes: int,
                         cover: tuple[int, int] | None) -> tuple[int, int]:
    """Check the staged file and insert its new trades in one transaction, logging the file.

    seq is the line order in the file. A missing value, a side other than Buy/Sell, a
    non-positive price or size, or another symbol raises DataError naming the file and line;
    nothing is stored then. Returns (rows_read, rows_added). The slot is left for drop_staged.
    """
    con = store.con
    lo_c, hi_c = cover if cover is not None else (PLAUSIBLE_MS[0], PLAUSIBLE_MS[1])
    row = con.execute(_stage_sql("trades_check_stage", slot), {
        "min_ts": PLAUSIBLE_MS[0], "max_ts": PLAUSIBLE_MS[1], "cover_lo": int(lo_c),
        "cover_hi": int(hi_c)}).fetchall()[0]
    (n, lo, hi, sym_lo, sym_hi, null_row, side_row, value_row, rid_lo, rid_hi,
     time_row, time_ts, cover_row, cover_ts) = row
    if not n:
        raise DataError(f"trade file {name} holds no trades", _TRADE_FILE_FIX)
    if rid_hi - rid_lo != n - 1:  # pragma: no cover - DuckDB stopped numbering rows in order
        raise StoreError(f"staging {name} did not keep the file order", "report this bug")
    for bad, what in ((null_row, "a missing value"), (side_row, "a side that is not Buy/Sell"),
                      (value_row, "a non-positive price or size")):
        if bad is not None:
            raise DataError(f"trade file {name}, line {int(bad) - int(rid_lo) + 2}: {what}",
                            _TRADE_FILE_FIX)
    if time_row is not None:
        line = int(time_row) - int(rid_lo) + 2
        unit = "seconds" if fmt == "derivatives" else "milliseconds"
        raise DataError(f"trade file {name}, line {line}: {implausible_time(int(time_ts))}",
                        f"Bybit's {fmt} dumps give the time in {unit}: convert the timestamp "
                        "column, or re-download the file from public.bybit.com")
    if cover_row is not None:
        line = int(cover_row) - int(rid_lo) + 2
        raise DataError(f"trade file {name}, line {line}: time {fmt_utc(int(cover_ts))} is "
                        f"outside the day its name says ({fmt_utc(lo_c)[:10]})",
                        "rename the file to the day it holds (SYMBOL_YYYY-MM-DD.csv.gz), or "
                        "split it by UTC day")
    if fmt == "derivatives" and (sym_lo != sym_hi or sym_lo != symbol):
        found = sym_lo if sym_lo == sym_hi else f"{sym_lo}..{sym_hi}"
        raise DataError(f"trade file {name} holds symbol {found}, expected {symbol}",
                        "check --symbol, or split the file by symbol")
    with store.transaction():
        added_rows = con.execute(_stage_sql("trades_insert_stage", slot), {
            "symbol": symbol, "category": category, "lo": int(lo), "hi": int(hi),
            "rowid_lo": int(rid_lo)}).fetchall()
        added = int(added_rows[0][0]) if added_rows else 0
        span = cover if cover is not None else (int(lo), int(hi) + 1)
        log_trade_file(store, source=source, symbol=symbol, category=category, nbytes=nbytes,
                       cover=span, rows_read=int(n), rows_added=added)
    return int(n), added


def ingest_trade_csv(store: Store, path: Path, *, fmt: str, columns: dict[str, str],
                     symbol: str, category: str, source: str, nbytes: int,
                     cover: tuple[int, int] | None, compression: str = "auto") -> tuple[int, int]:
    """Stage, check and insert one Bybit trade dump (see stage_trade_csv, insert_staged_trades).

    Nothing from a bad file is stored. Returns (rows_read, rows_added).
    """
    try:
        stage_trade_csv(store, path, fmt=fmt, columns=columns, compression=compression, slot=2)
        return insert_staged_trades(store, slot=2, name=path.name, fmt=fmt, symbol=symbol,
                                    category=category, source=source, nbytes=nbytes,
                                    cover=cover)
    finally:
        drop_staged(store, 2)
