"""Plain-Python reference of the margin kernels (gridlab/strategy/margin_nb.py).

Written from Bybit's help-center formulas quoted in that module's docstring, with lists
instead of arrays; imports nothing from gridlab.
"""

from __future__ import annotations

import math

__all__ = [
    "bankruptcy_price",
    "liq_crossed",
    "liq_price",
    "maintenance_margin",
    "mm_deductions",
    "opening_qty",
    "order_cost",
    "order_margin_ok",
    "side_order_cost",
    "tier_index",
]


def tier_index(limits: list[float], value: float) -> int:
    for i, lim in enumerate(limits):
        if value <= lim:
            return i
    return len(limits)


def mm_deductions(limits: list[float], mmrs: list[float]) -> list[float]:
    out = [0.0]
    for i in range(1, len(limits)):
        out.append(limits[i - 1] * (mmrs[i] - mmrs[i - 1]) + out[i - 1])
    return out


def maintenance_margin(value: float, limits: list[float], mmrs: list[float],
                       mmds: list[float]) -> float:
    if value <= 0.0:
        return 0.0
    i = min(tier_index(limits, value), len(limits) - 1)
    return value * mmrs[i] - mmds[i]


def liq_price(side: int, size: float, entry: float, margin: float, limits: list[float],
              mmrs: list[float], mmds: list[float]) -> float:
    if size <= 0.0:
        return math.nan
    mm = maintenance_margin(size * entry, limits, mmrs, mmds)
    lp = entry - side * (margin - mm) / size
    return max(lp, 0.0)


def bankruptcy_price(side: int, size: float, entry: float, margin: float) -> float:
    if size <= 0.0:
        return math.nan
    return max(entry - side * margin / size, 0.0)


def liq_crossed(side: int, lp: float, mark: float) -> bool:
    if math.isnan(lp):
        return False
    if side > 0:
        return lp > 0.0 and mark <= lp
    return mark >= lp


def opening_qty(side: int, qty: float, position: float) -> float:
    if position == 0.0 or (position > 0.0) == (side > 0):
        return qty
    return max(qty - abs(position), 0.0)


def order_cost(side: int, qty: float, price: float, leverage: float, taker_fee: float) -> float:
    value = qty * price
    bp = max(price * (1.0 - side / leverage), 0.0)
    return value / leverage + value * taker_fee + qty * bp * taker_fee


def side_order_cost(side: int, qty: float, notional: float, position: float, leverage: float,
                    taker_fee: float) -> float:
    """Order cost of the opening part of one side's resting qty, at its average price."""
    oq = opening_qty(side, qty, position)
    if oq <= 0.0 or qty <= 0.0:
        return 0.0
    return order_cost(side, oq, notional / qty, leverage, taker_fee)


def order_margin_ok(side: int, qty: float, price: float, position: float, entry: float,
                    balance: float, bq: float, bn: float, sq: float, sn: float,
                    leverage: float, taker_fee: float) -> bool:
    """Bybit's available-balance check (110007): position IM + the costlier side's order
    margin, with the new order, within the margin balance, unless the order lowers it."""
    im = abs(position) * entry / leverage
    buys = [bq, bn]
    sells = [sq, sn]
    before = im + max(side_order_cost(1, buys[0], buys[1], position, leverage, taker_fee),
                      side_order_cost(-1, sells[0], sells[1], position, leverage, taker_fee))
    book = buys if side > 0 else sells
    book[0], book[1] = book[0] + qty, book[1] + qty * price
    after = im + max(side_order_cost(1, buys[0], buys[1], position, leverage, taker_fee),
                     side_order_cost(-1, sells[0], sells[1], position, leverage, taker_fee))
    return after <= before or after <= balance
