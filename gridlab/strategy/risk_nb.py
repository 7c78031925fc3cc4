"""Risk decisions (numba kernels): exposure cap, spot no-borrow, PostOnly cross, kill switch,
stops. All allocation-free except `new_kill_state`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gridlab.strategy.enums import Side, Stop

__all__ = [
    "DAY_MS",
    "SPOT_TOL",
    "check_stops_nb",
    "kill_switch_nb",
    "new_kill_state",
    "order_allowed_nb",
    "post_only_ok_nb",
    "spot_order_allowed_nb",
    "stop_reason_nb",
]

DAY_MS = 86_400_000
SPOT_TOL = 1e-9
"""Relative tolerance of the spot balance checks (float noise of summed fills)."""


@njit(cache=True)
def order_allowed_nb(side, qty, price, position, resting_buy_qty, resting_sell_qty, equity, rk):
    """Exposure cap and max position on the worst case of the order's side.

    Worst case without the order: `before = position + resting_buy_qty` (buy) or `position -
    resting_sell_qty` (sell); with it: `worst = before + side * qty`. An order that shrinks
    that worst case (`|worst| < |before|`) always passes; otherwise it is allowed iff
    `|worst| * price <= max_exposure_pct * equity` and `|worst| <= max_position` (0 = off).
    Resting orders on the same side count, so reducing orders cannot stack past the cap.
    """
    before = position + resting_buy_qty if side == Side.BUY else position - resting_sell_qty
    worst = before + side * qty
    w = abs(worst)
    if w < abs(before):
        return True
    if rk.max_exposure_pct > 0.0 and w * price > rk.max_exposure_pct * equity:
        return False
    return not (rk.max_position > 0.0 and w > rk.max_position)


@njit(cache=True)
def spot_order_allowed_nb(side, qty, price, cash, inventory, resting_buy_notional,
                          resting_sell_qty, fee_rate):
    """No borrowing on spot: buys must be paid by `cash` (quote balance including what resting
    buys lock), sells must be covered by `inventory` (base balance). Tolerance SPOT_TOL.
    """
    if side == Side.BUY:
        need = resting_buy_notional + qty * price * (1.0 + fee_rate)
        return need <= cash + SPOT_TOL * need
    need = resting_sell_qty + qty
    return need <= inventory + SPOT_TOL * need


@njit(cache=True)
def post_only_ok_nb(side, price, best_bid, best_ask):
    """False if a PostOnly order would cross the spread (buy >= ask, sell <= bid).

    An unknown side of the book (nan or <= 0) does not block.
    """
    if side == Side.BUY:
        if np.isnan(best_ask) or best_ask <= 0.0:
            return True
        return price < best_ask
    if np.isnan(best_bid) or best_bid <= 0.0:
        return True
    return price > best_bid


@njit(cache=True)
def new_kill_state():
    """Kill-switch state f8[2] = (utc_day, daily_max_equity) before the first equity sample."""
    state = np.empty(2, dtype=np.float64)
    state[0] = -1.0
    state[1] = 0.0
    return state


@njit(cache=True, inline="always")
def kill_switch_nb(ts, equity, state, threshold):
    """Update the UTC-day max equity in `state`; True when the drawdown from it >= threshold.

    A new UTC day (`ts // 86_400_000`) resets the max to the current equity. threshold <= 0
    never fires (the state is still updated). The division runs only when `ts` is outside the
    stored day `[day * DAY_MS, (day + 1) * DAY_MS)` (once a day at one check a minute); the
    drawdown's division only when it is near the threshold (same answer).
    """
    day = state[0]
    if not (day * DAY_MS <= ts < (day + 1.0) * DAY_MS):
        day = float(ts // DAY_MS)
    if state[0] != day:
        state[0] = day
        state[1] = equity
    elif equity > state[1]:
        state[1] = equity
    daily_max = state[1]
    if threshold <= 0.0 or daily_max <= 0.0:
        return False
    # no division while the drawdown is clearly below the threshold: at most the real
    # threshold * daily_max shrunk by 2**-50, the rounded quotient cannot reach threshold
    x = threshold * daily_max
    if 1e-290 < x < 1e300 and daily_max - equity <= x * (1.0 - 2.0 ** -50):
        return False
    return (daily_max - equity) / daily_max >= threshold


@njit(cache=True, inline="always")
def stop_reason_nb(equity, initial_equity, price, rk):
    """First stop that fires (Stop code), checked SL equity, TP equity, price low, price high."""
    if rk.stop_loss_equity_pct > 0.0 and equity <= initial_equity * (1.0 - rk.stop_loss_equity_pct):
        return Stop.STOP_LOSS_EQUITY
    if rk.take_profit_equity_pct > 0.0 and equity >= initial_equity * (
        1.0 + rk.take_profit_equity_pct
    ):
        return Stop.TAKE_PROFIT_EQUITY
    if rk.stop_price_low > 0.0 and price <= rk.stop_price_low:
        return Stop.STOP_PRICE_LOW
    if rk.stop_price_high > 0.0 and price >= rk.stop_price_high:
        return Stop.STOP_PRICE_HIGH
    return Stop.NONE


@njit(cache=True)
def check_stops_nb(ts, equity, initial_equity, price, kill_state, rk):
    """One risk check: `stop_reason_nb`, and `kill_switch_nb` (always run, it tracks the daily
    max); a stop code wins over the kill switch. Returns a Stop code (0 = keep trading)."""
    code = stop_reason_nb(equity, initial_equity, price, rk)
    fire = kill_switch_nb(ts, equity, kill_state, rk.kill_switch_dd)
    if code == Stop.NONE and fire:
        return Stop.KILL_SWITCH
    return code
