"""Bybit retCodes and transport failures as typed gridlab exceptions (never carrying secrets)."""

from __future__ import annotations

from gridlab.bybit.constants import Code
from gridlab.errors import ExchangeError

__all__ = [
    "AuthError",
    "BybitError",
    "DuplicateOrderLinkId",
    "InsufficientBalance",
    "InvalidParameter",
    "LeverageNotModified",
    "NetworkError",
    "NotionalTooSmall",
    "OrderNotFound",
    "QtyTooSmall",
    "RateLimited",
    "RequestTimeout",
    "ServerError",
    "TimestampError",
    "TransientError",
    "error_from_code",
]


class BybitError(ExchangeError):
    """A request to Bybit failed; `code` is Bybit's retCode (or the HTTP status, or 0)."""

    code: int = 0
    default_hint: str | None = None

    def __init__(self, message: str, hint: str | None = None, *, code: int | None = None,
                 path: str = "") -> None:
        if code is not None:
            self.code = code
        self.path = path
        prefix = f"{path}: " if path else ""
        super().__init__(f"{prefix}{message} (retCode {self.code})", hint or self.default_hint)


class TransientError(BybitError):
    """A failure worth retrying: the request may not have reached the exchange's book."""

    retry_after: float | None = None  # seconds, when the exchange says how long to wait


class NetworkError(TransientError):
    """Connection refused/reset: the request may or may not have been processed."""

    default_hint = "check the network / that the exchange (or local exchange) is running"


class RequestTimeout(TransientError):
    """No reply in time: the request may or may not have been processed."""

    default_hint = "raise exchange.timeout or check the network"


class ServerError(TransientError):
    """HTTP 5xx (or an unreadable body) from the exchange."""

    default_hint = "the exchange is having trouble; retry later"


class RateLimited(TransientError):
    """10006 (or HTTP 403 IP limit): too many requests."""

    code = Code.RATE_LIMIT
    default_hint = "lower exchange.rate_limits or spread requests out"


class InvalidParameter(BybitError):
    """10001: a parameter is wrong (often price/qty not on the instrument's tick/step)."""

    code = Code.PARAM_ERROR
    default_hint = "round price to tickSize and qty to qtyStep (see get_instruments)"


class TimestampError(BybitError):
    """10002: the request timestamp is outside recv_window."""

    code = Code.TIMESTAMP
    default_hint = "sync the system clock (NTP) or raise exchange.recv_window"


class AuthError(BybitError):
    """10003/10004/10005/10010: the API key is unknown, the signature is wrong, or not allowed."""

    code = Code.INVALID_KEY
    default_hint = ("check GRIDLAB_BYBIT_API_KEY / GRIDLAB_BYBIT_API_SECRET (environment or "
                    ".env) and that they belong to the selected exchange.env "
                    "(mainnet, testnet and demo keys differ)")


class OrderNotFound(BybitError):
    """110001: the order does not exist (already filled/cancelled or never placed)."""

    code = Code.ORDER_NOT_FOUND
    default_hint = "refresh open orders; the order may already be filled or cancelled"


class InsufficientBalance(BybitError):
    """110007 / 170131: not enough available balance for the order."""

    code = Code.INSUFFICIENT_BALANCE
    default_hint = "lower the order size or leverage, or add funds"


class QtyTooSmall(BybitError):
    """110017 / 170136: quantity rounds to zero or is below the minimum."""

    code = Code.QTY_TO_ZERO
    default_hint = "raise qty to at least the instrument's minOrderQty"


class NotionalTooSmall(BybitError):
    """110094 / 170140: order value below the instrument's minimum notional."""

    code = Code.NOTIONAL_TOO_SMALL
    default_hint = "raise qty so qty * price >= minNotionalValue"


class LeverageNotModified(BybitError):
    """110043: leverage already at the requested value (the client treats it as success)."""

    code = Code.LEVERAGE_NOT_MODIFIED


class DuplicateOrderLinkId(BybitError):
    """110072: an order with this orderLinkId exists (the client treats it as 'already placed')."""

    code = Code.DUPLICATE_LINK_ID


_BY_CODE: dict[int, type[BybitError]] = {
    Code.PARAM_ERROR: InvalidParameter,
    Code.SPOT_PRICE_DECIMALS: InvalidParameter,
    Code.SPOT_QTY_DECIMALS: InvalidParameter,
    Code.TIMESTAMP: TimestampError,
    Code.INVALID_KEY: AuthError,
    Code.BAD_SIGN: AuthError,
    Code.PERMISSION: AuthError,
    Code.IP_BANNED: AuthError,
    Code.RATE_LIMIT: RateLimited,
    Code.ORDER_NOT_FOUND: OrderNotFound,
    Code.SPOT_ORDER_NOT_FOUND: OrderNotFound,
    Code.INSUFFICIENT_BALANCE: InsufficientBalance,
    Code.SPOT_INSUFFICIENT_BALANCE: InsufficientBalance,
    Code.QTY_TO_ZERO: QtyTooSmall,
    Code.SPOT_QTY_TOO_SMALL: QtyTooSmall,
    Code.NOTIONAL_TOO_SMALL: NotionalTooSmall,
    Code.SPOT_VALUE_TOO_SMALL: NotionalTooSmall,
    Code.LEVERAGE_NOT_MODIFIED: LeverageNotModified,
    Code.DUPLICATE_LINK_ID: DuplicateOrderLinkId,
}


def error_from_code(code: int, message: str, path: str = "") -> BybitError:
    """The typed exception for a Bybit retCode (BybitError for codes without a class)."""
    cls = _BY_CODE.get(code, BybitError)
    return cls(message, code=code, path=path)
