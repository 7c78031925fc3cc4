"""TradingCore: runs the one step kernel of a grid on a live exchange, one market event at a
time, in the order of docs/strategy-kernels.md ("The per-event step"):

1. a market print at `ts`, price `p`: the bar ring (`GridStep.observe`);
2. the fills of that print (execTime <= ts), in the kernel's order: each through
   `on_fill_nb` (ledger, slot, the slot's next order through the risk gate);
3. at the check times (the one check clock of the backtest and live: multiples of
   `backtest.check_interval_ms` on the market clock): catch up the executions over REST, the
   order sync, then `on_check_nb` (stops and kill switch, recenter: cancel all, build, seed;
   an order for every enabled slot that has none).

The step lives in live/step.py (`GridStep`: the `GRID_STATE_DTYPE` record and the grid's
arrays); every call returns actions, carried out against the exchange by live/actions.py.
Nothing here computes a level, a counter order, a trigger or a risk decision.

Every decision that depends on the position (a check, a rebuild, an order, a flatten) first
applies every stored fill, in the kernel's order (`apply_stored`); after a cancel-all the
executions of the cancelled orders are fetched over REST and applied (late fills). The
exchange may be ahead of the prints the runner has processed: its fills are real position,
and a grid gated against a ledger that misses them breaches the exposure cap
(tests/test_live_cap.py).

Two-phase fills make restarts safe: an execution is stored the moment it arrives (unique by
execId), and applied (the step, next order intent, state snapshot) in one later transaction;
every order is written as an Intent before it is sent, with an orderLinkId derived from
(generation, slot, leg, cycle, attempt), so a restart re-derives it instead of placing a
second order. The step's state (record, slots, order rows, kill switch) is persisted with
the runner state and restored on a restart; it is also logged (`log_state`) when a session
starts and at each equity snapshot, so that a replay of the tape (the live audit) can start
from the position and orders the runner held.

One core trades one symbol (one grid). A runner drives one core per symbol; the account
(live/account.py) holds every grid's state in its arrays so that the step's gate sees the
account limits, and may stop every grid. A grid that keeps failing (refused orders, errors in
its steps, an instrument that is not trading) goes to an error state: its orders are
cancelled, an event and an alert are written, and it places nothing until POST /api/start;
the other grids are not affected.

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

from gridlab.backtest.state_nb import Act
from gridlab.errors import StrategyError
from gridlab.store.live import LiveStore, OrderRow
from gridlab.strategy.enums import Reason, Stop, name_of
from live.actions import ActionExecution
from live.exchange import Exchange
from live.fills import FillApplication, PendingFill
from live.ids import LinkKey, make_link, parse_link
from live.ledger import Ledger
from live.orders import HALT_CODES, OrderExecution
from live.step import GridStep, RiskView

if TYPE_CHECKING:
    from live.account import AccountRisk

__all__ = ["HALT_CODES", "CoreSettings", "PendingFill", "TradingCore"]

log = logging.getLogger("gridlab.live")

STATE_KEY = "runner"
BARS_KEY = "bars"
BARS_EVERY_S = 10.0
STATE_VERSION = 2
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
    margin: str = "off"
    """`backtest.margin`: the step's gate refuses what the margin cannot carry, as in a backtest"""
    tiers: Any = None
    """the risk-limit tiers with margin on (`backtest.params.margin_tiers`)"""
    state_key: str = STATE_KEY
    bars_key: str = BARS_KEY
    error_limit: int = 5
    """consecutive refused orders / failed steps that put the grid in its error state (0 = off)"""
    amend: bool = True
    """a recenter moves the resting orders by amend instead of cancel-all + place"""



class TradingCore(FillApplication, OrderExecution, ActionExecution):
    """The step-driving state machine of one grid (see the module docstring): fills in
    live/fills.py, orders in live/orders.py, actions in live/actions.py, the events and the
    checks here."""

    def __init__(self, store: LiveStore, exchange: Exchange, settings: CoreSettings,
                 step: GridStep, ledger: Ledger, *, profile: dict[str, Any],
                 notify: Callable[[str, str, str, dict[str, Any] | None], None] | None = None,
                 redact: Callable[[Any], Any] | None = None) -> None:
        self.store = store
        self.ex = exchange
        self.s = settings
        self.step = step
        self.ledger = ledger
        self.share_ledger()
        self.profile = profile  # {"name", "version", "source", "params"}
        self.account: AccountRisk | None = None
        self.error: str | None = None  # the error state's reason (None = healthy)
        self.errors_in_row = 0
        self.refused_in_row = 0
        self._notify = notify
        self._redact = redact or (lambda x: x)
        self.gen = 0
        self.cycles = [0] * step.n
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
                      "strays_cancelled": 0, "blocked_account": 0, "orders_amended": 0,
                      "amends_refused": 0}
        self.moves: dict[str, list[Any]] = {}  # orderLinkId -> its moves (live/moves.py)
        self._watch: dict[str, float] = {}
        self.last_recenter_reason = ""
        self.force_rebuild = False
        self._account_stop = False
        self._seen_blocked = (0, 0)  # the step's n_blocked, n_acc_blocked counted so far
        self._bars_at = 0.0
        self._cancel_retry_at = 0.0

    # ---- small helpers ---------------------------------------------------------------------

    def share_ledger(self) -> None:
        """The ledger books into the step state's ledger vector (one array, its values kept)."""
        acc = self.step.ledger_acc()
        if self.ledger.acc is not acc:
            acc[:] = self.ledger.acc
            self.ledger.acc = acc

    @property
    def strategy(self) -> GridStep:
        """The grid's step state (levels, slots, bounds for display)."""
        return self.step

    @property
    def risk(self) -> RiskView:
        """The risk part of the step state (limits, kill switch, stop code)."""
        return self.step.risk

    @property
    def stopped(self) -> int:
        return self.step.stop_code

    @property
    def trading(self) -> bool:
        """True while orders may be placed (not paused, no stop, no error)."""
        return not self.paused and self.step.stop_code == Stop.NONE and self.error is None

    @property
    def state_name(self) -> str:
        """running, paused, error, stopped:<stop code>."""
        if self.step.stop_code != Stop.NONE:
            return "stopped:" + name_of(Stop, self.step.stop_code).lower()
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

    # ---- persistence -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything a restart needs, JSON-able, except the bar history (`bars_state`)."""
        return {
            "version": STATE_VERSION, "profile": self.profile, "gen": self.gen,
            "cycles": self.cycles,
            "attempts": [[*k, v] for k, v in self.attempts.items() if k[0] == self.gen],
            "next_check": self.next_check, "last_ts": self.last_ts,
            "last_price": None if math.isnan(self.last_price) else self.last_price,
            "paused": self.paused, "apply_seq": self.apply_seq, "created_at": self.created_at,
            "first_ts": self.first_ts, "error": self.error, "rest_mark": self.rest_mark,
            "step": self.step.snapshot(),
            "market": {"filters": list(self.step.filters), "maker_fee": self.s.maker_fee,
                       "taker_fee": self.s.taker_fee, "category": self.s.category},
            "ledger": self.ledger.snapshot(), "slot_link": {str(k): v for k, v in
                                                          self.slot_link.items()},
        }

    def bars_state(self) -> dict[str, Any]:
        """The bar ring (the largest part of the state, written at most every 10 s)."""
        return {k: getattr(self.step, k).tolist() for k in _BAR_FIELDS}

    def persist(self, bars: bool = False) -> None:
        """Write the state (in the caller's transaction, if any); the bar ring too when asked
        or when it was last written more than BARS_EVERY_S ago."""
        self.store.put_state(self.s.state_key, self.state())
        now = time.monotonic()
        if bars or now - self._bars_at >= BARS_EVERY_S:
            self.store.put_state(self.s.bars_key, self.bars_state())
            self._bars_at = now

    def log_state(self, kind: str) -> None:
        """Log the state and the bar ring as a start of replays (`live_state_log`): `start`
        when a session begins (after restore and reconciliation, before its first print),
        `snapshot` at the equity snapshots. The live audit starts its replay from it."""
        self.store.log_state(self.s.state_key, self.s.symbol, self.last_ts, kind, self.state(),
                             self.bars_state())

    def restore(self, snap: dict[str, Any], bars: dict[str, Any] | None = None) -> bool:
        """Load a stored state (and bar ring). Returns False when the grid could not be
        restored (another profile or grid shape, a state of an older gridlab): the ledger,
        the kill-switch state, the stop and the counters are kept and the grid is rebuilt at
        the next check."""
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
        same = snap.get("profile", {}).get("params") == self.profile.get("params")
        try:
            if not same:
                raise StrategyError("the profile changed", "rebuild")
            if "step" not in snap:
                raise StrategyError("a state of an older gridlab", "rebuild")
            self.step.restore(snap["step"])
        except StrategyError:
            old = snap.get("risk") or {}  # the kill switch and the stop carry over
            if "kill_state" in old:
                self.step.g.kstate[:] = np.asarray(old["kill_state"], dtype=np.float64)
                self.step.risk.stopped = int(old.get("stopped", Stop.NONE))
            elif "step" in snap:
                st = snap["step"]["state"]
                self.step.g.kstate[:] = np.asarray(snap["step"]["kstate"], dtype=np.float64)
                if st["stopped"][0]:
                    self.step.risk.stopped = int(st["stop_code"][0])
            self.ledger.restore(snap["ledger"])
            self.next_check = -1  # rebuild at the next print; keep the bar history if it fits
            self.force_rebuild = True
            self.copy_bars(bars)
            return False
        self.ledger.restore(snap["ledger"])
        self.copy_bars(bars)
        self._seen_blocked = (int(self.step.st["n_blocked"]), int(self.step.st["n_acc_blocked"]))
        self.step.st["mark"] = 0.0 if math.isnan(self.last_price) else self.last_price
        self.cycles = [int(c) for c in snap["cycles"]]
        self.slot_link = {int(k): v for k, v in snap.get("slot_link", {}).items()}
        return True

    def copy_bars(self, bars: dict[str, Any] | None) -> bool:
        """Load a bar history into the step's ring when it has the same shape."""
        if not bars:
            return False
        return self.step.load_bars(bars["ring"], bars["meta"], bars["cur"])

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
        self.step.observe(ts, price)
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
        """Step 3: the order sync, then the step's check (`on_check_nb`), its actions."""
        self.stats["checks"] += 1
        await self.apply_stored(p)
        if not self.trading:
            return
        await self.sync_orders()
        if self.force_rebuild:
            await self.rebuild(ts, p, Reason.MANUAL, retry=False)
        if self.trading:
            acts = self.step.check(ts, p)
            await self._run(acts, ts, p)
            if len(acts) and int(acts[-1]["kind"]) == Act.SEED and self.trading:
                await self._run(self.step.retry(ts, p), ts, p)  # gated after the seed

    async def _run(self, acts: np.ndarray, ts: int, p: float, *,
                   reason: str | None = None) -> None:
        """Carry out a step's actions (and count the step's refusals)."""
        await self.execute(acts, ts, p, reason=reason)

    def count_refusals(self) -> None:
        """Add the orders the step's gate refused since the last call to the counters
        (`blocked`; the account's when the account limits refused them)."""
        st = self.step.st
        nb, na = int(st["n_blocked"]), int(st["n_acc_blocked"])
        seen_b, seen_a = self._seen_blocked
        if nb > seen_b:
            self.stats["blocked"] += nb - seen_b
        if na > seen_a and self.account is not None:
            self.account.note_blocked(self, na - seen_a)
        self._seen_blocked = (nb, na)

    async def rebuild(self, ts: int, p: float, reason: int, *, retry: bool = True) -> None:
        """A rebuild outside the check clock (`rebuild_nb`: cancel all, build at `p`, seed),
        then (`retry`) an order for every enabled slot."""
        await self.apply_stored(p)
        await self._run(self.step.rebuild(ts, p, reason), ts, p, reason=name_of(Reason, reason))
        if retry:
            await self.fill_slots(p)

    async def stop_trading(self, code: int, ts: int, p: float, *, account: bool = False
                           ) -> None:
        """Stop trading (`stop_grid_nb`): cancel everything, optionally flatten, stopped
        until restarted.

        `account`: the account's kill switch stopped every grid (one alert for the account,
        none per grid)."""
        await self.apply_stored(p)
        mark = p if not math.isnan(p) else self.ledger.avg_price
        self._account_stop = account
        try:
            await self._run(self.step.stop(ts, mark, code), ts, mark)
        finally:
            self._account_stop = False
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
        self.step.reset_stop()
        if not math.isnan(self.last_price):
            await self.rebuild(max(self.last_ts, 0), self.last_price, Reason.MANUAL)
        else:
            self.next_check = -1
        self.persist()
