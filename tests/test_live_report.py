"""`gridlab report --live RUNNER`: the live audit of a real local-exchange run as offline HTML,
with the audit's numbers; the newest stored audit is used, or one is run (and said so)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import typer
import yaml
from typer.testing import CliRunner

from gridlab.fakex.handle import FakeExchange
from gridlab.fmt import utc_iso
from gridlab.research import commands
from gridlab.research.live_audit import CAUSE_NAMES, runner_grids
from gridlab.research.live_report import counts_table, fills_table, pick_audits, pnl_table
from gridlab.research.report import external_scripts
from gridlab.store.core import Store
from gridlab.store.live import open_live_views
from gridlab.store.live_audit import audit_fills, list_audits
from tests.live_helpers import local_config
from tests.test_live_audit import SYM, _audit, _run, _sections
from tests.test_live_parity import tape

pytest_plugins = ["tests.fakex_fixtures"]


def _report_app() -> typer.Typer:
    app = typer.Typer()
    commands.register(app)
    return app


def test_live_report_shows_the_audit_of_a_local_exchange_run(fake_exchange: FakeExchange,
                                                            tmp_path: Path) -> None:
    fx = fake_exchange
    fx.engine.set_funding_rate(SYM, 0.0)
    cfg = local_config(fx, tmp_path / "live", **_sections(fx))
    runner = _run(fx, cfg, tape(3))
    expected = _audit(runner, cfg, fx)  # the audit itself, computed here
    c = expected.result.counts
    assert c["matched"] >= 10 and c["missed"] == c["extra"] == c["gap"] == 0
    # the report finds the runner's grid in its mirror, without the live package
    con = open_live_views(runner.mirror_dir)
    try:
        assert [(g.symbol, g.state_key) for g in runner_grids(con)] == [
            (SYM, runner.grids[0].state_key)]
    finally:
        con.close()

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    db = tmp_path / "research.duckdb"
    res = CliRunner().invoke(_report_app(), ["report", "--live", runner.name, "--config",
                                             str(path), "--db", str(db), "--out",
                                             str(tmp_path / "reports"), "--no-progress"])
    assert res.exit_code == 0, res.output
    html_path = Path(res.output.split("report: ")[1].split()[0])
    html = html_path.read_text()
    # offline: plotly embedded once, no script from the network
    assert not external_scripts(html) and '<script src="http' not in html
    assert html.count("plotly.js v") == 1 and 'class="plotly-graph-div"' in html
    # no audit was stored: it ran one now, stored it, and says so
    with Store.open(db, read_only=True) as store:
        rows = list_audits(store, runner.name)
        assert len(rows) == 1
        aid = int(rows["audit_id"].iloc[0])
        stored = audit_fills(store, aid)
    assert f"no stored audit of {runner.name}: ran audit {aid} now" in html
    assert len(stored) == c["matched"]
    # the audit numbers: counts and percent
    table = counts_table(rows.iloc[0])
    assert int(table.loc["matched (both filled)", "count"]) == c["matched"]
    assert re.search(rf"<th>matched \(both filled\)</th>\s*<td>{c['matched']}</td>\s*"
                     r"<td>100.00%</td>", html)
    for k in ("missed", "extra"):
        assert re.search(rf"<th>{k} \(.*?\)</th>\s*<td>0</td>\s*<td>0.00%</td>", html), k
    assert re.search(rf"<th>match rate \(.*?\)</th>\s*<td>{c['matched']}</td>\s*"
                     r"<td>100.00%</td>", html)
    # the fill-by-fill table: every live fill at its UTC ISO time, time and price differences
    fills = fills_table(stored)
    assert len(fills) == c["matched"]
    live = expected.result.fills
    for ts in live["live_ts"]:
        assert f"<td>{utc_iso(int(ts))}</td>" in html
    assert html.count("<td>+0</td>") >= c["matched"]  # dt 0 ms and price diff 0, each row
    assert "time diff (ms)" in html and "price diff" in html
    # the PnL split into causes, with the live and backtest PnL of the audit
    for name in CAUSE_NAMES.values():
        assert f"{name}</th>" in html, name
    pnl = json.loads(rows["pnl"].iloc[0])
    assert f"{pnl['live_pnl']:+,.4f}" in html and f"{pnl['sim_pnl']:+,.4f}" in html
    # no difference: +0 everywhere and no shares of a zero (float noise is not a cause)
    assert re.search(r"<th>difference live - backtest</th>\s*<td>\+0.0000</td>\s*"
                     r"<td>n/a</td>", html)
    # with 30 s of assumed latency the split has real parts; they add up to the difference
    slow = _audit(runner, cfg, fx, latency_ms=30_000, tol_ms=500)
    split = pnl_table(pd.Series(slow.summary()))
    causes = split.iloc[3:]
    amount = [float(a.replace(",", "")) for a in split["amount"]]
    assert amount[2] == pytest.approx(slow.pnl["total"], abs=1e-4)
    assert sum(amount[3:]) == pytest.approx(slow.pnl["total"], abs=1e-3)
    assert abs(slow.pnl["total"]) > 1e-6 and "n/a" not in set(causes["share of the difference"])
    missed = slow.result.counts["missed"]
    assert counts_table(pd.Series(slow.summary())).iloc[1]["count"] == missed
    # the chart: the tape's price with the live and the backtest fills
    for trace in ("price (live tape)", "live buy fills", "backtest buy fills",
                  "live sell fills", "backtest sell fills"):
        assert f'"name":"{trace}"' in html, trace

    # a second report takes the stored audit instead of running one
    ids, origin = pick_audits(runner.name, db_path=db, config=cfg)
    assert ids == [aid] and origin.startswith(f"stored audit {aid} ")


def test_report_without_symbol_or_live_is_a_usage_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(_report_app(), ["report", "--start", "2024-01-01"])
    assert res.exit_code == 2
    assert "--symbol" in res.output and "--live" in res.output and "Traceback" not in res.output


def test_live_report_notebook_is_stored_clean() -> None:
    import nbformat

    from gridlab.research.live_report import LIVE_REPORT_NOTEBOOK
    from gridlab.research.report import notebooks_dir

    nb = nbformat.read(notebooks_dir() / LIVE_REPORT_NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip the outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "audit_ids" in tagged[0].source
