"""TradingCore: drives `GridStrategy` / `RiskManager` on a live exchange, one market event at a
time, in the order of docs/strategy-kernels.md:

1. a market print at `ts`, price `p`: `GridStrategy.observe` (the bar ring);
2. the fills of that print (execTime <= ts), by slot: ledger, `GridStrategy.on_fill` on a
   complete fill, and the slot's next order, gated by `RiskManager.order_allowed`;
3. at the check times (the one check clock of the backtest and live: multiples of
   `backtest.check_interval_ms` on the market clock): catch up the executions over REST, then
   equity -> `RiskManager.on_equity` (stops, kill switch), `GridStrategy.recenter_reason`, a
   rebuild (cancel all, `GridStrategy.build`, seed), and an order for every enabled slot that
   has none (blocked / PostOnly-rejected).

Every decision that depends on the position (a check, a rebuild, an order, a flatten) first
applies every stored fill, in the kernel's order (`apply_stored`); a rebuild first cancels,
then fetches the executions of the cancelled orders over REST and applies them. The exchange
may be ahead of the prints the runner has processed: its fills are real position, and a grid
gated against a ledger that misses them breaches the exposure cap (tests/test_live_cap.py).

Nothing here computes a level, a counter order, a trigger or a risk decision: it only calls
the strategy classes and turns their answers into orders. Two-phase fills make restarts safe:
an execution is stored the moment it arrives (unique by execId), and applied (ledger, slot,
next order intent, state snapshot) in one later transaction; every order is written as an
Intent before it is sent, with an orderLinkId derived from (generation, slot, leg, cycle,
attempt), so a restart re-derives it instead of placing a second order.

One core trades one symbol (one grid). A runner drives one core per symbol; account-level
limits (live/account.py) gate its orders and may stop it. A grid that keeps failing (refused
orders, errors in its steps, an instrument that is not trading) goes to an error state: its
orders are cancelled, an event and an alert are written, and it places nothing until
POST /api/start; the other grids are not affected.

All methods run on the runner's single consumer task; none is safe to call concurrently.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gridlab.backtest.enums import ACC
from gridlab.bybit.errors import BybitError, TransientError
from gridlab.bybit.parse import Execution, Order, OrderAck
from gridlab.bybit.taxonomy import HALT_CODES as TAXONOMY_HALT_CODES
from gridlab.bybit.taxonomy import Action
from gridlab.errors import StrategyError
from gridlab.store.live import FillRow, LiveStore, OrderRow
from gridlab.strategy.classes import GridStrategy, RiskManager
from gridlab.strategy.enums import Reason, Side, SlotState, Stop, name_of
from live.exchange import Exchange
from live.ids import LinkKey, make_link, parse_link
from live.ledger import Ledger

if TYPE_CHECKING:
    from live.account import AccountRisk

__all__ = ["HALT_CODES", "CoreSettings", "PendingFill", "TradingCore"]

log = logging.getLogger("gridlab.live")

STATE_KEY = "runner"
BARS_KEY = "bars"
BARS_EVERY_S = 10.0
STATE_VERSION = 1
_BAR_FIELDS = ("ring", "meta", "cur")
_DEAD = ("Cancelled", "Rejected", "Deactivated", "PartiallyFilledCanceled")
HALT_CODES = TAXONOMY_HALT_CODES | {110062, 110065}
"""Refusals meaning the symbol does not trade now (reduce-only contract, settlement, no trading
allowed; gridlab.bybit.taxonomy, plus 110065 as the local exchange answers for a non-trading
instrument): the grid goes to its error state at once."""


def _wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class CoreSettings:
    """What the core needs besides the strategy objects."""

    symbol: str
    category: str
    capital: float
    prefix: str
    tag: str
    check_ms: int
    """the strategy's one check clock (`backtest.check_interval_ms`)"""
    qty_step: float
    maker_fee: float
    taker_fee: float
    fill_wait_s: float = 0.5
    leverage: float = 1.0
    state_key: str = STATE_KEY
    bars_key: str = BARS_KEY
    error_limit: int = 5
    """consecutive refused orders / failed steps that put the grid in its error state (0 = off)"""


@dataclass
class PendingFill:
    """A stored execution waiting to be applied."""

    row: FillRow
    key: LinkKey | None
    arrived: float = field(default_factory=time.monotonic)


class TradingCore:
    """The strategy-driving state machine of one runner (see the module docstring)."""

    def __init__(self, store: LiveStore, exchange: Exchange, settings: CoreSettings,
                 strategy: GridStrategy, risk: RiskManager, ledger: Ledger, *,
                 profile: dict[str, Any],
                 notify: Callable[[str, str, str, dict[str, Any] | None], None] | None = None,
                 redact: Callable[[Any], Any] | None = None) -> None:
        self.store = store
        self.ex = exchange
        self.s = settings
        self.strategy = strategy
        self.risk = risk
        self.ledger = ledger
        self.profile = profile  # {"name", "version", "source", "params"}
        self.account: AccountRisk | None = None
        self.error: str | None = None  # the error state's reason (None = healthy)
        self.errors_in_row = 0
        self.refused_in_row = 0
        self._notify = notify
        self._redact = redact or (lambda x: x)
        n = strategy.slots.shape[0]
        self.gen = 0
        self.cycles = [0] * n
        self.attempts: dict[tuple[int, int, str, int], int] = {}
        self.orders: dict[str, OrderRow] = {}
        self.slot_link: dict[int, str] = {}
        self.pending: list[PendingFill] = []
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.last_ts = -1
        self.first_ts = -1
        self.last_price = math.nan
        self.next_check = -1
        self.rest_mark = -1  # execTime up to which REST delivered every execution (-1 unknown)
        self.paused = False
        self.apply_seq = 0
        self.created_at = _wall_ms()
        self.stats = {"prints": 0, "fills_stored": 0, "fills_applied": 0, "duplicates": 0,
                      "orders_placed": 0, "orders_refused": 0, "blocked": 0, "post_only": 0,
                      "recenters": 0, "checks": 0, "errors": 0, "late_fills": 0,
                      "strays_cancelled": 0, "blocked_account": 0}
        self.last_recenter_reason = ""
        self.force_rebuild = False
        self._bars_at = 0.0
        self._cancel_retry_at = 0.0

    # ---- small helpers ---------------------------------------------------------------------

    @property
    def stopped(self) -> int:
        return int(self.risk.stopped)

    @property
    def trading(self) -> bool:
        """True while orders may be placed (not paused, no stop, no error)."""
        return not self.paused and self.risk.stopped == Stop.NONE and self.error is None

    @property
    def state_name(self) -> str:
        """running, paused, error, stopped:<stop code>."""
        if self.risk.stopped != Stop.NONE:
            return "stopped:" + name_of(Stop, self.risk.stopped).lower()
        if self.error is not None:
            return "error"
        return "paused" if self.paused else "running"

    def event(self, kind: str, message: str, severity: str = "info",
              details: dict[str, Any] | None = None, *, alert: bool = True) -> None:
        """Store an event of this grid, log it, and pass it to the alerter."""
        level = {"info": logging.INFO, "warning": logging.WARNING}.get(severity, logging.ERROR)
        message = self._redact(message)
        details = self._redact(details) if details is not None else None
        log.log(level, "%s %s: %s", self.s.symbol, kind, message)
        try:
            self.store.add_event(kind, message, severity=severity, details=details,
                                 symbol=self.s.symbol)
        except Exception:  # an event must never break trading
            log.exception("storing the event failed")
        if self._notify is not None and alert:
            self._notify(kind, message, severity, {**(details or {}), "symbol": self.s.symbol})

    def key_of(self, link: str) -> LinkKey | None:
        return parse_link(link, self.s.prefix, self.s.tag)

    def link_of(self, key: LinkKey) -> str:
        return make_link(self.s.prefix, self.s.tag, key)

    def _resting(self) -> tuple[float, float, float]:
        """(buy qty, sell qty, buy notional) still resting of this runner's grid orders."""
        rb = rs = rbn = 0.0
        for row in self.orders.values():
            if not row.active or row.kind != "grid":
                continue
            left = max(0.0, row.qty - row.filled_qty)
            if row.side > 0:
                rb += left
                rbn += left * row.price
            else:
                rs += left
        return rb, rs, rbn

    def _allowed(self, side: int, qty: float, price: float, p: float) -> bool:
        """The grid's own risk checks, then the account's (see live/account.py)."""
        rb, rs, rbn = self._resting()
        ok = self.risk.order_allowed(side, qty, price, self.ledger.position, rb, rs,
                                     self.ledger.equity(p))
        if ok and self.s.category == "spot":
            ok = self.risk.spot_order_allowed(side, qty, price, float(self.ledger.acc[ACC.CASH]),
                                              self.ledger.position, rbn, rs, self.s.maker_fee)
        if ok and self.account is not None:
            ok = self.account.allowed(self, side, qty, price)
        return ok

    # ---- persistence -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything a restart needs, JSON-able, except the bar history (`bars_state`)."""
        strategy = self.strategy.snapshot()
        for k in _BAR_FIELDS:
            strategy.pop(k)
        return {
            "version": STATE_VERSION, "profile": self.profile, "gen": self.gen,
            "cycles": self.cycles,
            "attempts": [[*k, v] for k, v in self.attempts.items() if k[0] == self.gen],
            "next_check": self.next_check, "last_ts": self.last_ts,
            "last_price": None if math.isnan(self.last_price) else self.last_price,
            "paused": self.paused, "apply_seq": self.apply_seq, "created_at": self.created_at,
            "first_ts": self.first_ts, "error": self.error, "rest_mark": self.rest_mark,
            "strategy": strategy, "risk": self.risk.snapshot(),
            "ledger": self.ledger.snapshot(), "slot_link": {str(k): v for k, v in
                                                          self.slot_link.items()},
        }

    def bars_state(self) -> dict[str, Any]:
        """The bar ring (the largest part of the state, written at most every 10 s)."""
        snap = self.strategy.snapshot()
        return {k: snap[k] for k in _BAR_FIELDS}

    def persist(self, bars: bool = False) -> None:
        """Write the state (in the caller's transaction, if any); the bar ring too when asked
        or when it was last written more than BARS_EVERY_S ago."""
        self.store.put_state(self.s.state_key, self.state())
        now = time.monotonic()
        if bars or now - self._bars_at >= BARS_EVERY_S:
            self.store.put_state(self.s.bars_key, self.bars_state())
            self._bars_at = now

    def restore(self, snap: dict[str, Any], bars: dict[str, Any] | None = None) -> bool:
        """Load a stored state (and bar ring). Returns False when the grid could not be
        restored (another profile or grid shape): the ledger, risk state and counters are kept
        and the grid is rebuilt at the next check."""
        self.gen = int(snap["gen"])
        self.attempts = {(int(a[0]), int(a[1]), str(a[2]), int(a[3])): int(a[4])
                         for a in snap.get("attempts", [])}
        if "next_check" in snap:
            self.next_check = int(snap["next_check"])
        else:  # written with two clocks: the earlier of them
            self.next_check = min(int(snap["next_risk"]), int(snap["next_grid"]))
        self.last_ts = int(snap["last_ts"])
        self.last_price = math.nan if snap["last_price"] is None else float(snap["last_price"])
        self.paused = bool(snap["paused"])
        self.apply_seq = int(snap["apply_seq"])
        self.created_at = int(snap.get("created_at", self.created_at))
        self.first_ts = int(snap.get("first_ts", -1))
        self.error = snap.get("error")
        self.rest_mark = int(snap.get("rest_mark", -1))
        self.ledger.restore(snap["ledger"])
        self.risk.restore(snap["risk"])
        same = snap.get("profile", {}).get("params") == self.profile.get("params")
        try:
            if not same:
                raise StrategyError("the profile changed", "rebuild")
            strat = dict(snap["strategy"])
            fresh = self.strategy.snapshot()
            for k in _BAR_FIELDS:
                strat[k] = (bars or {}).get(k, fresh[k])
            if len(strat["ring"]) != len(fresh["ring"]):
                strat.update({k: fresh[k] for k in _BAR_FIELDS})
            self.strategy.restore(strat)
        except StrategyError:
            self.next_check = -1  # rebuild at the next print; keep the bar history if it fits
            self.force_rebuild = True
            self.copy_bars(bars)
            return False
        self.cycles = [int(c) for c in snap["cycles"]]
        self.slot_link = {int(k): v for k, v in snap.get("slot_link", {}).items()}
        return True

    def copy_bars(self, bars: dict[str, Any] | None) -> bool:
        """Load a bar history into the strategy's ring when it has the same shape."""
        if not bars:
            return False
        st = self.strategy
        ring = np.asarray(bars["ring"], dtype=np.float64)
        if ring.shape != st.ring.shape:
            return False
        st.load_bars(ring, bars["meta"], bars["cur"])
        return True

    # ---- executions: store (phase 1) -------------------------------------------------------

    def store_execution(self, ex: Execution, source: str) -> bool:
        """Store an execution once (by execId); queue it to be applied. False if known."""
        if ex.symbol != self.s.symbol or not ex.exec_id:
            return False
        if ex.exec_id in self.seen:
            self.stats["duplicates"] += 1
            return False
        row = FillRow(exec_id=ex.exec_id, exec_time=int(ex.exec_time), symbol=ex.symbol,
                      order_link_id=ex.order_link_id, order_id=ex.order_id,
                      exec_type=ex.exec_type or "Trade", side=int(ex.side), price=float(ex.price),
                      qty=float(ex.qty), fee=float(ex.fee), fee_rate=float(ex.fee_rate),
                      is_maker=bool(ex.is_maker), source=source)
        key = self.key_of(row.order_link_id)
        kind = ("funding" if row.exec_type == "Funding" else "foreign" if key is None else
                {"s": "seed", "f": "flatten"}.get(key.leg, "grid"))
        new = self.store.insert_fill(row, kind=kind, gen=key.gen if key else -1,
                                     slot=key.slot if key else -1)
        self._remember(ex.exec_id)
        if not new:
            self.stats["duplicates"] += 1
            return False
        self.stats["fills_stored"] += 1
        self.pending.append(PendingFill(row, key))
        return True

    def _remember(self, exec_id: str) -> None:
        self.seen[exec_id] = None
        if len(self.seen) > 100_000:
            self.seen.popitem(last=False)

    def load_unapplied(self) -> int:
        """Queue the stored fills that were never applied (after a crash), except those
        already queued (the stream may have stored some since the runner started)."""
        queued = {pf.row.exec_id for pf in self.pending}
        for row in self.store.unapplied_fills(self.s.symbol):
            self._remember(row.exec_id)
            if row.exec_id not in queued:
                self.pending.append(PendingFill(row, self.key_of(row.order_link_id),
                                                arrived=0.0))
        return len(self.pending)

    # ---- executions: apply (phase 2) -------------------------------------------------------

    def _order_key(self, pf: PendingFill) -> tuple[int, int, int, str]:
        late = 1 if pf.key is None or pf.key.gen != self.gen else 0
        slot = pf.key.slot if pf.key is not None else -1
        return (pf.row.exec_time, late, slot, pf.row.exec_id)

    async def apply_pending(self, upto: int | None = None, p: float | None = None,
                            *, expired_only: bool = False) -> int:
        """Apply queued fills with execTime <= `upto` (all when None), by (time, slot).

        `expired_only`: only those that waited longer than `fill_wait_s` for their print."""
        if not self.pending:
            return 0
        now = time.monotonic()
        due = [pf for pf in self.pending
               if (upto is None or pf.row.exec_time <= upto)
               and (not expired_only or now - pf.arrived >= self.s.fill_wait_s)]
        if not due:
            return 0
        due.sort(key=self._order_key)
        ids = {id(pf) for pf in due}
        self.pending = [pf for pf in self.pending if id(pf) not in ids]
        for pf in due:
            price = p if p is not None and not math.isnan(p) else self.last_price
            if math.isnan(price):
                price = pf.row.price
            await self._apply(pf, price)
        return len(due)

    async def apply_stored(self, p: float | None) -> int:
        """Apply every stored fill, in the kernel's order, whatever its print: called before
        every decision that depends on the position (a check, a rebuild, an order, a
        flatten), so none is taken against a ledger that misses an executed fill."""
        return await self.apply_pending(None, p)

    async def _apply(self, pf: PendingFill, p: float) -> None:
        f, key = pf.row, pf.key
        kind, gen, slot, profit = "foreign", -1, -1, 0.0
        next_slot: int | None = None
        order = self.orders.get(f.order_link_id)
        if f.exec_type == "Funding":
            kind = "funding"
            self.ledger.apply_funding(f.price, f.fee_rate)
        elif key is not None:
            gen, slot = key.gen, key.slot
            self.ledger.apply_fill(f.side, f.qty, f.price, f.fee_rate)
            full = False
            if order is not None:
                order.filled_qty = round(order.filled_qty + f.qty, 12)
                full = order.filled_qty >= order.qty - self.s.qty_step / 2
                order.status = "Filled" if full else "PartiallyFilled"
            kind = {"s": "seed", "f": "flatten"}.get(key.leg, "grid")
            if kind == "grid":
                current = (key.gen == self.gen and not self.force_rebuild
                           and self.slot_link.get(slot) == f.order_link_id)
                if not current:
                    kind = "late"
                    self.stats["late_fills"] += 1
                elif full:
                    rt = self.strategy.on_fill(slot, order.price)  # type: ignore[union-attr]
                    del self.slot_link[slot]
                    if rt is not None:
                        profit = rt.profit
                        self.ledger.add_grid_profit(profit)
                        self.cycles[slot] += 1
                    next_slot = slot
        self.apply_seq += 1
        self.stats["fills_applied"] += 1
        with self.store.batch():
            self.store.mark_applied(f.exec_id, apply_seq=self.apply_seq, kind=kind, gen=gen,
                                    slot=slot, position=self.ledger.position,
                                    grid_profit=profit)
            if order is not None:
                self.store.update_order(order.order_link_id, order.status, order.filled_qty,
                                        order_id=order.order_id)
            self.persist()
        if next_slot is not None and self.trading:
            await self.place_slot(next_slot, p)
        if (kind == "late" and not self.trading and self.risk.rk.flatten_on_kill
                and self.risk.stopped != Stop.NONE and self.ledger.position != 0.0):
            await self._flatten(p)

    # ---- orders ----------------------------------------------------------------------------

    def _desired(self, slot: int) -> tuple[int, float, float] | None:
        for d in self.strategy.orders():
            if d.slot == slot:
                return d.side, d.price, d.qty
        return None

    async def place_slot(self, slot: int, p: float) -> int:
        """Place slot `slot`'s order; 1 placed, 0 none wanted / already resting, -1 not placed."""
        if slot in self.slot_link:
            return 0
        await self.apply_stored(p)  # may place this slot's order (a fill of its last one)
        if not self.trading:
            return 0
        row = self._slot_intent(slot, p)
        if not isinstance(row, OrderRow):
            return row
        try:
            ack = await self.ex.place(row.side, row.qty, row.price, row.order_link_id)
        except BybitError as exc:
            return await self._outcome(row, exc)
        return await self._outcome(row, ack)

    def _slot_intent(self, slot: int, p: float) -> OrderRow | int:
        """The write-ahead Intent of slot `slot`'s order, or 0 (none wanted / resting) or -1
        (blocked by risk, or a PostOnly price that would cross the best bid/ask)."""
        if slot in self.slot_link:
            return 0
        want = self._desired(slot)
        if want is None:
            return 0
        side, price, qty = want
        if not self._allowed(side, qty, price, p):
            self.stats["blocked"] += 1
            return -1
        bid, ask = self.ex.best_bid_ask(p, self.last_ts)
        if not self.risk.post_only_ok(side, price, bid, ask):
            self.stats["post_only"] += 1  # Bybit would cancel it: placed again at a check
            return -1
        leg = "o" if int(self.strategy.slots["state"][slot]) == SlotState.OPEN_LEG else "c"
        k = (self.gen, slot, leg, self.cycles[slot])
        key = LinkKey(self.gen, slot, leg, self.cycles[slot], self.attempts.get(k, 0))
        return self._intent(key, "grid", side, qty, price, slot=slot)

    def _intent(self, key: LinkKey, kind: str, side: int, qty: float, price: float, *,
                slot: int = -1, market: bool = False) -> OrderRow:
        """Write the order as an Intent before its request leaves (write-ahead)."""
        link = self.link_of(key)
        row = self.orders.get(link)
        if row is None or not row.active:
            row = OrderRow(link, self.s.symbol, kind, key.gen, key.slot, key.leg, key.cycle,
                           key.attempt, side, 0.0 if market else price, qty)
        row.status = "Intent"
        self.orders[link] = row
        if slot >= 0:
            self.slot_link[slot] = link
        self.store.put_order(row)  # write-ahead: on disk before the request leaves
        return row

    async def _send(self, key: LinkKey, kind: str, side: int, qty: float, price: float, *,
                    slot: int = -1, market: bool = False, reduce_only: bool = False) -> int:
        row = self._intent(key, kind, side, qty, price, slot=slot, market=market)
        try:
            ack = await self.ex.place(side, qty, price, row.order_link_id, market=market,
                                      reduce_only=reduce_only)
        except BybitError as exc:
            return await self._outcome(row, exc)
        return await self._outcome(row, ack)

    async def _outcome(self, row: OrderRow, result: OrderAck | BybitError) -> int:
        """Apply what placing `row` gave: 1 placed (or outcome unknown), -1 refused."""
        link = row.order_link_id
        if isinstance(result, TransientError):  # unknown outcome: resolved by the next sync
            self.stats["errors"] += 1
            self.event("error", f"placing {link} failed: {result}", "error")
            return 1
        if isinstance(result, BybitError):
            exc = result
            self._dead(row, "Rejected", f"{type(exc).__name__}: {exc.message}")
            self.stats["orders_refused"] += 1
            self.refused_in_row += 1
            self.event("order_refused", f"{link} refused: {exc.message}", "warning",
                       {"code": exc.code, "action": str(exc.action)})
            if exc.action is Action.STOP:
                await self.fail(f"the account refuses orders (retCode {exc.code}: "
                                f"{exc.message})")
            elif exc.code in HALT_CODES:
                await self.fail(f"{self.s.symbol} does not trade now (retCode {exc.code}: "
                                f"{exc.message})")
            elif 0 < self.s.error_limit <= self.refused_in_row:
                await self.fail(f"{self.refused_in_row} orders refused in a row "
                                f"(last: retCode {exc.code}: {exc.message})")
            return -1
        ack = result
        row.order_id = ack.order_id or row.order_id
        row.status = "New"
        self.stats["orders_placed"] += 1
        self.refused_in_row = 0
        if ack.existed:
            found = await self.ex.find_order(link)
            if found is not None:
                self.on_order(found)
                return 1
        self.store.update_order(link, row.status, row.filled_qty, order_id=row.order_id)
        return 1

    def _dead(self, row: OrderRow, status: str, reason: str) -> None:
        """An order of ours ended without a complete fill: the slot re-places at a check."""
        row.status, row.reason = status, reason
        k = (row.gen, row.slot, row.leg, row.cycle)
        self.attempts[k] = max(self.attempts.get(k, 0), row.attempt + 1)
        if self.slot_link.get(row.slot) == row.order_link_id:
            del self.slot_link[row.slot]
        self.store.update_order(row.order_link_id, status, row.filled_qty, reason=reason)

    def on_order(self, o: Order) -> None:
        """An order update (stream or lookup) for one of our orders."""
        row = self.orders.get(o.order_link_id)
        if row is None:
            return
        if o.order_id and not row.order_id:
            row.order_id = o.order_id
        if o.status in _DEAD and row.active:
            if o.reject_reason == "EC_PostOnlyWillTakeLiquidity":
                self.stats["post_only"] += 1
            self._dead(row, o.status, o.reject_reason or "cancelled")
        elif o.status in ("New", "PartiallyFilled") and row.status == "Intent":
            row.status = "New"
            self.store.update_order(row.order_link_id, "New", row.filled_qty,
                                    order_id=row.order_id)

    async def sync_orders(self) -> dict[str, int]:
        """Compare our active orders with the exchange's open orders: adopt, resolve, cancel
        strays (our tag, not wanted). Orders of other tags are left alone."""
        opened = await self.ex.open_orders()
        by_link = {o.order_link_id: o for o in opened}
        out = {"adopted": 0, "dead": 0, "void": 0, "strays": 0, "foreign": 0}
        for row in [r for r in self.orders.values() if r.active]:
            o = by_link.get(row.order_link_id)
            if o is not None:
                if row.status == "Intent":
                    out["adopted"] += 1
                self.on_order(o)
                continue
            found = await self.ex.find_order(row.order_link_id)
            if found is None:
                out["void"] += 1  # never reached the exchange: may be sent again as is
                row.status = "Void"
                if self.slot_link.get(row.slot) == row.order_link_id:
                    del self.slot_link[row.slot]
                self.store.update_order(row.order_link_id, "Void", row.filled_qty,
                                        reason="not on the exchange")
            elif found.status in _DEAD:
                out["dead"] += 1
                self.on_order(found)
            # Filled: its executions arrive (stream, poll or catch-up) and drive the slot
        wanted = {r.order_link_id for r in self.orders.values()
                  if r.active and r.gen == self.gen}
        strays = []
        for o in opened:
            if self.key_of(o.order_link_id) is None:
                out["foreign"] += 1
            elif o.order_link_id not in wanted:
                strays.append(o.order_link_id)
        if strays:  # one cancel-batch request per batch of strays
            for res in await self.ex.cancel_many(strays):
                if not res.ok:  # still resting: the next sync tries again
                    self.event("error", f"cancelling the stray {res.order_link_id} failed: "
                                        f"{res.error}", "warning")
                    continue
                out["strays"] += 1
                self.stats["strays_cancelled"] += 1
                row = self.orders.get(res.order_link_id)
                if row is not None:
                    self._dead(row, "Cancelled", "stray")
        return out

    async def cancel_all(self, reason: str) -> None:
        """Cancel every order of the symbol; our active orders become Cancelled."""
        await self.ex.cancel_all()
        with self.store.batch():
            for row in self.orders.values():
                if row.active:
                    self._dead(row, "Cancelled", reason)
        self.slot_link.clear()

    def has_active_orders(self) -> bool:
        return any(r.active for r in self.orders.values())

    async def ensure_cancelled(self) -> bool:
        """While not trading (stopped, paused, error), cancel what is still active (a cancel
        that failed before; tried again at most every 30 s). True when it cancelled."""
        if self.trading or not self.has_active_orders():
            return False
        now = time.monotonic()
        if now < self._cancel_retry_at:
            return False
        self._cancel_retry_at = now + 30.0
        await self.cancel_all(f"not trading ({self.state_name})")
        self._cancel_retry_at = 0.0
        return True

    async def fail(self, reason: str) -> None:
        """Put the grid in its error state: cancel its orders (best effort), an event and an
        alert; nothing is placed until POST /api/start. The other grids are not affected."""
        first = self.error is None
        self.error = reason
        try:
            await self.cancel_all(f"error: {reason}"[:200])
        except Exception as exc:  # the REST poll retries (ensure_cancelled)
            log.warning("%s: cancelling after the error failed: %s", self.s.symbol, exc)
        if first:
            self.event("grid_error", f"{self.s.symbol} grid stopped: {reason}. Its orders are "
                                     "cancelled; the other grids keep trading. Fix the cause, "
                                     f"then POST /api/start?symbol={self.s.symbol}", "error",
                       {"reason": reason})
        self.persist()

    def note_error(self) -> bool:
        """A step of this grid failed; True when that makes `error_limit` failures in a row."""
        self.errors_in_row += 1
        return 0 < self.s.error_limit <= self.errors_in_row

    async def _market(self, leg: str, side: int, qty: float, p: float, *,
                      reduce_only: bool = False) -> None:
        """A market order (seed or flatten); waits for its executions and applies them."""
        n = sum(1 for r in self.orders.values() if r.gen == self.gen and r.leg == leg)
        key = LinkKey(self.gen, -1, leg, 0, n)
        kind = "seed" if leg == "s" else "flatten"
        if await self._send(key, kind, side, qty, p, market=True, reduce_only=reduce_only) < 0:
            return
        row = self.orders[self.link_of(key)]
        for _ in range(50):
            await self.catch_up()
            await self.apply_pending(None, p)
            if row.filled_qty >= row.qty - self.s.qty_step / 2 or not row.active:
                return
            found = await self.ex.find_order(row.order_link_id)
            if found is not None and found.status in _DEAD:
                self.on_order(found)
                return
            await asyncio.sleep(0.1)
        self.event("error", f"{kind} order {row.order_link_id} not filled after 5 s", "error")

    async def _flatten(self, p: float) -> None:
        await self.catch_up()
        await self.apply_stored(p)
        pos = self.ledger.position
        if pos != 0.0:
            await self._market("f", -1 if pos > 0 else 1, abs(pos), p, reduce_only=True)

    # ---- market events ---------------------------------------------------------------------

    async def on_print(self, ts: int, price: float) -> None:
        """One market print, per the event order (see the module docstring)."""
        self.stats["prints"] += 1
        self.strategy.observe(ts, price)
        if self.first_ts < 0:
            self.first_ts = int(ts)
        self.last_ts, self.last_price = max(self.last_ts, int(ts)), float(price)
        await self.apply_pending(ts, price)
        if self.account is not None:
            await self.account.on_print(ts)  # the account check precedes the grid's own
        if ts < self.next_check:
            return
        await self.catch_up()
        await self.apply_pending(ts, price)
        self.next_check = (ts // self.s.check_ms + 1) * self.s.check_ms
        await self.check(ts, price)
        self.persist()

    def exec_cursor(self) -> int:
        """Where the next executions query starts: 1 s before the REST watermark (the newest
        execution a REST query returned: every older one was in that answer too), else 1 s
        before the newest stored execution, else a minute before the runner's first print or
        creation (market clock: a paper exchange replaying old data reports old execution
        times). Executions the stream delivers do not move the watermark: a fill the stream
        missed is older than the ones it delivered after a gap, and must still be fetched."""
        if self.rest_mark >= 0:
            return self.rest_mark - 1000
        last = self.store.last_exec_time(self.s.symbol)
        if last is not None:
            return last - 1000
        first = self.created_at if self.first_ts < 0 else min(self.created_at, self.first_ts)
        return first - 60_000

    async def catch_up(self, start_ms: int | None = None) -> int:
        """Fetch executions over REST since the newest stored one; store the unknown ones."""
        if start_ms is None:
            start_ms = self.exec_cursor()
        n = 0
        found = await self.ex.executions(start_ms)
        for ex in found:
            n += self.store_execution(ex, "rest")
        self.note_rest(found)
        return n

    def note_rest(self, found: list[Execution]) -> None:
        """Every execution of a REST answer is stored: move the watermark to the newest."""
        mine = [int(e.exec_time) for e in found if e.symbol == self.s.symbol]
        if mine:
            self.rest_mark = max(self.rest_mark, max(mine))

    async def check(self, ts: int, p: float) -> None:
        """Step 3: stops and kill switch, then recenter, then orders for empty slots."""
        self.stats["checks"] += 1
        await self.apply_stored(p)
        if self.risk.stopped == Stop.NONE:
            code = self.risk.on_equity(ts, self.ledger.equity(p), p)
            if code != Stop.NONE:
                await self.stop_trading(code, ts, p)
                return
        if not self.trading:
            return
        if not self.strategy.built or self.force_rebuild:
            reason = Reason.MANUAL if self.force_rebuild else Reason.INITIAL
        else:
            reason = self.strategy.recenter_reason(ts, p)
        if reason != Reason.NONE:
            await self.rebuild(ts, p, reason)
        await self.sync_orders()
        await self.fill_slots(p)

    async def fill_slots(self, p: float) -> None:
        """An order for every enabled slot without one (slot order), sent in batch requests:
        the Intents are written first, then the batch, then each order's outcome in order."""
        await self.apply_stored(p)  # every stored fill first (it may place slots itself)
        if not self.trading:
            return
        states = self.strategy.slots["state"]
        rows: list[OrderRow] = []
        with self.store.batch():
            for k in range(states.shape[0]):
                if int(states[k]) != SlotState.DISABLED and k not in self.slot_link:
                    row = self._slot_intent(k, p)
                    if isinstance(row, OrderRow):
                        rows.append(row)
        if not rows:
            return
        try:
            results = await self.ex.place_many([(r.side, r.qty, r.price, r.order_link_id)
                                                for r in rows])
        except BybitError as exc:  # the whole request failed: every order gets that outcome
            results = [exc] * len(rows)
        for row, res in zip(rows, results, strict=True):
            if not row.active:  # cancelled meanwhile (an earlier outcome stopped the grid)
                continue
            await self._outcome(row, res)
            if not self.trading:
                return

    async def rebuild(self, ts: int, p: float, reason: int) -> None:
        """Cancel all, build a new grid generation at `p`, buy/sell the seed."""
        await self.cancel_all(f"rebuild: {name_of(Reason, reason)}")
        # every fill of the cancelled orders happened before the cancel: fetch and apply them,
        # so the new grid is gated against the whole position
        await self.catch_up()
        await self.apply_stored(p)
        self.force_rebuild = False
        self.gen += 1
        # forget dead orders older than the previous generation (a restart would not reload
        # them either): the resting-order sums of the risk checks walk this dict
        self.orders = {k: r for k, r in self.orders.items()
                       if r.active or r.gen >= self.gen - 1}
        seed = self.strategy.build(ts, p)
        self.cycles = [0] * self.strategy.slots.shape[0]
        lo, hi = self.strategy.bounds()
        homes = self.strategy.slots["home"][self.strategy.slots["state"] != SlotState.DISABLED]
        rname = name_of(Reason, reason)
        self.last_recenter_reason = rname
        if reason not in (Reason.INITIAL,):
            self.stats["recenters"] += 1
        with self.store.batch():
            self.store.add_grid(gen=self.gen, symbol=self.s.symbol, ts=int(ts), price=float(p),
                                lowest=None if math.isnan(lo) else lo,
                                highest=None if math.isnan(hi) else hi,
                                spacing=float(self.strategy.spacing),
                                n_buy=int((homes == Side.BUY).sum()),
                                n_sell=int((homes == Side.SELL).sum()), reason=rname,
                                profile=str(self.profile.get("name")),
                                profile_version=self.profile.get("version"), seed_qty=seed)
            self.persist()
        kind = "grid_built" if reason == Reason.INITIAL else "recenter"
        self.event(kind, f"grid {self.gen} built at {p:g} ({rname}): "
                         f"{self.strategy.active_slots()} slots, range {lo:g}-{hi:g}",
                   details={"gen": self.gen, "reason": rname, "price": p})
        if math.isnan(lo):
            self.event("empty_grid", "the grid has no valid level (filters / range)", "warning")
        if seed != 0.0:
            side = 1 if seed > 0 else -1
            if self._allowed(side, abs(seed), p, p):
                await self._market("s", side, abs(seed), p)
            else:
                self.stats["blocked"] += 1

    async def stop_trading(self, code: int, ts: int, p: float, *, account: bool = False
                           ) -> None:
        """A stop fired: cancel everything, optionally flatten, stop until restarted.

        `account`: the account's kill switch stopped every grid (one alert for the account,
        none per grid)."""
        await self.cancel_all(f"{'account ' if account else ''}stop: {name_of(Stop, code)}")
        mark = p if not math.isnan(p) else self.ledger.avg_price
        eq = self.ledger.equity(mark)
        sev = "critical" if code == Stop.KILL_SWITCH else "error"
        who = "the account kill switch" if account else name_of(Stop, code)
        self.event("kill_switch" if code == Stop.KILL_SWITCH else "risk_stop",
                   f"{who} at price {p:g}, equity {eq:.2f}: all orders cancelled, trading "
                   "stopped until POST /api/start", sev,
                   {"code": code, "equity": eq, "price": p, "ts": ts, "account": account},
                   alert=not account)
        if self.risk.rk.flatten_on_kill and not math.isnan(p):
            await self._flatten(p)
        self.persist()

    # ---- manual control --------------------------------------------------------------------

    async def pause(self) -> None:
        """Stop trading (cancel our orders); the grid state is kept."""
        self.paused = True
        await self.cancel_all("paused")
        self.persist()

    async def resume(self) -> None:
        """Clear a pause, a stop or the error state and rebuild the grid at the last price."""
        self.paused = False
        self.error = None
        self.errors_in_row = self.refused_in_row = 0
        self.risk.reset()
        if not math.isnan(self.last_price):
            ts = max(self.last_ts, 0)
            await self.rebuild(ts, self.last_price, Reason.MANUAL)
            await self.fill_slots(self.last_price)
        else:
            self.next_check = -1
        self.persist()
