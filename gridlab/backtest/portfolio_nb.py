"""The portfolio replay kernel: several grids, one account, one merged time axis (numba).

`run_portfolio_nb` replays the events of S symbols merged on one time axis (stable by time,
then symbol order). Each event belongs to one symbol and runs that symbol's step exactly as
`engine_nb.run_nb` does: the same functions (`sim_nb.sim_event_nb` / `sim_check_nb` over
`step_nb.on_fill_nb` / `on_check_nb`, no second copy of the step), on that symbol's own
state (`GRID_STATE_DTYPE` row `GS[s]` and its `GridArrays`, views of the concatenated
arrays), sized on its own capital (allocation x portfolio capital). An order reaches the
book at an event OF ITS SYMBOL after the one it was decided on, as in the single run.

On top, the account (`gridlab.strategy.account_nb`):
- total equity = portfolio capital + sum of the grids' PnL, each grid marked at its last price;
- order gate: `gate_nb.gate_nb` with the account context (`AcctCtx`): every order a grid's
  own checks allow (slot orders, retries at checks, seeds) must also pass
  `account_order_allowed_nb` (total worst-case exposure cap and per-symbol
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

from types import FunctionType

import numpy as np
from numba import njit

from gridlab.backtest.enums import ACC, N_ACC, ORDER_DTYPE
from gridlab.backtest.fills_nb import can_fill_nb
from gridlab.backtest.gate_nb import AcctCtx, account_arrays_nb
from gridlab.backtest.ledger_nb import apply_funding_nb, dd_floor_nb, drawdown_nb, equity_nb
from gridlab.backtest.sim_nb import (
    record_market_nb,
    sim_check_nb,
    sim_event_nb,
    write_equity_nb,
    write_summary_nb,
)
from gridlab.backtest.state_nb import (
    ACTION_DTYPE,
    GRID_STATE_DTYPE,
    INT64_MAX,
    N_ACTIONS_EXTRA,
    GridArrays,
    init_state_nb,
)
from gridlab.backtest.step_nb import check_quiet_arrays_nb, next_check_nb, stop_grid_nb
from gridlab.backtest.sweep_nb import (
    engine_params_from_row_nb,
    grid_params_from_row_nb,
    recenter_params_from_row_nb,
    risk_params_from_row_nb,
    tiers_from_row_nb,
)
from gridlab.strategy.account_nb import (
    account_equity_nb,
    account_kill_switch_nb,
    total_worst_notional_nb,
)
from gridlab.strategy.bars_nb import bar_update_nb, new_bar_ring, ring_capacity_nb
from gridlab.strategy.enums import SLOT_DTYPE, Filters, Stop
from gridlab.strategy.recenter_nb import new_recenter_cache
from gridlab.strategy.risk_nb import new_kill_state

__all__ = ["ACCOUNT_ROW_DTYPE", "merge_streams_nb", "run_portfolio_nb"]

DAY_MS = 86_400_000

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
    symbol order (a stable merge); writes each event's symbol and index in its stream.
    A scan of the S heads per event: faster than a heap up to a dozen streams (predictable
    branches); `portfolio.merge_axis` sorts beyond."""
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


# `engine_params_from_row_nb` and its `tiers_from_row_nb`, the same code compiled without
# reference counting and inlined into the replay loop: the NRT builds cost ~80 ns a call in
# atomic increments and decrements of the row's five views, at every slow event
_tiers_free = njit(_nrt=False, inline="always")(tiers_from_row_nb.py_func)
_ep_code = engine_params_from_row_nb.py_func
_ep_free = njit(_nrt=False, inline="always")(
    FunctionType(_ep_code.__code__, {**_ep_code.__globals__, "tiers_from_row_nb": _tiers_free},
                 _ep_code.__name__, _ep_code.__defaults__))


@njit(cache=True, _nrt=False, inline="always")
def _ep_row(r, record):
    return _ep_free(r, record)


@njit(cache=True)
def _filters_row(r):
    return Filters(r[0], r[1], r[2], r[3], r[4])




@njit(cache=True, inline="always")
def _grid(s, slots, orders, acc, rings, metas, curs, caches, kst, blk_e, blk_q, frow, fqty,
          act, lvp, lvs, soff, ooff, roff, coff, aoff):
    """Grid s's GridArrays: views of the concatenated arrays."""
    return GridArrays(slots[soff[s]:soff[s + 1]], orders[ooff[s]:ooff[s + 1]], acc[s],
                      rings[roff[s]:roff[s + 1]], metas[s], curs[s], caches[coff[s]:coff[s + 1]],
                      kst[s], blk_e[soff[s]:soff[s + 1]], blk_q[soff[s]:soff[s + 1]],
                      frow[ooff[s]:ooff[s + 1]], fqty[ooff[s]:ooff[s + 1]],
                      act[aoff[s]:aoff[s + 1]], lvp[soff[s] + s:soff[s + 1] + s + 1],
                      lvs[soff[s] + s:soff[s + 1] + s + 1])


@njit(cache=True, _nrt=False, inline="always")
def _bar_update_s(rings, metas, curs, roff, s, t, p, bar_ms):
    """`bar_update_nb` on grid s's ring, inlined into the NRT-free loop: the three views cost
    no atomic reference counting and no call passes them (the fast path runs it on most
    events)."""
    bar_update_nb(rings[roff[s]:roff[s + 1]], metas[s], curs[s], t, p, bar_ms)


@njit(cache=True, inline="always")
def _grid_drawdown(st, t, e, dlim, s):
    """Grid equity `e` at event time t: peak, drawdown and its duration (as run_nb; `dlim[s]`
    its `dd_floor_nb`, the depths that skip the division)."""
    st["eq"] = e
    if e < st["peak"] and st["peak"] - e <= dlim[s]:
        return  # drawdown_nb would change nothing
    pk, pk_ts, mdd, mdur, lim = drawdown_nb(e, t, st["peak"], st["peak_ts"], st["max_dd"],
                                            st["max_dur"], dlim[s])
    dlim[s] = lim
    st["peak"] = pk
    st["peak_ts"] = pk_ts
    st["max_dd"] = mdd
    st["max_dur"] = mdur


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
    rows, final total equity, first ts, last ts)`.
    """
    S = G.shape[0]
    soff = np.zeros(S + 1, np.int64)
    ooff = np.zeros(S + 1, np.int64)
    aoff = np.zeros(S + 1, np.int64)
    rcap = np.zeros(S, np.int64)
    roff = np.zeros(S + 1, np.int64)
    coff = np.zeros(S + 1, np.int64)
    for s in range(S):
        gp = grid_params_from_row_nb(G[s])
        rp = recenter_params_from_row_nb(R[s])
        n = gp.n_buy + gp.n_sell
        soff[s + 1] = soff[s] + n
        ooff[s + 1] = ooff[s] + 2 * n
        aoff[s + 1] = aoff[s] + n + N_ACTIONS_EXTRA
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
    blk_e = np.full(soff[S], -1, np.int64)
    blk_q = np.zeros(soff[S], np.float64)
    frow = np.zeros(ooff[S], np.int64)
    fqty = np.zeros(ooff[S], np.float64)
    act = np.zeros(aoff[S], ACTION_DTYPE)
    lvp = np.zeros(soff[S] + S, np.float64)  # grid s: [soff[s] + s, soff[s + 1] + s + 1)
    lvs = np.zeros(soff[S] + S, np.int64)
    GS = np.zeros(S, GRID_STATE_DTYPE)
    caps = np.zeros(S, np.float64)
    for s in range(S):
        ep = _ep_row(E[s], record)
        gp = grid_params_from_row_nb(G[s])
        f = _filters_row(F[s])
        caps[s] = ep.capital
        acc[s, ACC.CASH] = ep.capital
        ring, meta = new_bar_ring(rcap[s])
        rings[roff[s]:roff[s + 1]] = ring
        metas[s] = meta
        caches[coff[s]:coff[s + 1]] = new_recenter_cache(rcap[s])
        kst[s] = new_kill_state()
        e0 = ev_off[s]
        eps = f.qty_step * 1e-6 if f.qty_step > 0.0 else 1e-12
        st = GS[s]
        init_state_nb(st, ep.capital, gp.lower, gp.upper, eps, TS[e0], PR[e0], record)
        st["fund_i"] = f_off[s]
        st["next_fund"] = FTS[f_off[s]] if f_off[s + 1] > f_off[s] else INT64_MAX
    out_summary[:, :] = 0.0
    out_acc_blocked[:] = 0
    pos_a = np.zeros(S, np.float64)
    rb_a = np.zeros(S, np.float64)
    rs_a = np.zeros(S, np.float64)
    mk_a = np.zeros(S, np.float64)
    eq_a = np.zeros(S, np.float64)
    akstate = new_kill_state()
    rkey = np.full((S, 3), -1, np.int64)
    rval = np.zeros((S, 2), np.float64)
    dlim = np.zeros(S, np.float64)
    fmod = np.zeros(S, np.int64)  # the fast path's fill model and bar length, per grid
    bms = np.zeros(S, np.int64)
    qcms = np.zeros(S, np.int64)  # the check interval where the fast path may take a check
    for s in range(S):
        dlim[s] = dd_floor_nb(GS[s]["peak"], GS[s]["max_dd"])
        ep = _ep_row(E[s], record)
        fmod[s] = ep.fill_model
        bms[s] = grid_params_from_row_nb(G[s]).bar_ms
        # a quiet check does nothing but count (`check_quiet_nb`); with the margin model the
        # check also runs the liquidation step, so those grids take every check in full
        qcms[s] = ep.check_ms if ep.margin == 0 else 0
    _replay_portfolio_nb(m_sym, m_idx, ev_off, TS, PR, SZ, f_off, FTS, FRATE, G, R, K, E, F,
                         capital, max_exp, max_share, kill_dd, acct_check_ms, record,
                         out_fills, out_equity, out_rc, out_lv, out_daily, out_tdaily,
                         out_acct, out_summary, out_acc_blocked, out_counts, out_total,
                         GS, slots, orders, acc, rings, metas, curs, caches, kst, blk_e, blk_q,
                         frow, fqty, act, lvp, lvs, soff, ooff, roff, coff, aoff, caps,
                         pos_a, rb_a, rs_a, mk_a, eq_a, akstate, rkey, rval, dlim, fmod, bms, qcms)


@njit(cache=True, _nrt=False)
def _replay_portfolio_nb(m_sym, m_idx, ev_off, TS, PR, SZ, f_off, FTS, FRATE, G, R, K, E, F,
                         capital, max_exp, max_share, kill_dd, acct_check_ms, record,
                         out_fills, out_equity, out_rc, out_lv, out_daily, out_tdaily,
                         out_acct, out_summary, out_acc_blocked, out_counts, out_total,
                         GS, slots, orders, acc, rings, metas, curs, caches, kst, blk_e, blk_q,
                         frow, fqty, act, lvp, lvs, soff, ooff, roff, coff, aoff, caps,
                         pos_a, rb_a, rs_a, mk_a, eq_a, akstate, rkey, rval, dlim, fmod, bms, qcms):
    """The event loop of `run_portfolio_nb` over the allocated states (no reference
    counting: views of the concatenated arrays and calls into the step cost no atomics)."""
    S = G.shape[0]
    n_ev = m_sym.shape[0]
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
    tlim = dd_floor_nb(tpeak, tmax_dd)
    tsum = 0.0  # sum of the grids' PnL (st.eq - caps), resynced at every account check

    for i in range(n_ev):
        s = m_sym[i]
        gi = ev_off[s] + m_idx[i]
        t = TS[gi]
        p = PR[gi]
        st = GS[s]
        # fast path: no order can fill or reach the book, no funding, sample or day end, and
        # no check or one that does nothing but count (`check_quiet_arrays_nb`: the step's
        # check would answer it first, see `on_check_nb`)
        if (t < st["next_book"] and t < next_acheck
                and t < st["next_fund"] and t < st["next_eq"] and t < next_tday):
            model = fmod[s]
            quiet = not (can_fill_nb(model, 1, st["best_buy"], p)
                         or can_fill_nb(model, -1, st["best_sell"], p))
            if quiet and t >= st["next_check"]:
                quiet = (qcms[s] > 0 and st["exact"] == 0
                         and check_quiet_arrays_nb(st, acc[s], kst[s],
                                                   caches[coff[s]:coff[s + 1]], t, p,
                                                   risk_params_from_row_nb(K[s]),
                                                   _ep_row(E[s], record)))
                if quiet:
                    st["next_check"] = next_check_nb(st["next_check"], t, qcms[s])
            if quiet:
                st["mark"] = p
                _bar_update_s(rings, metas, curs, roff, s, t, p, bms[s])
                # equity_nb's operations, in its order, without a view of acc (NRT refcounts)
                e = (caps[s] + acc[s, ACC.REALIZED] - acc[s, ACC.FEES] - acc[s, ACC.FUNDING]
                     + acc[s, ACC.POS] * (p - acc[s, ACC.AVG]))
                tsum += e - st["eq"]
                _grid_drawdown(st, t, e, dlim, s)
                st["prev_p"] = p
                tpeak, tpeak_ts, tmax_dd, tmax_dur, tlim = drawdown_nb(
                    capital + tsum, t, tpeak, tpeak_ts, tmax_dd, tmax_dur, tlim)
                continue
        gp = grid_params_from_row_nb(G[s])
        rp = recenter_params_from_row_nb(R[s])
        rk = risk_params_from_row_nb(K[s])
        ep = _ep_row(E[s], record)
        f = _filters_row(F[s])
        g = _grid(s, slots, orders, acc, rings, metas, curs, caches, kst, blk_e, blk_q, frow,
                  fqty, act, lvp, lvs, soff, ooff, roff, coff, aoff)
        ax = AcctCtx(True, s, capital, max_exp, max_share, GS, acc, orders, ooff, caps, pos_a,
                     rb_a, rs_a, mk_a, eq_a, rkey, rval)
        cap_s = caps[s]
        ofills = out_fills[s]
        # closing equity of finished UTC days on the merged axis (every grid, total)
        if t >= next_tday:
            for j in range(S):
                eq_a[j] = equity_nb(acc[j], caps[j], GS[j]["prev_p"])
            tot = account_equity_nb(capital, eq_a, caps)
            while t >= next_tday:
                for j in range(S):
                    out_daily[j, td] = eq_a[j]
                out_tdaily[td] = tot
                td += 1
                next_tday += DAY_MS
        st["mark"] = p
        # 1. completed bars
        bar_update_nb(g.ring, g.meta, g.cur, t, p, gp.bar_ms)
        # 2. the book (sim_event_nb reads the previous price from st)
        model = ep.fill_model
        if (can_fill_nb(model, 1, st["best_buy"], p) or can_fill_nb(model, -1, st["best_sell"], p)
                or t >= st["next_book"]):
            sim_event_nb(st, g, t, p, SZ[gi], gp, f, rk, ep, ax, ofills)
        # 3a. account check: total equity -> account kill switch
        if t >= next_acheck:
            next_acheck = (t // acct_check_ms + 1) * acct_check_ms
            account_arrays_nb(ax, t)
            fire = account_kill_switch_nb(t, capital, eq_a, caps, akstate, kill_dd)
            if fire and not acct_stopped:
                acct_stopped = True
                acct_stop_ts = t
                for j in range(S):
                    sj = GS[j]
                    if sj["stopped"] != 0:
                        continue
                    gj = _grid(j, slots, orders, acc, rings, metas, curs, caches, kst, blk_e,
                               blk_q, frow, fqty, act, lvp, lvs, soff, ooff, roff, coff, aoff)
                    epj = _ep_row(E[j], record)
                    na = stop_grid_nb(sj, gj, t, sj["mark"], Stop.KILL_SWITCH,
                                      risk_params_from_row_nb(K[j]), epj, True, 0)
                    record_market_nb(sj, gj, na, out_fills[j], record)
                    sj["eq"] = equity_nb(acc[j], caps[j], sj["mark"])
                account_arrays_nb(ax, t)
            tsum = 0.0
            for j in range(S):
                tsum += GS[j]["eq"] - caps[j]
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
        # 3. the grid's own check clock
        if t >= st["next_check"]:
            st["next_check"] = next_check_nb(st["next_check"], t, ep.check_ms)
            if st["stopped"] == 0:
                sim_check_nb(st, g, t, p, gp, f, rp, rk, ep, ax, ofills, out_rc[s], out_lv[s])
        # 4. funding, equity sampling, drawdown (the grid's, then the account's)
        if t >= st["next_fund"]:
            fi = st["fund_i"]
            f1 = f_off[s + 1]
            while fi < f1 and FTS[fi] <= t:
                apply_funding_nb(g.acc, p, FRATE[fi])
                fi += 1
            st["fund_i"] = fi
            st["next_fund"] = FTS[fi] if fi < f1 else INT64_MAX
            st["epoch"] += 1
        e = equity_nb(g.acc, cap_s, p)
        tsum += e - st["eq"]
        _grid_drawdown(st, t, e, dlim, s)
        if t >= st["next_eq"]:
            st["next_eq"] = (t // ep.equity_ms + 1) * ep.equity_ms
            if st["n_eq"] < out_equity.shape[1]:
                write_equity_nb(out_equity[s], st["n_eq"], t, p, e, g.acc)
            st["n_eq"] += 1
            st["last_eq_ts"] = t
        st["prev_p"] = p
        tpeak, tpeak_ts, tmax_dd, tmax_dur, tlim = drawdown_nb(capital + tsum, t, tpeak, tpeak_ts,
                                                               tmax_dd, tmax_dur, tlim)

    # per-grid end of run (as run_nb), then the account's
    last_all = first_ts
    for s in range(S):
        lt = TS[ev_off[s + 1] - 1]
        if lt > last_all:
            last_all = lt
    for s in range(S):
        e1 = ev_off[s + 1] - 1
        last_ts = TS[e1]
        p = PR[e1]
        st = GS[s]
        a = acc[s]
        e = equity_nb(a, caps[s], p)
        if record and st["last_eq_ts"] != last_ts:
            if st["n_eq"] < out_equity.shape[1]:
                write_equity_nb(out_equity[s], st["n_eq"], last_ts, p, e, a)
            st["n_eq"] += 1
        if last_ts - st["peak_ts"] > st["max_dur"]:
            st["max_dur"] = last_ts - st["peak_ts"]
        if st["at_max"] != 0:
            st["time_at_max"] += last_ts - st["at_max_since"]
        first_s = TS[ev_off[s]]
        write_summary_nb(st, a, caps[s], p, first_s, last_ts, ev_off[s + 1] - ev_off[s],
                         last_ts // DAY_MS - first_s // DAY_MS + 1, out_summary[s])
        out_acc_blocked[s] = st["n_acc_blocked"]
        out_counts[s, 0] = st["n_fills"]
        out_counts[s, 1] = st["n_eq"]
        out_counts[s, 2] = st["n_rc_rows"]
        out_counts[s, 3] = st["n_lv_rows"]
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
