"""Account-level risk kernels vs the plain-Python reference (exact equality), their relation to
the per-grid kernels they compose, the worst-case invariant of the exposure cap, and the run of
this module without JIT."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.strategy.account_nb import (
    account_equity_nb,
    account_kill_switch_nb,
    account_order_allowed_nb,
    total_worst_notional_nb,
    worst_notional_nb,
)
from gridlab.strategy.enums import RiskParams, Side
from gridlab.strategy.risk_nb import DAY_MS, kill_switch_nb, new_kill_state, order_allowed_nb
from tests.reference import NO_JIT, examples
from tests.reference import account_ref as ref

SETTINGS = settings(max_examples=examples(200), deadline=None)
SIDES = st.sampled_from([Side.BUY, Side.SELL])
QTY = st.floats(0.0, 20.0)
PRICE = st.floats(0.01, 100_000.0)
CAPS = st.sampled_from([0.0, 0.25, 0.5, 1.0, 3.0])


@st.composite
def book(draw: st.DrawFn, min_size: int = 1) -> dict[str, list[float]]:
    """Per-grid arrays of one account (1..6 grids)."""
    n = draw(st.integers(min_size, 6))
    lists = st.lists
    return {"pos": draw(lists(st.floats(-20.0, 20.0), min_size=n, max_size=n)),
            "rb": draw(lists(QTY, min_size=n, max_size=n)),
            "rs": draw(lists(QTY, min_size=n, max_size=n)),
            "mark": draw(lists(PRICE, min_size=n, max_size=n)),
            "eq": draw(lists(st.floats(-1e4, 1e6), min_size=n, max_size=n)),
            "cap": draw(lists(st.floats(1.0, 1e5), min_size=n, max_size=n))}


def _arr(xs: list[float]) -> np.ndarray:
    return np.asarray(xs, dtype=np.float64)


@SETTINGS
@given(b=book(), capital=st.floats(1.0, 1e6))
def test_account_equity(b: dict[str, list[float]], capital: float) -> None:
    got = account_equity_nb(capital, _arr(b["eq"]), _arr(b["cap"]))
    assert got == ref.account_equity(capital, b["eq"], b["cap"])
    assert got == pytest.approx(capital + sum(b["eq"]) - sum(b["cap"]), rel=1e-9, abs=1e-6)


@SETTINGS
@given(b=book())
def test_worst_notional(b: dict[str, list[float]]) -> None:
    for p, rb, rs, m in zip(b["pos"], b["rb"], b["rs"], b["mark"], strict=True):
        assert worst_notional_nb(p, rb, rs, m) == ref.worst_notional(p, rb, rs, m)
    got = total_worst_notional_nb(_arr(b["pos"]), _arr(b["rb"]), _arr(b["rs"]), _arr(b["mark"]))
    assert got == ref.total_worst_notional(b["pos"], b["rb"], b["rs"], b["mark"])


@SETTINGS
@given(b=book(), data=st.data(), side=SIDES, qty=st.floats(0.001, 10.0), price=PRICE,
       equity=st.floats(-100.0, 1e6), max_total=CAPS, max_share=CAPS)
def test_account_order_allowed(b: dict[str, list[float]], data: st.DataObject, side: int,
                               qty: float, price: float, equity: float, max_total: float,
                               max_share: float) -> None:
    k = data.draw(st.integers(0, len(b["pos"]) - 1))
    args = (b["pos"], b["rb"], b["rs"], b["mark"], equity, max_total, max_share)
    got = account_order_allowed_nb(k, side, qty, price, *(_arr(x) for x in args[:4]), *args[4:])
    assert got == ref.account_order_allowed(k, side, qty, price, *args)
    # the share limit alone is `order_allowed_nb` with max_exposure_pct = share over the total
    # equity; the total cap adds the other grids' worst case
    pos, rb, rs = b["pos"][k], b["rb"][k], b["rs"][k]
    share_rk = RiskParams(max_share, 0.0, 0.0, False, 0.0, 0.0, 0.0, 0.0)
    share_ok = max_share == 0.0 or order_allowed_nb(side, qty, price, pos, rb, rs, equity,
                                                    share_rk)
    others = sum(ref.worst_notional(b["pos"][j], b["rb"][j], b["rs"][j], b["mark"][j])
                 for j in range(len(b["pos"])) if j != k)
    total_rk = RiskParams(max_total, 0.0, 0.0, False, 0.0, 0.0, 0.0, 0.0)
    worst = pos + rb + qty if side == Side.BUY else pos - rs - qty
    total_ok = max_total == 0.0 or abs(worst) * price + others <= max_total * equity
    before = pos + rb if side == Side.BUY else pos - rs
    reduces = abs(worst) < abs(before)
    assert got == (reduces or (share_ok and total_ok))
    if max_total > 0 and len(b["pos"]) == 1:  # one grid: the total cap is order_allowed_nb
        assert (reduces or total_ok) == order_allowed_nb(side, qty, price, pos, rb, rs, equity,
                                                         total_rk)


def test_account_order_allowed_examples() -> None:
    pos, rb, rs = _arr([0.0, 1.0]), _arr([0.0, 0.0]), _arr([0.0, 0.0])
    marks = _arr([100.0, 200.0])  # grid 1 holds 200 of notional
    # grid 0 buys 2 @ 100: 200 own + 200 others = 400 <= 0.4 * 1000
    assert account_order_allowed_nb(0, Side.BUY, 2.0, 100.0, pos, rb, rs, marks, 1000.0, 0.4,
                                     0.0)
    assert not account_order_allowed_nb(0, Side.BUY, 2.01, 100.0, pos, rb, rs, marks, 1000.0,
                                         0.4, 0.0)
    # the share of one symbol
    assert not account_order_allowed_nb(0, Side.BUY, 2.0, 100.0, pos, rb, rs, marks, 1000.0,
                                         0.0, 0.19)
    # reducing grid 1's long always passes, even with the caps exceeded and no equity
    assert account_order_allowed_nb(1, Side.SELL, 0.5, 200.0, pos, rb, rs, marks, 0.0, 0.1,
                                     0.1)
    # an unknown mark of another grid blocks an increasing order (never silently allowed)
    nan_marks = _arr([100.0, math.nan])
    assert not account_order_allowed_nb(0, Side.BUY, 0.1, 100.0, pos, rb, rs, nan_marks,
                                         1000.0, 0.4, 0.0)
    assert account_order_allowed_nb(0, Side.BUY, 0.1, 100.0, pos, rb, rs, nan_marks, 1000.0,
                                     0.0, 0.0)  # both limits off


@SETTINGS
@given(steps=st.lists(st.tuples(st.integers(0, 40), st.lists(st.floats(1.0, 3000.0),
                                                               min_size=3, max_size=3)),
                      min_size=1, max_size=40),
       capital=st.floats(100.0, 9000.0), threshold=st.sampled_from([0.0, 0.01, 0.05, 0.2]))
def test_account_kill_switch(steps: list, capital: float, threshold: float) -> None:
    caps = [1000.0, 1500.0, 500.0]
    state, mirror, plain = new_kill_state(), [-1.0, 0.0], new_kill_state()
    ts = 0
    for dt, eqs in steps:
        ts += dt * 3_600_000  # crosses UTC midnights
        got = account_kill_switch_nb(ts, capital, _arr(eqs), _arr(caps), state, threshold)
        assert got == ref.account_kill_switch(ts, capital, eqs, caps, mirror, threshold)
        assert state.tolist() == mirror
        # the same as kill_switch_nb over the total equity
        total = account_equity_nb(capital, _arr(eqs), _arr(caps))
        assert got == kill_switch_nb(ts, total, plain, threshold)


def test_account_kill_switch_fires_on_the_total_only() -> None:
    caps = _arr([1000.0, 1000.0, 1000.0])
    state = new_kill_state()
    day = 19_000 * DAY_MS
    assert not account_kill_switch_nb(day, 3000.0, caps.copy(), caps, state, 0.015)
    # two grids down 1.9 %, one up 0.3 %: no grid's own 2 % switch fires; the total is down
    # 1.17 %, so the account's 1 % does (and its 1.5 % would not)
    eqs = _arr([981.0, 981.0, 1003.0])
    assert not account_kill_switch_nb(day + 1, 3000.0, eqs, caps, state.copy(), 0.015)
    assert account_kill_switch_nb(day + 1, 3000.0, eqs, caps, state, 0.01)
    assert state.tolist() == [19_000.0, 3000.0]
    # capital no grid holds (500 here) counts as equity without PnL
    assert account_equity_nb(3500.0, eqs, caps) == 3465.0


@SETTINGS
@given(n=st.integers(1, 5), cap=st.sampled_from([0.3, 0.6, 1.5]),
       share=st.sampled_from([0.0, 0.2, 0.5]),
       ops=st.lists(st.tuples(st.integers(0, 4), SIDES, st.floats(0.01, 3.0),
                              st.sampled_from(["place", "fill"])), max_size=60))
def test_exposure_cap_holds_in_the_worst_case(n: int, cap: float, share: float,
                                              ops: list) -> None:
    """Placing only allowed orders that increase |position|, and filling resting ones, keeps the
    sum of worst cases (and so the exposure) within the cap, at fixed marks and equity. (Orders
    that reduce |position| always pass, as in `order_allowed_nb`: they are outside this.)"""
    equity = 1000.0
    marks = _arr([100.0, 50.0, 20.0, 10.0, 5.0][:n])
    pos, rb, rs = np.zeros(n), np.zeros(n), np.zeros(n)
    for k, side, qty, what in ops:
        k %= n
        if what == "place":
            if abs(pos[k] + side * qty) < abs(pos[k]):
                continue
            if account_order_allowed_nb(k, side, qty, marks[k], pos, rb, rs, marks, equity,
                                        cap, share):
                if side == Side.BUY:
                    rb[k] += qty
                else:
                    rs[k] += qty
        else:  # fill what rests on one side
            if side == Side.BUY:
                pos[k] += rb[k]
                rb[k] = 0.0
            else:
                pos[k] -= rs[k]
                rs[k] = 0.0
        assert total_worst_notional_nb(pos, rb, rs, marks) <= cap * equity * (1 + 1e-9)
        assert float(np.abs(pos) @ marks) <= cap * equity * (1 + 1e-9)


@pytest.mark.skipif(NO_JIT, reason="already without JIT")
def test_account_kernels_without_jit() -> None:
    """This module once more as plain Python (NUMBA_DISABLE_JIT=1), so coverage sees them."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "-k", "not without_jit", "tests/test_strategy_account.py"],
        cwd=root, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
