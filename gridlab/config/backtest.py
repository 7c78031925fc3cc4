"""Config section `backtest`: fill model, costs, latency, sampling, account equity. Owned by
gridlab.backtest.

Grid budget vs account (as on Bybit's grid bots): `trading.capital` is the grid's budget (its
investment: it sizes the orders, and the grid's own risk limits are on budget + the grid's PnL);
`account_equity` is the equity of the account the grid trades in, where a backtest's equity
curve, drawdown and total return start. Checked against the budget in `gridlab.config`.

Fees default to Bybit VIP 0 for the category (linear maker 0.02 % / taker 0.055 %, spot 0.1 %
/ 0.1 %); read your own with /v5/account/fee-rate and set them here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from gridlab.config.base import StrictModel

__all__ = ["DEFAULT_FEES", "BacktestConfig"]

DEFAULT_FEES: dict[str, tuple[float, float]] = {
    "linear": (0.0002, 0.00055),
    "inverse": (0.0002, 0.00055),
    "spot": (0.001, 0.001),
}
"""(maker, taker) fee fractions of Bybit VIP 0 per category."""


class BacktestConfig(StrictModel):
    """Backtest assumptions. See README 'Backtest assumptions' for what each fill model means."""

    source: str = Field("trades", pattern=r"^(trades|1|3|5|15|30|60|120|240|360|720|D|W)$",
                        description="replay trades tick by tick, or klines of this interval")
    fill_model: Literal["cross", "touch", "queue"] = Field(
        "cross", description="cross: price must trade through; touch: reach; queue: trades only")
    latency_ms: int = Field(0, ge=0, le=600_000,
                            description="order placement / cancel latency in ms")
    queue_ahead: float = Field(0.0, ge=0, description="queue model: base units ahead of an order")
    queue_ahead_mult: float = Field(
        1.0, ge=0, description="queue model: + this multiple of the order qty ahead of it")
    maker_fee: float | None = Field(None, ge=-0.01, le=0.01,
                                    description="fraction; None = Bybit VIP 0 for the category")
    taker_fee: float | None = Field(None, ge=0, le=0.01,
                                    description="fraction; None = Bybit VIP 0 for the category")
    slippage_bps: float = Field(0.0, ge=0, le=1000,
                                description="against market orders (seed, flatten), in bps")
    post_only: bool = Field(True, description="grid orders are PostOnly (rejected if crossing)")
    check_interval_ms: int = Field(60_000, ge=1_000, le=86_400_000,
                                   description="stop / kill-switch / recenter check interval")
    equity_ms: int = Field(3_600_000, ge=1_000, description="equity curve resolution in ms")
    funding: bool = Field(True, description="charge funding from the funding table (not spot)")
    max_gap_ms: int = Field(3_600_000, ge=1_000,
                            description="trades: a pause longer than this is reported as a gap")
    save: bool = Field(True, description="store runs in the DuckDB store (CLI)")
    account_equity: float | None = Field(
        None, gt=0, description="equity of the account the grid trades in, >= the grid budget "
        "(trading.capital); None = the budget. Backtests only: live reads it from the exchange")
    margin: Literal["off", "isolated", "cross"] = Field(
        "off", description="margin model: refuse orders the margin cannot carry (110007) and "
        "liquidate at the bankruptcy price when the mark crosses the liquidation price; "
        "leverage = trading.leverage (docs/margin.md)")
    risk_limits_symbol: str | None = Field(
        None, pattern=r"^[A-Z0-9]{2,30}$",
        description="margin: use this symbol's risk-limit tiers (default: the data's symbol; "
        "synthetic data needs one, e.g. BTCUSDT)")

    @model_validator(mode="after")
    def _latency_below_check(self) -> BacktestConfig:
        if self.latency_ms >= self.check_interval_ms:
            raise ValueError(f"latency_ms ({self.latency_ms}) must be < check_interval_ms "
                             f"({self.check_interval_ms})")
        return self

    def fees(self, category: str) -> tuple[float, float]:
        """(maker, taker) fee fractions: the configured ones, else VIP 0 for `category`."""
        maker, taker = DEFAULT_FEES.get(category, DEFAULT_FEES["linear"])
        return (maker if self.maker_fee is None else self.maker_fee,
                taker if self.taker_fee is None else self.taker_fee)
