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


def test_every_notebook_declares_the_gridlab_kernel() -> None:
    """Notebooks open on the `gridlab` kernel that `make setup` registers in the venv."""
    names = sorted(p.name for p in notebooks_dir().glob("*.ipynb"))
    assert set(NOTEBOOKS) | {"04_live_dashboard.ipynb"} <= set(names)
    for name in names:
        ks = nbformat.read(notebooks_dir() / name, as_version=4).metadata.get("kernelspec", {})
        assert (ks.get("name"), ks.get("display_name"), ks.get("language")) == (
            "gridlab", "gridlab", "python"), name
    make = (notebooks_dir().parent / "Makefile").read_text()
    assert ("-m ipykernel install --sys-prefix --name gridlab --display-name \"gridlab\""
            in make)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name: str, tiny_db: Path, tmp_path: Path) -> None:
    out = execute_notebook(notebooks_dir() / name, tmp_path / name, _params(name, tiny_db),
                           timeout=300)
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    if name == "02_tune.ipynb":
        _check_promoted(tiny_db, nb)


def _check_promoted(db: Path, nb: Any) -> None:
    """02_tune ends with the promotion of the walk-forward's chosen set: a new version of
    profile Tuned holding the last fold's parameters, with its lineage."""
    from gridlab.store.core import Store
    from gridlab.store.live import latest_promotion
    from gridlab.store.profiles import load_profile
    from gridlab.store.research import get_walkforward

    with Store.open(db, read_only=True) as store:
        promo = latest_promotion(store)
        assert promo is not None and promo.profile == "Tuned"
        assert promo.source_kind == "walkforward" and promo.note == "tuned in notebooks/02_tune"
        wf = get_walkforward(store, promo.source_id.split(":")[0])
        last = wf["folds"][-1]
        prof = load_profile(store, "Tuned", promo.version)
    chosen = {p: last[p] for p in wf["param_grid"]}
    assert promo.lineage["set_params"] == chosen
    assert prof.grid_spacing == chosen["spacing"]
    assert prof.grid["n_buy"] == prof.grid["n_sell"] == chosen["target_levels"]
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert f"promoted Tuned v{promo.version}" in text
    widgets = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, "the sweep / walk-forward progress bars render as ipywidgets (tqdm.auto)"
