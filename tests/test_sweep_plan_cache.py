"""The sweep's planning cache (params.PlanCache) and the batched grid check: every set's config,
kernel parameters, rows and note equal what a single run of its overrides builds, errors
included, and a changed value never reuses a cached section."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gridlab.backtest.data import MarketData
from gridlab.backtest.params import PlanCache, check_grid, effective_config, run_params
from gridlab.backtest.sweep import plan_sweep
from gridlab.backtest.sweep_nb import ok_slots_nb, rows_of
from gridlab.errors import ConfigError, StrategyError
from gridlab.strategy.enums import Filters
from tests.backtest_helpers import random_market

FILTERS = Filters(0.01, 0.01, 0.01, 0.0, 1.0)

OVERRIDES = [
    {},
    {"spacing": 0.002},
    {"grid.spacing": 0.003, "n_buy": 4},
    {"target_levels": 7, "profit_target": 0.001},
    {"target_levels": np.int64(3), "n_sell": 9},  # later key wins, numpy scalar unwrapped
    {"spacing": np.float64(0.004), "recenter.deviation.pct": 0.05, "kill_switch_dd": 0.1},
    {"capital": 500.0, "leverage": 3, "fill_model": "touch", "latency_ms": 500},
    {"capital": 500.0, "account_equity": 800.0},  # the cross-section check passes
    {"grid.lower": -0.0},
    {"grid.lower": 0.0},
    {"n_buy": 5.0},
    {"n_buy": 5},
    {"recenter.time.enabled": True, "recenter.time.hours": 12},
    {"spacing": 0.002, "grid.spacing": 0.005},  # the same path twice: the last wins
]


@pytest.fixture(scope="module")
def market() -> MarketData:
    ts, price, size = random_market(5, 5_000, vol=5e-4, dt_max=30_000)
    return MarketData.from_trades(ts, price, size, symbol="TESTUSDT", filters=FILTERS)


@pytest.fixture(scope="module")
def base():
    return effective_config(None, None, {"capital": 1000.0})


def _error(fn, *args):
    with pytest.raises((ConfigError, StrategyError)) as info:
        fn(*args)
    return type(info.value), info.value.message


def test_configs_equal_effective_config(base) -> None:
    cache = PlanCache(base)
    for _ in range(2):  # the second pass is served from the cache
        for over in OVERRIDES:
            cfg, keys = cache.config(over)
            ref = effective_config(base, None, over)
            assert cfg == ref, over
            assert keys is not None, over
            assert math.copysign(1.0, cfg.grid.lower) == math.copysign(1.0, ref.grid.lower)


def test_a_changed_value_is_never_served_stale(base) -> None:
    cache = PlanCache(base)
    seen = {}
    for v in (0.002, 0.003, 0.002, 0.0030000000000000001, 0.0031):
        cfg, _ = cache.config({"spacing": v})
        assert cfg.grid.spacing == v
        seen.setdefault(v, cfg.grid)
        assert cfg.grid is seen[v]  # the same value: the same validated section
    a, _ = cache.config({"grid.lower": 0.0})
    b, _ = cache.config({"grid.lower": -0.0})  # equal as floats, not as values
    assert math.copysign(1.0, a.grid.lower) == 1.0 and math.copysign(1.0, b.grid.lower) == -1.0
    # a section's key is its own overrides: the grid stays cached across other sections
    c1, k1 = cache.config({"spacing": 0.002, "capital": 500.0})
    c2, k2 = cache.config({"spacing": 0.002, "capital": 700.0})
    assert c1.grid is c2.grid and k1["grid"] == k2["grid"]
    assert (c1.trading.capital, c2.trading.capital) == (500.0, 700.0)


def test_kernel_params_equal_run_params(base, market) -> None:
    cache = PlanCache(base)
    for over in [*OVERRIDES, {"leverage": 2}, {"leverage": 4, "spacing": 0.002}]:
        cfg, keys = cache.config(over)
        got = cache.run_params(cfg, keys, FILTERS, "linear", trades=True, record=False)
        assert got == run_params(cfg, FILTERS, "linear", trades=True, record=False), over
    # gp reads trading.leverage: the same grid section with another leverage is another gp
    cfg2, k2 = cache.config({"leverage": 2})
    cfg4, k4 = cache.config({"leverage": 4})
    g2 = cache.run_params(cfg2, k2, FILTERS, "linear").gp
    g4 = cache.run_params(cfg4, k4, FILTERS, "linear").gp
    assert (g2.leverage, g4.leverage) == (2.0, 4.0)
    # another category or record flag is another EngineParams
    ep_lin = cache.run_params(cfg2, k2, FILTERS, "linear", record=True).ep
    ep_inv = cache.run_params(cfg2, k2, FILTERS, "inverse", record=False).ep
    assert ep_lin.record and not ep_inv.record


@pytest.mark.parametrize("over", [
    {"spacing": 0.9},                                   # field range
    {"grid.lower": 200.0, "grid.upper": 100.0},         # a section's cross-field check
    {"capital": 5000.0, "account_equity": 1000.0},      # the cross-section check
    {"latency_ms": 70_000},                             # backtest section check
    {"spacingg": 0.1},                                  # unknown key
    {"pct": 0.1},                                       # ambiguous key
    {"profile": "Normal"},
    {"spacing": object()},                              # cannot be keyed: not cached
])
def test_errors_are_effective_configs(base, over) -> None:
    cache = PlanCache(base)
    assert _error(cache.config, over) == _error(effective_config, base, None, over)


def test_kernel_param_errors_are_run_params(base) -> None:
    cache = PlanCache(base)
    cfg, keys = cache.config({"leverage": 3})
    with pytest.raises(ConfigError, match="spot cannot use leverage"):
        cache.run_params(cfg, keys, FILTERS, "spot")
    cfg, keys = cache.config({"fill_model": "queue"})
    with pytest.raises(ConfigError, match="queue fill model needs trades"):
        cache.run_params(cfg, keys, FILTERS, "linear", trades=False)
    assert cache.run_params(cfg, keys, FILTERS, "linear", trades=True).ep.fill_model == \
        run_params(cfg, FILTERS, "linear", trades=True).ep.fill_model


def test_rows_of_reads_a_shared_tuple_once_with_the_same_rows(base) -> None:
    cache = PlanCache(base)
    runs = [cache.run_params(*cache.config({"spacing": s}), FILTERS, "linear")
            for s in (0.002, 0.003, 0.002, 0.002)]
    assert runs[0].rp is runs[1].rp  # untouched section: one object
    fresh = [run_params(effective_config(base, None, {"spacing": s}), FILTERS, "linear")
             for s in (0.002, 0.003, 0.002, 0.002)]
    for kind in ("gp", "rp", "rk"):
        a = rows_of([getattr(r, kind) for r in runs])
        b = rows_of([getattr(r, kind) for r in fresh])
        assert a.shape == (4, b.shape[1]) and np.array_equal(a, b)


def test_plan_notes_equal_check_grid_per_set(market) -> None:
    grid = {"target_levels": [1, 3, 60], "capital": [3.0, 40.0, 1000.0],
            "spacing": [0.001, 0.01]}
    plan = plan_sweep(market, grid)
    p0 = float(market.price[0])
    n_ok = ok_slots_nb(plan.rows.grid, FILTERS, np.ascontiguousarray(plan.rows.engine[:, 0]),
                       p0)
    assert 0 < sum(bool(n) for n in plan.notes) < len(plan.notes)
    for j, (combo, run) in enumerate(zip(plan.combos, plan.runs, strict=True)):
        cfg = effective_config(None, None, combo)
        assert run == run_params(cfg, FILTERS, market.category, record=False), combo
        try:
            check_grid(run, p0)
            note = ""
        except StrategyError as exc:
            note = exc.message
        assert plan.notes[j] == note, combo
        assert (n_ok[j] == 0) == bool(note)


def test_plan_raises_errors_in_the_order_of_the_per_set_loop(market) -> None:
    spot = MarketData.from_trades(market.ts, market.price, market.size, category="spot",
                                  filters=FILTERS)
    # every config is built before any kernel parameter: set 0's leverage is refused only
    # when no set's config is invalid
    with pytest.raises(ConfigError, match="spacing"):
        plan_sweep(spot, {"leverage": [3], "spacing": [0.002, 0.9]})
    with pytest.raises(ConfigError, match="spot cannot use leverage 3"):
        plan_sweep(spot, {"leverage": [1, 3], "spacing": [0.002]})
    plan = plan_sweep(spot, {"leverage": [1], "spacing": [0.002, 0.004]})
    assert [r.gp.spacing for r in plan.runs] == [0.002, 0.004] and plan.runs[0].ep.spot


def test_stripes_give_every_set_its_own_run(market) -> None:
    """sweep_nb deals the sets round-robin to stripes: any stripe count gives each set the
    result it has alone."""
    from gridlab.backtest.enums import N_SUMMARY
    from gridlab.backtest.sweep import market_arrays
    from gridlab.backtest.sweep_nb import run_chunk, sweep_nb

    plan = plan_sweep(market, {"spacing": [0.001, 0.003, 0.006], "n_buy": [2, 5],
                               "fill_model": ["cross", "touch"]}, capital=1000.0)
    a = market_arrays(market)
    alone = [run_chunk(a, plan.chunk(j, j + 1)) for j in range(12)]
    for n_stripes in (1, 2, 5, 12, 40):
        s = np.zeros((12, N_SUMMARY))
        d = np.zeros((12, a.n_days))
        sweep_nb(a.ts, a.price, a.size, a.fund_ts, a.fund_rate, a.filters, *plan.rows, s, d,
                 a.mark_ts, a.mark_px, n_stripes)
        for j, (s1, d1) in enumerate(alone):
            assert np.array_equal(s[j], s1[0], equal_nan=True), (n_stripes, j)
            assert np.array_equal(d[j], d1[0], equal_nan=True), (n_stripes, j)
