"""Config section `portfolio`: several grids from one account, with account-level limits.

Absent (the default), gridlab trades the one grid of `trading`. Present, every entry of
`symbols` is a grid with its own profile (or the shared `profile`) and a share of `capital`;
exposure and the kill switch are judged on the whole account, as Bybit's unified account
margins it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from gridlab.config.base import StrictModel

__all__ = ["PortfolioConfig", "SymbolConfig"]


class SymbolConfig(StrictModel):
    """One grid of the portfolio."""

    symbol: str = Field(pattern=r"^[A-Z0-9]{2,30}$")
    category: Literal["linear", "spot"] = "linear"
    profile: str | None = Field(None, description="profile of this grid; None = portfolio's")
    allocation: float = Field(gt=0, le=1, description="share of portfolio capital")
    leverage: float = Field(1.0, ge=1, le=100)


class PortfolioConfig(StrictModel):
    """Grids on several symbols with shared cash and account-level risk."""

    symbols: list[SymbolConfig] = Field(min_length=1)
    capital: float = Field(gt=0, description="total capital; each grid gets allocation x it")
    profile: str | None = Field(None, description="profile shared by grids that name none")
    max_total_exposure_pct: float = Field(
        0.0, ge=0, description="sum |position| x price <= this x total equity; 0 = off")
    max_symbol_share: float = Field(
        0.0, ge=0, le=10, description="one symbol's exposure <= this x total equity; 0 = off")
    kill_switch_dd: float = Field(
        0.0, ge=0, lt=1, description="daily drawdown of total equity stopping every grid; 0 = off")

    @model_validator(mode="after")
    def _check(self) -> PortfolioConfig:
        names = [(s.symbol, s.category) for s in self.symbols]
        if len(set(names)) != len(names):
            raise ValueError("symbols: each (symbol, category) may appear once")
        total = sum(s.allocation for s in self.symbols)
        if total > 1.0 + 1e-9:
            raise ValueError(f"symbols: allocations add up to {total:.4f}, must be <= 1")
        return self
