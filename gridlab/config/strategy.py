"""Config sections `grid`, `recenter`, `risk` and the profile system. Owned by gridlab.strategy."""

from __future__ import annotations

from gridlab.config.base import StrictModel

__all__ = ["GridConfig", "RecenterConfig", "RiskConfig"]


class GridConfig(StrictModel):
    """Grid shape (placeholder until the strategy issue fills it)."""


class RecenterConfig(StrictModel):
    """Recenter triggers (placeholder)."""


class RiskConfig(StrictModel):
    """Risk limits (placeholder)."""
