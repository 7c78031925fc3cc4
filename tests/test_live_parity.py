"""Parity: a trade tape replayed through the local exchange, with the live runner trading
against it, gives the same fills (order, side, price, qty) as `gridlab.backtest` on the same
tape with zero latency and the `cross` fill model.

The exchange's market is stepped one print at a time, and the next print is played only once
the runner has seen the print and stored and applied every execution it caused (and placed
the orders that follow), so the runner follows the per-event order of
docs/strategy-kernels.md: bars, fills (by slot), then the check at the check times.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gridlab.backtest.data import MarketData
from gridlab.backtest.engine import backtest
from gridlab.fakex.handle import FakeExchange
from gridlab.strategy.params import make_filters
from live.runner import LiveRunner
from live.testing import RunnerThread, local_config

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"


def tape(seed: int = 3, n: int = 900) -> dict[str, np.ndarray]:
    """Oscillation, a rally, oscillation, a sell-off: fills, round trips, recenters."""
    rng = np.random.default_rng(seed)
    legs = [(250, 0.0), (150, 0.00018), (250, 0.0), (250, -0.00016)]
    price, out = 60_000.0, []
    anchor = price
    for steps, drift in legs:
        for _ in range(steps):
            anchor *= 1 + drift
            price += rng.normal(0, 28) - 0.08 * (price - anchor)
            out.append(round(price * 10) / 10)
    p = np.array(out[:n])
    ts = 1_700_000_000_000 + np.cumsum(rng.integers(1_000, 4_000, len(p)))
    side = np.where(np.diff(p, prepend=60_000.0) >= 0, 1, -1).astype(np.int8)
    size = np.round(rng.exponential(0.05, len(p)) + 0.001, 3)
    return {"ts": ts.astype(np.int64), "price": p, "size": size, "side": side}


@pytest.mark.parametrize(("seed", "exposure"), [(3, 1.0), (1, 0.8)],
                         ids=["default-risk", "exposure-cap-binding"])
def test_live_fills_equal_backtest_fills(fake_exchange: FakeExchange, tmp_path: Path,
                                         seed: int, exposure: float) -> None:
    fx = fake_exchange
    fx.engine.set_funding_rate(SYM, 0.0)
    data = tape(seed)
    sections = {
        "grid": {"spacing": 0.002, "n_buy": 5, "n_sell": 5, "profit_target": 0.0015},
        "recenter": {"deviation": {"pct": 0.006}},
        "risk": {"max_exposure_pct": exposure, "kill_switch_dd": 0.05},
        "backtest": {"fill_model": "cross", "latency_ms": 0, "check_interval_ms": 60_000,
                     "maker_fee": fx.engine.maker_fee, "taker_fee": fx.engine.taker_fee,
                     "funding": False, "post_only": True},
        "live": {"order_poll_s": 600},
    }
    cfg = local_config(fx, tmp_path / "live", **sections)

    # the backtest
    inst = fx.engine.instruments[("linear", SYM)]
    filters = make_filters(inst.tick_size, inst.qty_step, inst.min_qty, inst.min_notional,
                           inst.max_qty)
    md = MarketData.from_trades(data["ts"], data["price"], data["size"], symbol=SYM,
                                filters=filters)
    res = backtest(md, cfg)
    bt = res.fills
    assert bt is not None and len(bt) >= 10
    assert res.metrics["n_round_trips"] >= 1

    # the live runner against the same tape, one print at a time
    fx.market.add_trades(SYM, data)
    runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
    rt = RunnerThread(runner).start()
    try:
        for ts in data["ts"]:
            assert fx.market.step(1) == 1
            rt.settle(fx, int(ts))
        live = runner.store.fills(100_000).sort_values("apply_seq")
        grids = runner.store.grids()
        blocked = runner.core.stats["blocked"]
    finally:
        rt.stop()

    got = list(zip(live["exec_time"], live["side"], live["price"], live["qty"], strict=True))
    want = list(zip(bt["ts"], bt["side"], bt["price"], bt["qty"], strict=True))
    assert len(got) == len(want), (len(got), len(want))
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g[0] == w[0] and g[1] == w[1], (i, g, w)
        assert g[2] == pytest.approx(w[2], rel=1e-12), (i, g, w)
        assert g[3] == pytest.approx(w[3], rel=1e-12), (i, g, w)
    assert list(live["slot"]) == list(bt["slot"])
    kinds = {"limit": "grid", "late": "late", "seed": "seed", "flatten": "flatten"}
    assert list(live["kind"]) == [kinds[k] for k in bt["kind"]]
    # same grids: one INITIAL build plus the same number of recenters
    n_rc = sum(int(res.metrics.get(k, 0)) for k in res.metrics if k.startswith("rc_")
               and k not in ("rc_none", "rc_initial"))
    assert len(grids) - 1 == n_rc >= 1
    assert live["position"].iloc[-1] == pytest.approx(bt["position"].iloc[-1], abs=1e-9)
    # the risk checks decided the same: orders blocked by the exposure cap, in both
    assert blocked == res.metrics["n_blocked"]
    if exposure < 1.0:
        assert blocked > 0
