"""Thin Python classes the live runner drives. They hold state arrays and call the kernels;
every level, counter order, trigger and risk decision is computed by a `*_nb` kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridlab.config.strategy import GridConfig, RecenterConfig, RiskConfig
from gridlab.errors import StrategyError
from gridlab.strategy.bars_nb import (
    atr_nb,
    bar_update_nb,
    effective_spacing_nb,
    new_bar_ring,
    ring_capacity_nb,
)
from gridlab.strategy.enums import (
    SLOT_DTYPE,
    Filters,
    GridParams,
    RecenterParams,
    RiskParams,
    Side,
    SlotState,
    Status,
    Stop,
    name_of,
)
from gridlab.strategy.grid_nb import build_slots_nb, grid_bounds_nb, on_slot_fill_nb, slot_order_nb
from gridlab.strategy.levels_nb import shift_range_nb
from gridlab.strategy.params import grid_params, recenter_params, risk_params
from gridlab.strategy.recenter_nb import new_recenter_cache, recenter_reason_nb
from gridlab.strategy.risk_nb import (
    check_stops_nb,
    new_kill_state,
    order_allowed_nb,
    post_only_ok_nb,
    spot_order_allowed_nb,
)

__all__ = [
    "DesiredOrder",
    "GridStrategy",
    "RiskManager",
    "RoundTrip",
    "SlotView",
    "preview_grid",
    "side_code",
]

SNAPSHOT_VERSION = 1


def side_code(side: int | str) -> int:
    """Side.BUY / Side.SELL from an int or Bybit's 'Buy' / 'Sell'."""
    if isinstance(side, str):
        codes = {"buy": Side.BUY, "sell": Side.SELL}
        if side.lower() not in codes:
            raise StrategyError(f"unknown side {side!r}", "use 'Buy' or 'Sell'")
        return codes[side.lower()]
    if side not in (Side.BUY, Side.SELL):
        raise StrategyError(f"unknown side {side!r}", "use Side.BUY (1) or Side.SELL (-1)")
    return int(side)


@dataclass(frozen=True)
class DesiredOrder:
    """The order a slot wants resting."""

    slot: int
    side: int
    price: float
    qty: float


@dataclass(frozen=True)
class RoundTrip:
    """A completed open + close of one slot; profit before fees."""

    slot: int
    home: int
    entry: float
    exit: float
    qty: float
    profit: float


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


def _jsonable(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


class GridStrategy:
    """One grid: slots, centre, spacing, range, last recenter time and the bar ring (with the
    look-back triggers' cache `recenter_cache`, derived from the ring: not in the snapshot)."""

    def __init__(self, grid: GridParams | GridConfig, recenter: RecenterParams | RecenterConfig,
                 filters: Filters, capital: float, leverage: float | None = None) -> None:
        if isinstance(grid, GridConfig):
            grid = grid_params(grid, 1.0 if leverage is None else leverage)
        elif leverage is not None:
            grid = grid._replace(leverage=float(leverage))
        if isinstance(recenter, RecenterConfig):
            recenter = recenter_params(recenter)
        if capital <= 0:
            raise StrategyError(f"capital must be > 0 (got {capital})", "fund the account")
        self.gp: GridParams = grid
        self.rp: RecenterParams = recenter
        self.filters = Filters(*(float(x) for x in filters))  # one kernel specialisation
        self.capital = float(capital)
        self.slots = np.zeros(grid.n_buy + grid.n_sell, dtype=SLOT_DTYPE)
        cap = ring_capacity_nb(grid.bar_ms, grid.atr_period, recenter.dom_window_ms,
                               recenter.pd_window_ms)
        self.ring, self.meta = new_bar_ring(cap)
        self.cur = np.zeros(4, dtype=np.float64)
        self.recenter_cache = new_recenter_cache(cap)
        self.centre = math.nan
        self.spacing = grid.spacing
        self.lower, self.upper = grid.lower, grid.upper
        self.last_recenter_ts = -1

    @property
    def built(self) -> bool:
        return not math.isnan(self.centre)

    def observe(self, ts: int, price: float) -> None:
        """Feed a market price (trade or kline point) to the bar ring."""
        bar_update_nb(self.ring, self.meta, self.cur, int(ts), float(price), self.gp.bar_ms)

    def atr(self) -> float:
        """Current ATR per the grid's atr_mode (nan when off or not enough bars)."""
        return float(atr_nb(self.ring, self.meta, self.gp.atr_mode, self.gp.atr_period))

    def build(self, ts: int, price: float, capital: float | None = None) -> float:
        """(Re)build the grid at `price`; returns the seed qty to trade at market (LONG > 0,
        SHORT < 0). The caller cancels the old orders first. A bounded range moves with the
        centre."""
        if capital is not None:
            self.capital = float(capital)
        gp = self.gp
        centre = float(price)  # the build price (as the backtest engine keeps it), not rounded
        if self.built:
            self.lower, self.upper = shift_range_nb(self.lower, self.upper, self.centre, centre)
        self.spacing = float(effective_spacing_nb(gp.spacing, self.atr(), float(price),
                                                  gp.atr_mode, gp.atr_mult, gp.atr_floor,
                                                  gp.atr_ceil))
        seed = build_slots_nb(float(price), self.spacing,
                              gp._replace(lower=float(self.lower), upper=float(self.upper)),
                              self.filters, self.capital, self.slots)
        self.centre = centre
        self.last_recenter_ts = int(ts)
        return float(seed)

    def orders(self) -> list[DesiredOrder]:
        """The order every active slot wants resting."""
        out = []
        for k in range(self.slots.shape[0]):
            side, price, qty = slot_order_nb(self.slots, k)
            if side != Side.NONE:
                out.append(DesiredOrder(k, int(side), float(price), float(qty)))
        return out

    def on_fill(self, slot: int, price: float) -> RoundTrip | None:
        """Apply the complete fill of slot `slot`'s order; a finished round trip is returned."""
        if not 0 <= slot < self.slots.shape[0]:
            raise StrategyError(f"slot {slot} does not exist", "take slots from orders()")
        row = self.slots[slot]
        home, entry, qty = int(row["home"]), float(row["entry"]), float(row["qty"])
        completed, profit = on_slot_fill_nb(self.slots, slot, float(price),
                                            self.gp.profit_target, self.filters.tick)
        if not completed:
            return None
        return RoundTrip(slot, home, entry, float(price), qty, float(profit))

    def bounds(self) -> tuple[float, float]:
        """(lowest, highest) level of the enabled slots."""
        lo, hi = grid_bounds_nb(self.slots)
        return float(lo), float(hi)

    def recenter_reason(self, ts: int, price: float) -> int:
        """Reason code of the recenter trigger firing now (Reason.NONE = keep the grid)."""
        if not self.built:
            raise StrategyError("the grid is not built yet", "call build(ts, price) first")
        lo, hi = grid_bounds_nb(self.slots)
        return int(recenter_reason_nb(int(ts), float(price), self.centre, lo, hi,
                                      self.last_recenter_ts, self.ring, self.meta,
                                      self.recenter_cache, self.rp))

    def levels(self) -> list[SlotView]:
        """Every slot with its levels, qty, notional (qty * lo), state and status."""
        return [SlotView(k, int(r["home"]), float(r["lo"]), float(r["hi"]), float(r["qty"]),
                         float(r["qty"] * r["lo"]), int(r["state"]), int(r["status"]))
                for k, r in enumerate(self.slots)]

    def active_slots(self) -> int:
        return int(np.count_nonzero(self.slots["state"] != SlotState.DISABLED))

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state for persisting across restarts."""
        return {
            "version": SNAPSHOT_VERSION,
            "grid": dict(self.gp._asdict()),
            "capital": self.capital,
            "centre": _jsonable(self.centre),
            "spacing": self.spacing,
            "lower": self.lower,
            "upper": self.upper,
            "last_recenter_ts": self.last_recenter_ts,
            "slots": {name: self.slots[name].tolist() for name in SLOT_DTYPE.names},
            "ring": self.ring.tolist(),
            "meta": self.meta.tolist(),
            "cur": self.cur.tolist(),
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Load a `snapshot()`; the grid parameters must be the ones this object was built with."""
        if snap.get("version") != SNAPSHOT_VERSION:
            raise StrategyError(f"snapshot version {snap.get('version')} is not supported",
                                f"rebuild the grid (this gridlab writes {SNAPSHOT_VERSION})")
        if GridParams(**snap["grid"]) != self.gp:
            raise StrategyError("snapshot was taken with other grid parameters",
                                "start with the same profile or rebuild the grid")
        if len(snap["ring"]) != self.ring.shape[0]:
            raise StrategyError("snapshot bar ring has another size",
                                "start with the same recenter settings or rebuild the grid")
        self.capital = float(snap["capital"])
        self.centre = math.nan if snap["centre"] is None else float(snap["centre"])
        self.spacing = float(snap["spacing"])
        self.lower, self.upper = float(snap["lower"]), float(snap["upper"])
        self.last_recenter_ts = int(snap["last_recenter_ts"])
        for name in SLOT_DTYPE.names:
            self.slots[name] = np.asarray(snap["slots"][name], dtype=SLOT_DTYPE[name])
        self.load_bars(snap["ring"], snap["meta"], snap["cur"])

    def load_bars(self, ring: Any, meta: Any, cur: Any) -> None:
        """Replace the bar history (same ring size); the derived recenter cache is reset."""
        self.ring[:] = np.asarray(ring, dtype=np.float64)
        self.meta[:] = np.asarray(meta, dtype=np.int64)
        self.cur[:] = np.asarray(cur, dtype=np.float64)
        self.recenter_cache[:] = new_recenter_cache(self.ring.shape[0])  # derived: reset


def preview_grid(grid: GridParams | GridConfig, filters: Filters, price: float, capital: float,
                 leverage: float | None = None) -> GridStrategy:
    """A grid built at `price` (no bar history, so ATR spacing falls back to the base)."""
    strat = GridStrategy(grid, RecenterConfig(), filters, capital, leverage)
    strat.build(0, price)
    return strat


class RiskManager:
    """Risk decisions for one grid: exposure, spot balances, PostOnly, kill switch, stops."""

    def __init__(self, risk: RiskParams | RiskConfig, initial_equity: float) -> None:
        self.rk: RiskParams = risk_params(risk) if isinstance(risk, RiskConfig) else risk
        if initial_equity <= 0:
            raise StrategyError(f"initial equity must be > 0 (got {initial_equity})",
                                "fund the account")
        self.initial_equity = float(initial_equity)
        self.kill_state = new_kill_state()
        self.stopped: int = Stop.NONE

    def order_allowed(self, side: int | str, qty: float, price: float, position: float,
                      resting_buy_qty: float, resting_sell_qty: float, equity: float) -> bool:
        """Exposure cap and max position on the worst case (reducing orders always pass)."""
        return bool(order_allowed_nb(side_code(side), float(qty), float(price), float(position),
                                     float(resting_buy_qty), float(resting_sell_qty),
                                     float(equity), self.rk))

    def spot_order_allowed(self, side: int | str, qty: float, price: float, cash: float,
                           inventory: float, resting_buy_notional: float,
                           resting_sell_qty: float, fee_rate: float) -> bool:
        """No borrowing on spot."""
        return bool(spot_order_allowed_nb(side_code(side), float(qty), float(price), float(cash),
                                          float(inventory), float(resting_buy_notional),
                                          float(resting_sell_qty), float(fee_rate)))

    def post_only_ok(self, side: int | str, price: float, best_bid: float,
                     best_ask: float) -> bool:
        """False if a PostOnly order at `price` would cross the book."""
        return bool(post_only_ok_nb(side_code(side), float(price), float(best_bid),
                                    float(best_ask)))

    def on_equity(self, ts: int, equity: float, price: float) -> int:
        """Feed an equity sample (every check interval); returns the Stop code, sticky once
        non-zero (the kill switch's daily max keeps updating)."""
        code = int(check_stops_nb(int(ts), float(equity), self.initial_equity, float(price),
                                  self.kill_state, self.rk))
        if self.stopped == Stop.NONE:
            self.stopped = code
        return self.stopped

    def reset(self) -> None:
        """Clear a stop (a manual restart)."""
        self.stopped = Stop.NONE

    def snapshot(self) -> dict[str, Any]:
        return {"initial_equity": self.initial_equity, "kill_state": self.kill_state.tolist(),
                "stopped": self.stopped}

    def restore(self, snap: dict[str, Any]) -> None:
        self.initial_equity = float(snap["initial_equity"])
        self.kill_state[:] = np.asarray(snap["kill_state"], dtype=np.float64)
        self.stopped = int(snap["stopped"])
