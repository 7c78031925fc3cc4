"""`gridlab promote` / `gridlab live` and which profile the runner trades."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
import yaml
from typer.testing import CliRunner

from gridlab.backtest.data import MarketData
from gridlab.backtest.engine import backtest
from gridlab.config import config_from_dict
from gridlab.errors import StoreError
from gridlab.fakex.handle import FakeExchange
from gridlab.store.core import Store
from gridlab.store.live import LiveStore, latest_promotion, list_promotions
from gridlab.store.profiles import list_profiles
from live.commands import app as live_app
from live.commands import register
from live.promote import ActiveProfile, choose_profile, promote
from live.runner import LiveRunner
from tests.live_helpers import RunnerThread, local_config

pytest_plugins = ["tests.fakex_fixtures"]

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp: Path) -> tuple[Path, dict]:
    raw = {"data": {"db_path": str(tmp / "research.duckdb")},
           "profiles": {"Tight": {"grid_spacing": 0.001, "target_levels": 3,
                                  "profit_target": 0.001}}}
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, raw


def test_register_adds_both_commands() -> None:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """root"""

    register(app)
    out = CliRunner().invoke(app, ["--help"])
    assert out.exit_code == 0 and "live" in out.output and "promote" in out.output
    out = CliRunner().invoke(app, ["live", "--help"])
    assert "--paper" in out.output and "--profile" in out.output


def test_promote_records_version_note_and_run(tmp_path: Path) -> None:
    path, raw = _config(tmp_path)
    cli = CliRunner()
    out = cli.invoke(live_app, ["promote", "Normal", "--note", "first", "--config", str(path)])
    assert out.exit_code == 0, out.output
    assert "promoted Normal v1" in out.output
    # a backtest run to promote from
    cfg = config_from_dict(raw)
    rng = np.random.default_rng(0)
    ts = 1_700_000_000_000 + np.arange(2000, dtype=np.int64) * 1000
    price = np.round(100 * np.exp(np.cumsum(rng.normal(0, 5e-4, 2000))), 2)
    with Store.open(cfg.data.db_path) as st:
        res = backtest(MarketData.from_trades(ts, price), cfg, "Tight", store=st)
    run_id = res.run_id
    assert run_id
    out = cli.invoke(live_app, ["promote", "Tight", "--from-run", run_id[:8], "--note",
                                "best of the sweep", "--config", str(path)])
    assert out.exit_code == 0, out.output
    assert f"from backtest {run_id}" in out.output
    with Store.open(cfg.data.db_path, read_only=True) as st:
        promos = list_promotions(st)
        assert [(p.profile, p.version, p.note) for p in promos] == [
            ("Tight", 1, "best of the sweep"), ("Normal", 1, "first")]
        assert promos[0].run_id == run_id and promos[1].run_id is None
        assert promos[0].params["grid_spacing"] == 0.001
        assert {r.name for r in list_profiles(st)} == {"Normal", "Tight"}
    with pytest.raises(StoreError, match="no backtest run"):
        promote(cfg, "Tight", run_id="nope")


def test_choose_profile_order(tmp_path: Path) -> None:
    _, raw = _config(tmp_path)
    cfg = config_from_dict(raw)
    assert choose_profile(cfg, None, None).source == "config"  # nothing promoted yet
    promo, _ = promote(cfg, "Tight")
    got = choose_profile(cfg, None, None)
    assert (got.name, got.version, got.source, got.promotion_id) == ("Tight", 1, "promotion",
                                                                     promo.id)
    assert got.resolved.grid.spacing == 0.001 and got.resolved.grid.n_buy == 3
    assert choose_profile(cfg, "Aggressive", None).name == "Aggressive"  # --profile wins
    panel = ActiveProfile.from_state({**choose_profile(cfg, "Conservative", None).as_state(),
                                      "source": "panel", "promotion_id": promo.id})
    kept = choose_profile(cfg, None, panel.as_state())
    assert kept.name == "Conservative" and kept.source == "panel"
    newer, _ = promote(cfg, "Normal")  # a newer promotion replaces the panel's choice
    got = choose_profile(cfg, None, panel.as_state())
    assert got.name == "Normal" and got.promotion_id == newer.id


def test_runner_takes_the_latest_promotion(fake_exchange: FakeExchange, tmp_path: Path) -> None:
    cfg = local_config(fake_exchange, tmp_path / "live")
    cfg = cfg.model_copy(update={"profiles": config_from_dict(
        {"profiles": {"Wide": {"grid_spacing": 0.004, "target_levels": 2,
                               "profit_target": 0.0}}}).profiles})
    promote(cfg, "Wide", note="paper test")
    runner = LiveRunner(cfg, credentials=fake_exchange.credentials, install_signals=False)
    rt = RunnerThread(runner).start()
    try:
        assert runner.active is not None and runner.active.name == "Wide"
        fake_exchange.engine.trade("BTCUSDT", 60_000.0, ts=1_700_000_040_000)
        rt.settle(fake_exchange, 1_700_000_040_000)
        assert len(runner.core.slot_link) == 4
        g = runner.store.grids()
        assert g["profile"].tolist() == ["Wide"] and g["profile_version"].tolist() == [1]
        assert runner.store.grids()["spacing"].iloc[0] == pytest.approx(0.004)
    finally:
        rt.stop()
    with Store.open(cfg.data.db_path, read_only=True) as st:
        p = latest_promotion(st)
        assert p is not None and p.note == "paper test"


def test_live_command_errors_are_one_line(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "live", "live", "--config",
                          str(tmp_path / "missing.yaml")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.startswith("error: config file") and "does not exist" in out.stderr


def test_restart_with_a_new_promotion_hands_over(fake_exchange: FakeExchange,
                                                 tmp_path: Path) -> None:
    fx = fake_exchange
    cfg = local_config(fx, tmp_path / "live")
    promote(cfg, "Normal")
    ts = 1_700_000_040_000

    def run_once(price: float, dt: int) -> LiveRunner:
        nonlocal ts
        runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
        rt = RunnerThread(runner).start()
        try:
            ts += dt
            fx.engine.trade("BTCUSDT", price, ts=ts)
            rt.settle(fx, ts)
        finally:
            rt.stop()
        return runner

    first = run_once(60_000.0, 0)
    assert first.active is not None and first.active.name == "Normal"
    old = set(fx.engine.open[fx.api_key])
    assert len(old) == 12  # Normal: 6 + 6, left resting at shutdown
    promote(cfg, "Conservative", note="wider")
    second = run_once(60_010.0, 1000)
    assert second.active is not None and second.active.name == "Conservative"
    ls = LiveStore.open(tmp_path / "live" / "btcusdt-linear.duckdb")
    try:
        g = ls.grids()
        assert g["reason"].tolist() == ["MANUAL", "INITIAL"]
        assert g["profile"].tolist() == ["Conservative", "Normal"]
    finally:
        ls.close()
    now = fx.engine.open[fx.api_key]
    assert len(now) == 10 and not (set(now) & old)  # Conservative: 5 + 5, all new
