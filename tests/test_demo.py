"""`gridlab demo` end to end (without the report notebook, which test_research_report covers)."""

from __future__ import annotations

from gridlab.demo import run_demo
from gridlab.store.core import Store


def test_demo_builds_data_sweeps_and_stores_runs(tmp_path):
    db = tmp_path / "demo.duckdb"
    out: list[str] = []
    result = run_demo(db, days=5, seed=3, out_dir=tmp_path / "reports", report=False,
                      echo=out.append)
    assert result.report is None
    assert any(line.startswith("database:") for line in result.lines)
    with Store.open(db, read_only=True) as store:
        n_sets = store.con.execute(
            "select count(*) from sweep_results where sweep_id = ?", [result.sweep_id]
        ).fetchone()[0]
        n_runs = store.con.execute(
            "select count(*) from backtest_runs where run_id = ?", [result.run_id]
        ).fetchone()[0]
        n_trades = store.con.execute("select count(*) from trades").fetchone()[0]
    assert n_sets == 120
    assert n_runs == 1
    assert n_trades > 100_000
