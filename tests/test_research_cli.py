"""`gridlab walkforward` / `gridlab optimize` and the parsing helpers behind them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from gridlab.errors import ConfigError, GridlabError
from gridlab.research import commands
from gridlab.research.workflow import parse_grid, parse_objective, parse_space, to_ms


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gridlab.data.synth import write_synthetic_market
    from gridlab.store.core import Store

    path = tmp_path_factory.mktemp("cli") / "tiny.duckdb"
    with Store.open(path) as store:
        write_synthetic_market(store, "BTCUSDT", "linear", days=2, seed=4, trades_per_day=20_000)
    return path


@pytest.fixture
def app() -> typer.Typer:
    a = typer.Typer()
    commands.register(a)
    return a


def test_parsers() -> None:
    assert to_ms("2024-01-01") == 1_704_067_200_000
    assert to_ms("2024-01-01T01:00:00Z") == 1_704_070_800_000
    assert to_ms(1_704_067_200_000) == to_ms("1704067200000")
    assert parse_grid(["spacing=0.002,0.004", "n_buy=4:8:2", "fill_model=cross,touch"]) == {
        "spacing": [0.002, 0.004], "n_buy": [4, 6, 8], "fill_model": ["cross", "touch"]}
    assert parse_grid(["spacing=0.001:0.003:0.001"])["spacing"] == [0.001, 0.002, 0.003]
    sp = parse_space(["spacing=0.001:0.01:log", "n_buy=4:20"])
    assert sp["spacing"].log and sp["n_buy"].kind == "int"
    o = parse_objective("max_drawdown:min", 5)
    assert (o.metric, o.direction, o.min_trades) == ("max_drawdown", "minimize", 5)
    for bad in (lambda: parse_grid(["spacing"]), lambda: parse_space(["x=1"]),
                lambda: parse_objective("x:up"), lambda: to_ms("yesterday-ish")):
        with pytest.raises(GridlabError):
            bad()


def test_walkforward_cli(app: typer.Typer, tiny_db: Path, tmp_path: Path) -> None:
    csv = tmp_path / "folds.csv"
    res = CliRunner().invoke(app, [
        "walkforward", "--db", str(tiny_db), "--symbol", "BTCUSDT", "--start", "2024-01-01",
        "--end", "2024-01-03", "--param", "spacing=0.002,0.004", "--param", "target_levels=4,6",
        "--train-days", "0.5", "--test-days", "0.5", "--min-trades", "1", "--csv", str(csv)])
    assert res.exit_code == 0, res.output
    assert "mean_gap" in res.output and "oos_total_return" in res.output
    folds = pd.read_csv(csv)
    assert len(folds) == 3 and {"is_total_return", "oos_total_return", "gap"} <= set(folds)


def test_optimize_cli_pareto(app: typer.Typer, tiny_db: Path, tmp_path: Path) -> None:
    csv = tmp_path / "trials.csv"
    res = CliRunner().invoke(app, [
        "optimize", "--db", str(tiny_db), "--symbol", "BTCUSDT", "--start", "2024-01-01",
        "--end", "2024-01-02", "--range", "spacing=0.0015:0.006:log", "--range",
        "target_levels=3:8", "--objective", "total_return:max", "--objective",
        "max_drawdown:min", "--trials", "6", "--csv", str(csv)])
    assert res.exit_code == 0, res.output
    assert "Pareto front" in res.output
    trials = pd.read_csv(csv)
    assert len(trials) == 6 and trials["spacing"].between(0.0015, 0.006).all()


def test_missing_db_is_a_clear_error(app: typer.Typer, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, [
        "walkforward", "--db", str(tmp_path / "nope.duckdb"), "--symbol", "BTCUSDT",
        "--start", "2024-01-01", "--end", "2024-01-03", "--param", "spacing=0.002"])
    assert res.exit_code != 0
    assert isinstance(res.exception, ConfigError)
