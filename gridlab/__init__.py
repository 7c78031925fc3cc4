"""gridlab: research-to-production grid trading on Bybit."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
