"""What market data the store holds, and where it has holes.

`data_status` gives one row per kline series (symbol, category, interval), per trade stream
(symbol, category) and per funding series (symbol): first/last time, rows, expected rows,
coverage, gaps and the largest ones as [start, end) ranges, duplicates (0 unless something
bypassed the insert functions) and whether the last bar may be partial.

* klines: a gap is a run of missing bars between two stored bars; expected rows are the bars
  from the first to the last; the last bar is flagged partial when it ends after the data
  that built it (trades stored or files ingested for that symbol), or after now.
* trades: a gap is a silence longer than `trade_gap_ms` (default 5 min); coverage is the share
  of the span not inside such silences.
* funding: judged against the instrument's funding interval (`funding_interval_min` of the
  store's instruments row, else the shipped snapshot's; unknown: the most common spacing if
  it is one of Bybit's 1, 2, 4, 8 h, else 8 h; the `interval` column says which, e.g. `8h` or
  `8h?` when guessed), with `gridlab.data.funding.check_funding`, the backtest's check: a gap
  is a run of missing settlements, expected rows are the stored ones plus the missing ones; a
  period at another Bybit interval (the instrument's interval changed) is not a gap.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from gridlab.data.funding import check_funding, interval_ms_of_minutes
from gridlab.data.instruments import snapshot_instrument
from gridlab.errors import DataError
from gridlab.store.core import Store
from gridlab.store.market import (
    PLAUSIBLE_MS,
    first_kline_time,
    get_instrument,
    implausible_time,
    kline_gaps,
    list_symbols,
    load_funding,
    summarize_market,
    validate_interval,
)

__all__ = ["STATUS_COLUMNS", "data_status", "find_kline_gaps", "fmt_ms", "format_status"]

STATUS_COLUMNS = ["kind", "symbol", "category", "interval", "first", "last", "rows",
                  "expected_rows", "coverage_pct", "gaps", "missing", "largest_gap",
                  "gap_ranges", "duplicates", "partial_last"]


def fmt_ms(ms: Any) -> str:
    """Epoch ms as 'YYYY-MM-DD HH:MM' UTC (seconds shown when not whole minutes)."""
    if ms is None or (isinstance(ms, float) and np.isnan(ms)):
        return ""
    ts = pd.Timestamp(int(ms), unit="ms", tz="UTC")
    return ts.strftime("%Y-%m-%d %H:%M:%S" if int(ms) % 60_000 else "%Y-%m-%d %H:%M")


def _ranges(raw: Any) -> list[tuple[int, int]]:
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return []
    try:
        return [(int(a), int(b)) for a, b in raw]
    except TypeError:
        return []


def _largest(ranges: list[tuple[int, int]], unit_ms: int | None) -> str:
    if not ranges:
        return ""
    a, b = ranges[0]
    size = f"{(b - a) // unit_ms} bars" if unit_ms else f"{(b - a) / 60_000:.1f} min"
    return f"{fmt_ms(a)} -> {fmt_ms(b)} ({size})"


def _funding_interval(store: Store, symbol: str, ts: np.ndarray) -> tuple[int, bool]:
    """(interval ms, known): the instrument's funding interval (store, else snapshot), else the
    most common spacing of `ts` if it is one of Bybit's, else 8 h (not known)."""
    for category in ("linear", "inverse"):
        row = get_instrument(store, symbol, category) or snapshot_instrument(symbol, category)
        ms = interval_ms_of_minutes(row.get("funding_interval_min")) if row else 0
        if ms:
            return ms, True
    steps = np.diff(np.unique(ts))
    if len(steps):
        vals, counts = np.unique(steps, return_counts=True)
        guess = interval_ms_of_minutes(int(vals[np.argmax(counts)]) // 60_000)
        if guess and int(vals[np.argmax(counts)]) % 60_000 == 0:
            return guess, False
    return 8 * 3_600_000, False


def find_kline_gaps(store: Store, symbol: str, category: str,
                    interval: str | int) -> list[tuple[int, int]]:
    """Missing bars as [start_ms, end_ms) ranges; end is the open time of the next stored bar.

    A series with no bar at all raises DataError naming the series that are stored.
    """
    key = validate_interval(interval)
    if first_kline_time(store, symbol, category, key) is None:
        stored = [f"{s} {c}" for s, c in list_symbols(store)]
        raise DataError(f"no {key} klines for {symbol} {category} in the store {store.path}",
                        f"stored symbols: {', '.join(stored) or 'none'} (see `gridlab data "
                        "status`); check --symbol, --category and --interval")
    return kline_gaps(store, symbol, category, key)


def data_status(store: Store, trade_gap_ms: int = 300_000, top: int = 3) -> pd.DataFrame:
    """One row per kline series, trade stream and funding series (columns STATUS_COLUMNS).

    first/last are tz-aware UTC timestamps; gap_ranges lists up to `top` largest gaps as
    (start_ms, end_ms); `missing` counts missing bars (klines, funding) or silent minutes
    (trades).
    """
    raw = summarize_market(store, trade_gap_ms, top)
    for kind, frame in raw.items():  # pandas cannot show such times, and the rows are wrong
        for r in frame.itertuples():
            for ms in (int(r.first), int(r.last)):
                if not PLAUSIBLE_MS[0] <= ms < PLAUSIBLE_MS[1]:
                    raise DataError(
                        f"the store {store.path} holds {kind} of {r.symbol} at an implausible "
                        f"{implausible_time(ms)}", "they were stored in the wrong unit: "
                        "re-ingest that data into a fresh store (the ingest refuses such rows)")
    now = int(time.time() * 1000)
    rows: list[dict[str, Any]] = []
    cover: dict[tuple[str, str], int] = {}
    for r in raw["trades"].itertuples(index=False):
        span = int(r.last) - int(r.first)
        ranges = _ranges(r.top_gaps)
        cover[(r.symbol, r.category)] = int(r.cover_end)
        rows.append({
            "kind": "trades", "symbol": r.symbol, "category": r.category, "interval": "",
            "first": int(r.first), "last": int(r.last), "rows": int(r.n),
            "expected_rows": None,
            "coverage_pct": 100.0 * (1 - float(r.silent_ms) / span) if span > 0 else 100.0,
            "gaps": int(r.gaps), "missing": int(float(r.silent_ms) // 60_000),
            "largest_gap": _largest(ranges, None), "gap_ranges": ranges,
            "duplicates": int(r.n) - int(r.n_distinct), "partial_last": None})
    for r in raw["klines"].itertuples(index=False):
        ms = int(r.ms)
        expected = (int(r.last) - int(r.first)) // ms + 1
        ranges = _ranges(r.top_gaps)
        end = int(r.last) + ms
        data_end = cover.get((r.symbol, r.category), now)
        rows.append({
            "kind": "klines", "symbol": r.symbol, "category": r.category,
            "interval": r.interval, "first": int(r.first), "last": int(r.last),
            "rows": int(r.n), "expected_rows": expected,
            "coverage_pct": 100.0 * int(r.n_distinct) / expected,
            "gaps": int(r.gaps), "missing": expected - int(r.n_distinct),
            "largest_gap": _largest(ranges, ms), "gap_ranges": ranges,
            "duplicates": int(r.n) - int(r.n_distinct),
            "partial_last": bool(end > min(data_end, now))})
    for r in raw["funding"].itertuples(index=False):
        ts = load_funding(store, r.symbol)["ts"]
        ms, known = _funding_interval(store, r.symbol, ts)
        check = check_funding(ts, ms, int(r.first), int(r.last))
        ranges = list(check.holes[:top])
        rows.append({
            "kind": "funding", "symbol": r.symbol, "category": "",
            "interval": f"{ms // 3_600_000}h" + ("" if known else "?"),
            "first": int(r.first), "last": int(r.last), "rows": int(r.n),
            "expected_rows": check.expected,
            "coverage_pct": 100.0 * check.stored / check.expected,
            "gaps": len(check.holes), "missing": len(check.missing),
            "largest_gap": _largest(ranges, ms), "gap_ranges": ranges,
            "duplicates": int(r.n) - int(r.n_distinct), "partial_last": None})
    out = pd.DataFrame(rows, columns=STATUS_COLUMNS)
    if not out.empty:
        out["_order"] = out["kind"].map({"klines": 0, "trades": 1, "funding": 2})
        out = (out.sort_values(["symbol", "_order"], kind="stable")
               .drop(columns="_order").reset_index(drop=True))
        for col in ("first", "last"):
            out[col] = pd.to_datetime(out[col].astype("int64"), unit="ms", utc=True)
        out["expected_rows"] = out["expected_rows"].astype("Int64")
        out["partial_last"] = out["partial_last"].astype("boolean")
    return out


def format_status(status: pd.DataFrame) -> str:
    """The status table as fixed-width text for the terminal."""
    if status.empty:
        return ("the store holds no market data: ingest some (`gridlab ingest trades`, "
                "`gridlab synth`)")
    view = pd.DataFrame({
        "kind": status["kind"], "symbol": status["symbol"], "cat": status["category"],
        "iv": status["interval"],
        "first": status["first"].map(lambda t: fmt_ms(t.value // 1_000_000)),
        "last": status["last"].map(lambda t: fmt_ms(t.value // 1_000_000)),
        "rows": status["rows"].map("{:,}".format),
        "expected": status["expected_rows"].map(lambda v: "" if pd.isna(v) else f"{v:,}"),
        "cover%": status["coverage_pct"].map("{:.2f}".format),
        "gaps": status["gaps"], "dups": status["duplicates"],
        "partial": status["partial_last"].map(lambda v: "" if pd.isna(v) else
                                              ("yes" if v else "no")),
        "largest gap": status["largest_gap"],
    })
    return view.to_string(index=False)
