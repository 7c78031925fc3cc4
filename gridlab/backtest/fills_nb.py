"""The fill model: which resting orders one market print fills, and how much (numba).

Every model fills at the order's limit price and pays the maker fee. Each rule is written
once here and called by everything that needs it (the replay loops' pre-filter included):

- `crosses_nb` (the cross rule): the print is STRICTLY through the limit (buy: price below
  it; sell: above). Under every model a cross fills the whole remainder.
- `touches_nb` (the touch rule): the print is exactly at the limit. `touch` fills the whole
  remainder on a touch (optimistic: first in the queue); `cross` never fills on a touch
  (conservative: the queue at the price is never exhausted).
- `queue_fill_nb` (the queue rule, trades only): the order has `queue_ahead +
  queue_ahead_mult * qty` ahead of it when it reaches the book; volume traded at exactly its
  price first eats that queue, the excess fills the order (partial fills), as in
  hftbacktest's queue models.

`collect_fills_nb` runs one print over a grid's order rows (cancels that took effect,
arrivals with the PostOnly check, fill quantities) and sorts the fills in price-path order
(docs/strategy-kernels.md, "Event order" 2a-2c); the caller applies them with `on_fill_nb`.
"""

from __future__ import annotations

from numba import njit

from gridlab.backtest.enums import FillModel
from gridlab.strategy.risk_nb import post_only_ok_nb

__all__ = ["can_fill_nb", "collect_fills_nb", "crosses_nb", "fill_qty_nb", "queue_fill_nb",
           "touches_nb"]


@njit(cache=True, inline="always")
def crosses_nb(side: int, limit: float, price: float) -> bool:
    """The cross rule: a print strictly through the limit (buy below, sell above)."""
    return price < limit if side > 0 else price > limit


@njit(cache=True, inline="always")
def touches_nb(limit: float, price: float) -> bool:
    """The touch rule: a print exactly at the limit."""
    return price == limit


@njit(cache=True, inline="always")
def can_fill_nb(model: int, side: int, limit: float, price: float) -> bool:
    """True when a print at `price` can fill (some of) an order at `limit` under `model`
    (the replay loops' pre-filter: the cross rule, plus the touch rule unless `cross`)."""
    if crosses_nb(side, limit, price):
        return True
    return model != FillModel.CROSS and touches_nb(limit, price)


@njit(cache=True)
def queue_fill_nb(rem: float, queue: float, size: float) -> tuple[float, float]:
    """The queue rule for a print of `size` at the limit: (filled, queue left ahead)."""
    eat = min(queue, size)
    return min(rem, size - eat), queue - eat


@njit(cache=True)
def fill_qty_nb(model: int, side: int, limit: float, rem: float, queue: float,
                price: float, size: float) -> tuple[float, float]:
    """Return (filled qty, new queue ahead) for an order on the book hit by one print."""
    if crosses_nb(side, limit, price):
        return rem, 0.0
    if model == FillModel.CROSS or not touches_nb(limit, price):
        return 0.0, queue
    if model == FillModel.TOUCH:
        return rem, queue
    return queue_fill_nb(rem, queue, size)


@njit(cache=True)
def collect_fills_nb(st, g, t, p, size, ep):
    """One print (t, p, size) on grid g's order rows: drop rows whose cancel is effective,
    bring in-flight orders with `t >= active_ts` to the book (a PostOnly order crossing the
    previous price is rejected: `n_rej`), compute every fill quantity; writes the fills into
    `g.fill_row` / `g.fill_qty` in price-path order (p <= previous price: limit descending,
    else ascending; ties in row order) and returns their number. Nothing is booked here."""
    orders = g.orders
    model = ep.fill_model
    prev = st["prev_p"]
    nfill = 0
    for r in range(orders.shape[0]):
        o = orders[r]
        side = o["side"]
        if side == 0:
            continue
        if t >= o["cancel_ts"]:
            o["side"] = 0
            continue
        if o["live"] == 0:
            if t < o["active_ts"]:
                continue
            if ep.post_only and not post_only_ok_nb(side, o["price"], prev, prev):
                o["side"] = 0
                st["n_rej"] += 1
                continue
            o["live"] = 1
            o["queue"] = ep.queue_ahead + ep.queue_mult * o["qty"]
        fq, q = fill_qty_nb(model, side, o["price"], o["rem"], o["queue"], p, size)
        o["queue"] = q
        if fq > 0.0:
            g.fill_row[nfill] = r
            g.fill_qty[nfill] = fq
            nfill += 1
    if nfill > 1:
        _path_sort(orders, g.fill_row, g.fill_qty, nfill, p <= prev)
    return nfill


@njit(cache=True)
def _path_sort(orders, rows, qtys, m, falling):
    """Stable insertion sort of the first m fills by limit (descending when `falling`)."""
    for a in range(1, m):
        r = rows[a]
        q = qtys[a]
        key = orders[r]["price"]
        b = a - 1
        while b >= 0:
            kb = orders[rows[b]]["price"]
            if (kb < key) if falling else (kb > key):
                rows[b + 1] = rows[b]
                qtys[b + 1] = qtys[b]
                b -= 1
            else:
                break
        rows[b + 1] = r
        qtys[b + 1] = q
