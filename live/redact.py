"""Keep secrets out of logs, the live store, API responses and pages."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

__all__ = ["MASK", "Redactor"]

MASK = "***"


class Redactor(logging.Filter):
    """Replaces every known secret value in text (and in log records passing a handler)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Register more secret values (empty and very short values are ignored)."""
        for s in secrets:
            if s and len(s) >= 4 and s not in self._secrets:
                self._secrets.append(s)
        self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: Any) -> str:
        out = str(text)
        for s in self._secrets:
            if s in out:
                out = out.replace(s, MASK)
        return out

    def clean(self, obj: Any) -> Any:
        """A copy of a JSON-like structure with secrets masked in every string."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, dict):
            return {k: self.clean(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.clean(v) for v in obj]
        return obj

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            msg = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.msg, record.args = self(msg), None
            if record.exc_text:
                record.exc_text = self(record.exc_text)
        return True

    def install(self, logger: logging.Logger | None = None) -> None:
        """Attach to every handler of `logger` (default: the root logger)."""
        for h in (logger or logging.getLogger()).handlers:
            if self not in h.filters:
                h.addFilter(self)

    def uninstall(self, logger: logging.Logger | None = None) -> None:
        """Detach from the handlers of `logger` (default: the root logger)."""
        for h in (logger or logging.getLogger()).handlers:
            if self in h.filters:
                h.removeFilter(self)
