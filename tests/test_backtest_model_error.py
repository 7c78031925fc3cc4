"""`gridlab backtest` on klines reports its model error (vs the trade replay of the same span)
when trades are stored over it, stores it with the run, and says so in one line when not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gridlab.backtest.data import load_market
from gridlab.backtest.engine import backtest
from gridlab.backtest.model_error import kline_model_error
from gridlab.cli import main
from gridlab.store.core import Store
from gridlab.store.runs import get_run

START, END = "2024-01-01", "2024-01-02"
SPACING = "grid.spacing=0.002"


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthetic day with trades and 1-minute klines."""
    from gridlab.data.synth import write_synthetic_market

    path = tmp_path_factory.mktemp("model_error") / "market.duckdb"
    with Store.open(path) as store:
        write_synthetic_market(store, "BTCUSDT", "linear", days=1, seed=5, trades_per_day=4000)
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _args(db: Path, *more: str) -> list[str]:
    return ["backtest", "--db", str(db), "--source", "1", "--start", START, "--end", END,
            "--set", SPACING, "--no-explain", *more]


def test_kline_backtest_prints_and_stores_its_model_error(
        market: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "m.duckdb"
    shutil.copyfile(market, db)
    code, out, err = _run(_args(db), capsys)
    assert code == 0, err
    assert "model error (kline 1 vs trade replay of the same span):" in out
    # the printed figures are the comparison with the trade replay, absolute and percent
    with Store.open(db, read_only=True) as store:
        bars = load_market(store, "BTCUSDT", "linear", "1", START, END)
        kline = backtest(bars, spacing=0.002, record=False)
        expected = kline_model_error(store, kline)
        trades = backtest(load_market(store, "BTCUSDT", "linear", "trades", START, END),
                          spacing=0.002, record=False)
    assert expected is not None
    t = expected.table.set_index("metric")
    assert t.loc["n_limit_fills", "trades"] == trades.metrics["n_limit_fills"]
    assert t.loc["n_limit_fills", "diff"] != 0  # the kline path differs from the tape here
    for line in expected.lines()[1:]:
        assert line in out, line
    fills = next(x for x in out.splitlines() if x.strip().startswith("fills"))
    assert f"{int(t.loc['n_limit_fills', 'klines']):,}" in fills
    assert f"{int(trades.metrics['n_limit_fills']):,}" in fills and "%" in fills
    assert any(x.strip().startswith("grid profit") for x in out.splitlines())
    assert any(x.strip().startswith("PnL") for x in out.splitlines())
    # stored with the run
    run_id = out.split("run_id: ")[1].split()[0]
    with Store.open(db, read_only=True) as store:
        stored = get_run(store, run_id)["params"]["model_error"]
    assert stored["compared"] is True
    assert stored["metrics"]["pnl"]["diff"] == pytest.approx(t.loc["pnl", "diff"])
    assert stored["metrics"]["n_limit_fills"]["trades"] == trades.metrics["n_limit_fills"]
    # `gridlab runs show` prints the stored model error of the run
    code, shown, err = _run(["runs", "show", run_id, "--db", str(db)], capsys)
    assert code == 0, err
    for line in expected.lines():
        assert line in shown, line

    # --json carries the same model error; the metrics stay the only thing on stdout
    code, out, err = _run(_args(db, "--no-save", "--json"), capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["model_error"]["metrics"]["n_limit_fills"] == stored["metrics"]["n_limit_fills"]
    assert doc["metrics"]["n_limit_fills"] == t.loc["n_limit_fills", "klines"]

    # --no-model-error: no trade replay, nothing printed or stored
    code, out, err = _run(_args(db, "--no-model-error"), capsys)
    assert code == 0, err
    assert "model error" not in out
    run_id = out.split("run_id: ")[1].split()[0]
    with Store.open(db, read_only=True) as store:
        assert "model_error" not in get_run(store, run_id)["params"]


def test_without_trades_over_the_span_one_line_says_so(
        market: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "klines_only.duckdb"
    shutil.copyfile(market, db)
    with Store.open(db) as store:
        store.con.execute("DELETE FROM trades")
    code, out, err = _run(_args(db), capsys)
    assert code == 0, err
    lines = [x for x in out.splitlines() if "model error" in x]
    assert lines == ["model error: no stored BTCUSDT trades cover 2024-01-01T00:00:00Z .. "
                     "2024-01-01T23:59:59.999Z; not compared with a trade replay"]
    run_id = out.split("run_id: ")[1].split()[0]
    with Store.open(db, read_only=True) as store:
        assert get_run(store, run_id)["params"]["model_error"] == {"compared": False,
                                                                    "reason": lines[0]}


def test_a_trade_backtest_has_no_model_error(
        market: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["backtest", "--db", str(market), "--source", "trades", "--start",
                           START, "--end", END, "--no-save", "--no-explain"], capsys)
    assert code == 0, err
    assert "model error" not in out


def test_the_model_error_code_never_imports_research() -> None:
    """Packages import downwards: the model error is printed by gridlab.backtest, which is
    below gridlab.research, so its modules do not import research, not even in a function.
    (Scoped to these two modules: gridlab/backtest/sweep.py imports research.distributed
    lazily for dask, reported separately.)"""
    import ast

    import gridlab.backtest

    root = Path(gridlab.backtest.__file__).parent
    bad = []
    for path in (root / "model_error.py", root / "commands.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{path.name}: {n}" for n in names if n.startswith("gridlab.research")]
    assert not bad
