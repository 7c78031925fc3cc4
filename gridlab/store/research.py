"""Walk-forward runs and Optuna studies in the store (migration 0007), kept with the effective
config every set starts from, so a fold's chosen set or a trial can be promoted exactly."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd

from gridlab.errors import StoreError
from gridlab.store.core import Store, load_sql
from gridlab.store.runs import new_id

__all__ = ["get_trial", "get_walkforward", "save_study", "save_walkforward"]

_VIEW = "_gl_rs"


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and v != v:  # NaN -> null
        return None
    return v


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=lambda v: _py(v) if isinstance(
        v, np.generic) else str(v))


def _insert(store: Store, sql_name: str, frame: pd.DataFrame) -> None:
    store.con.register(_VIEW, frame)
    try:
        store.con.execute(load_sql(sql_name))
    finally:
        store.con.unregister(_VIEW)


def _header(code: dict[str, str], data: dict[str, Any], fill_model: str,
            base_params: dict[str, Any]) -> dict[str, Any]:
    return {"created_at": int(time.time() * 1000), "gridlab_version": code["version"],
            "git_commit": code["commit"], "kernel_hash": code["kernel_hash"],
            "symbol": data["symbol"], "category": data["category"], "source": data["source"],
            "start_ms": int(data["start_ms"]), "end_ms": int(data["end_ms"]),
            "fill_model": fill_model, "base_params": _dumps({"config": base_params, "data": data})}


def save_walkforward(store: Store, folds: pd.DataFrame, *, objective: str,
                     param_grid: dict[str, list[Any]], base_params: dict[str, Any],
                     data: dict[str, Any], fill_model: str, code: dict[str, str]) -> str:
    """Store a walk-forward (its fold table holds each fold's chosen set); returns wf_id."""
    wf_id = new_id()
    rows = [{k: _py(v) for k, v in r.items()} for r in folds.to_dict("records")]
    head = pd.DataFrame([{"wf_id": wf_id, **_header(code, data, fill_model, base_params),
                          "objective": objective, "param_grid": _dumps(param_grid),
                          "folds": _dumps(rows)}])
    with store.transaction():
        _insert(store, "research_insert_walkforward", head)
    return wf_id


def save_study(store: Store, trials: pd.DataFrame, *, param_names: list[str],
               objectives: str, space: dict[str, Any], base_params: dict[str, Any],
               data: dict[str, Any], fill_model: str, code: dict[str, str]) -> str:
    """Store an Optuna study and its trials (params, metrics, feasible); returns study_id."""
    study_id = new_id()
    head = pd.DataFrame([{"study_id": study_id, **_header(code, data, fill_model, base_params),
                          "objectives": objectives, "space": _dumps(space)}])
    metric_cols = [c for c in trials.columns
                   if c not in {*param_names, "trial", "state", "feasible", "note"}]
    recs = trials.to_dict("records")
    rows = pd.DataFrame({
        "study_id": study_id,
        "trial": [int(r["trial"]) for r in recs],
        "params": [_dumps({p: _py(r[p]) for p in param_names}) for r in recs],
        "metrics": [_dumps({m: _py(r[m]) for m in metric_cols} | {"state": r["state"],
                                                                  "note": r.get("note", "")})
                    for r in recs],
        "feasible": [bool(r["feasible"]) for r in recs]})
    with store.transaction():
        _insert(store, "research_insert_study", head)
        if len(rows):
            _insert(store, "research_insert_trials", rows)
    return study_id


def _one(store: Store, sql: str, key: str, value: str, what: str, hint: str) -> dict[str, Any]:
    rows = store.con.execute(load_sql(sql), {key: value}).df()
    if rows.empty:
        raise StoreError(f"no {what} {value!r} in the store {store.path}", hint)
    if len(rows) > 1:
        raise StoreError(f"{what} id prefix {value!r} is ambiguous", "give more characters")
    return rows.iloc[0].to_dict()


def get_walkforward(store: Store, wf_id: str) -> dict[str, Any]:
    """One walk-forward by id or unique prefix: header, base_params, param_grid, folds."""
    out = _one(store, "research_get_walkforward", "wf_id", wf_id, "walk-forward",
               "`gridlab walkforward` prints the walkforward_id of each stored run")
    for k in ("base_params", "param_grid", "folds"):
        out[k] = json.loads(out[k])
    return out


def get_trial(store: Store, study_id: str, trial: int) -> dict[str, Any]:
    """One trial of a stored study: the study header plus trial, params, metrics, feasible."""
    study = _one(store, "research_get_study", "study_id", study_id, "study",
                 "`gridlab optimize` prints the study_id of each stored search")
    rows = store.con.execute(load_sql("research_get_trial"),
                             {"study_id": study["study_id"], "trial": int(trial)}).fetchall()
    if not rows:
        raise StoreError(f"study {study['study_id']} has no trial {trial}",
                         "use a trial number from the trials table")
    t, params, metrics, feasible = rows[0]
    study["base_params"] = json.loads(study["base_params"])
    study["space"] = json.loads(study["space"])
    return {**study, "trial": int(t), "params": json.loads(params),
            "metrics": json.loads(metrics), "feasible": bool(feasible)}
