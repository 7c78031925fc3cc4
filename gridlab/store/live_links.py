"""Moves of amended orders (`live_links`, migration 0016): an order the runner moved by an
amend on a recenter keeps its exchange orderLinkId but becomes another slot of another grid
generation. Each move is written before its amend request leaves (write-ahead), so a restart
maps the open order and its executions back (live/moves.py).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from gridlab.store.core import load_sql

if TYPE_CHECKING:
    from gridlab.store.live import LiveStore

__all__ = ["LinkMove", "load_moves", "put_moves"]


@dataclass(frozen=True)
class LinkMove:
    """One move of the order `order_link_id`: from (old_gen, old_slot, old_leg, old_cycle,
    old_attempt) at `old_price` to slot `slot` of generation `gen` at `new_price` x
    `new_qty`."""

    order_link_id: str
    gen: int
    symbol: str
    slot: int
    leg: str
    cycle: int
    attempt: int
    old_gen: int
    old_slot: int
    old_leg: str
    old_cycle: int
    old_attempt: int
    old_price: float
    new_price: float
    new_qty: float
    created_at: int = 0


def put_moves(ls: LiveStore, moves: list[LinkMove]) -> None:
    """Write moves in one transaction (a move rewritten by its key replaces the old row)."""
    if not moves:
        return
    now = int(time.time() * 1000)
    with ls.store.transaction() as con:
        for m in moves:
            params = asdict(m)
            params["created_at"] = m.created_at or now
            con.execute(load_sql("live_link_insert"), params)
    ls._mark("live_links")


def load_moves(ls: LiveStore, symbol: str | None = None) -> list[LinkMove]:
    """The moves (of `symbol`, or all), by orderLinkId then generation (oldest first)."""
    with ls.reader() as cur:
        rows = cur.execute(load_sql("live_links_select"), {"symbol": symbol}).fetchall()
    return [LinkMove(str(r[0]), int(r[1]), str(r[2]), int(r[3]), str(r[4]), int(r[5]),
                     int(r[6]), int(r[7]), int(r[8]), str(r[9]), int(r[10]), int(r[11]),
                     float(r[12]), float(r[13]), float(r[14]), int(r[15])) for r in rows]
