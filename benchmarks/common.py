"""What a benchmark module returns, and small timing helpers.

Each `benchmarks/bench_<name>.py` exposes `run() -> list[Result]`; `benchmarks.run` discovers,
runs and reports them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Result", "Timer", "best_of", "timed"]


@dataclass
class Result:
    """One figure: `value` in `unit`, compared with `target` (None = informational)."""

    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """value / target (target / value when lower is better): >= 1 means the target is met."""
        if self.target is None or self.target == 0 or self.value == 0:
            return None
        return self.value / self.target if self.higher_is_better else self.target / self.value

    @property
    def met(self) -> bool | None:
        r = self.ratio
        return None if r is None else r >= 1.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


class Timer:
    """Elapsed seconds of a `with timed() as t:` block, in `t.seconds`."""

    seconds: float = 0.0


@contextmanager
def timed() -> Iterator[Timer]:
    t = Timer()
    t0 = time.perf_counter()
    try:
        yield t
    finally:
        t.seconds = time.perf_counter() - t0


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    """The fastest of `repeat` runs of fn(), in seconds (less noise on a shared machine)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
