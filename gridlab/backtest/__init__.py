"""gridlab.backtest: numba replay of trades and klines, honest fills, vectorized sweeps.

Public API: `backtest`, `sweep`, `MarketData`, `load_market`, `BacktestResult`,
`parse_param_grid`, `run_chunk` (the pure per-chunk sweep function for distributed runs),
`StartState` (a grid state to start a backtest from: `backtest(..., initial_state=...)`).
The names are imported on first use, so `from gridlab.backtest.data import ...` (the CLI's
kline backtest) does not pay for the sweep, the results tables or pandas.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_LAZY = {
    "BacktestResult": "gridlab.backtest.results",
    "FillModel": "gridlab.backtest.enums",
    "MarketArrays": "gridlab.backtest.sweep_nb",
    "MarketData": "gridlab.backtest.data",
    "ParamRows": "gridlab.backtest.sweep_nb",
    "StartState": "gridlab.backtest.start",
    "backtest": "gridlab.backtest.engine",
    "load_market": "gridlab.backtest.data",
    "parse_param_grid": "gridlab.backtest.sweep",
    "run_chunk": "gridlab.backtest.sweep_nb",
    "sweep": "gridlab.backtest.sweep",
}

__all__ = sorted(_LAZY)


class _CallableModule(types.ModuleType):
    """Lets `gridlab.backtest(data, ...)` run a backtest while the package imports as usual;
    the public names are imported on first use."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from gridlab.backtest.engine import backtest

        return backtest(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name in _LAZY:
            value = getattr(importlib.import_module(_LAZY[name]), name)
            self.__dict__[name] = value
            return value
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    # `sweep` is both a submodule and its function: importing the submodule sets the package
    # attribute to the module; the package's `sweep` stays the function, as when it was eager.
    @property
    def sweep(self) -> Any:
        from gridlab.backtest.sweep import sweep

        return sweep

    @sweep.setter
    def sweep(self, value: Any) -> None:
        """Ignored: the import system setting the submodule `gridlab.backtest.sweep`."""

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *_LAZY})


sys.modules[__name__].__class__ = _CallableModule
