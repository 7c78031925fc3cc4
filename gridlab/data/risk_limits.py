"""Risk-limit tiers: ingested from Bybit into the store, or the shipped snapshot offline."""

from __future__ import annotations

import math
import time
from typing import Protocol

import pandas as pd

from gridlab.bybit.parse import RiskLimitTier
from gridlab.store.core import Store
from gridlab.store.risk_limits import get_risk_limits, replace_risk_limits
from gridlab.strategy.margin import RiskTiers, snapshot_info, snapshot_tiers

__all__ = ["ingest_risk_limits", "risk_tiers"]


class _TierSource(Protocol):
    def get_risk_limits(self, symbol: str) -> list[RiskLimitTier]: ...


def ingest_risk_limits(store: Store, client: _TierSource, symbols: list[str],
                       category: str = "linear") -> dict[str, int]:
    """Fetch each symbol's tiers and replace the stored ones (one transaction per symbol);
    returns tiers stored per symbol. A malformed table is refused before anything is written."""
    out: dict[str, int] = {}
    now = int(time.time() * 1000)
    for symbol in symbols:
        raw = client.get_risk_limits(symbol)
        tiers = RiskTiers.from_rows(symbol, [
            {"risk_limit_value": t.risk_limit_value, "mmr": t.mmr, "imr": t.imr,
             "max_leverage": t.max_leverage,
             "mm_deduction": None if math.isnan(t.mm_deduction) else t.mm_deduction}
            for t in raw])
        frame = pd.DataFrame(tiers.rows()).assign(fetched_at=now)
        out[symbol] = replace_risk_limits(store, symbol, category, frame)
    return out


def risk_tiers(store: Store | None, symbol: str, category: str = "linear"
               ) -> tuple[RiskTiers, str]:
    """The tiers of `symbol` and where they come from: the store when it has them, else the
    shipped snapshot (the source string names its date)."""
    if store is not None:
        df = get_risk_limits(store, symbol, category)
        if not df.empty:
            fetched = pd.Timestamp(int(df["fetched_at"].max()), unit="ms", tz="UTC")
            return (RiskTiers.from_rows(symbol, df.to_dict("records")),
                    f"store (fetched {fetched.isoformat()})")
    info = snapshot_info()
    return snapshot_tiers(symbol), f"shipped snapshot of {info['as_of']} (illustrative)"
