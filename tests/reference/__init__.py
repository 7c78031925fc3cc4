"""Plain-Python references of the numba kernels, and test helpers shared by the kernel tests."""

from __future__ import annotations

import os

__all__ = ["NO_JIT", "examples"]

NO_JIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"


def examples(n: int) -> int:
    """Hypothesis max_examples: `n`, or a few when the kernels run as plain Python (no JIT)."""
    return min(n, 12) if NO_JIT else n
