"""Parity: a trade tape replayed through the local exchange, with the live runner trading
against it, gives the same fills (order, side, price, qty) as `gridlab.backtest` on the same
tape with zero latency and the `cross` fill model.

The exchange's market is stepped one print at a time, and the next print is played only once
the runner has seen the print and stored and applied every execution it caused (and placed
the orders that follow), so the runner follows the per-event order of
docs/strategy-kernels.md: bars, fills (by slot), then the check at the check times.
"""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gridlab.backtest.data import MarketData
from gridlab.backtest.engine import backtest
from gridlab.fakex.handle import FakeExchange
from gridlab.strategy.params import make_filters
from live.runner import LiveRunner
from tests.live_helpers import RunnerThread, local_config

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"


def tape(seed: int = 3, n: int = 900, grain: float = 0.1,
         legs: tuple[tuple[int, float], ...] = ((250, 0.0), (150, 0.00018), (250, 0.0),
                                                (250, -0.00016))) -> dict[str, np.ndarray]:
    """Oscillation, a rally, oscillation, a sell-off: fills, round trips, recenters. Prices
    on multiples of `grain`; the first print is 60 000 exactly (so with `grain` 10 the first
    grid's levels, multiples of 120 away from it, are touched without being crossed)."""
    rng = np.random.default_rng(seed)
    price, out = 60_000.0, [60_000.0]
    anchor = price
    for steps, drift in legs:
        for _ in range(steps):
            anchor *= 1 + drift
            price += rng.normal(0, 28) - 0.08 * (price - anchor)
            out.append(round(round(price / grain) * grain, 6))
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
    assert len(got) == len(want), "\n".join(f"{g} | {w}" for g, w in zip_longest(got, want))
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


# ---- several prints per batch: the REST path, every mode ------------------------------------

CHECK_MS = 60_000


def check_prints(ts: np.ndarray, check_ms: int = CHECK_MS) -> set[int]:
    """Indices of the prints the step checks on (the first, then the first at or after each
    next multiple of `check_ms`)."""
    out, nxt = set(), -1
    for i, t in enumerate(ts):
        if t >= nxt:
            out.add(i)
            nxt = (int(t) // check_ms + 1) * check_ms
    return out


def batches(ts: np.ndarray, bt: Any, check_ms: int = CHECK_MS, most: int = 60) -> list[int]:
    """Sizes of the batches the exchange plays at once, so that the runner, which sees a whole
    batch after the exchange matched it, still trades what the step trades: a batch starts at
    a print with fills (the orders decided on it cannot fill before the next batch, and no
    print after it in the batch fills anything) and ends at a check print (the orders and
    market orders of a check meet the market of that print). At most `most` prints (the REST
    recent-trade query of spot returns 60)."""
    idx = {int(t): i for i, t in enumerate(ts)}
    fill_at = {idx[int(t)] for t in bt["ts"]}
    checks = check_prints(ts, check_ms)
    sizes: list[int] = []
    for i in range(len(ts)):
        if not sizes or i in fill_at or (i - 1) in checks or sizes[-1] == most:
            sizes.append(0)
        sizes[-1] += 1
    return sizes


def market_sides(data: dict[str, np.ndarray], bt: Any) -> dict[str, np.ndarray]:
    """The tape with the aggressor side of each print of a market order (seed, flatten) set so
    that the exchange's touch on that side is the print's price, the price the step books it
    at (the cross fill rule does not look at the side)."""
    side = data["side"].copy()
    idx = {int(t): i for i, t in enumerate(data["ts"])}
    for t, sd, kind in zip(bt["ts"], bt["side"], bt["kind"], strict=True):
        if kind in ("seed", "flatten"):
            side[idx[int(t)]] = 1 if sd > 0 else -1
    return {**data, "side": side}


def parity_sections(fx: FakeExchange, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "grid": {"spacing": 0.002, "n_buy": 5, "n_sell": 5, "profit_target": 0.0},
        "recenter": {"deviation": {"pct": 0.006}},
        "risk": {"max_exposure_pct": 1.0, "kill_switch_dd": 0.05},
        "backtest": {"fill_model": "cross", "latency_ms": 0, "check_interval_ms": CHECK_MS,
                     "maker_fee": fx.engine.maker_fee, "taker_fee": fx.engine.taker_fee,
                     "funding": False, "post_only": True},
        "live": {"order_poll_s": 600, "ws": False},
    }
    for k, v in over.items():
        base[k] = {**base.get(k, {}), **v}
    return base


def run_batched(fx: FakeExchange, cfg: Any, data: dict[str, np.ndarray], sizes: list[int],
                category: str) -> tuple[Any, int, list[str]]:
    """The runner without streams, fed by its REST poll after each batch the exchange played:
    the poll stores the batch's executions, then plays its prints in time order. Returns the
    fills (apply order), the blocked count, and the fills still unapplied when a later print
    was observed (the kernel applies every fill at its own print)."""
    fx.market.add_trades(SYM, data, category=category)
    runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
    rt = RunnerThread(runner).start()
    late: list[str] = []
    try:
        core = runner.core
        assert core is not None
        observe = core.strategy.observe

        def spy(ts: int, price: float) -> None:
            late.extend(pf.row.exec_id for pf in core.pending if pf.row.exec_time < ts)
            observe(ts, price)

        core.strategy.observe = spy  # type: ignore[method-assign]
        for n in sizes:
            assert fx.market.step(n) == n
            last = int(data["ts"][fx.market.cursor - 1])
            runner._post("poll")
            rt.settle(fx, last)
        live = runner.store.fills(100_000).sort_values("apply_seq")
        blocked = core.stats["blocked"]
    finally:
        rt.stop()
    return live, blocked, late


def assert_same_fills(live: Any, bt: Any) -> None:
    got = list(zip(live["exec_time"], live["side"], live["price"], live["qty"], strict=True))
    want = list(zip(bt["ts"], bt["side"], bt["price"], bt["qty"], strict=True))
    assert len(got) == len(want), "\n".join(f"{g} | {w}" for g, w in zip_longest(got, want))
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g[0] == w[0] and g[1] == w[1], (i, g, w)
        assert g[2] == pytest.approx(w[2], rel=1e-12), (i, g, w)
        assert g[3] == pytest.approx(w[3], rel=1e-12), (i, g, w)
    kinds = {"limit": "grid", "late": "late", "seed": "seed", "flatten": "flatten"}
    assert list(live["kind"]) == [kinds[k] for k in bt["kind"]]
    assert list(live["slot"]) == list(bt["slot"])
    assert live["position"].iloc[-1] == pytest.approx(bt["position"].iloc[-1], abs=1e-9)


SELL_OFF = ((200, 0.0), (120, -0.0003), (200, 0.0))
MODES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    # name: (category, config overrides, tape arguments)
    "neutral": ("linear", {}, {"n": 600}),
    "long": ("linear", {"grid": {"mode": "long"}}, {"n": 600, "seed": 5}),
    "short": ("linear", {"grid": {"mode": "short"}}, {"n": 600, "seed": 6}),
    "spot": ("spot", {"grid": {"mode": "long"}, "trading": {"category": "spot"}},
             {"n": 600, "seed": 7}),
    "atr": ("linear", {"grid": {"atr": {"mode": "simple", "period": 4, "mult": 1.5}}},
            {"n": 700, "seed": 8}),
    "kill-switch": ("linear", {"risk": {"kill_switch_dd": 0.004, "flatten_on_kill": True}},
                    {"n": 520, "seed": 9, "legs": SELL_OFF}),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_live_fills_equal_backtest_fills_several_prints_per_batch(
        fake_exchange_factory: Any, tmp_path: Path, mode: str) -> None:
    """The same parity with the prints reaching the runner several per batch (the REST
    path), in every grid mode, with ATR spacing and with the kill switch: the fills are the
    backtest's, and every fill is applied at its print, before the runner observes the next."""
    category, over, tape_args = MODES[mode]
    fx = fake_exchange_factory(category=category)
    if category == "linear":
        fx.engine.set_funding_rate(SYM, 0.0)
    else:  # spot buys pay their fee in the base coin (as on Bybit), the ledger books every
        fx.engine.maker_fee = fx.engine.taker_fee = 0.0  # fee in quote: no fees on spot
    data = tape(grain=10.0, **tape_args)
    cfg = local_config(fx, tmp_path / "live", **parity_sections(fx, **over))
    inst = fx.engine.instruments[(category, SYM)]
    filters = make_filters(inst.tick_size, inst.qty_step, inst.min_qty, inst.min_notional,
                           inst.max_qty)
    md = MarketData.from_trades(data["ts"], data["price"], data["size"], symbol=SYM,
                                filters=filters)
    res = backtest(md, cfg)
    bt = res.fills
    assert bt is not None and len(bt) >= 8
    # the tape touches resting orders without crossing them: fills on touch would differ
    touch = backtest(md, cfg.model_copy(update={"backtest": cfg.backtest.model_copy(
        update={"fill_model": "touch"})})).fills
    assert touch is not None
    assert (list(touch["ts"]), list(touch["price"])) != (list(bt["ts"]), list(bt["price"]))
    if mode == "kill-switch":
        assert res.metrics["n_kill_switch"] == 1 and (bt["kind"] == "flatten").any()
    if mode in ("long", "short", "spot"):
        assert (bt["kind"] == "seed").any()
    sizes = batches(data["ts"], bt)
    assert max(sizes) >= 5 and len(sizes) < len(data["ts"]) // 2  # several prints per batch
    live, blocked, late = run_batched(fx, cfg, market_sides(data, bt), sizes, category)
    assert_same_fills(live, bt)
    assert blocked == res.metrics["n_blocked"]
    assert late == [], f"fills still waiting when a later print was observed: {late[:5]}"
