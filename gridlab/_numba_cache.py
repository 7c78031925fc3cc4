"""Where numba caches compiled kernels: a directory keyed by a hash of the kernel sources.

numba's `cache=True` invalidates a cached function only when its own file changes, so a kernel
that calls (and inlines) strategy kernels from other files would load stale machine code after
those files change. Keying the cache directory on a hash of every kernel source in the package
makes any change start a fresh cache. Base directory: `$GRIDLAB_NUMBA_CACHE`, else
`$XDG_CACHE_HOME/gridlab/numba`, else `~/.cache/gridlab/numba`.
"""

from __future__ import annotations

import hashlib
import os
import sys
from functools import lru_cache
from pathlib import Path

__all__ = ["configure_numba_cache", "kernel_source_hash"]

_PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def kernel_source_hash() -> str:
    """sha256 prefix over every `*_nb.py` and `enums.py` under the gridlab package."""
    h = hashlib.sha256()
    files = sorted(p for p in _PACKAGE.rglob("*.py")
                   if p.name.endswith("_nb.py") or p.name == "enums.py")
    for path in files:
        h.update(path.relative_to(_PACKAGE).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def configure_numba_cache() -> Path:
    """Point numba's cache at the directory of the current kernel sources; return it."""
    base = os.environ.get("GRIDLAB_NUMBA_CACHE")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = str(Path(xdg) / "gridlab" / "numba")
    path = Path(base) / kernel_source_hash()
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    numba = sys.modules.get("numba")
    if numba is not None:  # numba imported before gridlab: its config was already read
        numba.config.CACHE_DIR = str(path)
    return path
