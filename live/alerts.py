"""Optional alerts on kill switch, errors and recenters: a webhook (JSON POST) and/or a Telegram
bot (`<telegram_url>/sendMessage`). Sending never blocks trading and never raises: a failed
alert is logged (without the URL, which may hold a token) and counted."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from gridlab.config.live import AlertsConfig
from live.redact import Redactor

__all__ = ["Alerter"]

log = logging.getLogger("gridlab.live.alerts")

_KIND_SWITCH = {"kill_switch": "on_kill_switch", "risk_stop": "on_kill_switch",
                "account_kill_switch": "on_kill_switch", "error": "on_error",
                "grid_error": "on_error", "recenter": "on_recenter"}


class Alerter:
    """Sends alerts in background tasks of the running event loop."""

    def __init__(self, config: AlertsConfig, *, runner: str = "gridlab",
                 redact: Redactor | None = None) -> None:
        self.config = config
        self.runner = runner
        self.redact = redact or Redactor()
        self.redact.add(config.webhook_url, config.telegram_url)
        self.sent = 0
        self.failed = 0
        self.suppressed = 0
        self._last: dict[tuple[str, str], float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def wants(self, kind: str) -> bool:
        """Whether alerts of `kind` are switched on (and any channel is configured)."""
        flag = _KIND_SWITCH.get(kind)
        return self.enabled and (flag is None or bool(getattr(self.config, flag)))

    def notify(self, kind: str, message: str, *, severity: str = "info",
               details: dict[str, Any] | None = None) -> bool:
        """Queue an alert (returns False when it is off or repeated too soon)."""
        if not self.wants(kind):
            return False
        key = (kind, "" if kind == "error" else message)  # errors: one alert per interval
        now = time.monotonic()
        if kind == "error" and now - self._last.get(key, -1e18) < self.config.min_interval_s:
            self.suppressed += 1
            return False
        self._last[key] = now
        payload = self.redact.clean({"runner": self.runner, "kind": kind, "severity": severity,
                                     "message": message, "details": details or {},
                                     "ts": int(time.time() * 1000)})
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        task = loop.create_task(self._send(payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _send(self, payload: dict[str, Any]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.timeout_s, trust_env=False)
        cfg = self.config
        targets: list[tuple[str, str, dict[str, Any]]] = []
        if cfg.webhook_url:
            targets.append(("webhook", cfg.webhook_url, payload))
        if cfg.telegram_url:
            text = f"[{payload['runner']}] {payload['severity'].upper()} {payload['kind']}: " \
                   f"{payload['message']}"
            targets.append(("telegram", f"{cfg.telegram_url}/sendMessage",
                            {"chat_id": cfg.telegram_chat_id, "text": text[:4000]}))
        for name, url, body in targets:
            try:
                r = await self._client.post(url, json=body)
                if r.status_code >= 400:
                    raise httpx.HTTPStatusError(f"HTTP {r.status_code}", request=r.request,
                                                response=r)
                self.sent += 1
            except httpx.HTTPError as exc:
                self.failed += 1
                log.warning("%s alert failed: %s", name, type(exc).__name__)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for queued alerts (at shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def close(self) -> None:
        await self.drain()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
