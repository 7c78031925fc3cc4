"""Price klines other than trades (Bybit mark-price klines), tagged by `kind` ('mark').

Stored like klines (table `price_klines`, migration 0014) with OHLC only; a bar already stored
is kept. `load_price_klines` hands back numpy arrays, as `market.load_klines` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gridlab.errors import DataError
from gridlab.store.core import Store, load_sql
from gridlab.store.market import (
    _arrays,
    _bounds,
    _check_values,
    _execute_insert,
    _kline_params,
    _require_columns,
    _span,
)

if TYPE_CHECKING:  # pandas only where bars are inserted: the backtest's load path is numpy
    import pandas as pd

__all__ = ["PRICE_KINDS", "PRICE_KLINE_COLUMNS", "insert_price_klines", "load_price_klines",
           "price_kline_span"]

PRICE_KINDS = ("mark",)
PRICE_KLINE_COLUMNS = ("kind", "symbol", "category", "interval", "open_time", "open", "high",
                       "low", "close")
_DTYPES = {"open_time": np.int64, "open": np.float64, "high": np.float64, "low": np.float64,
           "close": np.float64}


def _kind(kind: str) -> str:
    if kind not in PRICE_KINDS:
        raise DataError(f"unknown price kline kind {kind!r}", f"use one of {PRICE_KINDS}")
    return kind


def insert_price_klines(store: Store, df: pd.DataFrame) -> int:
    """Insert closed price bars (columns PRICE_KLINE_COLUMNS); returns rows added."""
    _require_columns(df, PRICE_KLINE_COLUMNS, "insert_price_klines")
    if df.empty:
        return 0
    import pandas as pd

    for k in pd.unique(df["kind"]):
        _kind(str(k))
    _check_values(df, "insert_price_klines", ("symbol", "category", "interval"))
    return _execute_insert(store, "price_klines_insert", df[list(PRICE_KLINE_COLUMNS)],
                           "insert_price_klines")


def _params(kind: str, symbol: str, category: str, interval: str | int) -> dict[str, Any]:
    return {"kind": _kind(kind)} | _kline_params(symbol, category, interval)


def price_kline_span(store: Store, kind: str, symbol: str, category: str,
                     interval: str | int) -> tuple[int | None, int | None]:
    """(first, last) open time of the stored bars, (None, None) without any."""
    first, last, _n = _span(store, "price_klines_span", _params(kind, symbol, category,
                                                                interval))
    return first, last


def load_price_klines(store: Store, kind: str, symbol: str, category: str,
                      interval: str | int, start_ms: int | None = None,
                      end_ms: int | None = None) -> dict[str, np.ndarray]:
    """Bars with start_ms <= open_time < end_ms, oldest first (open_time, open, high, low,
    close); empty arrays when none are stored."""
    params = _params(kind, symbol, category, interval) | _bounds(start_ms, end_ms)
    return _arrays(store.con.execute(load_sql("price_klines_load"), params).fetchnumpy(),
                   _DTYPES)
