"""Portfolio backtest: several grids, one account (gridlab.backtest.portfolio)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridlab.backtest import MarketData, backtest
from gridlab.backtest.portfolio import backtest_portfolio, sweep_portfolio
from gridlab.errors import ConfigError, DataError
from gridlab.strategy.enums import Filters

T0 = 1_704_067_200_000
FILTERS = Filters(0.01, 0.01, 0.01, 0.0, 1.0)
ALLOC = (0.5, 0.3, 0.2)
CAPITAL = 10_000.0


def _trades(sym: str, seed: int, n: int = 12_000, p0: float = 100.0, ts=None,
            funding: bool = False) -> MarketData:
    rng = np.random.default_rng(seed)
    if ts is None:
        ts = T0 + np.cumsum(rng.integers(0, 40_000, n)).astype(np.int64)
    price = np.round(p0 * np.exp(np.cumsum(rng.normal(0, 1e-3, len(ts)))) / 0.01) * 0.01
    size = np.round(rng.exponential(0.5, len(ts)), 2)
    fund = None
    if funding:
        fts = np.arange((ts[0] // 28_800_000 + 1) * 28_800_000, ts[-1], 28_800_000)
        fund = {"ts": fts, "rate": rng.normal(1e-4, 3e-4, len(fts))}
    return MarketData.from_trades(ts, price, size, symbol=sym, filters=FILTERS, funding=fund)


def _klines(sym: str, seed: int, n_bars: int = 4_000, p0: float = 20.0) -> MarketData:
    rng = np.random.default_rng(seed)
    c = np.round(p0 * np.exp(np.cumsum(rng.normal(0, 2e-3, n_bars))), 2)
    o = np.concatenate([[p0], c[:-1]])
    h = np.maximum(o, c) + np.round(rng.exponential(0.02, n_bars), 2)
    lo = np.minimum(o, c) - np.round(rng.exponential(0.02, n_bars), 2)
    ot = T0 + 3_600_000 + 60_000 * np.arange(n_bars, dtype=np.int64)
    return MarketData.from_klines(ot, o, h, lo, c, np.ones(n_bars), bar_ms=60_000, symbol=sym,
                                  filters=FILTERS)


def _config(symbols=("AAAUSDT", "BBBUSDT", "CCCUSDT"), alloc=ALLOC, **pf) -> dict:
    return {"portfolio": {"capital": CAPITAL, **pf, "symbols": [
        {"symbol": s, "allocation": a} for s, a in zip(symbols, alloc, strict=True)]}}


@pytest.fixture(scope="module")
def datas() -> list[MarketData]:
    a = _trades("AAAUSDT", 1, funding=True)
    # BBB trades at exactly AAA's times (ties on the merged axis), CCC is a kline path
    b = _trades("BBBUSDT", 2, p0=50.0, ts=a.ts.copy())
    return [a, b, _klines("CCCUSDT", 3)]


def _same_metrics(single: dict, row: pd.Series) -> None:
    for k, v in single.items():
        if k in row.index:
            w = row[k]
            assert (v == w) or (v != v and w != w), (k, v, w)


@pytest.mark.parametrize("overrides", [
    {},
    {"latency_ms": 300, "fill_model": "touch", "mode": "long"},
    # limits present but too loose to bind
    {"portfolio.max_total_exposure_pct": 1e6, "portfolio.max_symbol_share": 10.0,
     "portfolio.kill_switch_dd": 0.99},
])
def test_portfolio_equals_sum_of_single_runs(datas, overrides):
    res = backtest_portfolio(datas, _config(), **overrides)
    grid_over = {k: v for k, v in overrides.items() if not k.startswith("portfolio.")}
    total_final = 0.0
    for d, a in zip(datas, ALLOC, strict=True):
        single = backtest(d, _config(), capital=CAPITAL * a, **grid_over)
        pd.testing.assert_frame_equal(single.fills, res.fills[d.symbol])
        pd.testing.assert_frame_equal(single.equity, res.equity[d.symbol])
        pd.testing.assert_frame_equal(single.recenters, res.recenters[d.symbol])
        pd.testing.assert_frame_equal(single.levels, res.levels[d.symbol])
        _same_metrics(single.metrics, res.metrics.loc[d.symbol])
        # per-symbol daily closes on the merged axis agree with the single run's
        got = res.daily[d.symbol].loc[single.daily.index]
        assert got.tolist() == single.daily.tolist()
        total_final += single.metrics["final_equity"]
    assert res.total["final_equity"] == pytest.approx(total_final, rel=1e-12)
    assert res.total["n_fills"] == res.metrics["n_fills"].sum() > 0
    assert res.total["n_blocked_account"] == 0 and res.total["stop"] == "NONE"
    np.testing.assert_allclose(res.daily["total"], res.daily[res.symbols].sum(axis=1),
                               rtol=1e-12)
    assert res.correlation.shape == (3, 3)
    assert np.allclose(np.diag(res.correlation.to_numpy()), 1.0)
    assert len(res.total_equity) > 0


def test_portfolio_check_clock_across_gaps_equals_single_runs():
    """Sparse prints, gaps of up to several check intervals: the portfolio's quiet checks
    (taken on its fast path) keep the check clock where the single run's step keeps it, so
    every fill, recenter and equity point agrees."""
    rng = np.random.default_rng(11)
    gap = T0 + np.cumsum(rng.integers(0, 250_000, 3_000)).astype(np.int64)
    ds = [_trades("AAAUSDT", 4, ts=gap), _trades("BBBUSDT", 5, ts=gap + 7_000)]
    cfg = _config(symbols=("AAAUSDT", "BBBUSDT"), alloc=(0.6, 0.4))
    res = backtest_portfolio(ds, cfg, check_interval_ms=60_000, spacing=0.002)
    for d, a in zip(ds, (0.6, 0.4), strict=True):
        single = backtest(d, cfg, capital=CAPITAL * a, check_interval_ms=60_000, spacing=0.002)
        assert len(single.recenters) > 0
        pd.testing.assert_frame_equal(single.fills, res.fills[d.symbol])
        pd.testing.assert_frame_equal(single.recenters, res.recenters[d.symbol])
        pd.testing.assert_frame_equal(single.equity, res.equity[d.symbol])
        _same_metrics(single.metrics, res.metrics.loc[d.symbol])


def test_total_exposure_cap_binds():
    """Long grids bounded above the centre (opening buys only, so every position-increasing
    order passes the account gate): fewer fills, and total exposure stays within the cap at
    every account check up to the drift of marks and equity since the orders were decided."""
    ds = [_trades(s, i + 1) for i, s in enumerate(("AAAUSDT", "BBBUSDT", "CCCUSDT"))]
    kw = {"mode": "long", "upper": 100.01}
    free = backtest_portfolio(ds, _config(), **kw)
    cap = 0.4
    capped = backtest_portfolio(ds, _config(), **kw, **{"portfolio.max_total_exposure_pct": cap})
    assert capped.total["n_fills"] < free.total["n_fills"]
    assert capped.total["n_blocked_account"] > 0
    assert (capped.metrics["n_blocked_account"] <= capped.metrics["n_blocked"]).all()
    a, f = capped.total_equity, free.total_equity
    assert (a.exposure <= cap * a.equity * 1.05).all()
    assert (f.exposure > cap * f.equity * 1.5).any()  # without the cap it would go far above


def test_symbol_share_binds(datas):
    free = backtest_portfolio(datas, _config())
    res = backtest_portfolio(datas, _config(), **{"portfolio.max_symbol_share": 0.05})
    assert res.total["n_blocked_account"] > 0
    assert res.total["n_fills"] != free.total["n_fills"]


def test_account_kill_switch_stops_every_symbol(datas):
    # grids' own kill switches out of the way: only the account's can fire
    res = backtest_portfolio(datas, _config(), **{"risk.kill_switch_dd": 0.9,
                                                   "portfolio.kill_switch_dd": 0.01})
    assert res.total["stop"] == "KILL_SWITCH"
    t_kill = res.total["stop_ts"]
    assert (res.metrics["stop"] == "KILL_SWITCH").all()
    assert (res.metrics["n_kill_switch"] == 1).all()
    for sym, f in res.fills.items():
        after = f[f.ts > t_kill]
        assert after.empty, sym  # latency 0: cancels take effect at once
        assert set(f[f.ts == t_kill].kind) <= {"flatten", "limit"}
    # it fired on the total equity's daily drawdown
    a = res.total_equity
    day = a[(a.ts // 86_400_000) == t_kill // 86_400_000]
    row = day[day.ts == t_kill].iloc[0]
    day_max = day[day.ts <= t_kill].equity.max()
    assert (day_max - row.equity) / day_max >= 0.01
    free = backtest_portfolio(datas, _config(), **{"risk.kill_switch_dd": 0.9})
    assert free.total["stop"] == "NONE" and free.total["n_fills"] > res.total["n_fills"]


def test_kill_switch_flattens_every_symbol(datas):
    res = backtest_portfolio(datas, _config(), **{"risk.kill_switch_dd": 0.9,
                                                   "risk.flatten_on_kill": True,
                                                   "portfolio.kill_switch_dd": 0.01})
    assert res.total["stop"] == "KILL_SWITCH"
    assert (res.metrics["position"] == 0.0).all()


def test_bad_inputs(datas):
    with pytest.raises(ConfigError, match="no portfolio symbols"):
        backtest_portfolio(datas, {})
    with pytest.raises(DataError, match="no market data for portfolio symbol CCCUSDT"):
        backtest_portfolio(datas[:2], _config())
    with pytest.raises(DataError, match=r"not in portfolio\.symbols"):
        backtest_portfolio(datas, _config(symbols=("AAAUSDT", "BBBUSDT"), alloc=(0.5, 0.5)))
    with pytest.raises(ConfigError, match="allocations add up to"):
        backtest_portfolio(datas, _config(alloc=(0.5, 0.4, 0.3)))
    with pytest.raises(ConfigError, match="3 symbols"):
        backtest_portfolio(datas, _config(), **{"portfolio.allocations": [0.5, 0.5]})
    with pytest.raises(ConfigError, match="unknown portfolio parameter"):
        backtest_portfolio(datas, _config(), **{"portfolio.nope": 1})
    with pytest.raises(DataError, match="must be a MarketData"):
        backtest_portfolio({"AAAUSDT": 1}, _config(symbols=("AAAUSDT",), alloc=(1.0,)))
    with pytest.raises(DataError, match="no market data given"):
        backtest_portfolio([], _config())


def test_sweep_portfolio(datas):
    grid = {"portfolio.allocations": [[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]],
            "portfolio.kill_switch_dd": [0.0, 0.01]}
    table = sweep_portfolio(datas, grid, _config(), **{"risk.kill_switch_dd": 0.9})
    assert len(table) == 4
    for _, row in table.iterrows():
        one = backtest_portfolio(datas, _config(), record=False,
                                 **{"risk.kill_switch_dd": 0.9,
                                    "portfolio.allocations": row["portfolio.allocations"],
                                    "portfolio.kill_switch_dd": row["portfolio.kill_switch_dd"]})
        assert row["final_equity"] == one.total["final_equity"]
        assert row["n_fills"] == one.total["n_fills"]
    assert set(table["stop"]) == {"NONE", "KILL_SWITCH"}


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_parity_spot_and_linear_random(seed):
    """Random markets (one spot symbol), varied engine settings: still the sum of single runs."""
    rng = np.random.default_rng(seed)
    a = _trades("AAAUSDT", seed, n=6_000)
    b = _trades("BBBUSDT", seed + 100, n=6_000, p0=30.0)
    b = MarketData.from_trades(b.ts, b.price, b.size, symbol="BBBUSDT", category="spot",
                               filters=FILTERS)
    alloc = (0.6, 0.4)
    cfg = {"portfolio": {"capital": CAPITAL, "symbols": [
        {"symbol": "AAAUSDT", "allocation": alloc[0], "leverage": 2.0},
        {"symbol": "BBBUSDT", "category": "spot", "allocation": alloc[1]}]}}
    over = {"fill_model": str(rng.choice(["cross", "touch", "queue"])),
            "latency_ms": int(rng.choice([0, 200, 5_000])),
            "spacing": float(rng.choice([0.002, 0.004])),
            "profit_target": float(rng.choice([0.0, 0.003])),
            "qty_mode": str(rng.choice(["equal_quote", "equal_base"]))}
    res = backtest_portfolio([a, b], cfg, **over)
    for d, al, lev in ((a, alloc[0], 2.0), (b, alloc[1], 1.0)):
        single = backtest(d, cfg, capital=CAPITAL * al, leverage=lev, **over)
        pd.testing.assert_frame_equal(single.fills, res.fills[d.symbol])
        _same_metrics(single.metrics, res.metrics.loc[d.symbol])
