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
    assert "total_return" in html and "max_drawdown" in html and "n_round_trips" in html
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
    assert re.search(r"trading\.capital</th>\s*<td>2500", html)


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
