"""Config section `live`: the live runner's intervals, storage, control panel and alerts.

Secrets never live here: the panel token is read from the environment variable named by
`panel.token_env`; alert URLs that embed a token (Telegram bot URLs, chat webhooks) are kept
out of logs, the live store, API responses and pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gridlab.config.base import StrictModel

__all__ = ["REMOVED_CLOCKS", "AlertsConfig", "LiveConfig", "PanelConfig"]


class PanelConfig(StrictModel):
    """The control panel (FastAPI, inside the runner process)."""

    enabled: bool = True
    host: str = Field("127.0.0.1", description="bind address; keep loopback unless proxied")
    port: int = Field(8000, ge=0, le=65535, description="0 = any free port")
    token_env: str = Field("GRIDLAB_PANEL_TOKEN", pattern=r"^[A-Z_][A-Z0-9_]{0,63}$",
                           description="environment variable holding the bearer token")
    refresh_s: float = Field(5.0, ge=1, le=3600, description="page auto-refresh interval")
    allowed_hosts: tuple[str, ...] = Field(
        (), description="extra Host header names the panel answers (a reverse proxy's); "
                        "others get 421 (DNS rebinding guard)")

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for h in v:
            if not h or any(c in h for c in "/ @\t") or h.startswith(("http:", "https:")):
                raise ValueError(f"{h!r} is not a host name (e.g. panel.example.com or "
                                 "panel.example.com:443)")
        return tuple(h.lower() for h in v)


class AlertsConfig(StrictModel):
    """Optional alerts: a webhook (JSON POST) and/or a Telegram bot. Both off when unset."""

    webhook_url: str | None = Field(None, repr=False,
                                     description="POST {kind, severity, message, ...}")
    telegram_url: str | None = Field(
        None, repr=False, description="bot base URL https://api.telegram.org/bot<TOKEN> (a secret)")
    telegram_chat_id: str | None = None
    on_kill_switch: bool = True
    on_error: bool = True
    on_recenter: bool = True
    timeout_s: float = Field(5.0, gt=0, le=60)
    min_interval_s: float = Field(60.0, ge=0,
                                  description="at most one error alert per this many seconds")

    @field_validator("webhook_url", "telegram_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _telegram_pair(self) -> AlertsConfig:
        if (self.telegram_url is None) != (self.telegram_chat_id is None):
            raise ValueError("telegram_url and telegram_chat_id go together")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url or self.telegram_url)


REMOVED_CLOCKS = ("grid_check_s", "risk_check_s")
"""Former live check intervals: the strategy now checks on one clock,
`backtest.check_interval_ms`, in the backtest and live."""


class LiveConfig(StrictModel):
    """Live runner. Intervals in seconds. The strategy's check clock (stops, kill switch,
    recenter, blocked orders) is not here: it is `backtest.check_interval_ms`, the one clock
    of the backtest and the live runner."""

    order_poll_s: float = Field(5.0, gt=0, le=3600,
                                description="REST executions/orders poll (the WS fallback)")
    snapshot_s: float = Field(300.0, gt=0, le=86_400, description="equity/position snapshots")
    export_s: float = Field(5.0, gt=0, le=3600, description="Parquet mirror refresh")
    fill_wait_s: float = Field(
        0.5, ge=0, le=60,
        description="a fill waits at most this long for its market print before it is applied")
    on_shutdown: Literal["leave", "cancel"] = Field(
        "leave", description="on SIGTERM/SIGINT: leave the orders resting (a restart adopts "
                             "them) or cancel them")
    data_dir: Path = Field(Path("data/live"), description="live DuckDB files and Parquet mirrors")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,60}$",
                             description="live store name; default <symbol>-<category>, or "
                                         "'portfolio' with a portfolio section")
    link_prefix: str = Field("gl", pattern=r"^[a-z]{1,4}$",
                             description="orderLinkId prefix of the runner's orders")
    ws: bool = Field(True, description="use the WebSocket streams (the REST poll always runs)")
    amend: bool = Field(True, description="a recenter moves the resting orders by amend "
                                          "(amend-batch) instead of cancel-all + create-batch")
    symbol_error_limit: int = Field(
        5, ge=0, le=1000,
        description="refused orders or failed steps in a row that put one grid in its error "
                    "state (orders cancelled, the other grids keep trading); 0 = never")
    panel: PanelConfig = Field(default_factory=PanelConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    @model_validator(mode="before")
    @classmethod
    def _one_clock(cls, data: Any) -> Any:
        if isinstance(data, dict):
            old = [k for k in REMOVED_CLOCKS if k in data]
            if old:
                raise ValueError(
                    f"{' and '.join('live.' + k for k in old)} no longer exist: the strategy "
                    "checks (stops, kill switch, recenter) run on one clock in the backtest and "
                    "live; set backtest.check_interval_ms (milliseconds) instead")
        return data
