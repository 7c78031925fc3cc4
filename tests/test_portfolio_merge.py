"""The portfolio's speed pieces against plain references: the merge of the symbols' event
streams (the kernel's scan and the wrapper's merge against a plain Python sort) and the
resting totals cache of `account_arrays_nb` against the totals summed again. (The retry
memo of portfolio runs is held exact by the reference comparisons with binding account
limits in tests/test_reference_engine.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from gridlab.backtest.enums import N_ACC, ORDER_DTYPE
from gridlab.backtest.gate_nb import AcctCtx, account_arrays_nb, resting_nb
from gridlab.backtest.portfolio import merge_axis
from gridlab.backtest.portfolio_nb import merge_streams_nb
from gridlab.backtest.state_nb import GRID_STATE_DTYPE, INT64_MAX


def _streams(rng, S: int, ties: bool):
    lens = rng.integers(0, 60, S)
    lens[rng.integers(0, S)] += 1  # at least one event
    parts = []
    for n in lens:
        step = rng.integers(0, 3 if ties else 50, n)
        parts.append(1_000 + np.cumsum(step).astype(np.int64))
    ts = np.concatenate([*parts, np.zeros(0, np.int64)]).astype(np.int64)
    ev_off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    return ts, ev_off


def _plain_merge(ts, ev_off):
    """By time, ties in symbol order, then stream order: Python's sort on (t, s, i)."""
    keys = sorted((int(ts[ev_off[s] + i]), s, i) for s in range(len(ev_off) - 1)
                  for i in range(int(ev_off[s + 1] - ev_off[s])))
    return np.array([k[1] for k in keys], np.int64), np.array([k[2] for k in keys], np.int64)


@pytest.mark.parametrize("seed", range(12))
def test_merge_equals_a_plain_sort(seed):
    rng = np.random.default_rng(seed)
    S = int(rng.integers(1, 9))
    ts, ev_off = _streams(rng, S, ties=seed % 2 == 0)
    want_sym, want_idx = _plain_merge(ts, ev_off)
    m_sym = np.full(len(ts), -1, np.int64)
    m_idx = np.full(len(ts), -1, np.int64)
    merge_streams_nb(ts, ev_off, m_sym, m_idx)
    assert m_sym.tolist() == want_sym.tolist()
    assert m_idx.tolist() == want_idx.tolist()
    s_sym, s_idx = merge_axis([ts[ev_off[s]:ev_off[s + 1]] for s in range(S)], ts, ev_off)
    assert s_sym.tolist() == want_sym.tolist()
    assert s_idx.tolist() == want_idx.tolist()


def test_merge_axis_sorts_many_streams():
    """More streams than the scan takes: the stable sort and the symbol gather."""
    from gridlab.backtest import portfolio

    rng = np.random.default_rng(5)
    S = portfolio._SCAN_MAX + 3
    ts, ev_off = _streams(rng, S, ties=True)
    want_sym, want_idx = _plain_merge(ts, ev_off)
    m_sym, m_idx = merge_axis([ts[ev_off[s]:ev_off[s + 1]] for s in range(S)], ts, ev_off)
    assert m_sym.tolist() == want_sym.tolist()
    assert m_idx.tolist() == want_idx.tolist()


@pytest.mark.parametrize("case", ["random", "one clock", "one clock with ties", "shifted"])
def test_merge_axis_equals_a_plain_sort(case):
    """portfolio.merge_axis (the wrapper's merge): one clock interleaves, else the sort."""
    rng = np.random.default_rng(3)
    S = 5
    if case == "random":
        ts, ev_off = _streams(rng, S, ties=True)
        tss = [ts[ev_off[s]:ev_off[s + 1]] for s in range(S)]
    else:
        base = 1_000 + np.cumsum(rng.integers(0 if "ties" in case else 1, 4, 40))
        tss = [base.astype(np.int64) + (s if case == "shifted" else 0) for s in range(S)]
        ts = np.concatenate(tss)
        ev_off = np.arange(S + 1, dtype=np.int64) * len(base)
    want_sym, want_idx = _plain_merge(ts, ev_off)
    m_sym, m_idx = merge_axis(tss, ts, ev_off)
    assert m_sym.tolist() == want_sym.tolist()
    assert m_idx.tolist() == want_idx.tolist()


def _ctx(S, orders, ooff, gs, acc, cached):
    z = [np.zeros(S) for _ in range(5)]
    rkey = np.full((S if cached else 0, 3), -1, np.int64)
    rval = np.zeros((S if cached else 0, 2))
    return AcctCtx(True, 0, 1e4, 3.0, 0.5, gs, acc, orders, ooff, np.full(S, 1e3), *z,
                   rkey, rval)


def test_resting_cache_equals_the_totals_summed_again():
    """Random order changes (each bumping the grid's epoch, as the step does) and clock moves
    across cancel times: the cached totals are exactly the recomputed ones."""
    rng = np.random.default_rng(7)
    S, n = 4, 6
    ooff = np.arange(S + 1, dtype=np.int64) * 2 * n
    orders = np.zeros(int(ooff[S]), ORDER_DTYPE)
    gs = np.zeros(S, GRID_STATE_DTYPE)
    gs["mark"] = 100.0
    acc = np.zeros((S, N_ACC))
    ax = _ctx(S, orders, ooff, gs, acc, True)
    t = 0
    for _ in range(3_000):
        t += int(rng.integers(0, 40))
        if rng.random() < 0.5:
            j = int(rng.integers(0, S))
            r = int(ooff[j] + rng.integers(0, 2 * n))
            o = orders[r]
            u = rng.random()
            if u < 0.4:
                o["side"] = rng.choice([-1, 1])
                o["rem"] = o["qty"] = round(float(rng.uniform(0.001, 2.0)), 3)
                o["price"] = 100.0
                o["cancel_ts"] = INT64_MAX if rng.random() < 0.5 else t + int(rng.integers(1, 90))
            elif u < 0.7:
                o["rem"] = round(float(o["rem"]) * rng.random(), 3)
            else:
                o["side"] = 0
            gs[j]["epoch"] += 1
        account_arrays_nb(ax, t)
        for j in range(S):
            rb, rs, _ = resting_nb(orders[ooff[j]:ooff[j + 1]], t)
            assert ax.rb[j] == rb and ax.rs[j] == rs, (t, j)
