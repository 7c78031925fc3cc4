"""Display records and the grid preview (`gridlab grid preview`, the live admission check).

Trading runs the one step kernel (`gridlab.backtest.step_nb`, driven live by live/step.py);
nothing here decides an order. `preview_grid` builds one grid at a price with the build
kernel (`build_slots_nb`) for display.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gridlab.config.strategy import GridConfig
from gridlab.errors import StrategyError
from gridlab.strategy.enums import SLOT_DTYPE, Filters, GridParams, Side, SlotState, Status, name_of
from gridlab.strategy.grid_nb import build_slots_nb, grid_bounds_nb, slot_order_nb
from gridlab.strategy.params import grid_params

__all__ = ["DesiredOrder", "GridPreview", "SlotView", "desired_orders", "preview_grid",
           "slot_views"]


@dataclass(frozen=True)
class DesiredOrder:
    """The order a slot wants resting."""

    slot: int
    side: int
    price: float
    qty: float


@dataclass(frozen=True)
class SlotView:
    """One slot for display (`gridlab grid preview`, the control panel)."""

    slot: int
    home: int
    lo: float
    hi: float
    qty: float
    notional: float
    state: int
    status: int

    @property
    def status_name(self) -> str:
        return name_of(Status, self.status)


def slot_views(slots: np.ndarray) -> list[SlotView]:
    """Every slot with its levels, qty, notional (qty * lo), state and status."""
    return [SlotView(k, int(r["home"]), float(r["lo"]), float(r["hi"]), float(r["qty"]),
                     float(r["qty"] * r["lo"]), int(r["state"]), int(r["status"]))
            for k, r in enumerate(slots)]


def desired_orders(slots: np.ndarray) -> list[DesiredOrder]:
    """The order every active slot wants resting (`slot_order_nb`)."""
    out = []
    for k in range(slots.shape[0]):
        side, price, qty = slot_order_nb(slots, k)
        if side != Side.NONE:
            out.append(DesiredOrder(k, int(side), float(price), float(qty)))
    return out


class GridPreview:
    """One grid built at a price (no bar history: ATR spacing falls back to the base)."""

    def __init__(self, grid: GridParams | GridConfig, filters: Filters, price: float,
                 capital: float, leverage: float | None = None) -> None:
        if isinstance(grid, GridConfig):
            grid = grid_params(grid, 1.0 if leverage is None else leverage)
        elif leverage is not None:
            grid = grid._replace(leverage=float(leverage))
        if capital <= 0:
            raise StrategyError(f"capital must be > 0 (got {capital})", "fund the account")
        self.gp: GridParams = grid
        self.filters = Filters(*(float(x) for x in filters))
        self.capital = float(capital)
        self.lower, self.upper = grid.lower, grid.upper
        self.spacing = float(grid.spacing)
        self.centre = float(price)
        self.slots = np.zeros(grid.n_buy + grid.n_sell, dtype=SLOT_DTYPE)
        self.seed = float(build_slots_nb(float(price), self.spacing, grid, self.filters,
                                         self.capital, self.slots))

    @property
    def built(self) -> bool:
        return not math.isnan(self.centre)

    def orders(self) -> list[DesiredOrder]:
        return desired_orders(self.slots)

    def bounds(self) -> tuple[float, float]:
        """(lowest, highest) level of the enabled slots."""
        lo, hi = grid_bounds_nb(self.slots)
        return float(lo), float(hi)

    def levels(self) -> list[SlotView]:
        return slot_views(self.slots)

    def active_slots(self) -> int:
        return int(np.count_nonzero(self.slots["state"] != SlotState.DISABLED))


def preview_grid(grid: GridParams | GridConfig, filters: Filters, price: float, capital: float,
                 leverage: float | None = None) -> GridPreview:
    """A grid built at `price` for display."""
    return GridPreview(grid, filters, price, capital, leverage)
