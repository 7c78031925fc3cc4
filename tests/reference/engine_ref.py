"""Slow, obvious plain-Python reference of the backtest engine (`gridlab.backtest.engine_nb`).

It follows the documented rules one event at a time with Python objects; grid decisions come
from the strategy kernels run as plain Python (`.py_func`), so this checks the engine's
bookkeeping (ordering, latency, fill models, PostOnly, accounting, stops, metrics), not the
strategy. Float operations are done in the same order as the kernels, so results agree exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gridlab.backtest.enums import SUMMARY_FIELDS, FillKind, FillModel
from gridlab.strategy import bars_nb, grid_nb, levels_nb, recenter_nb, risk_nb
from gridlab.strategy.enums import SLOT_DTYPE, AtrMode, GridParams, Reason, SlotState, Stop

DAY_MS = 86_400_000


def _plain(fn):
    """The plain-Python function of a kernel (itself under NUMBA_DISABLE_JIT=1)."""
    return getattr(fn, "py_func", fn)


_py = {
    "build_slots": _plain(grid_nb.build_slots_nb),
    "slot_order": _plain(grid_nb.slot_order_nb),
    "on_slot_fill": _plain(grid_nb.on_slot_fill_nb),
    "bounds": _plain(grid_nb.grid_bounds_nb),
    "bar_update": _plain(bars_nb.bar_update_nb),
    "atr_simple": _plain(bars_nb.atr_simple_nb),
    "atr_wilder": _plain(bars_nb.atr_wilder_nb),
    "eff_spacing": _plain(bars_nb.effective_spacing_nb),
    "ring_cap": _plain(bars_nb.ring_capacity_nb),
    "recenter": _plain(recenter_nb.recenter_reason_nb),
    "allowed": _plain(risk_nb.order_allowed_nb),
    "spot_allowed": _plain(risk_nb.spot_order_allowed_nb),
    "post_only_ok": _plain(risk_nb.post_only_ok_nb),
    "kill": _plain(risk_nb.kill_switch_nb),
    "stop": _plain(risk_nb.stop_reason_nb),
    "shift_range": _plain(levels_nb.shift_range_nb),
    "round_to": _plain(levels_nb.round_to_nb),
}


@dataclass
class Order:
    side: int
    price: float
    qty: float
    rem: float
    active_ts: int
    dec_idx: int
    cancel_ts: float = math.inf
    live: bool = False
    queue: float = 0.0


@dataclass
class Account:
    capital: float
    eps: float
    pos: float = 0.0
    avg: float = 0.0
    realized: float = 0.0
    fees: float = 0.0
    funding: float = 0.0
    cash: float = 0.0
    turnover: float = 0.0
    grid: float = 0.0

    def fill(self, side: int, qty: float, price: float, rate: float) -> float:
        notional = qty * price
        fee = notional * rate
        new = self.pos + side * qty
        if self.pos == 0.0 or (self.pos > 0.0) == (side > 0):
            if abs(new) <= self.eps:
                new, self.avg = 0.0, 0.0
            else:
                self.avg = (self.avg * abs(self.pos) + notional) / abs(new)
        else:
            closed = min(qty, abs(self.pos))
            self.realized += closed * (price - self.avg) * (1.0 if self.pos > 0.0 else -1.0)
            if abs(new) <= self.eps:
                new, self.avg = 0.0, 0.0
            elif (new > 0.0) != (self.pos > 0.0):
                self.avg = price
        self.pos = new
        self.fees += fee
        self.cash -= side * qty * price + fee
        self.turnover += notional
        return fee

    def equity(self, mark: float) -> float:
        return (self.capital + self.realized - self.fees - self.funding
                + self.pos * (mark - self.avg))


@dataclass
class RefResult:
    fills: list[tuple] = field(default_factory=list)
    equity: list[tuple] = field(default_factory=list)
    recenters: list[tuple] = field(default_factory=list)  # RECENTER_DTYPE order
    levels: list[tuple] = field(default_factory=list)  # LEVEL_DTYPE order
    daily: list[float] = field(default_factory=list)
    summary: dict[str, float] = field(default_factory=dict)


def _fill_qty(model: int, side: int, limit: float, rem: float, queue: float, p: float,
              size: float) -> tuple[float, float]:
    through = p < limit if side > 0 else p > limit
    if through:
        return rem, 0.0
    if p != limit or model == FillModel.CROSS:
        return 0.0, queue
    if model == FillModel.TOUCH:
        return rem, queue
    eat = min(queue, size)
    return min(rem, size - eat), queue - eat


def run_ref(ts, price, size, fund_ts, fund_rate, gp, f, rp, rk, ep) -> RefResult:
    """Replay one run; returns fills (tuples in FILL_DTYPE order), equity points, grid
    (re)builds and their levels, daily closing equity and the summary dict (SUMMARY_FIELDS)."""
    ts = [int(x) for x in ts]
    price = [float(x) for x in price]
    size = [float(x) for x in size]
    n = gp.n_buy + gp.n_sell
    slots = np.zeros(n, dtype=SLOT_DTYPE)
    slot_orders: list[Order | None] = [None] * n
    old_orders: list[Order | None] = [None] * n
    acc = Account(ep.capital, f.qty_step * 1e-6 if f.qty_step > 0.0 else 1e-12, cash=ep.capital)
    cap = _py["ring_cap"](gp.bar_ms, gp.atr_period, rp.dom_window_ms, rp.pd_window_ms)
    ring, meta = bars_nb.new_bar_ring(cap)
    cur = np.zeros(4)
    rcache = recenter_nb.new_recenter_cache(cap)
    kstate = np.array([-1.0, 0.0])
    res = RefResult()
    rc = dict.fromkeys(range(10), 0)
    cnt = dict.fromkeys(("limit", "rt", "late", "rej", "blocked", "empty", "kill"), 0)
    has_grid = stopped = False
    centre = lowest = highest = math.nan
    last_rc = 0
    lower, upper = gp.lower, gp.upper
    stop_code = stop_ts = 0
    next_check = -1
    fi = 0
    next_eq = -1
    last_eq_ts = -1
    day0 = ts[0] // DAY_MS
    next_day = (day0 + 1) * DAY_MS
    peak, peak_ts, max_dd, max_dur = ep.capital, ts[0], 0.0, 0
    at_max, at_max_since, time_at_max = False, 0, 0
    prev_p = price[0]

    def all_orders():
        return [(k, o) for k, o in enumerate(slot_orders)] + [(n + k, o) for k, o in
                                                               enumerate(old_orders)]

    def resting(t):
        rb = rs = rbn = 0.0
        for _, o in all_orders():
            if o is None or t >= o.cancel_ts:
                continue
            if o.side > 0:
                rb += o.rem
                rbn += o.rem * o.price
            else:
                rs += o.rem
        return rb, rs, rbn

    def add_fill(t, side, px, qty, fee, kind, slot, gprof=0.0):
        res.fills.append((t, side, px, qty, fee, kind, slot, acc.pos, gprof))

    def market(t, side, qty, p, kind):
        px = p * (1.0 + ep.slippage) if side > 0 else p * (1.0 - ep.slippage)
        fee = acc.fill(side, qty, px, ep.taker_fee)
        add_fill(t, side, px, qty, fee, kind, -1)

    def place(k, i, t, p, totals=None) -> int:
        """Decide slot k's order; `totals` = [rb, rs, rbn] kept by a check's retry loop."""
        side, px, qty = _py["slot_order"](slots, k)
        if side == 0:
            return 0
        rb, rs, rbn = resting(t) if totals is None else totals
        ok = _py["allowed"](side, qty, px, acc.pos, rb, rs, acc.equity(p), rk)
        if ok and ep.spot:
            ok = _py["spot_allowed"](side, qty, px, acc.cash, acc.pos, rbn, rs, ep.maker_fee)
        if not ok:
            return -1
        slot_orders[k] = Order(int(side), float(px), float(qty), float(qty),
                               t + ep.latency_ms, i)
        if totals is not None:
            if side > 0:
                totals[0] += qty
                totals[2] += qty * px
            else:
                totals[1] += qty
        return 1

    def cancel_all(t):
        for k in range(n):
            o = slot_orders[k]
            if o is not None and ep.latency_ms > 0:
                o.cancel_ts = t + ep.latency_ms
                old_orders[k] = o
            slot_orders[k] = None

    def grid_at_max() -> bool:
        homes = {1: [0, 0], -1: [0, 0]}
        for k in range(n):
            if slots[k]["state"] == SlotState.DISABLED:
                continue
            h = homes[1 if slots[k]["home"] == 1 else -1]
            h[0] += 1
            h[1] += slots[k]["state"] == SlotState.CLOSE_LEG
        return any(a > 0 and b == a for a, b in homes.values())

    def set_at_max(m, t):
        nonlocal at_max, at_max_since, time_at_max
        if m != at_max:
            if m:
                at_max_since = t
            else:
                time_at_max += t - at_max_since
            at_max = m

    def record_build(t, reason, p, spacing, lowest, highest):
        """The build's row, and its levels: every lo and hi of an enabled slot, once, low to
        high; side by where the level is against the centre level (buy side below)."""
        on = [k for k in range(n) if slots[k]["state"] != SlotState.DISABLED]
        centre_level = _py["round_to"](p, f.tick)
        res.recenters.append((t, int(reason), p, centre_level, spacing, lowest, highest,
                              len(on)))
        prices = sorted({float(slots[k]["lo"]) for k in on} | {float(slots[k]["hi"]) for k in on})
        for lv in prices:
            side = 1 if lv < centre_level else (-1 if lv > centre_level else 0)
            res.levels.append((t, lv, side))

    def flatten(t, p):
        if acc.pos != 0.0:
            market(t, -1 if acc.pos > 0.0 else 1, abs(acc.pos), p, FillKind.FLATTEN)

    for i, (t, p, sz) in enumerate(zip(ts, price, size, strict=True)):
        if t >= next_day:
            e_prev = acc.equity(prev_p)
            while t >= next_day:
                res.daily.append(e_prev)
                next_day += DAY_MS
        _py["bar_update"](ring, meta, cur, t, p, gp.bar_ms)
        # 2. orders, slot orders by slot then cancelling orders by slot
        changed = False
        for r, o in all_orders():
            if o is None:
                continue
            is_slot = r < n
            k = r if is_slot else r - n
            if t >= o.cancel_ts:
                old_orders[k] = None
                continue
            if not o.live:
                if i <= o.dec_idx or t < o.active_ts:
                    continue
                if ep.post_only and not _py["post_only_ok"](o.side, o.price, prev_p, prev_p):
                    cnt["rej"] += 1
                    if is_slot:
                        slot_orders[k] = None
                    else:
                        old_orders[k] = None
                    continue
                o.live = True
                o.queue = ep.queue_ahead + ep.queue_mult * o.qty
            fq, o.queue = _fill_qty(ep.fill_model, o.side, o.price, o.rem, o.queue, p, sz)
            if fq <= 0.0:
                continue
            fee = acc.fill(o.side, fq, o.price, ep.maker_fee)
            full = fq >= o.rem
            o.rem = 0.0 if full else o.rem - fq
            if is_slot:
                cnt["limit"] += 1
                gprof = 0.0
                if full:
                    slot_orders[k] = None
                    changed = True
                    done, gprof = _py["on_slot_fill"](slots, k, o.price, gp.profit_target,
                                                      f.tick)
                    if done:
                        cnt["rt"] += 1
                        acc.grid += gprof
                add_fill(t, o.side, o.price, fq, fee, FillKind.LIMIT, k, gprof)
                if full and not stopped and place(k, i, t, p) < 0:
                    cnt["blocked"] += 1
            else:
                if full:
                    old_orders[k] = None
                cnt["late"] += 1
                add_fill(t, o.side, o.price, fq, fee, FillKind.LATE, k)
                if stopped and rk.flatten_on_kill:
                    flatten(t, p)
        if changed and not stopped:
            set_at_max(grid_at_max(), t)
        # 3. checks
        if t >= next_check:
            next_check = (t // ep.check_ms + 1) * ep.check_ms
            if not stopped:
                eq = acc.equity(p)
                code = _py["stop"](eq, ep.capital, p, rk)
                fire = _py["kill"](t, eq, kstate, rk.kill_switch_dd)
                if code == Stop.NONE and fire:
                    code = Stop.KILL_SWITCH
                if code != Stop.NONE:
                    stopped = True
                    stop_code, stop_ts = code, t
                    cnt["kill"] += code == Stop.KILL_SWITCH
                    cancel_all(t)
                    if rk.flatten_on_kill:
                        flatten(t, p)
                    set_at_max(False, t)
                else:
                    if not has_grid:
                        reason = Reason.INITIAL
                    else:
                        reason = _py["recenter"](t, p, centre, lowest, highest, last_rc, ring,
                                                 meta, rcache, rp)
                    if reason != Reason.NONE:
                        cancel_all(t)
                        spacing = gp.spacing
                        if gp.atr_mode in (AtrMode.SIMPLE, AtrMode.WILDER):
                            fn = _py["atr_simple" if gp.atr_mode == AtrMode.SIMPLE
                                     else "atr_wilder"]
                            spacing = _py["eff_spacing"](gp.spacing, fn(ring, meta, gp.atr_period),
                                                         p, gp.atr_mode, gp.atr_mult,
                                                         gp.atr_floor, gp.atr_ceil)
                        if has_grid:
                            lower, upper = _py["shift_range"](lower, upper, centre, p)
                        gpr = GridParams(*((*gp[:4], lower, upper, *gp[6:])))
                        seed = _py["build_slots"](p, spacing, gpr, f, ep.capital, slots)
                        has_grid, centre, last_rc = True, p, t
                        lowest, highest = _py["bounds"](slots)
                        cnt["empty"] += bool(np.isnan(lowest))
                        rc[reason] += 1
                        if ep.record:
                            record_build(t, reason, p, spacing, lowest, highest)
                        if seed != 0.0:
                            ss = 1 if seed > 0.0 else -1
                            rb, rs, rbn = resting(t)
                            ok = _py["allowed"](ss, abs(seed), p, acc.pos, rb, rs, acc.equity(p),
                                                rk)
                            if ok and ep.spot:
                                ok = _py["spot_allowed"](ss, abs(seed), p, acc.cash, acc.pos, rbn,
                                                         rs, ep.taker_fee)
                            if ok:
                                market(t, ss, abs(seed), p, FillKind.SEED)
                            else:
                                cnt["blocked"] += 1
                        set_at_max(grid_at_max(), t)
                    totals = list(resting(t))
                    for k in range(n):
                        if (slot_orders[k] is None and slots[k]["state"] != SlotState.DISABLED
                                and place(k, i, t, p, totals) < 0):
                            cnt["blocked"] += 1
        # 4. funding, drawdown, equity
        while fi < len(fund_ts) and fund_ts[fi] <= t:
            fee = acc.pos * p * float(fund_rate[fi])
            acc.funding += fee
            acc.cash -= fee
            fi += 1
        e = acc.equity(p)
        if e >= peak:
            max_dur = max(max_dur, t - peak_ts)
            peak, peak_ts = e, t
        else:
            max_dd = max(max_dd, (peak - e) / peak)
        if ep.record and t >= next_eq:
            next_eq = (t // ep.equity_ms + 1) * ep.equity_ms
            res.equity.append(_eq_row(t, p, e, acc))
            last_eq_ts = t
        prev_p = p

    t, p = ts[-1], price[-1]
    e = acc.equity(p)
    n_days = t // DAY_MS - day0 + 1
    while len(res.daily) < n_days:
        res.daily.append(e)
    if ep.record and last_eq_ts != t:
        res.equity.append(_eq_row(t, p, e, acc))
    max_dur = max(max_dur, t - peak_ts)
    if at_max:
        time_at_max += t - at_max_since
    values = {
        "final_equity": e, "realized": acc.realized, "unrealized": acc.pos * (p - acc.avg),
        "fees": acc.fees, "funding": acc.funding, "grid_profit": acc.grid, "position": acc.pos,
        "turnover": acc.turnover, "n_fills": len(res.fills), "n_limit_fills": cnt["limit"],
        "n_round_trips": cnt["rt"], "n_late_fills": cnt["late"],
        "n_rejected_post_only": cnt["rej"], "n_blocked": cnt["blocked"],
        "n_empty_builds": cnt["empty"], "n_kill_switch": cnt["kill"], "stop_code": stop_code,
        "stop_ts": stop_ts, "max_drawdown": max_dd, "max_dd_duration_ms": max_dur,
        "time_at_max_ms": time_at_max, "first_ts": ts[0], "last_ts": t, "n_events": len(ts),
        "n_days": n_days, "peak_equity": peak,
    }
    names = ("none", "initial", "trail_up", "trail_down", "deviation", "pump_dump",
             "dominance", "time", "manual", "kill")
    values |= {f"rc_{nm}": rc[j] for j, nm in enumerate(names)}
    assert set(values) == set(SUMMARY_FIELDS)
    res.summary = {k: float(values[k]) for k in SUMMARY_FIELDS}
    return res


def _eq_row(t, p, e, acc: Account) -> tuple:
    return (t, p, e, acc.pos, acc.realized, acc.pos * (p - acc.avg), acc.fees, acc.funding,
            acc.grid, acc.cash)
