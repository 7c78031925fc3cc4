"""Every research notebook runs with papermill on a tiny synthetic store, and is stored clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from gridlab.research.report import execute_notebook, notebooks_dir

NOTEBOOKS = ["01_data.ipynb", "02_tune.ipynb", "03_report.ipynb", "05_pnl_sql.ipynb"]
START, END = "2024-01-01", "2024-01-03"


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gridlab.data.synth import write_synthetic_market
    from gridlab.store.core import Store

    path = tmp_path_factory.mktemp("nb") / "tiny.duckdb"
    with Store.open(path) as store:
        write_synthetic_market(store, "BTCUSDT", "linear", days=2, seed=1, trades_per_day=20_000)
    return path


def _params(name: str, db: Path) -> dict[str, Any]:
    common = {"db_path": str(db), "symbol": "BTCUSDT", "category": "linear"}
    if name == "01_data.ipynb":
        # builds a second symbol into the same store, then reports on everything
        return {**common, "symbol": "ETHUSDT", "build_synthetic": True, "days": 1,
                "trades_per_day": 5_000}
    if name == "02_tune.ipynb":
        return {**common, "start": START, "end": END, "train_days": 0.5, "test_days": 0.25,
                "optuna_trials": 6}
    return {**common, "start": START, "end": END}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_clean(name: str) -> None:
    nb = nbformat.read(notebooks_dir() / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip the outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters`"
    assert "db_path" in tagged[0].source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name: str, tiny_db: Path, tmp_path: Path) -> None:
    out = execute_notebook(notebooks_dir() / name, tmp_path / name, _params(name, tiny_db),
                           timeout=300)
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
