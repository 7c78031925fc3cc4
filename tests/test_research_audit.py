"""Live audit: fill matching and the PnL attribution."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.research.audit import match_fills, pnl_attribution


def _fills(rows: list[tuple[int, int, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "side", "price", "qty", "fee"])


SIM = _fills([(1_000, 1, 99.0, 1.0, 0.01), (2_000, -1, 100.0, 1.0, 0.01),
              (3_000, 1, 98.0, 1.0, 0.01), (9_000, -1, 101.0, 1.0, 0.01)])


def test_identical_fills_all_match() -> None:
    a = match_fills(SIM, SIM.copy())
    assert a.counts == {"matched": 4, "missed": 0, "extra": 0, "gap": 0}
    assert a.match_rate == 1.0
    assert (a.fills["dt_ms"] == 0).all()


def test_late_live_fills_match_within_tolerance_and_report_the_delay() -> None:
    live = SIM.assign(ts=SIM["ts"] + 300)
    a = match_fills(SIM, live, tol_ms=500)
    assert a.counts["matched"] == 4 and (a.fills["dt_ms"] == 300).all()
    a = match_fills(SIM, live, tol_ms=200)
    assert a.counts == {"matched": 0, "missed": 4, "extra": 4, "gap": 0}


def test_a_price_or_side_mismatch_is_not_a_match() -> None:
    live = SIM.copy()
    live.loc[1, "price"] = 100.5
    live.loc[2, "side"] = -1
    a = match_fills(SIM, live)
    assert a.counts == {"matched": 2, "missed": 2, "extra": 2, "gap": 0}


def test_fills_inside_a_tape_gap_are_marked_gap_not_missed() -> None:
    live = SIM.iloc[[0, 1]]
    a = match_fills(SIM, live, gaps=[(2_500, 10_000)])
    assert a.counts == {"matched": 2, "missed": 0, "extra": 0, "gap": 2}
    a = match_fills(SIM, live)
    assert a.counts["missed"] == 2


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="fee"):
        match_fills(SIM.drop(columns="fee"), SIM)


FILL = st.tuples(st.integers(0, 50), st.sampled_from([1, -1]),
                 st.sampled_from([98.0, 99.0, 100.0, 101.0]), st.sampled_from([0.5, 1.0]),
                 st.sampled_from([0.0, 0.01]))


@settings(max_examples=150, deadline=None)
@given(st.lists(FILL, max_size=12), st.lists(FILL, max_size=12), st.floats(90.0, 110.0),
       st.floats(-1.0, 1.0), st.floats(-1.0, 1.0))
def test_attribution_adds_up_to_the_pnl_difference(sim, live, mark, f_live, f_sim) -> None:
    s = _fills([(t * 100, *r) for t, *r in sim])
    lv = _fills([(t * 100, *r) for t, *r in live])
    a = match_fills(s, lv, tol_ms=300, gaps=[(2_000, 2_500)])
    parts = pnl_attribution(a, mark, live_funding=f_live, sim_funding=f_sim)
    assert parts["total"] == pytest.approx(parts["live_pnl"] - parts["sim_pnl"], abs=1e-9)
    # every fill appears exactly once, on its own side of the table
    assert a.fills["live_ts"].notna().sum() == len(lv)
    assert a.fills["sim_ts"].notna().sum() == len(s)
