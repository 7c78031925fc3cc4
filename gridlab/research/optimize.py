"""Optuna search over continuous/integer parameter ranges on the backtest engine.

One objective: TPE. Two (or more) objectives, e.g. total return (maximize) vs max drawdown
(minimize): NSGA-II, and the Pareto front is returned. Seeded and sequential, so a run repeats
exactly. Sets with fewer trades than the objectives' `min_trades` are marked infeasible
(`Trial.set_constraint`) and kept out of the best set and the Pareto front.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd

from gridlab.errors import ConfigError, StrategyError
from gridlab.research.walkforward import Objective

__all__ = ["OptimizeResult", "Param", "optimize", "pareto_front"]


@dataclass(frozen=True)
class Param:
    """A search range. `kind` "int" uses suggest_int; `step` discretises; `log` samples in log."""

    low: float
    high: float
    kind: Literal["float", "int"] = "float"
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ConfigError(f"search range [{self.low}, {self.high}] is empty",
                              "low must be below high")
        if self.log and self.low <= 0:
            raise ConfigError("a log range needs low > 0", "use a positive low or log=False")

    @classmethod
    def of(cls, spec: Param | Sequence[Any]) -> Param:
        """Param, or a tuple `(low, high[, "log"|"int"|step])`: ints on both ends -> int range."""
        if isinstance(spec, Param):
            return spec
        low, high, *rest = spec
        kind: Literal["float", "int"] = (
            "int" if isinstance(low, int) and isinstance(high, int) else "float")
        log, step = False, None
        for r in rest:
            if r == "log":
                log = True
            elif r == "int":
                kind = "int"
            elif isinstance(r, int | float):
                step = r
        return cls(low, high, kind, log, step)

    def suggest(self, trial: optuna.Trial, name: str) -> float | int:
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high),
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), step=self.step,
                                   log=self.log)


@dataclass
class OptimizeResult:
    """All trials (params, every metric, `feasible`, `note`: why a set was skipped), the best
    trial (one objective) or the Pareto front (two or more), and the Optuna study. A set that
    cannot build a grid is a PRUNED trial."""

    objectives: list[Objective]
    trials: pd.DataFrame
    pareto: pd.DataFrame | None
    best_params: dict[str, Any] | None
    study: optuna.Study


def pareto_front(trials: pd.DataFrame, objectives: Sequence[Objective]) -> pd.DataFrame:
    """Non-dominated rows of `trials` over the objectives' metrics (directions respected)."""
    cols = [o.metric for o in objectives]
    v = trials[cols].to_numpy(dtype="float64") * np.array([o.sign for o in objectives])
    keep = np.ones(len(v), dtype=bool)
    for i in range(len(v)):
        dominated = np.all(v >= v[i], axis=1) & np.any(v > v[i], axis=1)
        keep[i] = not dominated.any()
    return trials[keep].sort_values(cols[0], ascending=objectives[0].sign < 0)


def optimize(data: Any, space: Mapping[str, Param | Sequence[Any]],
             objectives: Objective | Sequence[Objective], *, n_trials: int = 50, seed: int = 0,
             profile: str | None = None, config: Any = None,
             fixed: Mapping[str, Any] | None = None, timeout: float | None = None,
             backtest_fn: Callable[..., Any] | None = None,
             study_name: str = "gridlab") -> OptimizeResult:
    """Search `space` with TPE (one objective) or NSGA-II (several) on the backtest engine.

    Each trial runs `backtest(data, config=config, profile=profile, **fixed, **suggested)` and
    reads the objectives from its metrics. Returns every trial as a DataFrame row.
    """
    objs = [objectives] if isinstance(objectives, Objective) else list(objectives)
    if not objs:
        raise ConfigError("no objective given", "pass an Objective (or two for a Pareto search)")
    if n_trials < 1:
        raise ConfigError("n_trials must be >= 1", "ask for at least one trial")
    params = {name: Param.of(spec) for name, spec in space.items()}
    if backtest_fn is None:
        from gridlab.backtest.engine import backtest as backtest_fn
    fixed = dict(fixed or {})
    min_trades = max(o.min_trades for o in objs)
    trades_metric = objs[0].trades_metric

    def objective(trial: optuna.Trial) -> float | Sequence[float]:
        chosen = {n: p.suggest(trial, n) for n, p in params.items()}
        try:
            metrics = backtest_fn(data, config=config, profile=profile,
                                  **{**fixed, **chosen}).metrics
        except StrategyError as exc:  # no valid grid for this set: not a result, skip it
            trial.set_user_attr("note", exc.message)
            raise optuna.TrialPruned(exc.message) from None
        numeric = {k: float(v) for k, v in metrics.items() if _is_number(v)}
        trial.set_user_attr("metrics", numeric)
        if min_trades:  # feasible when <= 0; TPE and NSGA-II read it from the trial
            trial.set_constraint("min_trades",
                                 float(min_trades - numeric.get(trades_metric, 0.0)))
        values = [numeric.get(o.metric, math.nan) for o in objs]
        return values[0] if len(values) == 1 else values

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if len(objs) == 1:
                sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=seed)
            else:
                sampler = optuna.samplers.NSGAIISampler(seed=seed)
            study = optuna.create_study(study_name=study_name, sampler=sampler,
                                        directions=[o.direction for o in objs])
            study.optimize(objective, n_trials=n_trials, timeout=timeout, catch=())
    finally:
        optuna.logging.set_verbosity(verbosity)

    trials = _trials_frame(study, list(params), objs)
    done = trials[trials["feasible"] & trials["state"].eq("COMPLETE")]
    done = done.dropna(subset=[o.metric for o in objs])
    best: dict[str, Any] | None = None
    pareto: pd.DataFrame | None = None
    if len(objs) == 1 and len(done):
        o = objs[0]
        row = done.iloc[int(np.argmax(done[o.metric].to_numpy(dtype="float64") * o.sign))]
        best = {p: _py(row[p]) for p in params}
    elif len(objs) > 1:
        pareto = pareto_front(done, objs)
    return OptimizeResult(objectives=objs, trials=trials, pareto=pareto, best_params=best,
                          study=study)


def _trials_frame(study: optuna.Study, names: list[str], objs: list[Objective]) -> pd.DataFrame:
    rows = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name}
        row.update({n: t.params.get(n, np.nan) for n in names})
        row.update(t.user_attrs.get("metrics", {}))
        for o in objs:
            row.setdefault(o.metric, math.nan)
        row["feasible"] = (t.state == optuna.trial.TrialState.COMPLETE
                           and all(v <= 0.0 for v in t.constraints.values()))
        row["note"] = t.user_attrs.get("note", "")
        rows.append(row)
    return pd.DataFrame(rows)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
