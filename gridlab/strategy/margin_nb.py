"""Margin, liquidation and order cost of a USDT linear position, as Bybit computes them (numba).

Pure functions of plain floats and the risk-limit tier arrays of one instrument (ascending
`limit` = riskLimitValue, `mmr` = maintenanceMargin rate, `imr` = initialMargin rate,
`mmd` = mmDeduction, `max_lev` = maxLeverage; one row per tier, as /v5/market/risk-limit
returns them). Sources, Bybit help center:

- "Maintenance Margin (USDT Contract)": `MM = position value x MMR - MM deduction`, the tier
  being the first whose riskLimitValue is >= the position value; `deduction(n) = limit(n-1) x
  (MMR(n) - MMR(n-1)) + deduction(n-1)` (`mm_deductions_nb` derives it when a source omits it).
- "Liquidation Price (USDT Contract)", isolated margin:
  long `LP = entry - (IM - MM) / size - extra / size`, short `LP = entry + (IM - MM) / size +
  extra / size`, `IM = size x entry / leverage`, position value = size x entry.
- Cross margin on a USDT unified account: the position is liquidated when the margin that
  backs it (wallet balance available to it) falls to its maintenance margin; with the same
  MM (valued at entry, as above) that is `LP = entry - (balance - MM) / size` (long) and
  `entry + (balance - MM) / size` (short). With `balance = IM + extra` it is the isolated
  price: one formula, two margin sources.
- "Bankruptcy Price": the 0 % margin price, where the liquidation engine takes the position
  over: long `entry - margin / size`, short `entry + margin / size`.
- "Order Cost (USDT Contract)": `IM + fee to open + fee to close`, fee to open = qty x price x
  taker fee, fee to close = qty x bankruptcy price x taker fee (long bankruptcy price =
  price x (1 - 1/leverage), short = price x (1 + 1/leverage)). Only the part of an order that
  opens or adds to a position costs margin; the part that reduces it costs nothing.

Available balance (the 110007 check, `order_margin_ok_nb`): the margin balance (isolated: the
wallet balance; cross: wallet balance + unrealized PnL) less the position's IM (at its entry)
and the order margin of the resting orders; in one-way mode the order margin is that of the
side that costs more (buy or sell), each side's cost being the order cost of its opening part
at its average price. An order is refused when, with it, that requirement exceeds the margin
balance and it raises the requirement (an order that only reduces is never refused).

Side is +1 (long / buy) or -1 (short / sell); sizes are positive. A long liquidation price
below 0 is reported as 0 (it cannot be reached), as Bybit shows "--".
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "bankruptcy_price_nb",
    "initial_margin_nb",
    "liq_crossed_nb",
    "liq_price_nb",
    "maintenance_margin_nb",
    "mm_deductions_nb",
    "opening_qty_nb",
    "order_cost_nb",
    "order_margin_ok_nb",
    "side_order_cost_nb",
    "tier_index_nb",
]


@njit(cache=True)
def tier_index_nb(limit, value):
    """Index of the first tier whose risk limit is >= `value`; `limit.shape[0]` if `value`
    exceeds the highest tier (Bybit refuses such an order: 110090 "position exceeds the risk
    limit"); 0 for an empty table is never returned (the caller refuses an empty table)."""
    n = limit.shape[0]
    for i in range(n):
        if value <= limit[i]:
            return i
    return n


@njit(cache=True)
def mm_deductions_nb(limit, mmr):
    """MM deduction of every tier from the tier table: 0 for the first tier, then
    `limit[n-1] * (mmr[n] - mmr[n-1]) + deduction[n-1]`."""
    n = limit.shape[0]
    out = np.zeros(n, dtype=np.float64)
    for i in range(1, n):
        out[i] = limit[i - 1] * (mmr[i] - mmr[i - 1]) + out[i - 1]
    return out


@njit(cache=True)
def maintenance_margin_nb(value, limit, mmr, mmd):
    """Maintenance margin of a position of notional `value` (>= 0): `value x MMR - deduction`
    of its tier; a value above the highest tier uses the highest tier."""
    if value <= 0.0:
        return 0.0
    i = tier_index_nb(limit, value)
    if i >= limit.shape[0]:
        i = limit.shape[0] - 1
    return value * mmr[i] - mmd[i]


@njit(cache=True)
def initial_margin_nb(value, leverage):
    """Initial margin of a position of notional `value`: `value / leverage`."""
    return value / leverage


@njit(cache=True)
def liq_price_nb(side, size, entry, margin, limit, mmr, mmd):
    """Liquidation price of a position (side +-1, size > 0 at `entry`) backed by `margin`
    (isolated: IM + extra margin; cross: the wallet balance available to it). nan without a
    position. A long price below 0 is 0; a short price is never below 0 by construction."""
    if size <= 0.0:
        return np.nan
    mm = maintenance_margin_nb(size * entry, limit, mmr, mmd)
    lp = entry - side * (margin - mm) / size
    if lp < 0.0:
        return 0.0
    return lp


@njit(cache=True)
def bankruptcy_price_nb(side, size, entry, margin):
    """The 0 % margin price of a position backed by `margin`: `entry -+ margin / size`
    (never below 0). nan without a position."""
    if size <= 0.0:
        return np.nan
    bp = entry - side * margin / size
    if bp < 0.0:
        return 0.0
    return bp


@njit(cache=True)
def liq_crossed_nb(side, liq_price, mark):
    """True when the mark price has reached the liquidation price (long: mark <= LP, short:
    mark >= LP). A nan LP (no position) or a long LP of 0 is never reached."""
    if np.isnan(liq_price):
        return False
    if side > 0:
        return liq_price > 0.0 and mark <= liq_price
    return mark >= liq_price


@njit(cache=True)
def opening_qty_nb(side, qty, position):
    """The part of an order (side +-1, qty > 0) that opens or adds to `position` (signed):
    all of it on the position's side or flat, the excess over the position when it reduces."""
    if position == 0.0 or (position > 0.0) == (side > 0):
        return qty
    rest = qty - abs(position)
    return rest if rest > 0.0 else 0.0


@njit(cache=True)
def order_cost_nb(side, qty, price, leverage, taker_fee):
    """Order cost of `qty` opened at `price`: IM + fee to open + fee to close at the
    bankruptcy price `price x (1 -+ 1/leverage)`."""
    value = qty * price
    bp = price * (1.0 - side / leverage)
    if bp < 0.0:
        bp = 0.0
    return value / leverage + value * taker_fee + qty * bp * taker_fee


@njit(cache=True)
def side_order_cost_nb(side, qty, notional, position, leverage, taker_fee):
    """Order cost of the opening part of `qty` resting on one side (`notional` = their qty x
    price summed) against `position`: at their average price; 0 when nothing opens."""
    oq = opening_qty_nb(side, qty, position)
    if oq <= 0.0 or qty <= 0.0:
        return 0.0
    return order_cost_nb(side, oq, notional / qty, leverage, taker_fee)


@njit(cache=True)
def order_margin_ok_nb(side, qty, price, position, entry, balance, bq, bn, sq, sn, leverage,
                       taker_fee):
    """True when the margin carries a new order (side, qty at price) next to the resting
    buys (qty bq, notional bn) and sells (sq, sn) of a position (signed) at `entry`, with
    margin balance `balance` (see the module docstring; Bybit refuses with 110007)."""
    im = abs(position) * entry / leverage
    cb = side_order_cost_nb(1, bq, bn, position, leverage, taker_fee)
    cs = side_order_cost_nb(-1, sq, sn, position, leverage, taker_fee)
    before = im + max(cb, cs)
    if side > 0:
        cb = side_order_cost_nb(1, bq + qty, bn + qty * price, position, leverage, taker_fee)
    else:
        cs = side_order_cost_nb(-1, sq + qty, sn + qty * price, position, leverage, taker_fee)
    after = im + max(cb, cs)
    return after <= before or after <= balance
