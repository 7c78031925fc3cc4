"""Thread-safe token buckets, one per endpoint class (market, order, position, account)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

__all__ = ["RateLimiter", "TokenBucket"]


class TokenBucket:
    """`rate` tokens per second, at most `burst` stored; rate 0 means unlimited."""

    def __init__(self, rate: float, burst: int = 0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = float(rate)
        self.capacity = float(burst) if burst > 0 else max(1.0, self.rate)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def reserve(self) -> float:
        """Take one token; return how many seconds the caller must wait before using it."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            return max(wait, self._blocked_until - now)

    def acquire(self) -> float:
        """Block until a token is available; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def block_until(self, monotonic_ts: float) -> None:
        """Hold every caller until `monotonic_ts` (after the exchange said 10006)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, monotonic_ts)
            self._tokens = min(self._tokens, 0.0)


class RateLimiter:
    """One TokenBucket per endpoint class; unknown classes use the "market" bucket."""

    def __init__(self, rates: Mapping[str, float], burst: int = 0) -> None:
        self.buckets = {name: TokenBucket(rate, burst) for name, rate in rates.items()}
        self.buckets.setdefault("market", TokenBucket(0))

    def acquire(self, endpoint_class: str) -> float:
        """Wait for a token of `endpoint_class`; return the seconds waited."""
        return self.buckets.get(endpoint_class, self.buckets["market"]).acquire()

    def block(self, endpoint_class: str, seconds: float) -> None:
        """Pause a class for `seconds` (e.g. until X-Bapi-Limit-Reset-Timestamp)."""
        bucket = self.buckets.get(endpoint_class, self.buckets["market"])
        bucket.block_until(time.monotonic() + max(0.0, seconds))
