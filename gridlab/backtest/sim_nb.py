"""The backtest's simulated exchange around the one step kernel (numba).

`sim_event_nb` is step 2 of an event (the book: `collect_fills_nb`, then `on_fill_nb` for
each fill in price-path order); `sim_check_nb` is step 3 (`on_check_nb`). Both run the step
with `sim=True` (market orders execute at once) and record what it did: fills (limit, late,
seed, flatten) into `FILL_DTYPE` rows, builds and their levels into `RECENTER_DTYPE` /
`LEVEL_DTYPE` rows. `run_nb` and `run_portfolio_nb` call these two and nothing else of the
strategy (compiled without reference counting, as the step); `write_summary_nb`
writes one grid's summary vector for both.
"""

from __future__ import annotations

from numba import njit

from gridlab.backtest.enums import ACC, FillKind, Sum
from gridlab.backtest.fills_nb import collect_fills_nb
from gridlab.backtest.ledger_nb import equity_nb
from gridlab.backtest.liquidation_nb import liq_step_nb
from gridlab.backtest.state_nb import N_REASONS, Act
from gridlab.backtest.step_nb import book_state_nb, on_check_nb, on_fill_nb, track_at_max_nb
from gridlab.strategy.enums import SlotState
from gridlab.strategy.levels_nb import round_to_nb

__all__ = ["record_fill_nb", "record_market_nb", "sim_check_nb", "sim_event_nb",
           "write_equity_nb", "write_summary_nb"]


@njit(cache=True)
def record_fill_nb(st, out_fills, record, ts, side, price, qty, fee, kind, slot, position,
                   gprof):
    """Count one fill (`st.n_fills`) and write it when recording and there is room."""
    nf = st["n_fills"]
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
    st["n_fills"] = nf + 1


@njit(cache=True)
def record_market_nb(st, g, na, out_fills, record):
    """Record the market fills (seed, flatten) among the first na actions."""
    for j in range(na):
        a = g.act[j]
        if a["kind"] == Act.SEED:
            record_fill_nb(st, out_fills, record, a["ts"], a["side"], a["price"], a["qty"],
                           a["fee"], FillKind.SEED, -1, a["pos"], 0.0)
        elif a["kind"] == Act.FLATTEN:
            record_fill_nb(st, out_fills, record, a["ts"], a["side"], a["price"], a["qty"],
                           a["fee"], FillKind.FLATTEN, -1, a["pos"], 0.0)
        elif a["kind"] == Act.LIQUIDATE:
            record_fill_nb(st, out_fills, record, a["ts"], a["side"], a["price"], a["qty"],
                           a["fee"], FillKind.LIQUIDATION, -1, a["pos"], 0.0)


@njit(cache=True, _nrt=False, inline="always")
def sim_event_nb(st, g, t, p, size, gp, f, rk, ep, ax, out_fills):
    """Step 2 of event (t, p, size) on the simulated book; refreshes st's book summary."""
    st["rest_ok"] = 0
    st["epoch"] += 1
    if ep.margin != 0:  # the liquidation points (liquidation_nb): before and after the book
        record_market_nb(st, g, liq_step_nb(st, g, t, p, rk, ep, False), out_fills, ep.record)
    m = collect_fills_nb(st, g, t, p, size, ep)
    n = g.slots.shape[0]
    changed = False
    for j in range(m):
        r = g.fill_row[j]
        q = g.fill_qty[j]
        side = g.orders[r]["side"]
        lim = g.orders[r]["price"]
        na = on_fill_nb(st, g, r, q, t, p, gp, f, rk, ep, ax, True)
        if r < n:
            if st["last_full"] != 0:
                changed = True
            record_fill_nb(st, out_fills, ep.record, t, side, lim, q, st["last_fee"],
                           FillKind.LIMIT, r, st["last_pos"], st["last_gprof"])
        else:
            record_fill_nb(st, out_fills, ep.record, t, side, lim, q, st["last_fee"],
                           FillKind.LATE, r - n, st["last_pos"], 0.0)
        record_market_nb(st, g, na, out_fills, ep.record)
    book_state_nb(st, g.orders)
    if ep.margin != 0:
        record_market_nb(st, g, liq_step_nb(st, g, t, p, rk, ep, m > 0), out_fills, ep.record)
    if changed and st["stopped"] == 0:
        track_at_max_nb(st, g.slots, t)


@njit(cache=True)
def _record_build(st, out_rc, out_lv, t, reason, p, centre_level, spacing, slots, n_buy):
    """Write one (re)build: a row of `out_rc` and the levels of its enabled slots into `out_lv`
    (level j = lo of slot j = hi of slot j-1, once; side 1 for j < n_buy, -1 above, 0 at the
    centre level). Rows beyond the capacity are counted, not written."""
    n = slots.shape[0]
    n_on = 0
    nl = st["n_lv_rows"]
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
    st["n_lv_rows"] = nl
    nr = st["n_rc_rows"]
    if nr < out_rc.shape[0]:
        r = out_rc[nr]
        r["ts"] = t
        r["reason"] = reason
        r["price"] = p
        r["centre"] = centre_level
        r["spacing"] = spacing
        r["lowest"] = st["lowest"]
        r["highest"] = st["highest"]
        r["n_slots"] = n_on
    st["n_rc_rows"] = nr + 1


@njit(cache=True, _nrt=False, inline="always")
def sim_check_nb(st, g, t, p, gp, f, rp, rk, ep, ax, out_fills, out_rc, out_lv):
    """Step 3 of event (t, p): the check, with its market fills and builds recorded."""
    na = on_check_nb(st, g, t, p, gp, f, rp, rk, ep, ax, True)
    for j in range(na):
        a = g.act[j]
        if a["kind"] == Act.REBUILD and ep.record:
            _record_build(st, out_rc, out_lv, t, a["code"], p, round_to_nb(p, f.tick), a["qty"],
                          g.slots, gp.n_buy)
    record_market_nb(st, g, na, out_fills, ep.record)
    if ep.margin != 0:  # after the check (liquidation_nb)
        record_market_nb(st, g, liq_step_nb(st, g, t, p, rk, ep, True), out_fills, ep.record)


@njit(cache=True)
def write_equity_nb(out_equity, j, t, p, e, acc):
    """Equity point j at (t, p): equity e and the ledger's parts."""
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


@njit(cache=True)
def write_summary_nb(st, acc, capital, p, first_ts, last_ts, n_ev, n_days, summary):
    """One grid's summary vector (Sum layout) at the end of its events (last price p)."""
    for j in range(summary.shape[0]):
        summary[j] = 0.0
    summary[Sum.FINAL_EQUITY] = equity_nb(acc, capital, p)
    summary[Sum.REALIZED] = acc[ACC.REALIZED]
    summary[Sum.UNREALIZED] = acc[ACC.POS] * (p - acc[ACC.AVG])
    summary[Sum.FEES] = acc[ACC.FEES]
    summary[Sum.FUNDING] = acc[ACC.FUNDING]
    summary[Sum.GRID_PROFIT] = acc[ACC.GRID]
    summary[Sum.POSITION] = acc[ACC.POS]
    summary[Sum.TURNOVER] = acc[ACC.TURNOVER]
    summary[Sum.N_FILLS] = st["n_fills"]
    summary[Sum.N_LIMIT_FILLS] = st["n_limit"]
    summary[Sum.N_ROUND_TRIPS] = st["n_rt"]
    summary[Sum.N_LATE_FILLS] = st["n_late"]
    summary[Sum.N_REJECTED_POST_ONLY] = st["n_rej"]
    summary[Sum.N_BLOCKED] = st["n_blocked"]
    summary[Sum.N_EMPTY_BUILDS] = st["n_empty"]
    summary[Sum.N_KILL_SWITCH] = st["n_kill"]
    summary[Sum.STOP_CODE] = st["stop_code"]
    summary[Sum.STOP_TS] = st["stop_ts"]
    summary[Sum.MAX_DRAWDOWN] = st["max_dd"]
    summary[Sum.MAX_DD_DURATION_MS] = st["max_dur"]
    summary[Sum.TIME_AT_MAX_MS] = st["time_at_max"]
    summary[Sum.FIRST_TS] = first_ts
    summary[Sum.LAST_TS] = last_ts
    summary[Sum.N_EVENTS] = n_ev
    summary[Sum.N_DAYS] = n_days
    summary[Sum.PEAK_EQUITY] = st["peak"]
    for j in range(N_REASONS):
        summary[Sum.RC_NONE + j] = st["rc"][j]
    summary[Sum.N_LIQUIDATIONS] = st["n_liq"]
    summary[Sum.LIQ_TS] = st["liq_ts"]
    summary[Sum.LIQ_LOSS] = st["liq_loss"]
    summary[Sum.N_MARGIN_REFUSED] = st["n_mref"]
