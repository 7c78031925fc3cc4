"""Parameter sweeps on a Dask cluster (one machine or many).

The chunk runner is `gridlab.backtest.cluster.run_chunks_on_dask` (re-exported here): the
market arrays are scattered to every worker once; the backtest's pure
`gridlab.backtest.sweep_nb.run_chunk(arrays, rows)` is mapped over chunks of parameter rows; the
summaries come back in order and become the same table as the local `sweep()` (same rows, same
order, same numbers: each set runs the same kernel on the same inputs). `sweep(..., client=c)`
is the entry point; `sweep_distributed` / `run_sweep_on_dask` are thin calls of it.

Start a cluster with `LocalCluster(n_workers=..., threads_per_worker=1)` or, across machines,
`dask scheduler` + `dask worker tcp://HOST:8786 --nthreads 1` (see docs/research.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from gridlab.backtest.cluster import run_chunks_on_dask

__all__ = ["run_chunks_on_dask", "run_sweep_on_dask", "sweep_distributed"]


def run_sweep_on_dask(client: Any, data: Any, param_grid: dict[str, Sequence[Any]],
                      chunk_size: int = 64, config: Any = None, profile: str | None = None,
                      **fixed: Any) -> pd.DataFrame:
    """`gridlab.backtest.sweep(data, param_grid, config, profile, **fixed)` with the sets run on
    the Dask cluster of `client`; returns the same table (set_id, parameters, metrics, note)."""
    return sweep_distributed(data, param_grid, client, chunk_size, config, profile, **fixed)


def sweep_distributed(data: Any, param_grid: dict[str, Sequence[Any]], client: Any,
                      chunk_size: int = 64, config: Any = None, profile: str | None = None,
                      **fixed: Any) -> pd.DataFrame:
    """`sweep(..., client=client)`: the sweep with its chunks run on the Dask cluster."""
    from gridlab.backtest.sweep import sweep

    return sweep(data, param_grid, config, profile, chunk_size=chunk_size, client=client,
                 **fixed)
