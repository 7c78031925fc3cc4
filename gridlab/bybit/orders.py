"""Single-order calls: idempotent create (orderLinkId), amend, cancel, queries.

Order create follows gridlab.bybit.taxonomy: after an ambiguous failure (timeout, network,
5xx, 10000, 10016...) the orderLinkId is looked up (open orders, then history) before
anything else; found = already placed, not found = sent again under the same orderLinkId, so
the exchange ends with exactly one order. A "duplicate orderLinkId" reply is resolved the same
way; when Bybit returns no order for an id it says is taken (closed orders leave its queries
after a while), the id is spent and the call raises DuplicateOrderLinkId: nothing is resting,
so nothing is recorded as placed.
"""

from __future__ import annotations

import logging
from typing import Any

from gridlab.bybit.errors import (
    BybitError,
    DuplicateOrderLinkId,
    InvalidParameter,
    IpRateLimited,
    TransientError,
)
from gridlab.bybit.parse import (
    Execution,
    Order,
    OrderAck,
    parse_execution,
    parse_order,
    side_to_str,
)
from gridlab.bybit.taxonomy import Action
from gridlab.bybit.transport import (
    Transport,
    ceil_step,
    floor_step,
    format_number,
    new_order_link_id,
)

__all__ = ["DUPLICATE_LOOKUPS", "OrderMethods"]

log = logging.getLogger("gridlab.bybit")

DUPLICATE_LOOKUPS = 3
"""Look-ups of an orderLinkId Bybit calls taken after an ambiguous attempt (it may be in flight)."""


class OrderMethods(Transport):
    """Order calls of BybitClient (needs `get_instrument` from the client)."""

    def get_instrument(self, symbol: str, *, refresh: bool = False) -> Any:  # pragma: no cover
        raise NotImplementedError

    def order_params(self, symbol: str, side: int | str, qty: float, price: float | None,
                     order_type: str, time_in_force: str, link: str,
                     reduce_only: bool) -> dict[str, Any]:
        """The request of one order (without category), checked before it leaves."""
        if len(link) > 36:
            raise InvalidParameter(f"orderLinkId {link!r} is longer than 36 characters")
        if order_type == "Limit" and price is None:
            raise InvalidParameter("a Limit order needs a price")
        tif = "IOC" if order_type == "Market" and time_in_force == "PostOnly" else time_in_force
        params: dict[str, Any] = {
            "symbol": symbol, "side": side_to_str(side), "orderType": order_type,
            "qty": format_number(qty), "timeInForce": tif, "orderLinkId": link,
        }
        if order_type == "Limit":
            params["price"] = format_number(float(price))  # type: ignore[arg-type]
        if reduce_only:
            params["reduceOnly"] = True
        if self.category == "linear":
            params["positionIdx"] = 0
        return params

    def place_order(self, symbol: str, side: int | str, qty: float, price: float | None = None,
                    order_type: str = "Limit", time_in_force: str = "PostOnly",
                    order_link_id: str | None = None, reduce_only: bool = False) -> OrderAck:
        """Place an order idempotently by orderLinkId (generated when not given).

        Ambiguous failures are looked up before any retry (see the module docstring); a
        10006 or another plain-retry code is sent again after its wait; an IP ban (HTTP 403)
        raises at once. A 10001 reply rounds qty/price to the instrument's step/tick once and
        retries. Other refusals raise their typed BybitError.
        """
        link = order_link_id or new_order_link_id()
        params = {"category": self.category,
                  **self.order_params(symbol, side, qty, price, order_type, time_in_force,
                                      link, reduce_only)}
        path = "/v5/order/create"
        max_attempts = self.config.retry.max_attempts
        rounded = ambiguous = False
        attempt = 0
        while True:
            attempt += 1
            try:
                res = self._send("place_order", path, params)["result"]
                self.stats["orders_sent"] += 1
                return OrderAck(res.get("orderId", ""), res.get("orderLinkId") or link)
            except DuplicateOrderLinkId as exc:
                found = self.resolve_duplicate(symbol, link, ambiguous, exc)
                return OrderAck(found.order_id, link, existed=True)
            except InvalidParameter:
                if rounded:
                    raise
                fixed = self._round_to_filters(symbol, params)
                if fixed == params:
                    raise
                log.info("place_order %s: 10001, retrying once with qty/price rounded", link)
                params, rounded = fixed, True
            except IpRateLimited:
                raise
            except TransientError as exc:
                if exc.action is not Action.AMBIGUOUS:  # refused before matching: plain retry
                    if attempt >= max_attempts:
                        raise
                    self._sleep_backoff(attempt, exc)
                    continue
                ambiguous = True
                if attempt < max_attempts:
                    self._sleep_backoff(attempt, exc)
                found = self.find_order(symbol, link)
                if found is not None:
                    log.info("place_order %s: found after %s; not placing again", link, exc)
                    return OrderAck(found.order_id, link, existed=True)
                if attempt >= max_attempts:
                    raise

    def resolve_duplicate(self, symbol: str, link: str, ambiguous: bool,
                          exc: BybitError) -> Order:
        """The order behind a "duplicate orderLinkId" reply, or DuplicateOrderLinkId when
        Bybit returns none (the id is spent; nothing rests under it)."""
        tries = DUPLICATE_LOOKUPS if ambiguous else 1
        for n in range(1, tries + 1):
            found = self.find_order(symbol, link)
            if found is not None:
                return found
            if n < tries:
                self._sleep_backoff(n, exc)
        raise DuplicateOrderLinkId(
            f"orderLinkId {link} is already used but Bybit returns no such order (closed "
            "orders leave its queries after a while): not placed",
            "the slot is placed again under its next orderLinkId", path=exc.path)

    def _round_to_filters(self, symbol: str, params: dict[str, Any]) -> dict[str, Any]:
        """qty floored to the step; price floored (buy) / ceiled (sell) to the tick."""
        inst = self.get_instrument(symbol)
        out = dict(params)
        if inst.qty_step > 0:
            out["qty"] = format_number(floor_step(float(params["qty"]), inst.qty_step),
                                       inst.qty_step)
        if "price" in params and inst.tick_size > 0:
            p = float(params["price"])
            p = (floor_step if params["side"] == "Buy" else ceil_step)(p, inst.tick_size)
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

    def amend_order(self, symbol: str, order_link_id: str, *, price: float | None = None,
                    qty: float | None = None) -> OrderAck:
        """Move a resting order (new price and/or qty), keeping its orderLinkId and queue
        place rules of Bybit. Ambiguous failures are sent again (amending to the same values
        twice is harmless); refusals raise (OrderNotFound: it is gone)."""
        if price is None and qty is None:
            raise InvalidParameter("amend_order needs a price or a qty")
        params: dict[str, Any] = {"category": self.category, "symbol": symbol,
                                  "orderLinkId": order_link_id}
        if price is not None:
            params["price"] = format_number(price)
        if qty is not None:
            params["qty"] = format_number(qty)
        res = self._result("amend_order", "/v5/order/amend", params)
        return OrderAck(res.get("orderId", ""), res.get("orderLinkId") or order_link_id)

    def cancel_order(self, symbol: str, order_id: str | None = None,
                     order_link_id: str | None = None, *, missing_ok: bool = False) -> bool:
        """Cancel one order. True when cancelled; False if it was already gone and missing_ok.

        "Gone" (110001 and the like, log-and-continue on cancel) after an ambiguous attempt
        counts as cancelled.
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
            try:
                self._send("cancel_order", "/v5/order/cancel", params)
                return True
            except IpRateLimited:
                raise
            except TransientError as exc:
                if attempt >= self.config.retry.max_attempts:
                    raise
                ambiguous = ambiguous or exc.maybe_processed
                self._sleep_backoff(attempt, exc)
            except BybitError as exc:
                if exc.action is not Action.CONTINUE:
                    raise
                if ambiguous:
                    return True
                if missing_ok:
                    return False
                raise
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
