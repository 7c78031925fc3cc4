"""Risk kernels vs the reference; kill switch across UTC days; the no-JIT run of the suite."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.strategy.enums import RiskParams, Side, Stop
from gridlab.strategy.risk_nb import (
    DAY_MS,
    check_stops_nb,
    kill_switch_nb,
    new_kill_state,
    order_allowed_nb,
    post_only_ok_nb,
    spot_order_allowed_nb,
    stop_reason_nb,
)
from tests.reference import NO_JIT, examples
from tests.reference import strategy_ref as ref

SETTINGS = settings(max_examples=examples(200), deadline=None)
SIDES = st.sampled_from([Side.BUY, Side.SELL])
POS = st.floats(0.0, 50.0)
PRICE = st.floats(1.0, 100_000.0)


@st.composite
def risk_params(draw: st.DrawFn) -> RiskParams:
    return RiskParams(draw(st.sampled_from([0.0, 0.5, 1.0, 3.0])),
                      draw(st.sampled_from([0.0, 0.5, 5.0])),
                      draw(st.sampled_from([0.0, 0.02, 0.05])), False,
                      draw(st.sampled_from([0.0, 0.1, 0.3])), draw(st.sampled_from([0.0, 0.2])),
                      draw(st.sampled_from([0.0, 20_000.0])),
                      draw(st.sampled_from([0.0, 40_000.0])))


@SETTINGS
@given(side=SIDES, qty=st.floats(0.001, 10.0), price=PRICE, position=st.floats(-20.0, 20.0),
       rb=POS, rs=POS, equity=st.floats(-100.0, 1e6), rk=risk_params())
def test_order_allowed(side: int, qty: float, price: float, position: float, rb: float, rs: float,
                       equity: float, rk: RiskParams) -> None:
    got = order_allowed_nb(side, qty, price, position, rb, rs, equity, rk)
    assert got == ref.order_allowed(side, qty, price, position, rb, rs, equity, rk)
    # the spec's formula, written out once more
    worst = position + rb + qty if side == Side.BUY else position - rs - qty
    before = position + rb if side == Side.BUY else position - rs
    reduces = abs(worst) < abs(before)
    cap_ok = rk.max_exposure_pct == 0 or abs(worst) * price <= rk.max_exposure_pct * equity
    pos_ok = rk.max_position == 0 or abs(worst) <= rk.max_position
    assert got == (reduces or (cap_ok and pos_ok))


def test_order_allowed_examples() -> None:
    rk = RiskParams(1.0, 0.0, 0.0, False, 0.0, 0.0, 0.0, 0.0)
    # 0.02 held + 0.01 resting + 0.01 new = 0.04 * 25000 = 1000 <= 1.0 * 1000
    assert order_allowed_nb(Side.BUY, 0.01, 25_000.0, 0.02, 0.01, 0.0, 1000.0, rk)
    assert not order_allowed_nb(Side.BUY, 0.011, 25_000.0, 0.02, 0.01, 0.0, 1000.0, rk)
    # a sell that reduces a long is always allowed, even with equity gone
    assert order_allowed_nb(Side.SELL, 0.01, 25_000.0, 0.02, 0.0, 0.0, 0.0, rk)
    assert not order_allowed_nb(Side.BUY, 0.01, 25_000.0, 0.0, 0.0, 0.0, 0.0, rk)
    # ...but resting sells count: 0.02 long with 0.05 already resting to sell is a worst case
    # of -0.03 short; one more sell of 0.02 makes it -0.05 * 25000 = 1250 > 1000: refused
    assert not order_allowed_nb(Side.SELL, 0.02, 25_000.0, 0.02, 0.0, 0.05, 1000.0, rk)
    assert order_allowed_nb(Side.SELL, 0.01, 25_000.0, 0.02, 0.0, 0.05, 1000.0, rk)


@SETTINGS
@given(side=SIDES, qty=st.floats(0.0, 10.0), price=PRICE, cash=st.floats(0, 1e5), inv=POS,
       rbn=st.floats(0, 1e5), rs=POS, fee=st.sampled_from([0.0, 0.001]))
def test_spot_no_borrow(side: int, qty: float, price: float, cash: float, inv: float, rbn: float,
                        rs: float, fee: float) -> None:
    got = spot_order_allowed_nb(side, qty, price, cash, inv, rbn, rs, fee)
    assert got == ref.spot_order_allowed(side, qty, price, cash, inv, rbn, rs, fee)


def test_spot_examples() -> None:
    assert spot_order_allowed_nb(Side.BUY, 1.0, 100.0, 200.0, 0.0, 100.0, 0.0, 0.0)
    assert not spot_order_allowed_nb(Side.BUY, 1.0, 100.0, 200.0, 0.0, 100.0, 0.0, 0.001)
    # 0.1 + 0.2 resting / new vs 0.3 held: float noise does not block
    assert spot_order_allowed_nb(Side.SELL, 0.2, 100.0, 0.0, 0.3, 0.0, 0.1, 0.0)
    assert not spot_order_allowed_nb(Side.SELL, 0.2, 100.0, 0.0, 0.29, 0.0, 0.1, 0.0)


@SETTINGS
@given(side=SIDES, price=PRICE, bid=PRICE | st.just(math.nan) | st.just(0.0),
       ask=PRICE | st.just(math.nan))
def test_post_only(side: int, price: float, bid: float, ask: float) -> None:
    assert post_only_ok_nb(side, price, bid, ask) == ref.post_only_ok(side, price, bid, ask)


def test_post_only_examples() -> None:
    assert post_only_ok_nb(Side.BUY, 99.9, 99.9, 100.0)
    assert not post_only_ok_nb(Side.BUY, 100.0, 99.9, 100.0)
    assert post_only_ok_nb(Side.SELL, 100.0, 99.9, 100.0)
    assert not post_only_ok_nb(Side.SELL, 99.9, 99.9, 100.0)


@SETTINGS
@given(samples=st.lists(st.tuples(st.integers(0, 3 * DAY_MS // 3600), st.floats(1.0, 2000.0)),
                        min_size=1, max_size=60),
       threshold=st.sampled_from([0.0, 0.01, 0.05, 0.2]), t0=st.integers(0, 1000))
def test_kill_switch_matches_reference(samples: list, threshold: float, t0: int) -> None:
    state, mirror = new_kill_state(), [-1.0, 0.0]
    ts = t0 * DAY_MS
    for dt, equity in samples:
        ts += dt * 3600  # steps of up to 3 days, crossing UTC midnights
        got = kill_switch_nb(ts, equity, state, threshold)
        assert got == ref.kill_switch(ts, equity, mirror, threshold)
        assert state.tolist() == mirror


def test_kill_switch_across_utc_days() -> None:
    state = new_kill_state()
    day = 19_000 * DAY_MS
    assert not kill_switch_nb(day + 1000, 1000.0, state, 0.05)
    assert not kill_switch_nb(day + 2000, 1100.0, state, 0.05)  # new daily max 1100
    assert not kill_switch_nb(day + DAY_MS - 1, 1046.0, state, 0.05)  # -4.9 %
    assert state.tolist() == [19_000.0, 1100.0]
    # midnight UTC: the max resets to the first sample of the new day
    assert not kill_switch_nb(day + DAY_MS, 1000.0, state, 0.05)
    assert state.tolist() == [19_001.0, 1000.0]
    assert kill_switch_nb(day + DAY_MS + 1, 950.0, state, 0.05)  # -5 % of 1000
    assert not kill_switch_nb(day + DAY_MS + 2, 500.0, state, 0.0)  # threshold 0 = off


@SETTINGS
@given(samples=st.lists(st.tuples(st.integers(0, 40), st.floats(1.0, 2000.0), PRICE), min_size=1,
                        max_size=30), initial=st.floats(1, 2000), rk=risk_params())
def test_check_stops(samples: list, initial: float, rk: RiskParams) -> None:
    state, mirror, ts = new_kill_state(), [-1.0, 0.0], 0
    for dt, equity, price in samples:
        ts += dt * 3_600_000
        want = ref.stop_reason(equity, initial, price, rk)
        fire = ref.kill_switch(ts, equity, mirror, rk.kill_switch_dd)
        want = Stop.KILL_SWITCH if want == Stop.NONE and fire else want
        assert check_stops_nb(ts, equity, initial, price, state, rk) == want


@SETTINGS
@given(equity=st.floats(0, 3000), initial=st.floats(1, 2000), price=PRICE, rk=risk_params())
def test_stop_reason(equity: float, initial: float, price: float, rk: RiskParams) -> None:
    assert stop_reason_nb(equity, initial, price, rk) == ref.stop_reason(equity, initial, price, rk)


KERNEL_TESTS = ["tests/test_strategy_levels.py", "tests/test_strategy_grid.py",
                "tests/test_strategy_recenter.py", "tests/test_strategy_risk.py"]


@pytest.mark.skipif(NO_JIT, reason="already without JIT")
def test_kernels_without_jit() -> None:
    """The kernel tests once more as plain Python (NUMBA_DISABLE_JIT=1), so coverage sees them."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "-k", "not without_jit", *KERNEL_TESTS],
        cwd=root, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


_ALLOC_SCRIPT = """
import numpy as np
import gridlab.strategy as S
from gridlab.strategy.enums import *
gp = GridParams(6, 6, 0.0025, 0, 0.0, 0.0, 0.002, 0, 0, 1.0, 1, 14, 2.0, 0.001, 0.02, 60000)
slots = np.zeros(12, SLOT_DTYPE)
S.build_slots_nb(30000.0, 0.0025, gp, Filters(0.1, 0.001, 0.001, 0.0, 5.0), 1000.0, slots)
S.slot_order_nb(slots, 0); S.on_slot_fill_nb(slots, 0, 29000.0, 0.002, 0.1)
S.grid_bounds_nb(slots)
ring, meta = S.new_bar_ring(100); cur = np.zeros(4)
S.bar_update_nb(ring, meta, cur, 1000, 1.0, 60000); S.atr_nb(ring, meta, 2, 14)
S.effective_spacing_nb(0.1, 1.0, 1.0, 1, 1.0, 0.001, 0.1)
rp = RecenterParams(True, 0.02, True, 1, True, 0.8, 1, True, 0.05, 1, True, 0.0, True, 0.0)
rc = S.new_recenter_cache(100)
S.recenter_reason_nb(5000, 1.0, 1.0, 0.9, 1.1, 0, ring, meta, rc, rp)
rk = RiskParams(1.0, 0.0, 0.05, False, 0.0, 0.0, 0.0, 0.0)
S.order_allowed_nb(1, 0.01, 3.0, 0.0, 0.0, 0.0, 1.0, rk)
S.spot_order_allowed_nb(1, 0.01, 3.0, 1.0, 0.0, 0.0, 0.0, 0.001)
S.post_only_ok_nb(1, 1.0, 1.0, 1.0); st = S.new_kill_state()
S.check_stops_nb(0, 1.0, 1.0, 1.0, st, rk)
names = ["slot_order_nb", "on_slot_fill_nb", "grid_bounds_nb", "bar_update_nb", "atr_nb",
         "effective_spacing_nb", "recenter_reason_nb", "order_allowed_nb",
         "spot_order_allowed_nb", "post_only_ok_nb", "check_stops_nb", "build_slots_nb"]
for name in names:
    ir = "".join(getattr(S, name).inspect_llvm().values())
    print(name, "NRT_MemInfo_alloc" in ir or "NRT_Allocate" in ir)
"""


@pytest.mark.skipif(NO_JIT, reason="needs the compiler")
def test_hot_path_kernels_do_not_allocate(tmp_path: Path) -> None:
    """Per-tick kernels compile without heap allocation (build_slots_nb may, and does)."""
    env = {**os.environ, "GRIDLAB_NUMBA_CACHE": str(tmp_path)}  # fresh compile: IR inspectable
    proc = subprocess.run([sys.executable, "-c", _ALLOC_SCRIPT], cwd=Path(__file__).parents[1],
                          env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    allocates = dict(line.split() for line in proc.stdout.splitlines())
    assert allocates.pop("build_slots_nb") == "True"  # the detector works
    assert allocates == dict.fromkeys(allocates, "False")
