"""Market data in the store: klines, trades, funding, instruments.

Times are int64 epoch milliseconds (UTC); intervals use Bybit's spelling ('1', '5', '60', 'D',
'W'). Inserts are bulk (a DataFrame, an Arrow table or a mapping of numpy columns registered
with DuckDB, then one INSERT … SELECT) and idempotent: re-inserting stored rows adds nothing,
and each call returns the number of rows actually added. Loaders return dicts of contiguous
numpy arrays ready for numba kernels.

Keys: klines (symbol, category, interval, open_time); trades (symbol, category, trade_id),
enforced by the insert path rather than an index (see migrations/0001_market.sql); funding
(symbol, ts); instruments (symbol, category), where a newer `fetched_at` replaces the row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from gridlab.errors import DataError
from gridlab.store.core import Store, load_sql

if TYPE_CHECKING:
    import pandas as pd

Frame = Any
"""A pandas DataFrame, or a mapping of equal-length columns (numpy arrays or lists)."""

__all__ = [
    "CATEGORIES",
    "INTERVALS",
    "INTERVAL_MS",
    "PLAUSIBLE_MS",
    "bar_open_time",
    "check_plausible",
    "count_trades",
    "first_kline_time",
    "fmt_utc",
    "get_instrument",
    "implausible_time",
    "insert_funding",
    "insert_klines",
    "insert_trades",
    "interval_ms",
    "kline_gaps",
    "last_funding_time",
    "last_kline_time",
    "last_trade_time",
    "list_symbols",
    "load_funding",
    "load_klines",
    "load_trades",
    "resample_trades",
    "row_of",
    "summarize_market",
    "trade_gaps",
    "trade_span",
    "upsert_instruments",
    "validate_category",
    "validate_interval",
    "validate_symbol",
]

_MIN = 60_000
INTERVAL_MS: dict[str, int] = {
    "1": _MIN, "3": 3 * _MIN, "5": 5 * _MIN, "15": 15 * _MIN, "30": 30 * _MIN,
    "60": 60 * _MIN, "120": 120 * _MIN, "240": 240 * _MIN, "360": 360 * _MIN,
    "720": 720 * _MIN, "D": 1440 * _MIN, "W": 7 * 1440 * _MIN,
}
INTERVALS: tuple[str, ...] = tuple(INTERVAL_MS)
# Bybit's weekly bars open on Monday 00:00 UTC; the epoch was a Thursday, Monday is 4 days later.
_INTERVAL_OFFSET: dict[str, int] = {"W": 4 * 1440 * _MIN}
# Case-sensitive on purpose: '1M' (a month elsewhere) must not become one minute.
_ALIASES = {"1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120",
            "4h": "240", "6h": "360", "12h": "720", "1d": "D", "1D": "D", "d": "D", "1w": "W",
            "1W": "W", "w": "W"}
CATEGORIES: tuple[str, ...] = ("linear", "inverse", "spot")
_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,29}$")
_I64_MIN = -(2**63)
PLAUSIBLE_MS: tuple[int, int] = (1_420_070_400_000, 4_102_444_800_000)
"""Market times outside [2015-01-01, 2100-01-01) UTC are refused as implausible (a unit error)."""
_I64_MAX = 2**63 - 1

KLINE_COLUMNS = ("symbol", "category", "interval", "open_time", "open", "high", "low", "close",
                 "volume", "turnover")
TRADE_COLUMNS = ("symbol", "category", "ts", "price", "size", "side", "trade_id", "seq")
FUNDING_COLUMNS = ("symbol", "ts", "rate")
INSTRUMENT_COLUMNS = ("symbol", "category", "tick_size", "qty_step", "min_qty", "min_notional",
                      "max_qty", "fetched_at", "max_leverage", "funding_interval_min", "origin")
_INSTRUMENT_DEFAULTS = {"max_leverage": 0.0, "funding_interval_min": 0, "origin": ""}

_HOW_TO_INGEST = ("ingest it first: `gridlab ingest trades FILE|FOLDER|URL`, `gridlab ingest "
                  "resample`, the REST ingest (`gridlab ingest klines`), or `gridlab synth`")


# -- validation ------------------------------------------------------------------------------
def validate_symbol(symbol: str) -> str:
    """Return `symbol` if it looks like a Bybit symbol (upper case, e.g. BTCUSDT)."""
    if not isinstance(symbol, str) or not _SYMBOL_RE.match(symbol):
        raise DataError(f"invalid symbol {symbol!r}",
                        "use Bybit's upper-case spelling, e.g. BTCUSDT")
    return symbol


def validate_category(category: str) -> str:
    """Return `category` if it is one of linear, inverse, spot."""
    if category not in CATEGORIES:
        raise DataError(f"invalid category {category!r}", f"use one of {', '.join(CATEGORIES)}")
    return category


def validate_interval(interval: str | int) -> str:
    """Return Bybit's spelling of `interval` ('1m'/'1h'/'1d' and ints are accepted as aliases)."""
    key = str(interval).strip()
    key = _ALIASES.get(key, key)
    if key not in INTERVAL_MS:
        raise DataError(f"unknown interval {interval!r}",
                        f"use one of {', '.join(INTERVALS)} (minutes, D = day, W = week)")
    return key


def interval_ms(interval: str | int) -> int:
    """Length of one bar in milliseconds."""
    return INTERVAL_MS[validate_interval(interval)]


def bar_open_time(ts_ms: int, interval: str | int) -> int:
    """Open time of the bar of `interval` that contains `ts_ms`."""
    key = validate_interval(interval)
    ms, off = INTERVAL_MS[key], _INTERVAL_OFFSET.get(key, 0)
    return (int(ts_ms) - off) // ms * ms + off


def fmt_utc(ms: int) -> str:
    """UTC ISO text of epoch ms; a year outside 1..9999 is shown as its number."""
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return f"year {1970 + ms / 31_556_952_000:,.0f}"


def implausible_time(ms: int) -> str:
    """Why `ms` (outside PLAUSIBLE_MS) is implausible, naming the likely unit mistake."""
    if ms >= PLAUSIBLE_MS[1]:
        return (f"time {ms} ({fmt_utc(ms)}) is after 2100: milliseconds read as seconds, or "
                "microseconds read as milliseconds?")
    return (f"time {ms} ({fmt_utc(ms)}) is before 2015: seconds read as milliseconds?")


def check_plausible(lo: int, hi: int, what: str) -> None:
    """DataError if the span [lo, hi] (epoch ms) leaves PLAUSIBLE_MS."""
    for ms in (lo, hi):
        if not PLAUSIBLE_MS[0] <= ms < PLAUSIBLE_MS[1]:
            raise DataError(f"{what}: {implausible_time(int(ms))}",
                            "times must be epoch milliseconds (UTC); convert the column")


def _where(store: Store) -> str:
    return str(store.path)


def row_of(con: duckdb.DuckDBPyConnection, sql_name: str,
         params: dict[str, Any] | None = None) -> tuple[Any, ...] | None:
    """First row of a query, the result drained (an undrained result blocks the connection)."""
    rows = con.execute(load_sql(sql_name), params or {}).fetchall()
    return rows[0] if rows else None


# -- bulk inserts ----------------------------------------------------------------------------
@contextmanager
def _registered(store: Store, frame: Any) -> Iterator[None]:
    store.con.register("_gl_in", frame)
    try:
        yield
    finally:
        with suppress(duckdb.Error):  # e.g. inside a transaction DuckDB already aborted
            store.con.unregister("_gl_in")


def _require_columns(df: Frame, columns: tuple[str, ...], what: str,
                     optional: tuple[str, ...] = ()) -> Frame:
    """`df` if it is a pandas DataFrame, or a mapping of equal-length columns (numpy arrays or
    lists: what DuckDB scans without pandas), holding `columns` (`optional` may be missing)."""
    import sys

    pd = sys.modules.get("pandas")  # a DataFrame implies pandas is imported: never import it
    if pd is not None and isinstance(df, pd.DataFrame):
        names = list(df.columns)
    elif isinstance(df, Mapping) and len({len(v) for v in df.values()}) <= 1:
        names = list(df)
    else:
        raise DataError(f"{what}: expected a pandas DataFrame or a mapping of equal-length "
                        f"columns, got {type(df).__name__}",
                        f"pass a DataFrame with columns {', '.join(columns)}")
    missing = [c for c in columns if c not in names and c not in optional]
    if missing:
        raise DataError(f"{what}: missing column(s) {', '.join(missing)}",
                        f"the frame needs {', '.join(columns)}")
    return df


def _n_rows(df: Frame) -> int:
    return len(df) if not isinstance(df, Mapping) else len(next(iter(df.values()), ()))


def _select(df: Frame, columns: list[str]) -> Frame:
    """The columns of `df`, in that order (a mapping's as numpy arrays: DuckDB scans those)."""
    if not isinstance(df, Mapping):
        return df[columns]
    out = {}
    for c in columns:
        a = np.asarray(df[c])
        out[c] = a.astype(object) if a.dtype.kind == "U" else a
    return out


def _strict_interval(value: Any) -> str:
    if str(value) not in INTERVAL_MS:
        raise DataError(f"unknown interval {value!r}", f"use one of {', '.join(INTERVALS)}")
    return str(value)


_VALUE_CHECKS = {"symbol": validate_symbol, "category": validate_category,
                 "interval": _strict_interval}


def _check_values(df: Frame, what: str, columns: tuple[str, ...]) -> None:
    for col in columns:
        for value in dict.fromkeys(np.asarray(df[col], dtype=object).tolist()):
            try:
                _VALUE_CHECKS[col](value)
            except DataError as exc:
                raise DataError(f"{what}: {exc.message}", exc.hint) from None


def _execute_insert(store: Store, sql_name: str, frame: Any, what: str,
                    params: dict[str, Any] | None = None) -> int:
    try:
        with _registered(store, frame), store.transaction() as con:
            row = row_of(con, sql_name, params)
    except (duckdb.ConversionException, duckdb.ConstraintException,
            duckdb.InvalidInputException, duckdb.BinderException) as exc:
        text = str(exc).strip().splitlines()[0]
        raise DataError(f"{what}: rejected by the store {_where(store)}: {text}",
                        "check the column types (times int64 epoch ms, prices float) and "
                        "that no value is missing") from None
    return int(row[0]) if row else 0


def insert_klines(store: Store, df: Frame) -> int:
    """Insert klines; bars already stored are kept as they are. Returns rows added.

    Columns: symbol, category, interval (Bybit spelling), open_time (epoch ms), open, high, low,
    close, volume, turnover. Insert closed bars only: a stored bar is never overwritten.
    """
    _require_columns(df, KLINE_COLUMNS, "insert_klines")
    if not _n_rows(df):
        return 0
    _check_values(df, "insert_klines", ("symbol", "category", "interval"))
    return _execute_insert(store, "market_insert_klines", _select(df, list(KLINE_COLUMNS)),
                           "insert_klines")


def insert_trades(store: Store, df: Frame) -> int:
    """Insert trades; ids already stored (and repeats inside `df`) are skipped. Returns rows added.

    Columns: symbol, category, ts (epoch ms), price, size, side ('Buy'/'Sell': the aggressor),
    trade_id (text), seq (int64 order within the source; optional, defaults to the row order).
    """
    _require_columns(df, TRADE_COLUMNS, "insert_trades", optional=("seq",))
    import pandas as pd

    df = pd.DataFrame(df) if isinstance(df, Mapping) else df
    if df.empty:
        return 0
    _check_values(df, "insert_trades", ("symbol", "category"))
    frame = df[[c for c in TRADE_COLUMNS if c in df.columns]]
    if "seq" not in frame.columns:
        frame = frame.assign(seq=np.arange(len(frame), dtype=np.int64))
    import pyarrow as pa

    frame = pa.Table.from_pandas(frame, preserve_index=False)  # Arrow scans faster
    try:
        with _registered(store, frame):
            check = row_of(store.con, "market_check_trades")
    except (duckdb.ConversionException, duckdb.InvalidInputException,
            duckdb.BinderException) as exc:
        raise DataError(f"insert_trades: {str(exc).strip().splitlines()[0]}",
                        "ts and seq must be int64, price and size numbers") from None
    assert check is not None
    _n, lo, hi, n_null, n_side, bad_side, n_value, n_repeat = check
    if n_null:
        raise DataError(f"insert_trades: {n_null} row(s) have missing values",
                        "drop or fill them before inserting")
    if n_side:
        raise DataError(f"insert_trades: {n_side} row(s) have side {bad_side!r}",
                        "side must be 'Buy' or 'Sell' (the aggressor)")
    if n_value:
        raise DataError(f"insert_trades: {n_value} row(s) have a non-positive or non-finite "
                        "price or size", "drop them before inserting")
    check_plausible(int(lo), int(hi), "insert_trades")
    sql_name = "market_insert_trades_dedupe" if n_repeat else "market_insert_trades"
    return _execute_insert(store, sql_name, frame, "insert_trades",
                           {"lo": int(lo), "hi": int(hi)})


def insert_funding(store: Store, df: Frame) -> int:
    """Insert funding rates (columns symbol, ts, rate); stored (symbol, ts) kept. Rows added."""
    _require_columns(df, FUNDING_COLUMNS, "insert_funding")
    if not _n_rows(df):
        return 0
    _check_values(df, "insert_funding", ("symbol",))
    return _execute_insert(store, "market_insert_funding", _select(df, list(FUNDING_COLUMNS)),
                           "insert_funding")


def upsert_instruments(store: Store, df: Frame) -> int:
    """Insert or replace instrument filters; a stored row with a newer fetched_at is kept.

    Columns: symbol, category, tick_size, qty_step, min_qty, min_notional, max_qty,
    fetched_at (epoch ms); optional max_leverage (0 = unknown), funding_interval_min (0 for
    spot or unknown), origin (rest, file:NAME, snapshot:DATE). Returns the rows inserted or
    replaced.
    """
    _require_columns(df, INSTRUMENT_COLUMNS, "upsert_instruments",
                     optional=tuple(_INSTRUMENT_DEFAULTS))
    n = _n_rows(df)
    if not n:
        return 0
    _check_values(df, "upsert_instruments", ("symbol", "category"))
    have = list(df) if isinstance(df, Mapping) else list(df.columns)
    fill = {k: v for k, v in _INSTRUMENT_DEFAULTS.items() if k not in have}
    frame = ({**df, **{k: [v] * n for k, v in fill.items()}} if isinstance(df, Mapping)
             else df.assign(**fill))
    return _execute_insert(store, "market_upsert_instruments",
                           _select(frame, list(INSTRUMENT_COLUMNS)), "upsert_instruments")


# -- spans -----------------------------------------------------------------------------------
def _span(store: Store, sql_name: str, params: dict[str, Any]) -> tuple[int | None, int | None,
                                                                        int]:
    row = row_of(store.con, sql_name, params)
    if row is None or not row[2]:
        return None, None, 0
    return int(row[0]), int(row[1]), int(row[2])


def _kline_params(symbol: str, category: str, interval: str | int) -> dict[str, Any]:
    return {"symbol": validate_symbol(symbol), "category": validate_category(category),
            "interval": validate_interval(interval)}


def first_kline_time(store: Store, symbol: str, category: str, interval: str | int) -> int | None:
    """Open time of the first stored bar, or None."""
    return _span(store, "market_kline_span", _kline_params(symbol, category, interval))[0]


def last_kline_time(store: Store, symbol: str, category: str, interval: str | int) -> int | None:
    """Open time of the last stored bar, or None (REST ingestion resumes after it)."""
    return _span(store, "market_kline_span", _kline_params(symbol, category, interval))[1]


def last_trade_time(store: Store, symbol: str, category: str) -> int | None:
    """Time of the last stored trade, or None."""
    params = {"symbol": validate_symbol(symbol), "category": validate_category(category)}
    return _span(store, "market_trade_span", params)[1]


def trade_span(store: Store, symbol: str, category: str) -> tuple[int, int] | None:
    """(time of the first, time of the last) stored trade, or None when there is none."""
    params = {"symbol": validate_symbol(symbol), "category": validate_category(category)}
    first, last, n = _span(store, "market_trade_span", params)
    if not n or first is None or last is None:
        return None
    return first, last


def count_trades(store: Store, symbol: str, category: str, start_ms: int | None = None,
                 end_ms: int | None = None, *, not_prefix: str | None = None) -> int:
    """Stored trades in [start_ms, end_ms), optionally only those whose id lacks `not_prefix`."""
    params = {"symbol": validate_symbol(symbol), "category": validate_category(category),
              "not_prefix": not_prefix} | _bounds(start_ms, end_ms)
    row = row_of(store.con, "market_count_trades", params)
    return int(row[0]) if row else 0


def last_funding_time(store: Store, symbol: str) -> int | None:
    """Time of the last stored funding rate, or None."""
    return _span(store, "market_funding_span", {"symbol": validate_symbol(symbol)})[1]


# -- loading ---------------------------------------------------------------------------------
def _bounds(start_ms: int | None, end_ms: int | None) -> dict[str, int]:
    start = _I64_MIN if start_ms is None else int(start_ms)
    end = _I64_MAX if end_ms is None else int(end_ms)
    if end < start:
        raise DataError(f"end {end_ms} is before start {start_ms}", "swap them")
    return {"start": start, "end": end}


def _arrays(result: dict[str, np.ndarray], dtypes: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.ascontiguousarray(np.asarray(result[k]), dtype=dt) for k, dt in dtypes.items()}


def _no_data(what: str, store: Store) -> DataError:
    return DataError(f"no {what} in the store {_where(store)}", _HOW_TO_INGEST)


_KLINE_DTYPES = {"open_time": np.int64, "open": np.float64, "high": np.float64,
                 "low": np.float64, "close": np.float64, "volume": np.float64,
                 "turnover": np.float64}


def load_klines(store: Store, symbol: str, category: str, interval: str | int,
                start_ms: int | None = None, end_ms: int | None = None) -> dict[str, np.ndarray]:
    """Bars with start_ms <= open_time < end_ms, ordered by open_time.

    Keys open_time (int64), open, high, low, close, volume, turnover (float64). A symbol/
    category/interval with no bars at all raises DataError; an empty window returns empty arrays.
    """
    params = _kline_params(symbol, category, interval) | _bounds(start_ms, end_ms)
    out = _arrays(store.con.execute(load_sql("market_load_klines"), params).fetchnumpy(),
                  _KLINE_DTYPES)
    if not len(out["open_time"]) and first_kline_time(store, symbol, category, interval) is None:
        raise _no_data(f"{params['interval']} klines for {symbol} {category}", store)
    return out


def load_trades(store: Store, symbol: str, category: str, start_ms: int | None = None,
                end_ms: int | None = None) -> dict[str, np.ndarray]:
    """Trades with start_ms <= ts < end_ms, ordered by (ts, seq).

    Keys ts (int64 ms), price, size (float64), side (int8: +1 the buyer was the aggressor,
    -1 the seller). No trades at all for the symbol raises DataError; an empty window returns
    empty arrays.
    """
    params = {"symbol": validate_symbol(symbol), "category": validate_category(category)}
    params |= _bounds(start_ms, end_ms)
    out = _arrays(store.con.execute(load_sql("market_load_trades"), params).fetchnumpy(),
                  {"ts": np.int64, "price": np.float64, "size": np.float64, "side": np.int8})
    if not len(out["ts"]) and last_trade_time(store, symbol, category) is None:
        raise _no_data(f"trades for {symbol} {category}", store)
    return out


def load_funding(store: Store, symbol: str, start_ms: int | None = None,
                 end_ms: int | None = None) -> dict[str, np.ndarray]:
    """Funding rates with start_ms <= ts < end_ms: keys ts (int64 ms), rate (float64).

    No funding at all for the symbol raises DataError; an empty window returns empty arrays.
    """
    params = {"symbol": validate_symbol(symbol)} | _bounds(start_ms, end_ms)
    out = _arrays(store.con.execute(load_sql("market_load_funding"), params).fetchnumpy(),
                  {"ts": np.int64, "rate": np.float64})
    if not len(out["ts"]) and last_funding_time(store, symbol) is None:
        raise _no_data(f"funding rates for {symbol}", store)
    return out


def get_instrument(store: Store, symbol: str, category: str) -> dict[str, Any] | None:
    """Instrument filters (tick_size, qty_step, min_qty, min_notional, max_qty, max_leverage,
    funding_interval_min, origin, fetched_at) or None."""
    params = {"symbol": validate_symbol(symbol), "category": validate_category(category)}
    row = row_of(store.con, "market_get_instrument", params)
    if row is None:
        return None
    return dict(zip(INSTRUMENT_COLUMNS, row, strict=True))


def list_symbols(store: Store) -> list[tuple[str, str]]:
    """Sorted (symbol, category) pairs with any market data (funding-only symbols as linear)."""
    return [(str(s), str(c)) for s, c in store.con.execute(load_sql("market_list_symbols"))
            .fetchall()]


# -- resampling ------------------------------------------------------------------------------
def resample_trades(store: Store, symbol: str, category: str, interval: str | int,
                    start_ms: int | None = None, end_ms: int | None = None) -> int:
    """Build klines of `interval` from stored trades in DuckDB and upsert them; returns new bars.

    Every bar that has at least one trade is written (no empty bars: a silent bar is a gap);
    open/close are the first/last trade by (ts, seq), volume the sum of sizes, turnover the
    sum of price*size (size/price for inverse). Bars are rewritten on each run, so a bar that
    was partial when the data ended mid-bar is completed once more trades arrive;
    `data_status` flags a last bar the trades do not cover to its end. The optional window is
    widened to whole bars.
    """
    params = _kline_params(symbol, category, interval)
    key = params["interval"]
    ms, off = INTERVAL_MS[key], _INTERVAL_OFFSET.get(key, 0)
    first, last, _n = _span(store, "market_trade_span",
                            {"symbol": params["symbol"], "category": params["category"]})
    if first is None or last is None:
        raise _no_data(f"trades for {symbol} {category} to resample", store)
    lo = bar_open_time(first if start_ms is None else max(first, int(start_ms)), key)
    hi_ts = last + 1 if end_ms is None else min(last + 1, int(end_ms))
    if hi_ts <= lo:
        return 0
    hi = bar_open_time(hi_ts - 1, key) + ms
    params |= {"ms": ms, "offset": off, "lo": lo, "hi": hi}
    count_params = {k: params[k] for k in ("symbol", "category", "interval", "lo", "hi")}
    with store.transaction() as con:
        before = row_of(con, "market_count_klines", count_params)
        row_of(con, "market_resample_trades", params)
        after = row_of(con, "market_count_klines", count_params)
    assert before is not None and after is not None
    return int(after[0]) - int(before[0])


# -- status (used by gridlab.data.status) ---------------------------------------------------
def kline_gaps(store: Store, symbol: str, category: str,
               interval: str | int) -> list[tuple[int, int]]:
    """Missing bars as [start_ms, end_ms) ranges (end = open time of the next stored bar)."""
    params = _kline_params(symbol, category, interval)
    params["ms"] = INTERVAL_MS[params["interval"]]
    rows = store.con.execute(load_sql("market_kline_gaps"), params).fetchall()
    return [(int(a), int(b)) for a, b in rows]


def trade_gaps(store: Store, symbol: str, category: str,
               min_gap_ms: int) -> list[tuple[int, int]]:
    """Silences longer than `min_gap_ms` (>= 1000) as (last trade before, first trade after)."""
    if min_gap_ms < 1000:
        raise DataError(f"a trade gap must be at least 1000 ms, got {min_gap_ms}",
                        "pass a larger threshold")
    params = {"symbol": validate_symbol(symbol), "category": validate_category(category),
              "gap_ms": int(min_gap_ms)}
    rows = store.con.execute(load_sql("market_trade_gaps"), params).fetchall()
    return [(int(a), int(b)) for a, b in rows]


def summarize_market(store: Store, trade_gap_ms: int, top: int = 3) -> dict[str, pd.DataFrame]:
    """Raw per-series summaries for data_status: keys 'klines', 'trades', 'funding'."""
    if trade_gap_ms < 1000:
        raise DataError(f"a trade gap must be at least 1000 ms, got {trade_gap_ms}",
                        "pass a larger threshold")
    con = store.con
    return {
        "klines": con.execute(load_sql("status_klines"), {
            "names": list(INTERVAL_MS), "ms": list(INTERVAL_MS.values()), "top": top}).df(),
        "trades": con.execute(load_sql("status_trades"),
                              {"gap_ms": int(trade_gap_ms), "top": top}).df(),
        "funding": con.execute(load_sql("status_funding")).df(),
    }
