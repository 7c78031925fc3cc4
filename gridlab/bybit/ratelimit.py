"""Client-side rate limits, one limiter per endpoint class (market, order, batch, position,
account), plus the IP ban after HTTP 403.

Bybit counts requests per UID and endpoint in a rolling one-second window (batch endpoints by
their number of orders), so the default limiter is a rolling window admitting `rate` weight in
any second: a token bucket with a full bucket would let `burst + rate` through in one second
and meet 10006. A `burst` > 0 selects the older token bucket instead.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

__all__ = ["WINDOW_S", "RateLimiter", "RollingWindow", "TokenBucket"]

WINDOW_S = 1.05
"""Bybit's one-second window plus a small margin for clock granularity."""


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

    def reserve(self, weight: float = 1.0) -> float:
        """Take `weight` tokens; return how many seconds the caller must wait to use them."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= weight
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            return max(wait, self._blocked_until - now)

    def acquire(self, weight: float = 1.0) -> float:
        """Block until `weight` tokens are available; return the seconds waited."""
        wait = self.reserve(weight)
        if wait > 0:
            self._sleep(wait)
        return wait

    def block_until(self, monotonic_ts: float) -> None:
        """Hold every caller until `monotonic_ts` (after the exchange said 10006)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, monotonic_ts)
            self._tokens = min(self._tokens, 0.0)


class RollingWindow:
    """At most `rate` weight in any `window` seconds (Bybit's rolling one-second window).

    A caller that does not fit is given the earliest time it fits (after its predecessors)
    and sleeps until then; a weight above `rate` goes alone into an empty window."""

    def __init__(self, rate: float, window: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = float(rate)
        self.window = float(window)
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[list[float]] = deque()  # [time, weight], oldest first
        self._mine = threading.local()  # this thread's last booking (see `done`)
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def reserve(self, weight: float = 1.0) -> float:
        """Book `weight` at the earliest time it fits; return the seconds until then."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            while self._sent and self._sent[0][0] <= now - self.window:
                self._sent.popleft()
            at = max(now, self._blocked_until, self._sent[-1][0] if self._sent else now)
            used = sum(w for t, w in self._sent if t > at - self.window)
            if used + weight > self.rate:
                for t, w in self._sent:  # oldest first: wait for them to leave the window
                    if t <= at - self.window:
                        continue
                    used -= w
                    at = t + self.window
                    if used + weight <= self.rate or used <= 0:
                        break
            entry = [at, weight]
            self._sent.append(entry)
            self._mine.entry = entry
            return at - now

    def done(self) -> None:
        """The request booked last by this thread got its reply: count it from now. The
        exchange counts a request when it arrives, somewhere between sending and the reply;
        booking the reply time keeps the next window clear of any network delay."""
        entry = getattr(self._mine, "entry", None)
        if entry is not None:
            with self._lock:
                entry[0] = max(entry[0], self._clock())
            self._mine.entry = None

    def acquire(self, weight: float = 1.0) -> float:
        """Block until `weight` fits in the window; return the seconds waited."""
        wait = self.reserve(weight)
        if wait > 0:
            self._sleep(wait)
        return wait

    def block_until(self, monotonic_ts: float) -> None:
        """Hold every caller until `monotonic_ts` (after the exchange said 10006)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, monotonic_ts)


class RateLimiter:
    """One limiter per endpoint class; unknown classes use the "market" one. `ban_until` is the
    monotonic time before which no request may leave at all (HTTP 403)."""

    def __init__(self, rates: Mapping[str, float], burst: int = 0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock = clock
        self.buckets: dict[str, TokenBucket | RollingWindow] = {
            name: (TokenBucket(rate, burst, clock, sleep) if burst > 0
                   else RollingWindow(rate, WINDOW_S, clock, sleep))
            for name, rate in rates.items()}
        self.buckets.setdefault("market", RollingWindow(0, WINDOW_S, clock, sleep))
        self.ban_until = 0.0

    def acquire(self, endpoint_class: str, weight: float = 1.0) -> float:
        """Wait for `weight` of `endpoint_class`; return the seconds waited."""
        return self.buckets.get(endpoint_class, self.buckets["market"]).acquire(weight)

    def done(self, endpoint_class: str) -> None:
        """The calling thread's last request of `endpoint_class` got its reply."""
        bucket = self.buckets.get(endpoint_class, self.buckets["market"])
        if isinstance(bucket, RollingWindow):
            bucket.done()

    def block(self, endpoint_class: str, seconds: float) -> None:
        """Pause a class for `seconds` (e.g. until X-Bapi-Limit-Reset-Timestamp)."""
        bucket = self.buckets.get(endpoint_class, self.buckets["market"])
        bucket.block_until(self.clock() + max(0.0, seconds))

    def ban(self, seconds: float) -> float:
        """No request at all for `seconds` (HTTP 403); returns the monotonic end time."""
        self.ban_until = max(self.ban_until, self.clock() + max(0.0, seconds))
        return self.ban_until

    def banned_for(self) -> float:
        """Seconds left of the IP ban (0 when none)."""
        return max(0.0, self.ban_until - self.clock())
