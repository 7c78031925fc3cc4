"""The one risk gate of the step (numba): `gate_nb`, its account context and resting totals.

Every order the step (`step_nb`) places or seeds passes `gate_nb` (docs/strategy-kernels.md,
"The risk gate"): the grid's own part (`own_gate_ok_nb`: exposure cap / max position, spot
balances), the margin (`margin_gate_nb`, when `ep.margin` is on) and, with `ax.on`, the
account's limits over every grid of a portfolio (`AcctCtx`, `account_arrays_nb`).
`resting_nb` gives a grid's resting totals (in flight, on the book, cancel not yet
effective) that the gate is asked with.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from gridlab.backtest.enums import ACC, N_ACC, ORDER_DTYPE
from gridlab.backtest.ledger_nb import equity_nb
from gridlab.backtest.margin_gate_nb import margin_refuses_nb, resting_sides_nb
from gridlab.backtest.state_nb import GRID_STATE_DTYPE, INT64_MAX
from gridlab.strategy.account_nb import (
    account_equity_nb,
    account_order_allowed_nb,
    account_order_shrinks_nb,
)
from gridlab.strategy.risk_nb import order_allowed_nb, spot_order_allowed_nb

__all__ = [
    "GATE_ACCOUNT",
    "GATE_MARGIN",
    "GATE_OK",
    "GATE_OWN",
    "AcctCtx",
    "account_arrays_nb",
    "gate_nb",
    "no_account_nb",
    "own_gate_ok_nb",
    "resting_nb",
]

GATE_OK, GATE_OWN, GATE_ACCOUNT, GATE_MARGIN = 0, 1, 2, 3


class AcctCtx(NamedTuple):
    """The account a grid trades in (portfolio runs). `on` False: no account gate."""

    on: bool
    k: int  # this grid's index
    capital: float  # account capital
    max_exp: float  # max_total_exposure_pct (0 = off)
    max_share: float  # max_symbol_share (0 = off)
    gs: np.ndarray  # GRID_STATE_DTYPE[S] every grid's record (marks)
    acc: np.ndarray  # f8[S, N_ACC] every grid's ledger
    orders: np.ndarray  # ORDER_DTYPE[sum 2 n_j] every grid's order rows, concatenated
    ooff: np.ndarray  # i8[S + 1] grid j's rows: orders[ooff[j]:ooff[j + 1]]
    caps: np.ndarray  # f8[S] grid capitals
    pos: np.ndarray  # f8[S] scratch: positions
    rb: np.ndarray  # f8[S] scratch: resting buy qty
    rs: np.ndarray  # f8[S] scratch: resting sell qty
    marks: np.ndarray  # f8[S] scratch: marks
    eqs: np.ndarray  # f8[S] scratch: equities
    # per-grid resting totals cache of `account_arrays_nb` (zero rows: no cache, e.g. live,
    # where orders change outside the step): rkey[j] = (grid j's epoch, from ts, until ts)
    # of the totals rval[j] = (resting buy qty, resting sell qty); epoch -1: none
    rkey: np.ndarray = np.full((0, 3), -1, np.int64)
    rval: np.ndarray = np.zeros((0, 2), np.float64)


@njit(cache=True)
def no_account_nb():
    """The account context of a lone grid (no account gate)."""
    z = np.zeros(1, np.float64)
    return AcctCtx(
        False,
        0,
        0.0,
        0.0,
        0.0,
        np.zeros(1, GRID_STATE_DTYPE),
        np.zeros((1, N_ACC), np.float64),
        np.zeros(0, ORDER_DTYPE),
        np.zeros(2, np.int64),
        z,
        z,
        z,
        z,
        z,
        z,
        np.full((0, 3), -1, np.int64),
        np.zeros((0, 2), np.float64),
    )


@njit(cache=True)
def resting_nb(orders, ts):
    """(resting buy qty, resting sell qty, resting buy notional) of the rows with a side and
    `ts < cancel_ts` (in flight, on the book, cancel not yet effective), in row order: the
    margin gate's `resting_sides_nb` (the same sums)."""
    rb, rbn, rs, _ = resting_sides_nb(orders, ts)
    return rb, rs, rbn


@njit(cache=True, _nrt=False)
def _resting_until_nb(orders, ts):
    """`resting_nb`'s buy and sell totals (the same sums in the same order) and the earliest
    `cancel_ts` among the rows counted: the totals hold for later times before it."""
    rb = 0.0
    rs = 0.0
    until = INT64_MAX
    for r in range(orders.shape[0]):
        o = orders[r]
        if o["side"] == 0 or ts >= o["cancel_ts"]:
            continue
        if o["cancel_ts"] < until:
            until = o["cancel_ts"]
        if o["side"] > 0:
            rb += o["rem"]
        else:
            rs += o["rem"]
    return rb, rs, until


@njit(cache=True, _nrt=False)
def account_arrays_nb(ax, ts):
    """Fill ax's scratch arrays (positions, resting totals at `ts`, marks, equities).

    With a cache (`ax.rkey` rows) grid j's resting totals are summed again only when its
    epoch moved (every change of its orders bumps it, or is followed by `gate_nb`'s
    invalidation) or `ts` left the window in which no counted row's cancel takes effect.
    Compiled without reference counting (views only): called at every account decision."""
    for j in range(ax.pos.shape[0]):
        account_row_nb(ax, j, ts)


@njit(cache=True, _nrt=False, inline="always")
def account_row_nb(ax, j, ts):
    """`account_arrays_nb` for grid j alone (inlined: a call would pass all of `ax`)."""
    if ax.rkey.shape[0] > 0:
        ej = ax.gs[j]["epoch"]
        if ax.rkey[j, 0] == ej and ax.rkey[j, 1] <= ts < ax.rkey[j, 2]:
            b = ax.rval[j, 0]
            s_ = ax.rval[j, 1]
        else:
            b, s_, until = _resting_until_nb(ax.orders[ax.ooff[j] : ax.ooff[j + 1]], ts)
            ax.rkey[j, 0] = ej
            ax.rkey[j, 1] = ts
            ax.rkey[j, 2] = until
            ax.rval[j, 0] = b
            ax.rval[j, 1] = s_
    else:
        b, s_, _ = resting_nb(ax.orders[ax.ooff[j] : ax.ooff[j + 1]], ts)
    m = ax.gs[j]["mark"]
    ax.pos[j] = ax.acc[j, ACC.POS]
    ax.rb[j] = b
    ax.rs[j] = s_
    ax.marks[j] = m
    ax.eqs[j] = equity_nb(ax.acc[j], ax.caps[j], m)


@njit(cache=True, inline="always")
def own_gate_ok_nb(g, side, qty, price, fee_rate, rb, rs, eq, rbn, rk, ep):
    """The grid's own part of the gate: exposure cap / max position, spot balances."""
    pos = g.acc[ACC.POS]
    if not order_allowed_nb(side, qty, price, pos, rb, rs, eq, rk):
        return False
    return not (
        ep.spot
        and not spot_order_allowed_nb(side, qty, price, g.acc[ACC.CASH], pos, rbn, rs, fee_rate)
    )


@njit(cache=True, inline="always")
def gate_nb(st, g, side, qty, price, fee_rate, rb, rs, rbn, eq, rk, ep, ax, ts):
    """The risk gate of one order (docs: "The risk gate"): GATE_OK, GATE_OWN (the grid's
    exposure cap / max position / spot balances) or GATE_ACCOUNT (the account's limits;
    also counted in `n_acc_blocked`). `rb, rs, rbn`: the grid's resting totals; `eq`: its
    equity at the event price. With `ep.margin` on, the margin must carry the order
    (margin_gate_nb: GATE_MARGIN, counted in `n_mref`)."""
    if not own_gate_ok_nb(g, side, qty, price, fee_rate, rb, rs, eq, rbn, rk, ep):
        return GATE_OWN
    if ep.margin != 0 and margin_refuses_nb(
        st,
        g.acc,
        g.orders,
        side,
        qty,
        price,
        eq,
        ep.capital,
        ep.margin,
        ep.leverage,
        ep.taker_fee,
        ts,
    ):
        return GATE_MARGIN
    if ax.on and (ax.max_exp > 0.0 or ax.max_share > 0.0):
        # an order that shrinks its grid's worst case passes whatever the others: their rows
        # are read only when it does not
        account_row_nb(ax, ax.k, ts)
        if account_order_shrinks_nb(side, qty, ax.pos[ax.k], ax.rb[ax.k], ax.rs[ax.k]):
            if ax.rkey.shape[0] > 0:
                ax.rkey[ax.k, 0] = -1
            return GATE_OK
        account_arrays_nb(ax, ts)
        tot = account_equity_nb(ax.capital, ax.eqs, ax.caps)
        if not account_order_allowed_nb(
            ax.k, side, qty, price, ax.pos, ax.rb, ax.rs, ax.marks, tot, ax.max_exp, ax.max_share
        ):
            st["n_acc_blocked"] += 1
            return GATE_ACCOUNT
    if ax.rkey.shape[0] > 0:
        ax.rkey[ax.k, 0] = -1  # the caller places an order next (its epoch may not move)
    return GATE_OK
