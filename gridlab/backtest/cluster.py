"""Sweep chunks on a Dask cluster: the backtest's side of `sweep(..., client=)`.

The market arrays are scattered to every worker once; a pure chunk function (`run_chunk` of
`gridlab.backtest.sweep_nb`, or the portfolio's `run_portfolio_chunk`) is mapped over chunks
of parameter rows; the results come back in row order, so the table is the local one.
`gridlab.research.distributed` builds the research helpers on top of this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gridlab.errors import ConfigError

__all__ = ["run_chunks_on_dask", "run_portfolio_chunks_on_dask"]


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


def run_portfolio_chunks_on_dask(client: Any, market: Any, rows: Any, chunk_size: int = 16
                                 ) -> Any:
    """`run_portfolio_chunk(market, rows[i0:i1])` for every chunk on the cluster of `client`;
    the merged market is scattered once. Returns the concatenated `PortfolioOut`, in set order
    (what the local chunk loop of `sweep_portfolio` builds)."""
    from gridlab.backtest.portfolio_sweep_nb import PortfolioOut, run_portfolio_chunk, slice_rows

    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1 (got {chunk_size})", "use e.g. 16")
    m = int(rows.grid.shape[0])
    [market_f] = client.scatter([market], broadcast=True)
    futures = [client.submit(run_portfolio_chunk, market_f,
                             slice_rows(rows, i0, min(m, i0 + chunk_size)), pure=False)
               for i0 in range(0, m, chunk_size)]
    try:
        results = client.gather(futures)
    finally:
        client.cancel([*futures, market_f])
    return PortfolioOut(*(np.concatenate(x) for x in zip(*results, strict=True)))
