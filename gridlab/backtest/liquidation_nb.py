"""Liquidation in the one step kernel (numba): the liquidation price after every fill, and the
position taken over when the mark crosses it.

The simulated exchange (`sim_nb`) calls `liq_step_nb` at three points of an event when
`ep.margin` is on: before the book (`refresh=False`: the liquidation price of the position as
it stands, against this event's mark), after the book's fills (`refresh` when something
filled) and after the check. Rules (Bybit help center, "Liquidation Process", "Bankruptcy
Price"; docs/margin.md):

- the liquidation price (`margin_nb.liq_price_nb`, tiers `ep.tier_*`) is recomputed from the
  position after every fill and at every check: isolated, the position is backed by its initial
  margin `size x entry / leverage`; cross, by the wallet balance (initial + realized - fees -
  funding; funding moves it at the next check);
- when the mark reaches it (`liq_crossed_nb`), every order is cancelled at once (no cancel
  latency: nothing can fill afterwards) and the position is taken over by the liquidation
  engine at the bankruptcy price (`bankruptcy_price_nb`, same margin) without a fee to the user:
  the margin backing it is lost, whatever the trade price did beyond; the grid stops
  (Stop.LIQUIDATED). Partial liquidation at higher tiers is not modelled (the whole position
  is taken over);
- the liquidation price is folded into the book summary (`best_buy` / `best_sell`) so the
  replay loops' pre-filter (`fills_nb.can_fill_nb`, the cross rule) visits every event whose
  mark reaches it: a long's price L becomes the buy trigger `nextafter(L, +inf)` (`p < that`
  is `p <= L`), a short's the sell trigger `nextafter(L, -inf)`.

The mark is the event price, or with a mark-price series (`ep.mark_ts` / `ep.mark_px`: the
time each mark is known and the mark, e.g. 1m mark-price kline closes from their bar's end)
the last mark known at the event; then the liquidation is looked for at the refresh points
only (after an event with fills, at every check: at most `check_ms` late) and the trade price
is not folded into the book summary. Without a series the result carries a warning.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gridlab.backtest.enums import ACC, MarginMode
from gridlab.backtest.ledger_nb import apply_fill_nb, base_equity_nb
from gridlab.backtest.state_nb import Act
from gridlab.backtest.step_nb import book_state_nb, emit_nb, stop_grid_nb
from gridlab.strategy.enums import Stop
from gridlab.strategy.margin_nb import bankruptcy_price_nb, liq_crossed_nb, liq_price_nb

__all__ = ["liq_step_nb", "liquidate_nb", "mark_at_nb", "position_margin_nb", "refresh_liq_nb"]


@njit(cache=True, inline="always")
def position_margin_nb(acc, ep):
    """The margin backing the position: its initial margin (isolated) or the wallet balance
    (cross)."""
    if ep.margin == MarginMode.CROSS:
        return base_equity_nb(acc, ep.capital)
    return abs(acc[ACC.POS]) * acc[ACC.AVG] / ep.leverage


@njit(cache=True, inline="always")
def refresh_liq_nb(st, acc, ep):
    """Recompute `st.liq_px` from the position (nan when flat). The price is a pure function of
    the position, its entry and the margin backing it: computed again only when one of them
    changed since the last time (`st.liq_pos`, `liq_avg`, `liq_bal`), else kept (the same
    value, without the tier lookup)."""
    pos = acc[ACC.POS]
    if pos == 0.0:
        st["liq_px"] = np.nan
        st["liq_pos"] = 0.0  # nothing cached: the price is nan now
        return
    avg = acc[ACC.AVG]
    bal = position_margin_nb(acc, ep)
    if pos == st["liq_pos"] and avg == st["liq_avg"] and bal == st["liq_bal"]:
        return
    st["liq_pos"] = pos
    st["liq_avg"] = avg
    st["liq_bal"] = bal
    st["liq_px"] = liq_price_nb(1 if pos > 0.0 else -1, abs(pos), avg, bal, ep.tier_limit,
                                ep.tier_mmr, ep.tier_mmd)


@njit(cache=True, inline="always")
def fold_liq_nb(st, pos):
    """Fold the liquidation price into the book summary (module docstring)."""
    lp = st["liq_px"]
    if np.isnan(lp) or pos == 0.0:
        return
    if pos > 0.0:
        if lp > 0.0:
            st["best_buy"] = max(st["best_buy"], np.nextafter(lp, np.inf))
    else:
        st["best_sell"] = min(st["best_sell"], np.nextafter(lp, -np.inf))


@njit(cache=True, _nrt=False)
def liquidate_nb(st, g, t, p, rk, ep):
    """Take the position over at its bankruptcy price (no fee), cancel every order at once,
    stop the grid (Stop.LIQUIDATED). Returns the action count (LIQUIDATE, CANCEL_ALL, STOP)."""
    acc = g.acc
    pos = acc[ACC.POS]
    side = 1 if pos > 0.0 else -1
    size = abs(pos)
    bp = bankruptcy_price_nb(side, size, acc[ACC.AVG], position_margin_nb(acc, ep))
    before = acc[ACC.REALIZED]
    fee = apply_fill_nb(acc, -side, size, bp, 0.0, st["eps"])  # no fee to the user
    st["epoch"] += 1
    st["n_liq"] += 1
    st["liq_ts"] = t
    st["liq_loss"] += before - acc[ACC.REALIZED]
    st["liq_px"] = np.nan
    st["liq_pos"] = 0.0
    na = emit_nb(g.act, 0, Act.LIQUIDATE, -1, -side, bp, size, fee, t, 0, acc[ACC.POS])
    na = stop_grid_nb(st, g, t, p, Stop.LIQUIDATED, rk, ep, True, na)
    for r in range(g.orders.shape[0]):
        g.orders[r]["side"] = 0
    book_state_nb(st, g.orders)
    return na


@njit(cache=True)
def mark_at_nb(st, ep, t, p):
    """The mark at time t: the last mark of the series known by t (`st.mark_i` advances), the
    event price p before the first one."""
    n = ep.mark_ts.shape[0]
    i = st["mark_i"]
    while i < n and ep.mark_ts[i] <= t:
        i += 1
    st["mark_i"] = i
    return ep.mark_px[i - 1] if i > 0 else p


@njit(cache=True, _nrt=False, inline="always")
def liq_step_nb(st, g, t, p, rk, ep, refresh):
    """One liquidation point of an event at price `p`: recompute the liquidation price when
    `refresh`, liquidate when the mark has reached it, fold it into the book summary. Returns
    the number of actions written into `g.act` (0: no liquidation). With a mark-price series
    only the refresh points look (after fills, at checks), against the series' mark."""
    marked = ep.mark_ts.shape[0] > 0
    if marked and not refresh:
        return 0
    if refresh:
        refresh_liq_nb(st, g.acc, ep)
    pos = g.acc[ACC.POS]
    m = mark_at_nb(st, ep, t, p) if marked else p
    if pos != 0.0 and liq_crossed_nb(1 if pos > 0.0 else -1, st["liq_px"], m):
        return liquidate_nb(st, g, t, p, rk, ep)
    if not marked:
        fold_liq_nb(st, pos)
    return 0
