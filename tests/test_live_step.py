"""The live runner runs the backtest's step kernel: its state round-trips through the runner
state, and no decision of the step is re-expressed in live/ (one step, by construction)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from gridlab.backtest.state_nb import Act
from gridlab.config.strategy import GridConfig, RecenterConfig, RiskConfig
from gridlab.errors import StrategyError
from gridlab.strategy.enums import Side
from gridlab.strategy.params import make_filters
from live.step import GridStep

LIVE = Path(__file__).resolve().parents[1] / "live"
DECISIONS = ("order_allowed_nb", "spot_order_allowed_nb", "account_order_allowed_nb",
             "recenter_reason_nb", "build_slots_nb", "on_slot_fill_nb", "check_stops_nb",
             "stop_reason_nb", "kill_switch_nb", "effective_spacing_nb", "shift_range_nb",
             "fill_remainder_nb")
"""The leaf decisions the step makes (gate, triggers, build, slot transitions, stops).
`fill_remainder_nb` stays allowed for the orders outside the step's rows (seed, flatten,
late fills): it is listed to be counted, see the test."""


def _step(n: int = 4) -> GridStep:
    f = make_filters(0.1, 0.001, 0.001, 5.0, 100.0)
    return GridStep(GridConfig(spacing=0.002, n_buy=n, n_sell=n), RecenterConfig(),
                    RiskConfig(), f, 10_000.0, maker_fee=0.0002, taker_fee=0.00055)


def test_live_code_calls_the_step_and_retypes_none_of_its_decisions() -> None:
    """live/ carries out the step's actions: no module of it calls a decision kernel of the
    step itself (the step calls them), except the remainder rule for orders the step does
    not hold (live/fills.py)."""
    found = {}
    for path in sorted(LIVE.glob("*.py")):
        text = path.read_text()
        for name in DECISIONS:
            if re.search(rf"(?<![\w.]){name}\b", text):
                found.setdefault(path.name, []).append(name)
    assert found == {"fills.py": ["fill_remainder_nb"]}, found
    core = (LIVE / "step.py").read_text()
    for call in ("on_fill_nb(", "on_check_nb(", "stop_grid_nb("):
        assert call in core


def test_step_state_round_trips_through_json() -> None:
    s = _step()
    s.observe(1_000, 60_000.0)
    acts = s.check(1_000, 60_000.0)
    assert [int(a) for a in acts["kind"][:2]] == [Act.CANCEL_ALL, Act.REBUILD]
    places = acts[acts["kind"] == Act.PLACE]
    assert len(places) == 8
    r = int(places[places["side"] == Side.BUY]["slot"].max())  # the highest buy
    out = s.fill(r, float(s.g.orders[r]["qty"]), 2_000, 59_900.0, 0.0002)
    assert [(int(a["kind"]), int(a["slot"]), int(a["side"])) for a in out] == [
        (Act.PLACE, r, Side.SELL)]  # the counter order comes from the step
    snap = json.loads(json.dumps(s.snapshot()))
    other = _step()
    other.restore(snap)
    for name in s.rec.dtype.names:
        if name not in ("epoch", "rest_ok"):  # the memo is invalidated on a restore
            assert np.array_equal(s.rec[name], other.rec[name], equal_nan=True), name
    for k in ("slots", "orders", "kstate", "blk_epoch", "blk_eq"):
        assert (getattr(s.g, k) == getattr(other.g, k)).all(), k
    assert other.spacing == s.spacing and other.centre == s.centre
    with pytest.raises(StrategyError, match="other grid parameters"):
        _step(3).restore(snap)


def test_a_dropped_order_is_asked_for_again_by_the_step() -> None:
    """What the exchange did to an order (refused, cancelled) is fed back: the step's next
    retry asks for that slot's order again, and only that one."""
    s = _step()
    s.observe(1_000, 60_000.0)
    s.check(1_000, 60_000.0)
    assert len(s.retry(1_500, 60_000.0)) == 0  # every slot has its order
    s.dropped(2)
    again = s.retry(2_000, 60_000.0)
    assert [(int(a["kind"]), int(a["slot"])) for a in again] == [(Act.PLACE, 2)]


def test_a_state_stored_before_the_cache_fields_restores_and_one_missing_others_is_refused(
        ) -> None:
    """A runner upgraded over a stored state: the liquidation-price cache fields (written by
    a later gridlab) load as 'nothing cached'; a state lacking a real field is refused (the
    core then rebuilds the grid) and nothing of it is loaded."""
    from gridlab.backtest.state_nb import STATE_CACHE_FIELDS

    s = _step()
    s.observe(1_000, 60_000.0)
    s.check(1_000, 60_000.0)
    snap = json.loads(json.dumps(s.snapshot()))
    old = {**snap, "state": {k: v for k, v in snap["state"].items()
                             if k not in STATE_CACHE_FIELDS}}
    other = _step()
    other.rec["liq_pos"] = 1.5  # a stale cache must not survive the restore
    other.restore(old)
    assert other.centre == s.centre
    assert all(float(other.rec[k][0]) == 0.0 for k in STATE_CACHE_FIELDS)
    broken = {**snap, "state": {k: v for k, v in snap["state"].items() if k != "centre"}}
    fresh = _step()
    before = fresh.rec.copy()
    with pytest.raises(StrategyError, match="lacks centre"):
        fresh.restore(broken)
    assert fresh.rec.tobytes() == before.tobytes()
