"""Config section `trading`: what is traded with how much."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gridlab.config.base import StrictModel

__all__ = ["TradingConfig"]


class TradingConfig(StrictModel):
    """Symbol, market, capital and leverage of one grid."""

    symbol: str = Field("BTCUSDT", pattern=r"^[A-Z0-9]{2,30}$")
    category: Literal["linear", "spot"] = "linear"
    capital: float = Field(1000.0, gt=0)
    leverage: float = Field(1.0, ge=1, le=100)
