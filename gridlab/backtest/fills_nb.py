"""Fill-model kernels: how much of a resting limit order one market event fills.

Every model fills at the order's limit price and pays the maker fee. An order is eligible only
from the first event after the one it was decided on whose time is >= decision time +
latency (see `gridlab.backtest.engine_nb`); these kernels only see eligible orders.

- `cross` (default): the order fills completely when the market trades STRICTLY through its
  price (buy: a trade/path price below the limit; sell: above). A touch never fills. This
  assumes the queue at the price is never exhausted, which is conservative for a grid.
- `touch`: the order fills completely when the price reaches it (buy: price <= limit; sell:
  price >= limit). Optimistic: as if the order were first in the queue.
- `queue` (trades only): the order has `queue_ahead + queue_ahead_mult * qty` (base units)
  ahead of it when it reaches the book. Volume traded at exactly its price first eats that
  queue, the excess fills the order (partial fills); a trade strictly through its price means
  the level was cleared and fills the whole remainder (as in hftbacktest's queue models).
"""

from __future__ import annotations

from numba import njit

from gridlab.backtest.enums import FillModel

__all__ = ["crosses_nb", "fill_qty_nb"]


@njit(cache=True)
def crosses_nb(model: int, side: int, limit: float, price: float) -> bool:
    """True when an event at `price` can fill (some of) an order at `limit` under `model`."""
    if model == FillModel.CROSS:
        return price < limit if side > 0 else price > limit
    return price <= limit if side > 0 else price >= limit


@njit(cache=True)
def fill_qty_nb(model: int, side: int, limit: float, rem: float, queue: float,
                price: float, size: float) -> tuple[float, float]:
    """Return (filled qty, new queue ahead) for an eligible order hit by one event."""
    through = price < limit if side > 0 else price > limit
    if through:
        return rem, 0.0
    if model == FillModel.CROSS or price != limit:
        return 0.0, queue
    if model == FillModel.TOUCH:
        return rem, queue
    # QUEUE, trade at exactly the limit price
    eat = min(queue, size)
    left = size - eat
    return min(rem, left), queue - eat
