"""`sweep_portfolio` runs its sets in parallel (prange over chunks, or Dask chunks) and gives
exactly the serial results: each row equals one `backtest_portfolio(..., record=False)`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridlab.backtest import MarketData
from gridlab.backtest.metrics import METRIC_COLUMNS
from gridlab.backtest.portfolio import backtest_portfolio, sweep_portfolio
from gridlab.errors import ConfigError
from gridlab.strategy.enums import Filters

T0 = 1_704_067_200_000
FILTERS = Filters(0.01, 0.01, 0.01, 0.0, 1.0)
CONFIG = {"portfolio": {"capital": 10_000.0, "symbols": [
    {"symbol": "AAAUSDT", "allocation": 0.5}, {"symbol": "BBBUSDT", "allocation": 0.4}]}}
GRID = {"portfolio.allocations": [[0.5, 0.4], [0.2, 0.7]],
        "portfolio.kill_switch_dd": [0.0, 0.004],
        "portfolio.max_total_exposure_pct": [0.0, 0.3],
        "grid.spacing": [0.002, 0.004]}
FIXED = {"risk.kill_switch_dd": 0.9, "backtest.check_interval_ms": 120_000}


def _trades(sym: str, seed: int, n: int = 5_000, p0: float = 100.0) -> MarketData:
    rng = np.random.default_rng(seed)
    ts = T0 + np.cumsum(rng.integers(0, 40_000, n)).astype(np.int64)
    price = np.round(p0 * np.exp(np.cumsum(rng.normal(0, 1.5e-3, n))) / 0.01) * 0.01
    size = np.round(rng.exponential(0.5, n), 2)
    fts = np.arange((ts[0] // 28_800_000 + 1) * 28_800_000, ts[-1], 28_800_000)
    return MarketData.from_trades(ts, price, size, symbol=sym, filters=FILTERS,
                                  funding={"ts": fts, "rate": rng.normal(1e-4, 3e-4, len(fts))})


@pytest.fixture(scope="module")
def datas() -> list[MarketData]:
    return [_trades("AAAUSDT", 11), _trades("BBBUSDT", 12, p0=40.0)]


@pytest.fixture(scope="module")
def serial(datas: list[MarketData]) -> pd.DataFrame:
    """The serial loop: one backtest_portfolio per set, in set order."""
    rows = []
    keys = list(GRID)
    import itertools

    for j, combo in enumerate(itertools.product(*GRID.values())):
        over = dict(zip(keys, combo, strict=True))
        t = backtest_portfolio(datas, CONFIG, record=False, **FIXED, **over).total
        rows.append({"set_id": j, **over, **{c: t[c] for c in METRIC_COLUMNS},
                     "stop": t["stop"], "n_blocked_account": t["n_blocked_account"]})
    return pd.DataFrame(rows)


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.attrs = {}
    return out


@pytest.mark.parametrize("kw", [{}, {"chunk_size": 3}, {"chunk_size": 1, "n_jobs": 1}])
def test_parallel_sweep_equals_the_serial_runs(datas, serial, kw) -> None:
    table = sweep_portfolio(datas, GRID, CONFIG, **FIXED, **kw)
    assert len(table) == 16
    pd.testing.assert_frame_equal(_plain(table), serial, check_exact=True)
    # the sweep is not degenerate: the limits bind in some sets and not in others
    assert set(serial["stop"]) == {"NONE", "KILL_SWITCH"}
    assert serial["n_blocked_account"].max() > 0 and serial["n_blocked_account"].min() == 0
    assert serial["final_equity"].nunique() > 8


def test_dask_sweep_equals_the_serial_runs(datas, serial) -> None:
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0",
                      processes=False) as cluster, Client(cluster) as client:
        table = sweep_portfolio(datas, GRID, CONFIG, client=client, chunk_size=5, **FIXED)
    pd.testing.assert_frame_equal(_plain(table), serial, check_exact=True)


def test_funding_cannot_be_swept(datas) -> None:
    with pytest.raises(ConfigError, match="funding cannot be swept"):
        sweep_portfolio(datas, {"backtest.funding": [True, False]}, CONFIG)
