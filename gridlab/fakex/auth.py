"""Request signing checks exactly as Bybit v5 (and pybit) do them.

REST: X-BAPI-SIGN = hex HMAC-SHA256(secret, timestamp + api_key + recv_window + payload), payload
= the raw query string (GET) or the raw body (POST). Unknown key -> 10003; timestamp outside
[server - recv_window, server + 1000) -> 10002; wrong signature -> 10004.
WebSocket: args [api_key, expires, hex HMAC(secret, "GET/realtime" + expires)], expires ahead.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

__all__ = ["AuthFailure", "sign", "verify_rest", "verify_ws"]


class AuthFailure(Exception):
    """Refused authentication; `code` is the Bybit retCode."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


def sign(secret: str, message: str) -> str:
    """Hex HMAC-SHA256 as pybit computes it."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_rest(headers: Mapping[str, str], payload: str, secret_of: Callable[[str], str | None],
                now_ms: int | None = None) -> str:
    """Check a signed REST request; return its api key or raise AuthFailure."""
    key = headers.get("x-bapi-api-key") or ""
    secret = secret_of(key) if key else None
    if secret is None:
        raise AuthFailure(10003, "API key is invalid.")
    try:
        ts = int(headers.get("x-bapi-timestamp") or "")
        recv = int(headers.get("x-bapi-recv-window") or "5000")
    except ValueError:
        raise AuthFailure(10002, "invalid request, please check your timestamp") from None
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if not now - recv <= ts < now + 1000:
        raise AuthFailure(10002, f"invalid request, please check your server timestamp or "
                                 f"recv_window param. req_timestamp[{ts}],server_timestamp[{now}],"
                                 f"recv_window[{recv}]")
    expected = sign(secret, f"{ts}{key}{recv}{payload}")
    if not hmac.compare_digest(expected, headers.get("x-bapi-sign") or ""):
        raise AuthFailure(10004, "error sign! origin_string[not shown]")
    return key


def verify_ws(args: list, secret_of: Callable[[str], str | None],
              now_ms: int | None = None) -> str:
    """Check a WebSocket auth message's args; return the api key or raise AuthFailure."""
    if len(args) != 3:
        raise AuthFailure(10001, "Params Error")
    key, expires, signature = str(args[0]), args[1], str(args[2])
    secret = secret_of(key)
    if secret is None:
        raise AuthFailure(10003, "Invalid apikey")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        exp = int(expires)
    except (TypeError, ValueError):
        raise AuthFailure(10001, "Params Error") from None
    if exp <= now:
        raise AuthFailure(10002, "Params Error: expires is in the past")
    if not hmac.compare_digest(sign(secret, f"GET/realtime{exp}"), signature):
        raise AuthFailure(10004, "Invalid sign")
    return key
