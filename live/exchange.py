"""Async access to the Bybit adapter for the runner: every REST call of one runner, whatever
its symbol, goes through one worker thread, in order, so the event loop (and the panel served
on it) never blocks; the symbols share the client's session and rate limiter.

Each symbol's view also holds the top of its book (from the `orderbook.1` stream) for the
PostOnly cross check, and places, amends and cancels several orders in batch requests."""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from gridlab.bybit.client import BybitClient
from gridlab.bybit.errors import BybitError
from gridlab.bybit.parse import Execution, Order, OrderAck, Position, Ticker, Wallet
from gridlab.bybit.results import AmendRequest, BookTop, ItemResult, LeverageResult, OrderRequest

__all__ = ["BOOK_MAX_AGE_S", "EXEC_WINDOW_MS", "Exchange", "PlaceOutcome"]

PlaceOutcome = OrderAck | BybitError
"""What placing one order of a batch gave: its ack, or the typed error of its refusal."""
BOOK_MAX_AGE_S = 60.0
"""A book top older than this (the stream is down) is not used: the last trade stands in."""

T = TypeVar("T")
EXEC_WINDOW_MS = 7 * 86_400_000
"""Bybit serves executions in windows of at most 7 days."""


class Exchange:
    """One symbol on one account, through a `BybitClient`. `for_symbol` gives the view of
    another symbol sharing the REST thread, the HTTP session and the rate limiter."""

    def __init__(self, client: BybitClient, symbol: str,
                 pool: ThreadPoolExecutor | None = None) -> None:
        self.client = client
        self.symbol = symbol
        self._owner = pool is None
        self._pool = pool or ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridlab-rest")
        self.calls = 0
        self.book = BookTop(symbol)
        self._book_at = -math.inf

    def on_book(self, top: BookTop) -> None:
        """A new top of the book (called on the stream's thread: one atomic assignment)."""
        self.book, self._book_at = top, time.monotonic()

    def best_bid_ask(self, last_price: float, last_ts: int = 0) -> tuple[float, float]:
        """The (bid, ask) a PostOnly order is checked against: the book's, widened to take
        in the last trade, so an order is held back only when the book and the last trade
        both say it would take liquidity (a print and its book update arrive apart). The
        last trade as both while the book is unknown, older than the last trade `last_ts`,
        or not updated for BOOK_MAX_AGE_S (the stream is down)."""
        top = self.book
        if (top.known and top.ts >= last_ts
                and time.monotonic() - self._book_at <= BOOK_MAX_AGE_S):
            return min(top.bid, last_price), max(top.ask, last_price)
        return last_price, last_price

    def for_symbol(self, symbol: str, category: str) -> Exchange:
        """`symbol` of `category` on the same account, REST thread and limiter."""
        return Exchange(self.client.for_category(category), symbol, self._pool)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking client call on the REST thread."""
        self.calls += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def place(self, side: int, qty: float, price: float | None, link: str, *,
                    market: bool = False, reduce_only: bool = False) -> OrderAck:
        """A PostOnly limit order (or a market IOC order) with our orderLinkId."""
        return await self.call(self.client.place_order, self.symbol, side, qty,
                               None if market else price, "Market" if market else "Limit",
                               "IOC" if market else "PostOnly", link, reduce_only)

    async def place_many(self, orders: list[tuple[int, float, float, str]]
                         ) -> list[PlaceOutcome]:
        """PostOnly limit orders (side, qty, price, orderLinkId) in batch requests; one
        outcome per order, in order (an ack, `existed` when it was already placed; or the
        typed error of its refusal)."""
        reqs = [OrderRequest(self.symbol, side, qty, price, link)
                for side, qty, price, link in orders]
        results = await self.call(self.client.place_batch, reqs)
        return [_outcome(r) for r in results]

    async def amend_many(self, moves: list[tuple[str, float, float | None]]
                         ) -> list[ItemResult]:
        """Move resting orders (orderLinkId, new price, new qty or None: unchanged) in batch
        requests; one result per order, in order."""
        return await self.call(self.client.amend_batch,
                               [AmendRequest(self.symbol, link, price=price, qty=qty)
                                for link, price, qty in moves])

    async def cancel_many(self, links: list[str]) -> list[ItemResult]:
        """Cancel orders by orderLinkId in batch requests (already gone counts as done)."""
        return await self.call(self.client.cancel_batch, [(self.symbol, x) for x in links])

    async def set_leverage(self, leverage: float) -> LeverageResult:
        """Set the symbol's leverage; a refusal comes back as a warning and the leverage in
        force (see BybitClient.set_leverage)."""
        return await self.call(self.client.set_leverage, self.symbol, leverage)

    async def cancel(self, link: str) -> bool:
        """Cancel one order by orderLinkId (False when it was already gone)."""
        return await self.call(self.client.cancel_order, self.symbol, order_link_id=link,
                               missing_ok=True)

    async def cancel_all(self) -> list[str]:
        """Cancel every open order of the symbol."""
        return await self.call(self.client.cancel_all_orders, self.symbol)

    async def open_orders(self) -> list[Order]:
        return await self.call(self.client.get_open_orders, self.symbol)

    async def find_order(self, link: str) -> Order | None:
        return await self.call(self.client.find_order, self.symbol, link)

    async def executions(self, start_ms: int | None = None, end_ms: int | None = None, *,
                         order_id: str | None = None) -> list[Execution]:
        """Executions of the symbol, oldest first (all pages)."""
        return await self.call(self.client.get_executions, self.symbol, start_ms, end_ms,
                               order_id=order_id)

    async def ticker(self) -> Ticker:
        return await self.call(self.client.get_ticker, self.symbol)

    async def wallet(self) -> Wallet:
        return await self.call(self.client.get_wallet_balance)

    async def positions(self) -> list[Position]:
        return await self.call(self.client.get_positions, self.symbol)

    def close(self) -> None:
        """Stop the REST thread and close the HTTP pool (the owner; views do nothing)."""
        if not self._owner:
            return
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()


def _outcome(r: ItemResult) -> PlaceOutcome:
    if r.ok:
        return OrderAck(r.order_id, r.order_link_id, existed=r.existed)
    assert r.error is not None
    return r.error
