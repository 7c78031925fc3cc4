"""Accounting kernels over the state vector `acc` (float64[N_ACC], indices in `ACC`).

Average-cost method. A fill that adds to the position moves the average entry; a fill that
reduces it realizes `closed * (price - avg) * sign(position)`; a fill that flips it realizes
the closed part and opens the rest at the fill price. A position within `eps` of zero is
snapped to exactly zero (float residue of adding lot multiples).

Equity at mark `m` is `(initial + realized - fees - funding) + position * (m - avg)`
(`unrealized = position * (m - avg)`); for spot it also equals `cash + position * m`.
Fees are charged in quote on the fill notional (spot included).
"""

from __future__ import annotations

from numba import njit

from gridlab.backtest.enums import ACC

__all__ = ["apply_fill_nb", "apply_funding_nb", "base_equity_nb", "equity_nb", "unrealized_nb"]


@njit(cache=True)
def apply_fill_nb(acc, side: int, qty: float, price: float, fee_rate: float,
                  eps: float) -> float:
    """Book one fill into `acc`; return the fee (quote)."""
    notional = qty * price
    fee = notional * fee_rate
    pos = acc[ACC.POS]
    avg = acc[ACC.AVG]
    sq = side * qty
    new = pos + sq
    if pos == 0.0 or (pos > 0.0) == (side > 0):
        if abs(new) <= eps:
            new = 0.0
            avg = 0.0
        else:
            avg = (avg * abs(pos) + notional) / abs(new)
    else:
        closed = min(qty, abs(pos))
        sign = 1.0 if pos > 0.0 else -1.0
        acc[ACC.REALIZED] += closed * (price - avg) * sign
        if abs(new) <= eps:
            new = 0.0
            avg = 0.0
        elif (new > 0.0) != (pos > 0.0):
            avg = price
    acc[ACC.POS] = new
    acc[ACC.AVG] = avg
    acc[ACC.FEES] += fee
    acc[ACC.CASH] -= sq * price + fee
    acc[ACC.TURNOVER] += notional
    return fee


@njit(cache=True)
def apply_funding_nb(acc, mark: float, rate: float) -> float:
    """Charge funding `position * mark * rate` (positive: longs pay); return it."""
    fee = acc[ACC.POS] * mark * rate
    acc[ACC.FUNDING] += fee
    acc[ACC.CASH] -= fee
    return fee


@njit(cache=True)
def unrealized_nb(acc, mark: float) -> float:
    """Unrealized PnL at `mark`."""
    return acc[ACC.POS] * (mark - acc[ACC.AVG])


@njit(cache=True)
def base_equity_nb(acc, initial: float) -> float:
    """The mark-independent part of equity: initial + realized - fees - funding."""
    return initial + acc[ACC.REALIZED] - acc[ACC.FEES] - acc[ACC.FUNDING]


@njit(cache=True)
def equity_nb(acc, initial: float, mark: float) -> float:
    """Equity at `mark`: (initial + realized - fees - funding) + unrealized."""
    return base_equity_nb(acc, initial) + acc[ACC.POS] * (mark - acc[ACC.AVG])
