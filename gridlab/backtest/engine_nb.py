"""The per-event replay kernel of one backtest run (numba).

`run_nb` replays market events (trades, or kline path points from `path_nb`) in the order of
docs/strategy-kernels.md, calling the strategy kernels for every grid decision:

1. `bar_update_nb`;
2. resting orders: an order reaches the book on the first event after the one it was decided
   on whose time is >= decision time + latency; there its PostOnly check runs against the
   last price before that event (best bid = best ask = that price); then it may fill per the
   fill model (`fills_nb`). A full fill of a slot's order calls `on_slot_fill_nb` and decides
   the slot's next order (`slot_order_nb`, gated by `order_allowed_nb` and on spot
   `spot_order_allowed_nb`); an order whose cancel is in flight can still fill (late fill);
3. every `check_ms` (aligned to epoch multiples): equity at the event price, `stop_reason_nb`,
   `kill_switch_nb` (a stop cancels everything, flattens if `flatten_on_kill`, and ends
   trading), else `recenter_reason_nb` (INITIAL on the first event): cancel all and
   `build_slots_nb` at the event price (ATR spacing if enabled; a bounded range moves with the
   centre; recorded with its levels when `ep.record`), buy/sell the LONG/SHORT seed at market
   (taker fee, slippage, same risk checks);
   then every enabled slot without an order (new, blocked or PostOnly-rejected) asks for one
   (each refused request counts in `n_blocked`, so a slot blocked for a day counts ~1,440; a
   request refused at a lower or equal equity with nothing else changed since is refused
   again without re-running the checks: the result is the same);
4. funding for every funding time <= event time (position after the event's fills, event
   price as mark), equity sampling, drawdown tracking.

Orders scanned in a fixed order: slot orders by slot index, then cancelling orders by slot.
A tick that crosses neither the highest resting buy nor the lowest resting sell and brings no
in-flight order to the book costs O(1).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gridlab.backtest.account_nb import (
    apply_fill_nb,
    apply_funding_nb,
    base_equity_nb,
    equity_nb,
)
from gridlab.backtest.enums import (
    ACC,
    N_ACC,
    ORDER_DTYPE,
    FillKind,
    FillModel,
    Sum,
)
from gridlab.backtest.fills_nb import STEP_FILLED, STEP_REJECTED, order_step_nb
from gridlab.strategy.bars_nb import (
    atr_simple_nb,
    atr_wilder_nb,
    bar_update_nb,
    effective_spacing_nb,
    new_bar_ring,
    ring_capacity_nb,
)
from gridlab.strategy.enums import (
    SLOT_DTYPE,
    AtrMode,
    GridParams,
    Reason,
    Side,
    SlotState,
    Stop,
)
from gridlab.strategy.grid_nb import (
    build_slots_nb,
    grid_bounds_nb,
    on_slot_fill_nb,
    slot_order_nb,
)
from gridlab.strategy.levels_nb import round_to_nb, shift_range_nb
from gridlab.strategy.recenter_nb import new_recenter_cache, recenter_reason_nb
from gridlab.strategy.risk_nb import (
    kill_switch_nb,
    new_kill_state,
    order_allowed_nb,
    spot_order_allowed_nb,
    stop_reason_nb,
)

__all__ = ["DAY_MS", "INT64_MAX", "at_max_nb", "n_days_nb", "run_nb"]

DAY_MS = 86_400_000
INT64_MAX = np.iinfo(np.int64).max
_RC0 = Sum.RC_NONE


@njit(cache=True)
def n_days_nb(first_ts: int, last_ts: int) -> int:
    """Number of UTC days spanned by [first_ts, last_ts]."""
    return last_ts // DAY_MS - first_ts // DAY_MS + 1


@njit(cache=True)
def at_max_nb(slots) -> bool:
    """True when every enabled slot of one home side has its opening leg filled."""
    nb = 0
    cb = 0
    ns = 0
    cs = 0
    for k in range(slots.shape[0]):
        st = slots[k]["state"]
        if st == SlotState.DISABLED:
            continue
        if slots[k]["home"] == Side.BUY:
            nb += 1
            if st == SlotState.CLOSE_LEG:
                cb += 1
        else:
            ns += 1
            if st == SlotState.CLOSE_LEG:
                cs += 1
    return (nb > 0 and cb == nb) or (ns > 0 and cs == ns)


@njit(cache=True)
def _record_fill(out_fills, nf, record, ts, side, price, qty, fee, kind, slot, position, gprof):
    if record and nf < out_fills.shape[0]:
        r = out_fills[nf]
        r["ts"] = ts
        r["side"] = side
        r["price"] = price
        r["qty"] = qty
        r["fee"] = fee
        r["kind"] = kind
        r["slot"] = slot
        r["position"] = position
        r["grid_profit"] = gprof
    return nf + 1


@njit(cache=True)
def _record_build(out_rc, out_lv, nr, nl, t, reason, p, centre_level, spacing, lowest, highest,
                  slots, n_buy):
    """Write one (re)build: a row of `out_rc` and the levels of its enabled slots into `out_lv`
    (level j = lo of slot j = hi of slot j-1, once; side 1 for j < n_buy, -1 above, 0 at the
    centre level). Rows beyond the capacity are counted, not written; returns (nr, nl)."""
    n = slots.shape[0]
    n_on = 0
    for j in range(n + 1):
        on_lo = j < n and slots[j]["state"] != SlotState.DISABLED
        on_hi = j > 0 and slots[j - 1]["state"] != SlotState.DISABLED
        if on_lo:
            n_on += 1
        if not (on_lo or on_hi):
            continue
        if nl < out_lv.shape[0]:
            lv = out_lv[nl]
            lv["ts"] = t
            lv["price"] = slots[j]["lo"] if on_lo else slots[j - 1]["hi"]
            lv["side"] = 1 if j < n_buy else (-1 if j > n_buy else 0)
        nl += 1
    if nr < out_rc.shape[0]:
        r = out_rc[nr]
        r["ts"] = t
        r["reason"] = reason
        r["price"] = p
        r["centre"] = centre_level
        r["spacing"] = spacing
        r["lowest"] = lowest
        r["highest"] = highest
        r["n_slots"] = n_on
    return nr + 1, nl


@njit(cache=True)
def _resting(orders, ts):
    """(resting buy qty, resting sell qty, resting buy notional) of live + in-flight orders."""
    rb = 0.0
    rs = 0.0
    rbn = 0.0
    for r in range(orders.shape[0]):
        o = orders[r]
        if o["side"] == 0 or ts >= o["cancel_ts"]:
            continue
        if o["side"] > 0:
            rb += o["rem"]
            rbn += o["rem"] * o["price"]
        else:
            rs += o["rem"]
    return rb, rs, rbn


@njit(cache=True)
def _market(acc, side, qty, p, ep, eps):
    """Market order at p +- slippage, taker fee; returns (price, fee)."""
    px = p * (1.0 + ep.slippage) if side > 0 else p * (1.0 - ep.slippage)
    fee = apply_fill_nb(acc, side, qty, px, ep.taker_fee, eps)
    return px, fee


@njit(cache=True)
def _place(orders, slots, k, i, ts, p, acc, rk, ep):
    """Decide slot k's next order; returns (status, side, price, qty), status 1 placed,
    0 none wanted, -1 blocked by the risk checks."""
    rb, rs, rbn = _resting(orders, ts)
    return _place_with(orders, slots, k, i, ts, acc, rk, ep, rb, rs, rbn,
                       equity_nb(acc, ep.capital, p))


@njit(cache=True)
def _place_with(orders, slots, k, i, ts, acc, rk, ep, rb, rs, rbn, eq):
    """`_place` with the resting totals and the equity given by the caller."""
    side, price, qty = slot_order_nb(slots, k)
    if side == 0:
        return 0, side, price, qty
    ok = order_allowed_nb(side, qty, price, acc[ACC.POS], rb, rs, eq, rk)
    if ok and ep.spot:
        ok = spot_order_allowed_nb(side, qty, price, acc[ACC.CASH], acc[ACC.POS], rbn, rs,
                                   ep.maker_fee)
    if not ok:
        return -1, side, price, qty
    _set_order(orders, k, side, price, qty, ts + ep.latency_ms, i)
    return 1, side, price, qty


@njit(cache=True)
def _set_order(orders, k, side, price, qty, active_ts, i):
    """Write a new in-flight order into row k."""
    o = orders[k]
    o["side"] = side
    o["price"] = price
    o["qty"] = qty
    o["rem"] = qty
    o["active_ts"] = active_ts
    o["dec_idx"] = i
    o["cancel_ts"] = INT64_MAX
    o["live"] = 0
    o["queue"] = 0.0


@njit(cache=True)
def _cancel_all(orders, n, ts, latency):
    """Cancel every slot order: dropped now (latency 0) or moved to the cancelling rows."""
    for k in range(n):
        if orders[k]["side"] == 0:
            continue
        if latency > 0:
            orders[n + k] = orders[k]
            orders[n + k]["cancel_ts"] = ts + latency
        orders[k]["side"] = 0


@njit(cache=True)
def _book_state(orders, ts):
    """(best buy, best sell, next time an order reaches the book or its cancel takes effect)."""
    bb = -np.inf
    bs = np.inf
    nb = INT64_MAX
    for r in range(orders.shape[0]):
        o = orders[r]
        if o["side"] == 0:
            continue
        if o["cancel_ts"] < nb:
            nb = o["cancel_ts"]
        if o["live"] == 0:
            if o["active_ts"] < nb:
                nb = o["active_ts"]
            continue
        if o["side"] > 0:
            if o["price"] > bb:
                bb = o["price"]
        elif o["price"] < bs:
            bs = o["price"]
    return bb, bs, nb


@njit(cache=True)
def _grid_params_with_range(gp, lower, upper):
    return GridParams(gp.n_buy, gp.n_sell, gp.spacing, gp.spacing_mode, lower, upper,
                      gp.profit_target, gp.qty_mode, gp.mode, gp.leverage, gp.atr_mode,
                      gp.atr_period, gp.atr_mult, gp.atr_floor, gp.atr_ceil, gp.bar_ms)


@njit(cache=True)
def run_nb(ts, price, size, fund_ts, fund_rate, gp, f, rp, rk, ep,
           out_fills, out_equity, out_recenters, out_levels, out_daily, summary):
    """Replay one run. Writes fills, equity points, (re)builds and their grid levels (if
    `ep.record`), daily closing equity and the summary vector; returns the number of fills,
    equity points, builds and level rows. Counts beyond the capacity of an output array are
    still returned (fills: the caller re-runs with more room; builds and levels: bounded, the
    caller warns)."""
    n_ev = ts.shape[0]
    n = gp.n_buy + gp.n_sell
    slots = np.zeros(n, dtype=SLOT_DTYPE)
    orders = np.zeros(2 * n, dtype=ORDER_DTYPE)
    acc = np.zeros(N_ACC, dtype=np.float64)
    acc[ACC.CASH] = ep.capital
    cap = ring_capacity_nb(gp.bar_ms, gp.atr_period, rp.dom_window_ms, rp.pd_window_ms)
    ring, meta = new_bar_ring(cap)
    cur = np.zeros(4, dtype=np.float64)
    rcache = new_recenter_cache(cap)
    kstate = new_kill_state()
    summary[:] = 0.0
    eps = f.qty_step * 1e-6 if f.qty_step > 0.0 else 1e-12
    model = ep.fill_model
    lat = ep.latency_ms
    capital = ep.capital

    has_grid = False
    stopped = False
    centre = np.nan
    lowest = np.nan
    highest = np.nan
    last_rc = 0
    lower = gp.lower
    upper = gp.upper
    best_buy = -np.inf
    best_sell = np.inf
    next_book = INT64_MAX
    next_check = -1
    fi = 0
    n_fund = fund_ts.shape[0]
    next_fund = fund_ts[0] if n_fund > 0 else INT64_MAX
    nf = 0
    ne = 0
    nr = 0
    nl = 0
    next_eq = -1 if ep.record else INT64_MAX
    last_eq_ts = -1
    n_eq_cap = out_equity.shape[0]
    first_ts = ts[0]
    day0 = first_ts // DAY_MS
    next_day = (day0 + 1) * DAY_MS
    d = 0
    peak = capital
    peak_ts = first_ts
    max_dd = 0.0
    max_dur = 0
    at_max = False
    at_max_since = 0
    time_at_max = 0
    n_limit = 0
    n_rt = 0
    n_late = 0
    n_rej = 0
    n_blocked = 0
    n_empty = 0
    n_kill = 0
    stop_code = 0
    stop_ts = 0
    prev_p = price[0]
    base = capital  # cached equity parts, refreshed whenever `acc` may have changed
    pos_c = 0.0
    avg_c = 0.0
    rest_ok = False  # cached resting totals valid (no order changed since they were summed)
    # refused retries: a slot refused at epoch `blk_epoch[k]` with equity `blk_eq[k]` is refused
    # again while nothing but the equity changed (`epoch` counts changes of orders, slots,
    # position and cash) and the equity is not higher: the exposure cap is monotone in equity,
    # the position cap and the spot checks do not depend on it
    epoch = 0
    blk_epoch = np.full(n, -1, dtype=np.int64)
    blk_eq = np.zeros(n, dtype=np.float64)
    rb0 = 0.0
    rs0 = 0.0
    rbn0 = 0.0
    next_slow = -1  # earliest of next_day, next_check, next_fund, next_eq

    for i in range(n_ev):
        t = ts[i]
        p = price[i]
        slow = t >= next_slow
        # closing equity of finished UTC days (state before this event, at the last price)
        if slow and t >= next_day:
            e_prev = equity_nb(acc, capital, prev_p)
            while t >= next_day:
                out_daily[d] = e_prev
                d += 1
                next_day += DAY_MS
        # 1. completed bars
        bar_update_nb(ring, meta, cur, t, p, gp.bar_ms)
        # 2. resting orders
        if model == FillModel.CROSS:
            hit = p < best_buy or p > best_sell
        else:
            hit = p <= best_buy or p >= best_sell
        if hit or t >= next_book:
            changed = False
            rest_ok = False
            epoch += 1
            for r in range(2 * n):
                o = orders[r]
                stp, side, fq, fee, full = order_step_nb(o, t, i, p, size[i], prev_p, model,
                                                         ep, acc, eps)
                if stp == STEP_REJECTED:
                    n_rej += 1
                if stp != STEP_FILLED:
                    continue
                lim = o["price"]
                if r < n:
                    n_limit += 1
                    gprof = 0.0
                    if full:
                        changed = True
                        done, gprof = on_slot_fill_nb(slots, r, lim, gp.profit_target, f.tick)
                        if done:
                            n_rt += 1
                            acc[ACC.GRID] += gprof
                    nf = _record_fill(out_fills, nf, ep.record, t, side, lim, fq, fee,
                                      FillKind.LIMIT, r, acc[ACC.POS], gprof)
                    if full and not stopped:
                        st = _place(orders, slots, r, i, t, p, acc, rk, ep)[0]
                        if st < 0:
                            n_blocked += 1
                else:
                    n_late += 1
                    nf = _record_fill(out_fills, nf, ep.record, t, side, lim, fq, fee,
                                      FillKind.LATE, r - n, acc[ACC.POS], 0.0)
                    if stopped and rk.flatten_on_kill and acc[ACC.POS] != 0.0:
                        fs = -1 if acc[ACC.POS] > 0.0 else 1
                        fqty = abs(acc[ACC.POS])
                        px, fee2 = _market(acc, fs, fqty, p, ep, eps)
                        nf = _record_fill(out_fills, nf, ep.record, t, fs, px, fqty, fee2,
                                          FillKind.FLATTEN, -1, acc[ACC.POS], 0.0)
            best_buy, best_sell, next_book = _book_state(orders, t)
            base = base_equity_nb(acc, capital)
            pos_c = acc[ACC.POS]
            avg_c = acc[ACC.AVG]
            if changed and not stopped:
                m = at_max_nb(slots)
                if m != at_max:
                    if m:
                        at_max_since = t
                    else:
                        time_at_max += t - at_max_since
                    at_max = m
        # 3. checks: stops, kill switch, recenter, retries
        if slow and t >= next_check:
            if next_check >= 0 and t < next_check + ep.check_ms:
                next_check += ep.check_ms  # = (t // check_ms + 1) * check_ms, no division
            else:
                next_check = (t // ep.check_ms + 1) * ep.check_ms
            book_dirty = False
            if not stopped:
                eq = equity_nb(acc, capital, p)
                code = stop_reason_nb(eq, capital, p, rk)
                fire = kill_switch_nb(t, eq, kstate, rk.kill_switch_dd)
                if code == Stop.NONE and fire:
                    code = Stop.KILL_SWITCH
                if code != Stop.NONE:
                    stopped = True
                    stop_code = code
                    stop_ts = t
                    if code == Stop.KILL_SWITCH:
                        n_kill += 1
                    _cancel_all(orders, n, t, lat)
                    rest_ok = False
                    epoch += 1
                    book_dirty = True
                    if rk.flatten_on_kill and acc[ACC.POS] != 0.0:
                        fs = -1 if acc[ACC.POS] > 0.0 else 1
                        fqty = abs(acc[ACC.POS])
                        px, fee2 = _market(acc, fs, fqty, p, ep, eps)
                        nf = _record_fill(out_fills, nf, ep.record, t, fs, px, fqty, fee2,
                                          FillKind.FLATTEN, -1, acc[ACC.POS], 0.0)
                    if at_max:
                        time_at_max += t - at_max_since
                        at_max = False
                else:
                    if not has_grid:
                        reason = Reason.INITIAL
                    else:
                        reason = recenter_reason_nb(t, p, centre, lowest, highest, last_rc,
                                                    ring, meta, rcache, rp)
                    if reason != Reason.NONE:
                        _cancel_all(orders, n, t, lat)
                        rest_ok = False
                        epoch += 1
                        book_dirty = True
                        spacing = gp.spacing
                        if gp.atr_mode == AtrMode.SIMPLE:
                            atr = atr_simple_nb(ring, meta, gp.atr_period)
                            spacing = effective_spacing_nb(gp.spacing, atr, p, gp.atr_mode,
                                                           gp.atr_mult, gp.atr_floor, gp.atr_ceil)
                        elif gp.atr_mode == AtrMode.WILDER:
                            atr = atr_wilder_nb(ring, meta, gp.atr_period)
                            spacing = effective_spacing_nb(gp.spacing, atr, p, gp.atr_mode,
                                                           gp.atr_mult, gp.atr_floor, gp.atr_ceil)
                        if has_grid:
                            lower, upper = shift_range_nb(lower, upper, centre, p)
                        gpr = _grid_params_with_range(gp, lower, upper)
                        seed = build_slots_nb(p, spacing, gpr, f, capital, slots)
                        has_grid = True
                        centre = p
                        last_rc = t
                        lowest, highest = grid_bounds_nb(slots)
                        if np.isnan(lowest):
                            n_empty += 1
                        summary[_RC0 + reason] += 1.0
                        if ep.record:
                            nr, nl = _record_build(out_recenters, out_levels, nr, nl, t, reason,
                                                   p, round_to_nb(p, f.tick), spacing, lowest,
                                                   highest, slots, gp.n_buy)
                        if seed != 0.0:
                            ss = 1 if seed > 0.0 else -1
                            sq = abs(seed)
                            eq = equity_nb(acc, capital, p)
                            rb, rs, rbn = _resting(orders, t)
                            ok = order_allowed_nb(ss, sq, p, acc[ACC.POS], rb, rs, eq, rk)
                            if ok and ep.spot:
                                ok = spot_order_allowed_nb(ss, sq, p, acc[ACC.CASH], acc[ACC.POS],
                                                           rbn, rs, ep.taker_fee)
                            if ok:
                                px, fee2 = _market(acc, ss, sq, p, ep, eps)
                                nf = _record_fill(out_fills, nf, ep.record, t, ss, px, sq, fee2,
                                                  FillKind.SEED, -1, acc[ACC.POS], 0.0)
                            else:
                                n_blocked += 1
                        m = at_max_nb(slots)
                        if m != at_max:
                            if m:
                                at_max_since = t
                            else:
                                time_at_max += t - at_max_since
                            at_max = m
                    # slots without an order ask for one; resting totals are summed once (or
                    # reused while no order changed) and grow by each order placed here
                    have = False
                    rb = rs = rbn = eq = 0.0
                    for k in range(n):
                        if orders[k]["side"] != 0 or slots[k]["state"] == SlotState.DISABLED:
                            continue
                        if not have:
                            if not rest_ok:
                                rb0, rs0, rbn0 = _resting(orders, t)
                                rest_ok = True
                            rb, rs, rbn = rb0, rs0, rbn0
                            eq = equity_nb(acc, capital, p)
                            have = True
                        if blk_epoch[k] == epoch and eq <= blk_eq[k]:
                            n_blocked += 1  # refused again (see blk_epoch)
                            continue
                        # the decision of `_place_with`, inlined: this runs at every check
                        sd, px, q = slot_order_nb(slots, k)
                        if sd == 0:
                            continue
                        ok = order_allowed_nb(sd, q, px, acc[ACC.POS], rb, rs, eq, rk)
                        if ok and ep.spot:
                            ok = spot_order_allowed_nb(sd, q, px, acc[ACC.CASH], acc[ACC.POS],
                                                       rbn, rs, ep.maker_fee)
                        if not ok:
                            n_blocked += 1
                            blk_epoch[k] = epoch
                            blk_eq[k] = eq
                            continue
                        _set_order(orders, k, sd, px, q, t + lat, i)
                        rest_ok = False
                        epoch += 1
                        book_dirty = True
                        if sd > 0:
                            rb += q
                            rbn += q * px
                        else:
                            rs += q
                if book_dirty:
                    best_buy, best_sell, next_book = _book_state(orders, t)
            base = base_equity_nb(acc, capital)
            pos_c = acc[ACC.POS]
            avg_c = acc[ACC.AVG]
        # 4. funding, equity sampling, drawdown
        if slow and t >= next_fund:
            while fi < n_fund and fund_ts[fi] <= t:
                apply_funding_nb(acc, p, fund_rate[fi])
                fi += 1
            epoch += 1  # cash changed (spot checks)
            next_fund = fund_ts[fi] if fi < n_fund else INT64_MAX
            base = base_equity_nb(acc, capital)
        e = base + pos_c * (p - avg_c)
        if e >= peak:
            if t - peak_ts > max_dur:
                max_dur = t - peak_ts
            peak = e
            peak_ts = t
        else:
            dd = (peak - e) / peak
            if dd > max_dd:
                max_dd = dd
        if slow:
            if t >= next_eq:
                next_eq = (t // ep.equity_ms + 1) * ep.equity_ms
                if ne < n_eq_cap:
                    _write_equity(out_equity, ne, t, p, e, acc)
                ne += 1
                last_eq_ts = t
            next_slow = min(min(next_day, next_check), min(next_fund, next_eq))
        prev_p = p

    last_ts = ts[n_ev - 1]
    p = price[n_ev - 1]
    e = equity_nb(acc, capital, p)
    n_days = n_days_nb(first_ts, last_ts)
    while d < n_days:
        out_daily[d] = e
        d += 1
    if ep.record and last_eq_ts != last_ts:
        if ne < n_eq_cap:
            _write_equity(out_equity, ne, last_ts, p, e, acc)
        ne += 1
    if last_ts - peak_ts > max_dur:
        max_dur = last_ts - peak_ts
    if at_max:
        time_at_max += last_ts - at_max_since

    summary[Sum.FINAL_EQUITY] = e
    summary[Sum.REALIZED] = acc[ACC.REALIZED]
    summary[Sum.UNREALIZED] = acc[ACC.POS] * (p - acc[ACC.AVG])
    summary[Sum.FEES] = acc[ACC.FEES]
    summary[Sum.FUNDING] = acc[ACC.FUNDING]
    summary[Sum.GRID_PROFIT] = acc[ACC.GRID]
    summary[Sum.POSITION] = acc[ACC.POS]
    summary[Sum.TURNOVER] = acc[ACC.TURNOVER]
    summary[Sum.N_FILLS] = nf
    summary[Sum.N_LIMIT_FILLS] = n_limit
    summary[Sum.N_ROUND_TRIPS] = n_rt
    summary[Sum.N_LATE_FILLS] = n_late
    summary[Sum.N_REJECTED_POST_ONLY] = n_rej
    summary[Sum.N_BLOCKED] = n_blocked
    summary[Sum.N_EMPTY_BUILDS] = n_empty
    summary[Sum.N_KILL_SWITCH] = n_kill
    summary[Sum.STOP_CODE] = stop_code
    summary[Sum.STOP_TS] = stop_ts
    summary[Sum.MAX_DRAWDOWN] = max_dd
    summary[Sum.MAX_DD_DURATION_MS] = max_dur
    summary[Sum.TIME_AT_MAX_MS] = time_at_max
    summary[Sum.FIRST_TS] = first_ts
    summary[Sum.LAST_TS] = last_ts
    summary[Sum.N_EVENTS] = n_ev
    summary[Sum.N_DAYS] = n_days
    summary[Sum.PEAK_EQUITY] = peak
    return nf, ne, nr, nl


@njit(cache=True)
def _write_equity(out_equity, j, t, p, e, acc):
    r = out_equity[j]
    r["ts"] = t
    r["price"] = p
    r["equity"] = e
    r["position"] = acc[ACC.POS]
    r["realized"] = acc[ACC.REALIZED]
    r["unrealized"] = acc[ACC.POS] * (p - acc[ACC.AVG])
    r["fees"] = acc[ACC.FEES]
    r["funding"] = acc[ACC.FUNDING]
    r["grid_profit"] = acc[ACC.GRID]
    r["cash"] = acc[ACC.CASH]

