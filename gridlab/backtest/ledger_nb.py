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

import numpy as np
from numba import njit

from gridlab.backtest.enums import ACC

__all__ = ["apply_fill_nb", "apply_funding_nb", "base_equity_nb", "dd_floor_nb", "drawdown_nb",
           "equity_nb", "unrealized_nb"]


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


@njit(cache=True, inline="always")
def dd_floor_nb(peak: float, max_dd: float) -> float:
    """A drawdown depth `peak - e` at or below this value cannot beat `max_dd`: it is at most
    the real `max_dd * peak` (the product rounded, then shrunk by 2**-50), so the rounded
    `(peak - e) / peak` is at most `max_dd`. -inf when peak <= 0, 0 when tiny (no skip)."""
    if not peak > 0.0:
        return -np.inf
    x = max_dd * peak
    if not x > 1e-290:
        return 0.0
    return x * (1.0 - 2.0 ** -50)


@njit(cache=True, inline="always")
def drawdown_nb(e, t, peak, peak_ts, max_dd, max_dur, lim):
    """The drawdown rule, after equity `e` at time t: the running peak (and its time), the
    max drawdown `(peak - e) / peak` and the longest time below a peak. `lim` is
    `dd_floor_nb(peak, max_dd)`, or -inf: depths not above it skip the division, which
    cannot change the result (a caller that passes -inf every time always divides).
    Returns (peak, peak_ts, max_dd, max_dur, lim)."""
    if e >= peak:
        if t - peak_ts > max_dur:
            max_dur = t - peak_ts
        if e != peak:
            lim = dd_floor_nb(e, max_dd)
        peak = e
        peak_ts = t
    elif peak - e > lim:
        dd = (peak - e) / peak
        if dd > max_dd:
            max_dd = dd
            lim = dd_floor_nb(peak, max_dd)
    return peak, peak_ts, max_dd, max_dur, lim
