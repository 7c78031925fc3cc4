"""Fault injection for the local exchange: set from tests (the handle's `.faults`) or over HTTP
(POST /admin/faults with {"action": ..., ...}, loopback only, no auth).

HTTP faults are rules consumed one request at a time (count), optionally limited to a path
prefix: `http_error` (5xx), `timeout` (sleep past the client's timeout, before or - for
order/create - after the order was accepted), `rate_limit` (10006 storm), `reject_orders`
(forced retCode on order/create), `ambiguous` (the request is carried out - the order accepted
and resting - and the reply is retCode 10000 "Server Timeout" / 10016 "Server error", as Bybit
may answer; docs/v5/error). Stream faults: `drop_ws` (close or abort connections),
`delay_acks` (slow subscribe acks). `latency` delays every REST reply. `restart` restarts the
server with its state.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Faults", "HttpFault"]


@dataclass
class HttpFault:
    """One rule: applies to the next `count` matching requests."""

    kind: str  # "status" | "timeout" | "rate_limit" | "reject" | "ambiguous"
    count: int = 1
    path: str | None = None  # prefix, e.g. "/v5/order/create"; None = any path
    status: int = 503
    seconds: float = 5.0
    after_accept: bool = False
    code: int = 110007
    msg: str = "ab not enough for new order"

    def matches(self, path: str) -> bool:
        return self.count > 0 and (self.path is None or path.startswith(self.path))

    @property
    def late(self) -> bool:
        """True when the rule fires after the request was carried out."""
        return self.kind == "ambiguous" or (self.kind == "timeout" and self.after_accept)


class Faults:
    """Thread-safe fault switches shared by the server and the tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: list[HttpFault] = []
        self.ws_ack_delay = 0.1  # seconds before a subscribe ack / first push (pybit's race)
        self.latency = 0.0  # seconds added to every REST reply
        self.fired: Counter[str] = Counter()
        self.drop_hook: Callable[[str, bool], int] | None = None  # set by the server
        self.restart_hook: Callable[[], None] | None = None  # set by the handle

    def _add(self, rule: HttpFault) -> HttpFault:
        with self._lock:
            self.rules.append(rule)
        return rule

    def http_error(self, count: int = 1, status: int = 503, path: str | None = None) -> HttpFault:
        """The next `count` requests get HTTP `status` (5xx)."""
        return self._add(HttpFault("status", count, path, status=status))

    def timeout(self, count: int = 1, seconds: float = 5.0, path: str | None = None,
                after_accept: bool = False) -> HttpFault:
        """The next `count` requests hang `seconds` before replying; with `after_accept`
        (order/create only) the order is placed first, so only the reply is lost."""
        return self._add(HttpFault("timeout", count, path, seconds=seconds,
                                   after_accept=after_accept))

    def rate_limit(self, count: int = 1, path: str | None = None) -> HttpFault:
        """The next `count` private requests get retCode 10006 (with a future reset time)."""
        return self._add(HttpFault("rate_limit", count, path))

    def reject_orders(self, count: int = 1, code: int = 110007,
                      msg: str = "ab not enough for new order") -> HttpFault:
        """The next `count` order/create calls are refused with `code`."""
        return self._add(HttpFault("reject", count, "/v5/order/create", code=code, msg=msg))

    def ambiguous(self, count: int = 1, code: int = 10016, path: str = "/v5/order/create",
                  msg: str | None = None) -> HttpFault:
        """The next `count` requests under `path` are carried out (an order/create: the order
        is accepted and rests) and then answered with retCode `code` (10000 or 10016)."""
        if code not in (10000, 10016):
            raise ValueError(f"ambiguous faults are retCode 10000 or 10016, not {code}")
        text = msg or ("Server Timeout" if code == 10000 else "Server error")
        return self._add(HttpFault("ambiguous", count, path, code=code, msg=text))

    def delay_acks(self, seconds: float) -> None:
        """Delay WebSocket subscribe acks (and first pushes) by `seconds`."""
        self.ws_ack_delay = seconds

    def set_latency(self, seconds: float) -> None:
        """Delay every REST reply by `seconds`."""
        self.latency = seconds

    def drop_ws(self, which: str = "all", abrupt: bool = False) -> int:
        """Close ("all", "public", "private") stream connections; returns how many."""
        self.fired["drop_ws"] += 1
        return self.drop_hook(which, abrupt) if self.drop_hook else 0

    def restart(self) -> None:
        """Restart the server, keeping its state (needs a handle that supports it)."""
        if self.restart_hook is None:
            raise RuntimeError("this server was not started by a FakeExchange handle")
        self.fired["restart"] += 1
        self.restart_hook()

    def clear(self) -> None:
        """Remove every rule and reset delays."""
        with self._lock:
            self.rules.clear()
        self.ws_ack_delay = 0.1
        self.latency = 0.0

    def take(self, path: str, *, private: bool, after_accept: bool = False) -> HttpFault | None:
        """Consume and return the first rule that applies to this request (or None)."""
        with self._lock:
            for rule in self.rules:
                if not rule.matches(path):
                    continue
                if after_accept != rule.late:
                    continue
                if rule.kind == "rate_limit" and not private:
                    continue
                rule.count -= 1
                self.fired[rule.kind] += 1
                self.rules = [r for r in self.rules if r.count > 0]
                return rule
        return None

    def to_dict(self) -> dict[str, Any]:
        """State for GET /admin/faults."""
        with self._lock:
            return {"rules": [asdict(r) for r in self.rules], "ws_ack_delay": self.ws_ack_delay,
                    "latency": self.latency, "fired": dict(self.fired)}

    def apply(self, spec: dict[str, Any]) -> Any:
        """Run one admin action: {"action": name, **keywords of that method}."""
        spec = dict(spec)
        action = spec.pop("action", None)
        actions: dict[str, Callable[..., Any]] = {
            "http_error": self.http_error, "timeout": self.timeout,
            "rate_limit": self.rate_limit, "reject_orders": self.reject_orders,
            "ambiguous": self.ambiguous,
            "delay_acks": self.delay_acks, "latency": self.set_latency,
            "drop_ws": self.drop_ws, "restart": self.restart, "clear": self.clear,
        }
        if action not in actions:
            raise ValueError(f"unknown fault action {action!r}; one of {sorted(actions)}")
        out = actions[action](**spec)
        return asdict(out) if isinstance(out, HttpFault) else out
