"""Risk-limit tiers: ingestion into the store, the snapshot fallback, refusal of bad tables."""

from __future__ import annotations

import math

import pytest

from gridlab.bybit.parse import RiskLimitTier, parse_risk_limit
from gridlab.data.risk_limits import ingest_risk_limits, risk_tiers
from gridlab.errors import DataError
from gridlab.store.core import MEMORY, Store
from gridlab.store.risk_limits import get_risk_limits


class _Client:
    def __init__(self, rows: list[RiskLimitTier]) -> None:
        self.rows = rows

    def get_risk_limits(self, symbol: str) -> list[RiskLimitTier]:
        return self.rows


def _bybit_rows() -> list[RiskLimitTier]:
    return [parse_risk_limit(d) for d in (
        {"id": 2, "symbol": "BTCUSDT", "riskLimitValue": "4000000", "maintenanceMargin": "0.01",
         "initialMargin": "0.02", "isLowestRisk": 0, "maxLeverage": "50.00", "mmDeduction": ""},
        {"id": 1, "symbol": "BTCUSDT", "riskLimitValue": "2000000",
         "maintenanceMargin": "0.005", "initialMargin": "0.01", "isLowestRisk": 1,
         "maxLeverage": "100.00", "mmDeduction": "0"},
    )]


def test_parse_reads_bybits_fields_and_a_blank_deduction_as_missing() -> None:
    rows = _bybit_rows()
    assert rows[1].risk_limit_value == 2e6 and rows[1].mmr == 0.005
    assert rows[1].max_leverage == 100.0 and rows[1].mm_deduction == 0.0
    assert math.isnan(rows[0].mm_deduction)


def test_ingest_stores_the_tiers_and_they_take_precedence_over_the_snapshot() -> None:
    with Store.open(MEMORY) as store:
        assert ingest_risk_limits(store, _Client(_bybit_rows()), ["BTCUSDT"]) == {"BTCUSDT": 2}
        df = get_risk_limits(store, "BTCUSDT", "linear")
        assert list(df["tier"]) == [1, 2]
        assert list(df["mm_deduction"]) == [0.0, 10_000.0]
        tiers, source = risk_tiers(store, "BTCUSDT")
        assert source.startswith("store (fetched ")
        assert list(tiers.limit) == [2e6, 4e6]
        # again: replaced, not doubled
        ingest_risk_limits(store, _Client(_bybit_rows()[1:]), ["BTCUSDT"])
        assert len(get_risk_limits(store, "BTCUSDT", "linear")) == 1


def test_without_stored_tiers_the_dated_snapshot_is_used_and_named() -> None:
    with Store.open(MEMORY) as store:
        tiers, source = risk_tiers(store, "ETHUSDT")
    assert "shipped snapshot of" in source
    assert tiers.limit.shape[0] >= 1


def test_a_malformed_table_is_refused_and_nothing_is_written() -> None:
    bad = [parse_risk_limit({"id": 1, "symbol": "BTCUSDT", "riskLimitValue": "",
                             "maintenanceMargin": "0.005", "initialMargin": "0.01",
                             "maxLeverage": "100"})]
    with Store.open(MEMORY) as store:
        ingest_risk_limits(store, _Client(_bybit_rows()), ["BTCUSDT"])
        with pytest.raises(DataError, match="risk_limit_value"):
            ingest_risk_limits(store, _Client(bad), ["BTCUSDT"])
        assert len(get_risk_limits(store, "BTCUSDT", "linear")) == 2
