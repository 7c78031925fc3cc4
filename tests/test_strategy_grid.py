"""Slot mechanics: build, resting orders, fills, round trips; kernels vs the reference."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit, prange

from gridlab.strategy.enums import (
    SLOT_DTYPE,
    Filters,
    GridParams,
    Mode,
    QtyMode,
    Side,
    SlotState,
    SpacingMode,
    Status,
)
from gridlab.strategy.grid_nb import build_slots_nb, grid_bounds_nb, on_slot_fill_nb, slot_order_nb
from tests.reference import examples
from tests.reference import strategy_ref as ref

SETTINGS = settings(max_examples=examples(200), deadline=None)
FIELDS = SLOT_DTYPE.names


def _gp(n_buy: int = 3, n_sell: int = 3, mode: int = Mode.NEUTRAL, pt: float = 0.0,
        qty_mode: int = QtyMode.EQUAL_QUOTE, spacing: float = 0.01) -> GridParams:
    return GridParams(n_buy, n_sell, spacing, SpacingMode.ARITHMETIC, 0.0, 0.0, pt, qty_mode,
                      mode, 1.0, 0, 14, 2.0, 0.001, 0.02, 60_000)


def _assert_same(slots: np.ndarray, expected: list[ref.SlotRef]) -> None:
    assert len(slots) == len(expected)
    for s, e in zip(slots, expected, strict=True):
        assert tuple(s[f].item() for f in FIELDS) == tuple(getattr(e, f) for f in FIELDS)


@st.composite
def cases(draw: st.DrawFn) -> tuple:
    tick = draw(st.sampled_from([0.0, 0.01, 0.1, 0.5]))
    gp = GridParams(draw(st.integers(0, 12)), draw(st.integers(0, 12)),
                    draw(st.floats(0.0005, 0.05)),
                    draw(st.sampled_from([SpacingMode.ARITHMETIC, SpacingMode.GEOMETRIC])),
                    0.0, 0.0, draw(st.sampled_from([0.0, 0.001, 0.002, 0.01])),
                    draw(st.sampled_from([QtyMode.EQUAL_QUOTE, QtyMode.EQUAL_BASE])),
                    draw(st.sampled_from([Mode.NEUTRAL, Mode.LONG, Mode.SHORT])),
                    draw(st.sampled_from([1.0, 2.0, 10.0])), 0, 14, 2.0, 0.001, 0.02, 60_000)
    if gp.n_buy + gp.n_sell == 0:
        gp = gp._replace(n_sell=1)
    f = Filters(tick, draw(st.sampled_from([0.0, 0.0001, 0.001, 0.01])),
                draw(st.sampled_from([0.0, 0.001])), 0.0, draw(st.sampled_from([0.0, 5.0])))
    centre = draw(st.floats(10.0, 100_000.0))
    capital = draw(st.floats(100.0, 100_000.0))
    return gp, f, centre, capital


def _build(gp: GridParams, f: Filters, centre: float, capital: float) -> tuple[np.ndarray, float]:
    slots = np.zeros(gp.n_buy + gp.n_sell, dtype=SLOT_DTYPE)
    return slots, build_slots_nb(centre, gp.spacing, gp, f, capital, slots)


@SETTINGS
@given(case=cases())
def test_build_matches_reference(case: tuple) -> None:
    gp, f, centre, capital = case
    slots, seed = _build(gp, f, centre, capital)
    expected, expected_seed = ref.build_slots(centre, gp.spacing, gp, f, capital)
    _assert_same(slots, expected)
    assert seed == expected_seed


@SETTINGS
@given(case=cases(), data=st.data())
def test_fill_sequences_match_reference(case: tuple, data: st.DataObject) -> None:
    gp, f, centre, capital = case
    slots, _ = _build(gp, f, centre, capital)
    mirror, _ = ref.build_slots(centre, gp.spacing, gp, f, capital)
    n = len(mirror)
    for _ in range(data.draw(st.integers(1, 40))):
        k = data.draw(st.integers(0, n - 1))
        order = slot_order_nb(slots, k)
        assert tuple(order) == ref.slot_order(mirror[k])
        # fill at the order's price, or at a random better price (gap through the level)
        price = order[1] if order[0] != Side.NONE else centre
        price *= 1 + data.draw(st.sampled_from([0.0, 0.0, 0.003])) * -order[0]
        got = on_slot_fill_nb(slots, k, price, gp.profit_target, f.tick)
        assert tuple(got) == ref.on_slot_fill(mirror[k], price, gp.profit_target, f.tick)
        _assert_same(slots, mirror)


@SETTINGS
@given(case=cases())
def test_round_trip_profit_and_targets(case: tuple) -> None:
    gp, f, centre, capital = case
    slots, _ = _build(gp, f, centre, capital)
    for k in range(len(slots)):
        if slots[k]["state"] != SlotState.OPEN_LEG:
            continue
        side, price, qty = slot_order_nb(slots, k)
        home = slots[k]["home"]
        assert side == home
        on_slot_fill_nb(slots, k, price, gp.profit_target, f.tick)
        side2, target, qty2 = slot_order_nb(slots, k)
        assert side2 == -home and qty2 == qty and slots[k]["entry"] == price
        # the target is on the profitable side, at least one tick away
        assert (target - price) * home >= f.tick * (1 - 1e-9) and target != price
        if gp.profit_target == 0:
            assert target == (slots[k]["hi"] if home == Side.BUY else slots[k]["lo"])
        done, profit = on_slot_fill_nb(slots, k, target, gp.profit_target, f.tick)
        assert done and profit == (target - price) * qty * home and profit > 0
        assert slot_order_nb(slots, k) == (side, price, qty)


def test_neutral_example() -> None:
    gp = _gp(pt=0.002)
    slots, seed = _build(gp, Filters(0.1, 0.001, 0.001, 0.0, 5.0), 100.0, 300.0)
    assert seed == 0.0
    assert slots["home"].tolist() == [Side.BUY] * 3 + [Side.SELL] * 3
    assert (slots["state"] == SlotState.OPEN_LEG).all()
    assert slot_order_nb(slots, 2) == (Side.BUY, 99.0, 1.01)
    assert slot_order_nb(slots, 3) == (Side.SELL, 101.0, 1.0)
    # buy fills at 99 -> sell at ceil(99 * 1.002) = 99.2 (one tick above 99.198)
    assert on_slot_fill_nb(slots, 2, 99.0, 0.002, 0.1) == (False, 0.0)
    side, price, qty = slot_order_nb(slots, 2)
    assert (side, qty) == (Side.SELL, 1.01) and math.isclose(price, 99.2)
    done, profit = on_slot_fill_nb(slots, 2, price, 0.002, 0.1)
    assert done and math.isclose(profit, 0.2 * 1.01)
    # a sell-home slot: sell 101 -> buy back at floor(101 * 0.998) = 100.7
    on_slot_fill_nb(slots, 3, 101.0, 0.002, 0.1)
    assert math.isclose(slot_order_nb(slots, 3)[1], 100.7)
    assert slot_order_nb(slots, 3)[0] == Side.BUY


def test_long_and_short_seeding() -> None:
    f = Filters(0.1, 0.001, 0.0, 0.0, 0.0)
    slots, seed = _build(_gp(mode=Mode.LONG), f, 100.0, 600.0)
    assert slots["home"].tolist() == [Side.BUY] * 6
    assert slots["state"].tolist() == [SlotState.OPEN_LEG] * 3 + [SlotState.CLOSE_LEG] * 3
    assert seed == sum(slots["qty"][3:].tolist()) and seed > 0
    assert slot_order_nb(slots, 3) == (Side.SELL, 101.0, slots[3]["qty"])
    assert slots[3]["entry"] == 100.0
    done, profit = on_slot_fill_nb(slots, 3, 101.0, 0.0, 0.1)
    assert done and math.isclose(profit, 1.0 * slots[3]["qty"])
    assert slot_order_nb(slots, 3) == (Side.BUY, 100.0, slots[3]["qty"])

    slots, seed = _build(_gp(mode=Mode.SHORT), f, 100.0, 600.0)
    assert slots["home"].tolist() == [Side.SELL] * 6
    assert slots["state"].tolist() == [SlotState.CLOSE_LEG] * 3 + [SlotState.OPEN_LEG] * 3
    assert seed == -sum(slots["qty"][:3].tolist()) and seed < 0
    assert slot_order_nb(slots, 2) == (Side.BUY, 99.0, slots[2]["qty"])
    assert slot_order_nb(slots, 3) == (Side.SELL, 101.0, slots[3]["qty"])
    done, profit = on_slot_fill_nb(slots, 2, 99.0, 0.0, 0.1)
    assert done and math.isclose(profit, 1.0 * slots[2]["qty"])


def test_disabled_slot_is_inert_and_bounds() -> None:
    f = Filters(0.1, 0.001, 0.001, 0.0, 150.0)  # notional ~99-101 < 150 for the inner slots
    slots, _ = _build(_gp(), f, 100.0, 1000.0)
    assert (slots["status"] == Status.OK).any()
    slots, _ = _build(_gp(), f, 100.0, 100.0)
    assert (slots["status"] == Status.DROP_MIN_NOTIONAL).all()
    assert slot_order_nb(slots, 0) == (Side.NONE, 0.0, 0.0)
    before = slots.copy()
    assert on_slot_fill_nb(slots, 0, 97.0, 0.0, 0.1) == (False, 0.0)
    assert (slots == before).all()
    assert all(math.isnan(x) for x in grid_bounds_nb(slots))
    slots, _ = _build(_gp(), Filters(0.1, 0.001, 0.0, 0.0, 0.0), 100.0, 1000.0)
    assert grid_bounds_nb(slots) == (97.0, 103.0)


@njit(cache=True, parallel=True)
def _sweep(spacings: np.ndarray, capital: float) -> np.ndarray:
    """Build one GridParams per parameter set inside prange, as the backtest sweep does."""
    out = np.empty(spacings.shape[0])
    for i in prange(spacings.shape[0]):
        gp = GridParams(3, 3, spacings[i], SpacingMode.ARITHMETIC, 0.0, 0.0, 0.002,
                        QtyMode.EQUAL_QUOTE, Mode.NEUTRAL, 1.0, 0, 14, 2.0, 0.001, 0.02, 60_000)
        f = Filters(tick=0.1, qty_step=0.001, min_qty=0.0, max_qty=0.0, min_notional=0.0)
        # np.zeros of a record dtype does not compile under parallel=True; np.empty does,
        # and build_slots_nb writes every field
        slots = np.empty(6, dtype=SLOT_DTYPE)
        build_slots_nb(100.0, gp.spacing, gp, f, capital, slots)
        out[i] = slots[0]["lo"]
    return out


def test_namedtuples_built_inside_prange() -> None:
    spacings = np.array([0.01, 0.02, 0.03])
    got = _sweep(spacings, 600.0)
    for s, lo in zip(spacings, got, strict=True):
        slots, _ = _build(_gp(spacing=float(s)), Filters(0.1, 0.001, 0.0, 0.0, 0.0), 100.0, 600.0)
        assert lo == slots[0]["lo"]


# ---- the preview --------------------------------------------------------------------------

def test_grid_preview_builds_the_grid_the_kernel_builds() -> None:
    from gridlab.config.strategy import GridConfig
    from gridlab.strategy.classes import preview_grid

    f = Filters(0.1, 0.001, 0.001, 0.0, 5.0)
    grid = GridConfig(spacing=0.01, n_buy=3, n_sell=3, profit_target=0.0, lower=90.0, upper=110.0)
    prev = preview_grid(grid, f, 100.0, 3000.0, 1.0)
    assert [(o.side, o.price) for o in prev.orders()] == [
        (Side.BUY, 97.0), (Side.BUY, 98.0), (Side.BUY, 99.0),
        (Side.SELL, 101.0), (Side.SELL, 102.0), (Side.SELL, 103.0)]
    assert prev.bounds() == (97.0, 103.0) and prev.active_slots() == 6
    slots, _ = _build(prev.gp, f, 100.0, 3000.0)
    assert (prev.slots == slots).all()
