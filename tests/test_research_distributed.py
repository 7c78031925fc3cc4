"""A sweep on a Dask LocalCluster (2 worker processes) equals the local sweep exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridlab.backtest.data import MarketData
from gridlab.backtest.sweep import sweep
from gridlab.data.synth import generate_trades
from gridlab.research.distributed import run_sweep_on_dask, sweep_distributed


@pytest.fixture(scope="module")
def data() -> MarketData:
    t = generate_trades("BTCUSDT", days=1.5, seed=3, trades_per_day=20_000)
    return MarketData.from_trades(t["ts"], t["price"], t["size"], symbol="BTCUSDT")


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                      processes=True) as cluster, Client(cluster) as c:
        yield c


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.attrs = {}
    return out


def test_distributed_sweep_equals_local(data: MarketData, client) -> None:  # type: ignore[no-untyped-def]
    grid = {"spacing": [0.0015, 0.0025, 0.004], "n_buy": [3, 6], "fill_model": ["cross", "touch"]}
    local = sweep(data, grid, profile="Normal")
    remote = run_sweep_on_dask(client, data, grid, chunk_size=5, profile="Normal")
    assert len(remote) == 12
    assert (remote["n_round_trips"] > 0).any()
    pd.testing.assert_frame_equal(_plain(remote), _plain(local), check_exact=True)
    # uneven chunks and the sweep-style argument order give the same table
    again = sweep_distributed(data, grid, client, chunk_size=7, profile="Normal")
    pd.testing.assert_frame_equal(_plain(again), _plain(local), check_exact=True)
    assert np.array_equal(again["total_return"].to_numpy(), local["total_return"].to_numpy(),
                          equal_nan=True)
    # the hook on sweep() itself: same table, stored like a local sweep
    hooked = sweep(data, grid, profile="Normal", client=client, chunk_size=4)
    pd.testing.assert_frame_equal(_plain(hooked), _plain(local), check_exact=True)


def test_local_sweep_does_not_import_dask() -> None:
    code = ("import sys\n"
            "from gridlab.backtest import MarketData, sweep\n"
            "import numpy as np\n"
            "ts = 1_704_067_200_000 + np.arange(2000, dtype=np.int64) * 1000\n"
            "px = 100 + np.sin(np.arange(2000) / 50)\n"
            "sweep(MarketData.from_trades(ts, px), {'spacing': [0.002, 0.003]})\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=True, cwd=Path(__file__).parents[1])
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
