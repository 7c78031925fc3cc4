"""Config section `exchange`: which Bybit (or local exchange) to talk to. Owned by the adapter."""

from __future__ import annotations

from typing import Literal

from gridlab.config.base import StrictModel

__all__ = ["ExchangeConfig"]


class ExchangeConfig(StrictModel):
    """Bybit environment. API keys are never here: they come from the environment or .env."""

    env: Literal["mainnet", "testnet", "demo", "local"] = "local"
    endpoint: str | None = None  # overrides the env's REST base URL (the local exchange)
    recv_window: int = 5000
