"""The one step kernel of a grid: `on_fill_nb`, `on_check_nb` and the risk gate (numba).

Written once for every loop (docs/strategy-kernels.md, "The per-event step"): `run_nb`
(one grid), `run_portfolio_nb` (several grids, one account) and the live runner call these
functions on a grid's state (`state_nb`: the record `st` and the arrays `g`) and carry out
the actions they write into `g.act` (they return how many):

- `on_fill_nb(st, g, r, q, t, p, gp, f, rk, ep, ax, sim)`: order row `r` filled `q` at its
  limit price: ledger, slot transition, the slot's next order through the gate;
- `on_check_nb(st, g, t, p, gp, f, rp, rk, ep, ax, sim)`: the check clock: stops and kill
  switch, recenter (cancel all, build, seed), retries of slots without an order;
- `stop_grid_nb(st, g, t, p, code, rk, ep, sim, na)`: stop trading (also the account kill);
- `rebuild_nb`, `retry_nb`: the rebuild and the retries of `on_check_nb` on their own, for the
  live runner's manual rebuilds, its restart, and after a seed (the replay loops do not
  call them). With `sim=False` a check that seeds ends at its SEED action: the retries
  follow (`retry_nb`) once the seed's executions are booked, as the backtest gates them
  after its simulated seed;
- every order the step places or seeds passes the ONE risk gate, `gate_nb.gate_nb` (own
  exposure cap and max position, spot balances, margin, the account when `ax.on`).

Speed: the step allocates nothing (builds use the state's level scratch,
`build_slots_into_nb`) and is compiled without reference counting (`_nrt=False`, callees
inherit it), and so are the replay loops that call it: with reference counting every call
would increment and decrement each array of the state with atomic instructions (a run of
43,200 1m bars: 3x slower). `on_fill_nb`, `on_check_nb` and their small helpers are also
IR-inlined into the loops (`inline="always"`): a call passes the whole state (hundreds of
scalars) at every check.
Orders are written into the order rows in flight (they reach the book at `t + latency`);
with `sim=True` (the backtest's simulated exchange) market orders are executed at once in
the ledger at `p +- slippage` with the taker fee, else (live) only requested.
`ax` is the account context (`AcctCtx`; `no_account_nb()` for a lone grid).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gridlab.backtest.enums import ACC, MarginMode
from gridlab.backtest.gate_nb import (
    GATE_ACCOUNT,
    GATE_MARGIN,
    GATE_OK,
    GATE_OWN,
    gate_nb,
    own_gate_ok_nb,
    resting_nb,
)
from gridlab.backtest.ledger_nb import apply_fill_nb, equity_nb
from gridlab.backtest.state_nb import INT64_MAX, Act
from gridlab.strategy.bars_nb import atr_nb, effective_spacing_nb
from gridlab.strategy.enums import AtrMode, GridParams, Reason, Side, SlotState, Stop
from gridlab.strategy.grid_nb import (
    build_slots_into_nb,
    fill_remainder_nb,
    grid_bounds_nb,
    on_slot_fill_nb,
    slot_order_nb,
)
from gridlab.strategy.levels_nb import shift_range_nb
from gridlab.strategy.recenter_nb import arm_quiet_nb, recenter_quiet_nb, recenter_reason_nb
from gridlab.strategy.risk_nb import kill_switch_nb, stop_reason_nb

__all__ = [
    "at_max_nb",
    "book_state_nb",
    "cancel_all_nb",
    "check_quiet_nb",
    "count_known_retries_nb",
    "on_check_nb",
    "on_fill_nb",
    "rebuild_nb",
    "retries_known_nb",
    "retry_nb",
    "set_order_nb",
    "stop_grid_nb",
]

@njit(cache=True, inline="always")
def emit_nb(act, na, kind, slot, side, price, qty, fee, ts, code, pos=0.0):
    """Append one action; returns the new count."""
    a = act[na]
    a["pos"] = pos
    a["kind"] = kind
    a["slot"] = slot
    a["side"] = side
    a["price"] = price
    a["qty"] = qty
    a["fee"] = fee
    a["ts"] = ts
    a["code"] = code
    return na + 1


@njit(cache=True, inline="always")
def set_order_nb(orders, k, side, price, qty, active_ts):
    """Write a new in-flight order into row k."""
    o = orders[k]
    o["side"] = side
    o["price"] = price
    o["qty"] = qty
    o["rem"] = qty
    o["active_ts"] = active_ts
    o["cancel_ts"] = INT64_MAX
    o["live"] = 0
    o["queue"] = 0.0


@njit(cache=True)
def cancel_all_nb(orders, n, ts, latency):
    """Cancel every slot order: dropped now (latency 0) or moved to the cancelling rows."""
    for k in range(n):
        if orders[k]["side"] == 0:
            continue
        if latency > 0:
            orders[n + k] = orders[k]
            orders[n + k]["cancel_ts"] = ts + latency
        orders[k]["side"] = 0


@njit(cache=True)
def book_state_nb(st, orders):
    """Refresh st's book summary: best live buy / sell, next arrival or cancel time."""
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
    st["best_buy"] = bb
    st["best_sell"] = bs
    st["next_book"] = nb


@njit(cache=True)
def at_max_nb(slots) -> bool:
    """True when every enabled slot of one home side has its opening leg filled."""
    nb = 0
    cb = 0
    ns = 0
    cs = 0
    for k in range(slots.shape[0]):
        s = slots[k]["state"]
        if s == SlotState.DISABLED:
            continue
        if slots[k]["home"] == Side.BUY:
            nb += 1
            if s == SlotState.CLOSE_LEG:
                cb += 1
        else:
            ns += 1
            if s == SlotState.CLOSE_LEG:
                cs += 1
    return (nb > 0 and cb == nb) or (ns > 0 and cs == ns)


@njit(cache=True, inline="always")
def track_at_max_nb(st, slots, t):
    """Time-at-max accounting after the slots changed."""
    m = at_max_nb(slots)
    if m != (st["at_max"] != 0):
        if m:
            st["at_max_since"] = t
        else:
            st["time_at_max"] += t - st["at_max_since"]
        st["at_max"] = 1 if m else 0


@njit(cache=True)
def _market(st, g, na, kind, side, qty, t, p, ep, sim):
    """A market order (seed / flatten): executed now when `sim`; returns the action count."""
    px = p
    fee = 0.0
    if sim:
        px = p * (1.0 + ep.slippage) if side > 0 else p * (1.0 - ep.slippage)
        fee = apply_fill_nb(g.acc, side, qty, px, ep.taker_fee, st["eps"])
        st["epoch"] += 1
    return emit_nb(g.act, na, kind, -1, side, px, qty, fee, t, 0, g.acc[ACC.POS])


@njit(cache=True, _nrt=False, inline="always")
def on_fill_nb(st, g, r, q, t, p, gp, f, rk, ep, ax, sim):
    """Order row `r` filled `q` at its limit price (docs: `on_fill_nb`). Books the fill
    (`st.last_fee`, `st.last_gprof`, `st.last_full`), moves the slot on a complete fill and
    decides its next order through the gate; returns the number of actions in `g.act`."""
    o = g.orders[r]
    side = o["side"]
    lim = o["price"]
    rem = o["rem"]
    n = g.slots.shape[0]
    st["epoch"] += 1
    st["rest_ok"] = 0
    fee = apply_fill_nb(g.acc, side, q, lim, ep.maker_fee, st["eps"])
    full, left = fill_remainder_nb(rem, q)  # the completeness rule (written once)
    o["rem"] = left
    if full:
        o["side"] = 0
    st["last_fee"] = fee
    st["last_pos"] = g.acc[ACC.POS]
    st["last_gprof"] = 0.0
    st["last_full"] = 1 if full else 0
    na = 0
    if r < n:
        st["n_limit"] += 1
        if full:
            done, gprof = on_slot_fill_nb(g.slots, r, lim, gp.profit_target, f.tick)
            if done:
                st["n_rt"] += 1
                g.acc[ACC.GRID] += gprof
                st["last_gprof"] = gprof
            if st["stopped"] == 0:
                sd, px, qq = slot_order_nb(g.slots, r)
                if sd != 0:
                    rb, rs, rbn = resting_nb(g.orders, t)
                    eq = equity_nb(g.acc, ep.capital, p)
                    if gate_nb(st, g, sd, qq, px, ep.maker_fee, rb, rs, rbn, eq, rk, ep,
                               ax, t) == GATE_OK:
                        set_order_nb(g.orders, r, sd, px, qq, t + ep.latency_ms)
                        na = emit_nb(g.act, na, Act.PLACE, r, sd, px, qq, 0.0,
                                     t + ep.latency_ms, 0)
                    else:
                        st["n_blocked"] += 1
    else:
        st["n_late"] += 1
        if st["stopped"] != 0 and rk.flatten_on_kill and g.acc[ACC.POS] != 0.0:
            fs = -1 if g.acc[ACC.POS] > 0.0 else 1
            na = _market(st, g, na, Act.FLATTEN, fs, abs(g.acc[ACC.POS]), t, p, ep, sim)
    return na


@njit(cache=True, _nrt=False)
def stop_grid_nb(st, g, t, p, code, rk, ep, sim, na):
    """Stop trading (a stop, the kill switch, the account's kill switch): cancel all, STOP,
    flatten at `p` if `flatten_on_kill`. Returns the action count."""
    n = g.slots.shape[0]
    st["stopped"] = 1
    st["stop_code"] = code
    st["stop_ts"] = t
    if code == Stop.KILL_SWITCH:
        st["n_kill"] += 1
    cancel_all_nb(g.orders, n, t, ep.latency_ms)
    st["rest_ok"] = 0
    st["epoch"] += 1
    na = emit_nb(g.act, na, Act.CANCEL_ALL, -1, 0, 0.0, 0.0, 0.0, t + ep.latency_ms, 0)
    na = emit_nb(g.act, na, Act.STOP, -1, 0, p, 0.0, 0.0, t, code)
    if rk.flatten_on_kill and g.acc[ACC.POS] != 0.0:
        fs = -1 if g.acc[ACC.POS] > 0.0 else 1
        na = _market(st, g, na, Act.FLATTEN, fs, abs(g.acc[ACC.POS]), t, p, ep, sim)
    if st["at_max"] != 0:
        st["time_at_max"] += t - st["at_max_since"]
        st["at_max"] = 0
    book_state_nb(st, g.orders)
    return na


@njit(cache=True)
def grid_params_with_range_nb(gp, lower, upper):
    return GridParams(gp.n_buy, gp.n_sell, gp.spacing, gp.spacing_mode, lower, upper,
                      gp.profit_target, gp.qty_mode, gp.mode, gp.leverage, gp.atr_mode,
                      gp.atr_period, gp.atr_mult, gp.atr_floor, gp.atr_ceil, gp.bar_ms)


@njit(cache=True, _nrt=False)
def _rebuild(st, g, reason, t, p, gp, f, rk, ep, ax, sim, na):
    """Recenter: cancel all, build at p, seed. Returns the action count."""
    n = g.slots.shape[0]
    lat = ep.latency_ms
    cancel_all_nb(g.orders, n, t, lat)
    st["rest_ok"] = 0
    st["epoch"] += 1
    na = emit_nb(g.act, na, Act.CANCEL_ALL, -1, 0, 0.0, 0.0, 0.0, t + lat, 0)
    spacing = gp.spacing
    if gp.atr_mode != AtrMode.OFF:
        atr = atr_nb(g.ring, g.meta, gp.atr_mode, gp.atr_period)
        spacing = effective_spacing_nb(gp.spacing, atr, p, gp.atr_mode, gp.atr_mult,
                                       gp.atr_floor, gp.atr_ceil)
    if st["has_grid"] != 0:
        lo2, up2 = shift_range_nb(st["lower"], st["upper"], st["centre"], p)
        st["lower"] = lo2
        st["upper"] = up2
    gpr = grid_params_with_range_nb(gp, st["lower"], st["upper"])
    seed = build_slots_into_nb(p, spacing, gpr, f, ep.capital, g.slots, g.lv_price, g.lv_status)
    st["has_grid"] = 1
    st["centre"] = p
    st["last_rc"] = t
    lw, hg = grid_bounds_nb(g.slots)
    st["lowest"] = lw
    st["highest"] = hg
    if np.isnan(lw):
        st["n_empty"] += 1
    st["rc"][reason] += 1
    na = emit_nb(g.act, na, Act.REBUILD, -1, 0, p, spacing, 0.0, t, reason)
    if seed != 0.0:
        ss = 1 if seed > 0.0 else -1
        sq = abs(seed)
        rb, rs, rbn = resting_nb(g.orders, t)
        eq = equity_nb(g.acc, ep.capital, p)
        if gate_nb(st, g, ss, sq, p, ep.taker_fee, rb, rs, rbn, eq, rk, ep, ax,
                   t) == GATE_OK:
            na = _market(st, g, na, Act.SEED, ss, sq, t, p, ep, sim)
        else:
            st["n_blocked"] += 1
    track_at_max_nb(st, g.slots, t)
    return na


@njit(cache=True, inline="always")
def _retries(st, g, t, p, rk, ep, ax, memo, na):
    """Every enabled slot without an order asks for one through the gate (on_check_nb 4).
    Returns (action count, anything placed)."""
    n = g.slots.shape[0]
    have = False
    rb = rs = rbn = eq = 0.0
    lat = ep.latency_ms
    nref = 0
    nmg = 0
    nacc = 0
    placed = False
    low_eq = np.inf  # the lowest equity up to which every refused slot is known refused
    for k in range(n):
        if g.orders[k]["side"] != 0 or g.slots[k]["state"] == SlotState.DISABLED:
            continue
        if not have:
            if st["rest_ok"] == 0:
                rb0, rs0, rbn0 = resting_nb(g.orders, t)
                if rb0 != st["rb"] or rs0 != st["rs"] or rbn0 != st["rbn"]:
                    # the totals at t moved without an order change (a cancel took effect
                    # at its time): refusals known at this epoch are stale
                    st["epoch"] += 1
                st["rb"] = rb0
                st["rs"] = rs0
                st["rbn"] = rbn0
                st["rest_ok"] = 1
            rb = st["rb"]
            rs = st["rs"]
            rbn = st["rbn"]
            eq = equity_nb(g.acc, ep.capital, p)
            have = True
        if (memo and g.blk_epoch[k] == st["epoch"] and eq <= g.blk_eq[k]
                and (st["blk_mg"][k] == 0 or eq == g.blk_eq[k])):
            # (a margin refusal is known again only at the same equity: at a lower one the
            # grid's own cap, checked first, may refuse it instead)
            st["n_blocked"] += 1  # refused again: nothing but the equity changed, not higher
            st["n_mref"] += st["blk_mg"][k]  # by the margin, counted as such
            nref += 1
            nmg += st["blk_mg"][k]
            low_eq = min(low_eq, g.blk_eq[k])
            continue
        sd, px, q = slot_order_nb(g.slots, k)
        if sd == 0:
            continue
        if (memo and g.blk_epoch[k] == st["epoch"] and st["blk_mg"][k] != 0
                and (ep.margin == MarginMode.ISOLATED or eq <= g.blk_eq[k])):
            # refused by the margin at this epoch: the margin refuses it again (isolated: the
            # margin balance is the wallet's, the equity does not count; cross: a lower
            # balance carries less), unless the grid's own part, checked first, refuses it
            if own_gate_ok_nb(g, sd, q, px, ep.maker_fee, rb, rs, eq, rbn, rk, ep):
                st["n_mref"] += 1
                code = GATE_MARGIN
            else:
                code = GATE_OWN
        else:
            code = gate_nb(st, g, sd, q, px, ep.maker_fee, rb, rs, rbn, eq, rk, ep, ax, t)
        if code != GATE_OK:
            st["n_blocked"] += 1
            nref += 1
            beq = eq
            if code == GATE_ACCOUNT:
                # an account refusal may flip with the other grids: not remembered
                g.blk_epoch[k] = -1
                nacc += 1
            else:
                g.blk_epoch[k] = st["epoch"]
                if memo and code == GATE_OWN:
                    # the grid's own part refuses more at a lower equity (the cap is the only
                    # part that reads it): refused at a slightly higher equity too, the memo
                    # holds up to that one (fewer passes while the equity wanders below it)
                    probe = eq + abs(eq) * 1e-3
                    if not own_gate_ok_nb(g, sd, q, px, ep.maker_fee, rb, rs, probe, rbn, rk,
                                          ep):
                        beq = probe
            g.blk_eq[k] = beq
            low_eq = min(low_eq, beq)
            st["blk_mg"][k] = 1 if code == GATE_MARGIN else 0
            nmg += st["blk_mg"][k]
            continue
        set_order_nb(g.orders, k, sd, px, q, t + lat)
        na = emit_nb(g.act, na, Act.PLACE, k, sd, px, q, 0.0, t + lat, 0)
        st["rest_ok"] = 0
        st["epoch"] += 1
        placed = True
        if sd > 0:
            rb += q
            rbn += q * px
        else:
            rs += q
    if memo and not placed:
        st["skip_epoch"] = st["epoch"] if nacc == 0 else -1
        st["skip_eq"] = low_eq  # every slot refused (inf: none wanted an order)
        st["skip_nblk"] = nref
        st["skip_nmref"] = nmg
    return na, placed


@njit(cache=True, inline="always")
def retries_known_nb(st, eq, ep):
    """True when the retries' pass at equity `eq` is known to place nothing (the memo of
    `_retries`): nothing changed since a pass that placed nothing, so every slot without an
    order is refused again (see blk_epoch in _retries) and the pass is skipped, O(1): at a
    lower equity when the grid's own part refused them all (it refuses more there), at a
    higher one when the isolated margin refused them all (the own part, passed, passes
    again; the wallet balance is the same)."""
    return st["skip_epoch"] == st["epoch"] and (
        (eq <= st["skip_eq"] and (st["skip_nmref"] == 0 or eq == st["skip_eq"]))
        or (ep.margin == MarginMode.ISOLATED and eq >= st["skip_eq"]
            and st["skip_nmref"] == st["skip_nblk"]))


@njit(cache=True, inline="always")
def count_known_retries_nb(st):
    """Count a retries' pass skipped by `retries_known_nb`: every refusal it remembers."""
    st["n_blocked"] += st["skip_nblk"]
    st["n_mref"] += st["skip_nmref"]


@njit(cache=True, _nrt=False, inline="always")
def check_quiet_nb(st, g, t, p, rk, ep):
    """The simulated check at (t, p) when it provably does nothing but count (backtests,
    `st.exact == 0`): the grid is stopped, or no stop and no kill switch fire, the price is
    inside the recenter triggers' quiet window (`recenter_quiet_nb`) and the retries are
    known to place nothing (`retries_known_nb`). True: the check is done (counted as
    `on_check_nb` counts it); False: run `on_check_nb` in full (the kill switch's daily max
    may have been updated at (t, equity): the same update again changes nothing)."""
    return check_quiet_arrays_nb(st, g.acc, g.kstate, g.rcache, t, p, rk, ep)


@njit(cache=True, _nrt=False, inline="always")
def next_check_nb(nc, t, check_ms):
    """The check clock after a check at `t` due at `nc`: one interval on when only one was
    due (no division), else the first multiple of `check_ms` after `t`."""
    if nc >= 0 and t < nc + check_ms:
        return nc + check_ms
    return (t // check_ms + 1) * check_ms


@njit(cache=True, _nrt=False, inline="always")
def check_quiet_arrays_nb(st, acc, kstate, rcache, t, p, rk, ep):
    """`check_quiet_nb` given the three arrays of the grid it reads (ledger, kill-switch
    state, trigger cache): for a loop that keeps several grids' arrays side by side and
    answers a quiet check without taking the grid's other views (`portfolio_nb`)."""
    if st["stopped"] != 0:
        return True
    if st["has_grid"] == 0:
        return False
    cap = ep.capital
    eq = equity_nb(acc, cap, p)
    if stop_reason_nb(eq, cap, p, rk) != Stop.NONE:
        return False
    if kill_switch_nb(t, eq, kstate, rk.kill_switch_dd):
        return False
    if not (recenter_quiet_nb(rcache, t, p, st["centre"], st["lowest"], st["highest"],
                              st["last_rc"]) and retries_known_nb(st, eq, ep)):
        return False
    st["n_quiet"] += 1
    count_known_retries_nb(st)
    return True


@njit(cache=True, _nrt=False, inline="always")
def on_check_nb(st, g, t, p, gp, f, rp, rk, ep, ax, sim):
    """The check clock at (t, p) (docs: `on_check_nb`): stops, kill switch, recenter, seed,
    retries of slots without an order. Returns the number of actions in `g.act`.
    A simulated check that provably does nothing but count is answered by `check_quiet_nb`
    (O(1); `st.exact` runs every check in full)."""
    if st["stopped"] != 0:
        return 0
    if sim and st["exact"] == 0 and check_quiet_nb(st, g, t, p, rk, ep):
        return 0
    cap = ep.capital
    eq = equity_nb(g.acc, cap, p)
    code = stop_reason_nb(eq, cap, p, rk)
    fire = kill_switch_nb(t, eq, g.kstate, rk.kill_switch_dd)
    if code == Stop.NONE and fire:
        code = Stop.KILL_SWITCH
    if code != Stop.NONE:
        return stop_grid_nb(st, g, t, p, code, rk, ep, sim, 0)
    na = 0
    dirty = False
    if st["has_grid"] == 0:
        reason = Reason.INITIAL
    elif sim and recenter_quiet_nb(g.rcache, t, p, st["centre"], st["lowest"], st["highest"],
                                   st["last_rc"]):
        reason = Reason.NONE  # inside the quiet window: no trigger can fire (O(1))
        st["n_quiet"] += 1
    else:
        reason = recenter_reason_nb(t, p, st["centre"], st["lowest"], st["highest"],
                                    st["last_rc"], g.ring, g.meta, g.rcache, rp)
        if sim and reason == Reason.NONE and st["exact"] == 0:
            # the simulated exchange feeds events in time order: the quiet window's bounds
            # hold (recenter_nb.arm_quiet_nb); live answers every check in full
            arm_quiet_nb(g.ring, g.meta, g.rcache, t, st["centre"], st["lowest"],
                         st["highest"], st["last_rc"], rp, gp.bar_ms)
    if reason != Reason.NONE:
        na = _rebuild(st, g, reason, t, p, gp, f, rk, ep, ax, sim, na)
        dirty = True
        if not sim and na > 0 and g.act[na - 1]["kind"] == Act.SEED:
            # live: the seed is only requested; the retries are gated against the position
            # once its executions are booked (the caller runs `retry_nb` then)
            book_state_nb(st, g.orders)
            return na
    # slots without an order ask for one; resting totals summed once (or reused while no
    # order changed) and grown by each order placed here
    # the memo holds what only the grid's own state decides (account refusals, which another
    # grid's change can flip, are not remembered); live (`not sim`, account on): the state
    # changes outside the step, no memo
    memo = sim or not ax.on
    eq_now = equity_nb(g.acc, cap, p)
    if memo and retries_known_nb(st, eq_now, ep):
        count_known_retries_nb(st)
    else:
        na, placed = _retries(st, g, t, p, rk, ep, ax, memo, na)
        dirty = dirty or placed
    if dirty:
        book_state_nb(st, g.orders)
    return na


# ---- entry points of the live runner (not used by the replay loops) ----------------------


@njit(cache=True, _nrt=False)
def rebuild_nb(st, g, reason, t, p, gp, f, rk, ep, ax, sim):
    """A rebuild outside the check clock (live: a manual restart, a profile change): the
    rebuild of `on_check_nb` (cancel all, build at p, seed) with the caller's `reason`.
    Returns the number of actions in `g.act`."""
    na = _rebuild(st, g, reason, t, p, gp, f, rk, ep, ax, sim, 0)
    book_state_nb(st, g.orders)
    return na


@njit(cache=True, _nrt=False)
def retry_nb(st, g, t, p, rk, ep, ax):
    """The retries of `on_check_nb` alone (live: after a restart's reconciliation, after a
    rebuild outside the check clock): every enabled slot without an order asks for one
    through the gate (no memo). Returns the number of actions in `g.act`."""
    if st["stopped"] != 0:
        return 0
    na, placed = _retries(st, g, t, p, rk, ep, ax, False, 0)
    if placed:
        book_state_nb(st, g.orders)
    return na
