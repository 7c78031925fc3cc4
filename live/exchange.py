"""Async access to the Bybit adapter for the runner: every REST call of one runner, whatever
its symbol, goes through one worker thread, in order, so the event loop (and the panel served
on it) never blocks; the symbols share the client's session and rate limiter."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from gridlab.bybit.client import BybitClient
from gridlab.bybit.parse import Execution, Order, OrderAck, Position, Ticker, Wallet

__all__ = ["EXEC_WINDOW_MS", "Exchange"]

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
