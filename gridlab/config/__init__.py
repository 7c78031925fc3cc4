"""One typed config.yaml schema for backtest and live.

Sections live in their own modules (one owner each); this module assembles them and loads YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from gridlab.config.backtest import BacktestConfig
from gridlab.config.base import StrictModel, config_error_from
from gridlab.config.data import DataConfig
from gridlab.config.exchange import ExchangeConfig
from gridlab.config.live import LiveConfig
from gridlab.config.portfolio import PortfolioConfig
from gridlab.config.strategy import GridConfig, ProfileConfig, RecenterConfig, RiskConfig
from gridlab.config.trading import TradingConfig
from gridlab.errors import ConfigError

__all__ = ["GridlabConfig", "config_from_dict", "load_config"]


class GridlabConfig(StrictModel):
    """The whole config.yaml."""

    data: DataConfig = Field(default_factory=DataConfig)
    exchange: ExchangeConfig = Field(default_factory=ExchangeConfig)
    trading: TradingConfig = Field(default_factory=TradingConfig)
    portfolio: PortfolioConfig | None = None  # several grids from one account (optional)
    grid: GridConfig = Field(default_factory=GridConfig)
    recenter: RecenterConfig = Field(default_factory=RecenterConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    profile: str | None = "Normal"  # active profile (built-in or user); None = the sections as-is
    profiles: dict[str, ProfileConfig] = Field(default_factory=dict)  # user profiles by name
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)

    @model_validator(mode="after")
    def _account_covers_budget(self) -> GridlabConfig:
        acct = self.backtest.account_equity
        if acct is None:
            return self
        if self.portfolio is not None:
            if acct != self.portfolio.capital:
                raise ValueError(
                    f"backtest.account_equity ({acct:g}) cannot differ from portfolio.capital "
                    f"({self.portfolio.capital:g}): a portfolio's account is portfolio.capital "
                    "and each grid's budget is its allocation x it; leave account_equity unset")
            return self
        if acct < self.trading.capital:
            raise ValueError(
                f"backtest.account_equity ({acct:g}) must be >= the grid budget "
                f"trading.capital ({self.trading.capital:g}): a grid cannot invest more than "
                "the account holds")
        return self

    def grid_budget(self) -> float:
        """What sizes the grid(s): trading.capital, or portfolio.capital for a portfolio."""
        return float(self.portfolio.capital if self.portfolio else self.trading.capital)

    def account_equity(self) -> float:
        """The account equity a backtest starts from: backtest.account_equity, else the budget."""
        acct = self.backtest.account_equity
        return self.grid_budget() if acct is None else float(acct)


def config_from_dict(raw: dict[str, Any], source: str = "<dict>") -> GridlabConfig:
    """Validate a plain dict; errors name the field."""
    try:
        return GridlabConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error_from(exc, source) from None


def load_config(path: str | Path) -> GridlabConfig:
    """Load and validate config.yaml. A missing or malformed file gets a ConfigError."""
    import yaml  # only to read a file: the built-in defaults need none

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist",
                          "copy config.example.yaml to config.yaml or pass --config")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}".replace("\n", " "),
                          "fix the YAML syntax at the line shown") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections",
                          "see config.example.yaml")
    return config_from_dict(raw, str(path))
