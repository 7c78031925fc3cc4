"""Carrying out the step's actions against the exchange (a part of `TradingCore`).

The step (`live/step.py` over `gridlab.backtest.step_nb`) returns `ACTION_DTYPE` rows; this
module turns each into exchange requests and records, in the order the step wrote them, and
decides nothing:

- PLACE: the slot's limit order (write-ahead Intent, deterministic orderLinkId), consecutive
  ones in one batch request. An order that does not reach the book (not trading, a PostOnly
  price that would cross the best bid/ask, refused by the exchange) is fed back to the step
  (`GridStep.dropped`): the slot asks again at the next check.
- CANCEL_ALL: cancel every order of the symbol; on a recenter (CANCEL_ALL, REBUILD, PLACE...)
  with `live.amend` on, the resting orders are moved by amend instead (live/moves.py);
- REBUILD: a new grid generation (its record, events);
- SEED / FLATTEN: a market order (FLATTEN closes the position the ledger holds when it is
  sent: late fills of the cancelled orders may have moved it); its executions are booked
  when they arrive;
- STOP: the stop's event.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from gridlab.backtest.state_nb import Act
from gridlab.bybit.errors import BybitError
from gridlab.store.live import OrderRow
from gridlab.strategy.enums import Reason, Side, SlotState, Stop, name_of
from live.ids import LinkKey
from live.moves import MoveExecution

if TYPE_CHECKING:
    from live.step import GridStep

__all__ = ["ActionExecution"]


class ActionExecution(MoveExecution):
    """`execute(acts, ts, p)`: the step's actions against the exchange."""

    step: GridStep
    stats: dict[str, int]

    async def execute(self, acts: np.ndarray, ts: int, p: float, *,
                      reason: str | None = None) -> None:
        """Carry out `acts` (decided at event (ts, p)) in order. `reason`: the name the
        grid records for a REBUILD (default: the step's Reason code)."""
        self.count_refusals()
        i, n = 0, len(acts)
        while i < n:
            a = acts[i]
            kind = int(a["kind"])
            if kind == Act.PLACE:
                j = i
                while j < n and int(acts[j]["kind"]) == Act.PLACE:
                    j += 1
                await self._place(acts[i:j], p)
                i = j
                continue
            if kind == Act.CANCEL_ALL and self.can_amend(acts, i):  # a recenter: move them
                i = await self.amend_recenter(acts, i, ts, p, reason)
                continue
            if kind == Act.CANCEL_ALL:
                await self.cancel_all(self._cancel_reason(acts[i + 1:]), by_step=True)
                # the fills of the cancelled orders happened before the cancel: fetch them
                # and book them (late fills) before the rest of the actions
                await self.catch_up()
                await self.apply_stored(p)
            elif kind == Act.REBUILD:
                self._rebuilt(a, acts[i + 1:], ts, reason)
            elif kind == Act.SEED:
                await self._market("s", int(a["side"]), float(a["qty"]), p)
            elif kind == Act.FLATTEN:  # close the position the ledger holds by then
                await self._flatten(p)
            elif kind == Act.STOP:
                self._stopped(int(a["code"]), int(a["ts"]), float(a["price"]))
            i += 1

    @staticmethod
    def _cancel_reason(rest: np.ndarray) -> str:
        for a in rest:
            if int(a["kind"]) == Act.REBUILD:
                return f"rebuild: {name_of(Reason, int(a['code']))}"
            if int(a["kind"]) == Act.STOP:
                return f"stop: {name_of(Stop, int(a['code']))}"
        return "cancel all"

    async def _place(self, acts: np.ndarray, p: float) -> None:
        """PLACE actions: Intents first, then one batch request, then each outcome."""
        rows: list[OrderRow] = []
        with self.store.batch():
            for a in acts:
                k = int(a["slot"])
                if not self.trading or k in self.slot_link:
                    self.step.dropped(k)
                    continue
                row = self._slot_intent(k, int(a["side"]), float(a["price"]), float(a["qty"]),
                                        p)
                if row is None:
                    self.step.dropped(k)
                else:
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

    def _rebuilt(self, a: Any, rest: np.ndarray, ts: int, reason: str | None) -> None:
        """A REBUILD action: the new generation, its grid record and events."""
        p = float(a["price"])
        code = int(a["code"])
        self.gen += 1
        self.force_rebuild = False
        # forget dead orders older than the previous generation (a restart would not reload
        # them either)
        self.orders = {k: r for k, r in self.orders.items()
                       if r.active or r.gen >= self.gen - 1}
        self.step.spacing = float(a["qty"])
        self.cycles = [0] * self.step.n
        lo, hi = self.step.bounds()
        slots = self.step.slots
        homes = slots["home"][slots["state"] != SlotState.DISABLED]
        rname = reason or name_of(Reason, code)
        self.last_recenter_reason = rname
        if code != Reason.INITIAL:
            self.stats["recenters"] += 1
        with self.store.batch():
            self.store.add_grid(gen=self.gen, symbol=self.s.symbol, ts=int(ts), price=p,
                                lowest=None if math.isnan(lo) else lo,
                                highest=None if math.isnan(hi) else hi,
                                spacing=self.step.spacing,
                                n_buy=int((homes == Side.BUY).sum()),
                                n_sell=int((homes == Side.SELL).sum()), reason=rname,
                                profile=str(self.profile.get("name")),
                                profile_version=self.profile.get("version"),
                                seed_qty=self._seed_of(rest))
            self.persist()
        kind = "grid_built" if code == Reason.INITIAL else "recenter"
        self.event(kind, f"grid {self.gen} built at {p:g} ({rname}): "
                         f"{self.step.active_slots()} slots, range {lo:g}-{hi:g}",
                   details={"gen": self.gen, "reason": rname, "price": p})
        if math.isnan(lo):
            self.event("empty_grid", "the grid has no valid level (filters / range)", "warning")

    @staticmethod
    def _seed_of(rest: np.ndarray) -> float:
        """The seed the step asked for right after this build (signed; 0: none)."""
        for a in rest:
            if int(a["kind"]) == Act.SEED:
                return float(a["side"]) * float(a["qty"])
            if int(a["kind"]) == Act.REBUILD:
                break
        return 0.0

    def _stopped(self, code: int, ts: int, p: float) -> None:
        """A STOP action: the stop's event (the cancel and flatten are their own actions); a
        liquidation's is the `liquidated` event the fill application recorded."""
        if code == Stop.LIQUIDATED:
            return
        account = getattr(self, "_account_stop", False)
        mark = p if not math.isnan(p) else self.ledger.avg_price
        eq = self.ledger.equity(mark)
        sev = "critical" if code == Stop.KILL_SWITCH else "error"
        who = "the account kill switch" if account else name_of(Stop, code)
        self.event("kill_switch" if code == Stop.KILL_SWITCH else "risk_stop",
                   f"{who} at price {p:g}, equity {eq:.2f}: all orders cancelled, trading "
                   "stopped until POST /api/start", sev,
                   {"code": code, "equity": eq, "price": p, "ts": ts, "account": account},
                   alert=not account)

    def _slot_intent(self, slot: int, side: int, price: float, qty: float,
                     p: float) -> OrderRow | None:
        """The write-ahead Intent of slot `slot`'s order, or None when a PostOnly price
        would cross the best bid/ask (Bybit would cancel it: placed again at a check)."""
        bid, ask = self.ex.best_bid_ask(p, self.last_ts)
        if not self.risk.post_only_ok(side, price, bid, ask):
            self.stats["post_only"] += 1
            return None
        leg = "o" if int(self.step.slots["state"][slot]) == SlotState.OPEN_LEG else "c"
        k = (self.gen, slot, leg, self.cycles[slot])
        key = LinkKey(self.gen, slot, leg, self.cycles[slot], self.attempts.get(k, 0))
        return self._intent(key, "grid", side, qty, price, slot=slot)

    # attributes of TradingCore used here
    store: Any
    ex: Any
    s: Any
    gen: int
    cycles: list[int]
    attempts: dict[tuple[int, int, str, int], int]
    orders: dict[str, OrderRow]
    slot_link: dict[int, str]
    force_rebuild: bool
    last_recenter_reason: str
    last_ts: int
    profile: dict[str, Any]
    ledger: Any
    risk: Any
