"""Instruments without the network: saved instruments-info files and the shipped snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridlab.cli import app
from gridlab.data.instruments import (
    ingest_instruments_file,
    instrument_filters,
    read_instruments_file,
    snapshot_date,
    snapshot_instrument,
)
from gridlab.data.synth import generate_trades
from gridlab.errors import DataError
from gridlab.store import market
from gridlab.store.core import Store

T0 = 1_704_067_200_000
SNAPSHOT = Path(__file__).resolve().parents[1] / "gridlab/data/snapshots/bybit_instruments.json"


def test_snapshot_holds_real_filters() -> None:
    assert snapshot_date() == "2025-07-01"
    btc = snapshot_instrument("BTCUSDT", "linear")
    assert btc is not None
    assert (btc["tick_size"], btc["qty_step"], btc["min_qty"], btc["min_notional"]) == (
        0.1, 0.001, 0.001, 5.0)
    assert (btc["max_qty"], btc["max_leverage"], btc["funding_interval_min"]) == (
        1190.0, 100.0, 480)
    assert btc["origin"] == "snapshot:2025-07-01"
    spot = snapshot_instrument("BTCUSDT", "spot")
    assert spot is not None and spot["tick_size"] == 0.01 and spot["qty_step"] == 0.000001
    assert spot["min_notional"] == 1.0 and spot["funding_interval_min"] == 0
    for sym in ("ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "BNBUSDT"):
        row = snapshot_instrument(sym, "linear")
        assert row is not None and row["tick_size"] > 0 and row["max_leverage"] >= 25
    assert snapshot_instrument("NOPEUSDT", "linear") is None


def test_from_file_shapes(tmp_store: Store, tmp_path: Path) -> None:
    doc = json.loads(SNAPSHOT.read_text())
    found, fetched = read_instruments_file(SNAPSHOT)
    assert {i.category for i in found} == {"linear", "spot"} and fetched == doc[0]["time"]
    one = tmp_path / "linear.json"
    one.write_text(json.dumps(doc[0]))  # one whole response
    assert ingest_instruments_file(tmp_store, one, ["ETHUSDT"]) == 1
    got = market.get_instrument(tmp_store, "ETHUSDT", "linear")
    assert got is not None and got["origin"] == "file:linear.json"
    assert got["qty_step"] == 0.01 and got["max_leverage"] == 100.0
    result = tmp_path / "result.json"
    result.write_text(json.dumps(doc[1]["result"]))  # just the result, no time: file mtime
    assert ingest_instruments_file(tmp_store, result) == len(doc[1]["result"]["list"])
    with pytest.raises(DataError, match=r"has no NOPEUSDT"):
        ingest_instruments_file(tmp_store, one, ["NOPEUSDT"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"retCode": 10001, "retMsg": "params error", "result": {}}')
    with pytest.raises(DataError, match=r"error response \(retCode 10001"):
        ingest_instruments_file(tmp_store, bad)
    bad.write_text("{not json")
    with pytest.raises(DataError, match=r"bad.json is not valid JSON"):
        ingest_instruments_file(tmp_store, bad)


def test_cli_from_file(tmp_path: Path) -> None:
    db = tmp_path / "i.duckdb"
    out = CliRunner().invoke(app, ["ingest", "instruments", "--from-file", str(SNAPSHOT),
                                   "--category", "spot", "--db", str(db)])
    assert out.exit_code == 0, out.output
    assert "5 stored" in out.output
    with Store.open(db, read_only=True) as store:
        assert market.get_instrument(store, "SOLUSDT", "spot") is not None
        assert market.get_instrument(store, "SOLUSDT", "linear") is None


def test_trade_dumps_alone_backtest_offline(tmp_path: Path) -> None:
    """No instruments row: the shipped snapshot is used, and the output and result say so."""
    from gridlab.backtest import backtest, load_market

    db = tmp_path / "dumps.duckdb"
    with Store.open(db) as store:
        market.insert_trades(store, generate_trades("ETHUSDT", start_ms=T0, days=0.5, seed=1,
                                                    base_price=2000.0, tick_size=0.01,
                                                    qty_step=0.01, trades_per_day=8_000))
        md = load_market(store, "ETHUSDT", "linear")
        assert instrument_filters(store, "ETHUSDT", "linear").origin == "snapshot"
        with pytest.raises(DataError, match=r"neither in the instruments table.*nor in the "
                                            r"shipped snapshot"):
            instrument_filters(store, "NOPEUSDT", "linear")
    assert md.filters.tick == 0.01 and md.filters.qty_step == 0.01
    assert md.instruments.startswith("shipped snapshot of 2025-07-01")
    res = backtest(md, record=False)
    assert res.data["instruments"] == md.instruments
    out = CliRunner().invoke(app, ["backtest", "--symbol", "ETHUSDT", "--db", str(db),
                                   "--no-save"])
    assert out.exit_code == 0, out.output
    assert "instrument filters: shipped snapshot of 2025-07-01" in out.output
    with Store.open(db) as store:
        ingest_instruments_file(store, SNAPSHOT, ["ETHUSDT"], "linear")
        md = load_market(store, "ETHUSDT", "linear")
    assert md.instruments == "store (file:bybit_instruments.json, fetched 2025-07-01)"
