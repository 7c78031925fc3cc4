"""A backtest started from a grid's state (`initial_state=`), not flat.

The strong check: run flat over events 0..n-1; run flat over 0..i-1 keeping the state; start
a run from that state over i..n-1. The resumed run must repeat the flat run's fills from
event i on exactly (every field), end in the same ledger, and its book, clock and previous
price must be the ones the state held (a resumed run that rebuilt its grid, lost its resting
orders, its position or its check clock would differ)."""

from __future__ import annotations

import numpy as np
import pytest

from gridlab.backtest.data import MarketData
from gridlab.backtest.engine import backtest
from gridlab.backtest.engine_nb import n_days_nb, run_state_nb
from gridlab.backtest.enums import (
    ACC,
    EQUITY_DTYPE,
    FILL_DTYPE,
    LEVEL_DTYPE,
    N_SUMMARY,
    RECENTER_DTYPE,
    Sum,
)
from gridlab.backtest.start import StartState, fresh_state, resume_state
from gridlab.errors import DataError
from gridlab.strategy.params import make_filters
from tests.backtest_helpers import params, random_market


def _run(ts, price, size, prm, state: StartState):
    """One kernel run on `state` (changed in place): fills and summary."""
    gp, f, rp, rk, ep = prm
    n_rc = (int(ts[-1] - ts[0]) // ep.check_ms + 2)
    fills = np.zeros(4 * len(ts) + 64, FILL_DTYPE)
    summary = np.zeros(N_SUMMARY)
    nf, _, _, _ = run_state_nb(
        state.rec, state.arrays, ts, price, size, np.zeros(0, np.int64), np.zeros(0), gp, f,
        rp, rk, ep, fills, np.zeros(int(ts[-1] - ts[0]) // ep.equity_ms + 3, EQUITY_DTYPE),
        np.zeros(n_rc, RECENTER_DTYPE), np.zeros(n_rc * (gp.n_buy + gp.n_sell + 1), LEVEL_DTYPE),
        np.zeros(n_days_nb(int(ts[0]), int(ts[-1]))), summary)
    return fills[:nf], summary


def _fresh(ts, price, prm) -> StartState:
    gp, f, rp, _, ep = prm
    return fresh_state(gp, rp, ep.capital, f.qty_step * 1e-6, int(ts[0]), float(price[0]), True)


@pytest.mark.parametrize("kw", [
    {},
    {"latency": 700, "fill_model": 1},                 # in-flight orders and cancels
    {"profit_target": 0.002, "mode": 1, "dev": 0.004},  # LONG seed, recenters, round trips
    {"fill_model": 2, "kill": 0.02, "flatten": False},  # queue model, the kill switch
    {"check_ms": 1_800_000, "dev": 0.003, "exposure": 0.3},  # a slow clock, refused orders
])
def test_a_run_started_from_the_state_at_event_i_repeats_the_flat_run(kw) -> None:
    ts, price, size = random_market(11, 6_000, vol=2e-3, dup_ts=False)
    prm = params(**kw)
    flat, fsum = _run(ts, price, size, prm, _fresh(ts, price, prm))
    assert len(flat) > 40
    for i in (1, 137, 2_000, 4_321, 5_999):
        head = _fresh(ts, price, prm)
        _, hsum = _run(ts[:i], price[:i], size[:i], prm, head)
        s = resume_state(head, int(ts[i]))
        if i > 1000:
            assert s.arrays.acc[ACC.POS] != 0.0 or (s.arrays.orders["side"] != 0).any()
        tail, tsum = _run(ts[i:], price[i:], size[i:], prm, s)
        want = flat[flat["ts"] >= ts[i]]
        assert len(tail) == len(want), i
        for name in FILL_DTYPE.names:
            np.testing.assert_array_equal(tail[name], want[name], err_msg=f"{name} at {i}")
        for k in (Sum.FINAL_EQUITY, Sum.REALIZED, Sum.FEES, Sum.POSITION, Sum.GRID_PROFIT,
                  Sum.STOP_CODE):
            assert tsum[k] == fsum[k], (i, k)
        assert tsum[Sum.N_FILLS] == len(want)  # the run counts its own fills
        # and its own decisions: head + tail = the flat run (an extra or a missing check, a
        # rebuild, a refused order would show here)
        for k in (Sum.N_LIMIT_FILLS, Sum.N_ROUND_TRIPS, Sum.N_BLOCKED, Sum.N_LATE_FILLS,
                  Sum.N_REJECTED_POST_ONLY, Sum.N_KILL_SWITCH, *range(Sum.RC_NONE,
                                                                      Sum.RC_NONE + 10)):
            assert hsum[k] + tsum[k] == fsum[k], (i, k)


def test_backtest_initial_state_and_keep_state() -> None:
    """The Python API: `keep_state=True` gives `final_state`; `initial_state=` starts there."""
    ts, price, size = random_market(5, 5_000, vol=2e-3, dup_ts=False)
    f = make_filters(0.01, 0.01, 0.01, 1.0, 1e9)
    kw = {"spacing": 0.003, "n_buy": 4, "n_sell": 4, "funding": False, "latency_ms": 300,
          "kill_switch_dd": 0.0}

    def md(a: int, b: int) -> MarketData:
        return MarketData.from_trades(ts[a:b], price[a:b], size[a:b], symbol="X", filters=f)

    whole = backtest(md(0, len(ts)), **kw)
    i = 2_500
    head = backtest(md(0, i), keep_state=True, **kw)
    s = head.final_state
    assert s is not None and s.position == head.metrics["position"]
    before = s.rec.copy()
    tail = backtest(md(i, len(ts)), initial_state=s, **kw)
    assert s.rec.tobytes() == before.tobytes()  # the given state is not changed
    want = whole.fills[whole.fills["ts"] >= ts[i]].reset_index(drop=True)
    assert len(want) > 10
    assert tail.fills.equals(want)
    assert tail.metrics["position"] == whole.metrics["position"]
    assert tail.metrics["n_fills"] == len(want)
    # a state of another grid shape, or not a state, is refused, naming the problem
    with pytest.raises(DataError, match="slots"):
        backtest(md(i, len(ts)), initial_state=s, **{**kw, "n_buy": 5})
    with pytest.raises(DataError, match="StartState"):
        backtest(md(i, len(ts)), initial_state={"position": 1.0}, **kw)
