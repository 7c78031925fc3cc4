"""Account-level risk over every grid of one runner (config section `portfolio`).

Each grid runs the one step kernel on its own state (live/step.py). The account holds every
grid's state in its arrays (the record, the ledger and the order rows of grid k are views of
row k / slice k of them, as in the portfolio backtest), so the step's risk gate sees the
account: on top of each grid's own checks, for the whole account:
- total equity = `portfolio.capital` + the PnL of every grid (`account_equity_nb`);
- `max_total_exposure_pct` / `max_symbol_share`: an order that increases a grid's |position|
  must also pass the account check inside the step's gate (`gate_nb.gate_nb` with the
  account context `AcctCtx`: the worst case of that grid plus the worst case of every other
  grid, against the total equity);
- `kill_switch_dd`: at every account check (multiples of `backtest.check_interval_ms` on the
  clock of the prints, before the grid's own checks of that print) `account_kill_switch_nb`
  runs over the total equity; when it fires every grid is stopped (`Stop.KILL_SWITCH`): all
  orders of every symbol cancelled, nothing placed until POST /api/start.

Every decision is a kernel of `gridlab.strategy.account_nb` (the portfolio backtest calls the
same ones); this module only holds the grids' state in arrays and applies the answers.
With no `portfolio` section (one grid) every limit is off: the gate always passes and the
kill switch only tracks the daily max.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from gridlab.backtest.enums import N_ACC, ORDER_DTYPE
from gridlab.backtest.gate_nb import AcctCtx
from gridlab.backtest.state_nb import GRID_STATE_DTYPE
from gridlab.strategy.account_nb import (
    account_equity_nb,
    account_kill_switch_nb,
    total_worst_notional_nb,
)
from gridlab.strategy.enums import Stop, name_of
from gridlab.strategy.risk_nb import new_kill_state

if TYPE_CHECKING:
    from live.core import TradingCore

__all__ = ["ACCOUNT_KEY", "AccountRisk"]

log = logging.getLogger("gridlab.live")

ACCOUNT_KEY = "account"
"""live_state key of the account-level state."""


class AccountRisk:
    """The account's risk state and checks over the grids `cores` (kernel index = list index)."""

    def __init__(self, capital: float, cores: list[TradingCore], *, check_ms: int,
                 max_total_exposure_pct: float = 0.0, max_symbol_share: float = 0.0,
                 kill_switch_dd: float = 0.0,
                 event: Callable[..., None] | None = None) -> None:
        self.capital = float(capital)
        self.cores = cores
        self.check_ms = int(check_ms)
        self.max_total_exposure_pct = float(max_total_exposure_pct)
        self.max_symbol_share = float(max_symbol_share)
        self.kill_switch_dd = float(kill_switch_dd)
        self.kill_state = new_kill_state()
        self.stopped: int = Stop.NONE
        self.next_check = -1
        self.last_check_ts = -1
        self.last_equity = math.nan
        self.blocked = 0
        self._event = event
        self._capitals = np.array([c.ledger.capital for c in cores], dtype=np.float64)
        self._index = {id(c): i for i, c in enumerate(cores)}
        for c in cores:
            c.account = self
        self.bind_all()

    def bind_all(self) -> None:
        """Move every grid's step state into the account's arrays (values kept) and give
        each its account context; again after a grid's state was replaced (profile change)."""
        n = len(self.cores)
        sizes = [2 * c.step.n for c in self.cores]
        ooff = np.zeros(n + 1, np.int64)
        ooff[1:] = np.cumsum(sizes, dtype=np.int64) if n else []
        gs = np.zeros(max(n, 1), GRID_STATE_DTYPE)
        acc = np.zeros((max(n, 1), N_ACC), np.float64)
        orders = np.zeros(int(ooff[n]), ORDER_DTYPE)
        scratch = [np.zeros(max(n, 1), np.float64) for _ in range(5)]
        for k, c in enumerate(self.cores):
            ax = AcctCtx(True, k, self.capital, self.max_total_exposure_pct,
                         self.max_symbol_share, gs, acc, orders, ooff, self._capitals,
                         *scratch)
            c.step.bind(gs[k:k + 1], acc[k], orders[ooff[k]:ooff[k + 1]], ax)
            c.share_ledger()

    # ---- the grids as arrays ---------------------------------------------------------------

    @property
    def limits_on(self) -> bool:
        return self.max_total_exposure_pct > 0.0 or self.max_symbol_share > 0.0

    @staticmethod
    def mark(core: TradingCore) -> float:
        """The price a grid is valued at: its last print, else its average entry (0 if flat)."""
        p = core.last_price
        return p if not math.isnan(p) else core.ledger.avg_price

    def arrays(self) -> dict[str, np.ndarray]:
        """positions, resting buy / sell qty, marks and equities of the grids."""
        n = len(self.cores)
        out = {k: np.zeros(n, dtype=np.float64) for k in ("pos", "rb", "rs", "mark", "eq")}
        for i, c in enumerate(self.cores):
            m = self.mark(c)
            rb, rs, _ = c._resting()
            out["pos"][i] = c.ledger.position
            out["rb"][i], out["rs"][i] = rb, rs
            out["mark"][i] = m
            out["eq"][i] = c.ledger.equity(m)
        return out

    def total_equity(self, arrays: dict[str, np.ndarray] | None = None) -> float:
        a = arrays if arrays is not None else self.arrays()
        return float(account_equity_nb(self.capital, a["eq"], self._capitals))

    # ---- decisions -------------------------------------------------------------------------

    def note_blocked(self, core: TradingCore, n: int = 1) -> None:
        """Count `n` orders of `core` the account limits refused (in the step's gate)."""
        self.blocked += n
        core.stats["blocked_account"] += n

    async def on_print(self, ts: int) -> None:
        """At the account check times: total equity -> the account kill switch."""
        if ts < self.next_check:
            return
        self.next_check = (ts // self.check_ms + 1) * self.check_ms
        self.last_check_ts = int(ts)
        a = self.arrays()
        eq = self.total_equity(a)
        self.last_equity = eq
        fire = bool(account_kill_switch_nb(int(ts), self.capital, a["eq"], self._capitals,
                                           self.kill_state, self.kill_switch_dd))
        if fire and self.stopped == Stop.NONE:
            await self.kill(int(ts), eq)
        self.persist()

    async def kill(self, ts: int, equity: float) -> None:
        """Stop every grid: cancel all orders of every symbol, nothing placed until a start."""
        self.stopped = Stop.KILL_SWITCH
        day_max = float(self.kill_state[1])
        dd = (day_max - equity) / day_max if day_max > 0 else math.nan
        self.persist()
        if self._event is not None:
            self._event("account_kill_switch",
                        f"account kill switch: total equity {equity:.2f} is {dd:.2%} below the "
                        f"day's max {day_max:.2f} (limit {self.kill_switch_dd:.2%}); every "
                        "grid stopped and its orders cancelled until POST /api/start",
                        "critical", {"equity": equity, "daily_max": day_max, "drawdown": dd,
                                     "ts": ts, "grids": [c.s.symbol for c in self.cores]})
        for c in self.cores:  # every grid is marked first: none places while others cancel
            if c.risk.stopped == Stop.NONE:
                c.risk.stopped = Stop.KILL_SWITCH
        for c in self.cores:
            try:
                await c.stop_trading(Stop.KILL_SWITCH, ts, c.last_price, account=True)
            except Exception as exc:  # the REST poll cancels again (TradingCore.ensure_cancelled)
                log.exception("stopping %s failed", c.s.symbol)
                c.event("error", f"account kill switch: stopping the grid failed: "
                                 f"{type(exc).__name__}: {exc}", "error")

    def reset(self) -> None:
        """Clear the account stop (POST /api/start); the daily max is kept, as per grid."""
        self.stopped = Stop.NONE

    # ---- display and persistence ------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Totals over the grids, exposure, limits and kill-switch state."""
        a = self.arrays()
        eq = self.total_equity(a)
        notional = float(np.abs(a["pos"]) @ a["mark"]) if len(self.cores) else 0.0
        worst = float(total_worst_notional_nb(a["pos"], a["rb"], a["rs"], a["mark"]))
        day_max = float(self.kill_state[1])
        tot = {k: 0.0 for k in ("realized", "unrealized", "fees", "funding", "grid_profit")}
        for c, m in zip(self.cores, a["mark"], strict=True):
            t = c.ledger.totals(float(m))
            for k in tot:
                tot[k] += t[k]
        return {
            "capital": self.capital, "equity": eq, **tot, "notional": notional,
            "worst_notional": worst,
            "exposure": notional / eq if eq > 0 else None,
            "worst_exposure": worst / eq if eq > 0 else None,
            "max_total_exposure_pct": self.max_total_exposure_pct,
            "max_symbol_share": self.max_symbol_share, "kill_switch_dd": self.kill_switch_dd,
            "daily_max": day_max if day_max > 0 else None,
            "drawdown": (day_max - eq) / day_max if day_max > 0 else None,
            "stopped": name_of(Stop, self.stopped), "blocked_orders": self.blocked,
            "n_grids": len(self.cores), "n_trading": sum(1 for c in self.cores if c.trading),
        }

    def snapshot(self) -> dict[str, Any]:
        return {"kill_state": self.kill_state.tolist(), "stopped": int(self.stopped),
                "next_check": self.next_check, "blocked": self.blocked}

    def restore(self, snap: dict[str, Any] | None) -> None:
        if not snap:
            return
        self.kill_state[:] = np.asarray(snap["kill_state"], dtype=np.float64)
        self.stopped = int(snap["stopped"])
        self.next_check = int(snap.get("next_check", -1))
        self.blocked = int(snap.get("blocked", 0))

    def persist(self) -> None:
        if self.cores:
            self.cores[0].store.put_state(ACCOUNT_KEY, self.snapshot())
