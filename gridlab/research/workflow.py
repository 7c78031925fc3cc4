"""Glue shared by the research CLI and notebooks: parse times/grids/objectives, open market data,
and run a walk-forward or an Optuna search straight from a database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gridlab.backtest.sweep import parse_number, parse_param_grid
from gridlab.errors import ConfigError
from gridlab.research.optimize import OptimizeResult, Param, optimize
from gridlab.research.walkforward import Objective, WalkForwardResult, make_windows, walk_forward

__all__ = [
    "DAY_MS",
    "open_market",
    "parse_grid",
    "parse_objective",
    "parse_space",
    "run_optimize",
    "run_walkforward",
    "to_ms",
]

DAY_MS = 86_400_000
_DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize",
               "minimize": "minimize"}


def to_ms(value: Any) -> int:
    """Epoch milliseconds (UTC) from epoch ms, an ISO date/time string or a datetime."""
    from gridlab.backtest.data import to_ms as engine_to_ms

    ms = engine_to_ms(value)
    if ms is None:
        raise ConfigError("a time is missing", "pass an ISO date such as 2024-01-31 or epoch ms")
    return ms


def parse_grid(specs: Sequence[str]) -> dict[str, list[Any]]:
    """`name=v1,v2,...` or `name=start:stop:step` (stop included) -> a sweep grid: the parser of
    `gridlab sweep --param`, `gridlab.backtest.parse_param_grid`."""
    return parse_param_grid(specs)


def parse_space(specs: Sequence[str]) -> dict[str, Param]:
    """`name=low:high[:log]` -> an Optuna search range (ints on both ends -> an int range)."""
    space: dict[str, Param] = {}
    for spec in specs:
        name, sep, body = spec.partition("=")
        parts = body.split(":")
        if not sep or len(parts) not in (2, 3):
            raise ConfigError(f"search range {spec!r} is not name=low:high[:log]",
                              "write e.g. spacing=0.001:0.01:log or n_buy=4:20")
        rest = [parts[2]] if len(parts) == 3 else []
        space[name.strip()] = Param.of((parse_number(parts[0]), parse_number(parts[1]), *rest))
    return space


def parse_objective(spec: str, min_trades: int = 0) -> Objective:
    """`metric[:max|min]` -> Objective (default maximize)."""
    metric, _, direction = spec.partition(":")
    d = _DIRECTIONS.get((direction or "max").lower())
    if d is None:
        raise ConfigError(f"objective direction {direction!r} is invalid", "use :max or :min")
    return Objective(metric=metric.strip(), direction=d, min_trades=min_trades)  # type: ignore[arg-type]


def open_market(db_path: str | Path, symbol: str, category: str = "linear",
                start: Any = None, end: Any = None, source: str | None = None) -> Any:
    """Load MarketData for [start, end) from a DuckDB store (read, then close the store)."""
    from gridlab.backtest.data import load_market
    from gridlab.store.core import Store

    db = Path(db_path)
    if not db.exists():
        raise ConfigError(f"database {db} does not exist",
                          "build one first (gridlab demo or the data commands), or pass --db")
    store = Store.open(db, read_only=True, wait_s=5.0)
    try:
        kwargs: dict[str, Any] = {}
        if source:
            kwargs["source"] = source
        return load_market(store, symbol, category, start=None if start is None else to_ms(start),
                           end=None if end is None else to_ms(end), **kwargs)
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()


def _source(config: str | Path | None) -> str:
    from gridlab.backtest.params import coerce_config

    return str(coerce_config(config).backtest.source)


def run_walkforward(db_path: str | Path, symbol: str, start: Any, end: Any, *,
                    grid: Mapping[str, Sequence[Any]], objective: Objective,
                    train_days: float, test_days: float, step_days: float | None = None,
                    anchored: bool = False, category: str = "linear",
                    profile: str | None = "Normal", fill_model: str | None = None,
                    source: str | None = None,
                    config: str | Path | None = None, save: bool = True) -> WalkForwardResult:
    """Load the market for [start, end) and run a walk-forward over `grid`; with `save` it is
    stored (gridlab.store.research) and `res.folds.attrs['walkforward_id']` is set."""
    s, e = to_ms(start), to_ms(end)
    data = open_market(db_path, symbol, category, s, e, source or _source(config))
    windows = make_windows(s, e, int(train_days * DAY_MS), int(test_days * DAY_MS),
                           None if step_days is None else int(step_days * DAY_MS), anchored)
    fixed = {"fill_model": fill_model} if fill_model else None
    res = walk_forward(data, grid, objective, windows, profile=profile, config=config,
                       fixed=fixed)
    if save:
        from gridlab.store.research import save_walkforward

        base, info, code = _lineage(data, config, profile, fixed)
        with _research_store(db_path) as store:
            res.folds.attrs["walkforward_id"] = save_walkforward(
                store, res.folds, objective=f"{objective.metric}:{objective.direction}",
                param_grid={k: list(v) for k, v in grid.items()}, base_params=base, data=info,
                fill_model=str(base["backtest"]["fill_model"]), code=code)
    return res


def _lineage(data: Any, config: Any, profile: str | None,
             fixed: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any],
                                                       dict[str, str]]:
    """The effective base config (as a sweep stores it), the data identity and code version."""
    from gridlab.backtest.engine import data_info
    from gridlab.backtest.params import effective_config
    from gridlab.backtest.results import code_version

    base = effective_config(config, profile, dict(fixed or {})).model_dump(
        mode="json", exclude={"profiles", "data", "exchange"})
    return base, data_info(data), code_version()


def _research_store(db_path: str | Path) -> Any:
    from gridlab.store.core import Store

    return Store.open(Path(db_path), wait_s=5.0)


def run_optimize(db_path: str | Path, symbol: str, start: Any, end: Any, *,
                 space: Mapping[str, Param], objectives: Sequence[Objective],
                 n_trials: int = 50, seed: int = 0, category: str = "linear",
                 profile: str | None = "Normal", fill_model: str | None = None,
                 source: str | None = None, config: str | Path | None = None,
                 save: bool = True) -> OptimizeResult:
    """Load the market for [start, end) and run an Optuna search over `space`; with `save`
    the trials are stored and `res.trials.attrs['study_id']` is set."""
    data = open_market(db_path, symbol, category, start, end, source or _source(config))
    fixed = {"fill_model": fill_model} if fill_model else None
    res = optimize(data, space, objectives, n_trials=n_trials, seed=seed, profile=profile,
                   config=config, fixed=fixed)
    if save:
        from gridlab.store.research import save_study

        base, info, code = _lineage(data, config, profile, fixed)
        with _research_store(db_path) as store:
            res.trials.attrs["study_id"] = save_study(
                store, res.trials, param_names=list(space),
                objectives=",".join(f"{o.metric}:{o.direction}" for o in res.objectives),
                space={k: [p.low, p.high, "log" if p.log else p.kind] for k, p in space.items()},
                base_params=base, data=info, fill_model=str(base["backtest"]["fill_model"]),
                code=code)
    return res
