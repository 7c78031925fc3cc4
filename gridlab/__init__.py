"""gridlab: research-to-production grid trading on Bybit.

`gridlab.backtest(data, ...)` and `gridlab.sweep(data, grid, ...)` are the research entry points;
`gridlab.backtest` is also the engine's package (the module is callable). The names below are
imported on first use, so `import gridlab` (and `gridlab --help`) stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any


class _AfterNumbaImport:
    """Points numba's cache at the directory of the current kernel sources just before numba
    is imported (its config reads NUMBA_CACHE_DIR then), and runs `ensure_int128_builtins` as
    soon as it is imported, before any kernel exists.

    Deferred (instead of running here) because hashing the kernel sources and loading
    llvmlite (~0.1-0.2 s) are costs `gridlab --help` and the other commands that never touch
    a kernel should not pay.
    """

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "numba":
            return None
        sys.meta_path.remove(self)
        _configure_cache()  # cache keyed on the kernel sources: never stale across files
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def exec_then_register(module: Any) -> None:
                exec_module(module)
                _ensure_int128()

            spec.loader.exec_module = exec_then_register  # type: ignore[method-assign]
        return spec


def _configure_cache() -> None:
    from gridlab._numba_cache import configure_numba_cache

    configure_numba_cache()


def _ensure_int128() -> None:
    from gridlab._numba_compat import ensure_int128_builtins

    ensure_int128_builtins()  # before any kernel is compiled or loaded from the cache


if "numba" in sys.modules:  # imported before gridlab: its config was already read
    _configure_cache()
    _ensure_int128()
elif not any(isinstance(f, _AfterNumbaImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _AfterNumbaImport())

__version__ = "0.1.0"

_LAZY = {
    "BacktestResult": "gridlab.backtest",
    "MarketData": "gridlab.backtest",
    "load_market": "gridlab.backtest",
    "sweep": "gridlab.backtest",
    "Store": "gridlab.store.core",
}

__all__ = [
    "BacktestResult",
    "MarketData",
    "Store",
    "__version__",
    "backtest",
    "load_market",
    "sweep",
]


def __getattr__(name: str) -> Any:
    """`gridlab.X` for the public names: import their module on first use."""
    if name == "backtest":
        return importlib.import_module("gridlab.backtest")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gridlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
