"""The numba backtest kernels against the independent plain-Python reference, exactly.

`tests/reference/engine_ref.py` and `portfolio_ref.py` import nothing from gridlab; this file
converts the kernel inputs (NamedTuples, arrays) into their plain form (dicts, lists) and
compares every fill (ts, side, price, qty, fee, kind, slot, position, grid profit), every
equity point, the daily closes, the builds and their levels, and the summary.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.backtest.engine_nb import blocks_pay_nb
from gridlab.backtest.enums import (
    EQUITY_DTYPE,
    FILL_DTYPE,
    LEVEL_DTYPE,
    N_SUMMARY,
    RECENTER_DTYPE,
    SUMMARY_FIELDS,
    FillModel,
)
from gridlab.backtest.path_nb import kline_path
from gridlab.backtest.portfolio_nb import ACCOUNT_ROW_DTYPE, merge_streams_nb, run_portfolio_nb
from gridlab.backtest.sweep_nb import rows_of
from gridlab.strategy.enums import Mode
from tests.backtest_helpers import (
    HOUR,
    T0,
    funding_for,
    nan_safe,
    params,
    random_market,
    run_kernel_full,
)
from tests.reference import examples
from tests.reference.engine_ref import run_plain
from tests.reference.portfolio_ref import run_portfolio_ref

TRIGGERS = ("dev", "time", "dom", "pd", "trail")
NAMES = ("grid", "filters", "recenter", "risk", "engine")


# ---- conversion of the kernel inputs into the reference's plain form ---------------------

def plain_cfg(p: tuple) -> dict:
    """(gp, f, rp, rk, ep) NamedTuples -> {"grid": {...}, ...} of plain Python values."""
    def plain(v):
        if isinstance(v, np.ndarray):  # EngineParams' tier and mark arrays
            return v.tolist()
        return v.item() if hasattr(v, "item") else v

    return {nm: {k: plain(v) for k, v in x._asdict().items()}
            for nm, x in zip(NAMES, p, strict=True)}


def plain_market(ts, price, size, fts, frate) -> dict:
    return {"ts": [int(x) for x in ts], "price": [float(x) for x in price],
            "size": [float(x) for x in size], "fund_ts": [int(x) for x in fts],
            "fund_rate": [float(x) for x in frate]}


def compare_single(ts, price, size, fts, frate, p) -> dict:
    """Run kernel and reference on one market; assert exact agreement; return the summary."""
    fills, eq, daily, summ, rcs, lvs, _ = run_kernel_full(ts, price, size, fts, frate, *p)
    ref = run_plain(plain_market(ts, price, size, fts, frate), plain_cfg(p))
    assert len(fills) == len(ref.fills)
    for j, (a, b) in enumerate(zip(fills, ref.fills, strict=True)):
        assert a == b, f"fill {j}: kernel {a} != reference {b}"
    assert eq == ref.equity
    assert daily == ref.daily
    assert summ == ref.summary
    assert nan_safe(rcs) == nan_safe(ref.recenters)
    assert lvs == ref.levels
    return summ


# ---- inputs -------------------------------------------------------------------------------

def with_triggers(p: tuple, on: tuple[str, ...], **risk) -> tuple:
    """Only the recenter triggers in `on` enabled (TIME short enough to fire); risk fields."""
    gp, f, rp, rk, ep = p
    rp = rp._replace(dev_enabled="dev" in on, time_enabled="time" in on,
                     max_age_ms=20 * 60_000, dom_enabled="dom" in on, dom_window_ms=HOUR // 2,
                     pd_enabled="pd" in on, pd_pct=0.004, pd_window_ms=HOUR // 2,
                     trail_up="trail" in on, trail_down="trail" in on)
    return gp, f, rp, rk._replace(**risk), ep


case = st.fixed_dictionaries({
    "seed": st.integers(0, 100_000),
    "n": st.integers(30, 300),
    "vol": st.sampled_from([5e-4, 2e-3, 5e-3]),
    "dt_max": st.sampled_from([5_000, 30_000, 120_000]),
    "n_buy": st.integers(0, 4),
    "n_sell": st.integers(1, 4),
    "spacing": st.sampled_from([0.001, 0.003, 0.008]),
    "spacing_mode": st.integers(0, 1),
    "profit_target": st.sampled_from([0.0, 0.004]),
    "qty_mode": st.integers(0, 1),
    "atr_mode": st.integers(0, 2),
    "exposure": st.sampled_from([0.3, 1.0, 3.0]),
    "latency": st.sampled_from([0, 0, 400, 5_000, 70_000]),
    "post_only": st.booleans(),
    "queue_ahead": st.sampled_from([0.0, 0.7]),
    "check_ms": st.sampled_from([30_000, 60_000]),
    "funding": st.booleans(),
    "account_x": st.sampled_from([1.0, 1.0, 4.0]),  # account equity / grid budget
})


def build(c: dict, *, mode: int, spot: bool, fill_model: int, triggers=TRIGGERS, **risk):
    ts, price, size = random_market(c["seed"], c["n"], c["vol"], c["dt_max"])
    fts, frate = (funding_for(ts, c["seed"], every=HOUR) if c["funding"] and not spot
                  else (np.zeros(0, np.int64), np.zeros(0)))
    p = params(n_buy=c["n_buy"], n_sell=c["n_sell"], spacing=c["spacing"],
               spacing_mode=c["spacing_mode"], profit_target=c["profit_target"],
               qty_mode=c["qty_mode"], mode=mode, atr_mode=c["atr_mode"],
               exposure=c["exposure"], spot=spot, fill_model=fill_model,
               latency=c["latency"], post_only=c["post_only"], queue_ahead=c["queue_ahead"],
               check_ms=c["check_ms"], equity_ms=300_000,
               account=1000.0 * c.get("account_x", 1.0))
    return ts, price, size, fts, frate, with_triggers(p, triggers, **risk)


MODES = {"neutral": (Mode.NEUTRAL, False), "long": (Mode.LONG, False),
         "short": (Mode.SHORT, False), "spot": (Mode.LONG, True)}
MODELS = {"cross": FillModel.CROSS, "touch": FillModel.TOUCH, "queue": FillModel.QUEUE}


# ---- single runs --------------------------------------------------------------------------

@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("mode", list(MODES))
@settings(max_examples=examples(8), deadline=None)
@given(c=case)
def test_modes_and_fill_models_match_reference(mode: str, model: str, c: dict) -> None:
    m, spot = MODES[mode]
    compare_single(*build(c, mode=m, spot=spot, fill_model=MODELS[model]))


@pytest.mark.parametrize("trigger", TRIGGERS)
@settings(max_examples=examples(10), deadline=None)
@given(c=case, mode=st.sampled_from(list(MODES)), model=st.sampled_from(list(MODELS)))
def test_each_recenter_trigger_matches_reference(trigger: str, c: dict, mode: str,
                                                 model: str) -> None:
    m, spot = MODES[mode]
    compare_single(*build(c, mode=m, spot=spot, fill_model=MODELS[model], triggers=(trigger,)))


stops = st.fixed_dictionaries({
    "kill_switch_dd": st.sampled_from([0.0, 0.002, 0.01]),
    "flatten_on_kill": st.booleans(),
    "stop_loss_equity_pct": st.sampled_from([0.0, 0.003, 0.02]),
    "take_profit_equity_pct": st.sampled_from([0.0, 0.002]),
    "max_position": st.sampled_from([0.0, 0.0, 5.0]),
})


@settings(max_examples=examples(40), deadline=None)
@given(c=case, mode=st.sampled_from(list(MODES)), model=st.sampled_from(list(MODELS)),
       risk=stops, band=st.sampled_from([0.0, 0.004, 0.02]))
def test_kill_switch_and_stops_match_reference(c: dict, mode: str, model: str, risk: dict,
                                               band: float) -> None:
    m, spot = MODES[mode]
    ts, price, size, fts, frate, p = build(c, mode=m, spot=spot, fill_model=MODELS[model],
                                           **risk)
    if band:  # price stops around the first price
        p = (*p[:3], p[3]._replace(stop_price_low=float(price[0]) * (1 - band),
                                   stop_price_high=float(price[0]) * (1 + band)), p[4])
    compare_single(ts, price, size, fts, frate, p)


dense_case = st.builds(lambda c, n, dt, vol: {**c, "n": n, "dt_max": dt, "vol": vol},
                       case, st.integers(300, 800), st.sampled_from([100, 400]),
                       st.sampled_from([2e-5, 1e-4, 5e-4]))


@settings(max_examples=examples(12), deadline=None)
@given(c=dense_case, mode=st.sampled_from(list(MODES)), model=st.sampled_from(list(MODELS)))
def test_block_prefilter_matches_reference(c: dict, mode: str, model: str) -> None:
    """Dense trades (hundreds of events per check): the replay applies quiet blocks of events
    at once (engine_nb's block pre-filter); every fill, equity point, daily close and the
    summary still equal the per-event reference."""
    m, spot = MODES[mode]
    ts, price, size, fts, frate, p = build(c, mode=m, spot=spot, fill_model=MODELS[model])
    assert blocks_pay_nb(ts, p[4].check_ms)  # the blocks are in use
    compare_single(ts, price, size, fts, frate, p)


@settings(max_examples=examples(25), deadline=None)
@given(c=case, mode=st.sampled_from(list(MODES)), model=st.sampled_from(["cross", "touch"]),
       kill=st.sampled_from([0.0, 0.005]))
def test_kline_paths_match_reference(c: dict, mode: str, model: str, kill: float) -> None:
    rng = np.random.default_rng(c["seed"])
    nb = max(5, c["n"] // 4)
    cl = np.round(100 * np.exp(np.cumsum(rng.normal(0, c["vol"], nb))), 2)
    o = np.concatenate([[100.0], cl[:-1]])
    h = np.round(np.maximum(o, cl) * (1 + rng.exponential(c["vol"] / 2, nb)), 2)
    lo = np.round(np.minimum(o, cl) * (1 - rng.exponential(c["vol"] / 2, nb)), 2)
    ot = T0 + 60_000 * np.arange(nb, dtype=np.int64)
    ts, price, size = kline_path(ot, o, h, lo, cl, np.ones(nb), 60_000)
    m, spot = MODES[mode]
    _, _, _, fts, frate, p = build(c, mode=m, spot=spot, fill_model=MODELS[model],
                                   kill_switch_dd=kill)
    compare_single(ts, price, size, fts[:0], frate[:0], p)


def test_comparisons_reach_every_rule() -> None:
    """Fixed inputs through the same comparison that exercise what the hypothesis tests are
    named for: each trigger fires, the kill switch and each stop fire, latency makes late
    fills and PostOnly rejections, the queue model fills partially, the cap blocks orders."""
    seen: dict[str, float] = {}
    base = {"n": 300, "vol": 3e-3, "dt_max": 30_000, "n_buy": 3, "n_sell": 3,
            "spacing": 0.003, "spacing_mode": 0, "profit_target": 0.0, "qty_mode": 0,
            "atr_mode": 1, "exposure": 0.5, "latency": 5_000, "post_only": True,
            "queue_ahead": 0.7, "check_ms": 30_000, "funding": True}
    for seed in range(6):
        for trigger in TRIGGERS:
            for model in MODELS.values():
                c = base | {"seed": seed}
                summ = compare_single(*build(c, mode=seed % 3, spot=False, fill_model=model,
                                             triggers=(trigger,),
                                             kill_switch_dd=0.004 * (seed % 2),
                                             stop_loss_equity_pct=0.004 * (seed == 2)))
                for k in ("rc_deviation", "rc_time", "rc_dominance", "rc_pump_dump",
                          "rc_trail_up", "rc_trail_down", "n_late_fills",
                          "n_rejected_post_only", "n_blocked", "n_kill_switch"):
                    seen[k] = seen.get(k, 0) + summ[k]
                seen[f"stop_{int(summ['stop_code'])}"] = 1
    missing = [k for k, v in seen.items() if not v]
    assert not missing and "stop_2" in seen and "stop_1" in seen, seen


# ---- portfolio ----------------------------------------------------------------------------

def run_portfolio_kernel(markets: list[tuple], ps: list[tuple], acct: dict):
    """run_portfolio_nb on per-symbol (ts, price, size, fts, frate) and parameter tuples."""
    S = len(markets)
    ev_off = np.concatenate([[0], np.cumsum([len(m[0]) for m in markets])]).astype(np.int64)
    ts = np.concatenate([m[0] for m in markets]).astype(np.int64)
    price = np.concatenate([m[1] for m in markets]).astype(np.float64)
    size = np.concatenate([m[2] for m in markets]).astype(np.float64)
    f_off = np.concatenate([[0], np.cumsum([len(m[3]) for m in markets])]).astype(np.int64)
    fts = np.concatenate([m[3] for m in markets] + [np.zeros(0, np.int64)]).astype(np.int64)
    frate = np.concatenate([m[4] for m in markets] + [np.zeros(0)]).astype(np.float64)
    m_sym = np.empty(len(ts), np.int64)
    m_idx = np.empty(len(ts), np.int64)
    merge_streams_nb(ts, ev_off, m_sym, m_idx)
    G, R, K, E, F = (rows_of([p[j] for p in ps]) for j in (0, 2, 3, 4, 1))
    n_days = int(ts.max() // 86_400_000 - ts.min() // 86_400_000 + 1)
    cap = 4 * len(ts) + 64
    n_eq = max((int(m[0][-1] - m[0][0]) // p[4].equity_ms + 3)
               for m, p in zip(markets, ps, strict=True))
    n_rc = 4 * len(ts) + 2
    fills = np.zeros((S, cap), FILL_DTYPE)
    equity = np.zeros((S, n_eq), EQUITY_DTYPE)
    rc = np.zeros((S, n_rc), RECENTER_DTYPE)
    lv = np.zeros((S, n_rc * 10), LEVEL_DTYPE)
    daily = np.zeros((S, n_days))
    tdaily = np.zeros(n_days)
    acct_rows = np.zeros(int(ts.max() - ts.min()) // acct["check_ms"] + 2, ACCOUNT_ROW_DTYPE)
    summary = np.zeros((S, N_SUMMARY))
    blocked = np.zeros(S, np.int64)
    counts = np.zeros((S, 4), np.int64)
    total = np.zeros(9)
    run_portfolio_nb(m_sym, m_idx, ev_off, ts, price, size, f_off, fts, frate, G, R, K, E, F,
                     acct["capital"], acct["max_total_exposure_pct"], acct["max_symbol_share"],
                     acct["kill_switch_dd"], np.int64(acct["check_ms"]), True, fills, equity,
                     rc, lv, daily, tdaily, acct_rows, summary, blocked, counts, total)
    assert (counts[:, 0] <= cap).all()
    return {
        "fills": [[tuple(x) for x in fills[s, :counts[s, 0]].tolist()] for s in range(S)],
        "equity": [[tuple(x) for x in equity[s, :counts[s, 1]].tolist()] for s in range(S)],
        "summary": [dict(zip(SUMMARY_FIELDS, summary[s].tolist(), strict=True))
                    for s in range(S)],
        "daily": daily.tolist(), "tdaily": tdaily.tolist(), "blocked": blocked.tolist(),
        "acct": [tuple(x) for x in acct_rows[:int(total[5])].tolist()], "total": total.tolist(),
    }


portfolio_case = st.fixed_dictionaries({
    "seed": st.integers(0, 100_000),
    "n_sym": st.integers(2, 3),
    "n": st.integers(40, 200),
    "modes": st.lists(st.sampled_from(list(MODES)), min_size=3, max_size=3),
    "model": st.sampled_from(list(MODELS)),
    "latency": st.sampled_from([0, 0, 3_000]),
    "max_total": st.sampled_from([0.0, 0.2, 0.5, 1.5]),
    "max_share": st.sampled_from([0.0, 0.1, 0.3]),
    "kill": st.sampled_from([0.0, 0.0, 0.002, 0.01]),
    "flatten": st.booleans(),
    "check_ms": st.sampled_from([30_000, 60_000]),
})


def compare_portfolio(c: dict):
    """Kernel and reference on one portfolio case; assert exact agreement; return the ref."""
    markets, ps = [], []
    for s in range(c["n_sym"]):
        mc = {"seed": c["seed"] + 7 * s, "n": c["n"], "vol": 2e-3, "dt_max": 30_000,
              "n_buy": 3, "n_sell": 3, "spacing": 0.003, "spacing_mode": s % 2,
              "profit_target": 0.0, "qty_mode": 0, "atr_mode": s % 3, "exposure": 2.0,
              "latency": c["latency"], "post_only": True, "queue_ahead": 0.5,
              "check_ms": 60_000, "funding": True}
        m, spot = MODES[c["modes"][s]]
        ts, price, size, fts, frate, p = build(mc, mode=m, spot=spot,
                                               fill_model=MODELS[c["model"]],
                                               flatten_on_kill=c["flatten"])
        p = (*p[:4], p[4]._replace(capital=1000.0 / c["n_sym"]))
        markets.append((ts, price, size, fts, frate))
        ps.append(p)
    acct = {"capital": 1000.0, "max_total_exposure_pct": c["max_total"],
            "max_symbol_share": c["max_share"], "kill_switch_dd": c["kill"],
            "check_ms": c["check_ms"]}
    k = run_portfolio_kernel(markets, ps, acct)
    ref = run_portfolio_ref([plain_market(*m) for m in markets], [plain_cfg(p) for p in ps],
                            acct)
    for s in range(c["n_sym"]):
        assert k["fills"][s] == ref.grids[s].fills, s
        assert k["equity"][s] == ref.grids[s].equity, s
        assert k["summary"][s] == ref.grids[s].summary, s
        assert k["daily"][s] == ref.grids[s].daily, s
    assert k["blocked"] == ref.blocked_account
    assert k["acct"] == ref.account_rows
    assert k["tdaily"] == ref.total_daily
    assert k["total"][3:5] == [ref.stop_code, ref.stop_ts]
    assert k["total"][6] == ref.final_equity
    return ref


@settings(max_examples=examples(40), deadline=None)
@given(c=portfolio_case)
def test_portfolio_with_account_limits_matches_reference(c: dict) -> None:
    compare_portfolio(c)


def test_portfolio_comparison_binds_the_limits() -> None:
    """The portfolio comparison on fixed inputs where the account limits bind: orders are
    refused by the account gate, and the account kill switch stops every grid."""
    blocked = kills = 0
    for seed in range(4):
        c = {"seed": seed, "n_sym": 3, "n": 200, "modes": ["neutral", "long", "short"],
             "model": "cross", "latency": 0, "max_total": 0.2, "max_share": 0.1,
             "kill": 0.003 * (seed % 2), "flatten": True, "check_ms": 30_000}
        ref = compare_portfolio(c)
        blocked += sum(ref.blocked_account)
        kills += ref.stop_code == 1
    assert blocked > 0 and kills > 0, (blocked, kills)


def test_retry_memo_stale_after_resting_totals_move() -> None:
    """Pinned: a sell refused at |worst| = 5.000000000000001 > max_position 5 is asked again
    at a later check of the same epoch where the resting totals at t sum to exactly 5 (the
    refusal memo keyed on `epoch` alone counted it refused: n_blocked 636 vs 635)."""
    c = {"seed": 3890, "n": 273, "vol": 0.002, "dt_max": 120000, "n_buy": 3, "n_sell": 3,
         "spacing": 0.003, "spacing_mode": 0, "profit_target": 0.0, "qty_mode": 1,
         "atr_mode": 1, "exposure": 1.0, "latency": 70000, "post_only": False,
         "queue_ahead": 0.0, "check_ms": 30000, "funding": False, "account_x": 1.0}
    risk = {"kill_switch_dd": 0.0, "flatten_on_kill": False, "stop_loss_equity_pct": 0.0,
            "take_profit_equity_pct": 0.0, "max_position": 5.0}
    m, spot = MODES["long"]
    summ = compare_single(*build(c, mode=m, spot=spot, fill_model=MODELS["cross"], **risk))
    assert summ["n_blocked"] == 635
