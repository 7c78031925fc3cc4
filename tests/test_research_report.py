"""`gridlab report` / run_report: offline HTML with charts, metrics and provenance, atomically."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gridlab.errors import ConfigError
from gridlab.research import commands
from gridlab.research.report import external_scripts, pick_kernel, run_report

START, END = "2024-01-01", "2024-01-03"


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gridlab.data.synth import write_synthetic_market
    from gridlab.store.core import Store

    path = tmp_path_factory.mktemp("report") / "tiny.duckdb"
    with Store.open(path) as store:
        write_synthetic_market(store, "BTCUSDT", "linear", days=2, seed=2, trades_per_day=20_000)
    return path


def _check_html(html: str) -> None:
    assert html.count('class="plotly-graph-div"') >= 4  # price, equity, 2x PnL
    assert html.count("plotly.js v") == 1  # the library embedded once
    assert '<script src="http' not in html
    assert not external_scripts(html)
    assert "Total return" in html and "Max drawdown" in html and "Round trips" in html
    assert "Recenters: price left the range (deviation)" in html  # human metric names
    # every effective parameter, nothing cut by pandas ("..." rows)
    for param in ("grid.spacing", "grid.n_buy", "grid.n_sell", "grid.atr.period",
                  "recenter.pump_dump.window_hours", "risk.max_exposure_pct",
                  "backtest.maker_fee", "trading.capital"):
        assert f"<th>{param}</th>" in html, param
    assert "<th>...</th>" not in html and "<td>...</td>" not in html
    assert "distance between levels (fraction)" in html  # the parameter's meaning
    assert re.search(r"\d+ buy \+ \d+ sell levels", html)  # the grid line of the header
    assert "data range" in html and "2024-01-01 00:00" in html
    assert "code version" in html and "gridlab 0.1.0" in html
    assert "fill model" in html
    assert "<pre" not in html or "import " not in html  # no code cells


def test_run_report_writes_offline_html(tiny_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    html_path = run_report("BTCUSDT", START, END, profile="Normal", db_path=tiny_db, out_dir=out)
    assert html_path == out / "report_BTCUSDT_Normal_2024-01-01_2024-01-03.html"
    assert html_path.with_suffix(".ipynb").exists()
    names = {p.name for p in out.iterdir()}
    assert names == {html_path.name, html_path.with_suffix(".ipynb").name}  # no temp files
    html = html_path.read_text()
    _check_html(html)
    assert re.search(r"fill model.{0,80}cross", html, re.S)
    assert "Normal" in html
    # the price chart carries the grid levels and the recenter marks of the run
    assert '"name":"grid levels"' in html and '"name":"recenters"' in html
    assert re.search(r'"name":"recenters","text":\["initial"', html)
    assert "This run replays trades" in html and "has no model error" in html
    assert "The liquidation model is off (<code>backtest.margin: off</code>)" in html
    assert '"name":"liquidation price"' not in html


def test_kline_report_shows_the_model_error(tiny_db: Path, tmp_path: Path) -> None:
    from gridlab.backtest.data import load_market
    from gridlab.backtest.engine import backtest
    from gridlab.backtest.model_error import kline_model_error
    from gridlab.store.core import Store

    html = run_report("BTCUSDT", START, END, profile="Normal", db_path=tiny_db, source="1",
                      out_dir=tmp_path).read_text()
    assert not external_scripts(html)
    with Store.open(tiny_db, read_only=True) as store:
        run = backtest(load_market(store, "BTCUSDT", "linear", "1", START, END), None,
                       "Normal", record=False)
        err = kline_model_error(store, run)
    assert err is not None
    t = err.table.set_index("metric")
    assert "Model error (kline run vs trade replay)" in html
    assert "difference (% of trades)" in html
    fills = (f"<th>Limit fills</th>\\s*<td>{int(t.loc['n_limit_fills', 'klines']):,}</td>"
             f"\\s*<td>{int(t.loc['n_limit_fills', 'trades']):,}</td>")
    assert re.search(fills, html), fills
    assert re.search(rf"<th>Profit and loss</th>\s*<td>{t.loc['pnl', 'klines']:,.2f}</td>\s*"
                     rf"<td>{t.loc['pnl', 'trades']:,.2f}</td>", html)


def test_report_cli_params_and_fill_model(tiny_db: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    commands.register(app)
    cfg = tmp_path / "config.yaml"
    cfg.write_text("trading:\n  capital: 2500\n")
    res = CliRunner().invoke(app, [
        "report", "--symbol", "BTCUSDT", "--start", START, "--end", END, "--profile",
        "Aggressive", "--params", '{"spacing": 0.003}', "--fill-model", "touch",
        "--config", str(cfg), "--db", str(tiny_db), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    html_path = Path(res.output.split("report: ")[1].split()[0])
    html = html_path.read_text()
    _check_html(html)
    assert "Aggressive" in html and "spacing" in html and "0.003" in html
    assert re.search(r"fill model.{0,80}touch", html, re.S)
    assert re.search(r"trading\.capital</th>\s*<td>2,500", html)
    assert re.search(r"grid\.spacing</th>\s*<td>0\.30 % \(0\.003\)", html)


def test_failing_notebook_is_kept_for_debugging(tiny_db: Path, tmp_path: Path) -> None:
    from gridlab.research.report import ReportError

    with pytest.raises(ReportError, match="failed in cell") as err:
        run_report("BTCUSDT", START, END, profile="NoSuchProfile", db_path=tiny_db,
                   out_dir=tmp_path)
    assert "NoSuchProfile" in str(err.value)
    assert [p.name for p in tmp_path.iterdir()] == [
        "report_BTCUSDT_NoSuchProfile_2024-01-01_2024-01-03.failed.ipynb"]


def test_report_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        run_report("BTCUSDT", START, END, db_path=tmp_path / "none.duckdb", out_dir=tmp_path)
    with pytest.raises(ConfigError, match="JSON"):
        db = tmp_path / "x.duckdb"
        db.write_bytes(b"")
        run_report("BTCUSDT", START, END, params="{nope", db_path=db, out_dir=tmp_path)


def test_tables_show_every_parameter_and_human_metric_names() -> None:
    from gridlab.research.report import METRIC_LABELS, grid_summary, metrics_table, params_table

    params = {"trading": {"symbol": "BTCUSDT", "capital": 1000.0},
              "grid": {"spacing": 0.004, "spacing_mode": "arithmetic", "n_buy": 10, "n_sell": 8,
                       "mode": "neutral", "qty_mode": "equal_quote",
                       "atr": {"mode": "off", "period": 14}},
              "risk": {"max_exposure_pct": 0.5}, "live": {"order_poll_s": 5.0}}
    t = params_table(params)
    assert list(t.index) == ["trading.symbol", "trading.capital", "grid.spacing",
                             "grid.spacing_mode", "grid.n_buy", "grid.n_sell", "grid.mode",
                             "grid.qty_mode", "grid.atr.mode", "grid.atr.period",
                             "risk.max_exposure_pct"]  # live settings do not decide a backtest
    assert t.loc["grid.spacing", "value"] == "0.40 % (0.004)"
    assert t.loc["risk.max_exposure_pct", "value"] == "50.00 % (0.5)"
    assert t.loc["grid.atr.period", "meaning"] == "ATR period in bars"
    assert grid_summary(params).startswith("10 buy + 8 sell levels, arithmetic spacing 0.40 %")
    m = metrics_table({"total_return": 0.0123, "n_round_trips": 42, "sharpe": float("nan"),
                       "new_metric": 1.5})
    assert m.to_dict()["value"] == {"Total return": "1.23 %", "Round trips": "42",
                                    "Sharpe ratio (annualized)": "n/a",
                                    "new_metric": "1.5"}
    sharpe = m.loc["Sharpe ratio (annualized)", "meaning"]
    assert sharpe == "mean / std of daily returns x sqrt(365)"  # the CLI's explanation
    from gridlab.backtest.metrics import METRIC_COLUMNS

    assert set(METRIC_COLUMNS) <= set(METRIC_LABELS)  # every metric is named
    from gridlab.fmt import METRICS

    assert set(METRIC_LABELS) == set(METRICS)  # one table: the report's comes from fmt's
    assert METRIC_LABELS["max_dd_duration_h"] == ("Longest drawdown (hours)", "num")


def test_pick_kernel_is_runnable() -> None:
    assert pick_kernel() in ("gridlab", "python3")


def _kernelspec(root: Path, python: str) -> None:
    import json

    d = root / "kernels" / "gridlab"
    d.mkdir(parents=True)
    (d / "kernel.json").write_text(json.dumps({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "gridlab", "language": "python", "env": {"GRIDLAB_KERNEL": "1"}}))


def test_registered_gridlab_kernel_is_used_when_it_runs_this_python(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import nbformat

    from gridlab.research.report import execute_notebook

    _kernelspec(tmp_path / "good", sys.executable)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "good"))
    assert pick_kernel() == "gridlab"
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("import os, sys\n"
                                                   "print(sys.executable, x, os.environ.get("
                                                   "'GRIDLAB_KERNEL'))")]
    nb.metadata["language_info"] = {"name": "python"}
    src = tmp_path / "k.ipynb"
    nbformat.write(nb, src)
    out = execute_notebook(src, tmp_path / "out" / "k.ipynb", {"x": 42})
    text = nbformat.read(out, as_version=4).cells[-1].outputs[0]["text"]
    assert text.split() == [sys.executable, "42", "1"]  # the gridlab kernel, this python

    _kernelspec(tmp_path / "stale", "/nonexistent/venv/bin/python")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "stale"))
    assert pick_kernel() == "python3"
