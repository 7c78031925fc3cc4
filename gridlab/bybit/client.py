"""BybitClient: the project's one REST door to Bybit v5 (typed calls for one category).

Built in layers: `transport` (pybit session, limits, retries, errors), `orders` (single-order
calls), `batch` (create/amend/cancel-batch); this module adds market data, the account,
positions and leverage. Only gridlab.bybit imports pybit; this module re-exports pybit's
WebSocket as `PybitWebSocket` for gridlab.bybit.ws.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from pybit.unified_trading import WebSocket as PybitWebSocket

from gridlab.bybit.batch import BatchMethods
from gridlab.bybit.errors import BybitError, InvalidParameter
from gridlab.bybit.parse import (
    FeeRate,
    FundingRate,
    Instrument,
    Kline,
    Position,
    PublicTrade,
    RiskLimitTier,
    Ticker,
    Wallet,
    parse_fee_rate,
    parse_funding,
    parse_instrument,
    parse_klines,
    parse_position,
    parse_price_klines,
    parse_public_trade,
    parse_risk_limit,
    parse_ticker,
    parse_wallet,
)
from gridlab.bybit.results import LeverageResult
from gridlab.bybit.taxonomy import Action
from gridlab.bybit.transport import format_number, new_order_link_id

__all__ = ["BybitClient", "PybitWebSocket", "format_number", "new_order_link_id"]

log = logging.getLogger("gridlab.bybit")


class BybitClient(BatchMethods):
    """Typed Bybit v5 REST calls for one category ("linear" or "spot").

    Every call waits for its endpoint class's rolling-window limit, retries what the error
    taxonomy (gridlab.bybit.taxonomy) calls retry, and returns gridlab types. Orders are
    placed idempotently by orderLinkId, singly or in batches.
    """

    # ---- market ----------------------------------------------------------------------------

    def get_server_time(self) -> int:
        """Exchange time, epoch ms."""
        body = self._request("get_server_time", "/v5/market/time", {})
        res = body.get("result", {})
        if res.get("timeNano"):
            return int(res["timeNano"]) // 1_000_000
        return int(body.get("time") or int(res["timeSecond"]) * 1000)

    def get_instruments(self, symbol: str | None = None) -> list[Instrument]:
        """Trading rules; all symbols of the category when `symbol` is None."""
        params: dict[str, Any] = {"category": self.category, "limit": 1000}
        if symbol:
            params["symbol"] = symbol
        out = [parse_instrument(d, self.category)
               for d in self._paged("get_instruments_info", "/v5/market/instruments-info",
                                    params)]
        for inst in out:
            self._instruments[inst.symbol] = inst
        return out

    def get_instrument(self, symbol: str, *, refresh: bool = False) -> Instrument:
        """One symbol's rules (cached); InvalidParameter if the exchange does not list it."""
        if refresh or symbol not in self._instruments:
            found = self.get_instruments(symbol)
            if not any(i.symbol == symbol for i in found):
                raise InvalidParameter(f"unknown {self.category} symbol {symbol}",
                                       "check the symbol spelling and the category",
                                       path="/v5/market/instruments-info")
        return self._instruments[symbol]

    def get_tickers(self, symbol: str | None = None) -> list[Ticker]:
        """Tickers of one symbol or the whole category."""
        params: dict[str, Any] = {"category": self.category}
        if symbol:
            params["symbol"] = symbol
        body = self._request("get_tickers", "/v5/market/tickers", params)
        ts = int(body.get("time") or 0)
        return [parse_ticker(d, ts) for d in body["result"].get("list", [])]

    def get_risk_limits(self, symbol: str) -> list[RiskLimitTier]:
        """Risk-limit tiers of one symbol (linear/inverse), all pages."""
        params: dict[str, Any] = {"category": self.category, "symbol": symbol}
        rows = self._paged("get_risk_limit", "/v5/market/risk-limit", params)
        return [parse_risk_limit(d) for d in rows if d.get("symbol", symbol) == symbol]

    def get_ticker(self, symbol: str) -> Ticker:
        """One symbol's ticker."""
        found = self.get_tickers(symbol)
        if not found:
            raise InvalidParameter(f"no ticker for {symbol}", path="/v5/market/tickers")
        return found[0]

    def get_klines(self, symbol: str, interval: str | int, start_ms: int | None = None,
                   end_ms: int | None = None, limit: int = 1000) -> list[Kline]:
        """One page of bars (at most `limit`, the newest in [start, end]), oldest first."""
        params: dict[str, Any] = {"category": self.category, "symbol": symbol,
                                  "interval": str(interval), "limit": limit,
                                  "start": start_ms, "end": end_ms}
        res = self._result("get_kline", "/v5/market/kline",
                           {k: v for k, v in params.items() if v is not None})
        return parse_klines(res.get("list", []))

    def get_mark_price_klines(self, symbol: str, interval: str | int,
                              start_ms: int | None = None, end_ms: int | None = None,
                              limit: int = 1000) -> list[Kline]:
        """One page of mark-price bars (at most `limit`, the newest in [start, end]), oldest
        first; volume 0."""
        params: dict[str, Any] = {"category": self.category, "symbol": symbol,
                                  "interval": str(interval), "limit": limit,
                                  "start": start_ms, "end": end_ms}
        res = self._result("get_mark_price_kline", "/v5/market/mark-price-kline",
                           {k: v for k, v in params.items() if v is not None})
        return parse_price_klines(res.get("list", []))

    def get_funding_history(self, symbol: str, start_ms: int | None = None,
                            end_ms: int | None = None, limit: int = 200) -> list[FundingRate]:
        """One page of settled funding rates (the newest `limit` in range), oldest first."""
        params: dict[str, Any] = {"category": self.category, "symbol": symbol, "limit": limit,
                                  "startTime": start_ms, "endTime": end_ms}
        res = self._result("get_funding_rate_history", "/v5/market/funding/history",
                           {k: v for k, v in params.items() if v is not None})
        return sorted((parse_funding(d) for d in res.get("list", [])), key=lambda f: f.ts)

    def get_recent_trades(self, symbol: str, limit: int = 500) -> list[PublicTrade]:
        """The latest public trades, oldest first."""
        res = self._result("get_public_trade_history", "/v5/market/recent-trade",
                           {"category": self.category, "symbol": symbol, "limit": limit})
        rows = [parse_public_trade(d) for d in reversed(res.get("list", []))]  # newest first
        return sorted(rows, key=lambda t: t.ts)

    # ---- account ---------------------------------------------------------------------------

    def get_wallet_balance(self, account_type: str = "UNIFIED") -> Wallet:
        """Balances of the unified account."""
        res = self._result("get_wallet_balance", "/v5/account/wallet-balance",
                           {"accountType": account_type})
        accounts = res.get("list", [])
        if not accounts:
            return Wallet(0.0, 0.0, 0.0)
        return parse_wallet(accounts[0])

    def get_fee_rates(self, symbol: str) -> FeeRate:
        """Maker/taker rates of one symbol (read live: they depend on tier and region)."""
        res = self._result("get_fee_rates", "/v5/account/fee-rate",
                           {"category": self.category, "symbol": symbol})
        for d in res.get("list", []):
            if d.get("symbol") in (symbol, "", None):
                return parse_fee_rate({**d, "symbol": symbol})
        raise InvalidParameter(f"no fee rate for {symbol}", path="/v5/account/fee-rate")

    # ---- positions -------------------------------------------------------------------------

    def get_positions(self, symbol: str | None = None) -> list[Position]:
        """Positions (one-way mode), all pages."""
        params = self._scope(symbol)
        params["limit"] = 200
        return [parse_position(d) for d in self._paged("get_positions", "/v5/position/list",
                                                       params)]

    def set_leverage(self, symbol: str, leverage: float) -> LeverageResult:
        """Set buy and sell leverage. A refusal the taxonomy calls log-and-continue on
        set-leverage (110043 already so; 100028 / 110038 portfolio margin; 110036 cross
        margin; 110013 risk limit ...) is not an error: the result carries a warning and the
        leverage in force, read from the position."""
        lev = format_number(leverage)
        try:
            self._request("set_leverage", "/v5/position/set-leverage",
                          {"category": self.category, "symbol": symbol, "buyLeverage": lev,
                           "sellLeverage": lev})
        except BybitError as exc:
            if exc.action is not Action.CONTINUE:
                raise
            if exc.code == 110043:
                return LeverageResult(leverage, leverage, False, exc.code)
            in_force = self._leverage_in_force(symbol)
            warning = (f"{symbol}: Bybit did not set leverage {lev} (retCode {exc.code}: "
                       f"{exc.message}); the leverage in force is "
                       f"{'unknown' if math.isnan(in_force) else format_number(in_force)}")
            log.warning(warning)
            return LeverageResult(leverage, in_force, False, exc.code, warning)
        return LeverageResult(leverage, leverage, True)

    def _leverage_in_force(self, symbol: str) -> float:
        """The leverage of the symbol's position (nan when Bybit reports none)."""
        try:
            for p in self.get_positions(symbol):
                if p.symbol == symbol and p.leverage:
                    return float(p.leverage)
        except BybitError as exc:
            log.warning("%s: reading the leverage in force failed: %s", symbol, exc)
        return math.nan
