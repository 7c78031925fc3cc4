"""One grid's state for the one step kernel, as the live runner holds it (`GridStep`).

The live runner runs the backtest's step (`gridlab.backtest.step_nb`), not a copy of it: a
`GRID_STATE_DTYPE` record (an array of one, or a row of the account's array) and the grid's
`GridArrays`, and the same calls: `on_fill_nb` when a fill is applied, `on_check_nb` on the
check clock, `stop_grid_nb` on a stop; `rebuild_nb` / `retry_nb` for a manual rebuild and
after a restart. Each returns the actions (`ACTION_DTYPE` rows) the core carries out against
the exchange (live/actions.py). Nothing here decides: sizing, counter orders, triggers and
the risk gate come from the step.

Live runs the step with `sim=False` (market orders are requested, not booked: their
executions are booked when they arrive, `market_fill`), zero latency (an order row is the
exchange order the core sends; a cancel drops it at once) and the account context of the
runner's `AccountRisk` (memo off: the live state also changes outside the step). What the
exchange did to an order the step wrote (refused, cancelled, never sent) is fed back with
`dropped(row)`: the slot asks again at the next check, as in the backtest after a PostOnly
rejection. A fill of an order the step no longer holds (a cancelled generation) goes through
`on_fill_nb` on a late row (booked, `n_late`, a flatten if the grid is stopped).

The order rows are the exchange orders of the current generation: row k is slot k's order
(its remainder tracked fill by fill by the kernel); rows n..2n-1 only hold a late fill while
it is applied.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gridlab.backtest.enums import (
    ACC,
    N_ACC,
    ORDER_DTYPE,
    EngineParams,
    FillModel,
    margin_mode_code,
)
from gridlab.backtest.gate_nb import AcctCtx, gate_nb, resting_nb
from gridlab.backtest.ledger_nb import apply_fill_nb, apply_funding_nb, equity_nb
from gridlab.backtest.start import load_records
from gridlab.backtest.state_nb import GRID_STATE_DTYPE, STATE_CACHE_FIELDS, new_grid_state
from gridlab.backtest.step_nb import (
    book_state_nb,
    cancel_all_nb,
    on_check_nb,
    on_fill_nb,
    rebuild_nb,
    retry_nb,
    set_order_nb,
    stop_grid_nb,
)
from gridlab.config.strategy import GridConfig, RecenterConfig, RiskConfig
from gridlab.errors import StrategyError
from gridlab.strategy.bars_nb import atr_nb, bar_update_nb
from gridlab.strategy.classes import DesiredOrder, SlotView, desired_orders, slot_views
from gridlab.strategy.enums import (
    Filters,
    GridParams,
    RecenterParams,
    RiskParams,
    SlotState,
    Stop,
)
from gridlab.strategy.grid_nb import slot_order_nb
from gridlab.strategy.params import grid_params, recenter_params, risk_params
from gridlab.strategy.recenter_nb import new_recenter_cache
from gridlab.strategy.risk_nb import post_only_ok_nb

__all__ = ["GridStep", "RiskView", "new_step", "own_account_ctx"]

SNAPSHOT_VERSION = 2
_ARRAYS = ("slots", "orders", "kstate", "blk_epoch", "blk_eq")


def own_account_ctx() -> AcctCtx:
    """The account context of a grid trading alone: `on` (no retry memo: the live state
    changes outside the step) with every account limit off."""
    z = np.zeros(1, np.float64)
    return AcctCtx(True, 0, 0.0, 0.0, 0.0, np.zeros(1, GRID_STATE_DTYPE),
                   np.zeros((1, N_ACC), np.float64), np.zeros(0, ORDER_DTYPE),
                   np.zeros(2, np.int64), z, z, z, z, z, z)


def _records(a: np.ndarray) -> dict[str, list[Any]]:
    return {name: a[name].tolist() for name in a.dtype.names}


def _load_records(dst: np.ndarray, src: dict[str, list[Any]]) -> None:
    missing = [n for n in dst.dtype.names if n not in src and n not in STATE_CACHE_FIELDS]
    if missing:  # a state of another gridlab version (nothing loaded): the grid is rebuilt
        raise StrategyError(f"the stored grid state lacks {missing[0]}",
                            "the grid is rebuilt (the ledger is kept)")
    load_records(dst, src)


class GridStep:
    """The step state of one live grid, the kernel calls, and read-only views for display."""

    def __init__(self, grid: GridParams | GridConfig, recenter: RecenterParams | RecenterConfig,
                 risk: RiskParams | RiskConfig, filters: Filters, capital: float,
                 leverage: float = 1.0, *, spot: bool = False, maker_fee: float = 0.0,
                 taker_fee: float = 0.0, check_ms: int = 60_000, post_only: bool = True,
                 margin: str = "off", tiers: Any = None) -> None:
        if capital <= 0:
            raise StrategyError(f"capital must be > 0 (got {capital})", "fund the account")
        self.gp: GridParams = (grid_params(grid, float(leverage)) if isinstance(grid, GridConfig)
                               else grid)
        self.rp: RecenterParams = (recenter_params(recenter)
                                   if isinstance(recenter, RecenterConfig) else recenter)
        self.rk: RiskParams = risk_params(risk) if isinstance(risk, RiskConfig) else risk
        self.filters = Filters(*(float(x) for x in filters))
        self.capital = float(capital)
        self.ep = EngineParams(self.capital, bool(spot), FillModel.CROSS, 0, 0.0, 0.0,
                               float(maker_fee), float(taker_fee), 0.0, bool(post_only),
                               int(check_ms), int(check_ms), False)
        if margin != "off" and tiers is not None and not spot:  # the backtest's gate (110007)
            limit, mmr, mmd = (np.ascontiguousarray(a, dtype=np.float64) for a in tiers.arrays)
            self.ep = self.ep._replace(margin=margin_mode_code(margin), leverage=float(leverage),
                                       tier_limit=limit, tier_mmr=mmr, tier_mmd=mmd)
        eps = self.filters.qty_step * 1e-6 if self.filters.qty_step > 0 else 1e-12
        self.rec, self.g = new_grid_state(self.gp, self.rp, self.capital, eps, 0, 0.0)
        self.ax = own_account_ctx()
        self.spacing = float(self.gp.spacing)  # of the last build (its REBUILD action)
        self.risk = RiskView(self)

    # ---- the state -------------------------------------------------------------------------

    @property
    def st(self) -> np.record:
        """The state record (numba takes it by reference)."""
        return self.rec[0]

    def bind(self, rec: np.ndarray, acc: np.ndarray, orders: np.ndarray, ax: AcctCtx) -> None:
        """Move the state into the account's arrays (`rec` a one-row view of its records,
        `acc` / `orders` views of its ledgers / order rows); values are copied over."""
        rec[:] = self.rec
        acc[:] = self.g.acc
        orders[:] = self.g.orders
        self.rec = rec
        self.g = self.g._replace(acc=acc, orders=orders)
        self.ax = ax

    @property
    def n(self) -> int:
        return int(self.g.slots.shape[0])

    def touch(self) -> None:
        """The orders, position or cash changed outside the step: its cached resting totals
        and refused-retry memo are stale."""
        self.st["epoch"] += 1
        self.st["rest_ok"] = 0

    def _acts(self, na: int) -> np.ndarray:
        return self.g.act[:na].copy()

    # ---- the step --------------------------------------------------------------------------

    def observe(self, ts: int, price: float) -> None:
        """A market print: the bar ring, and the grid's mark (account marks)."""
        bar_update_nb(self.g.ring, self.g.meta, self.g.cur, int(ts), float(price),
                      self.gp.bar_ms)
        self.st["mark"] = float(price)
        self.st["prev_p"] = float(price)

    def fill(self, row: int, qty: float, ts: int, p: float, fee_rate: float) -> np.ndarray:
        """`on_fill_nb`: order row `row` filled `qty` (at its limit price, fee `fee_rate`)."""
        self.st["rest_ok"] = 0
        o = self.g.orders[row]
        # the row mirrors the exchange order, whose quantities are decimals (leavesQty): a
        # remainder of float residue (1.2000000000000002 for 1.2) is the exchange's 1.2
        o["rem"] = round(float(o["rem"]), 12)
        ep = self.ep._replace(maker_fee=float(fee_rate))
        na = on_fill_nb(self.st, self.g, int(row), float(qty), int(ts), float(p), self.gp,
                        self.filters, self.rk, ep, self.ax, False)
        if o["side"] != 0:  # a partial fill: the remainder in the exchange's decimals
            o["rem"] = round(float(o["rem"]), 12)
        book_state_nb(self.st, self.g.orders)
        return self._acts(na)

    def late_fill(self, side: int, qty: float, price: float, ts: int, p: float,
                  fee_rate: float) -> np.ndarray:
        """A fill of an order the step no longer holds (a cancelled generation): written to a
        free late row, then `on_fill_nb` on it (booked as late)."""
        n = self.n
        free = [r for r in range(n, 2 * n) if self.g.orders[r]["side"] == 0]
        if not free:  # unreachable with zero latency (late rows are only used here)
            raise StrategyError("no free late order row", "report this")
        r = free[0]
        set_order_nb(self.g.orders, r, int(side), float(price), float(qty), int(ts))
        self.g.orders[r]["live"] = 1
        return self.fill(r, qty, ts, p, fee_rate)

    def check(self, ts: int, p: float) -> np.ndarray:
        """`on_check_nb` at (ts, p)."""
        self.st["rest_ok"] = 0
        na = on_check_nb(self.st, self.g, int(ts), float(p), self.gp, self.filters, self.rp,
                         self.rk, self.ep, self.ax, False)
        return self._acts(na)

    def rebuild(self, ts: int, p: float, reason: int) -> np.ndarray:
        """`rebuild_nb`: a rebuild outside the check clock (reason MANUAL)."""
        self.st["rest_ok"] = 0
        na = rebuild_nb(self.st, self.g, int(reason), int(ts), float(p), self.gp, self.filters,
                        self.rk, self.ep, self.ax, False)
        return self._acts(na)

    def retry(self, ts: int, p: float) -> np.ndarray:
        """`retry_nb`: an order for every enabled slot without one, through the gate."""
        self.st["rest_ok"] = 0
        na = retry_nb(self.st, self.g, int(ts), float(p), self.rk, self.ep, self.ax)
        return self._acts(na)

    def stop(self, ts: int, p: float, code: int) -> np.ndarray:
        """`stop_grid_nb`: stop trading with Stop `code` (cancel all, STOP, flatten)."""
        self.st["rest_ok"] = 0
        na = stop_grid_nb(self.st, self.g, int(ts), float(p), int(code), self.rk, self.ep,
                          False, 0)
        return self._acts(na)

    # ---- feedback from the exchange --------------------------------------------------------

    def dropped(self, row: int) -> None:
        """The order of `row` is not on the exchange (refused, cancelled, never sent)."""
        if 0 <= row < 2 * self.n and self.g.orders[row]["side"] != 0:
            self.g.orders[row]["side"] = 0
            self.touch()
            book_state_nb(self.st, self.g.orders)

    def put_order(self, row: int, side: int, price: float, qty: float, rem: float) -> None:
        """An order of ours rests on the exchange for `row` while the row is empty (a state
        written before the order's Intent): the row holds it again."""
        set_order_nb(self.g.orders, int(row), int(side), float(price), float(qty), 0)
        self.g.orders[row]["rem"] = float(rem)
        self.g.orders[row]["live"] = 1
        self.touch()
        book_state_nb(self.st, self.g.orders)

    def clear_orders(self) -> None:
        """Every order was cancelled on the exchange (pause, error, profile change)."""
        cancel_all_nb(self.g.orders, self.n, 0, 0)
        for r in range(self.n, 2 * self.n):
            self.g.orders[r]["side"] = 0
        self.touch()
        book_state_nb(self.st, self.g.orders)

    def market_fill(self, side: int, qty: float, price: float, fee_rate: float) -> float:
        """Book an execution of a market order the step asked for (seed, flatten)."""
        fee = float(apply_fill_nb(self.g.acc, int(side), float(qty), float(price),
                                  float(fee_rate), float(self.st["eps"])))
        self.touch()
        return fee

    def funding(self, mark: float, rate: float) -> float:
        """Book a funding settlement."""
        out = float(apply_funding_nb(self.g.acc, float(mark), float(rate)))
        self.touch()
        return out

    def reset_stop(self) -> None:
        """Clear a stop (a manual restart); the kill switch's daily max is kept."""
        self.st["stopped"] = 0
        self.st["stop_code"] = Stop.NONE

    # ---- views -----------------------------------------------------------------------------

    def resting(self) -> tuple[float, float, float]:
        """(buy qty, sell qty, buy notional) resting in the order rows."""
        rb, rs, rbn = resting_nb(self.g.orders, 0)
        return float(rb), float(rs), float(rbn)

    def gate(self, side: int, qty: float, price: float, p: float) -> int:
        """The step's risk gate for one limit order now, on a copy of the state (counts
        nothing): GATE_OK, GATE_OWN or GATE_ACCOUNT (for the panel's block reasons)."""
        rb, rs, rbn = self.resting()
        eq = float(equity_nb(self.g.acc, self.capital, float(p)))
        rec = self.rec.copy()
        return int(gate_nb(rec[0], self.g, int(side), float(qty), float(price),
                           self.ep.maker_fee, rb, rs, rbn, eq, self.rk, self.ep, self.ax,
                           0))

    @property
    def slots(self) -> np.ndarray:
        return self.g.slots

    @property
    def ring(self) -> np.ndarray:
        return self.g.ring

    @property
    def meta(self) -> np.ndarray:
        return self.g.meta

    @property
    def cur(self) -> np.ndarray:
        return self.g.cur

    @property
    def built(self) -> bool:
        return bool(self.st["has_grid"])

    @property
    def centre(self) -> float:
        return float(self.st["centre"]) if self.built else math.nan

    @property
    def lower(self) -> float:
        return float(self.st["lower"])

    @property
    def upper(self) -> float:
        return float(self.st["upper"])

    @property
    def stop_code(self) -> int:
        return int(self.st["stop_code"]) if self.st["stopped"] else Stop.NONE

    def has_order(self, slot: int) -> bool:
        return bool(self.g.orders[slot]["side"] != 0)

    def atr(self) -> float:
        return float(atr_nb(self.g.ring, self.g.meta, self.gp.atr_mode, self.gp.atr_period))

    def bounds(self) -> tuple[float, float]:
        return float(self.st["lowest"]), float(self.st["highest"])

    def desired(self, slot: int) -> tuple[int, float, float] | None:
        """(side, price, qty) of the order slot `slot` wants (`slot_order_nb`), None: none."""
        side, price, qty = slot_order_nb(self.g.slots, int(slot))
        return None if side == 0 else (int(side), float(price), float(qty))

    def orders(self) -> list[DesiredOrder]:
        """The order every active slot wants (display)."""
        return desired_orders(self.g.slots)

    def levels(self) -> list[SlotView]:
        return slot_views(self.g.slots)

    def active_slots(self) -> int:
        return int(np.count_nonzero(self.g.slots["state"] != SlotState.DISABLED))

    # ---- persistence -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The step state, JSON-able (the ledger and the bar ring are written apart)."""
        return {"version": SNAPSHOT_VERSION, "grid": dict(self.gp._asdict()),
                "spacing": self.spacing, "state": _records(self.rec),
                **{k: (_records(getattr(self.g, k)) if getattr(self.g, k).dtype.names
                       else getattr(self.g, k).tolist()) for k in _ARRAYS}}

    def restore(self, snap: dict[str, Any]) -> None:
        """Load a `snapshot()` taken with the same grid parameters (else StrategyError)."""
        if snap.get("version") != SNAPSHOT_VERSION:
            raise StrategyError(f"state version {snap.get('version')} is not supported",
                                f"rebuild the grid (this gridlab writes {SNAPSHOT_VERSION})")
        if GridParams(**snap["grid"]) != self.gp:
            raise StrategyError("the state was taken with other grid parameters",
                                "start with the same profile or rebuild the grid")
        acc = self.g.acc.copy()  # the ledger's part is restored by the ledger
        _load_records(self.rec, snap["state"])
        for k in _ARRAYS:
            dst = getattr(self.g, k)
            if dst.dtype.names:
                _load_records(dst, snap[k])
            else:
                dst[:] = np.asarray(snap[k], dtype=dst.dtype)
        self.g.acc[:] = acc
        self.spacing = float(snap["spacing"])
        self.touch()

    def load_bars(self, ring: Any, meta: Any, cur: Any) -> bool:
        """Replace the bar history when it has the ring's shape (the derived recenter cache
        is reset). False when it does not fit."""
        ring = np.asarray(ring, dtype=np.float64)
        if ring.shape != self.g.ring.shape:
            return False
        self.g.ring[:] = ring
        self.g.meta[:] = np.asarray(meta, dtype=np.int64)
        self.g.cur[:] = np.asarray(cur, dtype=np.float64)
        self.g.rcache[:] = new_recenter_cache(self.g.ring.shape[0])
        return True

    def ledger_acc(self) -> np.ndarray:
        """The ledger vector of the state (ACC indices): the live Ledger books into it."""
        return self.g.acc

    def position(self) -> float:
        return float(self.g.acc[ACC.POS])


def new_step(resolved: Any, filters: Filters, settings: Any) -> GridStep:
    """The step state of a grid of the resolved profile `resolved` (grid, recenter, risk),
    traded with the core's `settings` (capital, leverage, category, fees, check clock)."""
    return GridStep(resolved.grid, resolved.recenter, resolved.risk, filters, settings.capital,
                    settings.leverage, spot=settings.category == "spot",
                    maker_fee=settings.maker_fee, taker_fee=settings.taker_fee,
                    check_ms=settings.check_ms, margin=getattr(settings, "margin", "off"),
                    tiers=getattr(settings, "tiers", None))


class RiskView:
    """The risk part of a grid's step state, for display and control (no decisions)."""

    def __init__(self, step: GridStep) -> None:
        self._step = step
        self.rk = step.rk
        self.initial_equity = step.capital

    @property
    def kill_state(self) -> np.ndarray:
        return self._step.g.kstate

    @property
    def stopped(self) -> int:
        return self._step.stop_code

    @stopped.setter
    def stopped(self, code: int) -> None:
        """Mark the grid stopped (the account kill switch marks every grid before stopping
        them; the stop itself is `stop_grid_nb`)."""
        st = self._step.st
        st["stopped"] = 1 if code != Stop.NONE else 0
        st["stop_code"] = int(code)

    def post_only_ok(self, side: int, price: float, best_bid: float, best_ask: float) -> bool:
        """False if a PostOnly order at `price` would cross the book (`post_only_ok_nb`)."""
        return bool(post_only_ok_nb(int(side), float(price), float(best_bid),
                                    float(best_ask)))

    def reset(self) -> None:
        self._step.reset_stop()

