"""Start-up reconciliation of one grid: make the stored state and the exchange agree before
trading (the runner reconciles every grid of the store in turn).

1. reload our orders from the live store (active ones, and every order of the current grid
   generation), the moves of amended orders (live/moves.py) and the fills stored but never
   applied (a crash between the two phases);
2. backfill executions since the newest stored one (REST, cursor paging, 7-day windows),
   storing each execId once;
3. order sync: adopt our open orders by orderLinkId (prefix + runner tag), resolve orders
   whose outcome is unknown (Intent: look them up; never placed -> sent again with the same
   id), mark dead ones, cancel strays (our tag, not wanted); other orders are left alone and
   reported;
4. apply the pending fills in (execTime, slot) order: ledger, slots, counter orders;
5. place the order of every enabled slot that has none.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from gridlab.store.live import ACTIVE_STATUSES
from live.core import TradingCore
from live.exchange import EXEC_WINDOW_MS

__all__ = ["backfill", "load_orders", "reconcile"]

log = logging.getLogger("gridlab.live")


def load_orders(core: TradingCore) -> int:
    """Our orders (this grid's symbol and tag) from the store: active ones and those of the
    current generation."""
    n = 0
    core.load_moves()  # before any execution is stored or applied (live/moves.py)
    for row in reversed(core.store.orders(limit=50_000, symbol=core.s.symbol)):  # oldest first
        if core.key_of(row.order_link_id) is None:
            continue
        if row.status in ACTIVE_STATUSES or row.gen == core.gen:
            core.orders[row.order_link_id] = row
            n += 1
            if row.gen == core.gen and row.status in ("Cancelled", "Rejected", "Deactivated",
                                                      "PartiallyFilledCanceled"):
                k = (row.gen, row.slot, row.leg, row.cycle)
                core.attempts[k] = max(core.attempts.get(k, 0), row.attempt + 1)
    core.apply_moves()  # amended orders are their new slots' orders
    core.slot_link = {}
    for row in core.orders.values():
        if row.kind == "grid" and row.active and row.gen == core.gen and row.slot >= 0:
            core.slot_link[row.slot] = row.order_link_id  # the newest wins
    return n


async def backfill(core: TradingCore, now_ms: int | None = None,
                   start_ms: int | None = None) -> int:
    """Store every execution since `start_ms` (default `core.exec_cursor()`: the REST
    watermark, else the newest stored one, else the runner's creation)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    start = core.exec_cursor() if start_ms is None else start_ms
    n = 0
    while True:
        end = min(start + EXEC_WINDOW_MS - 1, now_ms + 60_000)
        found = await core.ex.executions(start, end)
        for ex in found:
            n += core.store_execution(ex, "backfill")
        core.note_rest(found)
        if end >= now_ms:
            return n
        start = end + 1


async def reconcile(core: TradingCore, start_ms: int | None = None) -> dict[str, Any]:
    """Run the start-up reconciliation (see the module docstring); returns a summary.

    `start_ms`: where the backfill starts, taken before the streams started (the runner
    reconciles its grids one after the other while the streams already store executions)."""
    summary: dict[str, Any] = {"orders_loaded": load_orders(core),
                               "unapplied": core.load_unapplied()}
    summary["backfilled"] = await backfill(core, start_ms=start_ms)
    sync = await core.sync_orders()
    summary.update(sync)
    p = core.last_price
    if math.isnan(p):
        try:
            p = (await core.ex.ticker()).last_price
        except Exception as exc:  # no price yet: fills are applied at their own price
            log.warning("no ticker for the reconciliation: %s", exc)
    summary["applied"] = await core.apply_pending(None, None if math.isnan(p) else p)
    if core.strategy.built and core.trading and not core.force_rebuild and not math.isnan(p):
        before = core.stats["orders_placed"]
        await core.fill_slots(p)
        summary["placed"] = core.stats["orders_placed"] - before
    core.persist()
    summary["adopted_open"] = sum(1 for r in core.orders.values()
                                  if r.active and r.gen == core.gen)
    return summary
