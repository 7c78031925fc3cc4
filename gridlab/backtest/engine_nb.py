"""The replay loop of one backtest run (numba): the one step kernel over one grid's events.

`run_nb` replays market events (trades, or kline path points from `path_nb`) in the order of
docs/strategy-kernels.md ("The per-event step"): day closes, `bar_update_nb`, the simulated
book (`sim_nb.sim_event_nb`: fill model, then `step_nb.on_fill_nb` per fill in price-path
order), the check clock (`sim_nb.sim_check_nb` -> `step_nb.on_check_nb`), funding, equity and
drawdown. The grid's state is one `state_nb.GRID_STATE_DTYPE` record plus its `GridArrays`.

The common path is O(1): an event that crosses neither the highest resting buy nor the lowest
resting sell (the fill model's `can_fill_nb`), brings no order to the book and reaches no
check, funding, equity sample or day end only feeds the bar ring and marks equity.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gridlab.backtest.enums import ACC
from gridlab.backtest.fills_nb import can_fill_nb
from gridlab.backtest.gate_nb import no_account_nb
from gridlab.backtest.ledger_nb import (
    apply_funding_nb,
    base_equity_nb,
    dd_floor_nb,
    drawdown_nb,
    equity_nb,
)
from gridlab.backtest.sim_nb import sim_check_nb, sim_event_nb, write_equity_nb, write_summary_nb
from gridlab.backtest.state_nb import (
    GRID_STATE_DTYPE,
    INT64_MAX,
    init_state_nb,
    new_grid_state_nb,
)
from gridlab.backtest.step_nb import check_quiet_nb, next_check_nb
from gridlab.strategy.bars_nb import H_CUR_OPEN, bar_update_nb

__all__ = [
    "BLOCK",
    "BLOCK_SHIFT",
    "DAY_MS",
    "INT64_MAX",
    "block_extremes_nb",
    "blocks_if_nb",
    "blocks_pay_nb",
    "n_days_nb",
    "run_blocks_nb",
    "run_nb",
    "run_state_nb",
]

DAY_MS = 86_400_000
BLOCK = 16
"""Events per block of the block pre-filter (a power of two)."""
BLOCK_SHIFT = 4
MIN_EVENTS_PER_CHECK = 4 * BLOCK
"""Blocks are built only when the check clock ticks at most once per this many events."""


@njit(cache=True)
def n_days_nb(first_ts: int, last_ts: int) -> int:
    """Number of UTC days spanned by [first_ts, last_ts]."""
    return last_ts // DAY_MS - first_ts // DAY_MS + 1


@njit(cache=True)
def blocks_if_nb(ts, price, pay):
    """The market's 16-event blocks (lowest, highest price, last time) when `pay` (see
    `blocks_pay_nb`), else zero-length arrays (no blocks)."""
    nb = 0
    if pay:
        nb = ts.shape[0] >> BLOCK_SHIFT
    b_lo = np.empty(nb, np.float64)
    b_hi = np.empty(nb, np.float64)
    b_ts = np.empty(nb, np.int64)
    block_extremes_nb(ts, price, b_lo, b_hi, b_ts)
    return b_lo, b_hi, b_ts


@njit(cache=True)
def run_nb(ts, price, size, fund_ts, fund_rate, gp, f, rp, rk, ep,
           out_fills, out_equity, out_recenters, out_levels, out_daily, summary):
    """Replay one run. Writes fills, equity points, (re)builds and their grid levels (if
    `ep.record`), daily closing equity and the summary vector; returns the number of fills,
    equity points, builds and level rows. Counts beyond the capacity of an output array are
    still returned (fills: the caller re-runs with more room; builds and levels: bounded, the
    caller warns)."""
    b_lo, b_hi, b_ts = blocks_if_nb(ts, price, blocks_pay_nb(ts, ep.check_ms))
    return run_blocks_nb(ts, price, size, b_lo, b_hi, b_ts, fund_ts, fund_rate, gp, f, rp, rk,
                         ep, out_fills, out_equity, out_recenters, out_levels, out_daily,
                         summary)


@njit(cache=True)
def blocks_pay_nb(ts, check_ms) -> bool:
    """True when the check clock ticks rarely enough (one check per MIN_EVENTS_PER_CHECK
    events or more) for the block pre-filter to skip whole blocks (trades, not 1m paths)."""
    n = ts.shape[0]
    if n < 2 * MIN_EVENTS_PER_CHECK:
        return False
    span = ts[n - 1] - ts[0]
    return span > 0 and n * check_ms >= MIN_EVENTS_PER_CHECK * span


@njit(cache=True)
def block_extremes_nb(ts, price, out_lo, out_hi, out_ts):
    """Lowest and highest price and latest time of each block of BLOCK events (block b:
    events b * BLOCK .. (b + 1) * BLOCK - 1), for the first `out_lo.shape[0]` blocks. What
    every parameter set of a market shares (a sweep builds them once)."""
    for b in range(out_lo.shape[0]):
        lo = np.inf
        hi = -np.inf
        tm = ts[b * BLOCK]
        for k in range(b * BLOCK, (b + 1) * BLOCK):
            q = price[k]
            if q < lo:
                lo = q
            if q > hi:
                hi = q
            if ts[k] > tm:
                tm = ts[k]
        out_lo[b] = lo
        out_hi[b] = hi
        out_ts[b] = tm


@njit(cache=True)
def run_blocks_nb(ts, price, size, b_lo, b_hi, b_ts, fund_ts, fund_rate, gp, f, rp, rk, ep,
                  out_fills, out_equity, out_recenters, out_levels, out_daily, summary):
    """`run_nb` with the market's blocks given (`block_extremes_nb`; zero-length: none)."""
    n = gp.n_buy + gp.n_sell
    eps = f.qty_step * 1e-6 if f.qty_step > 0.0 else 1e-12
    GS = np.zeros(1, dtype=GRID_STATE_DTYPE)
    g = new_grid_state_nb(n, gp.bar_ms, gp.atr_period, rp.dom_window_ms, rp.pd_window_ms,
                          ep.capital)
    init_state_nb(GS[0], ep.capital, gp.lower, gp.upper, eps, ts[0], price[0], ep.record)
    return _replay_nb(GS, g, no_account_nb(), ts, price, size, b_lo, b_hi, b_ts, fund_ts,
                      fund_rate, gp, f, rp, rk, ep, out_fills, out_equity, out_recenters,
                      out_levels, out_daily, summary)


@njit(cache=True)
def run_state_nb(GS, g, ts, price, size, fund_ts, fund_rate, gp, f, rp, rk, ep, out_fills,
                 out_equity, out_recenters, out_levels, out_daily, summary):
    """`run_nb` on a given grid state (`GS` a GRID_STATE_DTYPE[1], `g` its GridArrays): a
    fresh one (`state_nb.new_grid_state`) or a resumed one (`resume_state_nb`: a run started
    from a position, a grid and resting orders). The state is updated in place and ends as
    the state after the last event (clock and previous price included), so a run from it
    goes on where this one stopped."""
    b_lo, b_hi, b_ts = blocks_if_nb(ts, price, blocks_pay_nb(ts, ep.check_ms))
    return _replay_nb(GS, g, no_account_nb(), ts, price, size, b_lo, b_hi, b_ts, fund_ts,
                      fund_rate, gp, f, rp, rk, ep, out_fills, out_equity, out_recenters,
                      out_levels, out_daily, summary)


@njit(cache=True, _nrt=False)
def _replay_nb(GS, g, ax, ts, price, size, b_lo, b_hi, b_ts, fund_ts, fund_rate, gp, f, rp,
               rk, ep, out_fills, out_equity, out_recenters, out_levels, out_daily, summary):
    """The event loop of `run_nb` over the allocated state (no reference counting: the calls
    into the step pass the state's arrays without atomic increments).

    Block pre-filter: a block of BLOCK events (`b_lo`, `b_hi`, `b_ts`) in which no event can
    fill (`can_fill_nb` at the block's lowest and highest price: the rules are monotone),
    nothing reaches the book, no slow time (day end, check, funding, equity sample) comes,
    every event is in the forming bar and no equity reaches the peak changes only the
    forming bar's high / low / close, the last price and the max drawdown: the equity is
    monotone in the price (the same rounded expression), so its lowest value is at an
    extreme price and gives the block's deepest drawdown. Such a block is applied at once,
    with exactly the per-event results.

    Bar blocks (when there are no 16-event blocks, e.g. 1m kline paths): the same for the
    four events of one bar of the grid, whose first event may complete the forming bar and
    take the check when `step_nb.check_quiet_nb` answers it (docs/strategy-kernels.md)."""
    n_ev = ts.shape[0]
    # reported equity = the account's (ep.account, 0 = the grid's) + the grid's PnL; the
    # grid's sizing and risk use ep.capital
    capital = ep.account if ep.account > 0.0 else ep.capital
    st = GS[0]
    first_ts = ts[0]
    acc = g.acc
    ring = g.ring
    meta = g.meta
    cur = g.cur
    model = ep.fill_model
    check_ms = ep.check_ms
    bar_ms = gp.bar_ms

    # the book summary, the check clock and the previous price come from the state: a fresh
    # state (init_state_nb) has none, a resumed one (`resume_state_nb`) carries them
    best_buy = st["best_buy"]
    best_sell = st["best_sell"]
    next_book = st["next_book"]
    next_check = st["next_check"]
    fi = 0
    n_fund = fund_ts.shape[0]
    next_fund = fund_ts[0] if n_fund > 0 else INT64_MAX
    ne = 0
    next_eq = -1 if ep.record else INT64_MAX
    last_eq_ts = -1
    n_eq_cap = out_equity.shape[0]
    day0 = first_ts // DAY_MS
    next_day = (day0 + 1) * DAY_MS
    d = 0
    prev_p = st["prev_p"]  # a fresh state: price[0]
    base = base_equity_nb(acc, capital)  # cached equity parts, refreshed whenever `acc` may
    pos_c = acc[ACC.POS]                 # have changed (a fresh state: capital, 0, 0)
    avg_c = acc[ACC.AVG]
    peak = base + pos_c * (prev_p - avg_c)  # the equity at the start (fresh: capital)
    peak_ts = first_ts
    max_dd = 0.0
    max_dur = 0
    dd_lim = dd_floor_nb(peak, max_dd)  # drawdown depths the division can skip
    next_slow = -1  # earliest of next_day, next_check, next_fund, next_eq
    next_rare = -1  # earliest of next_day, next_fund, next_eq

    exact = st["exact"] != 0  # every event in full (tests: the shortcuts change nothing)
    n_blk = 0 if exact else b_lo.shape[0]
    bars4 = not exact and n_blk == 0  # bar blocks (in the loop) instead of 16-blocks
    # a check with the margin model also runs the liquidation step. With no mark series it
    # does nothing at a quiet check in a bar block: the ledger has not changed since the
    # last full check (every change moves `epoch`, which the quiet check requires unchanged)
    # and that check refreshed the liquidation price, folded into best_buy / best_sell,
    # which the block's extremes do not reach. A mark series moves its index at every check.
    quiet_ok = ep.margin == 0 or ep.mark_ts.shape[0] == 0
    fast_until = -1  # events before this time in the forming bar, that cannot fill, are quiet
    c_hi = cur[1]
    c_lo = cur[2]
    i = 0
    while i < n_ev:
        if n_blk > 0 and (i & (BLOCK - 1)) == 0 and (i >> BLOCK_SHIFT) < n_blk:
            b = i >> BLOCK_SHIFT
            tb = b_ts[b]
            lo = b_lo[b]
            hi = b_hi[b]
            co = meta[H_CUR_OPEN]
            if (tb < next_slow and tb < next_book and co >= 0 and tb < co + bar_ms
                    and not can_fill_nb(model, 1, best_buy, lo)
                    and not can_fill_nb(model, -1, best_sell, hi)):
                e_lo = base + pos_c * (lo - avg_c)
                e_hi = base + pos_c * (hi - avg_c)
                if e_lo < peak and e_hi < peak:
                    c_hi = hi if hi > c_hi else c_hi
                    c_lo = lo if lo < c_lo else c_lo
                    j = i + BLOCK - 1
                    cur[3] = price[j]
                    e = e_lo if e_lo < e_hi else e_hi
                    peak, peak_ts, max_dd, max_dur, dd_lim = drawdown_nb(
                        e, tb, peak, peak_ts, max_dd, max_dur, dd_lim)
                    prev_p = price[j]
                    i += BLOCK
                    continue
        # quiet events: in the forming bar, before anything is due, unable to fill (the
        # general step below would only update the bar and the drawdown); up to the next block
        stop = n_ev if n_blk == 0 else min(n_ev, (i | (BLOCK - 1)) + 1)
        while i < stop:
            t = ts[i]
            p = price[i]
            if not (t < fast_until and not can_fill_nb(model, 1, best_buy, p)
                    and not can_fill_nb(model, -1, best_sell, p)):
                break
            c_hi = p if p > c_hi else c_hi  # selects, not branches: the path's H and L
            c_lo = p if p < c_lo else c_lo  # points come in either order
            cur[3] = p
            e = base + pos_c * (p - avg_c)
            peak, peak_ts, max_dd, max_dur, dd_lim = drawdown_nb(e, t, peak, peak_ts, max_dd,
                                                                 max_dur, dd_lim)
            prev_p = p
            i += 1
        if i == stop:
            continue
        if bars4 and (i & 3) == 0 and i + 3 < n_ev:
            # a bar block: 4 events (a kline's path) in one bar, nothing to fill or due but
            # a check at its first event that does nothing (`check_quiet_nb`)
            t0 = ts[i]
            t3 = ts[i + 3]
            co = meta[H_CUR_OPEN]
            if (t3 < next_book and t3 < next_rare and co >= 0
                    and (t3 < co + bar_ms or (co + bar_ms <= t0 and t3 < co + 2 * bar_ms))):
                p0 = price[i]
                p3 = price[i + 3]
                lo = min(min(p0, price[i + 1]), min(price[i + 2], p3))
                hi = max(max(p0, price[i + 1]), max(price[i + 2], p3))
                e_lo = base + pos_c * (lo - avg_c)
                e_hi = base + pos_c * (hi - avg_c)
                chk = t0 >= next_check
                if (e_lo < peak and e_hi < peak
                        and not can_fill_nb(model, 1, best_buy, lo)
                        and not can_fill_nb(model, -1, best_sell, hi)
                        and ((not chk and t3 < next_check)
                             or (chk and quiet_ok and next_check >= 0
                                 and t3 < next_check + check_ms
                                 and check_quiet_nb(st, g, t0, p0, rk, ep)))):
                    if chk:
                        next_check += check_ms
                        next_slow = min(next_rare, next_check)
                    cur[1] = c_hi
                    cur[2] = c_lo
                    bar_update_nb(ring, meta, cur, t0, p0, bar_ms)
                    c_hi = hi if hi > cur[1] else cur[1]
                    c_lo = lo if lo < cur[2] else cur[2]
                    cur[3] = p3
                    e = e_lo if e_lo < e_hi else e_hi
                    peak, peak_ts, max_dd, max_dur, dd_lim = drawdown_nb(
                        e, t3, peak, peak_ts, max_dd, max_dur, dd_lim)
                    prev_p = p3
                    i += 4
                    continue
        t = ts[i]
        p = price[i]
        cur[1] = c_hi  # the forming bar's high and low are kept in c_hi / c_lo in between
        cur[2] = c_lo
        slow = t >= next_slow
        # 0. closing equity of finished UTC days (state before this event, at the last price)
        if slow and t >= next_day:
            e_prev = equity_nb(acc, capital, prev_p)
            while t >= next_day:
                out_daily[d] = e_prev
                d += 1
                next_day += DAY_MS
        # 1. completed bars
        bar_update_nb(ring, meta, cur, t, p, bar_ms)
        # 2. the book: fills in price-path order, each through on_fill_nb
        if (can_fill_nb(model, 1, best_buy, p) or can_fill_nb(model, -1, best_sell, p)
                or t >= next_book):
            st["prev_p"] = prev_p
            sim_event_nb(st, g, t, p, size[i], gp, f, rk, ep, ax, out_fills)
            best_buy = st["best_buy"]
            best_sell = st["best_sell"]
            next_book = st["next_book"]
            base = base_equity_nb(acc, capital)
            pos_c = acc[ACC.POS]
            avg_c = acc[ACC.AVG]
        # 3. the check clock: stops, kill switch, recenter, seed, retries
        if slow and t >= next_check:
            next_check = next_check_nb(next_check, t, check_ms)
            if st["stopped"] == 0:
                sim_check_nb(st, g, t, p, gp, f, rp, rk, ep, ax, out_fills, out_recenters,
                             out_levels)
                best_buy = st["best_buy"]
                best_sell = st["best_sell"]
                next_book = st["next_book"]
                base = base_equity_nb(acc, capital)
                pos_c = acc[ACC.POS]
                avg_c = acc[ACC.AVG]
        # 4. funding, equity sampling, drawdown
        if slow and t >= next_fund:
            while fi < n_fund and fund_ts[fi] <= t:
                apply_funding_nb(acc, p, fund_rate[fi])
                fi += 1
            st["epoch"] += 1  # cash changed (spot checks)
            next_fund = fund_ts[fi] if fi < n_fund else INT64_MAX
            base = base_equity_nb(acc, capital)
        e = base + pos_c * (p - avg_c)
        peak, peak_ts, max_dd, max_dur, dd_lim = drawdown_nb(e, t, peak, peak_ts, max_dd,
                                                             max_dur, dd_lim)
        if slow:
            if t >= next_eq:
                next_eq = (t // ep.equity_ms + 1) * ep.equity_ms
                if ne < n_eq_cap:
                    write_equity_nb(out_equity, ne, t, p, e, acc)
                ne += 1
                last_eq_ts = t
            next_rare = min(next_day, min(next_fund, next_eq))
            next_slow = min(next_rare, next_check)
        c_hi = cur[1]
        c_lo = cur[2]
        co = meta[H_CUR_OPEN]
        fast_until = min(next_slow, next_book)
        if co < 0 or exact:
            fast_until = -1
        elif co + bar_ms < fast_until:
            fast_until = co + bar_ms
        prev_p = p
        i += 1

    cur[1] = c_hi
    cur[2] = c_lo
    last_ts = ts[n_ev - 1]
    p = price[n_ev - 1]
    e = equity_nb(acc, capital, p)
    n_days = n_days_nb(first_ts, last_ts)
    while d < n_days:
        out_daily[d] = e
        d += 1
    if ep.record and last_eq_ts != last_ts:
        if ne < n_eq_cap:
            write_equity_nb(out_equity, ne, last_ts, p, e, acc)
        ne += 1
    if last_ts - peak_ts > max_dur:
        max_dur = last_ts - peak_ts
    if st["at_max"] != 0:
        st["time_at_max"] += last_ts - st["at_max_since"]
    st["peak"] = peak
    st["max_dd"] = max_dd
    st["max_dur"] = max_dur
    st["next_check"] = next_check  # what a run resumed from this state goes on with
    st["prev_p"] = p
    write_summary_nb(st, acc, capital, p, first_ts, last_ts, n_ev, n_days, summary)
    return st["n_fills"], ne, st["n_rc_rows"], st["n_lv_rows"]
