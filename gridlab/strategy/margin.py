"""Risk-limit tiers of an instrument and the Python face of the margin kernels.

`RiskTiers` holds one instrument's tier table as the arrays `margin_nb` takes; it is built
from rows shaped like Bybit's /v5/market/risk-limit `result.list` (strings, as the API sends
them), sorted by riskLimitValue, with a blank or missing mmDeduction derived by Bybit's
formula. A shipped snapshot (`snapshots/risk_limits.json`, dated) serves offline use and
tests; its values are illustrative where its `source` says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from gridlab.errors import DataError
from gridlab.strategy.margin_nb import (
    bankruptcy_price_nb,
    initial_margin_nb,
    liq_price_nb,
    maintenance_margin_nb,
    mm_deductions_nb,
)

__all__ = ["RiskTiers", "liquidation_price", "snapshot_info", "snapshot_tiers"]


def _num(row: dict[str, Any], key: str, symbol: str, i: int) -> float:
    raw = row.get(key)
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise DataError(f"risk-limit tier {i + 1} of {symbol}: {key}={raw!r} is not a number",
                        "fetch the table again from /v5/market/risk-limit") from None
    if not math.isfinite(x) or x < 0.0:
        raise DataError(f"risk-limit tier {i + 1} of {symbol}: {key}={raw!r} must be a finite "
                        "number >= 0", "fetch the table again from /v5/market/risk-limit")
    return x


@dataclass(frozen=True)
class RiskTiers:
    """One instrument's risk-limit tiers, ascending by `limit` (riskLimitValue, USDT)."""

    symbol: str
    limit: np.ndarray
    mmr: np.ndarray
    imr: np.ndarray
    mmd: np.ndarray
    max_lev: np.ndarray

    @classmethod
    def from_bybit(cls, symbol: str, rows: list[dict[str, Any]]) -> RiskTiers:
        """Build from /v5/market/risk-limit rows of one symbol (any order)."""
        rows = [r for r in rows if r.get("symbol", symbol) == symbol]
        if not rows:
            raise DataError(f"no risk-limit tiers for {symbol}",
                            "ingest them from Bybit (/v5/market/risk-limit) or use a symbol of "
                            "the shipped snapshot")
        parsed = sorted(
            ((_num(r, "riskLimitValue", symbol, i), _num(r, "maintenanceMargin", symbol, i),
              _num(r, "initialMargin", symbol, i), _num(r, "maxLeverage", symbol, i),
              None if r.get("mmDeduction") in (None, "") else _num(r, "mmDeduction", symbol, i))
             for i, r in enumerate(rows)),
            key=lambda t: t[0])
        limit = np.array([p[0] for p in parsed])
        mmr = np.array([p[1] for p in parsed])
        if np.any(np.diff(limit) <= 0.0):
            raise DataError(f"risk-limit tiers of {symbol}: two tiers share a riskLimitValue",
                            "fetch the table again from /v5/market/risk-limit")
        if np.any(mmr >= 1.0):
            raise DataError(f"risk-limit tiers of {symbol}: a maintenanceMargin rate is >= 100 %",
                            "rates are fractions (0.005 = 0.5 %)")
        derived = mm_deductions_nb(limit, mmr)
        mmd = np.array([derived[i] if p[4] is None else p[4] for i, p in enumerate(parsed)])
        return cls(symbol, limit, mmr, np.array([p[2] for p in parsed]), mmd,
                   np.array([p[3] for p in parsed]))

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(limit, mmr, mmd): the arguments the margin kernels take."""
        return self.limit, self.mmr, self.mmd

    def maintenance_margin(self, value: float) -> float:
        """Maintenance margin of a position of notional `value` USDT."""
        return float(maintenance_margin_nb(value, *self.arrays))


@lru_cache(maxsize=1)
def _snapshot() -> dict[str, Any]:
    text = resources.files("gridlab.strategy").joinpath("snapshots/risk_limits.json").read_text()
    return json.loads(text)


def snapshot_info() -> dict[str, str]:
    """The shipped snapshot's date, category and source note."""
    snap = _snapshot()
    return {"as_of": snap["as_of"], "category": snap["category"], "source": snap["source"]}


def snapshot_tiers(symbol: str) -> RiskTiers:
    """The shipped snapshot's tiers of `symbol`."""
    rows = _snapshot()["symbols"].get(symbol)
    if rows is None:
        known = ", ".join(sorted(_snapshot()["symbols"]))
        raise DataError(f"the shipped risk-limit snapshot has no {symbol} (it has {known})",
                        "ingest the symbol's tiers from Bybit (/v5/market/risk-limit)")
    return RiskTiers.from_bybit(symbol, rows)


def liquidation_price(side: int, size: float, entry: float, leverage: float, tiers: RiskTiers,
                      *, balance: float | None = None, extra_margin: float = 0.0
                      ) -> dict[str, float]:
    """Liquidation and bankruptcy price of a position (side +1 long / -1 short, size > 0).

    Isolated (default): backed by IM + `extra_margin`; cross: backed by `balance`, the wallet
    balance available to the position. Returns liq_price, bankruptcy_price, im, mm.
    """
    value = size * entry
    im = float(initial_margin_nb(value, leverage))
    margin = im + extra_margin if balance is None else balance
    return {
        "liq_price": float(liq_price_nb(side, size, entry, margin, *tiers.arrays)),
        "bankruptcy_price": float(bankruptcy_price_nb(side, size, entry, margin)),
        "im": im,
        "mm": float(maintenance_margin_nb(value, *tiers.arrays)),
    }
