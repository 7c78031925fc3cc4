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

from gridlab.backtest.account_nb import apply_fill_nb
from gridlab.backtest.enums import FillModel
from gridlab.strategy.risk_nb import post_only_ok_nb

__all__ = ["STEP_FILLED", "STEP_NONE", "STEP_REJECTED", "crosses_nb", "fill_qty_nb",
           "order_step_nb"]

STEP_NONE, STEP_REJECTED, STEP_FILLED = 0, 1, 2


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


@njit(cache=True, inline="always")  # IR-inlined: the hot loop pays no call
def order_step_nb(o, t, idx, p, size, prev_p, model, ep, acc, eps):
    """One resting order at event `idx` (time `t`, price `p`, traded `size`).

    Drops it once its cancel is effective; activates it on the first eligible event after its
    decision (a PostOnly order crossing `prev_p` is rejected and dropped); then fills it per the
    fill model at its limit price, booking the fill in `acc`. Returns
    (status STEP_*, side, filled qty, fee, completely filled). Both replay kernels call this.
    """
    side = o["side"]
    if side == 0:
        return STEP_NONE, 0, 0.0, 0.0, False
    if t >= o["cancel_ts"]:
        o["side"] = 0
        return STEP_NONE, 0, 0.0, 0.0, False
    if o["live"] == 0:
        if idx <= o["dec_idx"] or t < o["active_ts"]:
            return STEP_NONE, 0, 0.0, 0.0, False
        if ep.post_only and not post_only_ok_nb(side, o["price"], prev_p, prev_p):
            o["side"] = 0
            return STEP_REJECTED, 0, 0.0, 0.0, False
        o["live"] = 1
        o["queue"] = ep.queue_ahead + ep.queue_mult * o["qty"]
    lim = o["price"]
    rem = o["rem"]
    fq, q = fill_qty_nb(model, side, lim, rem, o["queue"], p, size)
    o["queue"] = q
    if fq <= 0.0:
        return STEP_NONE, 0, 0.0, 0.0, False
    fee = apply_fill_nb(acc, side, fq, lim, ep.maker_fee, eps)
    full = fq >= rem
    if full:
        o["rem"] = 0.0
        o["side"] = 0
    else:
        o["rem"] = rem - fq
    return STEP_FILLED, side, fq, fee, full
