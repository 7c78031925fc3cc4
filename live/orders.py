"""Order execution of a grid's `TradingCore`: the risk gate over the resting orders, placing
a slot's order (write-ahead Intent, deterministic orderLinkId), refusals and dead orders,
the order sync with the exchange, cancel all, and market orders (seed, flatten). A mixin of
`TradingCore` (it uses the core's store, exchange, strategy, risk and ledger).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from gridlab.backtest.enums import ACC
from gridlab.bybit.errors import BybitError, TransientError
from gridlab.bybit.parse import Order, OrderAck
from gridlab.bybit.taxonomy import HALT_CODES as TAXONOMY_HALT_CODES
from gridlab.bybit.taxonomy import Action
from gridlab.store.live import OrderRow
from gridlab.strategy.enums import SlotState
from live.ids import LinkKey
from live.moves import OrderMoves

if TYPE_CHECKING:
    from live.account import AccountRisk

__all__ = ["DEAD", "HALT_CODES", "OrderExecution"]

log = logging.getLogger("gridlab.live")

DEAD = ("Cancelled", "Rejected", "Deactivated", "PartiallyFilledCanceled")
HALT_CODES = TAXONOMY_HALT_CODES | {110062, 110065}
"""Refusals meaning the symbol does not trade now (reduce-only contract, settlement, no trading
allowed; gridlab.bybit.taxonomy, plus 110065 as the local exchange answers for a non-trading
instrument): the grid goes to its error state at once."""


class OrderExecution(OrderMoves):
    """Placing, tracking and cancelling a grid's orders (a part of `TradingCore`); moving
    them with amend at a rebuild in live/moves.py."""

    orders: dict[str, OrderRow]
    slot_link: dict[int, str]
    account: AccountRisk | None

    def _resting(self) -> tuple[float, float, float]:
        """(buy qty, sell qty, buy notional) still resting of this runner's grid orders."""
        rb = rs = rbn = 0.0
        for row in self.orders.values():
            if not row.active or row.kind != "grid" or row.order_link_id in self._moving:
                continue  # a kept order of a rebuild counts once moved (live/moves.py)
            left = row.rem
            if row.side > 0:
                rb += left
                rbn += left * row.price
            else:
                rs += left
        return rb, rs, rbn

    def refusal(self, side: int, qty: float, price: float, p: float, *,
                market: bool = False) -> str | None:
        """Which check of the risk gate refuses this order now: None (it passes), "grid" (the
        grid's exposure cap / max position), "spot" (spot cash / inventory) or "account" (the
        account limits). The spot check charges the fee the order pays: maker for the grid's
        limit orders, taker for a market order (the seed), as the backtest's gate does. Counts
        nothing (the panel asks it why a slot has no order)."""
        rb, rs, rbn = self._resting()
        if not self.risk.order_allowed(side, qty, price, self.ledger.position, rb, rs,
                                       self.ledger.equity(p)):
            return "grid"
        if self.s.category == "spot":
            fee = self.s.taker_fee if market else self.s.maker_fee
            if not self.risk.spot_order_allowed(side, qty, price,
                                                float(self.ledger.acc[ACC.CASH]),
                                                self.ledger.position, rbn, rs, fee):
                return "spot"
        if self.account is not None and not self.account.check(self, side, qty, price):
            return "account"
        return None

    def _allowed(self, side: int, qty: float, price: float, p: float, *,
                 market: bool = False, count: bool = True) -> bool:
        """The risk gate (`refusal`); an account refusal is counted by the account."""
        why = self.refusal(side, qty, price, p, market=market)
        if why == "account" and self.account is not None and count:
            self.account.note_blocked(self)
        return why is None

    def desired(self, slot: int) -> tuple[int, float, float] | None:
        """(side, price, qty) of the order slot `slot` wants resting (None: none)."""
        return self._desired(slot)

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
        (blocked by the risk gate, or a PostOnly price that would cross the best bid/ask)."""
        if slot in self.slot_link:
            return 0
        want = self._slot_check(slot, p)
        if isinstance(want, int):
            return want
        side, price, qty = want
        return self._intent(self._slot_key(slot), "grid", side, qty, price, slot=slot)

    def _slot_check(self, slot: int, p: float, *, count: bool = True
                    ) -> tuple[int, float, float] | int:
        """(side, price, qty) of the order slot `slot` wants when the risk gate and the
        PostOnly check pass; 0 none wanted, -1 blocked (counted unless `count` is False: the
        rebuild's move, whose blocked slots fill_slots tries and counts right after)."""
        want = self._desired(slot)
        if want is None:
            return 0
        side, price, qty = want
        if not self._allowed(side, qty, price, p, count=count):
            self.stats["blocked"] += count
            return -1
        bid, ask = self.ex.best_bid_ask(p, self.last_ts)
        if not self.risk.post_only_ok(side, price, bid, ask):
            self.stats["post_only"] += count  # Bybit would cancel it: placed again at a check
            return -1
        return side, price, qty

    def _slot_key(self, slot: int) -> LinkKey:
        """The key of slot `slot`'s next order in this generation (its leg, cycle, attempt)."""
        leg = "o" if int(self.strategy.slots["state"][slot]) == SlotState.OPEN_LEG else "c"
        k = (self.gen, slot, leg, self.cycles[slot])
        return LinkKey(self.gen, slot, leg, self.cycles[slot], self.attempts.get(k, 0))

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
        if rows:
            await self._place_rows(rows)

    async def _place_rows(self, rows: list[OrderRow]) -> None:
        """Send written Intents in batch requests, then each order's outcome in order."""
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
        if o.status in DEAD and row.active:
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
        self._moving = frozenset()  # a rebuild cut short: its kept orders are strays now
        opened = await self.ex.open_orders()
        by_link = {o.order_link_id: o for o in opened}
        await self.resolve_moves(by_link)  # amends of unknown outcome first (live/moves.py)
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
            elif found.status in DEAD:
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
            if row.rem <= 0.0 or not row.active:
                return
            found = await self.ex.find_order(row.order_link_id)
            if found is not None and found.status in DEAD:
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
