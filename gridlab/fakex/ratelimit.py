"""Per-UID API rate limits of the local exchange, as docs/v5/rate-limit describes them.

- A rolling one-second window per (api key, endpoint group); a group is one path, and the batch
  endpoints are groups of their own ("Instructions for batch endpoints": they do not share the
  single-order limits).
- A batch request weighs as many units as it has items; items past the window's room get
  retCode 10006 in their retExtInfo entry, and a request with no room at all gets 10006.
- Every limited reply carries X-Bapi-Limit (the limit), X-Bapi-Limit-Status (what is left) and
  X-Bapi-Limit-Reset-Timestamp: the current time while under the limit, and when over it the
  (future) time the window has room again - pybit sleeps until that time. pybit computes its
  sleep only after the reply arrived and crashes on a negative one, so that time is at least
  `RESET_MARGIN_MS` ahead.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

__all__ = ["BATCH_PATHS", "DEFAULT_RATE_LIMITS", "RateLimits", "Verdict"]

# Bybit's per-UID defaults for a UTA account trading linear (docs/v5/rate-limit, "API Rate Limit
# Table"); spot order entry is 20/s there, the linear figure is used for both here.
DEFAULT_RATE_LIMITS: dict[str, int] = {
    "/v5/order/create": 10, "/v5/order/amend": 10, "/v5/order/cancel": 10,
    "/v5/order/cancel-all": 10, "/v5/order/create-batch": 10, "/v5/order/amend-batch": 10,
    "/v5/order/cancel-batch": 10, "/v5/order/realtime": 50, "/v5/order/history": 50,
    "/v5/execution/list": 50, "/v5/position/list": 50, "/v5/position/set-leverage": 10,
    "/v5/account/wallet-balance": 50, "/v5/account/fee-rate": 10,
}
BATCH_PATHS = ("/v5/order/create-batch", "/v5/order/amend-batch", "/v5/order/cancel-batch")

_WINDOW_MS = 1000
RESET_MARGIN_MS = 100


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Verdict:
    """The outcome of one request's check: how many units were granted, and the headers."""

    granted: int
    wanted: int
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        """True when the request may run at all (a batch may run with fewer items)."""
        return self.granted > 0 or self.wanted == 0


class RateLimits:
    """Rolling one-second windows per (api key, path)."""

    def __init__(self, limits: dict[str, int] | None) -> None:
        self.limits: dict[str, int] = dict(limits or {})
        self._windows: dict[tuple[str, str], deque[tuple[int, int]]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, path: str, weight: int = 1,
              now_ms: int | None = None) -> Verdict:
        """Take up to `weight` units of the window of (key, path) (a batch: its item count)."""
        limit = self.limits.get(path)
        if not limit:
            return Verdict(weight, weight)
        now = _now_ms() if now_ms is None else now_ms
        with self._lock:
            w = self._windows.setdefault((key, path), deque())
            while w and w[0][0] <= now - _WINDOW_MS:
                w.popleft()
            used = sum(n for _, n in w)
            granted = max(0, min(weight, limit - used))
            if granted:
                w.append((now, granted))
                used += granted
            reset = now
            if granted < weight:  # over: when the window has room again
                reset = w[0][0] + _WINDOW_MS if w else now + 1
        headers = {"X-Bapi-Limit": str(limit), "X-Bapi-Limit-Status": str(max(0, limit - used)),
                   "X-Bapi-Limit-Reset-Timestamp": str(max(reset, now + RESET_MARGIN_MS)
                                                       if granted < weight else reset)}
        return Verdict(granted, weight, headers)
