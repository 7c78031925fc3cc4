"""Public market-data endpoints of the local exchange (a mixin of Engine) and request helpers."""

from __future__ import annotations

import threading
from typing import Any

from gridlab.bybit.constants import KLINE_INTERVALS
from gridlab.fakex.records import EngineError, InstrumentSpec, MarketState, fmt

__all__ = ["MarketDataMixin"]


def _num(p: dict[str, Any], name: str, required: bool = True) -> float | None:
    v = p.get(name)
    if v is None or v == "":
        if required:
            raise EngineError(10001, f"params error: {name} is required")
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        raise EngineError(10001, f"params error: {name} invalid") from None


def _int(p: dict[str, Any], name: str, default: int | None = None) -> int | None:
    v = p.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except (TypeError, ValueError):
        raise EngineError(10001, f"params error: {name} invalid") from None


def _limit(p: dict[str, Any], default: int, maximum: int) -> int:
    n = _int(p, "limit", default)
    assert n is not None
    if not 1 <= n <= maximum:
        raise EngineError(10001, f"params error: limit must be in [1, {maximum}]")
    return n


def _page(rows: list[Any], p: dict[str, Any], limit: int) -> tuple[list[Any], str]:
    """Offset cursor paging."""
    start = _int(p, "cursor", 0) or 0
    page = rows[start:start + limit]
    nxt = str(start + limit) if start + limit < len(rows) else ""
    return page, nxt


class MarketDataMixin:
    """/v5/market/* over the engine's markets (kline, instruments-info, tickers, ...)."""

    lock: threading.RLock
    seq: int
    instruments: dict[tuple[str, str], InstrumentSpec]
    markets: dict[tuple[str, str], MarketState]

    def now_ms(self) -> int:  # pragma: no cover - provided by Engine
        raise NotImplementedError

    def _market(self, category: str, symbol: str) -> tuple[MarketState, InstrumentSpec]:
        raise NotImplementedError  # pragma: no cover - provided by Engine

    # ---- market data -----------------------------------------------------------------------

    def klines(self, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/market/kline: the newest `limit` bars in [start, end], newest first."""
        with self.lock:
            cat, sym = p.get("category") or "linear", str(p.get("symbol") or "")
            if (cat, sym) not in self.instruments:
                raise EngineError(10001, "Not supported symbols")
            iv = str(p.get("interval") or "")
            if iv not in KLINE_INTERVALS:
                raise EngineError(10001, "Invalid period!")
            limit = _limit(p, 200, 1000)
            ks = self.markets[(cat, sym)].klines.get(iv)
            rows = ks.query(_int(p, "start"), _int(p, "end"), limit) if ks else []
            return {"category": cat, "symbol": sym, "list": rows}

    def instruments_info(self, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/market/instruments-info (unknown symbol: empty list, like Bybit)."""
        with self.lock:
            cat, sym = p.get("category"), p.get("symbol")
            if cat not in ("linear", "spot"):
                raise EngineError(10001, "params error: category invalid")
            rows = [i.to_bybit() for (c, s), i in sorted(self.instruments.items())
                    if c == cat and (not sym or s == sym)]
            page, nxt = _page(rows, p, _limit(p, 500, 1000))
            return {"category": cat, "list": page, "nextPageCursor": nxt}

    def tickers(self, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/market/tickers."""
        with self.lock:
            cat, sym = p.get("category"), p.get("symbol")
            if sym and (cat, sym) not in self.instruments:
                raise EngineError(10001, "Not supported symbols")
            ts = self.now_ms()
            rows = [{k: v for k, v in m.ticker(
                ts, self.instruments[(c, s)].funding_interval_min).items() if k != "ts"}
                    for (c, s), m in sorted(self.markets.items())
                    if c == cat and (not sym or s == sym)]
            return {"category": cat, "list": rows}

    def ticker_snapshot(self, category: str, symbol: str) -> dict[str, Any] | None:
        """A tickers.{symbol} stream snapshot message (None for an unknown symbol)."""
        with self.lock:
            m = self.markets.get((category, symbol))
            if m is None:
                return None
            ts = self.now_ms()
            iv = self.instruments[(category, symbol)].funding_interval_min
            return {"topic": f"tickers.{symbol}", "type": "snapshot", "cs": self.seq, "ts": ts,
                    "data": {k: v for k, v in m.ticker(ts, iv).items() if k != "ts"}}

    def recent_trades(self, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/market/recent-trade: newest first."""
        with self.lock:
            cat, sym = p.get("category") or "linear", str(p.get("symbol") or "")
            m, _ = self._market(cat, sym)
            limit = _limit(p, 500 if cat == "linear" else 60, 1000 if cat == "linear" else 60)
            rows = list(m.trades)[-limit:][::-1]
            return {"category": cat, "list": rows}

    def funding_history(self, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/market/funding/history: newest `limit` in range, newest first."""
        with self.lock:
            sym = str(p.get("symbol") or "")
            if p.get("category") != "linear":
                raise EngineError(10001, "params error: category only support linear")
            m, _ = self._market("linear", sym)
            start, end = _int(p, "startTime"), _int(p, "endTime")
            if start is not None and end is None:
                raise EngineError(10001, "params error: endTime is required with startTime")
            limit = _limit(p, 200, 200)
            rows = [(t, r) for t, r in m.funding_history
                    if (start is None or t >= start) and (end is None or t <= end)][-limit:]
            return {"category": "linear", "list": [
                {"symbol": sym, "fundingRate": fmt(r), "fundingRateTimestamp": str(t)}
                for t, r in reversed(rows)]}
