"""A run started from a grid's state (`initial_state`, `engine_nb.run_state_nb`) against the
plain-Python reference started the same way (`engine_ref.run_plain(..., start=...)`), exactly.

Both run flat over the first i events keeping their state, then a second run from that state
over the rest; every fill, equity point, daily close, build, level and the summary of the
second runs must agree, and the kernel's second run must repeat its flat run's fills from
event i on."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.backtest.start import StartState, fresh_state, resume_state
from tests.backtest_helpers import nan_safe, run_kernel_full
from tests.reference import examples
from tests.reference.engine_ref import run_plain
from tests.test_reference_engine import MODELS, MODES, build, case, plain_cfg, plain_market


def run_kernel_on(state: StartState, ts, price, size, fts, frate, gp, f, rp, rk, ep):
    """`run_state_nb` on `state` (changed in place), in the form of `run_kernel_full`."""
    return run_kernel_full(ts, price, size, fts, frate, gp, f, rp, rk, ep, state=state)[:6]


@settings(max_examples=examples(60), deadline=None)
@given(c=case, mode=st.sampled_from(list(MODES)), model=st.sampled_from(list(MODELS)),
       cut=st.floats(0.05, 0.95), kill=st.sampled_from([0.0, 0.0, 0.02]))
def test_a_run_started_from_a_state_matches_the_reference(c: dict, mode: str, model: str,
                                                          cut: float, kill: float) -> None:
    m, spot = MODES[mode]
    ts, price, size, fts, frate, p = build(c, mode=m, spot=spot, fill_model=MODELS[model],
                                           kill_switch_dd=kill)
    gp, f, rp, _rk, ep = p
    i = max(1, min(len(ts) - 1, int(cut * len(ts))))
    head_f = fts <= ts[i - 1]
    # the kernel: flat over 0..i-1, then from its state over i..n-1
    s = fresh_state(gp, rp, ep.capital, f.qty_step * 1e-6, int(ts[0]), float(price[0]), True)
    run_kernel_on(s, ts[:i], price[:i], size[:i], fts[head_f], frate[head_f], *p)
    tail = run_kernel_on(resume_state(s, int(ts[i])), ts[i:], price[i:], size[i:],
                         fts[~head_f], frate[~head_f], *p)
    # the reference, the same way
    cfg = plain_cfg(p)
    head = run_plain(plain_market(ts[:i], price[:i], size[:i], fts[head_f], frate[head_f]),
                     cfg, keep=True)
    ref = run_plain(plain_market(ts[i:], price[i:], size[i:], fts[~head_f], frate[~head_f]),
                    cfg, start=head.state)
    fills, eq, daily, summ, rcs, lvs = tail
    assert len(fills) == len(ref.fills)
    for j, (a, b) in enumerate(zip(fills, ref.fills, strict=True)):
        assert a == b, f"fill {j}: kernel {a} != reference {b}"
    assert eq == ref.equity
    assert daily == ref.daily
    assert summ == ref.summary
    assert nan_safe(rcs) == nan_safe(ref.recenters)
    assert lvs == ref.levels
    # and the resumed kernel run repeats the flat run from event i on
    flat = run_kernel_full(ts, price, size, fts, frate, *p)[0]
    assert fills == [x for x in flat if x[0] >= ts[i]] or ts[i] == ts[i - 1]
