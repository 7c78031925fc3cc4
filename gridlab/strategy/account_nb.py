"""Account-level risk decisions (numba kernels) for several grids trading from one account.

Each grid keeps its own `risk_nb` checks on its own ledger; these kernels decide on top of them
for the whole account, from per-grid arrays (one entry per grid, the same order everywhere):

- `account_equity_nb`: total equity = account capital + the PnL of every grid;
- `account_kill_switch_nb`: `kill_switch_nb` (risk_nb) over that total equity;
- `account_order_allowed_nb`: the total exposure cap and the per-symbol share of equity, on
  the worst case, with `order_allowed_nb`'s semantics (orders that shrink the worst case pass:
  `account_order_shrinks_nb`);
- `worst_notional_nb` / `total_worst_notional_nb`: a grid's exposure if all resting orders of
  one side filled (the larger side), and its sum over the grids.

The live runner (live/account.py) and the portfolio backtest call these same functions.
Allocation-free.
"""

from __future__ import annotations

from numba import njit

from gridlab.strategy.enums import Side
from gridlab.strategy.risk_nb import kill_switch_nb

__all__ = [
    "account_equity_nb",
    "account_kill_switch_nb",
    "account_order_allowed_nb",
    "account_order_shrinks_nb",
    "total_worst_notional_nb",
    "worst_notional_nb",
]


@njit(cache=True)
def account_equity_nb(capital, equities, capitals):
    """Total equity: `capital + sum_i (equities[i] - capitals[i])`, summed in index order.

    `capital` is the account's (portfolio) capital, `capitals[i]` the part grid i trades with
    and `equities[i]` its equity; capital no grid holds stays cash (no PnL).
    """
    total = capital
    for i in range(equities.shape[0]):
        total += equities[i] - capitals[i]
    return total


@njit(cache=True)
def account_kill_switch_nb(ts, capital, equities, capitals, kill_state, threshold):
    """`kill_switch_nb(ts, account_equity_nb(...), kill_state, threshold)`: the daily drawdown
    kill switch on the account's total equity (True = stop every grid). Updates `kill_state`."""
    return kill_switch_nb(ts, account_equity_nb(capital, equities, capitals), kill_state,
                          threshold)


@njit(cache=True)
def worst_notional_nb(position, resting_buy_qty, resting_sell_qty, mark):
    """`max(|position + resting_buy_qty|, |position - resting_sell_qty|) * mark`: the grid's
    exposure if every resting order of one side filled (the worse side)."""
    return max(abs(position + resting_buy_qty), abs(position - resting_sell_qty)) * mark


@njit(cache=True)
def total_worst_notional_nb(positions, resting_buy, resting_sell, marks):
    """Sum of `worst_notional_nb` over the grids, in index order."""
    total = 0.0
    for j in range(positions.shape[0]):
        total += worst_notional_nb(positions[j], resting_buy[j], resting_sell[j], marks[j])
    return total


@njit(cache=True)
def account_order_shrinks_nb(side, qty, position, resting_buy, resting_sell):
    """True when the order shrinks the worst case of its side (`|before + side * qty| <
    |before|`, before = position + resting buys, or - resting sells): `account_order_allowed_nb`
    lets it pass whatever the other grids and the equity."""
    before = position + resting_buy if side == Side.BUY else position - resting_sell
    return abs(before + side * qty) < abs(before)


@njit(cache=True)
def account_order_allowed_nb(k, side, qty, price, positions, resting_buy, resting_sell, marks,
                             total_equity, max_total_exposure_pct, max_symbol_share):
    """May grid `k` place an order (`side`, `qty`, `price`)? The account-level exposure check.

    An order that shrinks the worst case of its side passes (as in `order_allowed_nb`).
    Otherwise its worst case `w = positions[k] + resting_buy[k] + qty` (buy) or `positions[k] -
    resting_sell[k] - qty` (sell), valued at the order price, `own = |w| * price`, must satisfy
    - `own <= max_symbol_share * total_equity` (0 = off), and
    - `own + sum_{j != k} worst_notional_nb(j at marks[j]) <= max_total_exposure_pct *
      total_equity` (0 = off).
    A comparison with nan (an unknown mark or equity) blocks: the caller passes finite marks.
    """
    if account_order_shrinks_nb(side, qty, positions[k], resting_buy[k], resting_sell[k]):
        return True
    pos = positions[k]
    before = pos + resting_buy[k] if side == Side.BUY else pos - resting_sell[k]
    worst = before + side * qty
    own = abs(worst) * price
    if max_symbol_share > 0.0 and not own <= max_symbol_share * total_equity:
        return False
    if max_total_exposure_pct > 0.0:
        others = 0.0
        for j in range(positions.shape[0]):
            if j != k:
                others += worst_notional_nb(positions[j], resting_buy[j], resting_sell[j],
                                            marks[j])
        if not own + others <= max_total_exposure_pct * total_equity:
            return False
    return True
