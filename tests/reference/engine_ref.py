"""Slow, obvious plain-Python reference of the backtest engine, independent of `gridlab`.

Written from the written rules (docs/strategy-kernels.md "Event order", the backtest rules in
tests/reference/README.md), with plain data: the market is lists, the configuration is plain
dicts (`grid`, `filters`, `recenter`, `risk`, `engine`; field names as in the docs), slots are
`SlotRef` objects, bars a list. Grid, bar, recenter and risk decisions come from
`strategy_ref` (itself independent of gridlab). Nothing here imports `gridlab` or numpy, so a
rule broken in the kernels cannot be inherited by the reference.

Float operations are done in the written order, so results agree with the kernels exactly.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from types import SimpleNamespace

from tests.reference import liquidation_ref as L
from tests.reference import strategy_ref as S

__all__ = ["DAY_MS", "SUMMARY_FIELDS", "Account", "Grid", "Order", "RefResult", "RefStart",
           "fill_qty", "resume", "ring_capacity", "run_plain", "run_ref"]

DAY_MS = 86_400_000
CROSS, TOUCH, QUEUE = 0, 1, 2            # fill models
LIMIT, LATE, SEED, FLATTEN = 0, 1, 2, 3  # fill kinds
ATR_OFF, ATR_SIMPLE, ATR_WILDER = 0, 1, 2
STOP_NONE, STOP_KILL = 0, 1
REASON_NONE, REASON_INITIAL = 0, 1
REASON_NAMES = ("none", "initial", "trail_up", "trail_down", "deviation", "pump_dump",
                "dominance", "time", "manual", "kill")
SUMMARY_FIELDS = (
    "final_equity", "realized", "unrealized", "fees", "funding", "grid_profit", "position",
    "turnover", "n_fills", "n_limit_fills", "n_round_trips", "n_late_fills",
    "n_rejected_post_only", "n_blocked", "n_empty_builds", "n_kill_switch", "stop_code",
    "stop_ts", "max_drawdown", "max_dd_duration_ms", "time_at_max_ms", "first_ts", "last_ts",
    "n_events", "n_days", "peak_equity", *(f"rc_{nm}" for nm in REASON_NAMES),
    "n_liquidations", "liq_ts", "liq_loss", "n_margin_refused")


def ring_capacity(bar_ms: int, atr_period: int, dom_window_ms: int, pd_window_ms: int) -> int:
    """Completed bars kept: 10 ATR periods + 2, or the longest recenter window in bars + 2."""
    return max(10 * atr_period + 2, dom_window_ms // bar_ms + 2, pd_window_ms // bar_ms + 2)


def path_order(hits: list[tuple], p: float, prev: float) -> list[tuple]:
    """The fills `(row, ..., order, qty)` of one event in the order the market reaches them:
    a falling or flat price (`p <= prev`) by limit price descending (the highest bid first),
    a rising one ascending (the lowest ask first); equal prices in row order."""
    if p <= prev:
        return sorted(hits, key=lambda h: (-h[3].price, h[0]))
    return sorted(hits, key=lambda h: (h[3].price, h[0]))


def fill_qty(model: int, side: int, limit: float, rem: float, queue: float, p: float,
             size: float) -> tuple[float, float]:
    """(filled qty, queue left) of an order on the book hit by a print at `p` of `size`.

    Through the limit (buy: p < limit; sell: p > limit) fills the whole remainder under every
    model. At exactly the limit: cross never fills, touch fills the remainder, queue fills what
    the traded size leaves after eating the queue ahead."""
    through = p < limit if side > 0 else p > limit
    if through:
        return rem, 0.0
    if p != limit or model == CROSS:
        return 0.0, queue
    if model == TOUCH:
        return rem, queue
    eat = min(queue, size)
    return min(rem, size - eat), queue - eat


@dataclass
class Order:
    """A limit order: decided on event `dec_idx`, reaches the book at `active_ts` or later."""

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
    """Average-cost ledger of one grid."""

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
        """Book a fill; returns its fee (quote, on the notional)."""
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

    def fund(self, mark: float, rate: float) -> None:
        fee = self.pos * mark * rate
        self.funding += fee
        self.cash -= fee

    def equity(self, mark: float) -> float:
        """The grid's equity: its capital (budget) + its PnL; what its risk checks see."""
        return self.equity_on(self.capital, mark)

    def equity_on(self, initial: float, mark: float) -> float:
        """`initial` + the grid's PnL at `mark` (the account's equity for initial = account)."""
        return (initial + self.realized - self.fees - self.funding
                + self.pos * (mark - self.avg))


@dataclass
class RefResult:
    fills: list[tuple] = field(default_factory=list)      # FILL_DTYPE order
    equity: list[tuple] = field(default_factory=list)     # EQUITY_DTYPE order
    recenters: list[tuple] = field(default_factory=list)  # RECENTER_DTYPE order
    levels: list[tuple] = field(default_factory=list)     # LEVEL_DTYPE order
    daily: list[float] = field(default_factory=list)
    summary: dict[str, float] = field(default_factory=dict)
    state: RefStart | None = None                         # run_plain(..., keep=True)


@dataclass
class RefStart:
    """A grid (ledger, slots, orders, bars, kill switch, stop) and its next check time after
    a run's last event, to start another run from (`run_plain(..., start=...)`)."""

    grid: Grid
    next_check: int


def resume(s: RefStart, market: dict) -> tuple[Grid, int]:
    """A copy of `s` for a run over `market`: its results and counters start empty (drawdown
    from the equity at the last price), funding from `market`; orders were decided before."""
    g = copy.deepcopy(s.grid)
    t0 = int(market["ts"][0])
    g.res, g.rc = RefResult(), dict.fromkeys(range(10), 0)
    g.cnt = dict.fromkeys(g.cnt, 0)
    g.mcnt = {"liq": 0, "liq_ts": 0, "liq_loss": 0.0, "refused": 0}
    g.time_at_max, g.at_max_since, g.first_ts, g.fi = 0, t0, t0, 0
    g.fund_ts, g.fund_rate = [int(x) for x in market["fund_ts"]], list(market["fund_rate"])
    g.peak, g.peak_ts, g.max_dd, g.max_dur = g.reported(g.prev_p), t0, 0.0, 0
    g.next_eq = g.last_eq_ts = -1
    for o in g.orders + g.cancelling:
        if o is not None:
            o.dec_idx = -1
    return g, s.next_check


def _ns(cfg: dict) -> SimpleNamespace:
    return SimpleNamespace(**cfg)


class Grid:
    """One grid's state and its per-event rules (steps 1-3 of the event order)."""

    def __init__(self, cfg: dict, first_ts: int, mark0: float, fund_ts=(), fund_rate=(),
                 account: float | None = None) -> None:
        """`account`: the equity the reported equity (curve, drawdown, summary) starts from;
        None = the grid's capital (a portfolio's grids)."""
        self.gp, self.f = _ns(cfg["grid"]), _ns(cfg["filters"])
        self.rp, self.rk, self.ep = _ns(cfg["recenter"]), _ns(cfg["risk"]), _ns(cfg["engine"])
        gp, f, rp, ep = self.gp, self.f, self.rp, self.ep
        self.n = gp.n_buy + gp.n_sell
        self.slots: list[S.SlotRef] = [S.SlotRef(0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0)] * self.n
        self.orders: list[Order | None] = [None] * self.n      # one per slot
        self.cancelling: list[Order | None] = [None] * self.n  # cancel in flight, per slot
        eps = f.qty_step * 1e-6 if f.qty_step > 0.0 else 1e-12
        self.acc = Account(ep.capital, eps, cash=ep.capital)
        self.bars = S.BarsRef(gp.bar_ms, ring_capacity(gp.bar_ms, gp.atr_period,
                                                       rp.dom_window_ms, rp.pd_window_ms))
        self.kill_state = [-1.0, 0.0]
        self.res = RefResult()
        self.rc = dict.fromkeys(range(10), 0)
        self.cnt = dict.fromkeys(("limit", "rt", "late", "rej", "blocked", "empty", "kill"), 0)
        self.has_grid = self.stopped = False
        self.centre = self.lowest = self.highest = math.nan
        self.last_rc = 0
        self.lower, self.upper = gp.lower, gp.upper
        self.stop_code = self.stop_ts = 0
        self.at_max, self.at_max_since, self.time_at_max = False, 0, 0
        self.prev_p = self.mark = mark0  # price before this event; last price (account)
        self.first_ts = first_ts
        self.fund_ts = [int(x) for x in fund_ts]
        self.fund_rate = [float(x) for x in fund_rate]
        self.fi = 0
        self.account = ep.capital if account is None else account
        self.peak, self.peak_ts, self.max_dd, self.max_dur = self.account, first_ts, 0.0, 0
        self.next_eq = self.last_eq_ts = -1
        # the margin model (liquidation_ref); engine dicts without it: off
        ep.margin = getattr(ep, "margin", 0)
        self.liq_px = math.nan
        self.mcnt = {"liq": 0, "liq_ts": 0, "liq_loss": 0.0, "refused": 0}

    # ---- resting orders ------------------------------------------------------------------
    def resting(self, t: int) -> tuple[float, float, float]:
        """(resting buy qty, resting sell qty, resting buy notional): live, in flight, and
        cancelling until the cancel takes effect."""
        rb = rs = rbn = 0.0
        for o in self.orders + self.cancelling:
            if o is None or t >= o.cancel_ts:
                continue
            if o.side > 0:
                rb += o.rem
                rbn += o.rem * o.price
            else:
                rs += o.rem
        return rb, rs, rbn

    def allowed(self, side: int, qty: float, px: float, t: int, mark: float, spot_fee: float,
                totals=None, account=None) -> bool:
        """The grid's own risk gate (exposure/position cap, spot cash/inventory), then the
        account gate `account(side, qty, px)` when the grid trades in a portfolio."""
        rb, rs, rbn = self.resting(t) if totals is None else totals
        ok = S.order_allowed(side, qty, px, self.acc.pos, rb, rs, self.acc.equity(mark),
                             self.rk)
        if ok and self.ep.spot:
            ok = S.spot_order_allowed(side, qty, px, self.acc.cash, self.acc.pos, rbn, rs,
                                      spot_fee)
        if ok and self.ep.margin:
            ok = L.margin_ok(self, side, qty, px, t, mark)
        if ok and account is not None:
            ok = account(side, qty, px)
        return ok

    def place(self, k: int, i: int, t: int, mark: float, totals=None, account=None) -> int:
        """Slot k asks for its order: 1 placed (reaches the exchange at t + latency), 0 none
        wanted, -1 refused by the risk gate. `totals` grows with each order placed."""
        side, px, qty = S.slot_order(self.slots[k])
        if side == 0:
            return 0
        if not self.allowed(side, qty, px, t, mark, self.ep.maker_fee, totals, account):
            return -1
        self.orders[k] = Order(side, px, qty, qty, t + self.ep.latency_ms, i)
        if totals is not None:
            if side > 0:
                totals[0] += qty
                totals[2] += qty * px
            else:
                totals[1] += qty
        return 1

    def cancel_all(self, t: int) -> None:
        """Every slot order is cancelled: gone now without latency, else it can still fill
        until t + latency."""
        for k in range(self.n):
            o = self.orders[k]
            if o is not None and self.ep.latency_ms > 0:
                o.cancel_ts = t + self.ep.latency_ms
                self.cancelling[k] = o
            self.orders[k] = None

    def record_fill(self, t, side, px, qty, fee, kind, slot, gprof=0.0) -> None:
        self.res.fills.append((t, side, px, qty, fee, kind, slot, self.acc.pos, gprof))

    def market(self, t: int, side: int, qty: float, p: float, kind: int) -> None:
        """Market order at p +- slippage, taker fee."""
        px = p * (1.0 + self.ep.slippage) if side > 0 else p * (1.0 - self.ep.slippage)
        fee = self.acc.fill(side, qty, px, self.ep.taker_fee)
        self.record_fill(t, side, px, qty, fee, kind, -1)

    def flatten(self, t: int, p: float) -> None:
        if self.acc.pos != 0.0:
            self.market(t, -1 if self.acc.pos > 0.0 else 1, abs(self.acc.pos), p, FLATTEN)

    def rows(self) -> list[tuple[bool, int]]:
        """(is a slot order, slot) in row order: the slots' own orders by slot index, then
        the cancelling ones by slot."""
        return [(True, k) for k in range(self.n)] + [(False, k) for k in range(self.n)]

    def on_fills(self, i: int, t: int, p: float, size: float, account=None) -> None:
        """Step 2. a: in row order, drop orders whose cancel is effective, bring in-flight
        orders whose time came to the book (PostOnly checked against the previous price as
        both best bid and ask; the queue set). b: each order on the book gets its fill
        quantity (`fill_qty`). c: the fills are applied in price-path order (`path_order`),
        each booked at its limit price (maker fee); a full fill of a slot's order advances the
        slot and asks for its next order."""
        ep = self.ep
        if ep.margin:
            L.liq_point(self, t, p, False)
        hits = []
        for row, (is_slot, k) in enumerate(self.rows()):
            book = self.orders if is_slot else self.cancelling
            o = book[k]
            if o is None:
                continue
            if t >= o.cancel_ts:
                book[k] = None
                continue
            if not o.live:
                if i <= o.dec_idx or t < o.active_ts:
                    continue
                if ep.post_only and not S.post_only_ok(o.side, o.price, self.prev_p,
                                                       self.prev_p):
                    self.cnt["rej"] += 1
                    book[k] = None
                    continue
                o.live = True
                o.queue = ep.queue_ahead + ep.queue_mult * o.qty
            fq, o.queue = fill_qty(ep.fill_model, o.side, o.price, o.rem, o.queue, p, size)
            if fq > 0.0:
                hits.append((row, is_slot, k, o, fq))
        changed = False
        for _row, is_slot, k, o, fq in path_order(hits, p, self.prev_p):
            changed |= self.on_fill(i, t, p, is_slot, k, o, fq, account)
        if ep.margin:
            L.liq_point(self, t, p, bool(hits))
        if changed and not self.stopped:
            self.set_at_max(self.grid_at_max(), t)

    def on_fill(self, i: int, t: int, p: float, is_slot: bool, k: int, o: Order, fq: float,
                account=None) -> bool:
        """One fill of `fq` at the order's limit; returns True when a slot order completed."""
        fee = self.acc.fill(o.side, fq, o.price, self.ep.maker_fee)
        full = fq >= o.rem
        o.rem = 0.0 if full else o.rem - fq
        if not is_slot:
            if full:
                self.cancelling[k] = None
            self.cnt["late"] += 1
            self.record_fill(t, o.side, o.price, fq, fee, LATE, k)
            if self.stopped and self.rk.flatten_on_kill:
                self.flatten(t, p)
            return False
        self.cnt["limit"] += 1
        gprof = 0.0
        if full:
            self.orders[k] = None
            done, gprof = S.on_slot_fill(self.slots[k], o.price, self.gp.profit_target,
                                         self.f.tick)
            if done:
                self.cnt["rt"] += 1
                self.acc.grid += gprof
        self.record_fill(t, o.side, o.price, fq, fee, LIMIT, k, gprof)
        if full and not self.stopped and self.place(k, i, t, p, None, account) < 0:
            self.cnt["blocked"] += 1
        return full

    # ---- time at max ---------------------------------------------------------------------
    def grid_at_max(self) -> bool:
        """Every enabled slot of one home side has its opening leg filled."""
        homes = {1: [0, 0], -1: [0, 0]}
        for s in self.slots:
            if s.state == S.DISABLED:
                continue
            h = homes[1 if s.home == 1 else -1]
            h[0] += 1
            h[1] += s.state == S.CLOSE_LEG
        return any(a > 0 and b == a for a, b in homes.values())

    def set_at_max(self, m: bool, t: int) -> None:
        if m != self.at_max:
            if m:
                self.at_max_since = t
            else:
                self.time_at_max += t - self.at_max_since
            self.at_max = m

    # ---- checks --------------------------------------------------------------------------
    def stop(self, t: int, p: float, code: int) -> None:
        """A stop: cancel everything, flatten if asked, no more trading."""
        self.stopped = True
        self.stop_code, self.stop_ts = code, t
        self.cnt["kill"] += code == STOP_KILL
        self.cancel_all(t)
        if self.rk.flatten_on_kill:
            self.flatten(t, p)
        self.set_at_max(False, t)

    def own_stops(self, t: int, p: float) -> int:
        """Stop code of the grid's own stops and kill switch (the kill switch always runs:
        it tracks the daily maximum); a stop code wins over the kill switch."""
        eq = self.acc.equity(p)
        code = S.stop_reason(eq, self.ep.capital, p, self.rk)
        fire = S.kill_switch(t, eq, self.kill_state, self.rk.kill_switch_dd)
        if code == STOP_NONE and fire:
            code = STOP_KILL
        return code

    def spacing_now(self, p: float) -> float:
        gp = self.gp
        if gp.atr_mode == ATR_SIMPLE:
            atr = S.atr_simple(self.bars.bars, gp.atr_period)
        elif gp.atr_mode == ATR_WILDER:
            atr = S.atr_wilder(self.bars.bars, gp.atr_period)
        else:
            return gp.spacing
        return S.effective_spacing(gp.spacing, atr, p, gp.atr_mode, gp.atr_mult, gp.atr_floor,
                                   gp.atr_ceil)

    def rebuild(self, i: int, t: int, p: float, reason: int, account=None) -> None:
        """Cancel all, build a new grid at p (range moved by the same ratio), record it, and
        buy/sell the LONG/SHORT seed at market (taker fee) if the risk gate lets it."""
        self.cancel_all(t)
        spacing = self.spacing_now(p)
        if self.has_grid and self.centre > 0.0:
            r = p / self.centre
            self.lower, self.upper = self.lower * r, self.upper * r
        gpr = SimpleNamespace(**(vars(self.gp) | {"lower": self.lower, "upper": self.upper}))
        self.slots, seed = S.build_slots(p, spacing, gpr, self.f, self.ep.capital)
        self.has_grid, self.centre, self.last_rc = True, p, t
        on = [s for s in self.slots if s.state != S.DISABLED]
        self.lowest = min(s.lo for s in on) if on else math.nan
        self.highest = max(s.hi for s in on) if on else math.nan
        self.cnt["empty"] += not on
        self.rc[reason] += 1
        if self.ep.record:
            self.record_build(t, reason, p, spacing, on)
        if seed != 0.0:
            ss = 1 if seed > 0.0 else -1
            if self.allowed(ss, abs(seed), p, t, p, self.ep.taker_fee, None, account):
                self.market(t, ss, abs(seed), p, SEED)
            else:
                self.cnt["blocked"] += 1
        self.set_at_max(self.grid_at_max(), t)

    def record_build(self, t, reason, p, spacing, on) -> None:
        """The build's row and its levels: every lo and hi of an enabled slot, once, low to
        high; side 1 below the centre level, -1 above, 0 at it."""
        centre_level = S.round_to(p, self.f.tick)
        self.res.recenters.append((t, int(reason), p, centre_level, spacing, self.lowest,
                                   self.highest, len(on)))
        for lv in sorted({s.lo for s in on} | {s.hi for s in on}):
            side = 1 if lv < centre_level else (-1 if lv > centre_level else 0)
            self.res.levels.append((t, lv, side))

    def check(self, i: int, t: int, p: float, account=None) -> None:
        """Step 3 at a check time: the grid's stops, else recenter and slot orders."""
        if self.stopped:
            return
        code = self.own_stops(t, p)
        if code != STOP_NONE:
            self.stop(t, p, code)
        else:
            self.on_check(i, t, p, account)
        if self.ep.margin:
            L.liq_point(self, t, p, True)

    def after_event(self, t: int, p: float) -> None:
        """Step 4: funding for every funding time <= t (position after the fills, mark p),
        drawdown on equity at p, equity sampling at multiples of equity_ms."""
        acc = self.acc
        while self.fi < len(self.fund_ts) and self.fund_ts[self.fi] <= t:
            acc.fund(p, self.fund_rate[self.fi])
            self.fi += 1
        e = self.reported(p)
        if e >= self.peak:
            self.max_dur = max(self.max_dur, t - self.peak_ts)
            self.peak, self.peak_ts = e, t
        else:
            self.max_dd = max(self.max_dd, (self.peak - e) / self.peak)
        if self.ep.record and t >= self.next_eq:
            self.next_eq = (t // self.ep.equity_ms + 1) * self.ep.equity_ms
            self.res.equity.append(equity_row(t, p, e, acc))
            self.last_eq_ts = t
        self.prev_p = p

    def finish(self, t: int, p: float, n_events: int, n_days: int) -> None:
        """End of run at the grid's last event: last equity point, summary."""
        if self.ep.record and self.last_eq_ts != t:
            self.res.equity.append(equity_row(t, p, self.reported(p), self.acc))
        self.max_dur = max(self.max_dur, t - self.peak_ts)
        self.res.summary = self.summary(t, p, n_events, n_days)

    def on_check(self, i: int, t: int, p: float, account=None) -> None:
        """Step 3 after the stops: recenter (INITIAL before the first grid), then every enabled
        slot without an order asks for one (resting totals grow with each placed order)."""
        if not self.has_grid:
            reason = REASON_INITIAL
        else:
            reason = S.recenter_reason(t, p, self.centre, self.lowest, self.highest,
                                       self.last_rc, self.bars.bars, self.rp)
        if reason != REASON_NONE:
            self.rebuild(i, t, p, reason, account)
        totals = list(self.resting(t))
        for k in range(self.n):
            if (self.orders[k] is None and self.slots[k].state != S.DISABLED
                    and self.place(k, i, t, p, totals, account) < 0):
                self.cnt["blocked"] += 1

    def reported(self, p: float) -> float:
        """Equity as the run reports it: the account's (account + the grid's PnL)."""
        return self.acc.equity_on(self.account, p)

    def summary(self, t: int, p: float, n_events: int, n_days: int) -> dict[str, float]:
        acc = self.acc
        time_at_max = self.time_at_max + (t - self.at_max_since if self.at_max else 0)
        v = {
            "final_equity": self.reported(p), "realized": acc.realized,
            "unrealized": acc.pos * (p - acc.avg), "fees": acc.fees, "funding": acc.funding,
            "grid_profit": acc.grid, "position": acc.pos, "turnover": acc.turnover,
            "n_fills": len(self.res.fills), "n_limit_fills": self.cnt["limit"],
            "n_round_trips": self.cnt["rt"], "n_late_fills": self.cnt["late"],
            "n_rejected_post_only": self.cnt["rej"], "n_blocked": self.cnt["blocked"],
            "n_empty_builds": self.cnt["empty"], "n_kill_switch": self.cnt["kill"],
            "stop_code": self.stop_code, "stop_ts": self.stop_ts, "max_drawdown": self.max_dd,
            "max_dd_duration_ms": self.max_dur, "time_at_max_ms": time_at_max,
            "first_ts": self.first_ts, "last_ts": t, "n_events": n_events, "n_days": n_days,
            "peak_equity": self.peak, "n_liquidations": self.mcnt["liq"],
            "liq_ts": self.mcnt["liq_ts"], "liq_loss": self.mcnt["liq_loss"],
            "n_margin_refused": self.mcnt["refused"],
        } | {f"rc_{nm}": self.rc[j] for j, nm in enumerate(REASON_NAMES)}
        return {k: float(v[k]) for k in SUMMARY_FIELDS}


def equity_row(t: int, p: float, e: float, acc: Account) -> tuple:
    return (t, p, e, acc.pos, acc.realized, acc.pos * (p - acc.avg), acc.fees, acc.funding,
            acc.grid, acc.cash)


def run_ref(*args) -> RefResult:
    """`run_ref(market, cfg)`; also the older call `run_ref(ts, price, size, fund_ts,
    fund_rate, gp, f, rp, rk, ep)` with NamedTuples (converted with `_asdict()`)."""
    if len(args) == 2:
        return run_plain(*args)
    ts, price, size, fts, frate, *p = args
    market = {"ts": list(ts), "price": list(price), "size": list(size), "fund_ts": list(fts),
              "fund_rate": list(frate)}
    names = ("grid", "filters", "recenter", "risk", "engine")
    return run_plain(market, {nm: x._asdict() for nm, x in zip(names, p, strict=True)})


def run_plain(market: dict, cfg: dict, *, start: RefStart | None = None,
              keep: bool = False) -> RefResult:
    """Replay one run. `market`: lists `ts`, `price`, `size`, `fund_ts`, `fund_rate`;
    `cfg`: plain dicts `grid`, `filters`, `recenter`, `risk`, `engine`. `start`: begin from
    that state (`resume`) instead of flat; `keep`: the result's `state` is the state after
    the last event.

    Per event: closing equity of finished UTC days; 1. bars; 2. fills; 3. at a check time
    (multiples of check_ms): stops and kill switch, else recenter and slot orders; 4. funding
    at funding times <= t, drawdown, equity sampling (multiples of equity_ms, and the last
    event). Reported equity (curve, daily closes, drawdown, final) is the account's:
    `engine.account` (0 = `engine.capital`) + the grid's PnL; the grid's sizing and risk checks
    use `engine.capital`."""
    ts = [int(x) for x in market["ts"]]
    price = [float(x) for x in market["price"]]
    size = [float(x) for x in market["size"]]
    acct = cfg["engine"]["account"]  # 0 = the grid's capital
    if start is None:
        g = Grid(cfg, ts[0], price[0], market["fund_ts"], market["fund_rate"],
                 account=acct if acct > 0.0 else None)
        next_check = -1
    else:
        g, next_check = resume(start, market)
    ep, res = g.ep, g.res
    day0 = ts[0] // DAY_MS
    next_day = (day0 + 1) * DAY_MS
    for i, (t, p, sz) in enumerate(zip(ts, price, size, strict=True)):
        if t >= next_day:
            e_prev = g.reported(g.prev_p)
            while t >= next_day:
                res.daily.append(e_prev)
                next_day += DAY_MS
        g.mark = p
        g.bars.update(t, p)
        g.on_fills(i, t, p, sz)
        if t >= next_check:
            next_check = (t // ep.check_ms + 1) * ep.check_ms
            g.check(i, t, p)
        g.after_event(t, p)
    t, p = ts[-1], price[-1]
    n_days = t // DAY_MS - day0 + 1
    while len(res.daily) < n_days:
        res.daily.append(g.reported(p))
    g.finish(t, p, len(ts), n_days)
    if keep:
        res.state = RefStart(g, next_check)
    return res
