"""Parity of a liquidation: a 20x long grid on a synthetic crash (and a short one on a rally,
also with orders the margin cannot carry: the step's gate refuses them live as in the backtest,
`backtest.margin` on) is liquidated by the backtest
(`backtest.margin: isolated`, the shipped BTCUSDT tiers, cross fill model, zero latency) and,
with a paper runner trading the same prints against the local exchange (`margin="isolated"`,
the same tiers through the same kernels), by the exchange: at the same print, the same
bankruptcy price, the same quantity, the same loss; the runner books the take-over, records
`liquidated` and stops the grid (Stop.LIQUIDATED), as the backtest does.

Tolerances: time, side and the fills before are exact (as in tests/test_live_parity.py); the
take-over price and quantity to 1e-9 relative: the exchange reports prices as decimal strings
of 10 places (`fakex.records.fmt`) and the runner books what it reads; the loss to 1e-6 USDT
for the same reason (qty x a price rounded at 1e-10)."""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

import numpy as np
import pytest

from gridlab.backtest.data import MarketData
from gridlab.backtest.engine import backtest
from gridlab.fakex.handle import FakeExchange
from gridlab.strategy.enums import Stop
from gridlab.strategy.margin import liquidation_price, snapshot_tiers
from gridlab.strategy.params import make_filters
from live.runner import LiveRunner
from tests.live_helpers import RunnerThread, local_config

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"


def crash(n_flat: int = 120, n_fall: int = 260, seed: int = 11,
          direction: int = -1) -> dict[str, np.ndarray]:
    """Oscillation around 60 000, then a fall (`direction` -1; +1: a rally) of about 0.04 % a
    print (prints on 0.1). The first print's aggressor is the seed's side (the touch the
    seed's market order meets is the print's price, the price the backtest books it at)."""
    rng = np.random.default_rng(seed)
    out, price = [60_000.0], 60_000.0
    for i in range(n_flat + n_fall):
        drift = direction * 0.0004 * price if i >= n_flat else 0.0
        price += drift + rng.normal(0, 20) - (0.1 * (price - 60_000.0) if i < n_flat else 0.0)
        out.append(round(round(price / 0.1) * 0.1, 6))
    p = np.array(out)
    ts = 1_700_000_000_000 + np.cumsum(rng.integers(1_000, 4_000, len(p)))
    side = np.where(np.diff(p, prepend=60_000.0) >= 0, 1, -1).astype(np.int8)
    side[0] = -direction
    size = np.round(rng.exponential(0.05, len(p)) + 0.001, 3)
    return {"ts": ts.astype(np.int64), "price": p, "size": size, "side": side}


@pytest.mark.parametrize(("side", "exposure"), [(1, 25.0), (-1, 18.0), (-1, 25.0)],
                         ids=["long-crash", "short-rally", "short-margin-refusals"])
def test_paper_runner_is_liquidated_where_the_backtest_is(fake_exchange_factory,
                                                          tmp_path: Path, side: int,
                                                          exposure: float) -> None:
    # the account's wallet is the grid's capital: the margin balance is the backtest's
    fx: FakeExchange = fake_exchange_factory(margin="isolated", balance=1000.0)
    fx.engine.set_funding_rate(SYM, 0.0)
    data = crash(direction=-side)
    sections = {
        "trading": {"leverage": 20.0},
        "grid": {"mode": "long" if side > 0 else "short", "spacing": 0.003, "n_buy": 6, "n_sell": 6,
                 "profit_target": 0.0},
        "recenter": {"deviation": {"pct": 0.5}},
        "risk": {"max_exposure_pct": exposure, "kill_switch_dd": 0.99},
        "backtest": {"fill_model": "cross", "latency_ms": 0, "check_interval_ms": 60_000,
                     "maker_fee": fx.engine.maker_fee, "taker_fee": fx.engine.taker_fee,
                     "funding": False, "post_only": True, "margin": "isolated",
                     "risk_limits_symbol": SYM},
        "live": {"order_poll_s": 600},
    }
    cfg = local_config(fx, tmp_path / "live", **sections)
    inst = fx.engine.instruments[("linear", SYM)]
    filters = make_filters(inst.tick_size, inst.qty_step, inst.min_qty, inst.min_notional,
                           inst.max_qty)
    md = MarketData.from_trades(data["ts"], data["price"], data["size"], symbol=SYM,
                                filters=filters)
    res = backtest(md, cfg)
    bt = res.fills
    assert bt is not None
    assert res.metrics["n_liquidations"] == 1
    refused = int(res.metrics["n_margin_refused"])
    assert (refused > 0) == (side < 0 and exposure > 20.0)
    liq_bt = bt[bt["kind"] == "liquidation"]
    assert len(liq_bt) == 1
    t_liq = int(res.metrics["liq_ts"])
    assert int(liq_bt["ts"].iloc[0]) == t_liq

    fx.market.add_trades(SYM, data)
    runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
    rt = RunnerThread(runner).start()
    try:
        for ts in data["ts"]:
            assert fx.market.step(1) == 1
            rt.settle(fx, int(ts))
        live = runner.store.fills(100_000).sort_values("apply_seq")
        core = next(iter(runner.cores.values()))
        status = core.state_name
        events = runner.store.events(1000)
        blocked = core.stats["blocked"]
    finally:
        rt.stop()

    got = list(zip(live["exec_time"], live["side"], live["price"], live["qty"], strict=True))
    want = list(zip(bt["ts"], bt["side"], bt["price"], bt["qty"], strict=True))
    assert len(got) == len(want), "\n".join(f"{g} | {w}" for g, w in zip_longest(got, want))
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g[0] == w[0] and g[1] == w[1], (i, g, w)
        assert g[2] == pytest.approx(w[2], rel=1e-9), (i, g, w)
        assert g[3] == pytest.approx(w[3], rel=1e-9), (i, g, w)
    kinds = {"limit": "grid", "late": "late", "seed": "seed", "flatten": "flatten",
             "liquidation": "liquidation"}
    assert list(live["kind"]) == [kinds[k] for k in bt["kind"]]
    liq_live = live[live["kind"] == "liquidation"]
    assert int(liq_live["exec_time"].iloc[0]) == t_liq
    # the take-over price is the kernel's bankruptcy price of the position before it
    before = live[live["exec_time"] <= t_liq].iloc[:-1]
    pos = float(before["position"].iloc[-1])
    assert pos * side > 0 and float(liq_live["qty"].iloc[0]) == pytest.approx(abs(pos),
                                                                             rel=1e-9)
    assert int(liq_live["side"].iloc[0]) == -side
    entry = fx.engine.accounts[fx.api_key].executions  # the exchange's own account of it
    bust = [e for e in entry if e["execType"] == "BustTrade"]
    assert len(bust) == 1 and bust[0]["execFee"] == "0"
    assert float(bust[0]["execPrice"]) == pytest.approx(float(liq_bt["price"].iloc[0]),
                                                        rel=1e-9)
    # the loss: the position's initial margin, in both
    st = core.step.st
    assert float(live["position"].iloc[-1]) == 0.0
    assert int(st["stop_code"]) == Stop.LIQUIDATED and status == "stopped:liquidated"
    avg = _avg_entry(before)
    im = abs(pos) * avg / 20.0
    assert res.metrics["liq_loss"] == pytest.approx(im, abs=1e-6)
    lp = liquidation_price(side, abs(pos), avg, 20.0, snapshot_tiers(SYM))
    assert float(liq_bt["price"].iloc[0]) == pytest.approx(lp["bankruptcy_price"], rel=1e-12)
    i = int(np.searchsorted(data["ts"], t_liq))
    if side > 0:  # the first print at or beyond it
        assert data["price"][i] <= lp["liq_price"] < data["price"][i - 1]
    else:
        assert data["price"][i - 1] < lp["liq_price"] <= data["price"][i]
    assert "liquidated" in set(events["kind"])
    # the gate (exposure cap, margin) refused the same orders in the live step; the exchange,
    # with the same margin rule and balance, refused none of those it was sent
    assert blocked == res.metrics["n_blocked"]
    assert not (events["kind"] == "order_refused").any()


def _avg_entry(fills) -> float:
    """Average entry of the position the fills (apply order) leave."""
    pos = avg = 0.0
    for side, px, qty in zip(fills["side"], fills["price"], fills["qty"], strict=True):
        new = pos + side * qty
        if pos == 0.0 or (pos > 0) == (side > 0):
            avg = (avg * abs(pos) + qty * px) / abs(new)
        elif new != 0.0 and (new > 0) != (pos > 0):
            avg = px
        pos = new
    return avg
