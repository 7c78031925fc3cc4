"""Raw Bybit v5 dicts -> gridlab types: floats, int ms times, side +1 (Buy) / -1 (Sell)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BUY",
    "SELL",
    "CoinBalance",
    "Execution",
    "FeeRate",
    "FundingRate",
    "Instrument",
    "Kline",
    "Order",
    "OrderAck",
    "Position",
    "PublicTrade",
    "RiskLimitTier",
    "Ticker",
    "Wallet",
    "is_liquidation",
    "parse_execution",
    "parse_fee_rate",
    "parse_funding",
    "parse_instrument",
    "parse_kline_row",
    "parse_kline_ws",
    "parse_klines",
    "parse_order",
    "parse_position",
    "parse_price_klines",
    "parse_public_trade",
    "parse_public_trade_ws",
    "parse_risk_limit",
    "parse_ticker",
    "parse_wallet",
    "side_from_str",
    "side_to_str",
]

BUY = 1
SELL = -1

Raw = Mapping[str, Any]


def _f(v: Any, default: float = 0.0) -> float:
    """Bybit sends numbers as strings, sometimes empty."""
    if v is None or v == "":
        return default
    return float(v)


def _i(v: Any, default: int = 0) -> int:
    if v is None or v == "":
        return default
    return int(float(v)) if isinstance(v, str) and "." in v else int(v)


def side_from_str(s: str) -> int:
    """'Buy' -> 1, 'Sell' -> -1, '' / 'None' -> 0."""
    return BUY if s == "Buy" else SELL if s == "Sell" else 0


def side_to_str(side: int | str) -> str:
    """1 / 'buy' -> 'Buy', -1 / 'sell' -> 'Sell'."""
    if isinstance(side, str):
        s = side.capitalize()
        if s in ("Buy", "Sell"):
            return s
        raise ValueError(f"side must be Buy or Sell, got {side!r}")
    if side == BUY:
        return "Buy"
    if side == SELL:
        return "Sell"
    raise ValueError(f"side must be 1 (buy) or -1 (sell), got {side!r}")


@dataclass(frozen=True, slots=True)
class Instrument:
    """Trading rules of one symbol (linear or spot)."""

    symbol: str
    category: str
    status: str
    base_coin: str
    quote_coin: str
    tick_size: float
    qty_step: float  # spot: basePrecision
    min_qty: float
    max_qty: float
    min_notional: float  # linear minNotionalValue, spot minOrderAmt
    max_leverage: float = 1.0
    funding_interval_min: int = 0  # 0 for spot
    post_only_max_qty: float = 0.0
    launch_time: int = 0


def parse_instrument(d: Raw, category: str) -> Instrument:
    """One entry of /v5/market/instruments-info result.list."""
    pf = d.get("priceFilter", {})
    lf = d.get("lotSizeFilter", {})
    lev = d.get("leverageFilter", {})
    if category == "spot":
        step = _f(lf.get("basePrecision"))
        max_qty = _f(lf.get("maxLimitOrderQty") or lf.get("maxOrderQty"))
        min_notional = _f(lf.get("minOrderAmt"))
    else:
        step = _f(lf.get("qtyStep"))
        max_qty = _f(lf.get("maxOrderQty"))
        min_notional = _f(lf.get("minNotionalValue"))
    return Instrument(
        symbol=d["symbol"], category=category, status=d.get("status", ""),
        base_coin=d.get("baseCoin", ""), quote_coin=d.get("quoteCoin", ""),
        tick_size=_f(pf.get("tickSize")), qty_step=step, min_qty=_f(lf.get("minOrderQty")),
        max_qty=max_qty, min_notional=min_notional,
        max_leverage=_f(lev.get("maxLeverage"), 1.0),
        funding_interval_min=_i(d.get("fundingInterval")),
        post_only_max_qty=_f(lf.get("postOnlyMaxOrderQty")),
        launch_time=_i(d.get("launchTime")),
    )


@dataclass(frozen=True, slots=True)
class Ticker:
    """Best prices, last/mark price and funding of one symbol."""

    symbol: str
    last_price: float
    bid: float
    ask: float
    mark_price: float = 0.0
    index_price: float = 0.0
    funding_rate: float = 0.0
    next_funding_time: int = 0
    volume_24h: float = 0.0
    turnover_24h: float = 0.0
    ts: int = 0


def parse_ticker(d: Raw, ts: int = 0) -> Ticker:
    """One entry of /v5/market/tickers result.list, or a merged tickers.* stream snapshot."""
    return Ticker(
        symbol=d.get("symbol", ""), last_price=_f(d.get("lastPrice")),
        bid=_f(d.get("bid1Price")), ask=_f(d.get("ask1Price")),
        mark_price=_f(d.get("markPrice")), index_price=_f(d.get("indexPrice")),
        funding_rate=_f(d.get("fundingRate")), next_funding_time=_i(d.get("nextFundingTime")),
        volume_24h=_f(d.get("volume24h")), turnover_24h=_f(d.get("turnover24h")), ts=ts,
    )


@dataclass(frozen=True, slots=True)
class Kline:
    """One bar; `confirm` is False for a bar still forming (streams only)."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    turnover: float
    confirm: bool = True


def parse_kline_row(row: list[str]) -> Kline:
    """[startMs, open, high, low, close, volume, turnover] as strings."""
    return Kline(int(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]),
                 float(row[5]), float(row[6]) if len(row) > 6 else 0.0)


def parse_klines(rows: Iterable[list[str]]) -> list[Kline]:
    """A /v5/market/kline result.list (newest first) -> bars oldest first."""
    return sorted((parse_kline_row(r) for r in rows), key=lambda k: k.open_time)


def parse_price_klines(rows: Iterable[list[str]]) -> list[Kline]:
    """A /v5/market/mark-price-kline result.list ([startMs, open, high, low, close], newest
    first) -> bars oldest first, volume and turnover 0 (Bybit sends none)."""
    return sorted((Kline(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), 0.0,
                         0.0) for r in rows), key=lambda k: k.open_time)


def parse_kline_ws(d: Raw) -> Kline:
    """One element of a kline.{interval}.{symbol} push."""
    return Kline(_i(d["start"]), _f(d["open"]), _f(d["high"]), _f(d["low"]), _f(d["close"]),
                 _f(d.get("volume")), _f(d.get("turnover")), bool(d.get("confirm", False)))


@dataclass(frozen=True, slots=True)
class FundingRate:
    """A settled funding rate."""

    symbol: str
    ts: int
    rate: float


def parse_funding(d: Raw) -> FundingRate:
    """One entry of /v5/market/funding/history result.list."""
    return FundingRate(d["symbol"], _i(d["fundingRateTimestamp"]), _f(d["fundingRate"]))


@dataclass(frozen=True, slots=True)
class PublicTrade:
    """A public trade print; side is the aggressor's."""

    symbol: str
    ts: int
    price: float
    size: float
    side: int
    trade_id: str = ""


def parse_public_trade(d: Raw) -> PublicTrade:
    """One entry of /v5/market/recent-trade result.list."""
    return PublicTrade(d["symbol"], _i(d["time"]), _f(d["price"]), _f(d["size"]),
                       side_from_str(d.get("side", "")), d.get("execId", ""))


def parse_public_trade_ws(d: Raw) -> PublicTrade:
    """One element of a publicTrade.{symbol} push (short keys T, s, S, v, p, i)."""
    return PublicTrade(d["s"], _i(d["T"]), _f(d["p"]), _f(d["v"]), side_from_str(d["S"]),
                       d.get("i", ""))


@dataclass(frozen=True, slots=True)
class OrderAck:
    """Result of place_order. `existed` is True when the orderLinkId was already on the book."""

    order_id: str
    order_link_id: str
    existed: bool = False


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the exchange reports it (REST lists and the `order` stream)."""

    symbol: str
    order_id: str
    order_link_id: str
    side: int
    order_type: str
    price: float
    qty: float
    time_in_force: str
    status: str
    cum_exec_qty: float = 0.0
    cum_exec_fee: float = 0.0
    avg_price: float = 0.0
    leaves_qty: float = 0.0
    reject_reason: str = ""
    reduce_only: bool = False
    created_ms: int = 0
    updated_ms: int = 0
    category: str = ""

    @property
    def is_open(self) -> bool:
        """New, PartiallyFilled or Untriggered."""
        return self.status in ("New", "PartiallyFilled", "Untriggered")


def parse_order(d: Raw) -> Order:
    """One order dict (REST realtime/history or the `order` stream)."""
    reason = d.get("rejectReason", "") or ""
    return Order(
        symbol=d["symbol"], order_id=d.get("orderId", ""), order_link_id=d.get("orderLinkId", ""),
        side=side_from_str(d.get("side", "")), order_type=d.get("orderType", ""),
        price=_f(d.get("price")), qty=_f(d.get("qty")), time_in_force=d.get("timeInForce", ""),
        status=d.get("orderStatus", ""), cum_exec_qty=_f(d.get("cumExecQty")),
        cum_exec_fee=_f(d.get("cumExecFee")), avg_price=_f(d.get("avgPrice")),
        leaves_qty=_f(d.get("leavesQty")),
        reject_reason="" if reason == "EC_NoError" else reason,
        reduce_only=bool(d.get("reduceOnly", False)), created_ms=_i(d.get("createdTime")),
        updated_ms=_i(d.get("updatedTime")), category=d.get("category", ""),
    )


@dataclass(frozen=True, slots=True)
class Execution:
    """A fill (execType Trade), a funding settlement (execType Funding) or a liquidation
    take-over (execType BustTrade: `is_liquidation`)."""

    symbol: str
    exec_id: str
    order_id: str
    order_link_id: str
    side: int
    price: float
    qty: float
    fee: float
    fee_rate: float
    is_maker: bool
    exec_time: int
    exec_type: str = "Trade"
    closed_size: float = 0.0
    category: str = ""


_LIQUIDATION_EXEC_TYPES = frozenset({"BustTrade"})  # docs/v5/enum#exectype: a take-over


def is_liquidation(exec_type: str) -> bool:
    """True for an execution of the liquidation engine taking a position over (execType
    BustTrade); the runner books it as the liquidation fill and stops the grid."""
    return exec_type in _LIQUIDATION_EXEC_TYPES


def parse_execution(d: Raw) -> Execution:
    """One execution dict (REST /v5/execution/list or the `execution` stream)."""
    return Execution(
        symbol=d["symbol"], exec_id=d.get("execId", ""), order_id=d.get("orderId", ""),
        order_link_id=d.get("orderLinkId", ""), side=side_from_str(d.get("side", "")),
        price=_f(d.get("execPrice")), qty=_f(d.get("execQty")), fee=_f(d.get("execFee")),
        fee_rate=_f(d.get("feeRate")), is_maker=bool(d.get("isMaker", False)),
        exec_time=_i(d.get("execTime")), exec_type=d.get("execType", "Trade"),
        closed_size=_f(d.get("closedSize")), category=d.get("category", ""),
    )


@dataclass(frozen=True, slots=True)
class Position:
    """A one-way position; side 0 = flat, `size` >= 0 (see `signed_size`)."""

    symbol: str
    side: int
    size: float
    avg_price: float
    mark_price: float = 0.0
    unrealised_pnl: float = 0.0
    cum_realised_pnl: float = 0.0
    leverage: float = 1.0
    liq_price: float = 0.0
    position_value: float = 0.0
    updated_ms: int = 0

    @property
    def signed_size(self) -> float:
        """+size long, -size short."""
        return self.size * self.side


def parse_position(d: Raw) -> Position:
    """One position dict (REST /v5/position/list or the `position` stream)."""
    return Position(
        symbol=d["symbol"], side=side_from_str(d.get("side", "")), size=_f(d.get("size")),
        avg_price=_f(d.get("avgPrice") or d.get("entryPrice")), mark_price=_f(d.get("markPrice")),
        unrealised_pnl=_f(d.get("unrealisedPnl")), cum_realised_pnl=_f(d.get("cumRealisedPnl")),
        leverage=_f(d.get("leverage"), 1.0), liq_price=_f(d.get("liqPrice")),
        position_value=_f(d.get("positionValue")), updated_ms=_i(d.get("updatedTime")),
    )


@dataclass(frozen=True, slots=True)
class CoinBalance:
    """One coin of a wallet."""

    coin: str
    wallet_balance: float
    equity: float
    available: float = 0.0
    unrealised_pnl: float = 0.0
    cum_realised_pnl: float = 0.0
    locked: float = 0.0


@dataclass(frozen=True, slots=True)
class Wallet:
    """A UNIFIED account's balances (USD-valued totals plus per-coin)."""

    total_equity: float
    total_wallet_balance: float
    total_available_balance: float
    total_unrealised_pnl: float = 0.0
    coins: dict[str, CoinBalance] = field(default_factory=dict)


def parse_wallet(d: Raw) -> Wallet:
    """One account of /v5/account/wallet-balance result.list (or the `wallet` stream)."""
    coins = {}
    for c in d.get("coin", []):
        coins[c["coin"]] = CoinBalance(
            coin=c["coin"], wallet_balance=_f(c.get("walletBalance")), equity=_f(c.get("equity")),
            available=_f(c.get("availableToWithdraw") or c.get("walletBalance")),
            unrealised_pnl=_f(c.get("unrealisedPnl")), cum_realised_pnl=_f(c.get("cumRealisedPnl")),
            locked=_f(c.get("locked")),
        )
    return Wallet(
        total_equity=_f(d.get("totalEquity")), total_wallet_balance=_f(d.get("totalWalletBalance")),
        total_available_balance=_f(d.get("totalAvailableBalance")),
        total_unrealised_pnl=_f(d.get("totalPerpUPL")), coins=coins,
    )


@dataclass(frozen=True, slots=True)
class FeeRate:
    """Maker/taker fee rates of one symbol (fractions, e.g. 0.0002)."""

    symbol: str
    maker: float
    taker: float


def parse_fee_rate(d: Raw) -> FeeRate:
    """One entry of /v5/account/fee-rate result.list."""
    return FeeRate(d.get("symbol", ""), _f(d.get("makerFeeRate")), _f(d.get("takerFeeRate")))


@dataclass(frozen=True, slots=True)
class RiskLimitTier:
    """One risk-limit tier of a symbol: rates are fractions; `mm_deduction` is nan when Bybit
    leaves it blank (the margin model derives it)."""

    symbol: str
    tier: int
    risk_limit_value: float
    mmr: float
    imr: float
    max_leverage: float
    mm_deduction: float


def parse_risk_limit(d: Raw) -> RiskLimitTier:
    """One entry of /v5/market/risk-limit result.list."""
    return RiskLimitTier(
        symbol=d.get("symbol", ""), tier=_i(d.get("id")),
        risk_limit_value=_f(d.get("riskLimitValue"), float("nan")),
        mmr=_f(d.get("maintenanceMargin"), float("nan")),
        imr=_f(d.get("initialMargin"), float("nan")),
        max_leverage=_f(d.get("maxLeverage"), float("nan")),
        mm_deduction=_f(d.get("mmDeduction"), float("nan")),
    )
