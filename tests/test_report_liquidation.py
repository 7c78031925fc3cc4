"""The report shows the liquidation price: the line along the run, the end, the closest approach."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gridlab.backtest.engine import backtest
from gridlab.research.report import _fmt, liquidation_parts, liquidation_summary, run_report
from gridlab.strategy.margin import liquidation_price, snapshot_tiers
from tests.test_backtest_liquidation import _crash, _data

KW = {"n_buy": 5, "n_sell": 0, "mode": "long", "spacing": 0.01, "leverage": 20,
      "max_exposure_pct": 25.0, "deviation.pct": 0.9, "kill_switch_dd": 0.0}


def _position(fills, t: int) -> tuple[float, float]:
    """(size, average entry) after the fills before t (the hand ledger, average cost)."""
    pos = avg = 0.0
    for r in fills.itertuples():
        if r.ts >= t:
            break
        new = pos + r.side * r.qty
        avg = (avg * abs(pos) + r.qty * r.price) / abs(new) if r.side * pos >= 0 else avg
        pos = new
    return abs(pos), avg


def test_the_liquidation_line_is_the_liquidation_price_of_the_position() -> None:
    _ts, price, _ = _crash()
    res = backtest(_data(price), record=True, margin="isolated", risk_limits_symbol="BTCUSDT",
                   equity_ms=10_000, **KW)
    line, t_liq = res.liquidation, int(res.metrics["liq_ts"])
    assert t_liq > 0 and len(line) == len(res.equity)
    before = line[line["ts"] < t_liq]
    held = before[before["liq_price"].notna()]
    assert len(held) > 10
    tiers = snapshot_tiers("BTCUSDT")
    for row in held.iloc[[0, len(held) // 2, -1]].itertuples():  # the hand formula, any time
        qty, avg = _position(res.fills, int(row.ts) + 1)
        want = liquidation_price(1, qty, avg, 20.0, tiers)["liq_price"]
        assert row.liq_price == pytest.approx(want, rel=1e-9)
        assert row.mark > row.liq_price  # still alive
    at = int(np.searchsorted(_data(price).ts, t_liq))
    assert price[at] <= held["liq_price"].iloc[-1] < price[at - 1]  # crossed right there
    assert line[line["ts"] >= t_liq]["liq_price"].isna().all()  # flat after the take-over
    s = liquidation_summary(res)
    assert s is not None and s["liq_ts"] == t_liq and math.isnan(s["end"]["liq_price"])
    assert s["closest"]["distance"] == pytest.approx(
        ((held["mark"] - held["liq_price"]) / held["mark"]).min(), rel=1e-12)
    text = liquidation_parts(res)[0].data
    assert "Liquidated** at" in text and "none (no open position)" in text
    # margin off: nothing computed, and the report says the model is off
    off = backtest(_data(price), record=True, **KW)
    assert off.liquidation is None and liquidation_summary(off) is None
    assert "The liquidation model is off" in liquidation_parts(off)[0].data


def test_the_closest_approach_and_the_end_of_a_run_that_survives() -> None:
    down = np.linspace(100.0, 93.5, 300)  # down to near the liquidation price ...
    price = np.round(np.concatenate([np.full(60, 100.0), down, down[::-1][:200]]), 2)  # ... back
    res = backtest(_data(price), record=True, margin="isolated", risk_limits_symbol="BTCUSDT",
                   equity_ms=10_000, **KW)
    assert res.metrics["n_liquidations"] == 0
    s = liquidation_summary(res)
    assert s is not None and s["liq_ts"] == 0
    line = res.liquidation
    bottom = int(line["ts"].iloc[int(np.argmin(line["mark"]))])
    assert abs(s["closest"]["ts"] - bottom) <= 20_000  # at the bottom, not at the end
    assert s["closest"]["distance"] < 0.02 < s["end"]["distance"]
    qty, avg = _position(res.fills, int(line["ts"].iloc[-1]) + 1)
    want = liquidation_price(1, qty, avg, 20.0, snapshot_tiers("BTCUSDT"))["liq_price"]
    assert s["end"]["liq_price"] == pytest.approx(want, rel=1e-9)
    text = liquidation_parts(res)[0].data
    assert f"Liquidation price at the end of the run: **{_fmt(want, 'money')}**" in text
    assert "Closest approach: at " in text and "Liquidated" not in text


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gridlab.data.synth import write_synthetic_market
    from gridlab.store.core import Store

    path = tmp_path_factory.mktemp("report_liq") / "tiny.duckdb"
    with Store.open(path) as store:
        write_synthetic_market(store, "BTCUSDT", "linear", days=2, seed=2, trades_per_day=20_000)
    return path


def test_report_shows_the_liquidation_price(tiny_db: Path, tmp_path: Path) -> None:
    from gridlab.backtest.data import load_market
    from gridlab.store.core import Store

    cfg = tmp_path / "config.yaml"
    cfg.write_text("trading:\n  leverage: 10\nbacktest:\n  margin: isolated\n"
                   "risk:\n  max_exposure_pct: 10\n")
    html = run_report("BTCUSDT", "2024-01-01", "2024-01-03", profile="Normal", db_path=tiny_db,
                      config=cfg, out_dir=tmp_path).read_text()
    with Store.open(tiny_db, read_only=True) as store:
        data = load_market(store, "BTCUSDT", "linear", "trades", "2024-01-01", "2024-01-03")
    res = backtest(data, cfg, "Normal", equity_ms=5 * 60_000)  # what the notebook runs
    s = liquidation_summary(res)
    assert s is not None and s["closest"] is not None
    assert "Margin model <strong>isolated</strong> at 10x" in html
    end = s["end"]["liq_price"]
    assert math.isfinite(end), "the run should end with a position"
    assert f"Liquidation price at the end of the run: <strong>{_fmt(end, 'money')}</strong>" in html
    assert f"liquidation price {_fmt(s['closest']['liq_price'], 'money')}" in html
    assert '"name":"liquidation price"' in html  # the line on the price chart
    assert "The liquidation model is off" not in html
