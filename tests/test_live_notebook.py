"""notebooks/04_live_dashboard.ipynb: stored clean, and runs on a live mirror while the live
DuckDB file is held open by its writer."""

from __future__ import annotations

from pathlib import Path

import nbformat

from gridlab.research.report import execute_notebook, notebooks_dir
from gridlab.store.live import FillRow, LiveStore

NB = "04_live_dashboard.ipynb"


def test_notebook_is_stored_clean() -> None:
    nb = nbformat.read(notebooks_dir() / NB, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "mirror_dir" in tagged[0].source


def test_notebook_runs_on_a_mirror(tmp_path: Path) -> None:
    ls = LiveStore.open(tmp_path / "x.duckdb", tmp_path / "mirror")
    try:
        for i in range(6):
            ls.insert_fill(FillRow(f"e{i}", 1_700_000_000_000 + i * 1000, "BTCUSDT",
                                   "gl-x", "o", "Trade", 1 if i % 2 else -1, 100.0 + i, 0.1,
                                   0.002, 0.0002, True), kind="grid", gen=1, slot=i % 3)
            ls.add_equity(ts=1_700_000_000_000 + i * 1000, price=100.0 + i, equity=1000.0 + i,
                          position=0.1, realized=0.0, unrealized=0.0, fees=0.0, funding=0.0,
                          grid_profit=0.0, exposure=0.01, wallet_equity=None,
                          wallet_available=None)
        ls.add_grid(gen=1, ts=1_700_000_000_000, price=100.0, lowest=99.0, highest=101.0,
                    spacing=0.01, n_buy=2, n_sell=2, reason="INITIAL", profile="Normal",
                    profile_version=1, seed_qty=0.0)
        ls.add_event("start", "hello")
        ls.export()
        out = execute_notebook(notebooks_dir() / NB, tmp_path / "out.ipynb",
                               {"mirror_dir": str(tmp_path / "mirror")}, timeout=300)
    finally:
        ls.close()
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
