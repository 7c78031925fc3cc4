"""The parallel portfolio sweep kernel: many portfolio parameter sets over one merged market.

Each set is a slice `[j]` of per-set parameter stacks (G/R/K/E/F: sets x symbols x fields, the
`sweep_nb` row layout; P: sets x (capital, max_total_exposure_pct, max_symbol_share,
kill_switch_dd); C: each set's account check interval). Inside the `prange` loop set j calls
`portfolio_nb.run_portfolio_nb` with `record=False` on its own output rows, so a set's
summaries are exactly those of one `backtest_portfolio(..., record=False)` run.
`run_portfolio_chunk` is the pure function the local chunk loop and a Dask cluster map.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from gridlab.backtest.enums import EQUITY_DTYPE, FILL_DTYPE, LEVEL_DTYPE, N_SUMMARY, RECENTER_DTYPE
from gridlab.backtest.portfolio_nb import ACCOUNT_ROW_DTYPE, run_portfolio_nb

__all__ = ["N_TOTAL", "PortfolioMarket", "PortfolioOut", "PortfolioRows", "run_portfolio_chunk",
           "run_portfolio_set_nb", "slice_rows", "sweep_portfolio_nb"]

N_TOTAL = 9
"""Length of run_portfolio_nb's `out_total` row."""


class PortfolioMarket(NamedTuple):
    """The merged market every set replays (what `portfolio._merge` builds)."""

    m_sym: np.ndarray
    m_idx: np.ndarray
    ev_off: np.ndarray
    ts: np.ndarray
    price: np.ndarray
    size: np.ndarray
    f_off: np.ndarray
    fts: np.ndarray
    frate: np.ndarray
    n_days: int


class PortfolioRows(NamedTuple):
    """Per-set parameter stacks (first axis: set)."""

    grid: np.ndarray      # (m, S, n GridParams fields)
    recenter: np.ndarray  # (m, S, n RecenterParams fields)
    risk: np.ndarray      # (m, S, n RiskParams fields)
    engine: np.ndarray    # (m, S, n EngineParams fields)
    filters: np.ndarray   # (m, S, 5)
    account: np.ndarray   # (m, 4): capital, max_exp, max_share, kill_dd
    check_ms: np.ndarray  # (m,) int64 account check interval


class PortfolioOut(NamedTuple):
    """Per-set outputs of a chunk (first axis: set)."""

    summary: np.ndarray   # (m, S, N_SUMMARY)
    daily: np.ndarray     # (m, S, n_days)
    tdaily: np.ndarray    # (m, n_days)
    blocked: np.ndarray   # (m, S)
    counts: np.ndarray    # (m, S, 4)
    total: np.ndarray     # (m, N_TOTAL)


def slice_rows(rows: PortfolioRows, i0: int, i1: int) -> PortfolioRows:
    """Sets [i0, i1) of the stacks."""
    return PortfolioRows(*(a[i0:i1] for a in rows))


# `record` as a typed bool, not the literal False: numba would compile the whole portfolio
# kernel a second time for a literal argument (about 40 s cold) instead of reusing the one
# `backtest_portfolio` runs
_NOT_RECORDED = np.bool_(False)


@njit(cache=True)
def run_portfolio_set_nb(j, m_sym, m_idx, ev_off, TS, PR, SZ, f_off, FTS, FRATE, G, R, K, E, F,
                         P, C, out_summary, out_daily, out_tdaily, out_blocked, out_counts,
                         out_total):
    """Run set j (a plain function, so the kernel is not recompiled inside the parfor)."""
    S = G.shape[1]
    fills = np.zeros((S, 0), FILL_DTYPE)
    eq = np.zeros((S, 0), EQUITY_DTYPE)
    rc = np.zeros((S, 0), RECENTER_DTYPE)
    lv = np.zeros((S, 0), LEVEL_DTYPE)
    acct = np.zeros(0, ACCOUNT_ROW_DTYPE)
    run_portfolio_nb(m_sym, m_idx, ev_off, TS, PR, SZ, f_off, FTS, FRATE,
                     np.ascontiguousarray(G[j]), np.ascontiguousarray(R[j]),
                     np.ascontiguousarray(K[j]), np.ascontiguousarray(E[j]),
                     np.ascontiguousarray(F[j]), P[j, 0], P[j, 1], P[j, 2], P[j, 3], C[j],
                     _NOT_RECORDED, fills, eq, rc, lv, out_daily[j], out_tdaily[j], acct,
                     out_summary[j], out_blocked[j], out_counts[j], out_total[j])


@njit(parallel=True, cache=True)
def sweep_portfolio_nb(m_sym, m_idx, ev_off, TS, PR, SZ, f_off, FTS, FRATE, G, R, K, E, F, P, C,
                       out_summary, out_daily, out_tdaily, out_blocked, out_counts, out_total):
    """Every set in parallel; writes row j of each output."""
    for j in prange(G.shape[0]):
        run_portfolio_set_nb(j, m_sym, m_idx, ev_off, TS, PR, SZ, f_off, FTS, FRATE, G, R, K,
                             E, F, P, C, out_summary, out_daily, out_tdaily, out_blocked,
                             out_counts, out_total)


def run_portfolio_chunk(market: PortfolioMarket, rows: PortfolioRows) -> PortfolioOut:
    """The summaries of m portfolio parameter sets (all outputs zero for m = 0)."""
    m, S = rows.grid.shape[0], rows.grid.shape[1]
    out = PortfolioOut(np.zeros((m, S, N_SUMMARY)), np.zeros((m, S, market.n_days)),
                       np.zeros((m, market.n_days)), np.zeros((m, S), np.int64),
                       np.zeros((m, S, 4), np.int64), np.zeros((m, N_TOTAL)))
    if m:
        c = np.ascontiguousarray
        sweep_portfolio_nb(market.m_sym, market.m_idx, market.ev_off, market.ts, market.price,
                           market.size, market.f_off, market.fts, market.frate,
                           c(rows.grid), c(rows.recenter), c(rows.risk), c(rows.engine),
                           c(rows.filters), c(rows.account), c(rows.check_ms, np.int64), *out)
    return out
