"""The margin part of the risk gate (numba): orders the margin cannot carry are refused.

`margin_refuses_nb` is called by `gate_nb.gate_nb` (the one risk gate) when `ep.margin` is on:
the position's initial margin plus the order margin of the resting orders and the new one
against the margin balance, as Bybit checks an order (110007 "ab not enough for new order";
`strategy.margin_nb.order_margin_ok_nb`). A refusal is counted in `st.n_mref`.
"""

from __future__ import annotations

from numba import njit

from gridlab.backtest.enums import ACC, MarginMode
from gridlab.backtest.ledger_nb import base_equity_nb
from gridlab.strategy.margin_nb import order_margin_ok_nb

__all__ = ["margin_balance_nb", "margin_refuses_nb", "resting_sides_nb"]


@njit(cache=True)
def resting_sides_nb(orders, ts):
    """(buy qty, buy notional, sell qty, sell notional) of the order rows resting or in flight
    at `ts` (a cancel not yet effective included), in row order."""
    bq = bn = sq = sn = 0.0
    for r in range(orders.shape[0]):
        o = orders[r]
        if o["side"] == 0 or ts >= o["cancel_ts"]:
            continue
        if o["side"] > 0:
            bq += o["rem"]
            bn += o["rem"] * o["price"]
        else:
            sq += o["rem"]
            sn += o["rem"] * o["price"]
    return bq, bn, sq, sn


@njit(cache=True, inline="always")
def margin_balance_nb(acc, capital, margin, eq):
    """The margin balance orders are checked against: the wallet balance (isolated) or the
    equity `eq` at the event price (cross: unrealized PnL counts)."""
    if margin == MarginMode.CROSS:
        return eq
    return base_equity_nb(acc, capital)


@njit(cache=True)
def margin_refuses_nb(st, acc, orders, side, qty, price, eq, capital, margin, leverage,
                      taker_fee, ts):
    """True (and counted in `st.n_mref`) when the margin cannot carry the order (`capital`,
    `margin`, `leverage`, `taker_fee`: EngineParams' fields, passed alone so that a call does
    not copy the whole NamedTuple)."""
    bq, bn, sq, sn = resting_sides_nb(orders, ts)
    bal = margin_balance_nb(acc, capital, margin, eq)
    if order_margin_ok_nb(side, qty, price, acc[ACC.POS], acc[ACC.AVG], bal, bq, bn, sq, sn,
                          leverage, taker_fee):
        return False
    st["n_mref"] += 1
    return True
