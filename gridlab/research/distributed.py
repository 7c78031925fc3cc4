"""Parameter sweeps on a Dask cluster (one machine or many).

The market arrays are scattered to every worker once; the backtest's pure
`gridlab.backtest.sweep_nb.run_chunk(arrays, rows)` is mapped over chunks of parameter rows; the
summaries come back in order and become the same table as the local `sweep()` (same rows, same
order, same numbers: each set runs the same kernel on the same inputs).

Start a cluster with `LocalCluster(n_workers=..., threads_per_worker=1)` or, across machines,
`dask scheduler` + `dask worker tcp://HOST:8786 --nthreads 1` (see docs/research.md).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from gridlab.errors import ConfigError, DataError

__all__ = ["run_chunks_on_dask", "run_sweep_on_dask", "sweep_distributed"]


def run_chunks_on_dask(client: Any, arrays: Any, rows: Any, chunk_size: int = 64
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Run `run_chunk(arrays, rows[i0:i1])` for every chunk on the cluster of `client`.

    `arrays` (MarketArrays) is scattered once, broadcast to every worker. Returns the
    concatenated (summary (m, N_SUMMARY), daily (m, n_days)) arrays, in row order: exactly what
    the local chunk loop of `gridlab.backtest.sweep` builds.
    """
    from gridlab.backtest.sweep_nb import ParamRows, run_chunk

    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1 (got {chunk_size})", "use e.g. 64")
    m = int(rows.grid.shape[0])
    [arrays_f] = client.scatter([arrays], broadcast=True)
    chunks = [ParamRows(*(mat[i0:min(m, i0 + chunk_size)] for mat in rows))
              for i0 in range(0, m, chunk_size)]
    futures = [client.submit(run_chunk, arrays_f, chunk, pure=False) for chunk in chunks]
    try:
        results = client.gather(futures)
    finally:
        client.cancel([*futures, arrays_f])
    if not results:
        from gridlab.backtest.enums import N_SUMMARY

        return np.zeros((0, N_SUMMARY)), np.zeros((0, int(arrays.n_days)))
    return (np.concatenate([s for s, _ in results]), np.concatenate([d for _, d in results]))


def run_sweep_on_dask(client: Any, data: Any, param_grid: dict[str, Sequence[Any]],
                      chunk_size: int = 64, config: Any = None, profile: str | None = None,
                      **fixed: Any) -> pd.DataFrame:
    """`gridlab.backtest.sweep(data, param_grid, config, profile, **fixed)` with the sets run on
    the Dask cluster of `client`; returns the same table (set_id, parameters, metrics, note)."""
    from gridlab.backtest.data import MarketData
    from gridlab.backtest.metrics import METRIC_COLUMNS, metrics_table
    from gridlab.backtest.sweep import market_arrays, plan_sweep

    if not isinstance(data, MarketData):
        raise DataError(f"data must be a MarketData (got {type(data).__name__})",
                        "use load_market(store, ...) or MarketData.from_trades/from_klines")
    t0 = time.perf_counter()
    plan = plan_sweep(data, param_grid, config, profile, **fixed)
    arrays = market_arrays(data, funding=bool(plan.base["backtest"]["funding"]))
    summary, daily = run_chunks_on_dask(client, arrays, plan.rows, chunk_size)
    met = metrics_table(summary, daily, plan.rows.engine[:, 0])
    m = len(plan.combos)
    table = pd.DataFrame({"set_id": np.arange(m)})
    for key in param_grid:
        table[key] = [c[key] for c in plan.combos]
    for col in METRIC_COLUMNS:
        table[col] = met[col]
    table["note"] = plan.notes
    table.attrs["elapsed_s"] = time.perf_counter() - t0
    return table


def sweep_distributed(data: Any, param_grid: dict[str, Sequence[Any]], client: Any,
                      chunk_size: int = 64, config: Any = None, profile: str | None = None,
                      **fixed: Any) -> pd.DataFrame:
    """Same as `run_sweep_on_dask`, with the argument order of `sweep()`."""
    return run_sweep_on_dask(client, data, param_grid, chunk_size, config, profile, **fixed)
