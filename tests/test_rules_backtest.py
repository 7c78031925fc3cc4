"""Backtest rules, one test per rule, each checked on the kernel's own outputs.

Each test is named for the rule it guards and was seen failing with that rule broken by hand
(docs/mutation-check.md lists the mutation, the file and line, and the command).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.backtest.enums import FillKind, FillModel
from gridlab.strategy.enums import Mode
from tests.backtest_helpers import T0, params, random_market, run_kernel_full
from tests.reference import examples

NO_FUND = (np.zeros(0, np.int64), np.zeros(0))
QUIET = {"dev": 0.5, "dom": False, "pd": False, "time_h": 1e3}  # no recenter but INITIAL


def walk(points: list[tuple[int, float]]):
    """A market of (ms after T0, price) points, size 1."""
    ts = np.array([T0 + t for t, _ in points], np.int64)
    return ts, np.array([p for _, p in points]), np.ones(len(points))


def run(ts, price, size, p):
    fills, eq, _daily, summ, rcs, _lvs, _ = run_kernel_full(ts, price, size, *NO_FUND, *p)
    return fills, eq, summ, rcs


market = st.fixed_dictionaries({
    "seed": st.integers(0, 100_000),
    "n": st.integers(50, 400),
    "vol": st.sampled_from([1e-3, 3e-3, 6e-3]),
    "dt_max": st.sampled_from([3_000, 30_000, 90_000]),
    "n_buy": st.integers(1, 6),
    "n_sell": st.integers(1, 6),
    "spacing": st.sampled_from([0.001, 0.002, 0.004]),
    "mode": st.sampled_from([Mode.NEUTRAL, Mode.LONG, Mode.SHORT]),
    "latency": st.sampled_from([0, 0, 700, 5_000, 40_000]),
    "post_only": st.booleans(),
    "check_ms": st.sampled_from([30_000, 60_000]),
})


def unique_market(m: dict):
    """Random tick-rounded walk with strictly increasing times: a time names one event."""
    return random_market(m["seed"], m["n"], m["vol"], m["dt_max"], dup_ts=False)


# ---- fill rule: cross ---------------------------------------------------------------------

def test_cross_never_fills_on_a_touch_example() -> None:
    """Buys at 99 and 98; one print at 98.00 goes through 99 (fills) and touches 98 (must not
    fill under cross, though the event is processed because 99 was crossed)."""
    ts, price, size = walk([(0, 100.0), (1000, 98.0), (2000, 98.5), (3000, 98.9)])
    p = params(n_buy=2, n_sell=2, spacing=0.01, fill_model=FillModel.CROSS, post_only=False,
               exposure=10.0, **QUIET)
    fills, *_ = run(ts, price, size, p)
    assert [(x[1], x[2]) for x in fills] == [(1, 99.0)]


@settings(max_examples=examples(60), deadline=None)
@given(m=market)
def test_cross_never_fills_on_a_touch(m: dict) -> None:
    """Under cross every limit fill (slot or late) happens at an event strictly through its
    limit: buy price < limit, sell price > limit."""
    ts, price, size = unique_market(m)
    p = params(n_buy=m["n_buy"], n_sell=m["n_sell"], spacing=m["spacing"], mode=m["mode"],
               fill_model=FillModel.CROSS, latency=m["latency"], post_only=m["post_only"],
               check_ms=m["check_ms"], exposure=3.0)
    fills, *_ = run(ts, price, size, p)
    at = dict(zip(ts.tolist(), price.tolist(), strict=True))
    for t, side, lim, _q, _fee, kind, *_ in fills:
        if kind in (FillKind.LIMIT, FillKind.LATE):
            assert (at[t] < lim) if side > 0 else (at[t] > lim), (t, side, lim, at[t])


# ---- no look-ahead: decision, latency -----------------------------------------------------

@settings(max_examples=examples(60), deadline=None)
@given(m=market, model=st.sampled_from([FillModel.CROSS, FillModel.TOUCH]))
def test_no_fill_before_decision_plus_latency(m: dict, model: int) -> None:
    """An order fills only at a later event than the one it was decided on, and not before
    decision time + latency. Observable on the outputs (times name events): a slot's order is
    decided at or after the slot's previous fill and at or after the last build before the
    fill, so each slot fill is strictly later than both and at least `latency` after them."""
    ts, price, size = unique_market(m)
    lat = m["latency"]
    p = params(n_buy=m["n_buy"], n_sell=m["n_sell"], spacing=m["spacing"], mode=m["mode"],
               fill_model=model, latency=lat, post_only=m["post_only"],
               check_ms=m["check_ms"], exposure=3.0)
    fills, _eq, _summ, rcs = run(ts, price, size, p)
    builds = [r[0] for r in rcs]
    last_fill: dict[int, int] = {}
    for t, _side, _lim, _q, _fee, kind, slot, *_ in fills:
        if kind != FillKind.LIMIT:
            continue
        decided = max([b for b in builds if b < t], default=ts[0])
        decided = max(decided, last_fill.get(slot, decided))
        assert t > decided and t - decided >= lat, (slot, t, decided, lat)
        last_fill[slot] = t


def test_no_fill_on_the_event_that_placed_the_order() -> None:
    """A SHORT grid at 100 whose seed and opening sell at 101 are refused by the exposure cap;
    its seeded buy at 99 fills without inventory (e1), the slot's sell at 100 fills at e2 and
    the realized profit lifts equity so that the check of e2 (price 101.5, already above 101)
    places the 101 sell. Decided at e2, it must fill at e3, not at e2."""
    ts, price, size = walk([(0, 100.0), (1000, 98.5), (45_000, 101.5), (46_000, 101.5)])
    p = params(n_buy=1, n_sell=1, spacing=0.01, mode=Mode.SHORT, exposure=0.5035,
               post_only=False, latency=0, slippage=0.0, **QUIET)
    fills, _eq, summ, _ = run(ts, price, size, p)
    got = [(x[0] - T0, x[1], x[2], x[5], x[6]) for x in fills]
    assert summ["n_blocked"] >= 2  # the seed and the 101 sell at the first check
    assert got == [(1000, 1, 99.0, FillKind.LIMIT, 0), (45_000, -1, 100.0, FillKind.LIMIT, 0),
                   (46_000, -1, 101.0, FillKind.LIMIT, 1)]


# ---- exposure cap -------------------------------------------------------------------------

@settings(max_examples=examples(80), deadline=None)
@given(m=market, cap=st.sampled_from([0.15, 0.25, 0.4]), spot=st.booleans(),
       model=st.sampled_from([FillModel.CROSS, FillModel.TOUCH, FillModel.QUEUE]))
def test_exposure_never_exceeds_the_cap_plus_one_order(m: dict, cap: float, spot: bool,
                                                      model: int) -> None:
    """At every fill (the only moments the position changes), |position| x fill price stays
    within cap x the highest equity seen so far (the gate checks the worst case of resting
    orders against equity at decision time, never above that peak), with room for price
    moves across the grid (5%) and one order (an order of a slot is capital / k_max)."""
    ts, price, size = unique_market(m)
    mode = Mode.LONG if spot else m["mode"]
    n = 2 * (m["n_buy"] + m["n_sell"])  # finer orders: the cap binds, one order is small
    p = params(n_buy=n // 2, n_sell=n // 2, spacing=m["spacing"], mode=mode, spot=spot,
               fill_model=model, latency=m["latency"], post_only=m["post_only"],
               check_ms=m["check_ms"], exposure=cap, slippage=0.0, dev=0.03)
    fills, eq, summ, _ = run(ts, price, size, p)
    ep = p[4]
    peak = max([ep.capital] + [r[2] for r in eq])
    biggest = max([x[3] * x[2] for x in fills if x[5] != FillKind.FLATTEN], default=0.0)
    for t, _side, px, _q, _fee, kind, _slot, pos, _ in fills:
        if kind == FillKind.FLATTEN:
            continue
        assert abs(pos) * px <= cap * peak * 1.05 + biggest + 1e-9, (t, pos, px, cap, peak)
    assert summ["n_fills"] == len(fills)


def test_exposure_cap_binds_in_the_cap_test_markets() -> None:
    """The markets of the cap test do reach the cap: a fixed falling market of that family
    blocks orders, and the position stops near the cap."""
    ts, price, size = walk([(i * 20_000, 100.0 - 0.1 * i) for i in range(120)])
    p = params(n_buy=12, n_sell=12, spacing=0.002, exposure=0.25, slippage=0.0, dev=0.5,
               dom=False, pd=False, time_h=1e3)
    fills, _eq, summ, _ = run(ts, price, size, p)
    assert summ["n_blocked"] > 0
    top = max(abs(x[7]) * x[2] for x in fills)
    assert 0.2 * 1000 <= top <= 0.25 * 1000 * 1.001


# ---- fills of one event: price-path order --------------------------------------------------

@settings(max_examples=examples(60), deadline=None)
@given(m=market, model=st.sampled_from([FillModel.CROSS, FillModel.TOUCH, FillModel.QUEUE]))
def test_fills_of_one_event_follow_the_price_path(m: dict, model: int) -> None:
    """The limit fills of one event are recorded in the order the market reaches them: a
    falling (or flat) print from the previous price fills the highest limit first, a rising
    one the lowest first; each fill's position is the previous one plus that fill."""
    ts, price, size = unique_market(m)
    n = 2 * (m["n_buy"] + m["n_sell"])
    p = params(n_buy=n // 2, n_sell=n // 2, spacing=m["spacing"] / 2, mode=m["mode"],
               fill_model=model, latency=m["latency"], post_only=m["post_only"],
               check_ms=m["check_ms"], exposure=5.0)
    fills, *_ = run(ts, price, size, p)
    idx = {t: i for i, t in enumerate(ts.tolist())}
    pos = 0.0
    by_event: dict[int, list[float]] = {}
    for t, side, lim, q, _fee, kind, _slot, position, _ in fills:
        pos += side * q
        assert abs(position - pos) <= 1e-9, (t, position, pos)
        pos = position
        if kind in (FillKind.LIMIT, FillKind.LATE):
            by_event.setdefault(t, []).append(lim)
    for t, lims in by_event.items():
        i = idx[t]
        falling = bool(price[i] <= price[max(i - 1, 0)])
        assert lims == sorted(lims, reverse=falling), (t, lims, falling)
