"""Link aliases of the live runner (`live_links`, migration 0015): one row per move (amend) of
an order, saying which grid generation and slot its orderLinkId stands for from that move on.
Written and read through `LiveStore.put_link` / `LiveStore.links`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LINK_STATUSES", "LinkMove"]

LINK_STATUSES = ("pending", "done", "refused")
"""pending: written before the amend request leaves; done: amended (or kept as it was);
refused: the amend was refused or did not happen (the order keeps its previous key)."""


@dataclass
class LinkMove:
    """One move of one order (`live_links`): the key it stands for after it, at `price`/`qty`
    (and `from_price`/`from_qty` before it)."""

    order_link_id: str
    version: int
    symbol: str
    gen: int
    slot: int
    leg: str
    cycle: int
    attempt: int
    price: float
    qty: float
    from_price: float
    from_qty: float
    status: str = "pending"
    created_at: int = 0
    updated_at: int = 0

    def __post_init__(self) -> None:
        if self.status not in LINK_STATUSES:
            raise ValueError(f"status must be one of {LINK_STATUSES}, got {self.status!r}")
