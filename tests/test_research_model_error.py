"""Model error of kline runs: compared with the trade replay of the same span."""

from __future__ import annotations

import math

import pytest

from gridlab.backtest.data import load_market
from gridlab.backtest.engine import backtest
from gridlab.errors import DataError
from gridlab.research.model_error import MODEL_ERROR_METRICS, compare_runs, kline_model_error
from gridlab.store.core import Store

DAY = 86_400_000
START = 1_704_067_200_000  # 2024-01-01, the synthetic_db fixture


def test_kline_run_is_compared_with_the_trade_replay(synthetic_store: Store) -> None:
    bars = load_market(synthetic_store, "BTCUSDT", "linear", "1", START, START + DAY)
    run = backtest(bars, spacing=0.002, record=False)
    err = kline_model_error(synthetic_store, run, spacing=0.002)
    assert err is not None
    t = err.table.set_index("metric")
    assert list(t.index) == list(MODEL_ERROR_METRICS)
    trades = backtest(load_market(synthetic_store, "BTCUSDT", "linear", "trades", START,
                                  START + DAY), spacing=0.002, record=False)
    # the trades column is the trade replay itself, the klines column the run given
    assert t.loc["n_limit_fills", "trades"] == trades.metrics["n_limit_fills"]
    assert t.loc["pnl", "klines"] == run.metrics["pnl"]
    assert t.loc["pnl", "diff"] == run.metrics["pnl"] - trades.metrics["pnl"]
    assert "fills" in err.summary() and "PnL" in err.summary()


def test_no_trades_over_the_span_means_no_comparison(synthetic_store: Store) -> None:
    bars = load_market(synthetic_store, "BTCUSDT", "linear", "1", START, START + DAY)
    run = backtest(bars, spacing=0.002, record=False)
    moved = dict(run.data, start_ms=START - 10 * DAY)  # a span the trades do not cover
    run.data = moved
    assert kline_model_error(synthetic_store, run, spacing=0.002) is None


def test_a_trade_run_is_refused(synthetic_store: Store) -> None:
    trades = load_market(synthetic_store, "BTCUSDT", "linear", "trades", START, START + DAY)
    with pytest.raises(DataError, match="already replays trades"):
        kline_model_error(synthetic_store, backtest(trades, record=False))


def test_compare_runs_marks_a_zero_reference_as_not_a_ratio(synthetic_store: Store) -> None:
    bars = load_market(synthetic_store, "BTCUSDT", "linear", "1", START, START + DAY)
    a = backtest(bars, spacing=0.002, record=False)
    t = compare_runs(a, a).set_index("metric")
    assert (t["diff"] == 0.0).all()
    assert math.isnan(t.loc["funding", "diff_pct"]) or t.loc["funding", "diff_pct"] == 0.0
