"""Recenters by amend (a part of `TradingCore`): the step's CANCEL_ALL + REBUILD + PLACE...
carried out by moving the resting orders instead of cancelling them and placing new ones.

The step decided a recenter (cancel all, build, place); what reaches the exchange is the
same book with fewer requests:

- the eligible resting orders (grid orders of the symbol, acknowledged, nothing filled) and
  the PLACE rows of the new generation are paired by side, nearest to the market first (the
  i-th buy with the i-th buy, the i-th sell with the i-th sell);
- each pair's old order is amended to the new price and qty (amend-batch requests); the
  surplus old orders are cancelled (cancel-batch), the surplus new ones placed as usual
  (create-batch, live/actions.py);
- then the executions are fetched and booked (late fills) as after a cancel-all, so the
  step sees what a cancel + place would have given it.

Identity: the amended order keeps its orderLinkId and becomes slot k of generation g. The
move (`gridlab.store.live_links.LinkMove`) is written before the amend request leaves
(write-ahead); an execution of the order at its new price belongs to the new slot, one at
any other price to what the order was before (a late fill of the old generation, as an order
cancelled at that point). A refused amend (the order filled or gone meanwhile, or any other
refusal) falls back to a cancel of the order and the slot's normal PLACE. An order that
filled partly at its old price before the amend took effect rests short of the new slot's
qty: it is cancelled too, and the slot asks again (`retry_nb`).

A restart reloads the moves (`load_moves`) before any execution is stored or applied; the
order sync (`unmoved`) cancels an order whose move never reached the exchange (the runner
died between the write-ahead and the amend), so the slot is placed again once.

Only a recenter whose PLACE rows follow its REBUILD (no seed in between) is amended: with a
seed the new orders are gated after the seed's executions, so the old ones are cancelled
first, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gridlab.backtest.state_nb import Act
from gridlab.bybit.errors import BybitError
from gridlab.bybit.parse import Order
from gridlab.store.live import OrderRow
from gridlab.store.live_links import LinkMove, load_moves, put_moves
from gridlab.strategy.enums import Side, SlotState
from live.ids import LinkKey

if TYPE_CHECKING:
    from live.step import GridStep

__all__ = ["MoveExecution", "pair_orders"]


def pair_orders(old: list[tuple[int, float]], new: list[tuple[int, float]]
                ) -> list[tuple[int, int]]:
    """Pairs (index in `old`, index in `new`) of (side, price) lists: per side, nearest to
    the market first (buys by price falling, sells by price rising), the i-th with the
    i-th. What is left unpaired on either side is not in the result."""
    out: list[tuple[int, int]] = []
    for side in (Side.BUY, Side.SELL):
        sign = -1.0 if side == Side.BUY else 1.0
        a = sorted((i for i, o in enumerate(old) if o[0] == side),
                   key=lambda i: sign * old[i][1])
        b = sorted((j for j, o in enumerate(new) if o[0] == side),
                   key=lambda j: sign * new[j][1])
        out.extend(zip(a, b, strict=False))
    return out


class MoveExecution:
    """Amending the resting orders on a recenter (a part of `TradingCore`)."""

    moves: dict[str, list[LinkMove]]
    _watch: dict[str, float]

    # ---- identity --------------------------------------------------------------------------

    def load_moves(self) -> int:
        """Reload the moves of this grid's orders from the store (a restart)."""
        self.moves = {}
        for m in load_moves(self.store, self.s.symbol):
            self.moves.setdefault(m.order_link_id, []).append(m)
        return sum(len(v) for v in self.moves.values())

    def _same_price(self, a: float, b: float) -> bool:
        tick = float(self.step.filters.tick)
        return abs(a - b) <= (tick / 2 if tick > 0 else 1e-9 * max(1.0, abs(b)))

    def fill_key(self, link: str, price: float) -> LinkKey | None:
        """What an execution of `link` at `price` belongs to: the slot the order was moved
        to when it is at that move's price (newest move first), else what it was before its
        first move (its orderLinkId)."""
        base = self.key_of(link)
        chain = self.moves.get(link) if base is not None else None
        if not chain:
            return base
        for m in reversed(chain):
            if self._same_price(price, m.new_price):
                return LinkKey(m.gen, m.slot, m.leg, m.cycle, m.attempt)
        first = chain[0]
        return LinkKey(first.old_gen, first.old_slot, first.old_leg, first.old_cycle,
                       first.old_attempt)

    def note_move_fill(self, link: str, key: LinkKey | None, qty: float) -> None:
        """An execution of an order being moved that is not the new slot's (its old price)."""
        if link in self._watch and key is not None:
            chain = self.moves.get(link)
            if not chain or key.gen != chain[-1].gen:
                self._watch[link] += qty

    def apply_moves(self) -> int:
        """After a restart's order load: an active order whose move the store holds but whose
        row still names what it was before (the runner died before the amend's answer) is the
        moved slot's order again; the order sync checks it is at its new price."""
        n = 0
        for link, chain in self.moves.items():
            row = self.orders.get(link)
            m = chain[-1]
            if row is not None and row.active and row.gen < m.gen:
                self._moved(row, m)
                self.store.put_order(row)
                n += 1
        return n

    def _moved(self, row: OrderRow, m: LinkMove) -> None:
        row.gen, row.slot, row.leg, row.cycle, row.attempt = (m.gen, m.slot, m.leg, m.cycle,
                                                              m.attempt)
        row.price, row.qty = m.new_price, m.new_qty
        row.rem = round(max(0.0, m.new_qty - row.filled_qty), 12)

    def unmoved(self, by_link: dict[str, Order]) -> list[OrderRow]:
        """Our active moved orders that rest at another price than their move's (the amend
        never took effect): to be cancelled, their slots place again."""
        out = []
        for link, chain in self.moves.items():
            row = self.orders.get(link)
            o = by_link.get(link)
            if (row is not None and row.active and o is not None and row.gen == chain[-1].gen
                    and not self._same_price(o.price, row.price)):
                out.append(row)
        return out

    # ---- the recenter ----------------------------------------------------------------------

    def can_amend(self, acts: np.ndarray, i: int) -> bool:
        """acts[i] is the CANCEL_ALL of a recenter this module carries out: amend on, a
        REBUILD right after it and PLACE rows right after that, an order to move."""
        n = len(acts)
        return (bool(getattr(self.s, "amend", False)) and self.trading and i + 2 < n
                and int(acts[i + 1]["kind"]) == Act.REBUILD
                and int(acts[i + 2]["kind"]) == Act.PLACE
                and any(self._eligible(r) for r in self.orders.values()))

    @staticmethod
    def _eligible(r: OrderRow) -> bool:
        return (r.kind == "grid" and r.status == "New" and r.filled_qty == 0.0
                and r.slot >= 0 and bool(r.order_id))

    async def amend_recenter(self, acts: np.ndarray, i: int, ts: int, p: float,
                             reason: str | None) -> int:
        """Carry out acts[i] (CANCEL_ALL), acts[i + 1] (REBUILD) and the PLACE rows after it
        by moving the resting orders; returns the index of the first action not done."""
        j = i + 2
        while j < len(acts) and int(acts[j]["kind"]) == Act.PLACE:
            j += 1
        places = acts[i + 2:j]
        why = self._cancel_reason(acts[i + 1:])
        bid, ask = self.ex.best_bid_ask(p, self.last_ts)
        old = sorted((r for r in self.orders.values() if self._eligible(r)),
                     key=lambda r: r.order_link_id)
        new = [k for k in range(len(places))
               if self.risk.post_only_ok(int(places[k]["side"]), float(places[k]["price"]),
                                         bid, ask)]
        pairs = [(old[a], new[b]) for a, b in pair_orders(
            [(r.side, r.price) for r in old],
            [(int(places[k]["side"]), float(places[k]["price"])) for k in new])]
        moving = {r.order_link_id for r, _ in pairs}
        self._watch = {x: 0.0 for x in moving}
        self.slot_link.clear()  # the step's rows are the new grid's (as after a cancel-all)
        await self._cancel_links([r for r in self.orders.values()
                                  if r.active and r.order_link_id not in moving], why)
        self._rebuilt(acts[i + 1], acts[i + 2:], ts, reason)
        done = await self._amend_pairs(pairs, places)
        # the executions of the cancelled and moved orders: booked before anything else
        await self.catch_up()
        await self.apply_stored(p)
        short = [self.orders[x] for x in done if self._watch.get(x, 0.0) > 0.0
                 and self.orders[x].active]
        self._watch = {}
        if short:  # filled in part at the old price: the order rests short of the slot's qty
            await self._cancel_links(short, "filled at its old price before the amend")
        moved = set(done.values())  # the others (unpaired, refused): placed as usual
        rest = [k for k in range(len(places)) if k not in moved]
        if rest:
            await self._place(places[rest], p)
        if short and self.trading:
            await self.fill_slots(p)
        return j

    async def _amend_pairs(self, pairs: list[tuple[OrderRow, int]], places: np.ndarray
                           ) -> dict[str, int]:
        """Write the moves ahead, send the amends; {link: place index} of the orders moved
        (an order whose amend was refused is cancelled: its slot is placed as usual)."""
        moves: list[tuple[OrderRow, int, LinkMove]] = []
        for row, k in pairs:
            a = places[k]
            slot = int(a["slot"])
            leg = "o" if int(self.step.slots["state"][slot]) == SlotState.OPEN_LEG else "c"
            cyc = self.cycles[slot]
            att = self.attempts.get((self.gen, slot, leg, cyc), 0)
            moves.append((row, k, LinkMove(
                row.order_link_id, self.gen, self.s.symbol, slot, leg, cyc, att, row.gen,
                row.slot, row.leg, row.cycle, row.attempt, row.price, float(a["price"]),
                float(a["qty"]))))
        if not moves:
            return {}
        put_moves(self.store, [m for _, _, m in moves])  # write-ahead: before the amend
        for _, _, m in moves:
            self.moves.setdefault(m.order_link_id, []).append(m)
        send = [m for row, _, m in moves
                if not (self._same_price(row.price, m.new_price) and row.qty == m.new_qty)]
        sent = {m.order_link_id for m in send}
        try:
            results = await self.ex.amend_many([(m.order_link_id, m.new_price, m.new_qty)
                                                for m in send]) if send else []
            ok = {r.order_link_id: r for r in results}
        except BybitError as exc:
            ok = {}
            self.event("error", f"the amend request failed: {exc}", "warning")
        done: dict[str, int] = {}
        refused: list[OrderRow] = []
        with self.store.batch():
            for row, k, m in moves:
                res = ok.get(m.order_link_id)
                if (res is None and m.order_link_id in sent) or (res is not None
                                                                 and not res.ok):
                    refused.append(row)
                    continue
                self._moved(row, m)
                self.slot_link[m.slot] = row.order_link_id
                self.store.put_order(row)
                done[row.order_link_id] = k
                self.stats["orders_amended"] += 1
        if refused:
            self.stats["amends_refused"] += len(refused)
            await self._cancel_links(refused, "amend refused")
        if done:
            self.event("amended", f"{len(done)} orders moved to grid {self.gen} by amend "
                                  f"({len(send)} amends, {len(refused)} refused)",
                       details={"gen": self.gen, "moved": len(done), "refused": len(refused)},
                       alert=False)
        return done

    async def _cancel_links(self, rows: list[OrderRow], reason: str) -> None:
        """Cancel these orders of ours (cancel-batch); each cancelled one becomes Cancelled
        (one still resting after a failed cancel is a stray for the next order sync)."""
        live = [r for r in rows if r.active]
        if not live:
            return
        results = await self.ex.cancel_many([r.order_link_id for r in live])
        with self.store.batch():
            for row, res in zip(live, results, strict=True):
                if res.ok:
                    self._dead(row, "Cancelled", reason)
                else:
                    self._unlink(row)
                    self.event("error", f"cancelling {row.order_link_id} failed: "
                                        f"{res.error}", "warning")

    # attributes of TradingCore used here
    step: GridStep
    store: Any
    ex: Any
    s: Any
    gen: int
    cycles: list[int]
    attempts: dict[tuple[int, int, str, int], int]
    orders: dict[str, OrderRow]
    slot_link: dict[int, str]
    stats: dict[str, int]
    last_ts: int
    risk: Any
    trading: bool
    _cancel_reason: Any
    _rebuilt: Any
    _place: Any
    _dead: Any
    _unlink: Any
    key_of: Any
    event: Any
    catch_up: Any
    apply_stored: Any
    fill_slots: Any
