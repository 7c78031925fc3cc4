"""Config section `backtest`: fill model, costs, latency. Owned by gridlab.backtest."""

from __future__ import annotations

from gridlab.config.base import StrictModel

__all__ = ["BacktestConfig"]


class BacktestConfig(StrictModel):
    """Backtest assumptions (placeholder until the backtest issue fills it)."""
