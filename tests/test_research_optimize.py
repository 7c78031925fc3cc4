"""Optuna search on the real engine: bounds, seeding, feasibility, Pareto front."""

from __future__ import annotations

import numpy as np
import pytest

from gridlab.backtest.data import MarketData
from gridlab.data.synth import generate_trades
from gridlab.research.optimize import Param, optimize
from gridlab.research.walkforward import Objective

SPACE = {"spacing": Param(0.0015, 0.006, log=True), "target_levels": (3, 9)}


@pytest.fixture(scope="module")
def data() -> MarketData:
    t = generate_trades("BTCUSDT", days=1, seed=7, trades_per_day=20_000)
    return MarketData.from_trades(t["ts"], t["price"], t["size"], symbol="BTCUSDT")


def test_tpe_single_objective_in_bounds_and_seeded(data: MarketData) -> None:
    res = optimize(data, SPACE, Objective("total_return"), n_trials=10, seed=1,
                   profile="Normal")
    t = res.trials
    assert len(t) == 10 and (t["state"] == "COMPLETE").all()
    assert t["spacing"].between(0.0015, 0.006).all()
    assert t["target_levels"].between(3, 9).all()
    assert (t["target_levels"] == t["target_levels"].round()).all()
    assert res.pareto is None and res.best_params is not None
    assert res.best_params["spacing"] == t.loc[t["total_return"].idxmax(), "spacing"]
    assert type(res.study.sampler).__name__ == "TPESampler"
    again = optimize(data, SPACE, Objective("total_return"), n_trials=10, seed=1,
                     profile="Normal")
    assert np.array_equal(again.trials["spacing"], t["spacing"])
    assert np.array_equal(again.trials["total_return"], t["total_return"])


def test_nsga2_two_objectives_pareto(data: MarketData) -> None:
    objs = [Objective("total_return"), Objective("max_drawdown", "minimize")]
    res = optimize(data, SPACE, objs, n_trials=12, seed=0, profile="Normal")
    assert type(res.study.sampler).__name__ == "NSGAIISampler"
    front = res.pareto
    assert front is not None and 1 <= len(front) <= 12
    v = res.trials[["total_return", "max_drawdown"]].to_numpy()
    for _, row in front.iterrows():  # nothing dominates a front member
        better = (v[:, 0] >= row["total_return"]) & (v[:, 1] <= row["max_drawdown"])
        strictly = (v[:, 0] > row["total_return"]) | (v[:, 1] < row["max_drawdown"])
        assert not (better & strictly).any()


def test_min_trades_marks_infeasible(data: MarketData) -> None:
    res = optimize(data, SPACE, Objective("total_return", min_trades=10**6), n_trials=4, seed=0,
                   profile="Normal")
    assert not res.trials["feasible"].any()
    assert res.best_params is None


@pytest.mark.parametrize("n_obj", [1, 2])
def test_sets_without_a_grid_are_pruned_not_fatal(data: MarketData, n_obj: int) -> None:
    objs = [Objective("total_return"), Objective("max_drawdown", "minimize")][:n_obj]
    res = optimize(data, SPACE, objs, n_trials=3, seed=0, profile="Normal",
                   fixed={"capital": 1.0})  # far too little capital for any level
    assert (res.trials["state"] == "PRUNED").all()
    assert res.trials["note"].str.contains("no valid grid").all()
    assert res.best_params is None
    assert res.pareto is None or res.pareto.empty
