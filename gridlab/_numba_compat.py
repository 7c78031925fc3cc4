"""Make numba's JIT find the 128-bit integer division builtins.

LLVM 22 (llvmlite 0.50, numba 0.68) lowers some loop trip counts, e.g. a `while` loop inside a
`for` loop stepping an int64 by a constant, to `__udivti3`, which numba's JIT linker does not
resolve on x86-64 Linux: the call jumps to address 0 and the process segfaults. Registering the
symbols from libgcc_s (always present with glibc) fixes it; it must run before the first
kernel is compiled or loaded from the cache. Importing `gridlab`
runs it: `gridlab/__init__.py` calls it, so every kernel in the package is covered.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["ensure_int128_builtins"]

_NAMES = ("__udivti3", "__umodti3", "__divti3", "__modti3", "__muloti4")
_done = False


def ensure_int128_builtins() -> None:
    """Register missing compiler-rt int128 helpers with llvmlite (idempotent)."""
    global _done
    if _done:
        return
    import llvmlite.binding as llvm

    path = ctypes.util.find_library("gcc_s")
    lib = None
    if path:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            lib = None
    for name in _NAMES:
        if llvm.address_of_symbol(name):
            continue
        fn = getattr(lib, name, None) if lib is not None else None
        if fn is not None:
            llvm.add_symbol(name, ctypes.cast(fn, ctypes.c_void_p).value)
    _done = True

