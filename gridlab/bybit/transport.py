"""The REST transport under BybitClient: one pybit HTTP session, rate limits, retries, and
pybit's failures turned into gridlab.bybit.errors (whose `action` comes from the taxonomy).

pybit's own retries are off; ours retry what the taxonomy calls retry (network, timeout, 5xx
and ambiguous codes on reads, 10006 after its reset time), never an IP ban (HTTP 403: no
request leaves for `exchange.ip_ban_wait_s`, every call raises IpRateLimited meanwhile).
Secrets never reach logs, reprs or exception messages (pybit's log_requests is off).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from gridlab.bybit.constants import endpoint_class
from gridlab.bybit.credentials import Credentials
from gridlab.bybit.errors import (
    AccountStop,
    AuthError,
    BybitError,
    IpRateLimited,
    NetworkError,
    RateLimited,
    RequestTimeout,
    ServerError,
    TransientError,
    error_from_code,
)
from gridlab.bybit.parse import Instrument
from gridlab.bybit.ratelimit import RateLimiter
from gridlab.bybit.taxonomy import nothing_to_cancel
from gridlab.config.exchange import ExchangeConfig

__all__ = ["Transport", "ceil_step", "floor_step", "format_number", "new_order_link_id"]

log = logging.getLogger("gridlab.bybit")

# pybit treats an empty retry_codes as "use the defaults"; a code Bybit never sends turns them off.
_NO_RETRY_CODES = frozenset({-1})
_MAX_PAGES = 10_000


def new_order_link_id(prefix: str = "gl") -> str:
    """A fresh orderLinkId (<= 36 chars, unique)."""
    return f"{prefix}-{uuid.uuid4().hex[:30]}"


def format_number(x: float, step: float | None = None) -> str:
    """A float as Bybit wants it: plain decimal, no exponent, trailing zeros stripped."""
    if step:
        decimals = max(0, -Decimal(repr(step)).normalize().as_tuple().exponent)
        s = f"{x:.{decimals}f}"
    else:
        s = f"{x:.10f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def floor_step(x: float, step: float) -> float:
    """`x` rounded down to a multiple of `step`."""
    return math.floor(x / step + 1e-9) * step


def ceil_step(x: float, step: float) -> float:
    """`x` rounded up to a multiple of `step`."""
    return math.ceil(x / step - 1e-9) * step


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, TransientError) and not isinstance(exc, IpRateLimited)


class Transport:
    """Session, limiter and the call/retry machinery for one category."""

    def __init__(self, config: ExchangeConfig | None = None,
                 credentials: Credentials | None = None, category: str = "linear", *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or ExchangeConfig()
        self.category = category
        self._has_keys = credentials is not None
        self._masked_key = credentials.masked_key if credentials else None
        self._sleep = sleep
        rl = self.config.rate_limits
        self.limiter = RateLimiter({"market": rl.market, "order": rl.order, "batch": rl.batch,
                                    "position": rl.position, "account": rl.account}, rl.burst,
                                   clock=clock, sleep=sleep)
        self._http = HTTP(
            testnet=self.config.env == "testnet", demo=self.config.env == "demo",
            api_key=credentials.api_key if credentials else None,
            api_secret=credentials.api_secret if credentials else None,
            recv_window=self.config.recv_window, timeout=self.config.timeout,
            max_retries=1, retry_codes=_NO_RETRY_CODES, force_retry=False, log_requests=False,
            return_response_headers=True,
        )
        self._local = threading.local()  # the last reply's headers, per calling thread
        self._http.endpoint = self.config.rest_url()
        self._instruments: dict[str, Instrument] = {}
        self.stats = {"requests": 0, "retries": 0, "lookups": 0, "orders_sent": 0}
        self.paths: dict[str, int] = {}  # requests sent per path

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(env={self.config.env!r}, url={self._http.endpoint!r}, "
                f"category={self.category!r}, api_key={self._masked_key!r})")

    def for_category(self, category: str) -> Any:
        """A client for another category sharing this one's session, limiter and stats."""
        if category == self.category:
            return self
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.category = category
        other._instruments = {}
        return other

    @property
    def endpoint(self) -> str:
        """REST base URL in use."""
        return self._http.endpoint

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.client.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- one call --------------------------------------------------------------------------

    def _check_ban(self, path: str) -> None:
        left = self.limiter.banned_for()
        if left > 0:
            err = IpRateLimited(f"HTTP 403 IP rate limit: no request to Bybit for another "
                                f"{left:.0f} s", path=path)
            err.retry_after, err.until = left, self.limiter.ban_until
            raise err

    def _invoke(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """One pybit call (unless the IP is banned), its failures turned into gridlab
        exceptions."""
        self._check_ban(path)
        self.stats["requests"] += 1
        self.paths[path] = self.paths.get(path, 0) + 1
        self._local.headers = None
        try:
            out = getattr(self._http, method)(**dict(params))
            if isinstance(out, tuple):  # (body, elapsed, headers)
                self._local.headers = out[2]
                return out[0]
            return out
        except InvalidRequestError as exc:
            if nothing_to_cancel(int(exc.status_code), path, str(exc.message)):
                return {"retCode": 0, "retMsg": "OK", "result": {"list": []}}
            err = error_from_code(int(exc.status_code), str(exc.message), path)
            if isinstance(err, IpRateLimited):
                self._ban(err)
            elif isinstance(err, RateLimited):
                err.retry_after = _reset_after(exc.resp_headers)
            if isinstance(err, AuthError) and not self._has_keys:
                err.hint = "this call needs API keys: " + (err.hint or "")
            raise err from None
        except FailedRequestError as exc:
            status = int(exc.status_code)
            if status == 403:
                err = IpRateLimited("HTTP 403: IP rate limit (600 requests / 5 s) or region "
                                    "block", path=path)
                self._ban(err)
            elif status == 429:
                err = RateLimited(f"HTTP 429: {exc.message}", code=429, path=path)
            elif status >= 500 or status in (408, 409):
                err = ServerError(f"HTTP {status}: {exc.message}", code=status, path=path)
            elif status == 401:
                err = AccountStop(f"HTTP 401: {exc.message}", code=401, path=path)
            else:
                err = BybitError(f"HTTP {status}: {exc.message}", code=status, path=path)
            raise err from None
        except requests.exceptions.ReadTimeout:
            raise RequestTimeout(f"no reply within {self.config.timeout} s", code=0,
                                 path=path) from None
        except requests.exceptions.RequestException as exc:
            raise NetworkError(f"{type(exc).__name__}", code=0, path=path) from None
        except PermissionError:
            raise AuthError("this endpoint needs API keys and none were given", code=0,
                            path=path) from None

    def reset_after(self) -> float | None:
        """Seconds until the last reply's X-Bapi-Limit-Reset-Timestamp (this thread)."""
        return _reset_after(getattr(self._local, "headers", None))

    def _ban(self, err: IpRateLimited) -> None:
        """HTTP 403: no request leaves for exchange.ip_ban_wait_s (Bybit: >= 10 minutes)."""
        wait = self.config.ip_ban_wait_s
        err.until = self.limiter.ban(wait)
        err.retry_after = wait
        log.error("Bybit refused this IP (HTTP 403, IP rate limit): sending nothing for %.0f s",
                  wait)

    # ---- retries ---------------------------------------------------------------------------

    def _backoff(self, attempt: int, exc: BaseException | None) -> float:
        """Wait before retry n: min(cap, base * 2**(n-1)) + U(0, jitter), >= retry_after."""
        r = self.config.retry
        wait = min(r.backoff_cap, r.backoff_base * 2 ** (attempt - 1))
        wait += random.uniform(0, r.jitter) if r.jitter > 0 else 0.0
        after = getattr(exc, "retry_after", None)
        if after is not None:
            wait = max(wait, min(after, max(r.backoff_cap, 1.0) * 6))
        return wait

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self._backoff(state.attempt_number, exc)

    def _before_sleep(self, state: RetryCallState) -> None:
        self.stats["retries"] += 1
        exc = state.outcome.exception() if state.outcome else None
        log.warning("retrying after %s (attempt %d)", exc, state.attempt_number)

    def _sleep_backoff(self, attempt: int, exc: BaseException) -> None:
        self.stats["retries"] += 1
        wait = self._backoff(attempt, exc)
        log.warning("retrying after %s (attempt %d, %.2f s)", exc, attempt, wait)
        self._sleep(wait)

    def _send(self, method: str, path: str, params: dict[str, Any],
              weight: float = 1.0) -> dict[str, Any]:
        """One rate-limited call (no retry); a 10006 pauses the endpoint class."""
        cls = endpoint_class(path)
        self._check_ban(path)
        self.limiter.acquire(cls, weight)
        try:
            return self._invoke(method, path, params)
        except RateLimited as exc:
            if exc.retry_after and not isinstance(exc, IpRateLimited):
                self.limiter.block(cls, exc.retry_after)
            raise
        finally:
            self.limiter.done(cls)

    def _request(self, method: str, path: str, params: dict[str, Any], *,
                 retry: bool = True) -> dict[str, Any]:
        """Rate-limited call retrying what the taxonomy calls retry; returns the JSON body."""
        if not retry:
            return self._send(method, path, params)
        retrying = Retrying(
            stop=stop_after_attempt(self.config.retry.max_attempts), wait=self._wait,
            retry=retry_if_exception(_retryable), sleep=self._sleep,
            before_sleep=self._before_sleep, reraise=True,
        )
        return retrying(self._send, method, path, params)

    def _result(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._request(method, path, params)["result"]

    def _paged(self, method: str, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """All pages of a cursor-paged list endpoint."""
        rows: list[dict[str, Any]] = []
        params = dict(params)
        for _ in range(_MAX_PAGES):
            res = self._result(method, path, params)
            page = res.get("list", [])
            rows.extend(page)
            cursor = res.get("nextPageCursor") or ""
            if not cursor or not page:
                break
            params["cursor"] = cursor
        return rows

    def _scope(self, symbol: str | None) -> dict[str, Any]:
        """category + symbol, or settleCoin=USDT for linear calls over all symbols."""
        params: dict[str, Any] = {"category": self.category}
        if symbol:
            params["symbol"] = symbol
        elif self.category == "linear":
            params["settleCoin"] = "USDT"
        return params


def _reset_after(headers: Any) -> float | None:
    """Seconds until X-Bapi-Limit-Reset-Timestamp (None when absent or unreadable)."""
    if not headers:
        return None
    raw = headers.get("X-Bapi-Limit-Reset-Timestamp")
    if raw is None:
        return None
    try:
        return max(0.0, (int(raw) - time.time() * 1000) / 1000)
    except (TypeError, ValueError):
        return None
