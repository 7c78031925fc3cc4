"""TradingCore: drives `GridStrategy` / `RiskManager` on a live exchange, one market event at a
time, in the order of docs/strategy-kernels.md:

1. a market print at `ts`, price `p`: `GridStrategy.observe` (the bar ring);
2. the fills of that print (execTime <= ts), by slot: ledger, `GridStrategy.on_fill` on a
   complete fill, and the slot's next order, gated by `RiskManager.order_allowed`;
3. at the check times (the one check clock of the backtest and live: multiples of
   `backtest.check_interval_ms` on the market clock): catch up the executions over REST, then
   equity -> `RiskManager.on_equity` (stops, kill switch), `GridStrategy.recenter_reason`, a
   rebuild (detach the resting orders, `GridStrategy.build`, seed, move them with amend:
   live/moves.py), and an order for every enabled slot that has none (blocked / PostOnly-
   rejected).

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

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gridlab.errors import StrategyError
from gridlab.store.live import LiveStore, OrderRow
from gridlab.strategy.classes import GridStrategy, RiskManager
from gridlab.strategy.enums import Reason, Side, SlotState, Stop, name_of
from live.exchange import Exchange
from live.fills import FillApplication, PendingFill
from live.ids import LinkKey, make_link
from live.ledger import Ledger
from live.orders import HALT_CODES, OrderExecution

if TYPE_CHECKING:
    from live.account import AccountRisk

__all__ = ["HALT_CODES", "CoreSettings", "PendingFill", "TradingCore"]

log = logging.getLogger("gridlab.live")

STATE_KEY = "runner"
BARS_KEY = "bars"
BARS_EVERY_S = 10.0
STATE_VERSION = 1
_BAR_FIELDS = ("ring", "meta", "cur")


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



class TradingCore(FillApplication, OrderExecution):
    """The strategy-driving state machine of one grid (see the module docstring): fills in
    live/fills.py, orders in live/orders.py, the events and the checks here."""

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

    def key_of(self, link: str, price: float | None = None) -> LinkKey | None:
        """What one of our orderLinkIds stands for (None: not ours); an order moved by amend
        by its link aliases, a fill of it by the fill's `price` (live/moves.py)."""
        return self.link_key(link, price)

    def link_of(self, key: LinkKey) -> str:
        return make_link(self.s.prefix, self.s.tag, key)

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
            "market": {"filters": list(self.strategy.filters), "maker_fee": self.s.maker_fee,
                       "taker_fee": self.s.taker_fee, "category": self.s.category},
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

    # ---- errors ----------------------------------------------------------------------------

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

    async def rebuild(self, ts: int, p: float, reason: int) -> None:
        """Build a new grid generation at `p`, buy/sell the seed, move the resting orders to
        it with amend where the rule allows, cancel and create the rest (live/moves.py)."""
        await self.detach_grid(f"rebuild: {name_of(Reason, reason)}")
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
            if self._allowed(side, abs(seed), p, p, market=True):
                await self._market("s", side, abs(seed), p)
            else:
                self.stats["blocked"] += 1
        await self.move_orders(p)

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
