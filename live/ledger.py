"""The runner's own account of its fills: position, average entry, realized PnL, fees, funding.

It books fills with the backtest's accounting kernels (`gridlab.backtest.ledger_nb`), so the
strategy equity the risk checks see live is computed exactly as in a backtest:
`capital + realized + position * (mark - avg) - fees - funding`. The exchange wallet is
recorded beside it in the equity snapshots, but risk decisions use this ledger: the grid owns
`trading.capital`, not the whole account.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gridlab.backtest.enums import ACC, N_ACC
from gridlab.backtest.ledger_nb import apply_fill_nb, apply_funding_nb, equity_nb, unrealized_nb

__all__ = ["Ledger"]


class Ledger:
    """Accounting state vector `acc` (indices `gridlab.backtest.enums.ACC`)."""

    def __init__(self, capital: float, qty_step: float) -> None:
        self.capital = float(capital)
        self.acc = np.zeros(N_ACC, dtype=np.float64)
        self.acc[ACC.CASH] = self.capital
        self.eps = qty_step * 1e-6 if qty_step > 0 else 1e-12

    @property
    def position(self) -> float:
        return float(self.acc[ACC.POS])

    @property
    def avg_price(self) -> float:
        return float(self.acc[ACC.AVG])

    def apply_fill(self, side: int, qty: float, price: float, fee_rate: float) -> float:
        """Book one fill; returns the fee."""
        return float(apply_fill_nb(self.acc, int(side), float(qty), float(price),
                                   float(fee_rate), self.eps))

    def apply_funding(self, mark: float, rate: float) -> float:
        """Book a funding settlement of the ledger position; returns the amount paid."""
        return float(apply_funding_nb(self.acc, float(mark), float(rate)))

    def equity(self, mark: float) -> float:
        """Strategy equity at `mark`."""
        return float(equity_nb(self.acc, self.capital, float(mark)))

    def unrealized(self, mark: float) -> float:
        return float(unrealized_nb(self.acc, float(mark)))

    def totals(self, mark: float) -> dict[str, float]:
        """Position, realized, unrealized, fees, funding, grid profit, equity at `mark`."""
        a = self.acc
        return {"position": float(a[ACC.POS]), "avg_price": float(a[ACC.AVG]),
                "realized": float(a[ACC.REALIZED]), "unrealized": self.unrealized(mark),
                "fees": float(a[ACC.FEES]), "funding": float(a[ACC.FUNDING]),
                "grid_profit": float(a[ACC.GRID]), "turnover": float(a[ACC.TURNOVER]),
                "equity": self.equity(mark)}

    def add_grid_profit(self, profit: float) -> None:
        self.acc[ACC.GRID] += float(profit)

    def snapshot(self) -> dict[str, Any]:
        return {"capital": self.capital, "acc": self.acc.tolist()}

    def restore(self, snap: dict[str, Any]) -> None:
        self.capital = float(snap["capital"])
        self.acc[:] = np.asarray(snap["acc"], dtype=np.float64)
