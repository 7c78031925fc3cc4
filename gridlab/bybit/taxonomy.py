"""What to do with each Bybit failure: the one table of retCodes, HTTP statuses and transport
failures a grid runner can meet, each classified as one `Action`.

Sources: Bybit's v5 error list (bybit-exchange.github.io/docs/v5/error), its rate-limit rules
(docs/v5/rate-limit: 10006 with X-Bapi-Limit-Reset-Timestamp; HTTP 403 = IP limit, stop and
wait at least 10 minutes) and the set-leverage / cancel behaviour. docs/live.md ("Bybit
errors") shows this same table; tests/test_bybit_taxonomy.py checks that the two agree.

The action can depend on the endpoint: an ambiguous failure matters only where a request
creates something (order create: look the orderLinkId up before anything else); elsewhere it
is a plain retry. On cancel, "the order is gone" is success; on set-leverage, a refusal to
change the leverage is a warning and the leverage in force is read from the position.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "HALT_CODES",
    "RULES",
    "Action",
    "Rule",
    "classify",
    "endpoint_group",
    "markdown_table",
    "nothing_to_cancel",
    "rule_of",
]


class Action(StrEnum):
    """The five ways to handle a failure."""

    RETRY = "retry"
    """Nothing was done: send the same request again after the wait the exchange asks for."""
    AMBIGUOUS = "ambiguous"
    """On order create the order may exist: look its orderLinkId up (open orders, then
    history); return it if found, else send again with the same orderLinkId."""
    REFUSE = "refuse"
    """The exchange refused this request for the stated reason; the caller decides."""
    STOP = "account stop"
    """Keys, permissions, bans, compliance: nothing on this account will work; stop trading."""
    CONTINUE = "log and continue"
    """Already in the wanted state (or harmless): log it and carry on."""


# endpoint groups whose handling differs from the default
CREATE, CANCEL, AMEND, LEVERAGE = "create", "cancel", "amend", "set-leverage"
_GROUPS: dict[str, str] = {
    "/v5/order/create": CREATE, "/v5/order/create-batch": CREATE,
    "/v5/order/cancel": CANCEL, "/v5/order/cancel-batch": CANCEL,
    "/v5/order/cancel-all": CANCEL,
    "/v5/order/amend": AMEND, "/v5/order/amend-batch": AMEND,
    "/v5/position/set-leverage": LEVERAGE,
}


def endpoint_group(path: str) -> str:
    """create, cancel, amend, set-leverage, or "" for every other path."""
    return _GROUPS.get(path, "")


@dataclass(frozen=True, slots=True)
class Rule:
    """One failure: `key` is a retCode ("10006"), "HTTP 403", "timeout" or "connection"."""

    key: str
    action: Action
    meaning: str
    on: tuple[tuple[str, Action], ...] = ()
    """per endpoint group, an action that replaces `action`"""
    halt: bool = False
    """the symbol does not trade now: the grid stops, the others go on"""

    def action_for(self, group: str) -> Action:
        """The action on an endpoint group."""
        for g, a in self.on:
            if g == group:
                return a
        if self.action is Action.AMBIGUOUS and group != CREATE:
            return Action.RETRY
        return self.action


A = Action
_GONE = ((CANCEL, A.CONTINUE),)
_LEV = ((LEVERAGE, A.CONTINUE),)

RULES: tuple[Rule, ...] = (
    # transport and HTTP
    Rule("timeout", A.AMBIGUOUS, "no reply within exchange.timeout"),
    Rule("connection", A.AMBIGUOUS, "connection refused, reset or dropped"),
    Rule("HTTP 5xx", A.AMBIGUOUS, "server error or gateway timeout"),
    Rule("HTTP 429", A.RETRY, "system-level frequency protection"),
    Rule("HTTP 403", A.RETRY, "IP rate limit (600 requests / 5 s): send nothing for "
         "exchange.ip_ban_wait_s (>= 10 min), then go on"),
    Rule("HTTP 401", A.STOP, "invalid request: wrong key or missing auth headers"),
    Rule("HTTP 404", A.REFUSE, "no such path (or category does not match the account)"),
    # general retCodes
    Rule("10000", A.AMBIGUOUS, "server timeout"),
    Rule("10001", A.REFUSE, "request parameter error (order create rounds qty/price to the "
         "filters once)"),
    Rule("10002", A.RETRY, "timestamp outside recv_window (re-signed with a fresh one)"),
    Rule("10003", A.STOP, "API key invalid or of another env (mainnet/testnet/demo)"),
    Rule("10004", A.STOP, "signature error"),
    Rule("10005", A.STOP, "permission denied for this key"),
    Rule("10006", A.RETRY, "UID rate limit: wait until X-Bapi-Limit-Reset-Timestamp"),
    Rule("10007", A.STOP, "user authentication failed"),
    Rule("10008", A.STOP, "account banned or wrong account mode"),
    Rule("10009", A.STOP, "IP banned"),
    Rule("10010", A.STOP, "request IP not bound to the key"),
    Rule("10014", A.AMBIGUOUS, "duplicate request (the first may have been processed)"),
    Rule("10016", A.AMBIGUOUS, "server error or service restarting (cancel-all: \"Cancel All "
         "No Result\" = nothing to cancel: done)"),
    Rule("10017", A.REFUSE, "route not found"),
    Rule("10018", A.RETRY, "IP rate limit: handled as HTTP 403"),
    Rule("10024", A.STOP, "compliance rules triggered"),
    Rule("10027", A.STOP, "trading banned"),
    Rule("10028", A.STOP, "endpoint only for unified-account users"),
    Rule("10029", A.REFUSE, "symbol not in the key's whitelist", halt=True),
    Rule("10429", A.RETRY, "system-level frequency protection"),
    Rule("33004", A.STOP, "API key expired"),
    Rule("100028", A.STOP, "endpoint not for unified-account users (set-leverage: the "
         "leverage cannot be set here)", _LEV),
    # derivatives (linear)
    Rule("110001", A.REFUSE, "order does not exist", _GONE),
    Rule("110003", A.REFUSE, "order price outside the permissible range"),
    Rule("110004", A.REFUSE, "wallet balance insufficient"),
    Rule("110005", A.REFUSE, "position status does not allow it"),
    Rule("110006", A.REFUSE, "assets cannot cover the position margin"),
    Rule("110007", A.REFUSE, "available balance insufficient"),
    Rule("110008", A.REFUSE, "order already filled or cancelled", _GONE),
    Rule("110010", A.REFUSE, "order already cancelled", _GONE),
    Rule("110011", A.REFUSE, "would trigger immediate liquidation"),
    Rule("110012", A.REFUSE, "available balance insufficient"),
    Rule("110013", A.REFUSE, "leverage not allowed by the risk limit", _LEV),
    Rule("110016", A.REFUSE, "quantity exceeds the risk limit"),
    Rule("110017", A.REFUSE, "quantity truncated to zero / reduce-only rule"),
    Rule("110020", A.REFUSE, "more than 500 open orders"),
    Rule("110021", A.REFUSE, "open interest limit exceeded"),
    Rule("110022", A.REFUSE, "quantity limited: cannot amend it up"),
    Rule("110023", A.REFUSE, "the contract only allows reducing positions", halt=True),
    Rule("110036", A.REFUSE, "cross margin mode: leverage cannot be changed here", _LEV),
    Rule("110038", A.REFUSE, "portfolio margin mode: leverage cannot be changed", _LEV),
    Rule("110040", A.REFUSE, "order would trigger forced liquidation"),
    Rule("110042", A.REFUSE, "pre-delivery: positions can only be reduced", halt=True),
    Rule("110043", A.CONTINUE, "leverage not modified (already at that value)"),
    Rule("110044", A.REFUSE, "available margin insufficient", _LEV),
    Rule("110045", A.REFUSE, "wallet balance insufficient"),
    Rule("110063", A.REFUSE, "settlement in progress", halt=True),
    Rule("110064", A.REFUSE, "amended quantity not above the filled quantity"),
    Rule("110066", A.REFUSE, "no trading allowed at the current time", halt=True),
    Rule("110067", A.STOP, "unified account not supported"),
    Rule("110068", A.STOP, "leveraged user trading not allowed"),
    Rule("110069", A.STOP, "OTC lending users may not trade"),
    Rule("110070", A.REFUSE, "ETP symbols cannot be traded", halt=True),
    Rule("110072", A.AMBIGUOUS, "orderLinkId already used: look it up; found = already "
         "placed, not found = the id is spent (closed long ago): refused"),
    Rule("110079", A.RETRY, "order is being processed; try again later"),
    Rule("110094", A.REFUSE, "order value below the minimum notional"),
    # spot
    Rule("170001", A.AMBIGUOUS, "spot internal error"),
    Rule("170005", A.RETRY, "spot: too many new orders"),
    Rule("170007", A.AMBIGUOUS, "spot: backend timeout"),
    Rule("170032", A.AMBIGUOUS, "spot: network error"),
    Rule("170121", A.REFUSE, "spot: invalid symbol"),
    Rule("170124", A.REFUSE, "spot: order amount too large"),
    Rule("170130", A.REFUSE, "spot: invalid parameter value"),
    Rule("170131", A.REFUSE, "spot: balance insufficient"),
    Rule("170132", A.REFUSE, "spot: price too high"),
    Rule("170133", A.REFUSE, "spot: price below the minimum"),
    Rule("170134", A.REFUSE, "spot: price has too many decimals (rounded once)"),
    Rule("170135", A.REFUSE, "spot: quantity too large"),
    Rule("170136", A.REFUSE, "spot: quantity below the minimum"),
    Rule("170137", A.REFUSE, "spot: quantity has too many decimals (rounded once)"),
    Rule("170139", A.REFUSE, "spot: order already filled", _GONE),
    Rule("170140", A.REFUSE, "spot: order value below the minimum"),
    Rule("170141", A.AMBIGUOUS, "spot: duplicate orderLinkId (as 110072)"),
    Rule("170142", A.REFUSE, "spot: order already cancelled", _GONE),
    Rule("170143", A.REFUSE, "spot: order not on the book", _GONE),
    Rule("170146", A.AMBIGUOUS, "spot: order creation timeout"),
    Rule("170147", A.RETRY, "spot: order cancellation timeout"),
    Rule("170149", A.AMBIGUOUS, "spot: create order failed (outcome unknown)"),
    Rule("170150", A.RETRY, "spot: cancel order failed"),
    Rule("170151", A.REFUSE, "spot: pair not open yet", halt=True),
    Rule("170157", A.REFUSE, "spot: pair not available for API trading", halt=True),
    Rule("170190", A.REFUSE, "spot: cancel already finished", _GONE),
    Rule("170191", A.RETRY, "spot: cannot cancel now; try again later"),
    Rule("170193", A.REFUSE, "spot: buy price above the limit"),
    Rule("170194", A.REFUSE, "spot: sell price below the limit"),
    Rule("170201", A.STOP, "spot: account restricted from trading"),
    Rule("170213", A.REFUSE, "spot: order does not exist", _GONE),
    Rule("170218", A.REFUSE, "spot: LIMIT-MAKER (PostOnly) price invalid"),
    Rule("170222", A.RETRY, "spot: too many requests"),
    Rule("170234", A.AMBIGUOUS, "spot: system error"),
)

_BY_KEY: dict[str, Rule] = {r.key: r for r in RULES}
HALT_CODES: frozenset[int] = frozenset(int(r.key) for r in RULES if r.halt)
"""retCodes meaning the symbol does not trade now (the grid stops, the others go on)."""


def rule_of(code: int | str) -> Rule | None:
    """The rule of a retCode (int) or key ("HTTP 403", "timeout", ...); None when unlisted."""
    if isinstance(code, int) and 500 <= code <= 599:
        return _BY_KEY["HTTP 5xx"]
    key = str(code)
    return _BY_KEY.get(key) or _BY_KEY.get(f"HTTP {key}")


def classify(code: int | str, path: str = "") -> Action:
    """The action for a failure on `path`. Unlisted retCodes are refusals."""
    rule = rule_of(code)
    if rule is None:
        return Action.REFUSE
    return rule.action_for(endpoint_group(path))


def nothing_to_cancel(code: int, path: str, message: str) -> bool:
    """Bybit's cancel-all answers 10016 "Cancel All No Result" when nothing was open: done."""
    return (code == 10016 and path == "/v5/order/cancel-all"
            and "no result" in message.lower())


def _on_text(rule: Rule) -> str:
    parts = [f"{g}: {a.value}" for g, a in rule.on]
    if rule.action is Action.AMBIGUOUS:
        parts += ["create: look the orderLinkId up first", "other endpoints: retry"]
    if rule.halt:
        parts.append("the grid stops")
    return "; ".join(parts)


def markdown_table() -> str:
    """The table as Markdown (docs/live.md shows exactly this)."""
    lines = ["| Code | Meaning | Action | Per endpoint |", "|---|---|---|---|"]
    lines += [f"| {r.key} | {r.meaning} | {r.action.value} | {_on_text(r)} |" for r in RULES]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m gridlab.bybit.taxonomy: the table for docs/live.md
    print(markdown_table(), end="")
