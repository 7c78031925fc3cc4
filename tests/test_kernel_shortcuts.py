"""The kernels' division-free shortcuts give exactly the plain formula, at and near the edge.

`drawdown_nb` (max drawdown), `kill_switch_nb` (daily drawdown) and `pump_dump_fires_nb`
answer without dividing when the value is clearly on one side; these tests put the inputs
within a few ulps of each threshold, where a wrong margin would flip the answer.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.backtest.ledger_nb import dd_floor_nb, drawdown_nb
from gridlab.strategy.recenter_nb import pump_dump_fires_nb
from gridlab.strategy.risk_nb import DAY_MS, kill_switch_nb
from tests.reference import examples

ulps = st.integers(-40, 40)
level = st.floats(1e-3, 1e7)
share = st.floats(1e-6, 0.99)


def _nudge(x: float, k: int) -> float:
    """x moved by k ulps."""
    d = np.inf if k > 0 else -np.inf
    for _ in range(abs(k)):
        x = float(np.nextafter(x, d))
    return x


@settings(max_examples=examples(400), deadline=None)
@given(peak=level, max_dd=share, dd=share, k=ulps)
def test_drawdown_shortcut_equals_the_division(peak: float, max_dd: float, dd: float,
                                               k: int) -> None:
    """An equity a few ulps around the depth of the current max drawdown: drawdown_nb with
    its skip limit gives the max drawdown `max(max_dd, (peak - e) / peak)` exactly."""
    e = _nudge(peak * (1.0 - max_dd if k % 2 else 1.0 - dd), k)
    if not e < peak:
        return
    lim = dd_floor_nb(peak, max_dd)
    _, _, got, _, _ = drawdown_nb(e, 1, peak, 0, max_dd, 0, lim)
    plain = (peak - e) / peak
    assert got == (plain if plain > max_dd else max_dd)


@settings(max_examples=examples(400), deadline=None)
@given(dmax=level, thr=share, k=ulps)
def test_kill_switch_shortcut_equals_the_division(dmax: float, thr: float, k: int) -> None:
    """Equity a few ulps around the kill threshold: the answer is the plain
    `(daily_max - equity) / daily_max >= threshold`."""
    e = _nudge(dmax * (1.0 - thr), k)
    state = np.array([0.0, dmax])
    got = kill_switch_nb(DAY_MS // 2, e, state, thr)
    assert got == ((dmax - e) / dmax >= thr)


@settings(max_examples=examples(400), deadline=None)
@given(ref=level, pd=st.floats(1e-9, 0.9), up=st.booleans(), k=ulps)
def test_pump_dump_shortcut_equals_the_division(ref: float, pd: float, up: bool,
                                                k: int) -> None:
    """A price a few ulps around either edge of the pump/dump band: the answer is the plain
    `|price / ref - 1| >= pd_pct`."""
    price = _nudge(ref * (1.0 + pd) if up else ref * (1.0 - pd), k)
    assert pump_dump_fires_nb(price, ref, pd) == (abs(price / ref - 1.0) >= pd)


def test_shortcuts_take_both_sides() -> None:
    """The edge cases above are not all on one side (the assertions compare both answers)."""
    assert pump_dump_fires_nb(105.0, 100.0, 0.05)
    assert not pump_dump_fires_nb(104.0, 100.0, 0.05)
    assert kill_switch_nb(1, 95.0, np.array([0.0, 100.0]), 0.05)
    assert not kill_switch_nb(1, 96.0, np.array([0.0, 100.0]), 0.05)
