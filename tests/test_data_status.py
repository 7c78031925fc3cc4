"""Data status: coverage, gaps as ranges, duplicates, partial last bars, the CLI table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridlab.cli import app
from gridlab.data.status import STATUS_COLUMNS, data_status, find_kline_gaps, format_status
from gridlab.errors import DataError
from gridlab.store import market, trade_files
from gridlab.store.core import Store

T0 = 1_704_067_200_000
M = 60_000


def bars(minutes: list[int] | np.ndarray, interval: str = "1") -> pd.DataFrame:
    ms = market.INTERVAL_MS[interval]
    t = T0 + np.asarray(minutes, dtype=np.int64) * ms
    return pd.DataFrame({"symbol": "BTCUSDT", "category": "linear", "interval": interval,
                         "open_time": t, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                         "volume": 1.0, "turnover": 1.0})


def test_kline_gaps_as_ranges(tmp_store: Store) -> None:
    present = [m for m in range(100) if not (10 <= m < 13 or m == 50 or 70 <= m < 80)]
    market.insert_klines(tmp_store, bars(present))
    gaps = find_kline_gaps(tmp_store, "BTCUSDT", "linear", "1")
    assert gaps == [(T0 + 10 * M, T0 + 13 * M), (T0 + 50 * M, T0 + 51 * M),
                    (T0 + 70 * M, T0 + 80 * M)]
    status = data_status(tmp_store)
    assert list(status.columns) == STATUS_COLUMNS
    row = status.iloc[0]
    assert (row["kind"], row["interval"], row["rows"], row["expected_rows"]) == (
        "klines", "1", 86, 100)
    assert row["gaps"] == 3 and row["missing"] == 14 and row["duplicates"] == 0
    assert row["coverage_pct"] == 86.0
    assert row["gap_ranges"] == [(T0 + 70 * M, T0 + 80 * M), (T0 + 10 * M, T0 + 13 * M),
                                 (T0 + 50 * M, T0 + 51 * M)]  # largest first
    assert row["largest_gap"] == "2024-01-01 01:10 -> 2024-01-01 01:20 (10 bars)"
    assert row["first"] == pd.Timestamp(T0, unit="ms", tz="UTC")
    assert not row["partial_last"]  # no trades: compared with now


def test_weekly_and_daily_bars(tmp_store: Store) -> None:
    market.insert_klines(tmp_store, bars([0, 1, 3], "W"))
    market.insert_klines(tmp_store, bars(range(10), "D"))
    assert find_kline_gaps(tmp_store, "BTCUSDT", "linear", "W") == [
        (T0 + 2 * 7 * 86_400_000, T0 + 3 * 7 * 86_400_000)]
    status = data_status(tmp_store)
    assert status["interval"].tolist() == ["D", "W"]
    assert status["coverage_pct"].tolist() == [100.0, 75.0]


def test_trades_silences_partial_bar_and_duplicates(tmp_store: Store) -> None:
    ts = np.r_[T0 + np.arange(0, 10 * M, 1000), T0 + 30 * M + np.arange(0, 120_000, 1000)]
    df = pd.DataFrame({"symbol": "BTCUSDT", "category": "linear", "ts": ts, "price": 100.0,
                       "size": 1.0, "side": "Buy",
                       "trade_id": [f"t{i}" for i in range(len(ts))]})
    market.insert_trades(tmp_store, df)
    market.resample_trades(tmp_store, "BTCUSDT", "linear", "1")
    market.resample_trades(tmp_store, "BTCUSDT", "linear", "60")
    # a duplicate sneaked in by raw SQL (the insert functions never allow it)
    tmp_store.con.execute("INSERT INTO trades SELECT * FROM trades LIMIT 1")
    status = data_status(tmp_store, trade_gap_ms=5 * M).set_index(["kind", "interval"])
    trades = status.loc[("trades", "")]
    assert trades["gaps"] == 1 and trades["duplicates"] == 1
    silence = (T0 + 9 * M + 59_000, T0 + 30 * M)
    assert trades["gap_ranges"] == [silence]
    assert market.trade_gaps(tmp_store, "BTCUSDT", "linear", 5 * M) == [silence]
    assert market.trade_gaps(tmp_store, "BTCUSDT", "linear", 1000) == [silence]  # 1 s apart: no
    assert len(market.trade_gaps(tmp_store, "BTCUSDT", "linear", 999_999_999)) == 0
    span = ts[-1] - ts[0]
    assert abs(trades["coverage_pct"] - 100 * (1 - (silence[1] - silence[0]) / span)) < 1e-9
    one = status.loc[("klines", "1")]
    assert one["gaps"] == 1 and one["missing"] == 20
    assert one["partial_last"]  # the last trade (31:59) does not prove 31:00-32:00 is over
    # a file that covers up to 32:00 does
    trade_files.log_trade_file(tmp_store, source="f.csv.gz", symbol="BTCUSDT", category="linear",
                          nbytes=1, cover=(T0, T0 + 32 * M), rows_read=1, rows_added=1)
    status = data_status(tmp_store, trade_gap_ms=5 * M).set_index(["kind", "interval"])
    assert not status.loc[("klines", "1"), "partial_last"]
    assert status.loc[("klines", "60"), "partial_last"]  # the hour bar runs to 01:00
    text = format_status(status.reset_index())
    assert "trades" in text and "2024-01-01 00:09:59" in text


def test_trade_gap_threshold(tmp_store: Store) -> None:
    import pytest

    with pytest.raises(DataError, match="at least 1000 ms"):
        data_status(tmp_store, trade_gap_ms=10)


def test_funding_gaps(tmp_store: Store) -> None:
    h8 = 8 * 3_600_000
    ts = T0 + np.array([0, 1, 2, 5, 6]) * h8
    market.insert_funding(tmp_store, pd.DataFrame({"symbol": "BTCUSDT", "ts": ts, "rate": 1e-4}))
    row = data_status(tmp_store).iloc[0]
    assert row["kind"] == "funding" and row["expected_rows"] == 7 and row["missing"] == 2
    assert row["gap_ranges"] == [(T0 + 3 * h8, T0 + 5 * h8)]


def test_empty_store_and_cli(tmp_store: Store, synthetic_db: Path) -> None:
    assert data_status(tmp_store).empty
    assert "no market data" in format_status(data_status(tmp_store))
    status = data_status_of(synthetic_db)
    assert set(status["kind"]) == {"klines", "trades", "funding"}
    assert (status["duplicates"] == 0).all()
    klines = status[status["kind"] == "klines"]
    assert klines["interval"].tolist() == ["1", "5", "60"]
    assert not klines["partial_last"].any()
    runner = CliRunner()
    out = runner.invoke(app, ["data", "status", "--db", str(synthetic_db)])
    assert out.exit_code == 0, out.output
    assert "klines BTCUSDT linear" in out.output and "funding" in out.output
    out = runner.invoke(app, ["data", "gaps", "--symbol", "BTCUSDT", "-i", "60",
                              "--db", str(synthetic_db)])
    assert out.exit_code == 0 and "no gaps" in out.output
    out = runner.invoke(app, ["data", "gaps", "--symbol", "ETHUSDT", "-i", "60",
                              "--db", str(synthetic_db)])
    assert out.exit_code != 0 and "no gaps" not in out.output
    assert isinstance(out.exception, DataError)
    assert "no 60 klines for ETHUSDT linear" in str(out.exception)


def test_gaps_of_a_missing_series_is_an_error(tmp_store: Store) -> None:
    market.insert_klines(tmp_store, bars(range(10)))
    assert find_kline_gaps(tmp_store, "BTCUSDT", "linear", "1") == []
    for symbol, category, interval in (("BTCUSDT", "linear", "5"), ("ETHUSDT", "linear", "1"),
                                       ("BTCUSDT", "spot", "1")):
        with pytest.raises(DataError, match=rf"no {interval} klines for {symbol} {category}.*"
                                            r"stored symbols: BTCUSDT linear"):
            find_kline_gaps(tmp_store, symbol, category, interval)


def test_klines_closer_than_their_interval_refused() -> None:
    from gridlab.backtest.data import MarketData

    ot = T0 + np.array([0, 1, 2, 3]) * M
    ok = MarketData.from_klines(ot, [1.0] * 4, [1.0] * 4, [1.0] * 4, [1.0] * 4, bar_ms=M)
    assert ok.n_events > 0
    with pytest.raises(DataError, match=r"\(bars 0 and 1\) are 60000 ms apart, closer than "
                                        r"the interval \(300000 ms\)"):
        MarketData.from_klines(ot, [1.0] * 4, [1.0] * 4, [1.0] * 4, [1.0] * 4, bar_ms=5 * M)


def data_status_of(path: Path) -> pd.DataFrame:
    with Store.open(path, read_only=True) as store:
        return data_status(store)


def test_status_names_implausible_stored_times(tmp_store: Store) -> None:
    """Rows an older gridlab stored in the wrong unit: a clear error, not a traceback."""
    tmp_store.con.execute("INSERT INTO trades VALUES ('BTCUSDT', 'linear', 1704067200123000, "
                          "1.0, 1.0, 'Buy', 'a', 0)")
    with pytest.raises(DataError, match=r"holds trades of BTCUSDT at an implausible time "
                                        r"1704067200123000 \(year 55,9\d\d\) is after 2100"):
        data_status(tmp_store)
