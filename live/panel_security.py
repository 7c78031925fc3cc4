"""Panel hardening: a Host allow-list against DNS rebinding, security headers, and a loud
warning when the panel listens on anything but loopback.

DNS rebinding: a web page on another site points its own host name at 127.0.0.1 and then reads
the panel from the victim's browser; the request carries that foreign name in its Host header.
So every request whose Host is not the address the panel was configured and bound to (plus
`localhost` / 127.0.0.1 / [::1] when it listens on loopback or every interface, and the names in
`live.panel.allowed_hosts`, e.g. a reverse proxy's) gets 421 before any route runs.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "SECURITY_HEADERS", "HostGuard", "allowed_hosts", "is_loopback",
           "warn_if_exposed"]

log = logging.getLogger("gridlab.live")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
"""plotly injects <style> elements (style-src 'unsafe-inline'); nothing else is inline."""

SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    """True for a loopback bind address (127.0.0.0/8, ::1, localhost)."""
    h = host.strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def _wildcard(host: str) -> bool:
    return host.strip("[]") in ("", "0.0.0.0", "::")


def allowed_hosts(host: str, port: int, extra: tuple[str, ...] | list[str] = ()) -> frozenset[str]:
    """Host header values the panel answers (lower case, with the port; without it on 80)."""
    names: list[str] = []
    if not _wildcard(host):
        names.append(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    if is_loopback(host) or _wildcard(host):
        names.extend(_LOOPBACK_NAMES)
    out: set[str] = set()
    for n in [*names, *extra]:
        n = n.lower()
        if ":" in n.rsplit("]", 1)[-1]:  # an extra entry that names its own port
            out.add(n)
            continue
        out.add(f"{n}:{port}")
        if port == 80:
            out.add(n)
    return frozenset(out)


class HostGuard:
    """ASGI middleware: refuse a foreign Host header (421) and add the security headers to
    every response. `hosts` is a callable so the port can be learned after binding (port 0)."""

    def __init__(self, app: ASGIApp, hosts: Callable[[], frozenset[str]]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = ""
        for k, v in scope.get("headers", []):
            if k == b"host":
                host = v.decode("latin-1").strip().lower()
                break

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", [])
                           if h[0].lower() not in {k for k, _ in SECURITY_HEADERS}]
                message = {**message, "headers": [*headers, *SECURITY_HEADERS]}
            await send(message)

        if host not in self.hosts():
            await _refuse(host, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


async def _refuse(host: str, send: Callable[[Message], Awaitable[None]]) -> None:
    body = (b'{"detail":"refused: the Host header does not name this panel; open it by the '
            b'address it listens on, or add the name to live.panel.allowed_hosts"}')
    log.warning("panel: refused a request for Host %r (DNS rebinding guard)", host[:100])
    await send({"type": "http.response.start", "status": 421,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def warn_if_exposed(host: str, logger: Any = log) -> str | None:
    """The warning text when `host` is not loopback (logged at WARNING), else None."""
    if is_loopback(host):
        return None
    text = (f"the control panel listens on {host or '0.0.0.0'}, not on loopback: anyone who can "
            "reach this address can read the account and, with the token, trade it. Bind it to "
            "127.0.0.1 and put a TLS reverse proxy in front (live.panel.host).")
    logger.warning("PANEL EXPOSED: %s", text)
    return text
