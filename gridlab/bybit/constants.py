"""Bybit v5 constants: endpoints per env, paths, endpoint classes, error codes, kline intervals."""

from __future__ import annotations

from gridlab.config.exchange import REST_URLS, WS_PRIVATE_URLS, WS_PUBLIC_URLS

__all__ = [
    "BATCH_MAX",
    "ENDPOINT_CLASS",
    "INTERVAL_MS",
    "KLINE_INTERVALS",
    "REST_URLS",
    "WS_PRIVATE_URLS",
    "WS_PUBLIC_URLS",
    "Code",
    "endpoint_class",
    "interval_ms",
]

# REST path -> rate-limit class (client token buckets; the local exchange uses the same table).
ENDPOINT_CLASS: dict[str, str] = {
    "/v5/market/time": "market",
    "/v5/market/kline": "market",
    "/v5/market/instruments-info": "market",
    "/v5/market/tickers": "market",
    "/v5/market/recent-trade": "market",
    "/v5/market/funding/history": "market",
    "/v5/order/create": "order",
    "/v5/order/amend": "order",
    "/v5/order/cancel": "order",
    "/v5/order/cancel-all": "order",
    "/v5/order/realtime": "order",
    "/v5/order/history": "order",
    "/v5/execution/list": "order",
    # a batch request weighs its number of orders (Bybit counts batch endpoints by orders)
    "/v5/order/create-batch": "batch",
    "/v5/order/amend-batch": "batch",
    "/v5/order/cancel-batch": "batch",
    "/v5/position/list": "position",
    "/v5/position/set-leverage": "position",
    "/v5/account/wallet-balance": "account",
    "/v5/account/fee-rate": "account",
}


BATCH_MAX: dict[str, int] = {"linear": 20, "inverse": 20, "option": 20, "spot": 10}
"""Orders per create/amend/cancel-batch request (Bybit v5 docs, order/batch-place)."""


def endpoint_class(path: str) -> str:
    """Rate-limit class of a REST path ("market" when unknown)."""
    return ENDPOINT_CLASS.get(path, "market")


class Code:
    """Bybit retCodes the project handles."""

    OK = 0
    PARAM_ERROR = 10001
    TIMESTAMP = 10002
    INVALID_KEY = 10003
    BAD_SIGN = 10004
    PERMISSION = 10005
    RATE_LIMIT = 10006
    IP_BANNED = 10010
    ORDER_NOT_FOUND = 110001
    INSUFFICIENT_BALANCE = 110007
    QTY_TO_ZERO = 110017
    LEVERAGE_NOT_MODIFIED = 110043
    DUPLICATE_LINK_ID = 110072
    NOTIONAL_TOO_SMALL = 110094
    SPOT_INSUFFICIENT_BALANCE = 170131
    SPOT_PRICE_DECIMALS = 170134
    SPOT_QTY_TOO_SMALL = 170136
    SPOT_QTY_DECIMALS = 170137
    SPOT_VALUE_TOO_SMALL = 170140
    SPOT_ORDER_NOT_FOUND = 170213


KLINE_INTERVALS: tuple[str, ...] = (
    "1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M",
)
_MIN = 60_000
INTERVAL_MS: dict[str, int] = {
    **{i: int(i) * _MIN for i in KLINE_INTERVALS if i.isdigit()},
    "D": 86_400_000,
    "W": 7 * 86_400_000,
    "M": 31 * 86_400_000,  # upper bound; months are irregular
}


def interval_ms(interval: str | int) -> int:
    """Length of a kline interval in ms (months: 31 days, an upper bound)."""
    key = str(interval)
    if key not in INTERVAL_MS:
        raise ValueError(f"unknown kline interval {interval!r}; use one of {KLINE_INTERVALS}")
    return INTERVAL_MS[key]
