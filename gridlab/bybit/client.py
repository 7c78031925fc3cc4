"""BybitClient: the project's one REST door to Bybit v5. The only module that imports pybit
(it re-exports pybit's WebSocket as `PybitWebSocket` for gridlab.bybit.ws).

Rate limiting (token bucket per endpoint class) and retries (exponential backoff + jitter, via
tenacity) are ours: pybit's own retries are switched off. Orders are placed idempotently by
orderLinkId. Secrets never reach logs, reprs or exception messages (pybit's log_requests off).
"""

from __future__ import annotations

import logging
import math
import random
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP
from pybit.unified_trading import WebSocket as PybitWebSocket
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from gridlab.bybit.constants import endpoint_class
from gridlab.bybit.credentials import Credentials
from gridlab.bybit.errors import (
    AuthError,
    BybitError,
    DuplicateOrderLinkId,
    InvalidParameter,
    LeverageNotModified,
    NetworkError,
    OrderNotFound,
    RateLimited,
    RequestTimeout,
    ServerError,
    TransientError,
    error_from_code,
)
from gridlab.bybit.parse import (
    Execution,
    FeeRate,
    FundingRate,
    Instrument,
    Kline,
    Order,
    OrderAck,
    Position,
    PublicTrade,
    RiskLimitTier,
    Ticker,
    Wallet,
    parse_execution,
    parse_fee_rate,
    parse_funding,
    parse_instrument,
    parse_klines,
    parse_order,
    parse_position,
    parse_public_trade,
    parse_risk_limit,
    parse_ticker,
    parse_wallet,
    side_to_str,
)
from gridlab.bybit.ratelimit import RateLimiter
from gridlab.config.exchange import ExchangeConfig

__all__ = ["BybitClient", "PybitWebSocket", "format_number", "new_order_link_id"]

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


def _floor_step(x: float, step: float) -> float:
    return math.floor(x / step + 1e-9) * step


def _ceil_step(x: float, step: float) -> float:
    return math.ceil(x / step - 1e-9) * step


class BybitClient:
    """Typed Bybit v5 REST calls for one category ("linear" or "spot").

    Every call waits for its endpoint class's token, retries transient failures
    (network, timeout, HTTP 5xx, 10006) per `config.retry`, and returns gridlab types.
    """

    def __init__(self, config: ExchangeConfig | None = None,
                 credentials: Credentials | None = None, category: str = "linear", *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config or ExchangeConfig()
        self.category = category
        self._has_keys = credentials is not None
        self._masked_key = credentials.masked_key if credentials else None
        self._sleep = sleep
        rl = self.config.rate_limits
        self.limiter = RateLimiter({"market": rl.market, "order": rl.order,
                                    "position": rl.position, "account": rl.account}, rl.burst)
        self._http = HTTP(
            testnet=self.config.env == "testnet", demo=self.config.env == "demo",
            api_key=credentials.api_key if credentials else None,
            api_secret=credentials.api_secret if credentials else None,
            recv_window=self.config.recv_window, timeout=self.config.timeout,
            max_retries=1, retry_codes=_NO_RETRY_CODES, force_retry=False, log_requests=False,
        )
        self._http.endpoint = self.config.rest_url()
        self._instruments: dict[str, Instrument] = {}
        self.stats = {"requests": 0, "retries": 0, "lookups": 0}

    def __repr__(self) -> str:
        return (f"BybitClient(env={self.config.env!r}, url={self._http.endpoint!r}, "
                f"category={self.category!r}, api_key={self._masked_key!r})")

    def for_category(self, category: str) -> BybitClient:
        """A client for another category sharing this one's session, limiter and cache."""
        if category == self.category:
            return self
        other = object.__new__(BybitClient)
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

    def __enter__(self) -> BybitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transport -------------------------------------------------------------------------

    def _invoke(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """One pybit call, its failures turned into gridlab exceptions."""
        self.stats["requests"] += 1
        try:
            return getattr(self._http, method)(**dict(params))
        except InvalidRequestError as exc:
            err = error_from_code(int(exc.status_code), str(exc.message), path)
            if isinstance(err, RateLimited):
                err.retry_after = _reset_after(exc.resp_headers)
            if isinstance(err, AuthError) and not self._has_keys:
                err.hint = "this call needs API keys: " + (err.hint or "")
            raise err from None
        except FailedRequestError as exc:
            status = int(exc.status_code)
            if status == 403:
                err: BybitError = RateLimited("HTTP 403: IP rate limit (or region block)",
                                              code=403, path=path)
                err.retry_after = _reset_after(exc.resp_headers)
            elif status >= 500 or status in (408, 409, 429):
                err = ServerError(f"HTTP {status}: {exc.message}", code=status, path=path)
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

    def _request(self, method: str, path: str, params: dict[str, Any], *,
                 retry: bool = True) -> dict[str, Any]:
        """Rate-limited call with retries of transient failures; returns the JSON body."""
        cls = endpoint_class(path)

        def once() -> dict[str, Any]:
            self.limiter.acquire(cls)
            try:
                return self._invoke(method, path, params)
            except RateLimited as exc:
                if exc.retry_after:
                    self.limiter.block(cls, exc.retry_after)
                raise

        if not retry:
            return once()
        retrying = Retrying(
            stop=stop_after_attempt(self.config.retry.max_attempts), wait=self._wait,
            retry=retry_if_exception_type(TransientError), sleep=self._sleep,
            before_sleep=self._before_sleep, reraise=True,
        )
        return retrying(once)

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

    # ---- market ----------------------------------------------------------------------------

    def get_server_time(self) -> int:
        """Exchange time, epoch ms."""
        body = self._request("get_server_time", "/v5/market/time", {})
        res = body.get("result", {})
        if res.get("timeNano"):
            return int(res["timeNano"]) // 1_000_000
        return int(body.get("time") or int(res["timeSecond"]) * 1000)

    def get_instruments(self, symbol: str | None = None) -> list[Instrument]:
        """Trading rules; all symbols of the category when `symbol` is None."""
        params: dict[str, Any] = {"category": self.category, "limit": 1000}
        if symbol:
            params["symbol"] = symbol
        out = [parse_instrument(d, self.category)
               for d in self._paged("get_instruments_info", "/v5/market/instruments-info",
                                    params)]
        for inst in out:
            self._instruments[inst.symbol] = inst
        return out

    def get_instrument(self, symbol: str, *, refresh: bool = False) -> Instrument:
        """One symbol's rules (cached); InvalidParameter if the exchange does not list it."""
        if refresh or symbol not in self._instruments:
            found = self.get_instruments(symbol)
            if not any(i.symbol == symbol for i in found):
                raise InvalidParameter(f"unknown {self.category} symbol {symbol}",
                                       "check the symbol spelling and the category",
                                       path="/v5/market/instruments-info")
        return self._instruments[symbol]

    def get_tickers(self, symbol: str | None = None) -> list[Ticker]:
        """Tickers of one symbol or the whole category."""
        params: dict[str, Any] = {"category": self.category}
        if symbol:
            params["symbol"] = symbol
        body = self._request("get_tickers", "/v5/market/tickers", params)
        ts = int(body.get("time") or 0)
        return [parse_ticker(d, ts) for d in body["result"].get("list", [])]

    def get_risk_limits(self, symbol: str) -> list[RiskLimitTier]:
        """Risk-limit tiers of one symbol (linear/inverse), all pages."""
        params: dict[str, Any] = {"category": self.category, "symbol": symbol}
        rows = self._paged("get_risk_limit", "/v5/market/risk-limit", params)
        return [parse_risk_limit(d) for d in rows if d.get("symbol", symbol) == symbol]

    def get_ticker(self, symbol: str) -> Ticker:
        """One symbol's ticker."""
        found = self.get_tickers(symbol)
        if not found:
            raise InvalidParameter(f"no ticker for {symbol}", path="/v5/market/tickers")
        return found[0]

    def get_klines(self, symbol: str, interval: str | int, start_ms: int | None = None,
                   end_ms: int | None = None, limit: int = 1000) -> list[Kline]:
        """One page of bars (at most `limit`, the newest in [start, end]), oldest first."""
        params: dict[str, Any] = {"category": self.category, "symbol": symbol,
                                  "interval": str(interval), "limit": limit,
                                  "start": start_ms, "end": end_ms}
        res = self._result("get_kline", "/v5/market/kline",
                           {k: v for k, v in params.items() if v is not None})
        return parse_klines(res.get("list", []))

    def get_funding_history(self, symbol: str, start_ms: int | None = None,
                            end_ms: int | None = None, limit: int = 200) -> list[FundingRate]:
        """One page of settled funding rates (the newest `limit` in range), oldest first."""
        params: dict[str, Any] = {"category": self.category, "symbol": symbol, "limit": limit,
                                  "startTime": start_ms, "endTime": end_ms}
        res = self._result("get_funding_rate_history", "/v5/market/funding/history",
                           {k: v for k, v in params.items() if v is not None})
        return sorted((parse_funding(d) for d in res.get("list", [])), key=lambda f: f.ts)

    def get_recent_trades(self, symbol: str, limit: int = 500) -> list[PublicTrade]:
        """The latest public trades, oldest first."""
        res = self._result("get_public_trade_history", "/v5/market/recent-trade",
                           {"category": self.category, "symbol": symbol, "limit": limit})
        rows = [parse_public_trade(d) for d in reversed(res.get("list", []))]  # newest first
        return sorted(rows, key=lambda t: t.ts)

    # ---- account ---------------------------------------------------------------------------

    def get_wallet_balance(self, account_type: str = "UNIFIED") -> Wallet:
        """Balances of the unified account."""
        res = self._result("get_wallet_balance", "/v5/account/wallet-balance",
                           {"accountType": account_type})
        accounts = res.get("list", [])
        if not accounts:
            return Wallet(0.0, 0.0, 0.0)
        return parse_wallet(accounts[0])

    def get_fee_rates(self, symbol: str) -> FeeRate:
        """Maker/taker rates of one symbol (read live: they depend on tier and region)."""
        res = self._result("get_fee_rates", "/v5/account/fee-rate",
                           {"category": self.category, "symbol": symbol})
        for d in res.get("list", []):
            if d.get("symbol") in (symbol, "", None):
                return parse_fee_rate({**d, "symbol": symbol})
        raise InvalidParameter(f"no fee rate for {symbol}", path="/v5/account/fee-rate")

    # ---- orders ----------------------------------------------------------------------------

    def place_order(self, symbol: str, side: int | str, qty: float, price: float | None = None,
                    order_type: str = "Limit", time_in_force: str = "PostOnly",
                    order_link_id: str | None = None, reduce_only: bool = False) -> OrderAck:
        """Place an order idempotently by orderLinkId (generated when not given).

        After a timeout, network error or 5xx the order is looked up by orderLinkId before any
        retry, so a retry never makes a duplicate; a 110072 "duplicate orderLinkId" reply means
        "already placed" (`existed=True`). A 10001 reply rounds qty/price to the instrument's
        step/tick once and retries. Other exchange refusals raise their typed BybitError.
        """
        link = order_link_id or new_order_link_id()
        if len(link) > 36:
            raise InvalidParameter(f"orderLinkId {link!r} is longer than 36 characters")
        if order_type == "Limit" and price is None:
            raise InvalidParameter("a Limit order needs a price")
        tif = "IOC" if order_type == "Market" and time_in_force == "PostOnly" else time_in_force
        params: dict[str, Any] = {
            "category": self.category, "symbol": symbol, "side": side_to_str(side),
            "orderType": order_type, "qty": format_number(qty), "timeInForce": tif,
            "orderLinkId": link,
        }
        if order_type == "Limit":
            params["price"] = format_number(float(price))  # type: ignore[arg-type]
        if reduce_only:
            params["reduceOnly"] = True
        if self.category == "linear":
            params["positionIdx"] = 0
        path = "/v5/order/create"
        max_attempts = self.config.retry.max_attempts
        rounded = False
        attempt = 0
        while True:
            attempt += 1
            self.limiter.acquire("order")
            try:
                res = self._invoke("place_order", path, params)["result"]
                return OrderAck(res.get("orderId", ""), res.get("orderLinkId") or link)
            except DuplicateOrderLinkId:
                found = self.find_order(symbol, link)
                return OrderAck(found.order_id if found else "", link, existed=True)
            except InvalidParameter:
                if rounded:
                    raise
                fixed = self._round_to_filters(symbol, params)
                if fixed == params:
                    raise
                log.info("place_order %s: 10001, retrying once with qty/price rounded", link)
                params, rounded = fixed, True
            except RateLimited as exc:  # refused before matching: plain retry
                if attempt >= max_attempts:
                    raise
                if exc.retry_after:
                    self.limiter.block("order", exc.retry_after)
                self._sleep_backoff(attempt, exc)
            except TransientError as exc:  # ambiguous: the order may exist
                if attempt >= max_attempts:
                    raise
                self._sleep_backoff(attempt, exc)
                found = self.find_order(symbol, link)
                if found is not None:
                    log.info("place_order %s: found after %s; not placing again", link, exc)
                    return OrderAck(found.order_id, link, existed=True)

    def _sleep_backoff(self, attempt: int, exc: BaseException) -> None:
        self.stats["retries"] += 1
        wait = self._backoff(attempt, exc)
        log.warning("retrying after %s (attempt %d, %.2f s)", exc, attempt, wait)
        self._sleep(wait)

    def _round_to_filters(self, symbol: str, params: dict[str, Any]) -> dict[str, Any]:
        """qty floored to the step; price floored (buy) / ceiled (sell) to the tick."""
        inst = self.get_instrument(symbol)
        out = dict(params)
        if inst.qty_step > 0:
            out["qty"] = format_number(_floor_step(float(params["qty"]), inst.qty_step),
                                       inst.qty_step)
        if "price" in params and inst.tick_size > 0:
            p = float(params["price"])
            p = (_floor_step if params["side"] == "Buy" else _ceil_step)(p, inst.tick_size)
            out["price"] = format_number(p, inst.tick_size)
        return out

    def find_order(self, symbol: str, order_link_id: str) -> Order | None:
        """Look an order up by orderLinkId: open orders first, then history."""
        self.stats["lookups"] += 1
        for method, path in (("get_open_orders", "/v5/order/realtime"),
                             ("get_order_history", "/v5/order/history")):
            res = self._result(method, path, {"category": self.category, "symbol": symbol,
                                              "orderLinkId": order_link_id})
            for d in res.get("list", []):
                if d.get("orderLinkId") == order_link_id:
                    return parse_order(d)
        return None

    def cancel_order(self, symbol: str, order_id: str | None = None,
                     order_link_id: str | None = None, *, missing_ok: bool = False) -> bool:
        """Cancel one order. True when cancelled; False if it was already gone and missing_ok.

        A 110001 reply after an ambiguous (timed-out) attempt counts as cancelled.
        """
        if not order_id and not order_link_id:
            raise InvalidParameter("cancel_order needs order_id or order_link_id")
        params: dict[str, Any] = {"category": self.category, "symbol": symbol}
        if order_id:
            params["orderId"] = order_id
        else:
            params["orderLinkId"] = order_link_id
        ambiguous = False
        for attempt in range(1, self.config.retry.max_attempts + 1):
            self.limiter.acquire("order")
            try:
                self._invoke("cancel_order", "/v5/order/cancel", params)
                return True
            except OrderNotFound:
                if ambiguous:
                    return True
                if missing_ok:
                    return False
                raise
            except TransientError as exc:
                if attempt >= self.config.retry.max_attempts:
                    raise
                ambiguous = ambiguous or not isinstance(exc, RateLimited)
                self._sleep_backoff(attempt, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def cancel_all_orders(self, symbol: str | None = None) -> list[str]:
        """Cancel every open order (of `symbol`, or all USDT perps); returns the orderIds."""
        res = self._result("cancel_all_orders", "/v5/order/cancel-all", self._scope(symbol))
        return [d.get("orderId", "") for d in res.get("list", [])]

    def get_open_orders(self, symbol: str | None = None, *, order_id: str | None = None,
                        order_link_id: str | None = None) -> list[Order]:
        """Open orders, all pages (50 per page, cursor)."""
        params = self._scope(symbol)
        params["limit"] = 50
        if order_id:
            params["orderId"] = order_id
        if order_link_id:
            params["orderLinkId"] = order_link_id
        return [parse_order(d) for d in self._paged("get_open_orders", "/v5/order/realtime",
                                                    params)]

    def get_order_history(self, symbol: str | None = None, *, order_id: str | None = None,
                          order_link_id: str | None = None, start_ms: int | None = None,
                          end_ms: int | None = None, max_pages: int = 20) -> list[Order]:
        """Closed (and recent) orders, newest first, up to `max_pages` pages of 50."""
        params = self._scope(symbol)
        params.update({"limit": 50, "orderId": order_id, "orderLinkId": order_link_id,
                       "startTime": start_ms, "endTime": end_ms})
        params = {k: v for k, v in params.items() if v is not None}
        rows: list[dict[str, Any]] = []
        for _ in range(max_pages):
            res = self._result("get_order_history", "/v5/order/history", params)
            rows.extend(res.get("list", []))
            cursor = res.get("nextPageCursor") or ""
            if not cursor or not res.get("list"):
                break
            params["cursor"] = cursor
        return [parse_order(d) for d in rows]

    def get_executions(self, symbol: str | None = None, start_ms: int | None = None,
                       end_ms: int | None = None, *,
                       order_id: str | None = None) -> list[Execution]:
        """Fills since `start_ms`, all pages (100 per page, cursor), oldest first."""
        params: dict[str, Any] = {"category": self.category, "limit": 100, "symbol": symbol,
                                  "startTime": start_ms, "endTime": end_ms, "orderId": order_id}
        rows = self._paged("get_executions", "/v5/execution/list",
                           {k: v for k, v in params.items() if v is not None})
        out = [parse_execution(d) for d in reversed(rows)]  # the exchange sends newest first
        return sorted(out, key=lambda e: e.exec_time)

    # ---- positions -------------------------------------------------------------------------

    def get_positions(self, symbol: str | None = None) -> list[Position]:
        """Positions (one-way mode), all pages."""
        params = self._scope(symbol)
        params["limit"] = 200
        return [parse_position(d) for d in self._paged("get_positions", "/v5/position/list",
                                                       params)]

    def set_leverage(self, symbol: str, leverage: float) -> bool:
        """Set buy and sell leverage; True if changed, False if it already was (110043)."""
        lev = format_number(leverage)
        try:
            self._request("set_leverage", "/v5/position/set-leverage",
                          {"category": self.category, "symbol": symbol, "buyLeverage": lev,
                           "sellLeverage": lev})
        except LeverageNotModified:
            return False
        return True


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

