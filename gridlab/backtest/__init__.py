"""gridlab.backtest: numba replay of trades and klines, honest fills, vectorized sweeps.

Public API: `backtest`, `sweep`, `MarketData`, `load_market`, `BacktestResult`,
`parse_param_grid`, `run_chunk` (the pure per-chunk sweep function for distributed runs).
"""

from __future__ import annotations

import sys
import types

from gridlab.backtest.data import MarketData, load_market
from gridlab.backtest.engine import backtest
from gridlab.backtest.enums import FillModel
from gridlab.backtest.results import BacktestResult
from gridlab.backtest.sweep import parse_param_grid, sweep
from gridlab.backtest.sweep_nb import MarketArrays, ParamRows, run_chunk

__all__ = [
    "BacktestResult",
    "FillModel",
    "MarketArrays",
    "MarketData",
    "ParamRows",
    "backtest",
    "load_market",
    "parse_param_grid",
    "run_chunk",
    "sweep",
]


class _CallableModule(types.ModuleType):
    """Lets `gridlab.backtest(data, ...)` run a backtest while the package imports as usual."""

    def __call__(self, *args, **kwargs):
        return backtest(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
