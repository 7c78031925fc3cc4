"""Promotion from results: each source kind round-trips its effective parameters exactly,
lineage is recorded, the diff is printed, rollback re-activates an older version, and a failed
promote creates no store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gridlab.backtest import backtest, load_market, sweep
from gridlab.backtest.params import effective_config
from gridlab.config import config_from_dict
from gridlab.data.synth import write_synthetic_market
from gridlab.errors import ConfigError, StoreError
from gridlab.research.optimize import Param
from gridlab.research.walkforward import Objective
from gridlab.research.workflow import run_optimize, run_walkforward
from gridlab.store.core import Store
from gridlab.store.live import list_promotions
from gridlab.store.profiles import load_profile
from live.commands import app as live_app
from live.promote import (
    SECTIONS,
    activate_version,
    choose_profile,
    promote_from_run,
    promote_from_sweep,
    promote_from_trial,
    promote_from_walkforward,
)

pytest_plugins = ["tests.fakex_fixtures"]

T0 = 1_704_067_200_000
DAY = 86_400_000


def sections(cfg: Any) -> dict[str, dict[str, Any]]:
    return {s: getattr(cfg, s).model_dump(mode="json") for s in SECTIONS}


def live_sections(cfg: Any) -> dict[str, dict[str, Any]]:
    """What the runner would trade on start: the latest promotion, resolved on `cfg`."""
    active = choose_profile(cfg, None, None)
    assert active.source == "promotion"
    return {s: getattr(active.resolved, s).model_dump(mode="json") for s in SECTIONS}


@pytest.fixture(scope="module")
def research(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    """A store with a market, a run (Aggressive, spacing 0.004), a sweep, a walk-forward and
    an Optuna study; returns (config, ids)."""
    folder = tmp_path_factory.mktemp("promo")
    db = folder / "research.duckdb"
    cfg = config_from_dict({"data": {"db_path": str(db)}})
    with Store.open(db) as store:
        write_synthetic_market(store, "BTCUSDT", "linear", start_ms=T0, days=1, seed=3,
                               trades_per_day=12_000)
        md = load_market(store, "BTCUSDT", "linear")
        run = backtest(md, cfg, "Aggressive", store=store,
                       **{"grid.spacing": 0.004, "risk.kill_switch_dd": 0.07})
        table = sweep(md, {"grid.spacing": [0.002, 0.003, 0.005],
                           "grid.n_buy": [3, 5]}, cfg, "Conservative", store=store)
    wf = run_walkforward(db, "BTCUSDT", T0, T0 + DAY, grid={"grid.spacing": [0.002, 0.004]},
                         objective=Objective("total_return"), train_days=0.5,
                         test_days=0.25, profile="Normal")
    study = run_optimize(db, "BTCUSDT", T0, T0 + DAY,
                         space={"grid.spacing": Param(0.002, 0.006)},
                         objectives=[Objective("total_return")], n_trials=3, seed=1,
                         profile="Normal")
    ids = {"run": run.run_id, "run_cfg": effective_config(cfg, "Aggressive", {
               "grid.spacing": 0.004, "risk.kill_switch_dd": 0.07}),
           "sweep": table.attrs["sweep_id"], "sweep_table": table,
           "sweep_base": effective_config(cfg, "Conservative"),
           "wf": wf.folds.attrs["walkforward_id"], "wf_folds": wf.folds,
           "study": study.trials.attrs["study_id"], "trials": study.trials}
    return cfg, ids


def test_from_run_round_trips_exactly(research: tuple[Any, dict[str, Any]]) -> None:
    cfg, ids = research
    res = promote_from_run(cfg, "Normal", ids["run"][:10], note="tuned")
    want = sections(ids["run_cfg"])
    assert want["grid"]["spacing"] == 0.004 and want["grid"]["n_buy"] == 8  # Aggressive levels
    assert live_sections(cfg) == want
    with Store.open(cfg.data.db_path, read_only=True) as st:
        prof = load_profile(st, "Normal", res.version)
        promo = list_promotions(st, 1)[0]
    assert prof.grid_spacing == 0.004
    assert (promo.source_kind, promo.source_id, promo.run_id) == ("run", ids["run"], ids["run"])
    lin = promo.lineage
    assert lin["data"]["symbol"] == "BTCUSDT" and lin["data"]["start_ms"] >= T0
    assert lin["fill_model"] == "cross" and "total_return" in lin["metrics"]
    assert lin["code"]["kernel_hash"] and lin["promoted_by"]["kernel_hash"]
    assert "grid.spacing: 0.0025 -> 0.004" in res.diff  # against the built-in Normal
    assert "risk.kill_switch_dd: 0.05 -> 0.07" in res.diff


def test_from_sweep_set_and_best(research: tuple[Any, dict[str, Any]]) -> None:
    cfg, ids = research
    table = ids["sweep_table"]
    for k in (4, 1):
        promote_from_sweep(cfg, "SweepPick", ids["sweep"], set_id=k)
        row = table[table["set_id"] == k].iloc[0]
        want = sections(effective_config(ids["sweep_base"], None, {
            "grid.spacing": float(row["grid.spacing"]), "grid.n_buy": int(row["grid.n_buy"])}))
        assert live_sections(cfg) == want
    res = promote_from_sweep(cfg, "SweepPick", ids["sweep"], best="total_return")
    best = table.loc[table["total_return"].idxmax()]
    assert res.source is not None and res.source.id.endswith(f":{int(best['set_id'])}")
    assert live_sections(cfg)["grid"]["spacing"] == float(best["grid.spacing"])
    with pytest.raises(ConfigError, match="exactly one of --set-id and --best"):
        promote_from_sweep(cfg, "SweepPick", ids["sweep"])
    with pytest.raises(StoreError, match="has no set 99"):
        promote_from_sweep(cfg, "SweepPick", ids["sweep"], set_id=99)


def test_from_walkforward_takes_the_last_fold(research: tuple[Any, dict[str, Any]]) -> None:
    cfg, ids = research
    last = ids["wf_folds"].iloc[-1]
    res = promote_from_walkforward(cfg, "WF", ids["wf"])
    want = sections(effective_config(config_from_dict({}), "Normal",
                                     {"grid.spacing": float(last["grid.spacing"])}))
    assert live_sections(cfg) == want
    assert res.source is not None and res.source.id.endswith(f":fold{int(last['fold'])}")
    assert res.source.lineage["fold"]["test_end"] == int(last["test_end"])


def test_from_trial(research: tuple[Any, dict[str, Any]]) -> None:
    cfg, ids = research
    trials = ids["trials"]
    t = trials[trials["feasible"]].iloc[-1]
    promote_from_trial(cfg, "Trial", f"{ids['study']}:{int(t['trial'])}")
    want = sections(effective_config(config_from_dict({}), "Normal",
                                     {"grid.spacing": float(t["grid.spacing"])}))
    assert live_sections(cfg) == want
    with pytest.raises(ConfigError, match="is not STUDY:N"):
        promote_from_trial(cfg, "Trial", "nocolon")
    with pytest.raises(StoreError, match="has no trial 999"):
        promote_from_trial(cfg, "Trial", f"{ids['study']}:999")


def test_rollback_and_cli(research: tuple[Any, dict[str, Any]], tmp_path: Path) -> None:
    cfg, ids = research
    first = promote_from_run(cfg, "Roll", ids["run"])
    second = promote_from_sweep(cfg, "Roll", ids["sweep"], set_id=0)
    assert second.version == first.version + 1 and second.previous == first.version
    assert any(d.startswith("grid.spacing: 0.004 -> ") for d in second.diff)
    back = activate_version(cfg, "Roll", first.version, note="rollback")
    assert back.promotion.source_kind == "rollback"
    assert live_sections(cfg) == sections(ids["run_cfg"])
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text(f"data: {{db_path: {cfg.data.db_path}}}\n")
    cli = CliRunner()
    out = cli.invoke(live_app, ["promote", "Roll", "--version", str(second.version),
                                "-c", str(cfg_file)])
    assert out.exit_code == 0, out.output
    assert f"re-activated Roll v{second.version}" in out.output
    assert "  grid.spacing: 0.004 -> " in out.output
    out = cli.invoke(live_app, ["promote", "Cli", "--from-sweep", ids["sweep"],
                                "--best", "max_drawdown:min", "-c", str(cfg_file)])
    assert out.exit_code == 0, out.output
    assert "from sweep set" in out.output and "diff against the config / built-in" in out.output
    out = cli.invoke(live_app, ["promotions", "list", "-c", str(cfg_file)])
    assert out.exit_code == 0, out.output
    assert "rollback" in out.output and "sweep" in out.output and "BTCUSDT linear" in out.output
    out = cli.invoke(live_app, ["promote", "X", "--from-run", "a", "--from-trial", "b:1",
                                "-c", str(cfg_file)])
    assert out.exit_code != 0 and isinstance(out.exception, ConfigError)


def test_failed_promote_creates_no_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cli = CliRunner()
    for args in (["promote", "Normal", "--from-run", "abc"], ["promote", "NoSuchProfile"],
                 ["promote", "Normal", "--from-sweep", "s", "--set-id", "1"],
                 ["promote", "Normal", "--version", "2"], ["promotions", "list"]):
        out = cli.invoke(live_app, args)
        assert out.exit_code != 0, args
        assert isinstance(out.exception, StoreError | ConfigError), (args, out.exception)
        assert not (tmp_path / "data").exists(), args
    assert os.listdir(tmp_path) == []


def test_admission_refuses_what_the_account_cannot_trade(
        research: tuple[Any, dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
    from gridlab.data.instruments import read_instruments_file
    from live.promote import admit_profile, params_hash

    cfg, ids = research
    promote_from_run(cfg, "Admit", ids["run"])
    active = choose_profile(cfg, None, None)
    found, _ = read_instruments_file(Path(__file__).resolve().parents[1]
                                     / "gridlab/data/snapshots/bybit_instruments.json")
    btc = next(i for i in found if i.symbol == "BTCUSDT" and i.category == "linear")
    with caplog.at_level("INFO", logger="gridlab.live"):
        digest = admit_profile(active, btc, capital=1000.0, leverage=2.0, category="linear",
                               price=30_000.0, equity=5000.0)
    assert digest == params_hash(sections(ids["run_cfg"])) == active.as_state()["hash"]
    assert f"effective parameters hash {digest}" in caplog.text
    assert '"spacing": 0.004' in caplog.text
    cases = [({"leverage": 150.0}, r"leverage 150 is above BTCUSDT's maximum 100"),
             ({"equity": 500.0}, r"capital 1000 is more than the account's equity 500"),
             ({"capital": 20.0}, r"no grid level passes BTCUSDT's filters at 30000"),
             ({"category": "spot"}, r"spot cannot use leverage 2")]
    for change, pattern in cases:
        kw: dict[str, Any] = {"capital": 1000.0, "leverage": 2.0, "category": "linear",
                              "price": 30_000.0, "equity": 5000.0} | change
        with pytest.raises(ConfigError, match=pattern):
            admit_profile(active, btc, **kw)


def test_runner_trades_exactly_the_promoted_run(fake_exchange: Any, tmp_path: Path) -> None:
    """Promote a tuned run, start the live runner on the local exchange: its effective
    parameters equal the run's, field by field, and the orders it places are that grid's."""
    import numpy as np

    from gridlab.backtest import MarketData
    from live.runner import LiveRunner
    from tests.live_helpers import RunnerThread, local_config

    cfg = local_config(fake_exchange, tmp_path / "live")
    tuned = {"grid.spacing": 0.003, "grid.n_buy": 3, "grid.n_sell": 5,
             "risk.kill_switch_dd": 0.08}
    rng = np.random.default_rng(1)
    ts = T0 + np.arange(3000, dtype=np.int64) * 1000
    price = np.round(60_000 * np.exp(np.cumsum(rng.normal(0, 4e-4, 3000))), 1)
    Path(cfg.data.db_path).parent.mkdir(parents=True, exist_ok=True)
    with Store.open(cfg.data.db_path) as st:
        run = backtest(MarketData.from_trades(ts, price), cfg, "Aggressive", store=st, **tuned)
    promote_from_run(cfg, "Tuned", run.run_id)
    want = sections(effective_config(cfg, "Aggressive", tuned))
    runner = LiveRunner(cfg, credentials=fake_exchange.credentials, install_signals=False)
    rt = RunnerThread(runner).start()
    try:
        active = runner.active
        assert active is not None and (active.name, active.source) == ("Tuned", "promotion")
        got = {s: getattr(active.resolved, s).model_dump(mode="json") for s in SECTIONS}
        for s in SECTIONS:
            for field, value in want[s].items():
                assert got[s][field] == value, f"{s}.{field}"
        fake_exchange.engine.trade("BTCUSDT", 60_000.0, side=1, ts=T0 + 10_000_000)
        rt.settle(fake_exchange, T0 + 10_000_000)
        gp = runner.core.strategy.gp
        assert (gp.spacing, gp.n_buy, gp.n_sell) == (0.003, 3, 5)
    finally:
        rt.stop()


def test_runner_refuses_a_profile_the_account_cannot_trade(fake_exchange: Any, tmp_path: Path,
                                                           caplog: Any) -> None:
    """A grid whose levels cannot meet the instrument's filters (capital far too small for
    the minimum order) is refused at start, with the reason, before any order is sent."""
    import asyncio

    from live.runner import LiveRunner
    from tests.live_helpers import local_config

    fx = fake_exchange
    fx.engine.trade("BTCUSDT", 60_000.0)
    cfg = local_config(fx, tmp_path / "live", trading={"capital": 0.5})
    runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
    assert asyncio.run(asyncio.wait_for(runner.run(), 60)) == 2
    assert "cannot be traded by this account" in caplog.text
    assert "no grid level passes BTCUSDT's filters" in caplog.text
    with fx.engine.lock:
        assert list(fx.engine.accounts[fx.api_key].orders.values()) == []


def test_runner_refuses_a_grid_budget_above_the_account_equity(fake_exchange: Any,
                                                               tmp_path: Path,
                                                               caplog: Any) -> None:
    """The grid budget (trading.capital) must be covered by the account's equity (the wallet
    read at start): a budget above it is refused with the reason, before any order."""
    import asyncio

    from live.runner import LiveRunner
    from tests.live_helpers import local_config

    fx = fake_exchange
    fx.engine.trade("BTCUSDT", 60_000.0)
    with fx.engine.lock:
        equity = fx.engine.accounts[fx.api_key].coins["USDT"]
    cfg = local_config(fx, tmp_path / "live", trading={"capital": float(equity) * 2})
    runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
    assert asyncio.run(asyncio.wait_for(runner.run(), 60)) == 2
    assert "cannot be traded by this account" in caplog.text
    assert "is more than the account's equity" in caplog.text
    with fx.engine.lock:
        assert list(fx.engine.accounts[fx.api_key].orders.values()) == []
