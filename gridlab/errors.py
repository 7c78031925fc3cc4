"""Exceptions. Every message says what is wrong and what to do about it."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "ExchangeError",
    "GridlabError",
    "StoreError",
    "StoreLockedError",
    "StrategyError",
]


class GridlabError(Exception):
    """Base class of every error gridlab raises on purpose."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} -> {hint}" if hint else message)


class ConfigError(GridlabError):
    """A config file, profile or parameter is invalid."""


class DataError(GridlabError):
    """Market data is missing, malformed or does not cover what was asked."""


class StoreError(GridlabError):
    """The DuckDB store cannot be opened, migrated or written."""


class StoreLockedError(StoreError):
    """Another process holds the DuckDB file."""


class StrategyError(GridlabError):
    """Strategy parameters produce no valid grid, or a strategy call is invalid."""


class ExchangeError(GridlabError):
    """Bybit (or the local exchange) refused or failed a request."""
