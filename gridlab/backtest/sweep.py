"""`sweep(...)`: every combination of a parameter grid in one parallel numba kernel."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from gridlab.backtest.data import MarketData
from gridlab.backtest.engine import data_info
from gridlab.backtest.engine_nb import n_days_nb
from gridlab.backtest.enums import EngineParams
from gridlab.backtest.metrics import METRIC_COLUMNS, budget_returns, metrics_table
from gridlab.backtest.params import (
    PlanCache,
    RunParams,
    check_grid,
    effective_config,
    margin_tiers,
)
from gridlab.backtest.state_nb import check_capacity
from gridlab.backtest.sweep_nb import MarketArrays, ParamRows, ok_slots_nb, rows_of, run_chunk
from gridlab.errors import ConfigError, DataError, StrategyError

_BUDGET_COL = EngineParams._fields.index("capital")
_ACCOUNT_COL = EngineParams._fields.index("account")
if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SweepPlan", "market_arrays", "param_combinations", "parse_number", "parse_param_grid",
           "plan_sweep", "sweep"]


def parse_number(text: str) -> int | float:
    """An int if `text` is one, else a float; ConfigError naming the text otherwise."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not a number", "write values like 5, 0.004 or 1e-3"
                          ) from None


def _value(text: str) -> Any:
    text = text.strip()
    try:
        return parse_number(text)
    except ConfigError:
        return {"true": True, "false": False}.get(text.lower(), text)


def parse_param_grid(specs: Sequence[str]) -> dict[str, list[Any]]:
    """CLI `--param` specs -> grid: `path=v1,v2,...` or `path=start:stop:step` (stop included)."""
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, body = spec.partition("=")
        if not sep or not name.strip() or not body.strip():
            raise ConfigError(f"--param {spec!r} is not path=values",
                              "write e.g. grid.spacing=0.001,0.002 or grid.n_buy=4:12:2")
        if ":" in body:
            parts = [parse_number(p) for p in body.split(":")]
            if len(parts) != 3 or parts[2] <= 0:
                raise ConfigError(f"range {body!r} must be start:stop:step with step > 0",
                                  "write e.g. grid.n_buy=4:12:2")
            start, stop, step = parts
            n = int(np.floor((stop - start) / step + 1e-9)) + 1
            values: list[Any] = [start + i * step for i in range(max(n, 0))]
            values = ([int(v) for v in values] if all(isinstance(p, int) for p in parts)
                      else [round(float(v), 12) for v in values])
        else:
            values = [_value(v) for v in body.split(",") if v.strip()]
        if not values:
            raise ConfigError(f"--param {spec!r} gives no value", "list at least one value")
        grid[name.strip()] = values
    return grid


def param_combinations(param_grid: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination (first key varies slowest), as override dicts."""
    keys = list(param_grid)
    for k, v in param_grid.items():
        if isinstance(v, str | bytes) or not isinstance(v, Sequence | np.ndarray):
            raise ConfigError(f"sweep values of {k!r} must be a list (got {v!r})",
                              "write e.g. {'grid.spacing': [0.001, 0.002]}")
        if len(v) == 0:
            raise ConfigError(f"sweep values of {k!r} are empty", "give at least one value")
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(list(param_grid[k]) for k in keys))]


def market_arrays(data: MarketData, funding: bool = True) -> MarketArrays:
    """The replay arrays shared by every set."""
    fts, frate = data.funding_in_run() if funding else (np.zeros(0, np.int64), np.zeros(0))
    return MarketArrays(data.ts, data.price, data.size, fts, frate, data.filters,
                        n_days_nb(int(data.ts[0]), int(data.ts[-1])), data.mark_ts,
                        data.mark_px)


class SweepPlan:
    """Per-set kernel parameters of a sweep (built and validated in Python)."""

    def __init__(self, combos: list[dict[str, Any]], runs: list[RunParams],
                 notes: list[str], base: dict[str, Any], rows: ParamRows | None = None) -> None:
        self.combos = combos
        self.runs = runs
        self.notes = notes
        self.base = base
        self.rows = rows if rows is not None else ParamRows(
            rows_of([r.gp for r in runs]), rows_of([r.rp for r in runs]),
            rows_of([r.rk for r in runs]), rows_of([r.ep for r in runs]))

    def chunk(self, i0: int, i1: int) -> ParamRows:
        """Rows [i0, i1) of the plan (what `run_chunk` takes)."""
        return ParamRows(*(m[i0:i1] for m in self.rows))


def _sweep_tiers(cfgs: list[Any], data: MarketData) -> Any:
    """The one risk-limit table of a sweep's sets with the margin model on (every set's rows
    carry it, `margin` off or on); None when no set uses it."""
    found = [t for t in (margin_tiers(c, data.symbol, getattr(data, "risk_tiers", None))
                         for c in cfgs) if t is not None]
    if any(t.symbol != found[0].symbol for t in found):
        raise ConfigError("backtest.risk_limits_symbol cannot be swept", "run two sweeps")
    return found[0] if found else None


def plan_sweep(data: MarketData, param_grid: dict[str, Sequence[Any]], config: Any = None,
               profile: str | None = None, **fixed: Any) -> SweepPlan:
    """Validate every combination and build its kernel parameters.

    Each set's config and NamedTuples are `effective_config` / `run_params` of its overrides
    (through a `PlanCache`: per distinct section value, not per set); errors are raised in set
    order as a loop of single runs would; a set whose grid has no valid slot at the first
    price gets `check_grid`'s message as its note (the test itself runs for every set in one
    numba call)."""
    base = effective_config(config, profile, fixed)
    combos = param_combinations(param_grid)
    cache = PlanCache(base)
    trades = data.bar_ms == 0
    p0 = float(data.price[0])
    got = [cache.config(combo) for combo in combos]
    tiers = _sweep_tiers([cfg for cfg, _ in got], data)
    runs: list[RunParams] = []
    shapes: set[tuple[int, int]] = set()
    for cfg, keys in got:
        rp = cache.run_params(cfg, keys, data.filters, data.category, trades=trades,
                              record=False, tiers=tiers)
        if cfg.backtest.funding != base.backtest.funding:
            raise ConfigError("backtest.funding cannot be swept", "run two sweeps")
        shape = (rp.gp.n_buy, rp.gp.n_sell)
        if shape not in shapes:
            check_capacity(*shape)
            shapes.add(shape)
        runs.append(rp)
    rows = ParamRows(rows_of([r.gp for r in runs]), rows_of([r.rp for r in runs]),
                     rows_of([r.rk for r in runs]), rows_of([r.ep for r in runs]))
    n_ok = ok_slots_nb(rows.grid, data.filters,
                       np.ascontiguousarray(rows.engine[:, _BUDGET_COL]), p0)
    notes = [""] * len(runs)
    for j in np.flatnonzero(n_ok == 0):
        try:
            check_grid(runs[j], p0)
        except StrategyError as exc:
            notes[j] = exc.message
    if all(notes):
        raise StrategyError(f"no parameter set gives a valid grid; first: {notes[0]}",
                            "widen the spacing, raise capital or use fewer levels")
    return SweepPlan(combos, runs, notes, base.model_dump(mode="json",
                                                          exclude={"profiles", "data",
                                                                   "exchange"}), rows)


def sweep(data: MarketData, param_grid: dict[str, Sequence[Any]], config: Any = None,
          profile: str | None = None, *, fill_model: str | None = None,
          n_jobs: int | None = None, chunk_size: int | None = None, progress: bool = False,
          store: Any = None, client: Any = None, **fixed: Any) -> pd.DataFrame:
    """Backtest every combination of `param_grid` ({config path: [values]}) on `data`.

    All sets run in one numba `prange` kernel over chunks of `chunk_size` sets (a tqdm bar
    per chunk when `progress`); only per-set summaries are kept. Returns one row per set:
    `set_id`, the swept parameters (columns named as the grid keys), the metrics (same
    definitions as `backtest`) and `note` (why a set has no valid grid, else ''). `fixed`
    overrides apply to every set; `n_jobs` caps numba threads. With `store` the sweep is
    saved (tables sweeps, sweep_results) and `df.attrs['sweep_id']` is set. With a Dask
    `client` the chunks (`chunk_size`, default 64 sets) run on its cluster instead
    (`gridlab.backtest.cluster.run_chunks_on_dask`); the table is the same.
    """
    if not isinstance(data, MarketData):
        raise DataError(f"data must be a MarketData (got {type(data).__name__})",
                        "use load_market(store, ...) or MarketData.from_trades/from_klines")
    t0 = time.perf_counter()
    if fill_model is not None:
        fixed["fill_model"] = fill_model
    plan = plan_sweep(data, param_grid, config, profile, **fixed)
    m = len(plan.combos)
    arrays = market_arrays(data, funding=bool(plan.base["backtest"]["funding"]))
    if client is not None:
        from gridlab.backtest.cluster import run_chunks_on_dask  # imports dask lazily

        summary, daily = run_chunks_on_dask(client, arrays, plan.rows, chunk_size or 64)
    else:
        summary, daily = _run_local(arrays, plan, m, n_jobs, chunk_size, progress)
    met = metrics_table(summary, daily, plan.rows.engine[:, _ACCOUNT_COL])
    import pandas as pd

    table = pd.DataFrame({"set_id": np.arange(m)})
    for key in param_grid:
        table[key] = [c[key] for c in plan.combos]
    for col in METRIC_COLUMNS:
        table[col] = met[col]
    for col, v in budget_returns(met["pnl"], plan.rows.engine[:, _BUDGET_COL],
                                 plan.rows.engine[:, _ACCOUNT_COL]).items():
        table[col] = v
    table["note"] = plan.notes
    table.attrs["elapsed_s"] = time.perf_counter() - t0
    if store is not None:
        from gridlab.backtest.results import code_version
        from gridlab.store.runs import save_sweep

        table.attrs["sweep_id"] = save_sweep(
            store, table, param_names=list(param_grid),
            param_grid={k: list(v) for k, v in param_grid.items()}, base_params=plan.base,
            data=data_info(data), fill_model=str(plan.base["backtest"]["fill_model"]),
            elapsed_s=table.attrs["elapsed_s"], metric_columns=list(METRIC_COLUMNS),
            code=code_version())
    return table


def _run_local(arrays: MarketArrays, plan: SweepPlan, m: int, n_jobs: int | None,
               chunk_size: int | None, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """The chunk loop on this machine's numba threads: (summary, daily) of every set."""
    threads = numba.get_num_threads()
    if chunk_size is None:
        chunk_size = m if not progress else max(4 * numba.config.NUMBA_NUM_THREADS,
                                                -(-m // 20))
    chunk_size = max(1, int(chunk_size))
    summaries, dailies = [], []
    bar = None
    if progress:
        from tqdm.auto import tqdm  # a widget in Jupyter (ipywidgets), text elsewhere

        bar = tqdm(total=m, desc="sweep", unit="set")
    try:
        if n_jobs:
            numba.set_num_threads(max(1, min(int(n_jobs), numba.config.NUMBA_NUM_THREADS)))
        for i0 in range(0, m, chunk_size):
            i1 = min(m, i0 + chunk_size)
            s, d = run_chunk(arrays, plan.chunk(i0, i1))
            summaries.append(s)
            dailies.append(d)
            if bar is not None:
                bar.update(i1 - i0)
    finally:
        numba.set_num_threads(threads)
        if bar is not None:
            bar.close()
    return np.concatenate(summaries), np.concatenate(dailies)
