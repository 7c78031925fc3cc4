"""Backtest runs and sweeps in the DuckDB store (tables from migrations/0003_backtest.sql and,
for the grid of a run, 0005_backtest_grid.sql).

Writes are bulk (a DataFrame registered with DuckDB, one `INSERT ... BY NAME SELECT`) inside
one transaction per run or sweep, so a run lands whole or not at all. The store sits below the
backtest: it takes plain data (frames, dicts, the code version) and imports nothing of it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from gridlab.errors import StoreError
from gridlab.store.core import Store, load_sql

__all__ = [
    "best_sweep_set",
    "get_run",
    "get_sweep_set",
    "list_runs",
    "list_sweeps",
    "load_run_equity",
    "load_run_fills",
    "load_run_levels",
    "load_run_recenters",
    "load_sweep_results",
    "new_id",
    "save_run",
    "save_sweep",
]

_VIEW = "_gl_bt"


def new_id() -> str:
    """A new run / sweep id (time-ordered hex)."""
    return f"{int(time.time() * 1000):x}-{uuid.uuid4().hex[:8]}"


@contextmanager
def _registered(store: Store, frame: Any) -> Iterator[None]:
    store.con.register(_VIEW, frame)
    try:
        yield
    finally:
        store.con.unregister(_VIEW)


def _insert(store: Store, sql_name: str, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    with _registered(store, frame):
        store.con.execute(load_sql(sql_name))


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=_json_default, allow_nan=True)


def save_run(store: Store, result: Any, *, code: dict[str, str],
             extra: dict[str, Any] | None = None) -> str:
    """Store one run (header, fills, equity, grid builds and levels); returns its run_id.

    `result`: a `BacktestResult` (its metrics, data, params, warnings, elapsed_s, fills,
    equity, recenters, levels); `code`: its code version (version, commit, kernel_hash)."""
    run_id = new_id()
    cv = code
    m = result.metrics
    d = result.data
    bt = result.params.get("backtest", {})
    head = pd.DataFrame([{
        "run_id": run_id, "created_at": int(time.time() * 1000),
        "gridlab_version": cv["version"], "git_commit": cv["commit"],
        "kernel_hash": cv["kernel_hash"], "symbol": d["symbol"], "category": d["category"],
        "source": d["source"], "start_ms": int(d["start_ms"]), "end_ms": int(d["end_ms"]),
        "n_events": int(d["n_events"]), "fill_model": str(bt.get("fill_model", "")),
        "latency_ms": int(bt.get("latency_ms", 0)),
        "params": _dumps({**(extra or {}), "config": result.params, "data": d}),
        "metrics": _dumps(m),
        "warnings": "\n".join(result.warnings),
        "total_return": float(m["total_return"]), "max_drawdown": float(m["max_drawdown"]),
        "sharpe": float(m["sharpe"]), "n_round_trips": int(m["n_round_trips"]),
        "fees": float(m["fees"]), "funding": float(m["funding"]),
        "final_equity": float(m["final_equity"]), "elapsed_s": float(result.elapsed_s),
    }])
    with store.transaction():
        _insert(store, "runs_insert_run", head)
        if result.fills is not None and len(result.fills):
            fills = result.fills.copy()
            fills.insert(0, "seq", np.arange(len(fills), dtype=np.int64))
            fills.insert(0, "run_id", run_id)
            _insert(store, "runs_insert_fills", fills)
        if len(result.equity):
            eq = result.equity.drop_duplicates("ts", keep="last").copy()
            eq.insert(0, "run_id", run_id)
            _insert(store, "runs_insert_equity", eq)
        for frame, sql in ((result.recenters, "runs_insert_recenters"),
                           (result.levels, "runs_insert_levels")):
            if frame is not None and len(frame):
                rows = frame.copy()
                rows.insert(0, "seq", np.arange(len(rows), dtype=np.int64))
                rows.insert(0, "run_id", run_id)
                _insert(store, sql, rows)
    return run_id


def save_sweep(store: Store, table: pd.DataFrame, *, param_names: list[str],
               param_grid: dict[str, list[Any]], base_params: dict[str, Any],
               data: dict[str, Any], fill_model: str, elapsed_s: float,
               metric_columns: list[str], code: dict[str, str]) -> str:
    """Store a sweep header and its per-set results (the `metric_columns` of `table`);
    returns the sweep_id. `code`: the code version (version, commit, kernel_hash)."""
    sweep_id = new_id()
    cv = code
    head = pd.DataFrame([{
        "sweep_id": sweep_id, "created_at": int(time.time() * 1000),
        "gridlab_version": cv["version"], "git_commit": cv["commit"],
        "kernel_hash": cv["kernel_hash"], "symbol": data["symbol"],
        "category": data["category"], "source": data["source"],
        "start_ms": int(data["start_ms"]), "end_ms": int(data["end_ms"]),
        "n_events": int(data["n_events"]), "fill_model": fill_model,
        "base_params": _dumps({"config": base_params, "data": data}),
        "param_grid": _dumps(param_grid), "n_sets": len(table), "elapsed_s": float(elapsed_s),
    }])
    rows = pd.DataFrame({"sweep_id": sweep_id,
                         "set_id": np.arange(len(table), dtype=np.int64),
                         "params": [_dumps({p: r[p] for p in param_names})
                                    for r in table[param_names].to_dict("records")]})
    for c in metric_columns:
        rows[c] = table[c].to_numpy()
    with store.transaction():
        _insert(store, "runs_insert_sweep", head)
        _insert(store, "runs_insert_sweep_results", rows)
    return sweep_id


def list_runs(store: Store, symbol: str | None = None, limit: int = 20) -> pd.DataFrame:
    """The newest runs (one row each, key metrics)."""
    return store.con.execute(load_sql("runs_list"), {"symbol": symbol, "limit": limit}).df()


def get_run(store: Store, run_id: str) -> dict[str, Any]:
    """One run by id or unique prefix: header, params and metrics (decoded JSON)."""
    return run_by_prefix(store, "runs_get", run_id, "backtest run")


def run_by_prefix(store: Store, sql: str, run_id: str, kind: str) -> dict[str, Any]:
    """The one row query `sql` finds for id or unique prefix `run_id` (a StoreError naming
    `kind` when none or several), with its params and metrics JSON decoded."""
    rows = store.con.execute(load_sql(sql), {"run_id": run_id}).df()
    if rows.empty:
        raise StoreError(f"no {kind} {run_id!r} in the store {store.path}",
                         "list them with `gridlab runs list`")
    if len(rows) > 1:
        raise StoreError(f"run id prefix {run_id!r} is ambiguous", "give more characters")
    out = rows.iloc[0].to_dict()
    out["params"] = json.loads(out["params"])
    out["metrics"] = json.loads(out["metrics"])
    return out


def get_sweep_set(store: Store, sweep_id: str, set_id: int) -> dict[str, Any]:
    """One set of a stored sweep (id or unique prefix): the sweep header (base_params decoded)
    plus `set_id`, `set_params` (its swept values) and `metrics`."""
    rows = store.con.execute(load_sql("runs_get_sweep"), {"sweep_id": sweep_id}).df()
    if rows.empty:
        raise StoreError(f"no sweep {sweep_id!r} in the store {store.path}",
                         "list them with `gridlab runs list` (sweeps)")
    if len(rows) > 1:
        raise StoreError(f"sweep id prefix {sweep_id!r} is ambiguous", "give more characters")
    out = rows.iloc[0].to_dict()
    res = store.con.execute(load_sql("runs_get_sweep_set"),
                            {"sweep_id": out["sweep_id"], "set_id": int(set_id)}).df()
    if res.empty:
        raise StoreError(f"sweep {out['sweep_id']} has no set {set_id} (it has {out['n_sets']})",
                         "pick a set_id from the sweep's table")
    row = res.iloc[0].to_dict()
    out["base_params"] = json.loads(out["base_params"])
    out["param_grid"] = json.loads(out["param_grid"])
    out["set_id"] = int(set_id)
    out["set_params"] = json.loads(row.pop("params"))
    row.pop("sweep_id")
    row.pop("set_id")
    out["metrics"] = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
    return out


def best_sweep_set(store: Store, sweep_id: str, metric: str, maximize: bool = True) -> int:
    """set_id of a stored sweep's best set by `metric` (sets without a value are skipped)."""
    head = get_sweep_set(store, sweep_id, 0)
    table = load_sweep_results(store, head["sweep_id"])
    if metric not in table.columns or metric in ("sweep_id", "set_id", "params"):
        raise StoreError(f"sweeps have no metric {metric!r}",
                         "use a metric column such as total_return, sharpe, max_drawdown")
    col = table[metric].astype("float64")
    if col.isna().all():
        raise StoreError(f"no set of sweep {head['sweep_id']} has a {metric}", "pick a set id")
    return int(table["set_id"].iloc[int(col.idxmax() if maximize else col.idxmin())])


def load_run_fills(store: Store, run_id: str) -> pd.DataFrame:
    """The fills of a stored run."""
    return store.con.execute(load_sql("runs_fills"), {"run_id": run_id}).df()


def load_run_recenters(store: Store, run_id: str) -> pd.DataFrame:
    """The grid (re)builds of a stored run: ts, reason, price, centre, spacing, lowest, highest,
    n_slots (empty for a run stored without them)."""
    return store.con.execute(load_sql("runs_recenters"), {"run_id": run_id}).df()


def load_run_levels(store: Store, run_id: str) -> pd.DataFrame:
    """The grid levels of a stored run at each build: ts, price, side."""
    return store.con.execute(load_sql("runs_levels"), {"run_id": run_id}).df()


def load_run_equity(store: Store, run_id: str) -> pd.DataFrame:
    """The equity curve of a stored run."""
    return store.con.execute(load_sql("runs_equity"), {"run_id": run_id}).df()


def list_sweeps(store: Store, limit: int = 20) -> pd.DataFrame:
    """The newest sweeps."""
    return store.con.execute(load_sql("runs_sweeps_list"), {"limit": limit}).df()


def load_sweep_results(store: Store, sweep_id: str) -> pd.DataFrame:
    """The per-set results of a stored sweep."""
    return store.con.execute(load_sql("runs_sweep_results"), {"sweep_id": sweep_id}).df()
