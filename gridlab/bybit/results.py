"""Typed results of batch requests, leverage changes and the top of the book."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gridlab.bybit.errors import BybitError
    from gridlab.bybit.taxonomy import Action

__all__ = ["AmendRequest", "BookTop", "ItemResult", "LeverageResult", "OrderRequest"]


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order for place_batch (PostOnly limit unless said otherwise)."""

    symbol: str
    side: int | str
    qty: float
    price: float | None
    order_link_id: str
    order_type: str = "Limit"
    time_in_force: str = "PostOnly"
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class AmendRequest:
    """One amend for amend_batch: a new price and/or qty for a resting order."""

    symbol: str
    order_link_id: str
    price: float | None = None
    qty: float | None = None


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The outcome of one order in a create/amend/cancel batch.

    `ok`: placed / amended / cancelled (or, for cancel, already gone). `existed` (create): the
    orderLinkId was already on the exchange (an earlier, ambiguous attempt placed it). A
    failed item has `error`, the typed BybitError of its retCode (its `.action` from the
    taxonomy says what it means)."""

    order_link_id: str
    ok: bool
    order_id: str = ""
    existed: bool = False
    error: BybitError | None = field(default=None, compare=False)

    @property
    def code(self) -> int:
        """The item's retCode (0 when it succeeded)."""
        return 0 if self.error is None else self.error.code

    @property
    def action(self) -> Action | None:
        """The taxonomy's action for a failed item (None when it succeeded)."""
        return None if self.error is None else self.error.action


@dataclass(frozen=True, slots=True)
class LeverageResult:
    """What set_leverage did. `in_force` is the leverage the position has after the call
    (read from the position when Bybit refused to change it; nan when unknown)."""

    requested: float
    in_force: float
    changed: bool
    code: int = 0
    warning: str = ""


@dataclass(frozen=True, slots=True)
class BookTop:
    """Best bid and ask of one symbol (nan while unknown) and the exchange time in ms."""

    symbol: str
    bid: float = math.nan
    ask: float = math.nan
    ts: int = 0

    @property
    def known(self) -> bool:
        """Both sides are known."""
        return not (math.isnan(self.bid) or math.isnan(self.ask))
