"""Walk-forward and stability on the real engine: a regime change shows an out-of-sample gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridlab.backtest.data import MarketData
from gridlab.backtest.engine import backtest
from gridlab.data.synth import generate_trades
from gridlab.research.stability import stability_at
from gridlab.research.walkforward import Objective, make_windows, walk_forward

DAY = 86_400_000
S = 1_704_067_200_000
GRID = {"spacing": [0.002, 0.004, 0.008], "target_levels": [4, 8]}


@pytest.fixture(scope="module")
def regime_change() -> MarketData:
    """Two days of a ranging market, then two days of a steady trend from where it ended."""
    ranging = generate_trades(start_ms=S, days=2, seed=5, trades_per_day=20_000,
                              trend_hours=0.01, range_hours=1e5, range_half_life_hours=2.0,
                              jump_rate_per_day=0.0)
    trending = generate_trades(start_ms=S + 2 * DAY, days=2, seed=6, trades_per_day=20_000,
                               base_price=float(ranging["price"].iloc[-1]), trend_hours=1e5,
                               range_hours=0.01, trend_drift=0.08, pull=0.0,
                               jump_rate_per_day=0.0)
    t = pd.concat([ranging, trending], ignore_index=True)
    return MarketData.from_trades(t["ts"], t["price"], t["size"], symbol="BTCUSDT")


def test_regime_change_shows_oos_gap(regime_change: MarketData) -> None:
    windows = make_windows(S, S + 4 * DAY, DAY, DAY)
    obj = Objective("total_return", min_trades=3)
    res = walk_forward(regime_change, GRID, obj, windows, profile="Normal")
    f = res.folds.set_index("fold")
    assert list(f.index) == [0, 1, 2]
    crossing = f.loc[1]  # trained on the ranging day 2, tested on the first trending day
    assert crossing["test_start"] == S + 2 * DAY
    assert crossing["is_total_return"] > 0 > crossing["oos_total_return"]
    assert crossing["gap"] == pytest.approx(crossing["is_total_return"]
                                            - crossing["oos_total_return"])
    assert crossing["gap"] > 0.02
    assert res.summary()["mean_gap"] > 0
    # the chosen set is the train sweep's best eligible row, and OOS numbers are a real run
    table = res.sweeps[1]
    eligible = table[table["n_round_trips"] >= 3]
    assert crossing["is_total_return"] == eligible["total_return"].max()
    chosen = {k: crossing[k] for k in GRID}
    test = regime_change.slice(int(crossing["test_start"]), int(crossing["test_end"]))
    rerun = backtest(test, profile="Normal", spacing=float(chosen["spacing"]),
                     target_levels=int(chosen["target_levels"]))
    assert rerun.metrics["total_return"] == crossing["oos_total_return"]


def test_stitched_equity_chains_folds(regime_change: MarketData) -> None:
    windows = make_windows(S, S + 4 * DAY, DAY, DAY, anchored=True)
    res = walk_forward(regime_change, GRID, Objective("total_return"), windows, profile="Normal")
    eq = res.oos_equity
    assert eq["ts"].is_monotonic_increasing
    assert sorted(eq["fold"].unique()) == [0, 1, 2]
    assert eq["equity"].iloc[0] == pytest.approx(1000.0)  # default capital
    growth = np.prod(1.0 + res.folds["oos_total_return"].to_numpy())
    # the last equity point of each test run is its final equity up to the sampling step
    assert eq["equity"].iloc[-1] / eq["equity"].iloc[0] == pytest.approx(growth, rel=2e-3)
    assert (res.folds["train_start"] == S).all()


def test_min_trades_guard_leaves_fold_unselected(regime_change: MarketData) -> None:
    windows = make_windows(S, S + 2 * DAY, DAY, DAY)
    res = walk_forward(regime_change, GRID, Objective("total_return", min_trades=10**6), windows,
                       profile="Normal")
    assert res.folds["oos_total_return"].isna().all()
    assert res.oos_equity.empty


def test_stability_on_real_sweep(regime_change: MarketData) -> None:
    from gridlab.backtest.sweep import sweep

    data = regime_change.slice(S, S + DAY)
    table = sweep(data, {"spacing": [0.002, 0.003, 0.004, 0.006], "target_levels": [4, 6, 8]},
                  profile="Normal")
    s = stability_at(table, ["spacing", "target_levels"], Objective("total_return"))
    assert s.value == table["total_return"].max()
    assert 3 <= s.n_neighbours <= 8
    assert s.mean_drop >= 0 and s.worst_drop >= s.mean_drop
