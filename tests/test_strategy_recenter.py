"""Bar ring, ATR, effective spacing and recenter triggers: kernels vs the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from gridlab.strategy.bars_nb import (
    atr_nb,
    atr_simple_nb,
    atr_wilder_nb,
    bar_at_nb,
    bar_update_nb,
    effective_spacing_nb,
    new_bar_ring,
)
from gridlab.strategy.enums import AtrMode, Reason, RecenterParams
from gridlab.strategy.recenter_nb import (
    dominance_share_nb,
    new_recenter_cache,
    pump_dump_ref_nb,
    recenter_reason_nb,
)
from tests.reference import examples
from tests.reference import strategy_ref as ref

SETTINGS = settings(max_examples=examples(120), deadline=None)
BAR_MS = 60_000


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[int], list[float], int]:
    """A tick stream: increasing times with gaps of 0..3 bars, a random-walk price."""
    n = draw(st.integers(0, 300))
    gaps = draw(st.lists(st.integers(0, 3 * BAR_MS), min_size=n, max_size=n))
    steps = draw(st.lists(st.floats(-0.01, 0.01), min_size=n, max_size=n))
    t0 = draw(st.integers(0, 10 * 86_400_000))
    ts, px, t, p = [], [], t0, draw(st.floats(10.0, 50_000.0))
    for g, s in zip(gaps, steps, strict=True):
        t += g
        p *= 1 + s
        ts.append(t)
        px.append(p)
    return ts, px, draw(st.integers(2, 80))


def _feed(ts: list[int], px: list[float], cap: int) -> tuple[np.ndarray, np.ndarray, ref.BarsRef]:
    ring, meta = new_bar_ring(cap)
    cur = np.zeros(4)
    bars = ref.BarsRef(BAR_MS, cap)
    for t, p in zip(ts, px, strict=True):
        bar_update_nb(ring, meta, cur, t, p, BAR_MS)
        bars.update(t, p)
    return ring, meta, bars


def _ring_bars(ring: np.ndarray, meta: np.ndarray) -> list[ref.Bar]:
    rows = [ring[bar_at_nb(ring, meta, i)] for i in range(meta[1] - 1, -1, -1)]
    return [ref.Bar(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


@SETTINGS
@given(h=histories(), period=st.integers(1, 30))
def test_bars_and_atr_match_reference(h: tuple, period: int) -> None:
    ts, px, cap = h
    ring, meta, bars = _feed(ts, px, cap)
    assert _ring_bars(ring, meta) == bars.bars
    assert all(b.open_time % BAR_MS == 0 for b in bars.bars)
    for mode in (AtrMode.OFF, AtrMode.SIMPLE, AtrMode.WILDER):
        got = atr_nb(ring, meta, mode, period)
        want = {AtrMode.OFF: math.nan, AtrMode.SIMPLE: ref.atr_simple(bars.bars, period),
                AtrMode.WILDER: ref.atr_wilder(bars.bars, period)}[mode]
        assert got == want or (math.isnan(got) and math.isnan(want))
    for got, want in ((atr_simple_nb(ring, meta, period), ref.atr_simple(bars.bars, period)),
                      (atr_wilder_nb(ring, meta, period), ref.atr_wilder(bars.bars, period))):
        assert got == want or (math.isnan(got) and math.isnan(want))
    if len(bars.bars) <= period:
        assert math.isnan(atr_simple_nb(ring, meta, period))
        assert math.isnan(atr_wilder_nb(ring, meta, period))


def test_atr_examples() -> None:
    ring, meta = new_bar_ring(10)
    cur = np.zeros(4)
    for i, (h, lo, c) in enumerate([(11, 9, 10), (12, 10, 11), (12, 9, 9), (10, 8, 10), (0, 0, 0)]):
        for p in (c, h, lo, c):
            bar_update_nb(ring, meta, cur, i * BAR_MS, float(p), BAR_MS)
    # closes 10, 11, 9, 10 -> |diffs| 1, 2, 1 -> simple ATR(3) = 4/3
    assert atr_simple_nb(ring, meta, 3) == 4.0 / 3.0
    # TRs: max(2, 2, 1) = 2; max(3, 1, 2) = 3; max(2, 1, 1) = 2 -> Wilder seed mean = 7/3
    assert atr_wilder_nb(ring, meta, 3) == 7.0 / 3.0
    assert math.isnan(atr_simple_nb(ring, meta, 4))


@SETTINGS
@given(atr=st.floats(0, 1000) | st.just(math.nan), price=st.floats(0, 1e5),
       mode=st.sampled_from([AtrMode.OFF, AtrMode.SIMPLE, AtrMode.WILDER]),
       mult=st.floats(0.1, 10), lo=st.floats(0.0001, 0.01), span=st.floats(0, 0.05))
def test_effective_spacing(atr: float, price: float, mode: int, mult: float, lo: float,
                           span: float) -> None:
    got = effective_spacing_nb(0.0025, atr, price, mode, mult, lo, lo + span)
    assert got == ref.effective_spacing(0.0025, atr, price, mode, mult, lo, lo + span)
    if mode != AtrMode.OFF and not math.isnan(atr) and price > 0:
        assert lo <= got <= lo + span
    else:
        assert got == 0.0025


TRIGGERS = ["trail_up", "trail_down", "dev", "pd", "dom", "time", "all"]


def _params(draw: st.DrawFn, which: str, centre: float) -> RecenterParams:
    on = {k: which == k or (which == "all" and draw(st.booleans())) for k in TRIGGERS[:-1]}
    return RecenterParams(
        on["dev"], draw(st.floats(0.0, 0.05)),
        on["time"], draw(st.integers(1, 400)) * BAR_MS,
        on["dom"], draw(st.floats(0.5, 1.0)), draw(st.integers(1, 200)) * BAR_MS,
        on["pd"], draw(st.floats(0.001, 0.1)), draw(st.integers(1, 120)) * BAR_MS,
        on["trail_up"], draw(st.sampled_from([0.0, centre * 1.01, centre * 1.2])),
        on["trail_down"], draw(st.sampled_from([0.0, centre * 0.99, centre * 0.8])))


@pytest.mark.parametrize("which", TRIGGERS)
@settings(max_examples=examples(80), deadline=None)
@given(h=histories(), data=st.data())
def test_recenter_matches_reference(which: str, h: tuple, data: st.DataObject) -> None:
    ts, px, cap = h
    ring, meta, bars = _feed(ts, px, cap)
    t_end = ts[-1] if ts else 0
    price = px[-1] if px else 100.0
    centre = price * data.draw(st.floats(0.9, 1.1))
    half = data.draw(st.floats(0.001, 0.1))
    lowest, highest = centre * (1 - half), centre * (1 + half)
    if data.draw(st.integers(0, 9)) == 0:
        lowest = highest = math.nan  # no enabled slot
    rp = _params(data.draw, which, centre)
    now = t_end + data.draw(st.integers(0, 2 * BAR_MS))
    last = now - data.draw(st.integers(0, 500)) * BAR_MS
    got = recenter_reason_nb(now, price, centre, lowest, highest, last, ring, meta,
                             new_recenter_cache(cap), rp)
    assert got == ref.recenter_reason(now, price, centre, lowest, highest, last, bars.bars, rp)
    event(f"reason {got}")


@settings(max_examples=examples(150), deadline=None)
@given(h=histories(), data=st.data())
def test_lookback_kernels_match_scans_along_a_stream(h: tuple, data: st.DataObject) -> None:
    """Pump/dump's cached walk / search and dominance's running counts equal the reference scans
    at every check of a tick stream: whatever the check spacing, recenters (new centre, pump/dump
    window starting at the recenter), window lengths, windows moving back, and ring wrap-around
    (small rings). One cache serves both triggers, as in recenter_reason_nb."""
    ts, px, cap = h
    n = len(ts)
    sparse = data.draw(st.sampled_from([0, 4, 40]))  # checks every tick .. every ~40 ticks
    checks = data.draw(st.lists(st.integers(0, 3 + sparse), min_size=n, max_size=n))
    window = data.draw(st.integers(1, 200)) * BAR_MS
    pd_window = data.draw(st.integers(1, 120)) * BAR_MS
    centres = [px[0] * data.draw(st.floats(0.95, 1.05)) for _ in range(3)] if n else [100.0]
    ring, meta = new_bar_ring(cap)
    cur = np.zeros(4)
    cache = new_recenter_cache(cap)
    bars = ref.BarsRef(BAR_MS, cap)
    centre = centres[0]
    last_rc = ts[0] if n else 0
    for t, p, c in zip(ts, px, checks, strict=True):
        bar_update_nb(ring, meta, cur, t, p, BAR_MS)
        bars.update(t, p)
        if c == 0 or c > 3:
            continue  # no check at this tick
        if c == 1 and data.draw(st.integers(0, 9)) == 0:
            centre = data.draw(st.sampled_from([*centres, p]))  # a recenter
            last_rc = t
        since = t - window
        pd_since = max(t - pd_window, last_rc)
        if c == 2 and data.draw(st.integers(0, 9)) == 0:
            since -= data.draw(st.integers(0, 5)) * BAR_MS  # the windows move back
            pd_since -= data.draw(st.integers(0, 5)) * BAR_MS
        if c == 3 and data.draw(st.integers(0, 19)) == 0:
            window = data.draw(st.integers(1, 200)) * BAR_MS  # other window lengths
            pd_window = data.draw(st.integers(1, 120)) * BAR_MS
        got = dominance_share_nb(ring, meta, cache, since, centre)
        assert got == ref.dominance_share(bars.bars, since, centre)
        want = ref.pump_dump_ref(bars.bars, pd_since)
        got_ref = pump_dump_ref_nb(ring, meta, cache, pd_since)
        assert got_ref == want or (math.isnan(got_ref) and math.isnan(want))
        fresh = pump_dump_ref_nb(ring, meta, new_recenter_cache(cap), pd_since)  # the search
        assert fresh == want or (math.isnan(fresh) and math.isnan(want))
    # a fresh cache (the scan) agrees with the running one at the end
    if ts:
        since = ts[-1] - window
        assert dominance_share_nb(ring, meta, new_recenter_cache(cap), since, centre) == (
            dominance_share_nb(ring, meta, cache, since, centre))


def test_pump_dump_reference_with_missing_bars() -> None:
    """Gaps (bars without ticks) break the contiguous guess: the search still finds the bar."""
    ring, meta = new_bar_ring(50)
    cur = np.zeros(4)
    opens = [0, 1, 2, 5, 6, 9, 20, 21, 22, 40]  # bar indices that saw a tick
    for k, b in enumerate(opens):
        bar_update_nb(ring, meta, cur, b * BAR_MS, 100.0 + k, BAR_MS)
    bar_update_nb(ring, meta, cur, 41 * BAR_MS, 1.0, BAR_MS)  # completes bar 40
    for since_bar, want in ((0, 100.0), (3, 103.0), (7, 105.0), (10, 106.0), (21, 107.0),
                            (23, 109.0), (40, 109.0), (41, math.nan)):
        got = pump_dump_ref_nb(ring, meta, new_recenter_cache(50), since_bar * BAR_MS)
        assert got == want or (math.isnan(got) and math.isnan(want)), since_bar


def test_dominance_cache_survives_ring_replacement() -> None:
    """A cache whose counted bars are no longer in the ring rescans instead of lying."""
    ring, meta = new_bar_ring(20)
    cur = np.zeros(4)
    for i in range(12):
        bar_update_nb(ring, meta, cur, i * BAR_MS, 101.0, BAR_MS)
    cache = new_recenter_cache(20)
    assert dominance_share_nb(ring, meta, cache, 0, 100.0) == (1.0, 0.0, 11)
    # another ring (e.g. restored) with other bars at other times
    ring2, meta2 = new_bar_ring(20)
    cur2 = np.zeros(4)
    for i in range(30):
        bar_update_nb(ring2, meta2, cur2, (i + 3) * BAR_MS, 99.0, BAR_MS)
    assert dominance_share_nb(ring2, meta2, cache, 0, 100.0) == (0.0, 1.0, 20)
    assert dominance_share_nb(ring2, meta2, cache, 20 * BAR_MS, 100.0) == (0.0, 1.0, 12)


def _off() -> RecenterParams:
    return RecenterParams(False, 0.02, False, 86_400_000, False, 0.8, 36_000_000, False, 0.05,
                          3_600_000, False, 0.0, False, 0.0)


def test_trigger_examples() -> None:
    ring, meta = new_bar_ring(700)
    cur = np.zeros(4)
    # 10 h of minute bars closing above the centre 100, then a pump to 106 in the last hour
    for i in range(600):
        bar_update_nb(ring, meta, cur, i * BAR_MS, 101.0 if i < 560 else 106.0, BAR_MS)
    now = 600 * BAR_MS
    rc = new_recenter_cache(700)
    args = (now, 101.0, 100.0, 98.0, 102.0, 0, ring, meta, rc)
    assert recenter_reason_nb(*args, _off()) == Reason.NONE
    assert recenter_reason_nb(*args, _off()._replace(dom_enabled=True)) == Reason.DOMINANCE
    assert recenter_reason_nb(*args, _off()._replace(pd_enabled=True)) == Reason.NONE
    pump = (now, 106.0, 100.0, 98.0, 102.0, 0, ring, meta, rc)
    # reference = open of the oldest bar within 1 h (101): 106/101 - 1 = 4.95 % < 5 %
    assert recenter_reason_nb(*pump, _off()._replace(pd_enabled=True)) == Reason.NONE
    assert recenter_reason_nb(*pump, _off()._replace(pd_enabled=True, pd_pct=0.04)) == (
        Reason.PUMP_DUMP)
    # deviation: beyond 102 * 1.02 = 104.04
    assert recenter_reason_nb(*pump, _off()._replace(dev_enabled=True)) == Reason.DEVIATION
    # trailing comes first, and stops at its limit
    rp = _off()._replace(dev_enabled=True, trail_up=True)
    assert recenter_reason_nb(*pump, rp) == Reason.TRAIL_UP
    assert recenter_reason_nb(*pump, rp._replace(trail_up_limit=105.0)) == Reason.DEVIATION
    # time: 24 h after the last recenter
    rp = _off()._replace(time_enabled=True)
    assert recenter_reason_nb(86_400_000, 100.0, 100.0, 98.0, 102.0, 0, ring, meta, rc, rp) == (
        Reason.TIME)
    assert recenter_reason_nb(86_399_999, 100.0, 100.0, 98.0, 102.0, 0, ring, meta, rc, rp) == (
        Reason.NONE)
    # dominance waits a full window after the last recenter
    rp = _off()._replace(dom_enabled=True)
    assert recenter_reason_nb(now, 101.0, 100.0, 98.0, 102.0, now - 1, ring, meta, rc, rp) == (
        Reason.NONE)


def test_too_small_cache_is_refused() -> None:
    ring, meta = new_bar_ring(10)
    with pytest.raises(ValueError, match="new_recenter_cache"):
        pump_dump_ref_nb(ring, meta, np.zeros(3), 0)
    with pytest.raises(ValueError, match="new_recenter_cache"):
        dominance_share_nb(ring, meta, np.zeros(3), 0, 100.0)
