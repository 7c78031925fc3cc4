"""Slow, obvious plain-Python reference of every strategy kernel.

Written from docs/strategy-kernels.md, not from the kernels: lists and dicts instead of
structured arrays, bar history as a plain list of completed bars. Float operations are the
same ones in the same order, so results agree with the kernels exactly.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

__all__ = [
    "Bar",
    "BarsRef",
    "SlotRef",
    "atr_simple",
    "atr_wilder",
    "build_slots",
    "ceil_to",
    "dominance_share",
    "effective_spacing",
    "floor_to",
    "grid_levels",
    "kill_switch",
    "on_slot_fill",
    "order_allowed",
    "post_only_ok",
    "pump_dump_ref",
    "recenter_reason",
    "round_to",
    "slot_order",
    "spot_order_allowed",
    "stop_reason",
]

BUY, SELL = 1, -1
NEUTRAL, LONG, SHORT = 0, 1, 2
OK, DROP_RANGE, DROP_COLLAPSE, DROP_NONPOS, DROP_MIN_QTY, DROP_MIN_NOTIONAL, DROP_MAX_QTY = range(7)
DISABLED, OPEN_LEG, CLOSE_LEG = 0, 1, 2
TOL = 1e-9


def floor_to(x: float, step: float) -> float:
    return x if step <= 0 else math.floor(x / step + 1e-9) * step


def ceil_to(x: float, step: float) -> float:
    return x if step <= 0 else math.ceil(x / step - 1e-9) * step


def round_to(x: float, step: float) -> float:
    return x if step <= 0 else round(x / step) * step


def grid_levels(centre, spacing, n_buy, n_sell, geometric, lower, upper, tick):
    """[(price, status)] for the n_buy + n_sell + 1 levels."""
    c = round_to(centre, tick)
    prices = []
    for i in range(n_buy, 0, -1):  # buy side, farthest first
        raw = c / math.pow(1.0 + spacing, float(i)) if geometric else c * (1.0 - spacing * i)
        prices.append(floor_to(raw, tick))
    prices.append(c)
    for i in range(1, n_sell + 1):
        raw = c * math.pow(1.0 + spacing, float(i)) if geometric else c * (1.0 + spacing * i)
        prices.append(ceil_to(raw, tick))
    out = []
    for idx, p in enumerate(prices):
        # a level must be strictly farther from the centre than its centre-side neighbour
        collapsed = (idx < n_buy and not p < prices[idx + 1]) or (
            idx > n_buy and not p > prices[idx - 1])
        if p <= 0:
            st = DROP_NONPOS
        elif (lower > 0 and p < lower) or (upper > 0 and p > upper):
            st = DROP_RANGE
        elif collapsed:
            st = DROP_COLLAPSE
        else:
            st = OK
        out.append((p, st))
    return out


@dataclass
class SlotRef:
    lo: float
    hi: float
    qty: float
    entry: float
    target: float
    home: int
    state: int
    status: int


def build_slots(centre, spacing, gp, f, capital):
    """(slots, seed_qty) from the layout rules of the spec."""
    n_buy, n = gp.n_buy, gp.n_buy + gp.n_sell
    levels = grid_levels(centre, spacing, n_buy, gp.n_sell, gp.spacing_mode == 1,
                         gp.lower, gp.upper, f.tick)
    total = capital * gp.leverage
    k_max = max(n_buy, gp.n_sell) if gp.mode == NEUTRAL else n
    both_ok = [levels[k][1] == OK and levels[k + 1][1] == OK for k in range(n)]
    base_qty = 0.0
    if gp.qty_mode == 1:
        if gp.mode == NEUTRAL:
            s_buy = s_sell = 0.0
            for k in range(n):
                if both_ok[k]:
                    if k < n_buy:
                        s_buy += levels[k][0]
                    else:
                        s_sell += levels[k][0]
            s = max(s_buy, s_sell)
        else:
            s = 0.0
            for k in range(n):
                if both_ok[k]:
                    s += levels[k][0]
        base_qty = floor_to(total / s, f.qty_step) if s > 0 else 0.0
    slots, seed = [], 0.0
    for k in range(n):
        lo, hi = levels[k][0], levels[k + 1][0]
        status = levels[k][1] if levels[k][1] != OK else levels[k + 1][1]
        home = BUY if gp.mode == LONG else SELL if gp.mode == SHORT else (
            BUY if k < n_buy else SELL)
        qty = 0.0
        if status == OK:
            qty = base_qty if gp.qty_mode == 1 else floor_to(total / k_max / lo, f.qty_step)
            if qty <= 0 or qty < f.min_qty * (1 - TOL):
                status = DROP_MIN_QTY
            elif qty * lo < f.min_notional * (1 - TOL):
                status = DROP_MIN_NOTIONAL
            elif f.max_qty > 0 and qty > f.max_qty * (1 + TOL):
                status = DROP_MAX_QTY
        slot = SlotRef(lo, hi, qty, 0.0, 0.0, home, OPEN_LEG, status)
        if status != OK:
            slot.state = DISABLED
        elif gp.mode == LONG and k >= n_buy:
            slot.state, slot.entry, slot.target = CLOSE_LEG, centre, hi
            seed += qty
        elif gp.mode == SHORT and k < n_buy:
            slot.state, slot.entry, slot.target = CLOSE_LEG, centre, lo
            seed -= qty
        slots.append(slot)
    return slots, seed


def slot_order(slot: SlotRef):
    if slot.state == OPEN_LEG:
        return slot.home, (slot.lo if slot.home == BUY else slot.hi), slot.qty
    if slot.state == CLOSE_LEG:
        return -slot.home, slot.target, slot.qty
    return 0, 0.0, 0.0


def on_slot_fill(slot: SlotRef, p, pt, tick):
    if slot.state == OPEN_LEG:
        if slot.home == BUY:
            target = ceil_to(p * (1 + pt), tick) if pt > 0 else slot.hi
            if target < p + tick:
                target = ceil_to(p + tick, tick)
        else:
            target = floor_to(p * (1 - pt), tick) if pt > 0 else slot.lo
            if target > p - tick:
                target = floor_to(p - tick, tick)
        slot.state, slot.entry, slot.target = CLOSE_LEG, p, target
        return False, 0.0
    if slot.state == CLOSE_LEG:
        profit = (p - slot.entry) * slot.qty * slot.home
        slot.state, slot.entry, slot.target = OPEN_LEG, 0.0, 0.0
        return True, profit
    return False, 0.0


# ---- bars -------------------------------------------------------------------------------

@dataclass
class Bar:
    open_time: int
    o: float
    h: float
    low: float
    c: float


class BarsRef:
    """Completed bars as a list (newest last), the forming bar separately."""

    def __init__(self, bar_ms: int, capacity: int) -> None:
        self.bar_ms, self.capacity = bar_ms, capacity
        self.bars: list[Bar] = []
        self.cur: Bar | None = None

    def update(self, ts: int, price: float) -> None:
        start = ts - ts % self.bar_ms
        if self.cur is None:
            self.cur = Bar(start, price, price, price, price)
        elif start > self.cur.open_time:
            self.bars.append(self.cur)
            self.bars = self.bars[-self.capacity:]
            self.cur = Bar(start, price, price, price, price)
        else:
            self.cur.h = max(self.cur.h, price)
            self.cur.low = min(self.cur.low, price)
            self.cur.c = price


def atr_simple(bars: list[Bar], period: int) -> float:
    if period < 1 or len(bars) < period + 1:
        return math.nan
    closes = [b.c for b in bars[-(period + 1):]]
    s = 0.0
    for i in range(1, len(closes)):
        s += abs(closes[i] - closes[i - 1])
    return s / period


def atr_wilder(bars: list[Bar], period: int) -> float:
    if period < 1 or len(bars) < period + 1:
        return math.nan
    trs = []
    for prev, b in itertools.pairwise(bars):
        trs.append(max(b.h - b.low, max(abs(b.h - prev.c), abs(b.low - prev.c))))
    atr = 0.0
    for tr in trs[: period - 1]:
        atr += tr
    atr = (atr + trs[period - 1]) / period
    for tr in trs[period:]:
        atr = (atr * (period - 1) + tr) / period
    return atr


def effective_spacing(base, atr, price, atr_mode, mult, floor, ceil):
    if atr_mode == 0 or math.isnan(atr) or price <= 0:
        return base
    return min(max(atr / price * mult, floor), ceil)


# ---- recenter ---------------------------------------------------------------------------

def _window(bars: list[Bar], since: int) -> list[Bar]:
    """Bars are chronological: walk back over the contiguous run with open_time >= since
    (newest first)."""
    window = []
    for b in reversed(bars):
        if b.open_time < since:
            break
        window.append(b)
    return window


def pump_dump_ref(bars: list[Bar], since: int) -> float:
    """Open of the oldest bar opened >= since; nan if none."""
    window = _window(bars, since)
    return window[-1].o if window else math.nan


def dominance_share(bars: list[Bar], since: int, centre: float) -> tuple[float, float, int]:
    """(share of closes above centre, share below, n bars) over the bars opened >= since."""
    window = _window(bars, since)
    if not window:
        return 0.0, 0.0, 0
    up = sum(1 for b in window if b.c > centre) / len(window)
    down = sum(1 for b in window if b.c < centre) / len(window)
    return up, down, len(window)


def recenter_reason(ts, price, centre, lowest, highest, last_ts, bars: list[Bar], rp) -> int:
    if rp.trail_up and price > highest and (rp.trail_up_limit <= 0 or price <= rp.trail_up_limit):
        return 2
    if rp.trail_down and price < lowest and (
        rp.trail_down_limit <= 0 or price >= rp.trail_down_limit
    ):
        return 3
    if rp.dev_enabled and (
        price > highest * (1 + rp.deviation) or price < lowest * (1 - rp.deviation)
    ):
        return 4
    if rp.pd_enabled:
        ref = pump_dump_ref(bars, max(ts - rp.pd_window_ms, last_ts))
        if not math.isnan(ref) and ref > 0 and abs(price / ref - 1) >= rp.pd_pct:
            return 5
    if rp.dom_enabled and ts - last_ts >= rp.dom_window_ms:
        up, down, total = dominance_share(bars, ts - rp.dom_window_ms, centre)
        if total and (up >= rp.dom_share or down >= rp.dom_share):
            return 6
    if rp.time_enabled and ts - last_ts >= rp.max_age_ms:
        return 7
    return 0


# ---- risk -------------------------------------------------------------------------------

def order_allowed(side, qty, price, position, rest_buy, rest_sell, equity, rk) -> bool:
    before = position + rest_buy if side == BUY else position - rest_sell
    worst = before + qty if side == BUY else before - qty
    if abs(worst) < abs(before):  # shrinks the worst case of its side
        return True
    if rk.max_exposure_pct > 0 and abs(worst) * price > rk.max_exposure_pct * equity:
        return False
    return not (rk.max_position > 0 and abs(worst) > rk.max_position)


def spot_order_allowed(side, qty, price, cash, inventory, rest_buy_notional, rest_sell_qty,
                       fee_rate) -> bool:
    if side == BUY:
        need = rest_buy_notional + qty * price * (1 + fee_rate)
        return need <= cash + TOL * need
    need = rest_sell_qty + qty
    return need <= inventory + TOL * need


def post_only_ok(side, price, bid, ask) -> bool:
    if side == BUY:
        return math.isnan(ask) or ask <= 0 or price < ask
    return math.isnan(bid) or bid <= 0 or price > bid


def kill_switch(ts, equity, state: list[float], threshold) -> bool:
    day = float(ts // 86_400_000)
    if state[0] != day:
        state[0], state[1] = day, equity
    else:
        state[1] = max(state[1], equity)
    if threshold <= 0 or state[1] <= 0:
        return False
    return (state[1] - equity) / state[1] >= threshold


def stop_reason(equity, initial, price, rk) -> int:
    if rk.stop_loss_equity_pct > 0 and equity <= initial * (1 - rk.stop_loss_equity_pct):
        return 2
    if rk.take_profit_equity_pct > 0 and equity >= initial * (1 + rk.take_profit_equity_pct):
        return 3
    if rk.stop_price_low > 0 and price <= rk.stop_price_low:
        return 4
    if rk.stop_price_high > 0 and price >= rk.stop_price_high:
        return 5
    return 0
