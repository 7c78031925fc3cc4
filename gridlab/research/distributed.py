"""Parameter sweeps on a Dask cluster (one machine or many).

The market arrays are scattered to every worker once; the backtest's pure
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

import numpy as np
import pandas as pd

from gridlab.errors import ConfigError

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
    return sweep_distributed(data, param_grid, client, chunk_size, config, profile, **fixed)


def sweep_distributed(data: Any, param_grid: dict[str, Sequence[Any]], client: Any,
                      chunk_size: int = 64, config: Any = None, profile: str | None = None,
                      **fixed: Any) -> pd.DataFrame:
    """`sweep(..., client=client)`: the sweep with its chunks run on the Dask cluster."""
    from gridlab.backtest.sweep import sweep

    return sweep(data, param_grid, config, profile, chunk_size=chunk_size, client=client,
                 **fixed)
