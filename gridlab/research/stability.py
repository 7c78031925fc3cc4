"""Parameter stability: does the objective hold up next to the best set, or is the best a spike?

Works on a sweep table (one row per parameter set, parameter columns + metric columns). Each
parameter is an axis whose steps are its sorted distinct values; the neighbours of a set are the
sets within +-`radius` steps on every axis (the set itself excluded).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridlab.errors import ConfigError
from gridlab.research.walkforward import Objective, select_best

__all__ = ["Stability", "neighbour_stats", "neighbourhood", "stability_at"]


@dataclass(frozen=True)
class Stability:
    """The objective at one set and over its grid neighbours.

    `mean_ratio`/`min_ratio` are neighbour mean/min divided by the set's value (only when the value
    is > 0, else NaN); `mean_drop`/`worst_drop` are the falls in the "better" direction (>= 0 means
    the neighbours are worse).
    """

    params: dict[str, Any]
    metric: str
    value: float
    n_neighbours: int
    neighbour_mean: float
    neighbour_min: float
    neighbour_max: float
    mean_ratio: float
    min_ratio: float
    mean_drop: float
    worst_drop: float


def _axis_codes(results: pd.DataFrame, params: Sequence[str]) -> np.ndarray:
    missing = [p for p in params if p not in results]
    if missing:
        raise ConfigError(f"parameters {missing} are not sweep columns",
                          f"choose among {sorted(map(str, results.columns))}")
    codes = []
    for p in params:
        values = np.sort(results[p].dropna().unique())
        codes.append(np.searchsorted(values, results[p].to_numpy()))
    return np.stack(codes, axis=1) if codes else np.zeros((len(results), 0), dtype=np.int64)


def _neighbour_mask(codes: np.ndarray, i: int, radius: int) -> np.ndarray:
    mask = np.all(np.abs(codes - codes[i]) <= radius, axis=1)
    mask[i] = False
    return mask


def neighbourhood(results: pd.DataFrame, params: Sequence[str], at: Mapping[str, Any],
                  radius: int = 1) -> pd.DataFrame:
    """Rows of `results` within +-radius grid steps of the set `at` (that row first,
    `is_best`=True), with a `label` column for plotting."""
    codes = _axis_codes(results, params)
    i = _row_of(results, params, at)
    mask = _neighbour_mask(codes, i, radius)
    out = pd.concat([results.iloc[[i]], results[mask]]).copy()
    out["is_best"] = [True] + [False] * int(mask.sum())
    out["label"] = [", ".join(f"{p}={r[p]}" for p in params) for _, r in out.iterrows()]
    return out


def _row_of(results: pd.DataFrame, params: Sequence[str], at: Mapping[str, Any]) -> int:
    hit = np.ones(len(results), dtype=bool)
    for p in params:
        hit &= np.isclose(results[p].to_numpy(dtype="float64"), float(at[p]), rtol=1e-12,
                          atol=0.0)
    idx = np.flatnonzero(hit)
    if len(idx) == 0:
        raise ConfigError(f"parameter set {dict(at)} is not in the sweep table",
                          "pass a set taken from the table")
    return int(idx[0])


def stability_at(results: pd.DataFrame, params: Sequence[str], objective: Objective | str,
                 at: Mapping[str, Any] | None = None, radius: int = 1) -> Stability:
    """Stability of the objective at `at` (default: the best set by `objective`)."""
    obj = objective if isinstance(objective, Objective) else Objective(metric=objective)
    if at is None:
        best = select_best(results, obj)
        if best is None:
            raise ConfigError("no parameter set qualifies for the objective",
                              "lower min_trades or widen the grid")
        at = {p: best[p] for p in params}
    codes = _axis_codes(results, params)
    i = _row_of(results, params, at)
    value = float(results[obj.metric].iloc[i])
    nb = results[obj.metric].to_numpy(dtype="float64")[_neighbour_mask(codes, i, radius)]
    nb = nb[np.isfinite(nb)]
    if len(nb) == 0:
        mean = lo = hi = math.nan
    else:
        mean, lo, hi = float(nb.mean()), float(nb.min()), float(nb.max())
    worst = lo if obj.sign > 0 else hi
    ratio_ok = value > 0
    return Stability(
        params={p: _py(results[p].iloc[i]) for p in params}, metric=obj.metric, value=value,
        n_neighbours=len(nb), neighbour_mean=mean, neighbour_min=lo, neighbour_max=hi,
        mean_ratio=mean / value if ratio_ok else math.nan,
        min_ratio=worst / value if ratio_ok else math.nan,
        mean_drop=obj.sign * (value - mean), worst_drop=obj.sign * (value - worst))


def neighbour_stats(results: pd.DataFrame, params: Sequence[str], metric: str,
                    radius: int = 1) -> pd.DataFrame:
    """For every row: neighbour count, mean, min and max of `metric` (a smoothed surface; a robust
    choice maximises `nb_mean` or `nb_min` instead of the raw metric)."""
    codes = _axis_codes(results, params)
    values = results[metric].to_numpy(dtype="float64")
    n = np.zeros(len(results), dtype=np.int64)
    mean = np.full(len(results), np.nan)
    lo = np.full(len(results), np.nan)
    hi = np.full(len(results), np.nan)
    for i in range(len(results)):
        nb = values[_neighbour_mask(codes, i, radius)]
        nb = nb[np.isfinite(nb)]
        n[i] = len(nb)
        if len(nb):
            mean[i], lo[i], hi[i] = nb.mean(), nb.min(), nb.max()
    out = results.copy()
    out["nb_count"], out["nb_mean"], out["nb_min"], out["nb_max"] = n, mean, lo, hi
    return out


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
