"""The portfolio replay kernel: several grids, one account, one merged time axis (numba).

`run_portfolio_nb` replays the events of S symbols merged on one time axis (stable by time,
then symbol order). Each event belongs to one symbol and runs that symbol's step exactly as
`engine_nb.run_nb` does (the same building blocks: `_resting`, `_set_order`, `_cancel_all`,
`_book_state`, `_market`, `_record_fill`, `_record_build`, `_write_equity`, `at_max_nb`,
and the strategy kernels for every decision), on that symbol's own slots, orders, bar ring,
trigger cache, kill state and ledger (`acc`), sized on its own capital (allocation x
portfolio capital). An order that reaches the book is the first event OF ITS SYMBOL after
the one it was decided on (per-symbol event index), as in the single run.

On top, the account (`gridlab.strategy.account_nb`):
- total equity = portfolio capital + sum of the grids' PnL, each grid marked at its last price;
- order gate: every order a grid's own checks allow (slot orders, retries at checks, seeds)
  must also pass `account_order_allowed_nb` (total worst-case exposure cap and per-symbol
  share, against total equity); a refusal counts in the grid's `n_blocked` and in its
  `n_blocked_account` (out_acc_blocked) and is retried at the grid's next check;
- kill switch: at every account check (multiples of `acct_check_ms` on the merged clock, run
  at the first event at or after it, after that event's fills and before its symbol's own
  check) `account_kill_switch_nb` over total equity; when it fires every grid that still
  trades stops with Stop.KILL_SWITCH: all its orders cancelled (with latency, as a grid's own
  stop), flattened at its last price if its `flatten_on_kill`.
When neither limit binds, every grid's fills, equity points, builds and summary are exactly
those of its single-symbol run.

Account metrics: total equity is marked at every event from a running sum of the grids' PnL
(resynced exactly, in index order, at every account check) for the total drawdown; the daily
closes (`out_tdaily`) and the account-check rows use `account_equity_nb` exactly.
Speed: an event of a grid with no order to fill or bring to the book, no check, funding,
equity sample or day end only feeds the bar ring (`bar_update_nb` through an NRT-free
wrapper: views of the shared state arrays cost atomic refcounts otherwise) and marks equity.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gridlab.backtest.account_nb import apply_funding_nb, equity_nb
from gridlab.backtest.engine_nb import (
    DAY_MS,
    INT64_MAX,
    _book_state,
    _cancel_all,
    _grid_params_with_range,
    _market,
    _record_build,
    _record_fill,
    _resting,
    _set_order,
    _write_equity,
    at_max_nb,
)
from gridlab.backtest.enums import ACC, N_ACC, ORDER_DTYPE, EngineParams, FillKind, FillModel, Sum
from gridlab.backtest.fills_nb import STEP_FILLED, STEP_REJECTED, order_step_nb
from gridlab.backtest.sweep_nb import (
    grid_params_from_row_nb,
    recenter_params_from_row_nb,
    risk_params_from_row_nb,
)
from gridlab.strategy.account_nb import (
    account_equity_nb,
    account_kill_switch_nb,
    account_order_allowed_nb,
    total_worst_notional_nb,
)
from gridlab.strategy.bars_nb import (
    atr_simple_nb,
    atr_wilder_nb,
    bar_update_nb,
    effective_spacing_nb,
    new_bar_ring,
    ring_capacity_nb,
)
from gridlab.strategy.enums import SLOT_DTYPE, AtrMode, Filters, Reason, SlotState, Stop
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

__all__ = ["ACCOUNT_ROW_DTYPE", "merge_streams_nb", "run_portfolio_nb"]

ACCOUNT_ROW_DTYPE = np.dtype(
    [
        ("ts", np.int64),          # account check time (event time), epoch ms
        ("equity", np.float64),    # total equity (portfolio capital + every grid's PnL)
        ("exposure", np.float64),  # sum |position| x last price over the grids
        ("worst", np.float64),     # sum of worst_notional_nb (positions + resting orders)
    ],
    align=True,
)

@njit(cache=True)
def merge_streams_nb(ts, ev_off, out_sym, out_idx):
    """Merge S time-sorted streams `ts[ev_off[s]:ev_off[s+1]]` on one axis: by time, ties in
    symbol order (a stable merge); writes each event's symbol and index in its stream."""
    S = ev_off.shape[0] - 1
    head = ev_off[:-1].copy()
    for i in range(out_sym.shape[0]):
        best = -1
        bt = INT64_MAX
        for s in range(S):
            h = head[s]
            if h < ev_off[s + 1] and ts[h] < bt:
                bt = ts[h]
                best = s
        out_sym[i] = best
        out_idx[i] = head[best] - ev_off[best]
        head[best] += 1


# per-symbol float state (FS columns)
_CENTRE, _LOWEST, _HIGHEST, _LOWER, _UPPER, _BB, _BS, _PREVP, _PEAK, _MAXDD, _EQ, _MARK = range(12)
_NFS = 12
# per-symbol int state (IS columns)
(_HAS, _STOPPED, _LASTRC, _NEXTBOOK, _NEXTCHK, _FI, _NEXTFUND, _NF, _NE, _NR, _NL, _NEXTEQ,
 _LASTEQ, _PEAKTS, _MAXDUR, _ATMAX, _ATMAXS, _TATMAX, _NLIM, _NRT, _NLATE, _NREJ, _NBLK,
 _NEMPTY, _NKILL, _STOPC, _STOPTS, _LI, _NACCBLK) = range(29)
_NIS = 29


@njit(cache=True)
def _ep_row(r, record):
    return EngineParams(r[0], r[1] != 0.0, np.int64(r[2]), np.int64(r[3]), r[4], r[5], r[6],
                        r[7], r[8], r[9] != 0.0, np.int64(r[10]), np.int64(r[11]), record)


@njit(cache=True)
def _filters_row(r):
    return Filters(r[0], r[1], r[2], r[3], r[4])


@njit(cache=True)
def _acct_arrays(orders, ooff, nsl, acc, FS, ts, pos, rb, rs, marks, eqs, caps):
    """Fill the per-grid arrays the account kernels take (resting totals at `ts`)."""
    for j in range(pos.shape[0]):
        o = orders[ooff[j]:ooff[j] + 2 * nsl[j]]
        b, s_, _ = _resting(o, ts)
        pos[j] = acc[j, ACC.POS]
        rb[j] = b
        rs[j] = s_
        marks[j] = FS[j, _MARK]
        eqs[j] = equity_nb(acc[j], caps[j], FS[j, _MARK])


@njit(cache=True)
def _acct_ok(k, side, qty, price, orders, ooff, nsl, acc, FS, ts, pos, rb, rs, marks, eqs, caps,
             capital, max_exp, max_share):
    """The account gate for grid k's order (True when both limits are off)."""
    if max_exp <= 0.0 and max_share <= 0.0:
        return True
    _acct_arrays(orders, ooff, nsl, acc, FS, ts, pos, rb, rs, marks, eqs, caps)
    tot = account_equity_nb(capital, eqs, caps)
    return account_order_allowed_nb(k, side, qty, price, pos, rb, rs, marks, tot, max_exp,
                                    max_share)


@njit(cache=True)
def _stop_grid(s, t, code, orders_s, n, lat, acc_s, FS, IS, ep, rk, eps, out_fills_s):
    """Stop grid s (own stop or account kill): cancel everything, flatten if configured."""
    IS[s, _STOPPED] = 1
    IS[s, _STOPC] = code
    IS[s, _STOPTS] = t
    if code == Stop.KILL_SWITCH:
        IS[s, _NKILL] += 1
    _cancel_all(orders_s, n, t, lat)
    if rk.flatten_on_kill and acc_s[ACC.POS] != 0.0:
        fs = -1 if acc_s[ACC.POS] > 0.0 else 1
        fqty = abs(acc_s[ACC.POS])
        px, fee2 = _market(acc_s, fs, fqty, FS[s, _MARK], ep, eps)
        IS[s, _NF] = _record_fill(out_fills_s, IS[s, _NF], ep.record, t, fs, px, fqty, fee2,
                                  FillKind.FLATTEN, -1, acc_s[ACC.POS], 0.0)
    if IS[s, _ATMAX]:
        IS[s, _TATMAX] += t - IS[s, _ATMAXS]
        IS[s, _ATMAX] = 0


@njit(cache=True)
def run_portfolio_nb(m_sym, m_idx, ev_off, TS, PR, SZ, f_off, FTS, FRATE, G, R, K, E, F,
                     capital, max_exp, max_share, kill_dd, acct_check_ms, record,
                     out_fills, out_equity, out_rc, out_lv, out_daily, out_tdaily,
                     out_acct, out_summary, out_acc_blocked, out_counts, out_total):
    """Replay a portfolio (see the module docstring).

    Inputs: merged axis `m_sym` / `m_idx` (symbol, index in its stream) of every event; per
    symbol events `TS/PR/SZ[ev_off[s]:ev_off[s+1]]`, funding `FTS/FRATE[f_off[s]:...]`,
    parameter rows G/R/K/E (sweep_nb layout) and filter rows F (Filters order).
    Outputs: per symbol record arrays `out_fills[s]`, `out_equity[s]`, `out_rc[s]`, `out_lv[s]`
    (3-d / 2-d, rows beyond capacity counted not written), `out_daily[s, d]` closing equity of
    merged UTC day d, `out_tdaily[d]` total closing equity, `out_acct` account-check rows,
    `out_summary[s]` (Sum layout), `out_acc_blocked[s]`, `out_counts[s] = (nf, ne, nr, nl)`,
    `out_total = (max drawdown, peak, max dd duration ms, account stop code, stop ts, n account
    rows, final total equity)`.
    """
    S = G.shape[0]
    n_ev = m_sym.shape[0]
    nsl = np.zeros(S, np.int64)
    soff = np.zeros(S + 1, np.int64)
    ooff = np.zeros(S + 1, np.int64)
    rcap = np.zeros(S, np.int64)
    roff = np.zeros(S + 1, np.int64)
    coff = np.zeros(S + 1, np.int64)
    for s in range(S):
        gp = grid_params_from_row_nb(G[s])
        rp = recenter_params_from_row_nb(R[s])
        nsl[s] = gp.n_buy + gp.n_sell
        soff[s + 1] = soff[s] + nsl[s]
        ooff[s + 1] = ooff[s] + 2 * nsl[s]
        rcap[s] = ring_capacity_nb(gp.bar_ms, gp.atr_period, rp.dom_window_ms, rp.pd_window_ms)
        roff[s + 1] = roff[s] + rcap[s]
        coff[s + 1] = coff[s] + new_recenter_cache(rcap[s]).shape[0]
    slots = np.zeros(soff[S], dtype=SLOT_DTYPE)
    orders = np.zeros(ooff[S], dtype=ORDER_DTYPE)
    acc = np.zeros((S, N_ACC), np.float64)
    rings = np.zeros((roff[S], 5), np.float64)
    metas = np.zeros((S, 4), np.int64)
    curs = np.zeros((S, 4), np.float64)
    caches = np.zeros(coff[S], np.float64)
    kst = np.zeros((S, 2), np.float64)
    FS = np.zeros((S, _NFS), np.float64)
    IS = np.zeros((S, _NIS), np.int64)
    caps = np.zeros(S, np.float64)
    for s in range(S):
        ep = _ep_row(E[s], record)
        gp = grid_params_from_row_nb(G[s])
        caps[s] = ep.capital
        acc[s, ACC.CASH] = ep.capital
        ring, meta = new_bar_ring(rcap[s])
        rings[roff[s]:roff[s + 1]] = ring
        metas[s] = meta
        caches[coff[s]:coff[s + 1]] = new_recenter_cache(rcap[s])
        kst[s] = new_kill_state()
        e0 = ev_off[s]
        FS[s, _CENTRE] = np.nan
        FS[s, _LOWEST] = np.nan
        FS[s, _HIGHEST] = np.nan
        FS[s, _LOWER] = gp.lower
        FS[s, _UPPER] = gp.upper
        FS[s, _BB] = -np.inf
        FS[s, _BS] = np.inf
        FS[s, _PREVP] = PR[e0]
        FS[s, _MARK] = PR[e0]
        FS[s, _PEAK] = ep.capital
        FS[s, _EQ] = ep.capital
        IS[s, _NEXTBOOK] = INT64_MAX
        IS[s, _NEXTCHK] = -1
        IS[s, _FI] = f_off[s]
        IS[s, _NEXTFUND] = FTS[f_off[s]] if f_off[s + 1] > f_off[s] else INT64_MAX
        IS[s, _NEXTEQ] = -1 if record else INT64_MAX
        IS[s, _LASTEQ] = -1
        IS[s, _PEAKTS] = TS[e0]
    out_summary[:, :] = 0.0
    out_acc_blocked[:] = 0
    pos_a = np.zeros(S, np.float64)
    rb_a = np.zeros(S, np.float64)
    rs_a = np.zeros(S, np.float64)
    mk_a = np.zeros(S, np.float64)
    eq_a = np.zeros(S, np.float64)
    akstate = new_kill_state()
    acct_stopped = False
    acct_stop_ts = 0
    next_acheck = -1
    n_arows = 0
    first_ts = TS[ev_off[0]]
    for s in range(S):
        if TS[ev_off[s]] < first_ts:
            first_ts = TS[ev_off[s]]
    D0 = first_ts // DAY_MS
    next_tday = (D0 + 1) * DAY_MS
    td = 0
    tpeak = capital
    tpeak_ts = first_ts
    tmax_dd = 0.0
    tmax_dur = 0
    tsum = 0.0  # sum of the grids' PnL (FS[:, _EQ] - caps), resynced at every account check

    for i in range(n_ev):
        s = m_sym[i]
        li = m_idx[i]
        g = ev_off[s] + li
        t = TS[g]
        p = PR[g]
        # fast path: no order can fill or reach the book, no check, funding, sample or day end
        if (t < IS[s, _NEXTBOOK] and t < IS[s, _NEXTCHK] and t < next_acheck
                and t < IS[s, _NEXTFUND] and t < IS[s, _NEXTEQ] and t < next_tday):
            if E[s, 2] == FillModel.CROSS:
                hit = p < FS[s, _BB] or p > FS[s, _BS]
            else:
                hit = p <= FS[s, _BB] or p >= FS[s, _BS]
            if not hit:
                FS[s, _MARK] = p
                _bar_update_s(rings, metas, curs, roff, s, t, p, np.int64(G[s, 15]))
                # equity_nb's operations, in its order, without a view of acc (NRT refcounts)
                e = (caps[s] + acc[s, ACC.REALIZED] - acc[s, ACC.FEES] - acc[s, ACC.FUNDING]
                     + acc[s, ACC.POS] * (p - acc[s, ACC.AVG]))
                tsum += e - FS[s, _EQ]
                _grid_drawdown(s, t, e, FS, IS)
                FS[s, _PREVP] = p
                tpeak, tpeak_ts, tmax_dd, tmax_dur = _total_drawdown(
                    t, capital + tsum, tpeak, tpeak_ts, tmax_dd, tmax_dur)
                continue
        gp = grid_params_from_row_nb(G[s])
        rp = recenter_params_from_row_nb(R[s])
        rk = risk_params_from_row_nb(K[s])
        ep = _ep_row(E[s], record)
        f = _filters_row(F[s])
        n = nsl[s]
        sl = slots[soff[s]:soff[s + 1]]
        od = orders[ooff[s]:ooff[s + 1]]
        a = acc[s]
        ring = rings[roff[s]:roff[s + 1]]
        meta = metas[s]
        cap_s = caps[s]
        eps = f.qty_step * 1e-6 if f.qty_step > 0.0 else 1e-12
        model = ep.fill_model
        lat = ep.latency_ms
        ofills = out_fills[s]
        # closing equity of finished UTC days on the merged axis (every grid, total)
        if t >= next_tday:
            for j in range(S):
                eq_a[j] = equity_nb(acc[j], caps[j], FS[j, _PREVP])
            tot = account_equity_nb(capital, eq_a, caps)
            while t >= next_tday:
                for j in range(S):
                    out_daily[j, td] = eq_a[j]
                out_tdaily[td] = tot
                td += 1
                next_tday += DAY_MS
        FS[s, _MARK] = p
        # 1. completed bars
        bar_update_nb(ring, meta, curs[s], t, p, gp.bar_ms)
        # 2. resting orders
        prev_p = FS[s, _PREVP]
        stopped = IS[s, _STOPPED] != 0
        if model == FillModel.CROSS:
            hit = p < FS[s, _BB] or p > FS[s, _BS]
        else:
            hit = p <= FS[s, _BB] or p >= FS[s, _BS]
        if hit or t >= IS[s, _NEXTBOOK]:
            changed = False
            for r in range(2 * n):
                o = od[r]
                stp, side, fq, fee, full = order_step_nb(o, t, li, p, SZ[g], prev_p, model,
                                                         ep, a, eps)
                if stp == STEP_REJECTED:
                    IS[s, _NREJ] += 1
                if stp != STEP_FILLED:
                    continue
                lim = o["price"]
                if r < n:
                    IS[s, _NLIM] += 1
                    gprof = 0.0
                    if full:
                        changed = True
                        done, gprof = on_slot_fill_nb(sl, r, lim, gp.profit_target, f.tick)
                        if done:
                            IS[s, _NRT] += 1
                            a[ACC.GRID] += gprof
                    IS[s, _NF] = _record_fill(ofills, IS[s, _NF], ep.record, t, side, lim, fq,
                                              fee, FillKind.LIMIT, r, a[ACC.POS], gprof)
                    if full and not stopped:
                        sd, px, qq = slot_order_nb(sl, r)
                        if sd != 0:
                            rb, rs, rbn = _resting(od, t)
                            ok = order_allowed_nb(sd, qq, px, a[ACC.POS], rb, rs,
                                                  equity_nb(a, cap_s, p), rk)
                            if ok and ep.spot:
                                ok = spot_order_allowed_nb(sd, qq, px, a[ACC.CASH], a[ACC.POS],
                                                           rbn, rs, ep.maker_fee)
                            if ok and not _acct_ok(s, sd, qq, px, orders, ooff, nsl, acc, FS, t,
                                                   pos_a, rb_a, rs_a, mk_a, eq_a, caps,
                                                   capital, max_exp, max_share):
                                ok = False
                                out_acc_blocked[s] += 1
                            if ok:
                                _set_order(od, r, sd, px, qq, t + lat, li)
                            else:
                                IS[s, _NBLK] += 1
                else:
                    IS[s, _NLATE] += 1
                    IS[s, _NF] = _record_fill(ofills, IS[s, _NF], ep.record, t, side, lim, fq,
                                              fee, FillKind.LATE, r - n, a[ACC.POS], 0.0)
                    if stopped and rk.flatten_on_kill and a[ACC.POS] != 0.0:
                        fs = -1 if a[ACC.POS] > 0.0 else 1
                        fqty = abs(a[ACC.POS])
                        px, fee2 = _market(a, fs, fqty, p, ep, eps)
                        IS[s, _NF] = _record_fill(ofills, IS[s, _NF], ep.record, t, fs, px, fqty,
                                                  fee2, FillKind.FLATTEN, -1, a[ACC.POS], 0.0)
            bb, bs, nb = _book_state(od, t)
            FS[s, _BB] = bb
            FS[s, _BS] = bs
            IS[s, _NEXTBOOK] = nb
            if changed and not stopped:
                _track_at_max(s, t, sl, IS)
        # 3a. account check: total equity -> account kill switch
        if t >= next_acheck:
            next_acheck = (t // acct_check_ms + 1) * acct_check_ms
            _acct_arrays(orders, ooff, nsl, acc, FS, t, pos_a, rb_a, rs_a, mk_a, eq_a, caps)
            fire = account_kill_switch_nb(t, capital, eq_a, caps, akstate, kill_dd)
            if fire and not acct_stopped:
                acct_stopped = True
                acct_stop_ts = t
                for j in range(S):
                    if IS[j, _STOPPED] != 0:
                        continue
                    epj = _ep_row(E[j], record)
                    fj = _filters_row(F[j])
                    epsj = fj.qty_step * 1e-6 if fj.qty_step > 0.0 else 1e-12
                    odj = orders[ooff[j]:ooff[j + 1]]
                    _stop_grid(j, t, Stop.KILL_SWITCH, odj, nsl[j], epj.latency_ms, acc[j], FS,
                               IS, epj, risk_params_from_row_nb(K[j]), epsj, out_fills[j])
                    bb, bs, nb = _book_state(odj, t)
                    FS[j, _BB] = bb
                    FS[j, _BS] = bs
                    IS[j, _NEXTBOOK] = nb
                    FS[j, _EQ] = equity_nb(acc[j], caps[j], FS[j, _MARK])
                stopped = True
                _acct_arrays(orders, ooff, nsl, acc, FS, t, pos_a, rb_a, rs_a, mk_a, eq_a, caps)
            tsum = 0.0
            for j in range(S):
                tsum += FS[j, _EQ] - caps[j]
            if record:
                if n_arows < out_acct.shape[0]:
                    row = out_acct[n_arows]
                    row["ts"] = t
                    row["equity"] = account_equity_nb(capital, eq_a, caps)
                    ex = 0.0
                    for j in range(S):
                        ex += abs(pos_a[j]) * mk_a[j]
                    row["exposure"] = ex
                    row["worst"] = total_worst_notional_nb(pos_a, rb_a, rs_a, mk_a)
                n_arows += 1
        # 3. the grid's own checks: stops, kill switch, recenter, retries
        if t >= IS[s, _NEXTCHK]:
            nc = IS[s, _NEXTCHK]
            if nc >= 0 and t < nc + ep.check_ms:
                IS[s, _NEXTCHK] = nc + ep.check_ms
            else:
                IS[s, _NEXTCHK] = (t // ep.check_ms + 1) * ep.check_ms
            book_dirty = False
            if not stopped:
                eq = equity_nb(a, cap_s, p)
                code = stop_reason_nb(eq, cap_s, p, rk)
                fire = kill_switch_nb(t, eq, kst[s], rk.kill_switch_dd)
                if code == Stop.NONE and fire:
                    code = Stop.KILL_SWITCH
                if code != Stop.NONE:
                    _stop_grid(s, t, code, od, n, lat, a, FS, IS, ep, rk, eps, ofills)
                    book_dirty = True
                else:
                    if IS[s, _HAS] == 0:
                        reason = Reason.INITIAL
                    else:
                        reason = recenter_reason_nb(t, p, FS[s, _CENTRE], FS[s, _LOWEST],
                                                    FS[s, _HIGHEST], IS[s, _LASTRC], ring, meta,
                                                    caches[coff[s]:coff[s + 1]], rp)
                    if reason != Reason.NONE:
                        _cancel_all(od, n, t, lat)
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
                        if IS[s, _HAS] != 0:
                            lo2, up2 = shift_range_nb(FS[s, _LOWER], FS[s, _UPPER],
                                                      FS[s, _CENTRE], p)
                            FS[s, _LOWER] = lo2
                            FS[s, _UPPER] = up2
                        gpr = _grid_params_with_range(gp, FS[s, _LOWER], FS[s, _UPPER])
                        seed = build_slots_nb(p, spacing, gpr, f, cap_s, sl)
                        IS[s, _HAS] = 1
                        FS[s, _CENTRE] = p
                        IS[s, _LASTRC] = t
                        lw, hg = grid_bounds_nb(sl)
                        FS[s, _LOWEST] = lw
                        FS[s, _HIGHEST] = hg
                        if np.isnan(lw):
                            IS[s, _NEMPTY] += 1
                        out_summary[s, Sum.RC_NONE + reason] += 1.0
                        if ep.record:
                            nr2, nl2 = _record_build(out_rc[s], out_lv[s], IS[s, _NR],
                                                     IS[s, _NL], t, reason, p,
                                                     round_to_nb(p, f.tick), spacing, lw, hg,
                                                     sl, gp.n_buy)
                            IS[s, _NR] = nr2
                            IS[s, _NL] = nl2
                        if seed != 0.0:
                            ss = 1 if seed > 0.0 else -1
                            sq = abs(seed)
                            eq = equity_nb(a, cap_s, p)
                            rb, rs, rbn = _resting(od, t)
                            ok = order_allowed_nb(ss, sq, p, a[ACC.POS], rb, rs, eq, rk)
                            if ok and ep.spot:
                                ok = spot_order_allowed_nb(ss, sq, p, a[ACC.CASH], a[ACC.POS],
                                                           rbn, rs, ep.taker_fee)
                            if ok and not _acct_ok(s, ss, sq, p, orders, ooff, nsl, acc, FS, t,
                                                   pos_a, rb_a, rs_a, mk_a, eq_a, caps,
                                                   capital, max_exp, max_share):
                                ok = False
                                out_acc_blocked[s] += 1
                            if ok:
                                px, fee2 = _market(a, ss, sq, p, ep, eps)
                                IS[s, _NF] = _record_fill(ofills, IS[s, _NF], ep.record, t, ss,
                                                          px, sq, fee2, FillKind.SEED, -1,
                                                          a[ACC.POS], 0.0)
                            else:
                                IS[s, _NBLK] += 1
                        _track_at_max(s, t, sl, IS)
                    # slots without an order ask for one (the grid's checks, then the account's)
                    have = False
                    rb = rs = rbn = eq = 0.0
                    for k in range(n):
                        if od[k]["side"] != 0 or sl[k]["state"] == SlotState.DISABLED:
                            continue
                        if not have:
                            rb, rs, rbn = _resting(od, t)
                            eq = equity_nb(a, cap_s, p)
                            have = True
                        sd, px, q = slot_order_nb(sl, k)
                        if sd == 0:
                            continue
                        ok = order_allowed_nb(sd, q, px, a[ACC.POS], rb, rs, eq, rk)
                        if ok and ep.spot:
                            ok = spot_order_allowed_nb(sd, q, px, a[ACC.CASH], a[ACC.POS],
                                                       rbn, rs, ep.maker_fee)
                        if ok and not _acct_ok(s, sd, q, px, orders, ooff, nsl, acc, FS, t,
                                               pos_a, rb_a, rs_a, mk_a, eq_a, caps, capital,
                                               max_exp, max_share):
                            ok = False
                            out_acc_blocked[s] += 1
                        if not ok:
                            IS[s, _NBLK] += 1
                            continue
                        _set_order(od, k, sd, px, q, t + lat, li)
                        book_dirty = True
                        if sd > 0:
                            rb += q
                            rbn += q * px
                        else:
                            rs += q
            if book_dirty:
                bb, bs, nb = _book_state(od, t)
                FS[s, _BB] = bb
                FS[s, _BS] = bs
                IS[s, _NEXTBOOK] = nb
        # 4. funding, equity sampling, drawdown (the grid's, then the account's)
        if t >= IS[s, _NEXTFUND]:
            fi = IS[s, _FI]
            f1 = f_off[s + 1]
            while fi < f1 and FTS[fi] <= t:
                apply_funding_nb(a, p, FRATE[fi])
                fi += 1
            IS[s, _FI] = fi
            IS[s, _NEXTFUND] = FTS[fi] if fi < f1 else INT64_MAX
        e = equity_nb(a, cap_s, p)
        tsum += e - FS[s, _EQ]
        _grid_drawdown(s, t, e, FS, IS)
        if t >= IS[s, _NEXTEQ]:
            IS[s, _NEXTEQ] = (t // ep.equity_ms + 1) * ep.equity_ms
            if IS[s, _NE] < out_equity.shape[1]:
                _write_equity(out_equity[s], IS[s, _NE], t, p, e, a)
            IS[s, _NE] += 1
            IS[s, _LASTEQ] = t
        FS[s, _PREVP] = p
        tpeak, tpeak_ts, tmax_dd, tmax_dur = _total_drawdown(t, capital + tsum, tpeak, tpeak_ts,
                                                             tmax_dd, tmax_dur)

    # per-grid end of run (as run_nb), then the account's
    last_all = first_ts
    for s in range(S):
        e1 = ev_off[s + 1] - 1
        lt = TS[e1]
        if lt > last_all:
            last_all = lt
    for s in range(S):
        e1 = ev_off[s + 1] - 1
        last_ts = TS[e1]
        p = PR[e1]
        ep = _ep_row(E[s], record)
        a = acc[s]
        e = equity_nb(a, caps[s], p)
        if ep.record and IS[s, _LASTEQ] != last_ts:
            if IS[s, _NE] < out_equity.shape[1]:
                _write_equity(out_equity[s], IS[s, _NE], last_ts, p, e, a)
            IS[s, _NE] += 1
        if last_ts - IS[s, _PEAKTS] > IS[s, _MAXDUR]:
            IS[s, _MAXDUR] = last_ts - IS[s, _PEAKTS]
        if IS[s, _ATMAX]:
            IS[s, _TATMAX] += last_ts - IS[s, _ATMAXS]
        first_s = TS[ev_off[s]]
        sm = out_summary[s]
        sm[Sum.FINAL_EQUITY] = e
        sm[Sum.REALIZED] = a[ACC.REALIZED]
        sm[Sum.UNREALIZED] = a[ACC.POS] * (p - a[ACC.AVG])
        sm[Sum.FEES] = a[ACC.FEES]
        sm[Sum.FUNDING] = a[ACC.FUNDING]
        sm[Sum.GRID_PROFIT] = a[ACC.GRID]
        sm[Sum.POSITION] = a[ACC.POS]
        sm[Sum.TURNOVER] = a[ACC.TURNOVER]
        sm[Sum.N_FILLS] = IS[s, _NF]
        sm[Sum.N_LIMIT_FILLS] = IS[s, _NLIM]
        sm[Sum.N_ROUND_TRIPS] = IS[s, _NRT]
        sm[Sum.N_LATE_FILLS] = IS[s, _NLATE]
        sm[Sum.N_REJECTED_POST_ONLY] = IS[s, _NREJ]
        sm[Sum.N_BLOCKED] = IS[s, _NBLK]
        sm[Sum.N_EMPTY_BUILDS] = IS[s, _NEMPTY]
        sm[Sum.N_KILL_SWITCH] = IS[s, _NKILL]
        sm[Sum.STOP_CODE] = IS[s, _STOPC]
        sm[Sum.STOP_TS] = IS[s, _STOPTS]
        sm[Sum.MAX_DRAWDOWN] = FS[s, _MAXDD]
        sm[Sum.MAX_DD_DURATION_MS] = IS[s, _MAXDUR]
        sm[Sum.TIME_AT_MAX_MS] = IS[s, _TATMAX]
        sm[Sum.FIRST_TS] = first_s
        sm[Sum.LAST_TS] = last_ts
        sm[Sum.N_EVENTS] = ev_off[s + 1] - ev_off[s]
        sm[Sum.N_DAYS] = last_ts // DAY_MS - first_s // DAY_MS + 1
        sm[Sum.PEAK_EQUITY] = FS[s, _PEAK]
        out_counts[s, 0] = IS[s, _NF]
        out_counts[s, 1] = IS[s, _NE]
        out_counts[s, 2] = IS[s, _NR]
        out_counts[s, 3] = IS[s, _NL]
        eq_a[s] = e
    # the days left on the merged axis: every grid's final equity
    tot = account_equity_nb(capital, eq_a, caps)
    n_days = out_tdaily.shape[0]
    while td < n_days:
        for j in range(S):
            out_daily[j, td] = eq_a[j]
        out_tdaily[td] = tot
        td += 1
    if last_all - tpeak_ts > tmax_dur:
        tmax_dur = last_all - tpeak_ts
    out_total[0] = tmax_dd
    out_total[1] = tpeak
    out_total[2] = tmax_dur
    out_total[3] = Stop.KILL_SWITCH if acct_stopped else Stop.NONE
    out_total[4] = acct_stop_ts
    out_total[5] = n_arows
    out_total[6] = tot
    out_total[7] = first_ts
    out_total[8] = last_all


@njit(cache=True, _nrt=False)
def _bar_update_s(rings, metas, curs, roff, s, t, p, bar_ms):
    """`bar_update_nb` on grid s's ring: compiled without NRT so that the three views cost no
    atomic reference counting (the fast path runs it on most events)."""
    bar_update_nb(rings[roff[s]:roff[s + 1]], metas[s], curs[s], t, p, bar_ms)


@njit(cache=True)
def _grid_drawdown(s, t, e, FS, IS):
    """Grid s's equity `e` at event time t: peak, drawdown and its duration (as run_nb)."""
    FS[s, _EQ] = e
    if e >= FS[s, _PEAK]:
        if t - IS[s, _PEAKTS] > IS[s, _MAXDUR]:
            IS[s, _MAXDUR] = t - IS[s, _PEAKTS]
        FS[s, _PEAK] = e
        IS[s, _PEAKTS] = t
    else:
        dd = (FS[s, _PEAK] - e) / FS[s, _PEAK]
        if dd > FS[s, _MAXDD]:
            FS[s, _MAXDD] = dd


@njit(cache=True)
def _total_drawdown(t, te, peak, peak_ts, max_dd, max_dur):
    """The account's running peak / max drawdown / longest time below a peak."""
    if te >= peak:
        if t - peak_ts > max_dur:
            max_dur = t - peak_ts
        return te, t, max_dd, max_dur
    dd = (peak - te) / peak
    return peak, peak_ts, max(max_dd, dd), max_dur


@njit(cache=True)
def _track_at_max(s, t, sl, IS):
    m = at_max_nb(sl)
    if m != (IS[s, _ATMAX] != 0):
        if m:
            IS[s, _ATMAXS] = t
        else:
            IS[s, _TATMAX] += t - IS[s, _ATMAXS]
        IS[s, _ATMAX] = 1 if m else 0
