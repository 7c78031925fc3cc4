"""Levels and exchange filters: kernels vs the plain-Python reference, and their properties."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.strategy.enums import (
    SLOT_DTYPE,
    Filters,
    GridParams,
    Mode,
    QtyMode,
    SlotState,
    SpacingMode,
    Status,
)
from gridlab.strategy.grid_nb import FILTER_TOL, build_slots_nb
from gridlab.strategy.levels_nb import (
    ceil_to_nb,
    floor_to_nb,
    grid_levels_nb,
    round_to_nb,
    shift_range_nb,
)
from tests.reference import examples
from tests.reference import strategy_ref as ref

SETTINGS = settings(max_examples=examples(200), deadline=None)
TICKS = st.sampled_from([0.0, 0.0001, 0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0])
STEPS = st.sampled_from([0.0, 0.00001, 0.001, 0.01, 0.1, 1.0])
PRICES = st.floats(0.01, 200_000.0, allow_nan=False, allow_infinity=False)


@st.composite
def grids(draw: st.DrawFn) -> dict:
    centre = draw(PRICES)
    tick = draw(TICKS)
    lower = upper = 0.0
    if draw(st.booleans()):
        lower = centre * draw(st.floats(0.5, 1.0))
        upper = centre * draw(st.floats(1.0, 1.5))
    return dict(centre=centre, spacing=draw(st.floats(1e-5, 0.49)),
                n_buy=draw(st.integers(0, 30)), n_sell=draw(st.integers(0, 30)),
                spacing_mode=draw(st.sampled_from([SpacingMode.ARITHMETIC, SpacingMode.GEOMETRIC])),
                lower=lower, upper=upper, tick=tick)


def _levels(g: dict) -> tuple[np.ndarray, np.ndarray, int]:
    n = g["n_buy"] + g["n_sell"]
    price, status = np.empty(n + 1), np.empty(n + 1, dtype=np.int64)
    n_ok = grid_levels_nb(g["centre"], g["spacing"], g["n_buy"], g["n_sell"], g["spacing_mode"],
                          g["lower"], g["upper"], g["tick"], price, status)
    return price, status, n_ok


@SETTINGS
@given(x=st.floats(-1e6, 1e6, allow_nan=False), step=TICKS)
def test_rounding_matches_reference(x: float, step: float) -> None:
    assert floor_to_nb(x, step) == ref.floor_to(x, step)
    assert ceil_to_nb(x, step) == ref.ceil_to(x, step)
    assert round_to_nb(x, step) == ref.round_to(x, step)


@SETTINGS
@given(g=grids())
def test_levels_match_reference(g: dict) -> None:
    price, status, n_ok = _levels(g)
    expected = ref.grid_levels(g["centre"], g["spacing"], g["n_buy"], g["n_sell"],
                               g["spacing_mode"] == SpacingMode.GEOMETRIC, g["lower"], g["upper"],
                               g["tick"])
    assert [(float(p), int(s)) for p, s in zip(price, status, strict=True)] == expected
    assert n_ok == sum(1 for _, s in expected if s == Status.OK)


@SETTINGS
@given(g=grids())
def test_levels_properties(g: dict) -> None:
    price, status, _ = _levels(g)
    ok = price[status == Status.OK]
    assert np.all(np.diff(ok) > 0), "OK levels strictly increasing"
    if g["lower"] > 0:
        assert np.all(ok >= g["lower"]) and np.all(ok <= g["upper"])
    if g["tick"] > 0:  # on the tick grid: an integer number of ticks
        counts = ok / g["tick"]
        assert np.all(np.abs(counts - np.round(counts)) < 1e-6 * np.maximum(1.0, counts))
    # statuses are right: nonpositive / outside the range / collapsed onto a neighbour
    nb = g["n_buy"]
    for i, (p, s) in enumerate(zip(price, status, strict=True)):
        in_range = not ((g["lower"] > 0 and p < g["lower"]) or (g["upper"] > 0 and p > g["upper"]))
        if s == Status.DROP_NONPOSITIVE:
            assert p <= 0
        elif s == Status.DROP_RANGE:
            assert p > 0 and not in_range
        elif s == Status.DROP_TICK_COLLAPSE:
            assert p == (price[i + 1] if i < nb else price[i - 1])
        else:
            assert p > 0 and in_range
    assert price[nb] == round_to_nb(g["centre"], g["tick"])


def test_level_examples() -> None:
    price, status = np.empty(5), np.empty(5, dtype=np.int64)
    grid_levels_nb(30000.0, 0.01, 2, 2, SpacingMode.ARITHMETIC, 0.0, 0.0, 0.5, price, status)
    assert price.tolist() == [29400.0, 29700.0, 30000.0, 30300.0, 30600.0]
    grid_levels_nb(100.0, 0.1, 2, 2, SpacingMode.GEOMETRIC, 0.0, 0.0, 0.01, price, status)
    assert price.tolist() == [82.64, 90.9, 100.0, 110.0, 121.0]
    # range [85, 115]: the outer levels (80, 120) are dropped
    grid_levels_nb(100.0, 0.1, 2, 2, SpacingMode.ARITHMETIC, 85.0, 115.0, 0.01, price, status)
    assert status.tolist() == [Status.DROP_RANGE, Status.OK, Status.OK, Status.OK,
                               Status.DROP_RANGE]
    # spacing below one tick: 100 * 0.004 = 0.4 < tick 1 -> levels collapse onto the neighbour
    grid_levels_nb(100.0, 0.004, 2, 2, SpacingMode.ARITHMETIC, 0.0, 0.0, 1.0, price, status)
    assert price.tolist() == [99.0, 99.0, 100.0, 101.0, 101.0]
    assert status.tolist() == [Status.DROP_TICK_COLLAPSE, Status.OK, Status.OK, Status.OK,
                               Status.DROP_TICK_COLLAPSE]
    # arithmetic buy side with spacing * i >= 1 is non-positive
    grid_levels_nb(100.0, 0.4, 3, 1, SpacingMode.ARITHMETIC, 0.0, 0.0, 0.0, price, status)
    assert status[0] == Status.DROP_NONPOSITIVE


def test_shift_range() -> None:
    assert shift_range_nb(90.0, 110.0, 100.0, 120.0) == (90.0 * 1.2, 110.0 * 1.2)
    assert shift_range_nb(0.0, 0.0, 100.0, 120.0) == (0.0, 0.0)


# ---- quantities and exchange filters ---------------------------------------------------

@st.composite
def sized_grids(draw: st.DrawFn) -> tuple:
    g = draw(grids())
    g["centre"] = draw(st.floats(1.0, 100_000.0))
    step = draw(STEPS)
    min_qty = step * draw(st.integers(0, 5)) if step > 0 else draw(st.sampled_from([0.0, 1e-4]))
    f = Filters(g["tick"], step, min_qty, draw(st.sampled_from([0.0, step * 50, 10.0])),
                draw(st.sampled_from([0.0, 1.0, 5.0, 100.0])))
    gp = GridParams(g["n_buy"], g["n_sell"], g["spacing"], g["spacing_mode"], g["lower"],
                    g["upper"], 0.002, draw(st.sampled_from([QtyMode.EQUAL_QUOTE,
                                                             QtyMode.EQUAL_BASE])),
                    draw(st.sampled_from([Mode.NEUTRAL, Mode.LONG, Mode.SHORT])),
                    draw(st.sampled_from([1.0, 3.0])), 0, 14, 2.0, 0.001, 0.02, 60_000)
    capital = draw(st.floats(10.0, 1e6))
    return g, gp, f, capital


def _build(g: dict, gp: GridParams, f: Filters, capital: float) -> tuple[np.ndarray, float]:
    slots = np.zeros(gp.n_buy + gp.n_sell, dtype=SLOT_DTYPE)
    seed = build_slots_nb(g["centre"], g["spacing"], gp, f, capital, slots)
    return slots, seed


@SETTINGS
@given(case=sized_grids())
def test_slot_filters(case: tuple) -> None:
    g, gp, f, capital = case
    slots, _ = _build(g, gp, f, capital)
    price, lstatus, _ = _levels(g)
    for k, s in enumerate(slots):
        assert (s["lo"], s["hi"]) == (price[k], price[k + 1])
        level_bad = lstatus[k] if lstatus[k] != Status.OK else lstatus[k + 1]
        if level_bad != Status.OK:  # a dropped level carries its status into the slot
            assert s["status"] == level_bad and s["state"] == SlotState.DISABLED
            continue
        qty, lo = s["qty"], s["lo"]
        if f.qty_step > 0:
            n = qty / f.qty_step
            assert abs(n - round(n)) < 1e-6 * max(1.0, n), "qty on the step grid"
        if s["status"] == Status.OK:
            assert s["state"] != SlotState.DISABLED
            assert qty > 0 and qty >= f.min_qty * (1 - FILTER_TOL)
            assert qty * lo >= f.min_notional * (1 - FILTER_TOL)
            assert f.max_qty == 0 or qty <= f.max_qty * (1 + FILTER_TOL)
        else:
            assert s["state"] == SlotState.DISABLED
            if s["status"] == Status.DROP_MIN_QTY:
                assert qty <= 0 or qty < f.min_qty * (1 - FILTER_TOL)
            elif s["status"] == Status.DROP_MIN_NOTIONAL:
                assert qty * lo < f.min_notional * (1 - FILTER_TOL)
            else:
                assert s["status"] == Status.DROP_MAX_QTY and qty > f.max_qty


def test_filter_examples() -> None:
    gp = GridParams(2, 2, 0.01, SpacingMode.ARITHMETIC, 0.0, 0.0, 0.0, QtyMode.EQUAL_QUOTE,
                    Mode.NEUTRAL, 1.0, 0, 14, 2.0, 0.001, 0.02, 60_000)
    g = dict(centre=100.0, spacing=0.01)
    # budget per slot 1000 / 2 = 500 -> qty floor(500 / 98, 0.1) = 5.1
    slots, _ = _build(g, gp, Filters(0.01, 0.1, 0.1, 0.0, 5.0), 1000.0)
    assert slots["qty"].tolist() == [51 * 0.1, 50 * 0.1, 50 * 0.1, 49 * 0.1]
    assert (slots["status"] == Status.OK).all()
    # min notional 600: every slot is dropped with DROP_MIN_NOTIONAL, qty is not rounded up
    slots, _ = _build(g, gp, Filters(0.01, 0.1, 0.1, 0.0, 600.0), 1000.0)
    assert (slots["status"] == Status.DROP_MIN_NOTIONAL).all()
    assert (slots["state"] == SlotState.DISABLED).all()
    # min qty 5.05: slots with qty 4.9 / 5.0 dropped, 5.1 kept
    slots, _ = _build(g, gp, Filters(0.01, 0.1, 5.05, 0.0, 0.0), 1000.0)
    assert slots["status"].tolist()[1:] == [Status.DROP_MIN_QTY] * 3
    # max qty 5: the 5.1 slot is dropped (never resized)
    slots, _ = _build(g, gp, Filters(0.01, 0.1, 0.1, 5.0, 0.0), 1000.0)
    assert slots["status"].tolist() == [Status.DROP_MAX_QTY, Status.OK, Status.OK, Status.OK]


def test_equal_base_qty() -> None:
    gp = GridParams(2, 2, 0.01, SpacingMode.ARITHMETIC, 0.0, 0.0, 0.0, QtyMode.EQUAL_BASE,
                    Mode.NEUTRAL, 2.0, 0, 14, 2.0, 0.001, 0.02, 60_000)
    slots, _ = _build(dict(centre=100.0, spacing=0.01), gp, Filters(0.01, 0.001, 0, 0, 0), 100.0)
    # neutral: the buy side (98 + 99) and the sell side (100 + 101) each must be funded
    expected = math.floor(200.0 / 201.0 / 0.001 + 1e-9) * 0.001
    assert slots["qty"].tolist() == [expected] * 4
