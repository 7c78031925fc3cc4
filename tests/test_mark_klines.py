"""Mark-price klines: parsing Bybit's rows, REST ingestion into the store (resumable,
idempotent), loading them back."""

from __future__ import annotations

import pytest

from gridlab.bybit.parse import Kline, parse_price_klines
from gridlab.data.ingest_rest import ingest_klines
from gridlab.errors import DataError
from gridlab.store.core import MEMORY, Store
from gridlab.store.price_klines import insert_price_klines, load_price_klines, price_kline_span

T0 = 1_704_067_200_000  # 2024-01-01
M = 60_000


def test_parse_reads_bybits_five_field_rows_oldest_first() -> None:
    rows = [[str(T0 + M), "101.5", "102", "101", "101.7"], [str(T0), "100", "101", "99.5", "101.5"]]
    bars = parse_price_klines(rows)
    assert [b.open_time for b in bars] == [T0, T0 + M]
    assert bars[0] == Kline(T0, 100.0, 101.0, 99.5, 101.5, 0.0, 0.0)


class _Client:
    """What ingest_klines asks of the adapter, serving 1m mark bars of [T0, T0 + 50 min)."""

    category = "linear"
    endpoint = "stub"

    def __init__(self) -> None:
        self.calls = 0

    def for_category(self, category: str) -> _Client:
        return self

    def get_instrument(self, symbol: str) -> object:
        return object()

    def get_server_time(self) -> int:
        return T0 + 50 * M

    def get_mark_price_klines(self, symbol, interval, start, end, limit):
        self.calls += 1
        return [Kline(t, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 0.0, 0.0)
                for i, t in enumerate(range(T0, T0 + 50 * M, M)) if start <= t <= end][-limit:]


def test_ingest_stores_mark_bars_and_resumes_without_duplicates() -> None:
    with Store.open(MEMORY) as s:
        c = _Client()
        rep = ingest_klines(s, c, "BTCUSDT", "linear", "1", T0, None, limit=20, kind="mark")
        assert rep.added == 50 and rep.kind == "mark klines"  # every bar closed by now
        assert price_kline_span(s, "mark", "BTCUSDT", "linear", "1") == (T0, T0 + 49 * M)
        again = ingest_klines(s, c, "BTCUSDT", "linear", "1", T0, None, limit=20, kind="mark")
        assert again.added == 0 and again.fetched == 0  # nothing left to fetch
        bars = load_price_klines(s, "mark", "BTCUSDT", "linear", "1", T0 + M, T0 + 3 * M)
        assert list(bars["open_time"]) == [T0 + M, T0 + 2 * M]
        assert list(bars["close"]) == [101.5, 102.5]
        assert len(load_price_klines(s, "mark", "ETHUSDT", "linear", "1")["open_time"]) == 0


def test_an_unknown_kind_is_refused() -> None:
    import pandas as pd

    with Store.open(MEMORY) as s:
        frame = pd.DataFrame({"kind": ["index"], "symbol": ["BTCUSDT"], "category": ["linear"],
                              "interval": ["1"], "open_time": [T0], "open": [1.0],
                              "high": [1.0], "low": [1.0], "close": [1.0]})
        with pytest.raises(DataError, match="unknown price kline kind"):
            insert_price_klines(s, frame)
