"""BacktestResult: metrics, fills, equity and the exact inputs of one run."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BacktestResult", "code_version", "format_metrics"]

@lru_cache(maxsize=1)
def code_version() -> dict[str, str]:
    """Package version, git commit (if the source is a git checkout; '+dirty' when changed)
    and a hash of every `*_nb.py` kernel source, so a stored run says what computed it."""
    from gridlab import __version__
    from gridlab._numba_cache import kernel_source_hash

    commit = ""
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                                    capture_output=True, text=True, timeout=5).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                    "--untracked-files=no"], capture_output=True, text=True,
                                   timeout=5).stdout.strip()
            if commit and dirty:
                commit += "+dirty"
        except (OSError, subprocess.SubprocessError):
            commit = ""
    return {"version": __version__, "commit": commit, "kernel_hash": kernel_source_hash()}


_FMT = {
    "total_return": "{:.4%}", "annualized_return": "{:.2%}", "avg_daily_return": "{:.4%}",
    "max_drawdown": "{:.2%}", "time_at_max_exposure": "{:.2%}", "sharpe": "{:.3f}",
    "sortino": "{:.3f}", "calmar": "{:.3f}", "max_dd_duration_h": "{:.1f}", "days": "{:.2f}",
}


def format_metrics(metrics: dict[str, Any]) -> str:
    """Two-column text table of a metrics dict."""
    lines = []
    width = max(len(k) for k in metrics)
    for k, v in metrics.items():
        if isinstance(v, float | np.floating):
            text = _FMT.get(k, "{:,.4f}").format(v) if np.isfinite(v) else "n/a"
        else:
            text = f"{v:,}" if isinstance(v, int | np.integer) else str(v)
        lines.append(f"{k:<{width}}  {text}")
    return "\n".join(lines)


@dataclass
class BacktestResult:
    """One run: `metrics` (dict), `equity` and `fills` (DataFrames), `daily` closing equity,
    the effective `params` (config dict), data description, `warnings`, and `run_id` once
    stored. `recenters` (ts, reason name, price, centre level, spacing, lowest, highest,
    n_slots: one row per grid (re)build, the initial one included) and `levels` (ts, price,
    side: the levels of the enabled slots at each build) are None when run with
    `record=False`; they are what `plots.price_grid_figure(prices, levels, fills, recenters)`
    draws. `final_state`: the grid's state after the last event (`backtest(...,
    keep_state=True)`, or a run with `initial_state`), a `gridlab.backtest.start.StartState`
    another run can start from. `liquidation` (ts, mark, liq_price: nan when flat) is the
    liquidation price at each equity sample of a recorded run with the margin model on
    (`backtest.margin`), else None (gridlab.backtest.liq_line_nb)."""

    metrics: dict[str, Any]
    equity: pd.DataFrame
    fills: pd.DataFrame | None
    daily: pd.Series
    params: dict[str, Any]
    data: dict[str, Any]
    summary: np.ndarray
    warnings: list[str] = field(default_factory=list)
    run_id: str | None = None
    elapsed_s: float = 0.0
    recenters: pd.DataFrame | None = None
    levels: pd.DataFrame | None = None
    final_state: Any = None
    liquidation: pd.DataFrame | None = None

    def params_json(self) -> str:
        """The exact parameters as canonical JSON (what the store keeps)."""
        return json.dumps(self.params, sort_keys=True, default=str)

    def table(self) -> str:
        """The metrics as a text table."""
        return format_metrics(self.metrics)

    def __repr__(self) -> str:
        m = self.metrics
        return (f"BacktestResult({self.data.get('symbol')} {self.data.get('source')}, "
                f"return {m['total_return']:.4%}, max DD {m['max_drawdown']:.2%}, "
                f"{m['n_round_trips']} round trips, run_id={self.run_id})")
