"""Order execution of a grid's `TradingCore`: sending an order (write-ahead Intent,
deterministic orderLinkId), refusals and dead orders, the order sync with the exchange,
cancel all, and market orders (seed, flatten). Which orders to place is the step's decision
(live/actions.py); what the exchange did to them is fed back to the step's order rows
(`GridStep.dropped`). A mixin of `TradingCore` (it uses the core's store, exchange, step and
ledger).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from gridlab.backtest.gate_nb import GATE_ACCOUNT, GATE_OK
from gridlab.bybit.errors import BybitError, TransientError
from gridlab.bybit.parse import Order, OrderAck
from gridlab.bybit.taxonomy import HALT_CODES as TAXONOMY_HALT_CODES
from gridlab.bybit.taxonomy import Action
from gridlab.store.live import OrderRow
from live.ids import LinkKey

if TYPE_CHECKING:
    from live.account import AccountRisk

__all__ = ["DEAD", "HALT_CODES", "OrderExecution"]

log = logging.getLogger("gridlab.live")

DEAD = ("Cancelled", "Rejected", "Deactivated", "PartiallyFilledCanceled")
HALT_CODES = TAXONOMY_HALT_CODES | {110062, 110065}
"""Refusals meaning the symbol does not trade now (reduce-only contract, settlement, no trading
allowed; gridlab.bybit.taxonomy, plus 110065 as the local exchange answers for a non-trading
instrument): the grid goes to its error state at once."""


class OrderExecution:
    """Placing, tracking and cancelling a grid's orders (a part of `TradingCore`)."""

    orders: dict[str, OrderRow]
    slot_link: dict[int, str]
    account: AccountRisk | None

    def _resting(self) -> tuple[float, float, float]:
        """(buy qty, sell qty, buy notional) resting in the step's order rows."""
        return self.step.resting()

    def refusal(self, side: int, qty: float, price: float, p: float) -> str | None:
        """Which part of the step's risk gate refuses this limit order now: None (it
        passes), "grid" (the grid's exposure cap / max position / spot balances) or
        "account" (the account limits). Counts nothing (the panel asks it why a slot has no
        order)."""
        why = self.step.gate(side, qty, price, p)
        return None if why == GATE_OK else "account" if why == GATE_ACCOUNT else "grid"

    def desired(self, slot: int) -> tuple[int, float, float] | None:
        """(side, price, qty) of the order slot `slot` wants resting (None: none)."""
        return self.step.desired(slot)

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
        """An order for every enabled slot without one (`retry_nb`: through the step's
        gate), after every stored fill; sent in batch requests (live/actions.py)."""
        await self.apply_stored(p)  # every stored fill first (it may place slots itself)
        if not self.trading:
            return
        ts = max(self.last_ts, 0)
        await self._run(self.step.retry(ts, p), ts, p)

    def _dead(self, row: OrderRow, status: str, reason: str) -> None:
        """An order of ours ended without a complete fill: the slot re-places at a check."""
        row.status, row.reason = status, reason
        k = (row.gen, row.slot, row.leg, row.cycle)
        self.attempts[k] = max(self.attempts.get(k, 0), row.attempt + 1)
        self._unlink(row)
        self.store.update_order(row.order_link_id, status, row.filled_qty, reason=reason)

    def _unlink(self, row: OrderRow) -> None:
        """`row` is no longer its slot's order on the exchange: the slot and the step's order
        row are free (the slot asks again at a check)."""
        if row.slot >= 0 and self.slot_link.get(row.slot) == row.order_link_id:
            del self.slot_link[row.slot]
            self.step.dropped(row.slot)

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
        self._match_rows()
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
                self._unlink(row)
                self.store.update_order(row.order_link_id, "Void", row.filled_qty,
                                        reason="not on the exchange")
            elif found.status in DEAD:
                out["dead"] += 1
                self.on_order(found)
            # Filled: its executions arrive (stream, poll or catch-up) and drive the slot
        unmoved = self.unmoved(by_link)  # amended orders whose amend never took effect
        if unmoved:
            out["unmoved"] = len(unmoved)
            await self._cancel_links(unmoved, "its amend did not take effect")
            for row in unmoved:
                by_link.pop(row.order_link_id, None)
            opened = [o for o in opened if o.order_link_id in by_link]
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

    def _match_rows(self) -> None:
        """The step's order rows follow our live slot orders: a row without a live order
        (a decision whose Intent a crash lost) is freed, an active order missing from the
        rows (a state written before its Intent) is put back."""
        for k in range(self.step.n):
            link = self.slot_link.get(k)
            row = self.orders.get(link) if link is not None else None
            if row is None or not row.active:
                self.step.dropped(k)
            elif not self.step.has_order(k):
                self.step.put_order(k, row.side, row.price, row.qty, row.rem)

    async def cancel_all(self, reason: str, *, by_step: bool = False) -> None:
        """Cancel every order of the symbol; our active orders become Cancelled. `by_step`:
        the step's own CANCEL_ALL (its order rows already hold what follows it), else the
        step's order rows are cleared too."""
        await self.ex.cancel_all()
        if by_step:
            self.slot_link.clear()  # the rows are the step's: unlinking frees none of them
        with self.store.batch():
            for row in self.orders.values():
                if row.active:
                    self._dead(row, "Cancelled", reason)
        self.slot_link.clear()
        if not by_step:
            self.step.clear_orders()

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
