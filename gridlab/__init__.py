"""gridlab: research-to-production grid trading on Bybit.

`gridlab.backtest(data, ...)` and `gridlab.sweep(data, grid, ...)` are the research entry points;
`gridlab.backtest` is also the engine's package (the module is callable).
"""

from __future__ import annotations

from gridlab._numba_cache import configure_numba_cache
from gridlab._numba_compat import ensure_int128_builtins

configure_numba_cache()  # cache keyed on the kernel sources: never stale across files
ensure_int128_builtins()  # before any kernel is compiled or loaded from the cache

__version__ = "0.1.0"

from gridlab.backtest import (  # noqa: E402
    BacktestResult,
    MarketData,
    load_market,
    sweep,
)
from gridlab.store.core import Store  # noqa: E402

__all__ = [
    "BacktestResult",
    "MarketData",
    "Store",
    "__version__",
    "backtest",
    "load_market",
    "sweep",
]
