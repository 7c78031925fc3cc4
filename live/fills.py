"""Fill application of a grid's `TradingCore`, in two phases (restart-safe):

1. store: an execution is stored the moment it arrives, once (unique by execId), and queued;
2. apply: in one later transaction, in the kernel's order (time, the price path of one print,
   slot rows then late ones): the step's `on_fill_nb` (ledger, slot, the slot's next order
   through the gate; the remainder tracked by the kernel), a state snapshot; then the step's
   actions (the next order) are carried out.

Fills are applied at their print (`apply_pending(ts)`), and every stored fill before each
decision that depends on the position (`apply_stored`). A mixin of `TradingCore` (it uses
the core's store, exchange, step, ledger and order state).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from gridlab.bybit.parse import Execution, is_liquidation
from gridlab.store.live import FillRow
from gridlab.strategy.enums import Stop
from gridlab.strategy.grid_nb import fill_remainder_nb
from live.ids import LinkKey

__all__ = ["FillApplication", "PendingFill"]


@dataclass
class PendingFill:
    """A stored execution waiting to be applied."""

    row: FillRow
    key: LinkKey | None
    arrived: float = field(default_factory=time.monotonic)


class FillApplication:
    """Storing and applying executions (a part of `TradingCore`)."""

    pending: list[PendingFill]
    seen: Any
    stats: dict[str, int]

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
        key = self.fill_key(row.order_link_id, row.price)
        self.note_move_fill(row.order_link_id, key, row.qty)
        kind = ("funding" if row.exec_type == "Funding" else
                "liquidation" if is_liquidation(row.exec_type) else "foreign" if key is None
                else {"s": "seed", "f": "flatten"}.get(key.leg, "grid"))
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
                key = self.fill_key(row.order_link_id, row.price)
                self.pending.append(PendingFill(row, key, arrived=0.0))
        return len(self.pending)

    def _order_key(self, pf: PendingFill) -> tuple[int, int, float, int, int, str]:
        """The kernel's order: by time, a liquidation after the fills of its print (the
        kernel liquidates after the book), then the price path of one print (a buy fills at
        a falling price: the highest bid first; a sell the lowest ask first), then the order
        rows (the current grid's slots, then the late ones)."""
        late = 1 if pf.key is None or pf.key.gen != self.gen else 0
        slot = pf.key.slot if pf.key is not None else -1
        liq = 1 if is_liquidation(pf.row.exec_type) else 0
        return (pf.row.exec_time, liq, -pf.row.side * pf.row.price, late, slot,
                pf.row.exec_id)

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
        """Apply one stored execution: a fill of the current grid's slot order through the
        step (`on_fill_nb`: ledger, slot, next order), a fill of a cancelled order through
        the step's late row, a market order's (seed, flatten) and funding into the ledger;
        then the record and a snapshot in one transaction, then the step's actions."""
        f, key = pf.row, pf.key
        kind, gen, slot, profit = "foreign", -1, -1, 0.0
        acts = None
        order = self.orders.get(f.order_link_id)
        liquidated = False
        if f.exec_type == "Funding":
            kind = "funding"
            self.step.funding(f.price, f.fee_rate)
        elif is_liquidation(f.exec_type):  # the exchange took the position over
            kind, liquidated = "liquidation", True
            self._liquidation_event(f)
            self.step.market_fill(f.side, f.qty, f.price, f.fee_rate)
        elif key is not None:
            gen, slot = key.gen, key.slot
            kind = {"s": "seed", "f": "flatten"}.get(key.leg, "grid")
            current = (kind == "grid" and key.gen == self.gen and not self.force_rebuild
                       and self.slot_link.get(slot) == f.order_link_id
                       and self.step.has_order(slot))
            if current:
                n_rt = int(self.step.st["n_rt"])
                acts = self.step.fill(slot, f.qty, f.exec_time, p, f.fee_rate)
                full = bool(self.step.st["last_full"])
                rem = 0.0 if full else float(self.step.g.orders[slot]["rem"])
                if full:
                    del self.slot_link[slot]
                    profit = float(self.step.st["last_gprof"])
                    if int(self.step.st["n_rt"]) > n_rt:
                        self.cycles[slot] += 1
            else:
                if kind == "grid":
                    kind = "late"
                    self.stats["late_fills"] += 1
                    acts = self.step.late_fill(f.side, f.qty, f.price, f.exec_time, p,
                                               f.fee_rate)
                else:
                    self.step.market_fill(f.side, f.qty, f.price, f.fee_rate)
                full, rem = False, 0.0
                if order is not None:
                    full, rem = fill_remainder_nb(order.rem, f.qty)
            if order is not None:
                order.filled_qty = round(order.filled_qty + f.qty, 12)
                order.rem = round(float(rem), 12)
                order.status = "Filled" if full else "PartiallyFilled"
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
        if acts is not None and len(acts):
            await self._run(acts, f.exec_time, p)
        elif acts is not None:
            self.count_refusals()
        if liquidated:  # the step stops the grid as the backtest's liquidation does
            await self.stop_trading(Stop.LIQUIDATED, f.exec_time, f.price)

    def _liquidation_event(self, f: FillRow) -> None:
        """The `liquidated` event, with the margin lost (the ledger's loss on the take-over)."""
        pos, avg = self.ledger.position, self.ledger.avg_price
        loss = abs(pos) * (avg - f.price) * (1 if pos > 0 else -1) + f.fee
        self.event("liquidated", f"{self.s.symbol} position {pos:g} at {avg:g} liquidated: "
                   f"taken over at the bankruptcy price {f.price:g} (execution {f.exec_id}), "
                   f"loss {loss:.2f}; the grid stops", "critical",
                   {"price": f.price, "qty": f.qty, "side": f.side, "ts": f.exec_time,
                    "loss": loss, "position": pos, "entry": avg})

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
