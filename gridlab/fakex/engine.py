"""Matching engine of the local exchange: instruments, accounts, positions, fees, funding, streams.

Order entry lives in `orders.OrdersMixin`, private queries in `queries.QueriesMixin`, public
market data in `marketdata.MarketDataMixin`, Bybit's retention and limits in `rules.Rules`.

Fill rule (`cross`): a resting limit buy fills in full at its own price, as maker, when a trade
prints strictly below it (a sell: strictly above). A market order, or a GTC/IOC limit that is
marketable on arrival, fills at once as taker at the touch (bid/ask, set by the last print:
one tick apart) plus optional slippage. A PostOnly that would take is accepted and then
Cancelled with rejectReason EC_PostOnlyWillTakeLiquidity. Linear: one-way positions, USDT
margin, funding at funding times (positive rate: longs pay). Spot: coin balances, no positions.
Margin and liquidation (`margin` off | isolated | cross) in `liquidation.LiquidationMixin`, from
the backtest's margin kernels. Every method is thread-safe (one re-entrant lock).

Times: business timestamps (createdTime, execTime, ...) come from the market clock (the last
print's time) once a market print has happened, wall time before; auth uses wall time.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from gridlab.bybit.constants import INTERVAL_MS, KLINE_INTERVALS
from gridlab.fakex.liquidation import MARGIN_MODES, LiquidationMixin
from gridlab.fakex.marketdata import MarketDataMixin
from gridlab.fakex.orders import OrdersMixin
from gridlab.fakex.queries import QueriesMixin
from gridlab.fakex.records import (
    Account,
    EngineError,
    InstrumentSpec,
    KlineSeries,
    MarketState,
    OrderRec,
    PositionRec,
    floor_steps,
    fmt,
)
from gridlab.fakex.rules import Rules

__all__ = ["Engine", "EngineError", "Listener"]

_BOOK_DEPTHS = (1, 50, 200, 1000)  # orderbook.{depth}.{symbol} (docs/v5/websocket/public/orderbook)

class Listener(Protocol):
    """Receives engine events (the server's WebSocket hub)."""

    def wants(self, channel: str, topic: str, key: str | None) -> bool: ...

    def push(self, channel: str, topic: str, key: str | None, msg: dict[str, Any]) -> None: ...


def _wall_ms() -> int:
    return int(time.time() * 1000)


class Engine(MarketDataMixin, OrdersMixin, QueriesMixin, LiquidationMixin):
    """The exchange state and its rules. See the module docstring for the fill model."""

    def __init__(self, *, maker_fee: float = 0.0002, taker_fee: float = 0.00055,
                 slippage_bps: float = 0.0, funding_rate: float = 0.0001,
                 live_intervals: Iterable[str] = ("1", "5", "15", "60"),
                 partial_fills: bool = False, default_leverage: float = 10.0,
                 rules: Rules | dict[str, Any] | None = None, margin: str = "off",
                 risk_tiers: dict[str, list[dict[str, Any]]] | None = None) -> None:
        if margin not in MARGIN_MODES:
            raise ValueError(f"margin {margin!r}: one of {', '.join(MARGIN_MODES)}")
        self.lock = threading.RLock()
        self.margin = margin  # off: positions show liqPrice but are never liquidated
        self.tier_rows: dict[str, list[dict[str, Any]]] = dict(risk_tiers or {})
        self._tiers: dict[str, Any] = {}
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.slippage_bps = slippage_bps
        self.funding_rate = funding_rate
        self.live_intervals = tuple(str(i) for i in live_intervals)
        self.partial_fills = partial_fills
        self.default_leverage = default_leverage
        self.rules = Rules.from_state(rules)
        self.instruments: dict[tuple[str, str], InstrumentSpec] = {}
        self.markets: dict[tuple[str, str], MarketState] = {}
        self.accounts: dict[str, Account] = {}
        self.market_time: int | None = None
        self.seq = 0
        self.listeners: list[Listener] = []
        self.open: dict[str, dict[str, OrderRec]] = {}  # api key -> open orders (an index)
        self.stats = {"orders": 0, "fills": 0, "trades": 0, "cancels": 0}

    # ---- setup -----------------------------------------------------------------------------

    def add_instrument(self, symbol: str, category: str = "linear", price: float | None = None,
                       **spec: Any) -> InstrumentSpec:
        """List an instrument (InstrumentSpec fields as keywords); `price` seeds the ticker."""
        with self.lock:
            inst = InstrumentSpec(symbol=symbol, category=category, **spec)
            self.instruments[(category, symbol)] = inst
            m = self.markets.setdefault((category, symbol), MarketState(
                category, symbol, funding_rate=self.funding_rate))
            if price is not None:
                self._set_touch(m, inst, price, 1)
                m.prev_price_24h = m.high_24h = m.low_24h = price
            return inst

    def add_account(self, api_key: str, api_secret: str, balance: float = 100_000.0,
                    coins: dict[str, float] | None = None) -> Account:
        """Open an account with `balance` USDT (plus any other `coins`)."""
        with self.lock:
            acct = Account(api_key, api_secret, uid=100_000 + len(self.accounts),
                           coins={"USDT": float(balance), **(coins or {})})
            self.accounts[api_key] = acct
            self.open[api_key] = {}
            return acct

    def set_price(self, symbol: str, price: float, category: str = "linear") -> None:
        """Move last/bid/ask/mark without a print (no matching; a liquidation when margin is
        on and the new mark reaches a liquidation price)."""
        with self.lock:
            m, inst = self._market(category, symbol)
            touch = (m.bid, m.ask)
            self._set_touch(m, inst, price, 1)
            if (m.bid, m.ask) != touch:
                self._book_changed(m, self.now_ms())
            self._liquidations(m, inst, self.now_ms())

    def set_funding_rate(self, symbol: str, rate: float) -> None:
        """The rate settled at the next funding times of a linear symbol."""
        with self.lock:
            self._market("linear", symbol)[0].funding_rate = rate

    def load_klines(self, symbol: str, interval: str, open_time: Iterable[int],
                    rows: Iterable[Iterable[float]], category: str = "linear") -> int:
        """Add historical bars (open, high, low, close, volume, turnover) served by /kline."""
        if interval not in KLINE_INTERVALS:
            raise ValueError(f"unknown interval {interval!r}")
        with self.lock:
            m, _ = self._market(category, symbol)
            ks = m.klines.setdefault(interval, KlineSeries(INTERVAL_MS[interval]))
            times = [int(t) for t in open_time]
            ks.load(times, [[float(v) for v in r] for r in rows])
            return len(times)

    def load_funding(self, symbol: str, ts: Iterable[int], rates: Iterable[float]) -> int:
        """Add historical funding settlements served by /funding/history."""
        with self.lock:
            m, _ = self._market("linear", symbol)
            merged = dict(m.funding_history)
            merged.update(zip((int(t) for t in ts), (float(r) for r in rates), strict=True))
            m.funding_history = sorted(merged.items())
            return len(merged)

    # ---- helpers ---------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Market clock (last print) if any print happened, else wall time."""
        return self.market_time if self.market_time is not None else _wall_ms()

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _market(self, category: str, symbol: str) -> tuple[MarketState, InstrumentSpec]:
        inst = self.instruments.get((category, symbol))
        if inst is None:
            raise EngineError(10001, f"params error: symbol invalid ({category} {symbol})")
        return self.markets[(category, symbol)], inst

    @staticmethod
    def _set_touch(m: MarketState, inst: InstrumentSpec, price: float, side: int) -> None:
        m.last_price = m.mark_price = price
        if side > 0:  # a buyer lifted the ask
            m.ask, m.bid = price, round(price - inst.tick_size, 12)
        else:
            m.bid, m.ask = price, round(price + inst.tick_size, 12)

    def _emit(self, channel: str, topic: str, key: str | None,
              build: Callable[[], dict[str, Any]]) -> None:
        msg = None
        for listener in self.listeners:
            if listener.wants(channel, topic, key):
                if msg is None:
                    msg = build()
                listener.push(channel, topic, key, msg)

    def _private(self, acct: Account, topic: str, category: str | None,
                 data: Callable[[], list[dict[str, Any]]], ts: int) -> None:
        """Push to the all-in-one topic ("order") and the category one ("order.linear"), each
        message naming the topic it was subscribed as (docs/v5/websocket/private/order)."""
        for t in (topic, f"{topic}.{category}") if category else (topic,):
            self._emit("private", t, acct.key, lambda t=t: {
                "id": uuid.uuid4().hex, "topic": t, "creationTime": ts, "data": data()})

    def fees(self, acct: Account) -> tuple[float, float]:
        """(maker, taker) rates of an account."""
        mk = self.maker_fee if acct.maker_fee is None else acct.maker_fee
        tk = self.taker_fee if acct.taker_fee is None else acct.taker_fee
        return mk, tk

    def orders_with_link(self, order_link_id: str) -> list[OrderRec]:
        """Every order (any account, any status) carrying this orderLinkId."""
        with self.lock:
            return [o for a in self.accounts.values() for o in a.orders.values()
                    if o.order_link_id == order_link_id]

    # ---- market input ----------------------------------------------------------------------

    def trade(self, symbol: str, price: float, size: float = 1.0, side: int = 1,
              ts: int | None = None, category: str = "linear") -> None:
        """A public print (tests: one step of the market)."""
        self.on_trade(category, symbol, self.now_ms() if ts is None else ts, price, size, side)

    def on_trade(self, category: str, symbol: str, ts: int, price: float, size: float,
                 side: int) -> None:
        """A public trade print: clock, funding, bars, matching, public streams."""
        with self.lock:
            m, inst = self._market(category, symbol)
            ts = int(ts)
            if self.market_time is None or ts > self.market_time:
                self.market_time = ts
            self.stats["trades"] += 1
            if category == "linear":
                self._funding_until(m, inst, ts)
            touch = (m.bid, m.ask)
            self._set_touch(m, inst, price, side)
            if not m.prev_price_24h:
                m.prev_price_24h = m.high_24h = m.low_24h = price
            m.high_24h = max(m.high_24h, price)
            m.low_24h = min(m.low_24h, price)
            m.volume_24h += size
            m.turnover_24h += size * price
            tid = str(self._next_seq())
            sstr = "Buy" if side > 0 else "Sell"
            m.trades.append({"execId": tid, "symbol": symbol, "price": fmt(price),
                             "size": fmt(size), "side": sstr, "time": str(ts),
                             "isBlockTrade": False})
            self._update_bars(m, ts, price, size)
            self._liquidations(m, inst, ts)  # before the book (a liquidated account's orders
            self._match(m, inst, price, size, ts)  # are cancelled: none fills), as the backtest
            self._liquidations(m, inst, ts)  # and after the fills
            self._emit(category, f"publicTrade.{symbol}", None, lambda: {
                "topic": f"publicTrade.{symbol}", "type": "snapshot", "ts": ts,
                "data": [{"T": ts, "s": symbol, "S": sstr, "v": fmt(size), "p": fmt(price),
                          "L": "PlusTick" if side > 0 else "MinusTick", "i": tid,
                          "BT": False}]})
            self._emit(category, f"tickers.{symbol}", None, lambda: {
                "topic": f"tickers.{symbol}", "type": "delta", "cs": self.seq, "ts": ts,
                "data": {k: v for k, v in m.ticker(ts, inst.funding_interval_min).items()
                         if k != "ts"}})
            if (m.bid, m.ask) != touch:
                self._book_changed(m, ts)

    def _book_changed(self, m: MarketState, ts: int) -> None:
        """A new best bid/ask: push `orderbook.{depth}` snapshots (Bybit sends depth 1 as
        snapshots only; the deeper books here have the one level too)."""
        m.book_u += 1
        for depth in _BOOK_DEPTHS:
            topic = f"orderbook.{depth}.{m.symbol}"
            self._emit(m.category, topic, None,
                       lambda topic=topic: self._book_message(m, topic, ts))

    def _book_message(self, m: MarketState, topic: str, ts: int) -> dict[str, Any]:
        return {"topic": topic, "type": "snapshot", "ts": ts, "cts": ts, "data": {
            "s": m.symbol, "b": [[fmt(m.bid), "1"]] if m.bid else [],
            "a": [[fmt(m.ask), "1"]] if m.ask else [], "u": m.book_u, "seq": self.seq}}

    def book_snapshot(self, category: str, topic: str) -> dict[str, Any] | None:
        """The orderbook snapshot sent on subscribe (None for an unknown symbol)."""
        with self.lock:
            m = self.markets.get((category, topic.rsplit(".", 1)[-1]))
            return None if m is None else self._book_message(m, topic, self.now_ms())

    def _update_bars(self, m: MarketState, ts: int, price: float, size: float) -> None:
        for iv in self.live_intervals:
            ks = m.klines.get(iv)
            if ks is None:
                ks = m.klines[iv] = KlineSeries(INTERVAL_MS[iv])
            i, new = ks.update(ts, price, size)
            if i < 0:
                continue
            topic = f"kline.{iv}.{m.symbol}"

            def build(ks: KlineSeries = ks, i: int = i, new: bool = new,
                      iv: str = iv, topic: str = topic) -> dict[str, Any]:
                data = [ks.ws_item(i - 1, iv, True, ts)] if new and i > 0 else []
                data.append(ks.ws_item(i, iv, False, ts))
                return {"topic": topic, "data": data, "ts": ts, "type": "snapshot"}

            self._emit(m.category, topic, None, build)

    def _funding_until(self, m: MarketState, inst: InstrumentSpec, ts: int) -> None:
        iv = inst.funding_interval_min * 60_000
        if iv <= 0:
            return
        if m.next_funding_ms == 0:
            m.next_funding_ms = (ts // iv + 1) * iv
        while ts >= m.next_funding_ms:
            self._settle_funding(m, inst, m.next_funding_ms)
            m.next_funding_ms += iv

    def _settle_funding(self, m: MarketState, inst: InstrumentSpec, t: int) -> None:
        known = dict(m.funding_history)
        rate = known.get(t, m.funding_rate)
        if t not in known:
            m.funding_history.append((t, rate))
        mark = m.mark_price
        for acct in self.accounts.values():
            pos = acct.positions.get(m.symbol)
            if pos is None or not pos.size:
                continue
            fee = pos.size * mark * rate  # > 0: paid
            acct.coins["USDT"] = acct.coins.get("USDT", 0.0) - fee
            pos.cum_realised -= fee
            pos.cur_realised -= fee
            pos.updated = t
            ex = {
                "category": "linear", "symbol": m.symbol, "execId": uuid.uuid4().hex,
                "execPrice": fmt(mark), "execQty": fmt(abs(pos.size), inst.qty_step),
                "execFee": fmt(fee), "execValue": fmt(abs(pos.size) * mark),
                "execType": "Funding", "feeRate": fmt(rate), "isMaker": False,
                "execTime": str(t), "orderId": "", "orderLinkId": "",
                "side": "Buy" if pos.size > 0 else "Sell", "orderPrice": "0", "orderQty": "0",
                "leavesQty": "0", "orderType": "UNKNOWN", "stopOrderType": "", "closedSize": "0",
                "markPrice": fmt(mark), "indexPrice": fmt(mark), "underlyingPrice": "",
                "tradeIv": "", "markIv": "", "blockTradeId": "", "seq": 0,
                "feeCurrency": "USDT", "isLeverage": "", "createType": "",
            }
            ex["seq"] = pos.seq = self._next_seq()  # one sequence for the fill and the position
            acct.executions.append(ex)
            self._private(acct, "execution", "linear", lambda ex=ex: [ex], t)
            self._push_position(acct, m, inst, pos, t)
            self._push_wallet(acct, t)

    def _match(self, m: MarketState, inst: InstrumentSpec, price: float, size: float,
               ts: int) -> None:
        """Fill resting orders the print crossed: buys above it, sells below it."""
        for book, idx in ((m.book_buy, -1), (m.book_sell, 0)):
            left = size
            while book and (book[idx][0] > price if idx else book[idx][0] < price):
                _, _, oid, key = book[idx]
                acct = self.accounts[key]
                order = acct.orders[oid]
                qty = order.leaves
                if self.partial_fills:
                    qty = min(qty, floor_steps(left, inst.qty_step) * inst.qty_step)
                    if qty <= 0:
                        break
                    left -= qty
                self._fill(acct, m, inst, order, qty, order.price, True, ts)
                if not order.is_open:
                    book.pop(idx)


    def _position(self, acct: Account, symbol: str) -> PositionRec:
        pos = acct.positions.get(symbol)
        if pos is None:
            ts = self.now_ms()
            pos = acct.positions[symbol] = PositionRec(symbol, leverage=self.default_leverage,
                                                       created=ts, updated=ts)
        return pos


    def _fill(self, acct: Account, m: MarketState, inst: InstrumentSpec, order: OrderRec,
              qty: float, price: float, is_maker: bool, ts: int, *,
              rate: float | None = None, exec_type: str = "Trade") -> None:
        if rate is None:
            rate = self.fees(acct)[0 if is_maker else 1]
        d = 1 if order.side == "Buy" else -1
        value = qty * price
        closed = 0.0
        if inst.category == "spot":
            if d > 0:
                fee = qty * rate  # in the base coin
                acct.coins[inst.base_coin] = acct.coins.get(inst.base_coin, 0.0) + qty - fee
                acct.coins[inst.quote_coin] = acct.coins.get(inst.quote_coin, 0.0) - value
                fee_coin = inst.base_coin
            else:
                fee = value * rate
                acct.coins[inst.base_coin] = acct.coins.get(inst.base_coin, 0.0) - qty
                acct.coins[inst.quote_coin] = acct.coins.get(inst.quote_coin, 0.0) + value - fee
                fee_coin = inst.quote_coin
        else:
            fee = value * rate
            fee_coin = "USDT"
            pos = self._position(acct, inst.symbol)
            s = pos.size
            if s == 0 or (s > 0) == (d > 0):
                new = s + d * qty
                pos.avg_price = (abs(s) * pos.avg_price + value) / abs(new)
            else:
                closed = min(qty, abs(s))
                pnl = closed * (price - pos.avg_price) * (1 if s > 0 else -1)
                acct.coins["USDT"] = acct.coins.get("USDT", 0.0) + pnl
                pos.cum_realised += pnl
                pos.cur_realised += pnl
                new = s + d * qty
                if abs(new) < inst.qty_step / 2:
                    new, pos.avg_price = 0.0, 0.0
                elif (new > 0) != (s > 0):
                    pos.avg_price = price
            pos.size = round(round(new / inst.qty_step) * inst.qty_step, 12)
            acct.coins["USDT"] = acct.coins.get("USDT", 0.0) - fee
            pos.cum_realised -= fee
            pos.cur_realised -= fee
            pos.updated = ts
        seq = self._next_seq()  # one sequence for the execution and the position it moved
        if inst.category == "linear":
            pos.seq = seq
        order.cum_qty = round(order.cum_qty + qty, 12)
        order.cum_value += value
        order.cum_fee += fee
        order.updated = ts
        order.status = "Filled" if order.cum_qty >= order.qty - inst.qty_step / 2 else (
            "PartiallyFilled")
        if order.status == "Filled":
            self.open[acct.key].pop(order.order_id, None)
            self._remember_closed(acct, order)
        self.stats["fills"] += 1
        ex = {
            "category": inst.category, "symbol": inst.symbol, "execId": uuid.uuid4().hex,
            "execPrice": fmt(price), "execQty": fmt(qty, inst.qty_step), "execFee": fmt(fee),
            "execValue": fmt(value), "execType": exec_type, "feeRate": fmt(rate),
            "isMaker": is_maker, "execTime": str(ts), "orderId": order.order_id,
            "orderLinkId": order.order_link_id, "side": order.side,
            "orderPrice": fmt(order.price), "orderQty": fmt(order.qty, inst.qty_step),
            "leavesQty": fmt(order.leaves), "orderType": order.order_type,
            "stopOrderType": "", "closedSize": fmt(closed), "markPrice": fmt(m.mark_price),
            "indexPrice": fmt(m.mark_price), "underlyingPrice": "", "tradeIv": "",
            "markIv": "", "blockTradeId": "", "seq": seq, "feeCurrency": fee_coin,
            "isLeverage": "", "createType": order.create_type,
        }
        acct.executions.append(ex)
        self._private(acct, "order", inst.category, lambda: [order.to_bybit()], ts)
        self._private(acct, "execution", inst.category, lambda: [ex], ts)
        if inst.category == "linear":
            self._push_position(acct, m, inst, acct.positions[inst.symbol], ts)
        self._push_wallet(acct, ts)

    def _push_position(self, acct: Account, m: MarketState, inst: InstrumentSpec,
                       pos: PositionRec, ts: int) -> None:
        self._private(acct, "position", "linear",
                      lambda: [self._position_entry(acct, inst.symbol, stream=True)], ts)

    def _push_wallet(self, acct: Account, ts: int) -> None:
        self._private(acct, "wallet", None, lambda: [self._wallet(acct)], ts)

    def _position_entry(self, acct: Account, symbol: str, stream: bool = False) -> dict[str, Any]:
        """A position as REST (or, `stream`, the position stream) shows it, with its liqPrice."""
        m, inst = self._market("linear", symbol)
        pos = self._position(acct, symbol)
        return pos.to_bybit(m.mark_price, inst.qty_step, self.margin_fields(acct, inst, pos),
                            stream)

    # ---- persistence -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-able data."""
        with self.lock:
            return {
                "version": 1, "market_time": self.market_time, "seq": self.seq,
                "settings": {"maker_fee": self.maker_fee, "taker_fee": self.taker_fee,
                             "slippage_bps": self.slippage_bps,
                             "funding_rate": self.funding_rate,
                             "live_intervals": list(self.live_intervals),
                             "partial_fills": self.partial_fills,
                             "default_leverage": self.default_leverage,
                             "rules": self.rules.to_state(), "margin": self.margin,
                             "risk_tiers": dict(self.tier_rows)},
                "instruments": [asdict(i) for i in self.instruments.values()],
                "markets": [m.to_state() for m in self.markets.values()],
                "accounts": [a.to_state() for a in self.accounts.values()],
                "stats": dict(self.stats),
            }

    def save(self, path: str | Path) -> Path:
        """Write the snapshot atomically (temp file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.snapshot(), separators=(",", ":")))
        os.replace(tmp, path)
        return path

    @classmethod
    def from_snapshot(cls, d: dict[str, Any]) -> Engine:
        """Rebuild an engine from `snapshot()` data."""
        eng = cls(**d.get("settings", {}))
        eng.market_time = d.get("market_time")
        eng.seq = int(d.get("seq", 0))
        for i in d.get("instruments", []):
            spec = InstrumentSpec(**i)
            eng.instruments[(spec.category, spec.symbol)] = spec
        for m in d.get("markets", []):
            ms = MarketState.from_state(m)
            eng.markets[(ms.category, ms.symbol)] = ms
        for a in d.get("accounts", []):
            acct = Account.from_state(a)
            eng.accounts[acct.key] = acct
            eng.open[acct.key] = {k: o for k, o in acct.orders.items() if o.is_open}
        eng.stats.update(d.get("stats", {}))
        return eng

    @classmethod
    def load(cls, path: str | Path) -> Engine:
        """Read a snapshot file written by `save`."""
        return cls.from_snapshot(json.loads(Path(path).read_text()))
