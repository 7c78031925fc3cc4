"""Walk-forward (out-of-sample) validation over the backtest API.

Split a period into train/test windows (rolling or anchored), choose the best parameter set on each
train window by an `Objective`, run it on the following test window, and stitch the test-window
equity curves into one out-of-sample curve. Pure functions: the engine is passed in (defaults to
`gridlab.backtest`), nothing is written anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from gridlab.errors import ConfigError, DataError, StrategyError

__all__ = [
    "Objective",
    "WalkForwardResult",
    "Window",
    "make_windows",
    "select_best",
    "slice_market",
    "stitch_equity",
    "walk_forward",
]

Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class Window:
    """One fold: train on [train_start, train_end), test on [test_start, test_end) (epoch ms)."""

    fold: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


@dataclass(frozen=True)
class Objective:
    """What "best" means: a metric, a direction, and a minimum number of trades to be eligible."""

    metric: str = "total_return"
    direction: Direction = "maximize"
    min_trades: int = 0
    trades_metric: str = "n_round_trips"

    def __post_init__(self) -> None:
        if self.direction not in ("maximize", "minimize"):
            raise ConfigError(f"objective direction {self.direction!r} is invalid",
                              "use 'maximize' or 'minimize'")
        if self.min_trades < 0:
            raise ConfigError("objective min_trades must be >= 0", "pass 0 to disable the guard")

    @property
    def sign(self) -> float:
        """+1 when larger is better, -1 when smaller is better."""
        return 1.0 if self.direction == "maximize" else -1.0

    def gap(self, is_value: float, oos_value: float) -> float:
        """In-sample minus out-of-sample in the "better" direction: > 0 means OOS is worse."""
        return self.sign * (is_value - oos_value)


def make_windows(start_ms: int, end_ms: int, train_ms: int, test_ms: int,
                 step_ms: int | None = None, anchored: bool = False) -> list[Window]:
    """Train/test windows over [start_ms, end_ms).

    Rolling: train [s, s + train_ms), test [s + train_ms, s + train_ms + test_ms), s advancing by
    `step_ms` (default `test_ms`, so the test windows tile the period). Anchored: every train window
    starts at `start_ms` and grows. Only windows whose test window ends by `end_ms` are returned.
    """
    step = test_ms if step_ms is None else step_ms
    if min(train_ms, test_ms, step) <= 0:
        raise ConfigError("train_ms, test_ms and step_ms must be > 0",
                          "pass positive durations in milliseconds")
    if start_ms + train_ms + test_ms > end_ms:
        raise ConfigError(
            f"period of {(end_ms - start_ms) / 3_600_000:.1f} h is shorter than one train+test "
            f"window ({(train_ms + test_ms) / 3_600_000:.1f} h)",
            "use a longer period or shorter windows")
    out: list[Window] = []
    offset = 0
    while True:
        train_end = start_ms + train_ms + offset
        test_end = train_end + test_ms
        if test_end > end_ms:
            break
        train_start = start_ms if anchored else start_ms + offset
        out.append(Window(len(out), train_start, train_end, train_end, test_end))
        offset += step
    return out


def slice_market(data: Any, start_ms: int, end_ms: int) -> Any:
    """The part of a MarketData in [start_ms, end_ms), through its `slice` method."""
    fn = getattr(data, "slice", None)
    if fn is None:
        raise DataError(f"{type(data).__name__} has no slice(start_ms, end_ms) method",
                        "pass a gridlab.backtest MarketData or a `slicer=` function")
    return fn(start_ms, end_ms)


def select_best(results: pd.DataFrame, objective: Objective) -> pd.Series | None:
    """The row of a sweep table that is best by `objective` among rows with enough trades, a
    finite metric and a valid grid (empty `note`); None if no row qualifies. Ties go to the first
    row (grid order)."""
    if objective.metric not in results:
        raise ConfigError(f"objective metric {objective.metric!r} is not a sweep column",
                          f"choose one of {sorted(map(str, results.columns))}")
    ok = np.isfinite(results[objective.metric].to_numpy(dtype="float64"))
    if "note" in results:
        ok &= results["note"].fillna("").astype(str).eq("").to_numpy()
    if objective.min_trades > 0:
        if objective.trades_metric not in results:
            raise ConfigError(f"trades metric {objective.trades_metric!r} is not a sweep column",
                              "set Objective.trades_metric to the engine's trade-count metric")
        ok &= results[objective.trades_metric].to_numpy() >= objective.min_trades
    eligible = results[ok]
    if eligible.empty:
        return None
    if "liquidated" in eligible:  # a liquidated set ranks after every set that survived
        survived = eligible[~eligible["liquidated"].fillna(False).astype(bool)]
        eligible = survived if len(survived) else eligible
    values = eligible[objective.metric].to_numpy(dtype="float64") * objective.sign
    return eligible.iloc[int(np.argmax(values))]


def stitch_equity(curves: Sequence[pd.DataFrame], *, ts_col: str = "ts",
                  equity_col: str = "equity", initial: float | None = None) -> pd.DataFrame:
    """Chain equity curves: each curve's returns (relative to its first point) compound on the end
    of the previous one. Returns `ts`, `equity`, `fold`."""
    parts = []
    level = initial
    for fold, c in enumerate(curves):
        if c is None or len(c) == 0:
            continue
        eq = c[equity_col].to_numpy(dtype="float64")
        if level is None:
            level = float(eq[0])
        scaled = level * eq / eq[0]
        parts.append(pd.DataFrame({"ts": c[ts_col].to_numpy(dtype="int64"), "equity": scaled,
                                   "fold": fold}))
        level = float(scaled[-1])
    if not parts:
        return pd.DataFrame({"ts": pd.Series(dtype="int64"), "equity": pd.Series(dtype="float64"),
                             "fold": pd.Series(dtype="int64")})
    return pd.concat(parts, ignore_index=True)


@dataclass
class WalkForwardResult:
    """Per-fold table, stitched OOS equity and the per-fold train sweeps."""

    objective: Objective
    params: list[str]
    folds: pd.DataFrame
    oos_equity: pd.DataFrame
    sweeps: dict[int, pd.DataFrame] = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return self.objective.metric

    def summary(self) -> dict[str, float]:
        """Mean IS and OOS objective, mean gap, the stitched OOS total return, and how many
        folds ended in liquidation (their test backtest was liquidated)."""
        m = self.metric
        f = self.folds.dropna(subset=[f"oos_{m}"])
        eq = self.oos_equity["equity"].to_numpy()
        return {
            "folds": float(len(self.folds)),
            "folds_selected": float(len(f)),
            f"mean_is_{m}": float(f[f"is_{m}"].mean()) if len(f) else math.nan,
            f"mean_oos_{m}": float(f[f"oos_{m}"].mean()) if len(f) else math.nan,
            "mean_gap": float(f["gap"].mean()) if len(f) else math.nan,
            "oos_total_return": float(eq[-1] / eq[0] - 1.0) if len(eq) else math.nan,
            "folds_liquidated": float(self.folds["oos_liquidated"].fillna(False).astype(bool)
                                      .sum()) if "oos_liquidated" in self.folds else 0.0,
        }


def _default_engine() -> tuple[Callable[..., Any], Callable[..., pd.DataFrame]]:
    from gridlab.backtest.engine import backtest
    from gridlab.backtest.sweep import sweep

    return backtest, sweep


def walk_forward(data: Any, param_grid: Mapping[str, Sequence[Any]], objective: Objective,
                 windows: Sequence[Window], *, profile: str | None = None, config: Any = None,
                 fixed: Mapping[str, Any] | None = None,
                 slicer: Callable[[Any, int, int], Any] = slice_market,
                 backtest_fn: Callable[..., Any] | None = None,
                 sweep_fn: Callable[..., pd.DataFrame] | None = None,
                 sweep_kwargs: Mapping[str, Any] | None = None) -> WalkForwardResult:
    """Run a walk-forward validation.

    For each window: sweep `param_grid` on the train slice, pick the best row by `objective`
    (rows with fewer than `objective.min_trades` trades are not eligible), backtest it on the test
    slice. `fixed` overrides apply to every run. A fold with no eligible set (or whose set cannot
    build a grid on the test window) has NaN OOS values, a `note` and no OOS equity.
    """
    bt_default, sw_default = (None, None) if backtest_fn and sweep_fn else _default_engine()
    backtest_fn = backtest_fn or bt_default
    sweep_fn = sweep_fn or sw_default
    fixed = dict(fixed or {})
    params = list(param_grid)
    m = objective.metric
    rows: list[dict[str, Any]] = []
    curves: list[pd.DataFrame] = []
    sweeps: dict[int, pd.DataFrame] = {}
    for w in windows:
        train = slicer(data, w.train_start, w.train_end)
        test = slicer(data, w.test_start, w.test_end)
        table = sweep_fn(train, dict(param_grid), config=config, profile=profile,
                         **dict(sweep_kwargs or {}), **fixed)
        sweeps[w.fold] = table
        best = select_best(table, objective)
        row: dict[str, Any] = {"fold": w.fold, "train_start": w.train_start,
                               "train_end": w.train_end, "test_start": w.test_start,
                               "test_end": w.test_end, "n_candidates": len(table), "note": ""}
        row.update({p: np.nan for p in params})
        row.update({f"is_{m}": np.nan, f"oos_{m}": np.nan, "gap": np.nan,
                    "is_trades": np.nan, "oos_trades": np.nan, "oos_liquidated": False})
        if best is None:
            row["note"] = "no eligible parameter set on the train window"
            rows.append(row)
            continue
        chosen = {p: _py(best[p]) for p in params}
        row.update(chosen)
        try:
            res = backtest_fn(test, config=config, profile=profile, **{**fixed, **chosen})
        except StrategyError as exc:  # e.g. no valid grid at the test window's first price
            row["note"] = exc.message
            rows.append(row)
            continue
        oos = res.metrics
        row[f"is_{m}"] = float(best[m])
        row[f"oos_{m}"] = float(oos[m])
        row["gap"] = objective.gap(row[f"is_{m}"], row[f"oos_{m}"])
        tm = objective.trades_metric
        row["is_trades"] = float(best[tm]) if tm in best else np.nan
        row["oos_trades"] = float(oos[tm]) if tm in oos else np.nan
        row["oos_liquidated"] = bool(oos.get("n_liquidations", 0))
        rows.append(row)
        curve = res.equity.copy()
        curve.attrs["fold"] = w.fold
        curves.append(curve)
    folds = pd.DataFrame(rows)
    stitched = stitch_equity(curves)
    if len(stitched):  # fold numbers from the windows, not the curve order
        fold_ids = [c.attrs["fold"] for c in curves]
        stitched["fold"] = np.asarray(fold_ids)[stitched["fold"].to_numpy()]
    return WalkForwardResult(objective=objective, params=params, folds=folds,
                             oos_equity=stitched, sweeps=sweeps)


def _py(v: Any) -> Any:
    """numpy scalar -> Python scalar (ints stay ints) for passing as a backtest override."""
    return v.item() if isinstance(v, np.generic) else v
