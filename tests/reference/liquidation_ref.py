"""Plain-Python reference of the margin model in the step (gridlab/backtest/liquidation_nb.py,
margin_gate_nb.py), used by `engine_ref.Grid`; imports nothing from gridlab.

Written from the rules in docs/margin.md: with `engine.margin` 1 (isolated) or 2 (cross), an
order is refused when the margin cannot carry it (position IM + the costlier side's order
margin, with the order, above the margin balance, unless the order lowers that requirement);
the liquidation price is recomputed after a book event with fills and after every check, and
checked against the event price before the book, after it and after the check; a crossed
position is closed at its bankruptcy price without fee, every order is dropped at once and
the grid stops (code 6). With a mark-price series (`engine.mark_ts` / `mark_px`) only the
refresh points look, against the last mark known at the event.
"""

from __future__ import annotations

import math

from tests.reference import margin_ref as M

__all__ = ["LIQ_FILL", "STOP_LIQUIDATED", "liq_point", "margin_ok"]

LIQ_FILL = 4         # fill kind of the take-over
STOP_LIQUIDATED = 6  # stop code
ISOLATED, CROSS = 1, 2


def _tiers(ep) -> tuple[list[float], list[float], list[float]]:
    return ([float(x) for x in ep.tier_limit], [float(x) for x in ep.tier_mmr],
            [float(x) for x in ep.tier_mmd])


def position_margin(grid) -> float:
    """Isolated: the position's IM at its entry; cross: the wallet balance."""
    acc, ep = grid.acc, grid.ep
    if ep.margin == CROSS:
        return acc.capital + acc.realized - acc.fees - acc.funding
    return abs(acc.pos) * acc.avg / ep.leverage


def margin_ok(grid, side: int, qty: float, px: float, t: int, mark: float) -> bool:
    """Bybit's 110007 check of one new order; a refusal is counted."""
    acc, ep = grid.acc, grid.ep
    bq = bn = sq = sn = 0.0
    for o in grid.orders + grid.cancelling:
        if o is None or t >= o.cancel_ts:
            continue
        if o.side > 0:
            bq += o.rem
            bn += o.rem * o.price
        else:
            sq += o.rem
            sn += o.rem * o.price
    if ep.margin == CROSS:
        bal = acc.equity(mark)
    else:
        bal = acc.capital + acc.realized - acc.fees - acc.funding
    ok = M.order_margin_ok(side, qty, px, acc.pos, acc.avg, bal, bq, bn, sq, sn, ep.leverage,
                           ep.taker_fee)
    if not ok:
        grid.mcnt["refused"] += 1
    return ok


def mark_at(ep, t: int, p: float) -> float:
    """The last mark of the series known by t (its time <= t); p before the first / without."""
    known = [m for ts, m in zip(ep.mark_ts, ep.mark_px, strict=True) if ts <= t]
    return float(known[-1]) if known else p


def liq_point(grid, t: int, p: float, refresh: bool) -> None:
    """One liquidation point at event price p (see the module docstring)."""
    acc, ep = grid.acc, grid.ep
    marked = len(getattr(ep, "mark_ts", ())) > 0
    if marked and not refresh:
        return
    if refresh:
        if acc.pos == 0.0:
            grid.liq_px = math.nan
        else:
            side = 1 if acc.pos > 0.0 else -1
            grid.liq_px = M.liq_price(side, abs(acc.pos), acc.avg, position_margin(grid),
                                      *_tiers(ep))
    m = mark_at(ep, t, p) if marked else p
    if acc.pos == 0.0 or not M.liq_crossed(1 if acc.pos > 0.0 else -1, grid.liq_px, m):
        return
    side = 1 if acc.pos > 0.0 else -1
    size = abs(acc.pos)
    bp = M.bankruptcy_price(side, size, acc.avg, position_margin(grid))
    before = acc.realized
    fee = acc.fill(-side, size, bp, 0.0)
    grid.mcnt["liq"] += 1
    grid.mcnt["liq_ts"] = t
    grid.mcnt["liq_loss"] += before - acc.realized
    grid.liq_px = math.nan
    grid.record_fill(t, -side, bp, size, fee, LIQ_FILL, -1)
    grid.stop(t, p, STOP_LIQUIDATED)
    grid.orders = [None] * grid.n
    grid.cancelling = [None] * grid.n
