"""The exposure cap holds live when executions wait to be applied.

The exchange can be ahead of the runner: it has executed fills the runner has stored (over
REST at its check) but not applied yet, because their prints come after the one it is
processing. If a recenter fires then, the new grid must be sized and gated against the
position those fills make, not against the ledger before them (the cap breach of issue 11:
1.5x-1.8x the cap after a recenter). The pending fills are applied, in the kernel's order,
before every decision that depends on the position.
"""

from __future__ import annotations

from pathlib import Path

from gridlab.fakex.handle import FakeExchange
from live.runner import LiveRunner
from tests.live_helpers import RunnerThread, local_config

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
MIN = 60_000
T0 = 1_700_000_040_000  # 40 s into a minute: the first print is the first check
CAP = 0.6


def worst_exposure(fx: FakeExchange, runner: LiveRunner, price: float) -> float:
    """max(|position + resting buys|, |position - resting sells|) * price / the grid's equity,
    read on the exchange (what a crash at this moment could leave)."""
    with fx.engine.lock:
        acct = fx.engine.accounts[fx.api_key]
        pos = acct.positions[SYM].size if SYM in acct.positions else 0.0
        opened = [o for o in fx.engine.open[fx.api_key].values() if o.symbol == SYM]
        buys = sum(o.leaves for o in opened if o.side == "Buy")
        sells = sum(o.leaves for o in opened if o.side == "Sell")
    core = runner.core
    assert core is not None
    equity = core.ledger.equity(price)
    return max(abs(pos + buys), abs(pos - sells)) * price / equity


def test_exposure_cap_holds_when_a_recenter_meets_stored_unapplied_fills(
        fake_exchange: FakeExchange, tmp_path: Path) -> None:
    fx = fake_exchange
    fx.engine.set_funding_rate(SYM, 0.0)
    cfg = local_config(
        fx, tmp_path / "live",
        grid={"spacing": 0.002, "n_buy": 5, "n_sell": 5, "profit_target": 0.0},
        recenter={"time": {"enabled": True, "hours": 0.05}},  # a recenter every 3 minutes
        risk={"max_exposure_pct": CAP, "kill_switch_dd": 0.5},
        live={"order_poll_s": 600})
    runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
    rt = RunnerThread(runner).start()
    ratios: list[float] = []
    ts = T0

    def trade(price: float, *, settle: bool = True) -> None:
        nonlocal ts
        fx.engine.trade(SYM, price, side=-1, ts=ts)
        if settle:
            rt.settle(fx, ts)
            ratios.append(worst_exposure(fx, runner, price))
        ts += 1000

    try:
        trade(60_000.0)  # the first grid
        assert len(runner.store.grids()) == 1
        # quiet prints up to the TIME recenter's check
        recenter_at = -(-(T0 + 3 * MIN) // MIN) * MIN  # the first check 3 minutes on
        while ts < recenter_at:
            trade(60_000.0)
        # the exchange runs ahead: the check print (the recenter fires on it), a dip that
        # fills two buys of the old grid, and the way back up, all executed before the runner
        # has processed the first of them
        ts = recenter_at
        trade(60_000.0, settle=False)
        trade(59_500.0, settle=False)
        trade(60_000.0, settle=False)
        rt.settle(fx, ts - 1000)
        grids = runner.store.grids()
        assert len(grids) == 2 and grids["reason"].iloc[0] == "TIME", grids
        fills = runner.store.fills(1000)
        assert sorted(fills["price"]) == [59_520.0, 59_640.0]  # two buys of the old grid
        ratios.append(worst_exposure(fx, runner, 60_000.0))
        for price in [60_000.0] * 5 + [59_500.0, 59_300.0, 59_100.0]:
            trade(price)  # the new grid's buys fill if they rest
    finally:
        rt.stop()
    assert max(ratios) <= CAP * 1.03, f"worst case {max(ratios):.3f}x equity, cap {CAP}"

