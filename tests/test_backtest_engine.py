"""The numba replay kernel against the plain-Python reference engine, and its guarantees."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.backtest.enums import FillKind, FillModel
from gridlab.backtest.path_nb import kline_path, kline_path_order_nb
from gridlab.strategy.enums import Mode, Stop
from tests.backtest_helpers import (
    T0,
    funding_for,
    nan_safe,
    params,
    random_market,
    run_kernel,
    run_kernel_full,
)
from tests.reference.engine_ref import run_ref


def _compare(ts, price, size, fts, frate, *p):
    fills, eq, daily, summ, rcs, lvs, counts = run_kernel_full(ts, price, size, fts, frate, *p)
    ref = run_ref(ts, price, size, fts, frate, *p)
    assert fills == ref.fills
    assert eq == ref.equity
    assert daily == ref.daily
    assert summ == ref.summary
    assert nan_safe(rcs) == nan_safe(ref.recenters)
    assert lvs == ref.levels
    assert counts == (len(rcs), len(lvs))
    _check_builds(rcs, lvs, summ, p)
    return fills, eq, summ


def _check_builds(rcs, lvs, summ, p) -> None:
    """Recorded builds agree with the summary counts, and levels with their build's bounds."""
    ep = p[-1]
    if not ep.record:
        assert rcs == [] and lvs == []
        return
    names = ("initial", "trail_up", "trail_down", "deviation", "pump_dump", "dominance", "time")
    assert len(rcs) == sum(summ[f"rc_{nm}"] for nm in names)
    for reason, nm in enumerate(names, start=1):
        assert sum(1 for r in rcs if r[1] == reason) == summ[f"rc_{nm}"]
    by_ts: dict[int, list[float]] = {}
    for ts, price, side in lvs:
        by_ts.setdefault(ts, []).append(price)
        assert side in (-1, 0, 1)
    for ts, _reason, _price, _centre, _spacing, lowest, highest, n_slots in rcs:
        prices = by_ts.get(ts, [])
        assert (n_slots == 0) == (not prices)
        if prices:
            assert prices == sorted(prices) and min(prices) == lowest and max(prices) == highest


scenario = st.fixed_dictionaries({
    "seed": st.integers(0, 10_000),
    "n": st.integers(20, 1200),
    "vol": st.sampled_from([3e-4, 1e-3, 3e-3]),
    "dt_max": st.sampled_from([2_000, 20_000, 120_000]),
    "n_buy": st.integers(0, 5),
    "n_sell": st.integers(1, 5),
    "spacing": st.sampled_from([0.001, 0.002, 0.005, 0.01]),
    "spacing_mode": st.integers(0, 1),
    "profit_target": st.sampled_from([0.0, 0.0, 0.003, 0.008]),
    "qty_mode": st.integers(0, 1),
    "mode": st.integers(0, 2),
    "atr_mode": st.integers(0, 2),
    "trail": st.booleans(),
    "exposure": st.sampled_from([0.5, 1.0, 3.0]),
    "kill": st.sampled_from([0.0, 0.0, 0.01, 0.03]),
    "flatten": st.booleans(),
    "sl": st.sampled_from([0.0, 0.0, 0.02]),
    "latency": st.sampled_from([0, 0, 300, 5_000, 45_000]),
    "post_only": st.booleans(),
    "queue_ahead": st.sampled_from([0.0, 0.5, 3.0]),
    "queue_mult": st.sampled_from([0.0, 1.0]),
    "slippage": st.sampled_from([0.0, 0.0005]),
    "check_ms": st.sampled_from([30_000, 60_000]),
    "equity_ms": st.sampled_from([60_000, 3_600_000]),
    "funding": st.booleans(),
    "spot": st.booleans(),
})


def _run_scenario(s: dict, fill_model: int):
    ts, price, size = random_market(s["seed"], s["n"], s["vol"], s["dt_max"])
    fts, frate = funding_for(ts, s["seed"]) if s["funding"] and not s["spot"] else (
        np.zeros(0, np.int64), np.zeros(0))
    mode = Mode.LONG if s["spot"] else s["mode"]
    p = params(n_buy=s["n_buy"], n_sell=s["n_sell"], spacing=s["spacing"],
               spacing_mode=s["spacing_mode"], profit_target=s["profit_target"],
               qty_mode=s["qty_mode"], mode=mode, atr_mode=s["atr_mode"], trail=s["trail"],
               exposure=s["exposure"], kill=s["kill"], flatten=s["flatten"], sl=s["sl"],
               spot=s["spot"], fill_model=fill_model, latency=s["latency"],
               post_only=s["post_only"], queue_ahead=s["queue_ahead"],
               queue_mult=s["queue_mult"], slippage=s["slippage"], check_ms=s["check_ms"],
               equity_ms=s["equity_ms"])
    return ts, price, size, fts, frate, p


@pytest.mark.parametrize("fill_model", [FillModel.CROSS, FillModel.TOUCH, FillModel.QUEUE])
@settings(max_examples=30, deadline=None)
@given(s=scenario)
def test_kernel_matches_reference_trades(fill_model: int, s: dict) -> None:
    ts, price, size, fts, frate, p = _run_scenario(s, fill_model)
    fills, eq, summ = _compare(ts, price, size, fts, frate, *p)
    _check_invariants(fills, eq, summ, p)


@pytest.mark.parametrize("fill_model", [FillModel.CROSS, FillModel.TOUCH])
@settings(max_examples=25, deadline=None)
@given(s=scenario)
def test_kernel_matches_reference_klines(fill_model: int, s: dict) -> None:
    rng = np.random.default_rng(s["seed"])
    nb = max(5, s["n"] // 4)
    c = np.round(100 * np.exp(np.cumsum(rng.normal(0, s["vol"] * 3, nb))), 2)
    o = np.concatenate([[100.0], c[:-1]])
    h = np.round(np.maximum(o, c) * (1 + rng.exponential(s["vol"], nb)), 2)
    lo = np.round(np.minimum(o, c) * (1 - rng.exponential(s["vol"], nb)), 2)
    ot = T0 + 60_000 * np.arange(nb, dtype=np.int64)
    ts, price, size = kline_path(ot, o, h, lo, c, np.ones(nb), 60_000)
    _, _, _, fts, frate, p = _run_scenario(s, fill_model)
    fts, frate = funding_for(ts, s["seed"], every=HOUR_MS) if s["funding"] else (fts[:0], frate[:0])
    fills, eq, summ = _compare(ts, price, size, fts, frate, *p)
    _check_invariants(fills, eq, summ, p)


HOUR_MS = 3_600_000


def _check_invariants(fills, eq, summ, p) -> None:
    _gp, _f, _rp, _rk, ep = p
    for row in eq:  # equity = initial + realized + unrealized - fees - funding
        _, mark, e, pos, realized, unreal, fees, funding, _, cash = row
        assert e == pytest.approx(ep.capital + realized + unreal - fees - funding, rel=1e-12,
                                  abs=1e-9)
        if ep.spot:  # for spot it is also cash + inventory at mark
            assert e == pytest.approx(cash + pos * mark, rel=1e-9, abs=1e-6)
            assert pos >= -1e-9
    # position and fees agree with the fill list
    pos = 0.0
    for _ts, side, price, qty, fee, kind, _slot, position, _ in fills:
        pos += side * qty
        assert position == pytest.approx(pos, abs=1e-9)
        rate = ep.maker_fee if kind in (FillKind.LIMIT, FillKind.LATE) else ep.taker_fee
        assert fee == pytest.approx(qty * price * rate, rel=1e-12)
    assert summ["fees"] == pytest.approx(sum(x[4] for x in fills), rel=1e-9, abs=1e-12)
    # no look-ahead: a slot's next order is never filled on the event of the previous fill
    last: dict[int, tuple[int, int]] = {}
    for ts, side, _, _, _, kind, slot, _, _ in fills:
        if kind == FillKind.LIMIT:
            if slot in last and last[slot][1] != side:  # a new order, decided at the last fill
                assert ts - last[slot][0] >= ep.latency_ms
            last[slot] = (ts, side)


def test_kline_path_order_and_times() -> None:
    ts, price, _ = kline_path(np.array([0, 60_000]), np.array([10.0, 10.0]),
                              np.array([11.0, 10.5]), np.array([9.5, 8.0]),
                              np.array([10.2, 9.0]), np.ones(2), 60_000)
    assert ts.tolist() == [0, 20_000, 40_000, 59_999, 60_000, 80_000, 100_000, 119_999]
    assert price.tolist() == [10.0, 9.5, 11.0, 10.2, 10.0, 10.5, 8.0, 9.0]
    # ties: a bar closing up dips first, closing down rallies first
    assert not kline_path_order_nb(10.0, 11.0, 9.0, 10.5)
    assert kline_path_order_nb(10.0, 11.0, 9.0, 9.5)


def _walk(points: list[tuple[int, float]]):
    ts = np.array([t for t, _ in points], np.int64)
    price = np.array([p for _, p in points])
    return ts, price, np.ones(len(ts))


NO_FUND = (np.zeros(0, np.int64), np.zeros(0))
_SIMPLE = {"n_buy": 2, "n_sell": 2, "spacing": 0.01, "dom": False, "pd": False, "time_h": 1e3,
           "dev": 0.5, "exposure": 10.0, "slippage": 0.0}


def test_cross_never_fills_on_touch_but_touch_does() -> None:
    # grid at 100: buys at 99 and 98; the price touches 99 and goes back up
    ts, price, size = _walk([(T0, 100.0), (T0 + 1000, 99.5), (T0 + 2000, 99.0),
                             (T0 + 3000, 99.5), (T0 + 4000, 99.9)])
    cross, *_ = run_kernel(ts, price, size, *NO_FUND, *params(fill_model=FillModel.CROSS,
                                                              **_SIMPLE))
    touch, *_ = run_kernel(ts, price, size, *NO_FUND, *params(fill_model=FillModel.TOUCH,
                                                              **_SIMPLE))
    assert cross == []
    assert [(x[1], x[2]) for x in touch] == [(1, 99.0)]


def test_no_fill_on_the_decision_event_or_before_latency() -> None:
    # the grid is built on event 0 at 100; event 1 (same ms) trades through the 99 buy
    ts, price, size = _walk([(T0, 100.0), (T0, 98.5), (T0 + 10, 98.5), (T0 + 2000, 98.9)])
    fills, *_ = run_kernel(ts, price, size, *NO_FUND, *params(latency=0, post_only=False,
                                                              **_SIMPLE))
    assert [(x[0], x[2]) for x in fills][:1] == [(T0, 99.0)]  # eligible from the next event
    fills, *_ = run_kernel(ts, price, size, *NO_FUND, *params(latency=1000, post_only=False,
                                                              **_SIMPLE))
    assert fills[0][0] == T0 + 2000  # not before decision + latency


def test_post_only_rejected_when_crossing_on_arrival() -> None:
    # latency 1 s: by the time the 99 buy arrives the last price (98.5) is below it
    ts, price, size = _walk([(T0, 100.0), (T0 + 500, 98.5), (T0 + 1500, 98.6)])
    fills, _, _, summ = run_kernel(ts, price, size, *NO_FUND, *params(latency=1000, **_SIMPLE))
    assert summ["n_rejected_post_only"] == 1  # the 99 buy; the 98 buy arrives below the ask
    assert fills == []
    fills, _, _, summ = run_kernel(ts, price, size, *NO_FUND, *params(latency=1000,
                                                                      post_only=False, **_SIMPLE))
    assert summ["n_rejected_post_only"] == 0
    assert [x[2] for x in fills] == [99.0]


def test_late_fill_during_cancel_latency() -> None:
    # a deviation recenter at T0+60s cancels the 99 buy with 5 s latency; it still fills
    s = dict(_SIMPLE, dev=0.001)
    ts, price, size = _walk([(T0, 100.0), (T0 + 60_000, 103.0), (T0 + 61_000, 98.0),
                             (T0 + 66_000, 97.0)])
    fills, _, _, summ = run_kernel(ts, price, size, *NO_FUND, *params(latency=5_000,
                                                                      post_only=False, **s))
    assert summ["rc_deviation"] >= 1
    assert summ["n_late_fills"] >= 1
    assert any(x[5] == FillKind.LATE for x in fills)


def test_funding_sign_long_pays_positive_rate() -> None:
    ts, price, size = _walk([(T0, 100.0), (T0 + 1000, 100.0), (T0 + 8 * HOUR_MS, 100.0)])
    fts = np.array([T0 + 8 * HOUR_MS], np.int64)
    p = params(mode=Mode.LONG, **_SIMPLE)
    _fills, _eq, _, summ = run_kernel(ts, price, size, fts, np.array([1e-4]), *p)
    assert summ["position"] > 0
    assert summ["funding"] == pytest.approx(summ["position"] * 100.0 * 1e-4)
    _, _, _, short = run_kernel(ts, price, size, fts, np.array([1e-4]),
                                *params(mode=Mode.SHORT, **_SIMPLE))
    assert short["position"] < 0 and short["funding"] < 0  # shorts receive


def test_kill_switch_cancels_flattens_and_stops() -> None:
    pts = [(T0 + i * 30_000, 100.0 - 0.5 * i) for i in range(12)]  # steady fall
    pts += [(T0 + 400_000 + i * 30_000, 94.0 + 0.5 * i) for i in range(12)]  # and back up
    ts, price, size = _walk(pts)
    s = dict(_SIMPLE, n_buy=4, spacing=0.005)
    fills, _eq, _, summ = run_kernel(ts, price, size, *NO_FUND,
                                    *params(kill=0.002, flatten=True, **s))
    assert summ["stop_code"] == Stop.KILL_SWITCH and summ["n_kill_switch"] == 1
    assert summ["position"] == 0.0
    flat = [x for x in fills if x[5] == FillKind.FLATTEN]
    assert len(flat) == 1 and flat[0][0] == summ["stop_ts"]
    assert all(x[0] <= summ["stop_ts"] for x in fills)  # nothing trades after the stop
    _, _, _, kept = run_kernel(ts, price, size, *NO_FUND, *params(kill=0.002, flatten=False, **s))
    assert kept["stop_code"] == Stop.KILL_SWITCH and kept["position"] > 0


def test_queue_model_partial_fills() -> None:
    # buy 99 (qty q); 2 units ahead; trades at exactly 99 eat the queue then fill partially
    ts, price, size = _walk([(T0, 100.0), (T0 + 1000, 99.0), (T0 + 2000, 99.0),
                             (T0 + 3000, 98.5)])
    size = np.array([1.0, 1.5, 0.6, 0.1])
    fills, *_ = run_kernel(ts, price, size, *NO_FUND,
                           *params(fill_model=FillModel.QUEUE, queue_ahead=2.0, queue_mult=0.0,
                                   **_SIMPLE))
    buys = [x for x in fills if x[1] == 1]
    assert buys[0][0] == T0 + 2000 and buys[0][3] == pytest.approx(0.1)  # 1.5 + 0.6 - 2
    assert buys[1][0] == T0 + 3000  # a trade through the price fills the remainder
    assert buys[0][3] + buys[1][3] == pytest.approx(buys[0][3] + buys[1][3])


def test_reference_comparison_reaches_every_path() -> None:
    """Fixed seeds that exercise late fills, PostOnly rejections, partial (queue) fills,
    blocked orders, stops, flattening, funding and several recenter reasons, all matched
    exactly against the reference."""
    seen: dict[str, float] = {}
    for seed in range(8):
        for model in (FillModel.CROSS, FillModel.TOUCH, FillModel.QUEUE):
            s = {"seed": seed, "n": 3000, "vol": (2e-3, 3e-4)[seed % 2], "dt_max": 20_000,
                 "n_buy": 4, "n_sell": 4, "spacing": 0.003, "spacing_mode": seed % 2,
                 "profit_target": 0.004 * (seed % 2), "qty_mode": 0, "mode": seed % 3,
                 "atr_mode": seed % 3, "trail": seed % 4 == 1, "exposure": 1.0,
                 "kill": 0.02 if seed % 4 == 2 else 0.0, "flatten": True,
                 "sl": 0.0, "latency": (0, 2_000, 20_000)[seed % 3], "post_only": True,
                 "queue_ahead": 1.0, "queue_mult": 1.0, "slippage": 0.0005,
                 "check_ms": 60_000, "equity_ms": 600_000, "funding": True,
                 "spot": seed == 5}
            ts, price, size, fts, frate, p = _run_scenario(s, model)
            fills, eq, summ = _compare(ts, price, size, fts, frate, *p)
            _check_invariants(fills, eq, summ, p)
            for k in ("n_late_fills", "n_rejected_post_only", "n_blocked", "n_kill_switch",
                      "rc_deviation", "rc_dominance", "rc_pump_dump", "rc_trail_up",
                      "rc_trail_down", "rc_time", "n_round_trips"):
                seen[k] = seen.get(k, 0) + summ[k]
            seen["funding"] = seen.get("funding", 0) + abs(summ["funding"])
            full: dict[int, float] = {}
            for x in fills:
                full[x[6]] = max(full.get(x[6], 0.0), x[3])
            seen["partial"] = seen.get("partial", 0) + sum(
                1 for x in fills if x[5] == FillKind.LIMIT and x[3] < full[x[6]] - 1e-9)
            seen["flatten"] = seen.get("flatten", 0) + sum(
                1 for x in fills if x[5] == FillKind.FLATTEN)
    missing = [k for k, v in seen.items() if not v]
    assert not missing, seen


def test_fills_of_one_event_in_price_path_order() -> None:
    # grid at 100, buys at 99, 98, 97 (and sells above); one print at 96.5 crosses all three
    # buys: a falling price reaches 99 first, so the fills are recorded 99, 98, 97 with the
    # position growing fill by fill (as an exchange's execution stream reports them)
    s = dict(_SIMPLE, n_buy=3, n_sell=3)
    ts, price, size = _walk([(T0, 100.0), (T0 + 1000, 96.5), (T0 + 2000, 96.6)])
    fills, *_ = run_kernel(ts, price, size, *NO_FUND, *params(post_only=False, **s))
    buys = [x for x in fills if x[0] == T0 + 1000]
    assert [x[2] for x in buys] == [99.0, 98.0, 97.0]
    pos = [x[7] for x in buys]
    assert pos == sorted(pos) and pos[0] > 0
    # rising through three sells: the lowest ask first
    ts, price, size = _walk([(T0, 100.0), (T0 + 1000, 103.5), (T0 + 2000, 103.4)])
    fills, *_ = run_kernel(ts, price, size, *NO_FUND, *params(post_only=False, **s))
    sells = [x for x in fills if x[0] == T0 + 1000]
    assert [x[2] for x in sells] == [101.0, 102.0, 103.0]


def test_state_refuses_a_grid_it_cannot_hold() -> None:
    from gridlab.backtest.data import MarketData
    from gridlab.backtest.engine import run_arrays
    from gridlab.backtest.params import RunParams
    from gridlab.backtest.state_nb import MAX_SLOTS
    from gridlab.errors import ConfigError

    gp, f, rp, rk, ep = params(n_buy=MAX_SLOTS // 2 + 1, n_sell=MAX_SLOTS // 2)
    ts, price, size = _walk([(T0, 100.0), (T0 + 1000, 99.0)])
    data = MarketData.from_trades(ts, price, size, symbol="TESTUSDT", filters=f)
    with pytest.raises(ConfigError, match=r"grid.n_buy \+ grid.n_sell"):
        run_arrays(data, RunParams(gp, f, rp, rk, ep))


def test_step_api_driven_from_python_returns_the_actions() -> None:
    """The live runner's use of the step: on_check_nb / on_fill_nb with sim=False return the
    orders to send (the state already holds them), and book an exchange's fill."""
    from gridlab.backtest.gate_nb import no_account_nb
    from gridlab.backtest.state_nb import Act, new_grid_state
    from gridlab.backtest.step_nb import on_check_nb, on_fill_nb

    gp, f, rp, rk, ep = params(**_SIMPLE)
    rec, g = new_grid_state(gp, rp, ep.capital, 1e-8, T0, 100.0)
    st = rec[0]
    ax = no_account_nb()
    na = on_check_nb(st, g, T0, 100.0, gp, f, rp, rk, ep, ax, False)
    acts = g.act[:na].copy()
    assert list(acts["kind"][:2]) == [Act.CANCEL_ALL, Act.REBUILD]
    places = acts[acts["kind"] == Act.PLACE]
    assert sorted(places["price"].tolist()) == pytest.approx([98.0, 99.0, 101.0, 102.0])
    assert rec[0]["has_grid"] == 1 and (g.orders["side"][:4] != 0).all()
    # the exchange reports the 99 buy filled: booked, and the slot's sell at 100 is requested
    k = int(places[np.isclose(places["price"], 99.0)]["slot"][0])
    qty = float(g.orders[k]["qty"])
    na = on_fill_nb(st, g, k, qty, T0 + 1000, 98.9, gp, f, rk, ep, ax, False)
    assert na == 1 and g.act[0]["kind"] == Act.PLACE and g.act[0]["slot"] == k
    assert g.act[0]["side"] == -1 and g.act[0]["price"] == pytest.approx(100.0)
    assert g.acc[0] == qty and rec[0]["n_limit"] == 1
