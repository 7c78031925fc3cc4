"""The replay's quiet shortcuts change no result: the quiet window of the recenter triggers
(`recenter_nb.arm_quiet_nb`, answered in O(1) by `on_check_nb`), the quiet checks
(`step_nb.check_quiet_nb`), the quiet events of the forming bar, the bar blocks and the block
pre-filter (`engine_nb._replay_nb`) against the same kernel with every event and every
trigger evaluated in full (`st.exact = 1`), exactly, on random kline paths and trades where
the shortcuts are taken (`n_quiet` counts the quiet checks).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.backtest.enums import FillModel
from gridlab.backtest.path_nb import kline_path
from gridlab.backtest.start import fresh_state
from gridlab.strategy.bars_nb import bar_update_nb, new_bar_ring, ring_capacity_nb
from gridlab.strategy.enums import Mode, Reason, RecenterParams
from gridlab.strategy.recenter_nb import (
    arm_quiet_nb,
    new_recenter_cache,
    recenter_quiet_nb,
    recenter_reason_nb,
)
from tests.backtest_helpers import HOUR, T0, params, random_market, run_kernel_full
from tests.reference import examples

BAR = 60_000


def klines(seed: int, n_bars: int, vol: float, off: int = 0):
    """Random 1m kline paths; bars open on the minute (as Bybit's) plus `off` ms (bars that
    straddle the grid's own bars take no bar blocks)."""
    rng = np.random.default_rng(seed)
    cl = np.round(100 * np.exp(np.cumsum(rng.normal(0, vol, n_bars))), 2)
    o = np.concatenate([[100.0], cl[:-1]])
    h = np.round(np.maximum(o, cl) * (1 + rng.exponential(vol / 2, n_bars)), 2)
    lo = np.round(np.minimum(o, cl) * (1 - rng.exponential(vol / 2, n_bars)), 2)
    ot = T0 - T0 % BAR + off + BAR * np.arange(n_bars, dtype=np.int64)
    return kline_path(ot, o, h, lo, cl, np.ones(n_bars), BAR)


def run_both(ts, price, size, p):
    """(shortcut run, exact run, quiet checks of the shortcut run): kernel outputs."""
    gp, f, rp, _, ep = p
    out = []
    quiet = 0
    for exact in (0, 1):
        s = fresh_state(gp, rp, ep.capital, f.qty_step * 1e-6, int(ts[0]), float(price[0]),
                        ep.record)
        s.rec[0]["exact"] = exact
        none = np.zeros(0, np.int64), np.zeros(0)
        out.append(run_kernel_full(ts, price, size, *none, *p, state=s))
        if exact == 0:
            quiet = int(s.rec[0]["n_quiet"])
        else:
            assert s.rec[0]["n_quiet"] == 0
    return out[0], out[1], quiet


kcase = st.fixed_dictionaries({
    "seed": st.integers(0, 100_000),
    "bars": st.integers(60, 700),
    "vol": st.sampled_from([3e-4, 1e-3, 4e-3]),
    "n": st.integers(1, 5),
    "spacing": st.sampled_from([0.001, 0.003, 0.008]),
    "mode": st.sampled_from([Mode.NEUTRAL, Mode.LONG, Mode.SHORT]),
    "model": st.sampled_from([FillModel.CROSS, FillModel.TOUCH]),
    "exposure": st.sampled_from([0.3, 1.0, 3.0]),
    "latency": st.sampled_from([0, 400, 30_000]),
    "check_ms": st.sampled_from([30_000, 60_000, 120_000]),
    "pd": st.sampled_from([0.004, 0.01, 0.02]),
    "dom": st.sampled_from([0.55, 0.7, 0.8]),
    "dev": st.sampled_from([0.002, 0.01]),
    "time_h": st.sampled_from([0.5, 3.0, 24.0]),
    "trail": st.booleans(),
    "kill": st.sampled_from([0.0, 0.004]),
    "atr": st.integers(0, 2),
    "off": st.sampled_from([0, 0, 20_000]),
})


def kparams(c: dict):
    gp, f, rp, rk, ep = params(n_buy=c["n"], n_sell=c["n"], spacing=c["spacing"],
                               mode=int(c["mode"]), fill_model=int(c["model"]),
                               exposure=c["exposure"], latency=c["latency"],
                               check_ms=c["check_ms"], dev=c["dev"], time_h=c["time_h"],
                               trail=c["trail"], kill=c["kill"], atr_mode=c["atr"])
    rp = rp._replace(pd_pct=c["pd"], pd_window_ms=HOUR // 2, dom_share=c["dom"],
                     dom_window_ms=HOUR)
    return gp, f, rp, rk, ep


@settings(max_examples=examples(40), deadline=None)
@given(c=kcase)
def test_kline_shortcuts_change_nothing(c: dict) -> None:
    """1m kline paths, every trigger on with thresholds near the market's moves: the run with
    the quiet checks and quiet events equals the run that evaluates everything."""
    ts, price, size = klines(c["seed"], c["bars"], c["vol"], c["off"])
    fast, exact, _ = run_both(ts, price, size, kparams(c))
    assert fast == exact


@settings(max_examples=examples(20), deadline=None)
@given(c=kcase, dt=st.sampled_from([500, 5_000, 30_000]))
def test_trade_shortcuts_change_nothing(c: dict, dt: int) -> None:
    """Trades (several per bar, the block pre-filter when they are dense)."""
    ts, price, size = random_market(c["seed"], 20 * c["bars"], c["vol"] / 4, dt)
    fast, exact, _ = run_both(ts, price, size, kparams(c))
    assert fast == exact


def test_the_shortcuts_are_taken() -> None:
    """On a quiet kline market most checks are answered by the quiet window, and the results
    still match (the comparisons above are not vacuous)."""
    c = {"seed": 7, "bars": 2_000, "vol": 3e-4, "n": 3, "spacing": 0.003,
         "mode": Mode.NEUTRAL, "model": FillModel.CROSS, "exposure": 1.0, "latency": 0,
         "check_ms": 60_000, "pd": 0.02, "dom": 0.8, "dev": 0.01, "time_h": 24.0,
         "trail": False, "kill": 0.0, "atr": 0, "off": 0}
    ts, price, size = klines(c["seed"], c["bars"], c["vol"])
    fast, exact, quiet = run_both(ts, price, size, kparams(c))
    assert fast == exact
    assert quiet > c["bars"] // 2
    assert len(fast[0]) > 0 and len(fast[4]) > 1  # fills and rebuilds happened


rcase = st.fixed_dictionaries({
    "seed": st.integers(0, 100_000),
    "bars": st.integers(20, 400),
    "vol": st.sampled_from([5e-4, 2e-3, 8e-3]),
    "gap": st.sampled_from([0.0, 0.1]),  # share of missing bars
    "pd": st.sampled_from([0.003, 0.01, 0.03]),
    "pd_bars": st.integers(2, 40),
    "dom": st.sampled_from([0.51, 0.6, 0.8, 1.0]),
    "dom_bars": st.integers(2, 60),
    "dev": st.sampled_from([0.001, 0.005]),
    "time_bars": st.integers(5, 200),
    "on": st.lists(st.booleans(), min_size=5, max_size=5),
    "every": st.integers(1, 3),  # check every k bars
    "rebuild": st.integers(10, 80),  # recenter (new centre) every this many checks
})


@settings(max_examples=examples(150), deadline=None)
@given(c=rcase)
def test_quiet_window_never_hides_a_trigger(c: dict) -> None:
    """Along a random bar stream: at every check the quiet window answers, the triggers with a
    fresh cache (a scan) answer Reason.NONE. Windows are re-armed after each full answer of
    NONE, as on_check_nb does."""
    rng = np.random.default_rng(c["seed"])
    on = c["on"]
    rp = RecenterParams(on[0], c["dev"], on[1], c["time_bars"] * BAR, on[2], c["dom"],
                        c["dom_bars"] * BAR, on[3], c["pd"], c["pd_bars"] * BAR, on[4], 0.0,
                        on[4], 0.0)
    cap = ring_capacity_nb(BAR, 5, rp.dom_window_ms, rp.pd_window_ms)
    ring, meta = new_bar_ring(cap)
    cur = np.zeros(4)
    cache = new_recenter_cache(cap)
    px = 100.0
    centre, low, high, last = px, px * 0.99, px * 1.01, T0
    quiet = 0
    n_checks = 0
    for b in range(c["bars"]):
        if rng.random() < c["gap"]:
            continue
        t0 = T0 + b * BAR
        for j in range(4):
            px = round(px * float(np.exp(rng.normal(0, c["vol"]))), 2)
            bar_update_nb(ring, meta, cur, t0 + j * (BAR // 4), px, BAR)
            if j != 0 or b % c["every"]:
                continue
            t = t0
            n_checks += 1
            if n_checks % c["rebuild"] == 0:
                centre, low, high, last = px, px * 0.99, px * 1.01, t
            scan = recenter_reason_nb(t, px, centre, low, high, last, ring, meta,
                                      new_recenter_cache(cap), rp)
            if recenter_quiet_nb(cache, t, px, centre, low, high, last):
                quiet += 1
                assert scan == Reason.NONE, (b, scan)
                continue
            got = recenter_reason_nb(t, px, centre, low, high, last, ring, meta, cache, rp)
            assert got == scan
            if got == Reason.NONE:
                arm_quiet_nb(ring, meta, cache, t, centre, low, high, last, rp, BAR)
            else:
                centre, low, high, last = px, px * 0.99, px * 1.01, t
    if n_checks > 40 and not any(on):
        assert quiet > 0


@settings(max_examples=examples(25), deadline=None)
@given(seed=st.integers(0, 100_000), margin=st.sampled_from([1, 2]),
       lev=st.sampled_from([5.0, 20.0, 50.0]), mode=st.sampled_from([Mode.LONG, Mode.SHORT]))
def test_bar_blocks_with_margin_and_funding_change_nothing(seed: int, margin: int, lev: float,
                                                           mode: int) -> None:
    """The margin model with funding every hour (the cross margin's balance moves with it,
    and so does the liquidation price, refreshed at the next full check): a bar block's
    quiet check needs an unchanged `epoch`, so it never skips a refresh."""
    ts, price, size = klines(seed, 1_500, 1e-3)
    gp, f, rp, rk, ep = params(n_buy=4, n_sell=4, spacing=0.002, mode=int(mode),
                               exposure=30.0, leverage=lev, equity_ms=3_600_000)
    ep = ep._replace(margin=margin, leverage=lev)
    rng = np.random.default_rng(seed)
    fts = np.arange(ts[0] // HOUR * HOUR + HOUR, ts[-1], HOUR, dtype=np.int64)
    frate = rng.normal(0.0, 0.05, len(fts))  # huge rates: the balance moves at every one
    out = []
    for exact in (0, 1):
        s = fresh_state(gp, rp, ep.capital, f.qty_step * 1e-6, int(ts[0]), float(price[0]),
                        ep.record)
        s.rec[0]["exact"] = exact
        out.append(run_kernel_full(ts, price, size, fts, frate, gp, f, rp, rk, ep, state=s))
    assert out[0] == out[1]
