"""Config section `exchange`: which Bybit (or local exchange) to talk to. Owned by the adapter."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from gridlab.config.base import StrictModel

__all__ = ["REST_URLS", "WS_PRIVATE_URLS", "WS_PUBLIC_URLS", "ExchangeConfig", "RateLimitConfig",
           "RetryConfig"]

# Bybit base URLs per env (the config names the venue; gridlab.bybit re-exports these, so the
# import goes bybit -> config only).
REST_URLS: dict[str, str] = {
    "mainnet": "https://api.bybit.com",
    "testnet": "https://api-testnet.bybit.com",
    "demo": "https://api-demo.bybit.com",
    "local": "http://127.0.0.1:8765",
}
# Public stream bases (append "/{channel}"); demo trading uses mainnet's public streams.
WS_PUBLIC_URLS: dict[str, str] = {
    "mainnet": "wss://stream.bybit.com/v5/public",
    "testnet": "wss://stream-testnet.bybit.com/v5/public",
    "demo": "wss://stream.bybit.com/v5/public",
    "local": "ws://127.0.0.1:8765/v5/public",
}
WS_PRIVATE_URLS: dict[str, str] = {
    "mainnet": "wss://stream.bybit.com/v5/private",
    "testnet": "wss://stream-testnet.bybit.com/v5/private",
    "demo": "wss://stream-demo.bybit.com/v5/private",
    "local": "ws://127.0.0.1:8765/v5/private",
}

Env = Literal["mainnet", "testnet", "demo", "local"]

class RateLimitConfig(StrictModel):
    """Client-side limits, requests per rolling second per endpoint class (0 = unlimited).

    `batch` counts orders: a create/amend/cancel-batch request of n orders weighs n (Bybit's
    rule), and no batch request carries more orders than this."""

    market: float = Field(10.0, ge=0)
    order: float = Field(10.0, ge=0)
    batch: float = Field(10.0, ge=0)
    position: float = Field(10.0, ge=0)
    account: float = Field(10.0, ge=0)
    burst: int = Field(0, ge=0)  # 0 = rolling one-second window; > 0 = token bucket of that size


class RetryConfig(StrictModel):
    """Retries of network errors, HTTP 5xx, timeouts and 10006: exponential backoff + jitter."""

    max_attempts: int = Field(5, ge=1, le=50)
    backoff_base: float = Field(0.5, ge=0)  # first wait, seconds; doubles each attempt
    backoff_cap: float = Field(10.0, ge=0)  # longest single wait, seconds
    jitter: float = Field(0.5, ge=0)  # up to this many seconds added at random


class ExchangeConfig(StrictModel):
    """Bybit environment. API keys are never here: they come from the environment or .env."""

    env: Env = "local"
    endpoint: str | None = None  # overrides the env's REST base URL (the local exchange)
    ws_public: str | None = None  # public stream base, e.g. ws://127.0.0.1:8765/v5/public
    ws_private: str | None = None  # private stream URL, e.g. ws://127.0.0.1:8765/v5/private
    recv_window: int = Field(5000, gt=0, le=60_000)
    timeout: float = Field(10.0, gt=0)  # seconds per HTTP request
    rate_limits: RateLimitConfig = Field(default_factory=RateLimitConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    ip_ban_wait_s: float = Field(600.0, ge=0)
    """after HTTP 403 (IP rate limit) send nothing for this long: Bybit says >= 10 minutes"""

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/") if v else v

    @field_validator("ws_public", "ws_private")
    @classmethod
    def _check_ws(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _check_paths(self) -> ExchangeConfig:
        if self.ws_public is not None and "/v5/public" not in self.ws_public:
            raise ValueError("ws_public must contain /v5/public (pybit checks the path)")
        if self.ws_private is not None and not self.ws_private.endswith("/private"):
            raise ValueError("ws_private must end in /private (pybit checks the path)")
        return self

    def rest_url(self) -> str:
        """REST base URL: `endpoint` if set, else the env's."""
        return self.endpoint or REST_URLS[self.env]

    def ws_public_url(self, channel: str = "linear") -> str:
        """Public stream URL for a channel (linear, spot, ...)."""
        if self.ws_public:
            return f"{self.ws_public}/{channel}"
        if self.env == "local":
            return f"{_http_to_ws(self.rest_url())}/v5/public/{channel}"
        return f"{WS_PUBLIC_URLS[self.env]}/{channel}"

    def ws_private_url(self) -> str:
        """Private stream URL."""
        if self.ws_private:
            return self.ws_private
        if self.env == "local":
            return f"{_http_to_ws(self.rest_url())}/v5/private"
        return WS_PRIVATE_URLS[self.env]


def _http_to_ws(url: str) -> str:
    return "wss://" + url[len("https://"):] if url.startswith("https://") else (
        "ws://" + url[len("http://"):])
