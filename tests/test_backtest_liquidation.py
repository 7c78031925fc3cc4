"""The margin model in the step (backtest.margin): liquidation and margin refusals, kernel
against the plain-Python reference, and hand-checked liquidations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.backtest.data import MarketData
from gridlab.backtest.engine import backtest
from gridlab.backtest.enums import FillKind, FillModel, MarginMode
from gridlab.errors import ConfigError
from gridlab.strategy.enums import Mode, Stop
from gridlab.strategy.margin import liquidation_price, snapshot_tiers
from tests.backtest_helpers import T0, params, run_kernel_full
from tests.reference.engine_ref import run_ref
from tests.test_backtest_engine import _compare, _run_scenario, scenario

TIERS = snapshot_tiers("BTCUSDT")
NO_FUND = (np.zeros(0, np.int64), np.zeros(0))


def _margin(p, mode: int, lev: float):
    gp, f, rp, rk, ep = p
    gp = gp._replace(leverage=float(lev))
    ep = ep._replace(margin=int(mode), leverage=float(lev), tier_limit=TIERS.limit,
                     tier_mmr=TIERS.mmr, tier_mmd=TIERS.mmd)
    return gp, f, rp, rk, ep


margin_scenario = st.fixed_dictionaries({
    "margin": st.sampled_from([MarginMode.ISOLATED, MarginMode.CROSS]),
    "lev": st.sampled_from([1.0, 5.0, 20.0, 50.0]),
    "mark": st.sampled_from([None, 0.997, 1.0, 1.004]),
})


def _mark_series(ts, price, factor: float):
    """1m mark bars: each minute's last trade x factor, known from the minute's end."""
    minute = ts // 60_000
    last = np.flatnonzero(np.r_[minute[1:] != minute[:-1], True])
    return ((minute[last] + 1) * 60_000).astype(np.float64), price[last] * factor


@pytest.mark.parametrize("fill_model", [FillModel.CROSS, FillModel.TOUCH, FillModel.QUEUE])
@settings(max_examples=30, deadline=None)
@given(s=scenario, m=margin_scenario)
def test_kernel_matches_reference_with_margin(fill_model: int, s: dict, m: dict) -> None:
    s = s | {"spot": False, "vol": max(s["vol"], 1e-3)}
    ts, price, size, fts, frate, p = _run_scenario(s, fill_model)
    p = _margin(p, m["margin"], m["lev"])
    ep = p[4]
    if m["mark"] is not None:
        mt, mp = _mark_series(ts, price, m["mark"])
        ep = ep._replace(mark_ts=mt, mark_px=mp)
    p = (p[0], p[1], p[2], p[3]._replace(max_exposure_pct=p[3].max_exposure_pct * m["lev"]),
         ep)
    _fills, _eq, summ = _compare(ts, price, size, fts, frate, *p)
    assert summ["n_liquidations"] in (0.0, 1.0)
    if summ["n_liquidations"]:
        assert summ["stop_code"] == Stop.LIQUIDATED and summ["position"] == 0.0


def _crash(n: int = 600, top: float = 100.0, bottom: float = 70.0, flat: int = 60):
    ts = T0 + np.arange(n, dtype=np.int64) * 10_000
    price = np.round(np.concatenate([np.full(flat, top), np.linspace(top, bottom, n - flat)]),
                     2)
    return ts, price, np.ones(n)


def _grid(mode: int, lev: float, margin: int = MarginMode.ISOLATED, **kw):
    side = {"n_buy": 5, "n_sell": 0} if mode == Mode.LONG else {"n_buy": 0, "n_sell": 5}
    p = params(**side, spacing=0.01, mode=mode, capital=1000.0, exposure=lev + 5.0, dev=0.9,
               time_h=10_000.0, dom=False, pd=False, **kw)
    return _margin(p, margin, lev)


def _liquidation(ts, price, p):
    fills, _eq, _d, summ, *_ = run_kernel_full(ts, price, np.ones(len(ts)), *NO_FUND, *p)
    liq = [f for f in fills if f[5] == FillKind.LIQUIDATION]
    return fills, liq, summ


def _position_before(fills, t):
    """(size, average entry) of the position just before the liquidation at t."""
    pos = avg = 0.0
    for ts_, side, px, qty, *_rest in fills:
        if ts_ >= t:
            break
        new = pos + side * qty
        avg = (avg * abs(pos) + qty * px) / abs(new) if side * pos >= 0 else avg
        pos = new
    return abs(pos), avg


def test_crash_liquidates_a_20x_long_grid_exactly_at_the_computed_price() -> None:
    ts, price, size = _crash()
    p = _grid(Mode.LONG, 20.0)
    fills, liq, summ = _liquidation(ts, price, p)
    assert len(liq) == 1 and summ["n_liquidations"] == 1.0
    t = liq[0][0]
    i = int(np.searchsorted(ts, t))
    qty, avg = _position_before(fills, t)
    lp = liquidation_price(1, qty, avg, 20.0, TIERS)
    # hand formula (isolated): LP = entry - (IM - MM) / size, bankruptcy = entry - IM / size
    im = qty * avg / 20.0
    mm = qty * avg * 0.005
    assert lp["liq_price"] == pytest.approx(avg - (im - mm) / qty, rel=1e-12)
    assert price[i] <= lp["liq_price"] < price[i - 1]  # the first event at or below it
    assert liq[0][1] == -1 and liq[0][3] == pytest.approx(qty, rel=1e-12)
    assert liq[0][2] == pytest.approx(avg - im / qty, rel=1e-12)  # the bankruptcy price
    assert liq[0][4] == 0.0 and summ["fees"] == sum(f[4] for f in fills)  # no fee to the user
    assert summ["final_equity"] == pytest.approx(1000.0 - summ["fees"] - im, rel=1e-9)
    assert summ["liq_ts"] == t and summ["liq_loss"] == pytest.approx(im, rel=1e-9)
    assert summ["stop_code"] == Stop.LIQUIDATED and summ["position"] == 0.0
    assert all(f[0] <= t for f in fills)  # orders cancelled: nothing fills afterwards
    ref = run_ref(ts, price, size, *NO_FUND, *p)
    assert ref.fills == fills


@pytest.mark.parametrize("margin", [MarginMode.ISOLATED, MarginMode.CROSS])
def test_a_1x_grid_never_liquidates(margin: int) -> None:
    ts, price, _ = _crash(bottom=20.0)
    _fills, liq, summ = _liquidation(ts, price, _grid(Mode.LONG, 1.0, margin))
    assert liq == [] and summ["n_liquidations"] == 0.0 and summ["position"] > 0.0
    _fills, liq, summ = _liquidation(ts, np.round(200.0 - price + 20.0, 2),
                                     _grid(Mode.SHORT, 1.0, margin))
    assert liq == [] and summ["n_liquidations"] == 0.0 and summ["position"] < 0.0


def test_a_spike_liquidates_a_20x_short_grid() -> None:
    ts, price, _ = _crash(top=100.0, bottom=130.0)
    p = _grid(Mode.SHORT, 20.0)
    fills, liq, summ = _liquidation(ts, price, p)
    assert len(liq) == 1
    t = liq[0][0]
    i = int(np.searchsorted(ts, t))
    qty, avg = _position_before(fills, t)
    lp = liquidation_price(-1, qty, avg, 20.0, TIERS)
    assert price[i - 1] < lp["liq_price"] <= price[i]
    assert liq[0][1] == 1 and liq[0][2] == pytest.approx(lp["bankruptcy_price"], rel=1e-12)
    assert summ["stop_code"] == Stop.LIQUIDATED


def test_cross_margin_is_backed_by_the_wallet() -> None:
    ts, price, _ = _crash(bottom=40.0)
    _f, iso, _s = _liquidation(ts, price, _grid(Mode.LONG, 20.0, MarginMode.ISOLATED))
    fills, cross, summ = _liquidation(ts, price, _grid(Mode.LONG, 20.0, MarginMode.CROSS))
    assert iso and cross and cross[0][0] > iso[0][0]  # the whole wallet: later
    qty, avg = _position_before(fills, cross[0][0])
    assert summ["final_equity"] == pytest.approx(0.0, abs=1e-6)  # the wallet is lost
    assert cross[0][2] < avg - (qty * avg / 20.0) / qty


def test_orders_the_margin_cannot_carry_are_refused_and_counted() -> None:
    ts, price, _ = _crash()
    gp, f, rp, rk, ep = _grid(Mode.LONG, 1.0)
    on = (gp._replace(leverage=3.0), f, rp, rk, ep)  # levels sized for 3x, margin at 1x
    _f, _l, summ = _liquidation(ts, price, on)
    assert summ["n_margin_refused"] > 0 and summ["n_blocked"] >= summ["n_margin_refused"]
    off = (on[0], on[1], on[2], on[3], on[4]._replace(margin=MarginMode.OFF))
    _f, _l, summ_off = _liquidation(ts, price, off)
    assert summ_off["n_margin_refused"] == 0.0


def _data(price) -> MarketData:
    ts = T0 + np.arange(len(price), dtype=np.int64) * 10_000
    return MarketData.from_trades(ts, price, np.ones(len(price)))


def test_backtest_reports_the_liquidation() -> None:
    _ts, price, _ = _crash()
    kw = {"n_buy": 5, "n_sell": 0, "mode": "long", "spacing": 0.01, "leverage": 20,
          "max_exposure_pct": 25.0, "deviation.pct": 0.9, "kill_switch_dd": 0.0}
    res = backtest(_data(price), record=True, margin="isolated", risk_limits_symbol="BTCUSDT",
                   **kw)
    m = res.metrics
    assert m["n_liquidations"] == 1 and m["liquidated"] and m["stop"] == "LIQUIDATED"
    assert m["liq_loss"] > 0 and m["liq_ts"] > 0
    assert "liquidation" in set(res.fills["kind"])
    assert any("LIQUIDATED" in w for w in res.warnings)
    assert any("the last trade as the mark price" in w for w in res.warnings)
    off = backtest(_data(price), record=False, **kw)
    assert off.metrics["n_liquidations"] == 0 and off.metrics["final_equity"] < 0.5 * 1000


def test_margin_config_errors_name_the_field() -> None:
    data = _data(np.full(10, 100.0))
    with pytest.raises(ConfigError, match=r"backtest\.margin"):
        backtest(data, margin="portfolio")
    with pytest.raises(ConfigError, match="risk_limits_symbol"):
        backtest(data, margin="isolated")
    with pytest.raises(ConfigError, match=r"trading\.leverage 75"):  # XRPUSDT: 50x at most
        backtest(data, margin="cross", risk_limits_symbol="XRPUSDT", leverage=75)


def test_reference_comparison_reaches_liquidations_and_refusals() -> None:
    """Fixed random markets where the kernel == reference comparison meets liquidations (long
    and short, isolated and cross) and margin refusals, so the hypothesis test is not idle."""
    seen = {"liq_long": 0, "liq_short": 0, "refused": 0, "iso": 0, "cross": 0}
    base = {"n": 1200, "vol": 3e-3, "dt_max": 20_000, "n_buy": 4, "n_sell": 4,
            "spacing": 0.005, "spacing_mode": 0, "profit_target": 0.0, "qty_mode": 0,
            "atr_mode": 0, "trail": False, "exposure": 1.0, "kill": 0.0, "flatten": False,
            "sl": 0.0, "latency": 300, "post_only": True, "queue_ahead": 0.5,
            "queue_mult": 1.0, "slippage": 0.0005, "check_ms": 60_000, "equity_ms": 3_600_000,
            "funding": True, "spot": False}
    for seed in range(12):
        for mode, margin in ((Mode.LONG, MarginMode.ISOLATED), (Mode.SHORT, MarginMode.CROSS),
                             (Mode.NEUTRAL, MarginMode.CROSS)):
            s = base | {"seed": seed, "mode": mode}
            ts, price, size, fts, frate, p = _run_scenario(s, FillModel.CROSS)
            p = _margin(p, margin, 50.0)
            p = (p[0], p[1], p[2], p[3]._replace(max_exposure_pct=50.0), p[4])
            fills, _eq, summ = _compare(ts, price, size, fts, frate, *p)
            for f in fills:
                if f[5] == FillKind.LIQUIDATION:
                    seen["liq_long" if f[1] < 0 else "liq_short"] += 1
                    seen["iso" if margin == MarginMode.ISOLATED else "cross"] += 1
            seen["refused"] += summ["n_margin_refused"] > 0
    assert all(v > 0 for v in seen.values()), seen


def test_sweep_ranks_a_liquidated_set_last_and_walk_forward_counts_it() -> None:
    import pandas as pd

    from gridlab.backtest.metrics import rank_sets
    from gridlab.backtest.sweep import sweep
    from gridlab.research.walkforward import Objective, Window, select_best, walk_forward

    _ts, price, _ = _crash()
    kw = {"n_buy": 5, "n_sell": 0, "mode": "long", "spacing": 0.01, "max_exposure_pct": 60.0,
          "deviation.pct": 0.9, "kill_switch_dd": 0.0, "margin": "isolated",
          "risk_limits_symbol": "BTCUSDT"}
    data = _data(price)
    table = sweep(data, {"trading.leverage": [1, 20, 50]}, **kw)
    assert list(table["liquidated"]) == [False, True, True]
    one = backtest(data, record=False, leverage=20, **kw).metrics
    assert table.loc[1, "final_equity"] == one["final_equity"]  # a set == the single run
    assert table.loc[1, "liq_ts"] == one["liq_ts"]
    # by final equity a liquidated 50x set can look best; it ranks after the survivor
    fake = table.assign(total_return=[0.0, 0.5, 0.9])
    assert list(rank_sets(fake, "total_return")["set_id"]) == [0, 2, 1]
    obj = Objective("total_return", min_trades=0)
    assert int(select_best(fake, obj)["set_id"]) == 0
    everything_lost = fake.assign(liquidated=True)
    assert int(select_best(everything_lost, obj)["set_id"]) == 2
    t0, t1 = int(data.ts[0]), int(data.ts[-1]) + 1
    w = [Window(0, t0, t0 + 600_000, t0 + 600_000, t1)]
    res = walk_forward(data, {"trading.leverage": [20]}, obj, w, fixed=kw)
    assert bool(res.folds.loc[0, "oos_liquidated"])
    assert res.summary()["folds_liquidated"] == 1.0
    assert isinstance(res.folds, pd.DataFrame)


def test_a_mark_series_decides_the_liquidation() -> None:
    ts, price, _ = _crash()
    p = _grid(Mode.LONG, 20.0)
    flat = p[4]._replace(mark_ts=np.array([float(ts[0])]), mark_px=np.array([100.0]))
    _f, liq, summ = _liquidation(ts, price, (*p[:4], flat))
    assert liq == [] and summ["position"] > 0.0  # trades crash, the mark does not move
    _fills, liq_t, _s = _liquidation(ts, price, p)
    mt, mp = _mark_series(ts, price, 0.98)  # the mark 2 % under the trades: earlier
    fills_m, liq_m, _s = _liquidation(ts, price, (*p[:4], p[4]._replace(mark_ts=mt,
                                                                        mark_px=mp)))
    assert liq_m and liq_t and liq_m[0][0] < liq_t[0][0]
    t = liq_m[0][0]
    qty, avg = _position_before(fills_m, t)
    lp = liquidation_price(1, qty, avg, 20.0, TIERS)["liq_price"]
    known = mp[mt <= t]
    assert known[-1] <= lp  # the mark known at the liquidation reached the price
    ref = run_ref(ts, price, np.ones(len(ts)), *NO_FUND, *p[:4],
                  p[4]._replace(mark_ts=mt, mark_px=mp))
    assert ref.fills == fills_m


def test_backtest_uses_the_data_mark_series() -> None:
    _ts, price, _ = _crash()
    kw = {"n_buy": 5, "n_sell": 0, "mode": "long", "spacing": 0.01, "leverage": 20,
          "max_exposure_pct": 25.0, "deviation.pct": 0.9, "kill_switch_dd": 0.0,
          "margin": "isolated", "risk_limits_symbol": "BTCUSDT"}
    data = _data(price)
    flat = data.with_mark([int(data.ts[0])], [100.0], 60_000)
    res = backtest(flat, record=False, **kw)
    assert res.metrics["n_liquidations"] == 0
    assert any("against the mark-price series" in w for w in res.warnings)


def test_the_liquidation_price_is_recomputed_after_the_fills_of_an_event() -> None:
    """A gap fills three buys, the next event (same check interval, no check between) is
    under the new liquidation price: the position is liquidated at that event."""
    n = 200
    ts = T0 + np.arange(n, dtype=np.int64) * 10_000
    i = next(j for j in range(70, 100) if len({int(x) // 60_000 for x in ts[j - 1:j + 2]}) == 1)
    price = np.full(n, 100.0)
    price[i] = 96.5   # fills the resting buys (99 is refused by the margin: fees)
    price[i + 1:] = 90.0
    p = _grid(Mode.LONG, 20.0)
    fills, liq, summ = _liquidation(ts, price, p)
    limit = [f for f in fills if f[5] == FillKind.LIMIT]
    assert len(limit) >= 2 and all(f[0] == ts[i] for f in limit)
    assert len(liq) == 1 and liq[0][0] == ts[i + 1]
    ref = run_ref(ts, price, np.ones(n), *NO_FUND, *p)
    assert ref.fills == fills and ref.summary == summ


def test_the_liquidation_price_is_known_again_when_the_position_returns() -> None:
    """A short grid opens, goes flat, and opens again at exactly the same size and entry: the
    liquidation price (cached by position, entry and margin in the kernel) must be known
    again after the flat spell, and the spike that follows liquidates it as in the
    reference (found by the hypothesis comparison: the cache kept the flat spell's nan)."""
    s = {"seed": 5, "n": 187, "vol": 0.0003, "dt_max": 2000, "n_buy": 0, "n_sell": 3,
         "spacing": 0.001, "spacing_mode": 0, "profit_target": 0.0, "qty_mode": 0, "mode": 0,
         "atr_mode": 0, "trail": False, "exposure": 0.5, "kill": 0.0, "flatten": False,
         "sl": 0.0, "latency": 0, "post_only": False, "queue_ahead": 0.0, "queue_mult": 0.0,
         "slippage": 0.0, "check_ms": 30000, "equity_ms": 60000, "funding": False,
         "spot": False}
    s = s | {"vol": max(s["vol"], 1e-3)}
    ts, price, size, fts, frate, p = _run_scenario(s, FillModel.QUEUE)
    p = _margin(p, MarginMode.ISOLATED, 50.0)
    p = (p[0], p[1], p[2], p[3]._replace(max_exposure_pct=p[3].max_exposure_pct * 50.0), p[4])
    fills, _eq, summ = _compare(ts, price, size, fts, frate, *p)
    assert summ["n_liquidations"] == 1.0
    assert fills[-1][5] == FillKind.LIQUIDATION
