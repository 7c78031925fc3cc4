"""State records of the local exchange and their Bybit v5 JSON shapes (numbers as strings)."""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

__all__ = [
    "Account",
    "Batch",
    "EngineError",
    "InstrumentSpec",
    "KlineSeries",
    "MarketState",
    "OrderRec",
    "PositionRec",
    "floor_steps",
    "fmt",
    "on_step",
]


class EngineError(Exception):
    """A refusal with a Bybit retCode."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


@dataclass
class Batch:
    """A batch endpoint's reply: `result` (result.list) and `ext` (retExtInfo.list), one item
    each per request item, in request order (docs/v5/order/batch-place)."""

    result: dict[str, Any]
    ext: dict[str, Any]


def _decimals(step: float) -> int:
    return max(0, -Decimal(repr(step)).normalize().as_tuple().exponent)


def fmt(x: float, step: float | None = None) -> str:
    """Number as Bybit writes it: plain decimal string."""
    if step:
        return f"{x:.{_decimals(step)}f}"
    s = f"{x:.10f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


@dataclass
class InstrumentSpec:
    """Rules of one instrument (spot: qty_step = basePrecision, min_notional = minOrderAmt)."""

    symbol: str
    category: str = "linear"
    tick_size: float = 0.1
    qty_step: float = 0.001
    min_qty: float = 0.001
    max_qty: float = 1000.0
    min_notional: float = 5.0
    max_leverage: float = 100.0
    funding_interval_min: int = 480
    base_coin: str = ""
    quote_coin: str = "USDT"
    status: str = "Trading"
    mm_rate: float = 0.005  # maintenance margin rate of the lowest risk tier

    def __post_init__(self) -> None:
        if not self.base_coin:
            self.base_coin = self.symbol[: -len(self.quote_coin)] or self.symbol

    def to_bybit(self) -> dict[str, Any]:
        """An instruments-info entry."""
        d: dict[str, Any] = {
            "symbol": self.symbol, "status": self.status, "baseCoin": self.base_coin,
            "quoteCoin": self.quote_coin, "priceFilter": {"tickSize": fmt(self.tick_size)},
        }
        if self.category == "spot":
            d["innovation"] = "0"
            d["marginTrading"] = "none"
            d["lotSizeFilter"] = {
                "basePrecision": fmt(self.qty_step), "quotePrecision": "0.00000001",
                "minOrderQty": fmt(self.min_qty), "maxOrderQty": fmt(self.max_qty),
                "minOrderAmt": fmt(self.min_notional), "maxOrderAmt": "2000000",
                "maxLimitOrderQty": fmt(self.max_qty), "maxMarketOrderQty": fmt(self.max_qty),
            }
        else:
            d.update({
                "contractType": "LinearPerpetual", "launchTime": "1585526400000",
                "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": str(
                    _decimals(self.tick_size)), "settleCoin": self.quote_coin,
                "fundingInterval": self.funding_interval_min, "unifiedMarginTrade": True,
                "copyTrading": "both", "upperFundingRate": "0.00375",
                "lowerFundingRate": "-0.00375", "isPreListing": False,
                "leverageFilter": {"minLeverage": "1", "maxLeverage": fmt(self.max_leverage),
                                   "leverageStep": "0.01"},
                "lotSizeFilter": {
                    "maxOrderQty": fmt(self.max_qty), "minOrderQty": fmt(self.min_qty),
                    "qtyStep": fmt(self.qty_step), "postOnlyMaxOrderQty": fmt(self.max_qty),
                    "maxMktOrderQty": fmt(self.max_qty), "minNotionalValue": fmt(self.min_notional),
                },
            })
            d["priceFilter"].update({"minPrice": fmt(self.tick_size), "maxPrice": "1999999.8"})
        return d


class KlineSeries:
    """Bars of one interval, sorted by open time; the last one may still be forming."""

    def __init__(self, interval_ms: int) -> None:
        self.interval_ms = interval_ms
        self.times: list[int] = []
        self.rows: list[list[float]] = []  # open, high, low, close, volume, turnover

    def load(self, times: list[int], rows: list[list[float]]) -> None:
        """Merge historical bars (replacing bars with the same open time)."""
        merged = dict(zip(self.times, self.rows, strict=True))
        merged.update(zip(times, rows, strict=True))
        self.times = sorted(merged)
        self.rows = [merged[t] for t in self.times]

    def update(self, ts: int, price: float, size: float) -> tuple[int, bool]:
        """Add a trade; returns (index of its bar, whether a new bar was started)."""
        start = ts - ts % self.interval_ms
        if self.times and self.times[-1] == start:
            r = self.rows[-1]
            r[1] = max(r[1], price)
            r[2] = min(r[2], price)
            r[3] = price
            r[4] += size
            r[5] += size * price
            return len(self.times) - 1, False
        if self.times and start < self.times[-1]:
            return -1, False  # late print: ignored by the bars
        self.times.append(start)
        self.rows.append([price, price, price, price, size, size * price])
        return len(self.times) - 1, True

    def query(self, start: int | None, end: int | None, limit: int) -> list[list[str]]:
        """Newest `limit` bars with start <= open time <= end, newest first (Bybit's order)."""
        lo = 0 if start is None else bisect.bisect_left(self.times, start)
        hi = len(self.times) if end is None else bisect.bisect_right(self.times, end)
        lo = max(lo, hi - limit)
        return [[str(self.times[i]), *(fmt(v) for v in self.rows[i])]
                for i in range(hi - 1, lo - 1, -1)]

    def ws_item(self, i: int, interval: str, confirm: bool, ts: int) -> dict[str, Any]:
        """A kline stream element."""
        o, h, lo, c, v, t = self.rows[i]
        start = self.times[i]
        return {"start": start, "end": start + self.interval_ms - 1, "interval": interval,
                "open": fmt(o), "close": fmt(c), "high": fmt(h), "low": fmt(lo),
                "volume": fmt(v), "turnover": fmt(t), "confirm": confirm, "timestamp": ts}

    def to_state(self) -> dict[str, Any]:
        return {"interval_ms": self.interval_ms, "times": self.times, "rows": self.rows}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> KlineSeries:
        k = cls(int(d["interval_ms"]))
        k.times = [int(t) for t in d["times"]]
        k.rows = [list(r) for r in d["rows"]]
        return k


@dataclass
class MarketState:
    """Prices, recent prints, bars and funding of one (category, symbol)."""

    category: str
    symbol: str
    last_price: float = 0.0
    bid: float = 0.0
    ask: float = 0.0
    mark_price: float = 0.0
    funding_rate: float = 0.0001
    next_funding_ms: int = 0
    book_u: int = 0  # orderbook update id
    volume_24h: float = 0.0
    turnover_24h: float = 0.0
    high_24h: float = 0.0
    low_24h: float = 0.0
    prev_price_24h: float = 0.0
    funding_history: list[tuple[int, float]] = field(default_factory=list)
    trades: deque = field(default_factory=lambda: deque(maxlen=1000))
    klines: dict[str, KlineSeries] = field(default_factory=dict)
    # (price, +-seq, order_id, api_key); buys ascending by (price, -seq): best last;
    # sells ascending by (price, seq): best first
    book_buy: list[tuple[float, int, str, str]] = field(default_factory=list)
    book_sell: list[tuple[float, int, str, str]] = field(default_factory=list)

    def next_funding(self, ts: int, interval_min: int) -> int:
        """The next funding time after `ts` (00:00/08:00/16:00 UTC for 480 minutes)."""
        if self.next_funding_ms:
            return self.next_funding_ms
        iv = interval_min * 60_000
        return (ts // iv + 1) * iv if iv > 0 else 0

    def ticker(self, ts: int, funding_interval_min: int = 480) -> dict[str, Any]:
        """A tickers entry (linear shape; spot ignores the extra fields)."""
        pct = (self.last_price / self.prev_price_24h - 1) if self.prev_price_24h else 0.0
        d = {
            "symbol": self.symbol, "lastPrice": fmt(self.last_price),
            "bid1Price": fmt(self.bid), "bid1Size": "1", "ask1Price": fmt(self.ask),
            "ask1Size": "1", "prevPrice24h": fmt(self.prev_price_24h),
            "price24hPcnt": fmt(round(pct, 6)), "highPrice24h": fmt(self.high_24h),
            "lowPrice24h": fmt(self.low_24h), "turnover24h": fmt(self.turnover_24h),
            "volume24h": fmt(self.volume_24h),
        }
        if self.category == "linear":
            d.update({"indexPrice": fmt(self.mark_price), "markPrice": fmt(self.mark_price),
                      "prevPrice1h": fmt(self.prev_price_24h), "openInterest": "0",
                      "openInterestValue": "0", "fundingRate": fmt(self.funding_rate),
                      "nextFundingTime": str(self.next_funding(ts, funding_interval_min))})
        d["ts"] = ts
        return d

    def to_state(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("trades", "klines")}
        d["trades"] = list(self.trades)
        d["klines"] = {k: s.to_state() for k, s in self.klines.items()}
        return d

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> MarketState:
        d = dict(d)
        trades = d.pop("trades", [])
        klines = d.pop("klines", {})
        m = cls(**d)
        m.funding_history = [(int(t), float(r)) for t, r in m.funding_history]
        m.book_buy = [tuple(x) for x in m.book_buy]  # type: ignore[misc]
        m.book_sell = [tuple(x) for x in m.book_sell]  # type: ignore[misc]
        m.trades = deque((dict(t) for t in trades), maxlen=1000)
        m.klines = {k: KlineSeries.from_state(s) for k, s in klines.items()}
        return m


@dataclass
class OrderRec:
    """One order of one account."""

    order_id: str
    order_link_id: str
    key: str
    category: str
    symbol: str
    side: str
    order_type: str
    price: float
    qty: float
    tif: str
    status: str = "New"
    reduce_only: bool = False
    cum_qty: float = 0.0
    cum_value: float = 0.0
    cum_fee: float = 0.0
    reject_reason: str = "EC_NoError"
    cancel_type: str = "UNKNOWN"
    created: int = 0
    updated: int = 0
    seq: int = 0
    tick: float = 0.0
    step: float = 0.0
    create_type: str = "CreateByUser"

    @property
    def leaves(self) -> float:
        return max(0.0, self.qty - self.cum_qty) if self.is_open else 0.0

    @property
    def is_open(self) -> bool:
        return self.status in ("New", "PartiallyFilled")

    def to_bybit(self) -> dict[str, Any]:
        """An order entry (REST lists and the order stream)."""
        avg = self.cum_value / self.cum_qty if self.cum_qty else 0.0
        return {
            "orderId": self.order_id, "orderLinkId": self.order_link_id, "blockTradeId": "",
            "symbol": self.symbol, "price": fmt(self.price, self.tick or None) if self.price
            else "0", "qty": fmt(self.qty, self.step or None), "side": self.side,
            "isLeverage": "", "positionIdx": 0, "orderStatus": self.status,
            "cancelType": self.cancel_type, "rejectReason": self.reject_reason,
            "createType": self.create_type,
            "avgPrice": fmt(avg) if self.cum_qty else "", "leavesQty": fmt(self.leaves),
            "leavesValue": fmt(self.leaves * self.price), "cumExecQty": fmt(self.cum_qty),
            "cumExecValue": fmt(self.cum_value), "cumExecFee": fmt(self.cum_fee),
            "timeInForce": self.tif, "orderType": self.order_type, "stopOrderType": "",
            "orderIv": "", "triggerPrice": "", "takeProfit": "", "stopLoss": "",
            "tpTriggerBy": "", "slTriggerBy": "", "triggerDirection": 0, "triggerBy": "",
            "lastPriceOnCreated": "", "reduceOnly": self.reduce_only, "closeOnTrigger": False,
            "smpType": "None", "smpGroup": 0, "smpOrderId": "", "tpslMode": "",
            "tpLimitPrice": "", "slLimitPrice": "", "placeType": "",
            "createdTime": str(self.created), "updatedTime": str(self.updated),
            "category": self.category,
        }


@dataclass
class PositionRec:
    """One-way position: `size` signed (+ long, - short)."""

    symbol: str
    size: float = 0.0
    avg_price: float = 0.0
    cum_realised: float = 0.0
    cur_realised: float = 0.0
    leverage: float = 10.0
    created: int = 0
    updated: int = 0
    seq: int = 0

    def unrealised(self, mark: float) -> float:
        return (mark - self.avg_price) * self.size if self.size else 0.0

    def im(self, mark: float) -> float:
        """Initial margin at the entry price."""
        return abs(self.size) * self.avg_price / self.leverage

    def to_bybit(self, mark: float, step: float, margin: dict[str, Any],
                 stream: bool = False) -> dict[str, Any]:
        """A /v5/position/list entry, or (`stream`) a position-stream entry: the stream names the
        entry price `entryPrice` (docs/v5/websocket/private/position), REST `avgPrice`.
        `margin`: liqPrice, bustPrice, positionMM, riskId, riskLimitValue (the engine's
        `LiquidationMixin.margin_fields`)."""
        side = "Buy" if self.size > 0 else "Sell" if self.size < 0 else ""
        value = abs(self.size) * self.avg_price
        d = {
            "positionIdx": 0, "symbol": self.symbol,
            "side": side, "size": fmt(abs(self.size), step),
            ("entryPrice" if stream else "avgPrice"): fmt(self.avg_price),
            "positionValue": fmt(value), "tradeMode": 0,
            "autoAddMargin": 0, "positionStatus": "Normal", "leverage": fmt(self.leverage),
            "markPrice": fmt(mark), **margin,
            "positionIM": fmt(self.im(mark)),
            "positionBalance": fmt(self.im(mark)), "tpslMode": "Full", "takeProfit": "0",
            "stopLoss": "0", "trailingStop": "0", "sessionAvgPrice": "",
            "unrealisedPnl": fmt(self.unrealised(mark)), "curRealisedPnl": fmt(self.cur_realised),
            "cumRealisedPnl": fmt(self.cum_realised), "adlRankIndicator": 2 if self.size else 0,
            "isReduceOnly": False, "createdTime": str(self.created),
            "updatedTime": str(self.updated), "seq": self.seq, "category": "linear",
        }
        return d


@dataclass
class Account:
    """One API key's account: coin balances, positions, orders, executions."""

    key: str
    secret: str
    uid: int
    coins: dict[str, float] = field(default_factory=dict)
    positions: dict[str, PositionRec] = field(default_factory=dict)
    orders: dict[str, OrderRec] = field(default_factory=dict)
    by_link: dict[str, str] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)
    # category -> orderIds of the latest closed orders, oldest first (realtime retention)
    recent_closed: dict[str, list[str]] = field(default_factory=dict)
    maker_fee: float | None = None  # None: the engine default
    taker_fee: float | None = None

    def to_state(self) -> dict[str, Any]:
        d = asdict(self)
        return d

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Account:
        d = dict(d)
        positions = {k: PositionRec(**v) for k, v in d.pop("positions").items()}
        orders = {k: OrderRec(**v) for k, v in d.pop("orders").items()}
        return cls(positions=positions, orders=orders, **d)


def floor_steps(x: float, step: float) -> int:
    """How many whole steps fit in x (tolerant to float noise)."""
    return math.floor(x / step + 1e-9)


def on_step(x: float, step: float) -> bool:
    """True if x is a whole multiple of step (within float noise)."""
    n = x / step
    return abs(n - round(n)) <= 1e-7 + 1e-12 * abs(n)
