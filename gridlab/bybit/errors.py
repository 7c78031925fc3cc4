"""Bybit retCodes and transport failures as typed gridlab exceptions (never carrying secrets).

Every error carries its `action` from the one table in gridlab.bybit.taxonomy (retry,
ambiguous, refuse, account stop, log and continue); the class follows from that action unless
a code has a class of its own (OrderNotFound, InsufficientBalance, ...).
"""

from __future__ import annotations

from gridlab.bybit.constants import Code
from gridlab.bybit.taxonomy import Action, classify, rule_of
from gridlab.errors import ExchangeError

__all__ = [
    "AccountStop",
    "AmbiguousError",
    "AuthError",
    "BybitError",
    "DuplicateOrderLinkId",
    "InsufficientBalance",
    "InvalidParameter",
    "IpRateLimited",
    "LeverageNotModified",
    "NetworkError",
    "NotionalTooSmall",
    "OrderNotFound",
    "QtyTooSmall",
    "RateLimited",
    "RequestTimeout",
    "RetryableError",
    "ServerError",
    "TimestampError",
    "TransientError",
    "error_from_code",
]


class BybitError(ExchangeError):
    """A request to Bybit failed; `code` is Bybit's retCode (or the HTTP status, or 0)."""

    code: int = 0
    default_hint: str | None = None
    rule_key: str | None = None  # the taxonomy row when it is not the code (transport failures)

    def __init__(self, message: str, hint: str | None = None, *, code: int | None = None,
                 path: str = "") -> None:
        if code is not None:
            self.code = code
        self.path = path
        prefix = f"{path}: " if path else ""
        super().__init__(f"{prefix}{message} (retCode {self.code})", hint or self.default_hint)

    @property
    def action(self) -> Action:
        """What to do about it (gridlab.bybit.taxonomy), on this error's endpoint."""
        return classify(self.rule_key or self.code, self.path)

    @property
    def maybe_processed(self) -> bool:
        """The request may have been carried out although it failed (an ambiguous failure)."""
        rule = rule_of(self.rule_key or self.code)
        return rule is not None and rule.action is Action.AMBIGUOUS


class TransientError(BybitError):
    """A failure worth retrying: the request may not have reached the exchange's book."""

    retry_after: float | None = None  # seconds, when the exchange says how long to wait


class RetryableError(TransientError):
    """A retCode meaning "nothing was done, send it again" (10002-like, 110079, 170147...)."""


class AmbiguousError(TransientError):
    """10000 / 10016 / 10014 / spot system errors: the request may have been processed; on
    order create, look the orderLinkId up before anything else."""

    default_hint = "the exchange may have processed the request; it is looked up first"


class NetworkError(TransientError):
    """Connection refused/reset: the request may or may not have been processed."""

    rule_key = "connection"

    default_hint = "check the network / that the exchange (or local exchange) is running"


class RequestTimeout(TransientError):
    """No reply in time: the request may or may not have been processed."""

    rule_key = "timeout"

    default_hint = "raise exchange.timeout or check the network"


class ServerError(TransientError):
    """HTTP 5xx (or an unreadable body) from the exchange."""

    rule_key = "HTTP 5xx"

    default_hint = "the exchange is having trouble; retry later"


class RateLimited(TransientError):
    """10006 (or HTTP 403 IP limit): too many requests."""

    code = Code.RATE_LIMIT
    default_hint = "lower exchange.rate_limits or spread requests out"


class IpRateLimited(RateLimited):
    """HTTP 403 / 10018: the IP passed Bybit's limit (600 requests / 5 s). Bybit says stop every
    session and wait at least 10 minutes: the client sends nothing until `until` (monotonic
    clock) and raises this at once for every call meanwhile (no quick retries)."""

    code = 403
    rule_key = "HTTP 403"
    default_hint = ("Bybit blocks this IP for at least 10 minutes after 600 requests in 5 s; "
                    "the runner waits (exchange.ip_ban_wait_s) and then goes on")
    until: float = 0.0


class AccountStop(BybitError):
    """Keys, permissions, bans, compliance: nothing on this account will work until fixed."""

    default_hint = "check the API key, its permissions and the account's status on Bybit"


class InvalidParameter(BybitError):
    """10001: a parameter is wrong (often price/qty not on the instrument's tick/step)."""

    code = Code.PARAM_ERROR
    default_hint = "round price to tickSize and qty to qtyStep (see get_instruments)"


class TimestampError(TransientError):
    """10002: the request timestamp is outside recv_window."""

    code = Code.TIMESTAMP
    default_hint = "sync the system clock (NTP) or raise exchange.recv_window"


class AuthError(AccountStop):
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
    10429: RateLimited,
    170005: RateLimited,
    170222: RateLimited,
    10018: IpRateLimited,
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
    170141: DuplicateOrderLinkId,
}
_BY_ACTION: dict[Action, type[BybitError]] = {
    Action.RETRY: RetryableError, Action.AMBIGUOUS: AmbiguousError, Action.STOP: AccountStop,
}


def error_from_code(code: int, message: str, path: str = "") -> BybitError:
    """The typed exception for a Bybit retCode: the code's own class, else the class of its
    action on `path` (refusals and unlisted codes: BybitError)."""
    cls = _BY_CODE.get(code) or _BY_ACTION.get(classify(code, path), BybitError)
    return cls(message, code=code, path=path)
