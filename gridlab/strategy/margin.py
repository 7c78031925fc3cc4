"""Risk-limit tiers of an instrument and the Python face of the margin kernels.

`RiskTiers` holds one instrument's tier table as the arrays `margin_nb` takes; it is built
from tier rows (TIER_FIELDS: what the adapter parses from /v5/market/risk-limit, the store
holds, and the snapshot ships), sorted by risk limit value, with a missing mm_deduction
derived by Bybit's formula. A shipped snapshot (`snapshots/risk_limits.json`, dated) serves
offline use and tests; its values are illustrative where its `source` says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
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

__all__ = ["TIER_FIELDS", "RiskTiers", "grid_liquidation", "liquidation_price", "snapshot_info",
           "snapshot_tiers"]


TIER_FIELDS = ("tier", "risk_limit_value", "mmr", "imr", "max_leverage", "mm_deduction")


def _num(row: Mapping[str, Any], key: str, symbol: str, i: int, *,
         blank_ok: bool = False) -> float:
    raw = row.get(key)
    if blank_ok and (raw is None or (isinstance(raw, float) and math.isnan(raw))):
        return math.nan
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise DataError(f"risk-limit tier {i + 1} of {symbol}: {key}={raw!r} is not a number",
                        "fetch the tiers again (gridlab ingest risk-limits)") from None
    if not math.isfinite(x) or x < 0.0:
        raise DataError(f"risk-limit tier {i + 1} of {symbol}: {key}={raw!r} must be a finite "
                        "number >= 0", "fetch the tiers again (gridlab ingest risk-limits)")
    return x


@dataclass(frozen=True)
class RiskTiers:
    """One instrument's risk-limit tiers, ascending by `limit` (risk limit value, USDT)."""

    symbol: str
    limit: np.ndarray
    mmr: np.ndarray
    imr: np.ndarray
    mmd: np.ndarray
    max_lev: np.ndarray

    @classmethod
    def from_rows(cls, symbol: str, rows: Iterable[Mapping[str, Any]]) -> RiskTiers:
        """Build from tier rows (keys TIER_FIELDS, any order; mm_deduction None/nan = derive
        it with Bybit's formula). Refuses an empty, duplicated or out-of-range table."""
        rows = list(rows)
        if not rows:
            raise DataError(f"no risk-limit tiers for {symbol}",
                            "run `gridlab ingest risk-limits --symbol " + symbol + "` or use a "
                            "symbol of the shipped snapshot")
        parsed = sorted(
            ((_num(r, "risk_limit_value", symbol, i), _num(r, "mmr", symbol, i),
              _num(r, "imr", symbol, i), _num(r, "max_leverage", symbol, i),
              _num(r, "mm_deduction", symbol, i, blank_ok=True))
             for i, r in enumerate(rows)),
            key=lambda t: t[0])
        limit = np.array([p[0] for p in parsed])
        mmr = np.array([p[1] for p in parsed])
        if np.any(np.diff(limit) <= 0.0):
            raise DataError(f"risk-limit tiers of {symbol}: two tiers share a risk limit value",
                            "fetch the tiers again (gridlab ingest risk-limits)")
        if np.any(mmr >= 1.0):
            raise DataError(f"risk-limit tiers of {symbol}: a maintenance margin rate is >= 100 %",
                            "rates are fractions (0.005 = 0.5 %)")
        derived = mm_deductions_nb(limit, mmr)
        mmd = np.array([derived[i] if math.isnan(p[4]) else p[4] for i, p in enumerate(parsed)])
        return cls(symbol, limit, mmr, np.array([p[2] for p in parsed]), mmd,
                   np.array([p[3] for p in parsed]))

    def rows(self) -> list[dict[str, float]]:
        """The tiers as rows of TIER_FIELDS (tier numbered from 1), e.g. to store them."""
        return [{"tier": i + 1, "risk_limit_value": float(self.limit[i]),
                 "mmr": float(self.mmr[i]), "imr": float(self.imr[i]),
                 "max_leverage": float(self.max_lev[i]), "mm_deduction": float(self.mmd[i])}
                for i in range(self.limit.shape[0])]

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
    return RiskTiers.from_rows(symbol, rows)


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


def _worst_position(seed: float, centre: float, fills: list[tuple[float, float]]
                    ) -> tuple[float, float]:
    """(signed size, average entry) after the seed at `centre` and `fills` (signed qty,
    price) in order, average-cost."""
    pos, avg = seed, centre if seed != 0.0 else 0.0
    for q, px in fills:
        new = pos + q
        if pos == 0.0 or (pos > 0.0) == (q > 0.0):
            avg = (avg * abs(pos) + abs(q) * px) / abs(new)
        elif (new > 0.0) != (pos > 0.0) and new != 0.0:
            avg = px
        pos = new
    return pos, avg


def grid_liquidation(orders: Iterable[tuple[int, float, float]], seed: float, centre: float,
                     capital: float, leverage: float, tiers: RiskTiers, margin: str
                     ) -> list[dict[str, float]]:
    """Liquidation prices of a grid's worst cases: every buy order (side +1, price, qty)
    filled as the price falls, every sell filled as it rises, after the seed (LONG > 0, SHORT
    < 0) bought at `centre`. `margin` isolated (the position's IM) or cross (the capital backs
    it; fees and funding not counted). One row per worst case with a position: side, size,
    entry, liq_price, bankruptcy_price, distance (liq / centre - 1)."""
    orders = list(orders)
    out = []
    for side in (1, -1):
        legs = sorted(((s * q, px) for s, px, q in orders if s == side),
                      key=lambda t: -side * t[1])
        pos, avg = _worst_position(seed, centre, legs)
        if pos == 0.0 or (pos > 0.0) != (side > 0):
            continue
        r = liquidation_price(side, abs(pos), avg, leverage, tiers,
                              balance=capital if margin == "cross" else None)
        out.append({"side": side, "size": abs(pos), "entry": avg, **r,
                    "distance": r["liq_price"] / centre - 1.0})
    return out
