"""Batch calls: /v5/order/create-batch, amend-batch and cancel-batch, one typed result per order.

Bybit takes at most BATCH_MAX orders per request (linear 20, spot 10) and counts a batch
request by its number of orders against the batch endpoints' own quota, so requests carry at
most `min(BATCH_MAX, rate_limits.batch)` orders and weigh their order count in the limiter.

Each order's retCode (retExtInfo.list) is classified by gridlab.bybit.taxonomy: retry and
ambiguous items are sent again (creates under the same orderLinkId: a "duplicate" reply is
then looked up, so the exchange ends with one order per id); refusals come back as failed
items carrying their typed error; on cancel, "already gone" is success. An ambiguous failure
of the whole request (timeout, 5xx, 10000/10016) first looks the orders up (open orders of
each symbol) and sends only those not found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from gridlab.bybit.constants import BATCH_MAX, endpoint_class
from gridlab.bybit.errors import (
    BybitError,
    DuplicateOrderLinkId,
    IpRateLimited,
    RateLimited,
    TransientError,
    error_from_code,
)
from gridlab.bybit.orders import OrderMethods
from gridlab.bybit.ratelimit import WINDOW_S
from gridlab.bybit.results import AmendRequest, ItemResult, OrderRequest
from gridlab.bybit.taxonomy import Action
from gridlab.bybit.transport import format_number

__all__ = ["BatchMethods"]

T = TypeVar("T")
Entry = tuple[str, str, dict[str, Any]]  # (orderLinkId, symbol, request item)


def _chunks(items: Sequence[T], n: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


class BatchMethods(OrderMethods):
    """Batch calls of BybitClient."""

    def batch_size(self) -> int:
        """Orders per batch request: Bybit's maximum for the category, at most one second of
        the batch rate limit."""
        cap = BATCH_MAX.get(self.category, 10)
        rate = self.config.rate_limits.batch
        return max(1, min(cap, int(rate))) if rate > 0 else cap

    def place_batch(self, orders: Sequence[OrderRequest]) -> list[ItemResult]:
        """Place orders in batches (idempotent by orderLinkId); one result per order, in order."""
        entries = [(o.order_link_id, o.symbol,
                    self.order_params(o.symbol, o.side, o.qty, o.price, o.order_type,
                                      o.time_in_force, o.order_link_id, o.reduce_only))
                   for o in orders]
        return self._batched("place_batch_order", "/v5/order/create-batch", entries,
                             lookup=self._found_open)

    def amend_batch(self, amends: Sequence[AmendRequest]) -> list[ItemResult]:
        """Move resting orders (price and/or qty); an ambiguous item is sent again (amending
        to the same values twice is harmless). A gone order is a failed item (110001)."""
        entries: list[Entry] = []
        for a in amends:
            item: dict[str, Any] = {"symbol": a.symbol, "orderLinkId": a.order_link_id}
            if a.price is not None:
                item["price"] = format_number(a.price)
            if a.qty is not None:
                item["qty"] = format_number(a.qty)
            entries.append((a.order_link_id, a.symbol, item))
        return self._batched("amend_batch_order", "/v5/order/amend-batch", entries)

    def cancel_batch(self, orders: Sequence[tuple[str, str]]) -> list[ItemResult]:
        """Cancel (symbol, orderLinkId) pairs; an order already gone counts as cancelled."""
        entries = [(link, sym, {"symbol": sym, "orderLinkId": link}) for sym, link in orders]
        return self._batched("cancel_batch_order", "/v5/order/cancel-batch", entries)

    # ---- internals -------------------------------------------------------------------------

    def _found_open(self, pending: list[Entry], done: dict[str, ItemResult]) -> list[Entry]:
        """After an ambiguous batch create: record the orders now open, return the others."""
        open_by_link: dict[str, str] = {}
        for sym in dict.fromkeys(e[1] for e in pending):
            self.stats["lookups"] += 1
            for o in self.get_open_orders(sym):
                open_by_link[o.order_link_id] = o.order_id
        rest = []
        for e in pending:
            if e[0] in open_by_link:
                done[e[0]] = ItemResult(e[0], True, open_by_link[e[0]], existed=True)
            else:
                rest.append(e)
        return rest

    def _batched(self, method: str, path: str, entries: Sequence[Entry], *,
                 lookup: Callable[[list[Entry], dict[str, ItemResult]], list[Entry]] | None = None,
                 ) -> list[ItemResult]:
        done: dict[str, ItemResult] = {}
        for chunk in _chunks(entries, self.batch_size()):
            self._chunk(method, path, list(chunk), done, lookup)
        return [done[e[0]] for e in entries]

    def _chunk(self, method: str, path: str, pending: list[Entry], done: dict[str, ItemResult],
               lookup: Callable[[list[Entry], dict[str, ItemResult]], list[Entry]] | None
               ) -> None:
        """One chunk until every order has a result (or the attempts are used up)."""
        ambiguous: set[str] = set()
        max_attempts = self.config.retry.max_attempts
        for attempt in range(1, max_attempts + 1):
            if not pending:
                return
            body = {"category": self.category, "request": [e[2] for e in pending]}
            try:
                resp = self._send(method, path, body, weight=len(pending))
            except IpRateLimited as exc:
                self._fail(pending, done, exc)
                return
            except TransientError as exc:
                if exc.maybe_processed:
                    ambiguous.update(e[0] for e in pending)
                if attempt >= max_attempts:
                    self._fail(pending, done, exc)
                    return
                self._sleep_backoff(attempt, exc)
                if exc.maybe_processed and lookup is not None:
                    pending = lookup(pending, done)
                continue
            except BybitError as exc:  # the whole request refused (parameters, keys...)
                self._fail(pending, done, exc)
                return
            pending, limited = self._items(path, pending, resp, done, ambiguous,
                                           last=attempt >= max_attempts)
            if pending:
                marker = _RetryMarker(path)
                if limited:  # items over the window: wait for its reset (header or a window)
                    marker.retry_after = self.reset_after() or WINDOW_S
                    self.limiter.block(endpoint_class(path), marker.retry_after)
                self._sleep_backoff(attempt, marker)

    def _items(self, path: str, pending: list[Entry], resp: dict[str, Any],
               done: dict[str, ItemResult], ambiguous: set[str], *, last: bool
               ) -> tuple[list[Entry], bool]:
        """Record each order's outcome; return those to send again (and whether some were
        over the rate limit)."""
        rows = (resp.get("result") or {}).get("list") or []
        infos = (resp.get("retExtInfo") or {}).get("list") or []
        again: list[Entry] = []
        limited = False
        for i, e in enumerate(pending):
            link, sym = e[0], e[1]
            row = rows[i] if i < len(rows) else {}
            info = infos[i] if i < len(infos) else {"code": 10016, "msg": "no item result"}
            code = int(info.get("code") or 0)
            if code == 0:
                done[link] = ItemResult(link, True, str(row.get("orderId", "")))
                if path.endswith("create-batch"):
                    self.stats["orders_sent"] += 1
                continue
            err = error_from_code(code, str(info.get("msg", "")), path)
            if isinstance(err, DuplicateOrderLinkId):
                try:
                    found = self.resolve_duplicate(sym, link, link in ambiguous, err)
                    done[link] = ItemResult(link, True, found.order_id, existed=True)
                except DuplicateOrderLinkId as spent:
                    done[link] = ItemResult(link, False, error=spent)
            elif err.action is Action.CONTINUE:
                done[link] = ItemResult(link, True, str(row.get("orderId", "")))
            elif err.action in (Action.RETRY, Action.AMBIGUOUS) and not last:
                if err.maybe_processed:
                    ambiguous.add(link)
                limited = limited or isinstance(err, RateLimited)
                again.append(e)
            else:
                done[link] = ItemResult(link, False, error=err)
        return again, limited

    @staticmethod
    def _fail(pending: list[Entry], done: dict[str, ItemResult], exc: BybitError) -> None:
        for e in pending:
            done[e[0]] = ItemResult(e[0], False, error=exc)


class _RetryMarker(TransientError):
    """Stands for "some orders of the batch are sent again" in the backoff log."""

    def __init__(self, path: str) -> None:
        super().__init__("some orders of the batch asked to be sent again", path=path)
