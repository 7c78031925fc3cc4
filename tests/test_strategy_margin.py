"""Margin kernels: Bybit's documented examples by hand, and exact agreement with the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.strategy.margin_nb import (
    bankruptcy_price_nb,
    initial_margin_nb,
    liq_crossed_nb,
    liq_price_nb,
    maintenance_margin_nb,
    mm_deductions_nb,
    opening_qty_nb,
    order_cost_nb,
    tier_index_nb,
)
from tests.reference import examples
from tests.reference import margin_ref as ref

SETTINGS = settings(max_examples=examples(300), deadline=None)

# BTCUSDT's first tier as Bybit publishes it (riskLimitValue 2,000,000, MMR 0.5 %, 100x)
ONE_TIER = (np.array([2_000_000.0]), np.array([0.005]), np.array([0.0]))
# three tiers 0.5 / 1 / 1.5 %: deductions 0, 2e6 x 0.5 % = 10,000, 4e6 x 0.5 % + 10,000 = 30,000
LIMITS = np.array([2_000_000.0, 4_000_000.0, 6_000_000.0])
MMRS = np.array([0.005, 0.01, 0.015])


def test_deductions_follow_bybits_tier_formula() -> None:
    assert list(mm_deductions_nb(LIMITS, MMRS)) == pytest.approx([0.0, 10_000.0, 30_000.0])


def test_isolated_long_example_of_bybits_help_page() -> None:
    # "Trader A placed a long entry of 1 BTC at 20,000 USDT with 50x leverage, MMR 0.5 %":
    # IM 400, MM 100, LP = 20,000 - (400 - 100) = 19,700
    im = initial_margin_nb(20_000.0, 50.0)
    assert im == 400.0
    assert maintenance_margin_nb(20_000.0, *ONE_TIER) == 100.0
    assert liq_price_nb(1, 1.0, 20_000.0, im, *ONE_TIER) == 19_700.0
    assert bankruptcy_price_nb(1, 1.0, 20_000.0, im) == 19_600.0


def test_isolated_short_mirrors_the_long() -> None:
    assert liq_price_nb(-1, 1.0, 20_000.0, 400.0, *ONE_TIER) == 20_300.0
    assert bankruptcy_price_nb(-1, 1.0, 20_000.0, 400.0) == 20_400.0


def test_extra_margin_moves_the_price_away() -> None:
    # 100 USDT added to the long above: LP = 19,700 - 100 / 1
    assert liq_price_nb(1, 1.0, 20_000.0, 400.0 + 100.0, *ONE_TIER) == 19_600.0


def test_higher_tier_uses_its_rate_and_deduction() -> None:
    mmd = mm_deductions_nb(LIMITS, MMRS)
    # 50 BTC at 60,000 = 3,000,000 -> tier 2: MM = 3e6 x 1 % - 10,000 = 20,000;
    # 10x: IM = 300,000; LP = 60,000 - (300,000 - 20,000) / 50 = 54,400
    assert tier_index_nb(LIMITS, 3_000_000.0) == 1
    assert maintenance_margin_nb(3_000_000.0, LIMITS, MMRS, mmd) == pytest.approx(20_000.0)
    assert liq_price_nb(1, 50.0, 60_000.0, 300_000.0, LIMITS, MMRS, mmd) == pytest.approx(54_400.0)
    # short at the same tier: 60,000 + 5,600
    assert liq_price_nb(-1, 50.0, 60_000.0, 300_000.0, LIMITS, MMRS, mmd) == pytest.approx(65_600.0)
    # at the tier boundary the lower tier applies (riskLimitValue is inclusive)
    assert tier_index_nb(LIMITS, 2_000_000.0) == 0
    assert tier_index_nb(LIMITS, 6_000_000.01) == 3


def test_cross_margin_uses_the_balance_behind_the_position() -> None:
    # 10,000 USDT wallet balance, long 1 BTC at 20,000: MM 100, LP = 20,000 - 9,900
    assert liq_price_nb(1, 1.0, 20_000.0, 10_000.0, *ONE_TIER) == 10_100.0
    assert liq_price_nb(-1, 1.0, 20_000.0, 10_000.0, *ONE_TIER) == 29_900.0
    # a balance that covers the whole value: the long cannot be liquidated above 0
    assert liq_price_nb(1, 1.0, 20_000.0, 30_000.0, *ONE_TIER) == 0.0


def test_one_x_long_only_liquidates_near_zero() -> None:
    lp = liq_price_nb(1, 2.0, 50_000.0, initial_margin_nb(100_000.0, 1.0), *ONE_TIER)
    assert lp == pytest.approx(50_000.0 * 0.005)
    assert not liq_crossed_nb(1, lp, 50_000.0 * 0.1)  # a 90 % crash does not reach it


def test_order_cost_example() -> None:
    # long 1 BTC at 8,000, 50x, taker 0.06 %: IM 160, open fee 4.8, bankruptcy price 7,840,
    # close fee 7,840 x 0.06 % = 4.704 -> 169.504
    assert order_cost_nb(1, 1.0, 8_000.0, 50.0, 0.0006) == pytest.approx(169.504, abs=1e-9)
    # the short closes at 8,160: 160 + 4.8 + 4.896
    assert order_cost_nb(-1, 1.0, 8_000.0, 50.0, 0.0006) == pytest.approx(169.696, abs=1e-9)


def test_only_the_opening_part_of_an_order_costs_margin() -> None:
    assert opening_qty_nb(1, 2.0, 0.0) == 2.0
    assert opening_qty_nb(1, 2.0, 1.0) == 2.0
    assert opening_qty_nb(-1, 2.0, 3.0) == 0.0
    assert opening_qty_nb(-1, 2.0, 0.5) == 1.5


def test_liquidation_is_reached_by_the_mark_not_before() -> None:
    assert liq_crossed_nb(1, 19_700.0, 19_700.0)
    assert not liq_crossed_nb(1, 19_700.0, 19_700.5)
    assert liq_crossed_nb(-1, 20_300.0, 20_300.0)
    assert not liq_crossed_nb(-1, 20_300.0, 20_299.5)
    assert not liq_crossed_nb(1, math.nan, 1.0)
    assert not liq_crossed_nb(1, 0.0, 0.0)


@st.composite
def tiers(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 6))
    steps = draw(st.lists(st.floats(1e3, 5e6), min_size=n, max_size=n))
    rates = draw(st.lists(st.floats(0.0, 0.02), min_size=n, max_size=n))
    limits = np.cumsum(np.array(steps))
    mmrs = 0.004 + np.cumsum(np.array(rates))
    return limits, mmrs


SIDE = st.sampled_from([1, -1])
SIZE = st.one_of(st.just(0.0), st.floats(1e-6, 500.0))
PRICE = st.floats(0.01, 200_000.0)


@SETTINGS
@given(tiers(), SIDE, SIZE, PRICE, st.floats(0.0, 1e7), st.floats(-1.0, 1e9))
def test_kernels_equal_the_reference(tb, side, size, entry, margin, value) -> None:
    limits, mmrs = tb
    mmd = mm_deductions_nb(limits, mmrs)
    L, R = [float(x) for x in limits], [float(x) for x in mmrs]
    D = ref.mm_deductions(L, R)
    assert list(mmd) == D
    assert tier_index_nb(limits, value) == ref.tier_index(L, value)
    assert maintenance_margin_nb(value, limits, mmrs, mmd) == ref.maintenance_margin(value, L, R, D)
    lp = liq_price_nb(side, size, entry, margin, limits, mmrs, mmd)
    lp_ref = ref.liq_price(side, size, entry, margin, L, R, D)
    assert (math.isnan(lp) and math.isnan(lp_ref)) or lp == lp_ref
    bp = bankruptcy_price_nb(side, size, entry, margin)
    bp_ref = ref.bankruptcy_price(side, size, entry, margin)
    assert (math.isnan(bp) and math.isnan(bp_ref)) or bp == bp_ref
    assert liq_crossed_nb(side, lp, entry) == ref.liq_crossed(side, lp_ref, entry)
    assert opening_qty_nb(side, size, margin - 5e6) == ref.opening_qty(side, size, margin - 5e6)


@SETTINGS
@given(SIDE, st.floats(0.001, 100.0), PRICE, st.floats(1.0, 100.0), st.floats(0.0, 0.002))
def test_order_cost_equals_the_reference(side, qty, price, lev, fee) -> None:
    assert order_cost_nb(side, qty, price, lev, fee) == ref.order_cost(side, qty, price, lev, fee)


@SETTINGS
@given(tiers(), SIDE, st.floats(0.001, 50.0), st.floats(10.0, 100_000.0), st.floats(1.0, 100.0))
def test_at_the_liquidation_price_margin_equals_maintenance(tb, side, size, entry, lev) -> None:
    """The defining property: position margin + unrealized PnL at LP = maintenance margin."""
    limits, mmrs = tb
    mmd = mm_deductions_nb(limits, mmrs)
    im = initial_margin_nb(size * entry, lev)
    lp = liq_price_nb(side, size, entry, im, limits, mmrs, mmd)
    mm = maintenance_margin_nb(size * entry, limits, mmrs, mmd)
    if lp > 0.0:
        assert im + side * size * (lp - entry) == pytest.approx(mm, rel=1e-9, abs=1e-6 * im)
    bp = bankruptcy_price_nb(side, size, entry, im)
    if bp > 0.0:
        assert im + side * size * (bp - entry) == pytest.approx(0.0, abs=1e-9 * im)
        # the liquidation price comes before the bankruptcy price on the way down (long) / up
        assert side * (lp - bp) >= -1e-9 * entry


def test_tiers_from_bybit_rows_sort_and_derive_deductions() -> None:
    from gridlab.strategy.margin import RiskTiers

    rows = [
        {"tier": 2, "risk_limit_value": 4e6, "mmr": 0.01, "imr": 0.02, "max_leverage": 50.0,
         "mm_deduction": None},
        {"tier": 1, "risk_limit_value": 2e6, "mmr": 0.005, "imr": 0.01, "max_leverage": 100.0,
         "mm_deduction": 0.0},
    ]
    t = RiskTiers.from_rows("X", rows)
    assert list(t.limit) == [2e6, 4e6]
    assert list(t.mmd) == [0.0, 10_000.0]
    assert t.maintenance_margin(3e6) == pytest.approx(20_000.0)


def test_bad_tier_rows_are_refused_naming_the_field() -> None:
    from gridlab.errors import DataError
    from gridlab.strategy.margin import RiskTiers

    row = {"risk_limit_value": "abc", "mmr": 0.005, "imr": 0.01, "max_leverage": 100.0}
    with pytest.raises(DataError, match="risk_limit_value"):
        RiskTiers.from_rows("X", [row])
    with pytest.raises(DataError, match="no risk-limit tiers for Y"):
        RiskTiers.from_rows("Y", [])
    dup = {"risk_limit_value": 1e6, "mmr": 0.005, "imr": 0.01, "max_leverage": 100.0}
    with pytest.raises(DataError, match="share"):
        RiskTiers.from_rows("X", [dup, dup])


def test_shipped_snapshot_has_btc_first_tier_and_a_date() -> None:
    from gridlab.errors import DataError
    from gridlab.strategy.margin import liquidation_price, snapshot_info, snapshot_tiers

    assert snapshot_info()["as_of"]
    btc = snapshot_tiers("BTCUSDT")
    assert btc.limit[0] == 2_000_000.0 and btc.mmr[0] == 0.005 and btc.max_lev[0] == 100.0
    out = liquidation_price(1, 1.0, 20_000.0, 50.0, btc)
    assert out["liq_price"] == 19_700.0 and out["bankruptcy_price"] == 19_600.0
    with pytest.raises(DataError, match="NOPEUSDT"):
        snapshot_tiers("NOPEUSDT")
