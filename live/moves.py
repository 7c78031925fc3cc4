"""Moving a grid's resting orders with amend when a rebuild moves the grid, and the link
aliases that keep every fill attributed to the right slot (a part of `TradingCore`, through
`OrderExecution`). The rule, as in docs/live.md ("Moving orders with amend"):

1. **detach** (before the rebuild's catch-up): our grid orders that are acknowledged (New),
   not partly filled and not in the middle of a move are kept resting; every other active
   order of ours is cancelled (cancel-batch; cancel-all as before when nothing is kept). The
   kept ones leave their slots: a fill of one before it is moved is a late fill of the old
   grid, and the risk gate does not count them (as if cancelled) until they are moved.
2. **pair** (after the build and the seed), side by side: a kept order at the price and qty a
   new slot wants is kept as it is (no request); the others of each side are paired with the
   remaining new orders of that side in price order, nearest the market first (buys from the
   highest price down, sells from the lowest up): as many pairs as the smaller count.
3. in slot order, every new slot's order goes through the risk gate and the PostOnly check as
   a new order would: a paired slot that passes gets its kept order moved, one that does not
   gets it cancelled; an unpaired slot gets a new order. Kept orders left unpaired are
   cancelled.
4. **write-ahead**: in one transaction before any request, each move is recorded
   (`live_links`, pending) and the order's row rewritten to the key it will stand for; then
   cancel-batch, amend-batch, create-batch.
5. an amend **refused** (any refusal: gone 110001, unchanged, a qty or price the exchange
   refuses, 110064 / 110022 ...) reverts the order to its previous key and cancels it; the
   slot gets a new order at the check that follows. An **ambiguous** outcome stays pending:
   the next order sync (every check, every restart) keeps the move when the exchange shows
   the new price and qty, else reverts it (and cancels the order as a stray).

A fill of a moved order is attributed by its price (a PostOnly order fills at its own price):
to the newest version of the order at that price, else to the key its orderLinkId names.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gridlab.bybit.errors import BybitError, TransientError
from gridlab.bybit.results import ItemResult
from gridlab.store.live import LinkMove, OrderRow
from live.ids import LinkKey, parse_link

if TYPE_CHECKING:
    from gridlab.bybit.parse import Order
    from gridlab.strategy.classes import DesiredOrder

__all__ = ["OrderMoves", "pair_moves", "same_value"]

log = logging.getLogger("gridlab.live")


def same_value(a: float, b: float) -> bool:
    """Two prices (or qtys) are the same order value (both come from tick / step multiples)."""
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def pair_moves(kept: list[OrderRow], want: list[DesiredOrder]) -> dict[int, OrderRow]:
    """slot -> the kept order that moves there (rule 2 of the module docstring); kept orders
    that are not values of the answer are cancelled."""
    out: dict[int, OrderRow] = {}
    for side in (1, -1):
        rows = [r for r in kept if r.side == side]
        free = []
        for d in (d for d in want if d.side == side):
            same = next((r for r in rows if same_value(r.price, d.price)
                         and same_value(r.qty, d.qty)), None)
            if same is None:
                free.append(d)
            else:
                out[d.slot] = same
                rows.remove(same)
        rows.sort(key=lambda r: -side * r.price)  # nearest the market first
        free.sort(key=lambda d: -side * d.price)
        for r, d in zip(rows, free, strict=False):
            out[d.slot] = r
    return out


def _key(m: LinkMove) -> LinkKey:
    return LinkKey(m.gen, m.slot, m.leg, m.cycle, m.attempt)


class OrderMoves:
    """Amend-moves of resting orders and the link aliases (a part of `TradingCore`)."""

    orders: dict[str, OrderRow]
    slot_link: dict[int, str]
    stats: dict[str, int]
    _moving: frozenset[str] | set[str] = frozenset()  # a set during a rebuild
    """kept orders not yet moved: the risk gate does not count them"""
    _links: dict[str, list[LinkMove]] | None = None

    # ---- the alias map ---------------------------------------------------------------------

    def link_moves(self) -> dict[str, list[LinkMove]]:
        """orderLinkId -> its moves, oldest first (loaded from the store once)."""
        if self._links is None:
            links: dict[str, list[LinkMove]] = {}
            for m in self.store.links(self.s.symbol):
                links.setdefault(m.order_link_id, []).append(m)
            self._links = links
        return self._links

    def link_key(self, link: str, price: float | None = None) -> LinkKey | None:
        """What `link` stands for (None: not one of ours): with a fill `price`, the newest
        version of the order at that price (its id's own key for the price before the first
        move); without one (or at no known price), the order as it rests now."""
        base = parse_link(link, self.s.prefix, self.s.tag)
        moves = [m for m in self.link_moves().get(link, ()) if m.status != "refused"]
        if base is None or not moves:
            return base
        if price is not None:
            for m in reversed(moves):
                if same_value(m.price, price):
                    return _key(m)
            if same_value(moves[0].from_price, price):
                return base
        return _key(moves[-1])

    def _prior_key(self, m: LinkMove) -> LinkKey:
        """The key the order stood for before move `m`."""
        for p in reversed(self.link_moves().get(m.order_link_id, [])):
            if p.version < m.version and p.status != "refused":
                return _key(p)
        key = parse_link(m.order_link_id, self.s.prefix, self.s.tag)
        assert key is not None
        return key

    def _record_move(self, row: OrderRow, key: LinkKey, price: float, qty: float,
                     status: str) -> LinkMove:
        """Write the move of `row` to `key` at price/qty and rewrite its row (write-ahead)."""
        link = row.order_link_id
        moves = self.link_moves().setdefault(link, [])
        m = LinkMove(link, len(moves) + 1, self.s.symbol, key.gen, key.slot, key.leg,
                     key.cycle, key.attempt, float(price), float(qty), row.price, row.qty,
                     status)
        moves.append(m)
        self.store.put_link(m)
        self._set_key(row, key, price, qty)
        return m

    def _set_key(self, row: OrderRow, key: LinkKey, price: float, qty: float) -> None:
        row.gen, row.slot, row.leg, row.cycle, row.attempt = key
        row.price, row.qty = float(price), float(qty)
        row.rem = round(max(0.0, row.qty - row.filled_qty), 12)
        self.store.put_order(row)

    def _revert_move(self, row: OrderRow | None, m: LinkMove, reason: str) -> None:
        """Move `m` did not happen: the order stands for its previous key again."""
        m.status = "refused"
        self.store.put_link(m)
        self.stats["amends_refused"] = self.stats.get("amends_refused", 0) + 1
        if row is None:
            return
        if self.slot_link.get(m.slot) == row.order_link_id:
            del self.slot_link[m.slot]
        self._set_key(row, self._prior_key(m), m.from_price, m.from_qty)
        row.reason = reason[:200]

    def pending_moves(self) -> list[LinkMove]:
        return [m for ms in self.link_moves().values() for m in ms if m.status == "pending"]

    async def resolve_moves(self, by_link: dict[str, Order]) -> int:
        """Settle the moves whose amend outcome is unknown (a crash or an ambiguous answer):
        kept when the exchange shows the order at the new price and qty, else reverted.
        `by_link`: the open orders. Returns how many were settled."""
        todo = self.pending_moves()
        for m in todo:
            o = by_link.get(m.order_link_id) or await self.ex.find_order(m.order_link_id)
            row = self.orders.get(m.order_link_id)
            if o is not None and same_value(o.price, m.price) and same_value(o.qty, m.qty):
                m.status = "done"
                self.store.put_link(m)
            else:
                self._revert_move(row, m, "the amend did not happen")
        return len(todo)

    # ---- a rebuild -------------------------------------------------------------------------

    def _movable(self, row: OrderRow, pending: set[str]) -> bool:
        return (row.active and row.kind == "grid" and row.status == "New" and row.slot >= 0
                and row.filled_qty == 0.0 and row.order_link_id not in pending)

    async def detach_grid(self, reason: str) -> int:
        """Rule 1: keep the movable orders resting, out of their slots and of the risk gate;
        cancel the others. Returns how many are kept."""
        pending = {m.order_link_id for m in self.pending_moves()}
        active = [r for r in self.orders.values() if r.active]
        keep = {r.order_link_id for r in active if self._movable(r, pending)}
        if not keep:
            await self.cancel_all(reason)
            return 0
        self.slot_link.clear()
        self._moving = set(keep)
        await self._cancel_rows([r for r in active if r.order_link_id not in keep], reason)
        return len(keep)

    async def move_orders(self, p: float) -> None:
        """Rules 2-5 after a rebuild: move the kept orders to the new grid, cancel the rest,
        create the orders no kept one could take."""
        if not self._moving:
            return
        self._moving = moving = set(self._moving)
        rows = [r for r in (self.orders.get(x) for x in sorted(moving))
                if r is not None and r.active]
        kept = [r for r in rows if self._movable(r, set())]  # not partly filled meanwhile
        if not self.trading:
            self._moving = frozenset()
            await self._cancel_rows(rows, "rebuild: not trading")
            return
        want = self.strategy.orders()
        pairs = pair_moves(kept, want)
        paired = {id(r) for r in pairs.values()}
        cancels = [r for r in rows if id(r) not in paired]
        amends: list[tuple[OrderRow, LinkMove]] = []
        creates: list[OrderRow] = []
        with self.store.batch():
            for d in want:  # slot order, as fill_slots; blocked slots: fill_slots counts them
                row = pairs.get(d.slot)
                ok = self._slot_check(d.slot, p, count=False)
                if isinstance(ok, int):
                    if row is not None:
                        cancels.append(row)
                    continue
                if row is None:
                    creates.append(self._intent(self._slot_key(d.slot), "grid", d.side, d.qty,
                                                d.price, slot=d.slot))
                    continue
                same = same_value(row.price, d.price) and same_value(row.qty, d.qty)
                m = self._record_move(row, self._slot_key(d.slot), d.price, d.qty,
                                      "done" if same else "pending")
                moving.discard(row.order_link_id)  # counted again, at its new price
                self.slot_link[d.slot] = row.order_link_id
                if not same:
                    amends.append((row, m))
            self.persist()
        self._moving = frozenset()
        await self._cancel_rows(cancels, "rebuild: not moved")
        await self._amend_rows(amends)
        if creates:
            await self._place_rows(creates)

    async def _amend_rows(self, amends: list[tuple[OrderRow, LinkMove]]) -> None:
        """Send the moves (amend-batch); a refused one is reverted and cancelled (rule 5)."""
        if not amends:
            return
        reqs = [(r.order_link_id,
                 None if same_value(m.price, m.from_price) else m.price,
                 None if same_value(m.qty, m.from_qty) else m.qty) for r, m in amends]
        try:
            results = await self.ex.amend_many(reqs)
        except BybitError as exc:  # the whole request failed: every move gets that outcome
            results = [ItemResult(r.order_link_id, False, error=exc) for r, _ in amends]
        refused: list[OrderRow] = []
        with self.store.batch():
            for (row, m), res in zip(amends, results, strict=True):
                if res.ok:
                    m.status = "done"
                    self.store.put_link(m)
                    self.stats["amended"] = self.stats.get("amended", 0) + 1
                elif isinstance(res.error, TransientError):
                    self.stats["errors"] += 1  # outcome unknown: the next sync settles it
                else:
                    why = f"amend refused: {res.error}"
                    self._revert_move(row, m, why)
                    refused.append(row)
        if refused:
            self.event("amend_refused", f"{len(refused)} order moves refused (first: "
                                        f"{refused[0].order_link_id}: {refused[0].reason}); "
                                        "cancelled, their slots are placed again", "warning",
                       {"links": [r.order_link_id for r in refused]}, alert=False)
            await self._cancel_rows(refused, "amend refused")

    async def _cancel_rows(self, rows: list[OrderRow], reason: str) -> None:
        """Cancel these orders (cancel-batch); a failed cancel is tried again by the next
        order sync (the order is then a stray of an old grid)."""
        rows = [r for r in rows if r.active]
        if not rows:
            return
        results = await self.ex.cancel_many([r.order_link_id for r in rows])
        with self.store.batch():
            for row, res in zip(rows, results, strict=True):
                if res.ok:
                    self._dead(row, "Cancelled", reason)
                else:
                    self.event("error", f"cancelling {row.order_link_id} failed: {res.error}",
                               "warning")
