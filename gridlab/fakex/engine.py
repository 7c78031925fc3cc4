"""Matching engine of the local exchange: instruments, accounts, orders, positions, fees, funding.

Fill rule (`cross`): a resting limit buy fills in full at its own price, as maker, when a trade
prints strictly below it (a sell: strictly above). A market order, or a GTC/IOC limit that is
marketable on arrival, fills at once as taker at the touch (bid/ask, set by the last print:
one tick apart) plus optional slippage. A PostOnly that would take is accepted and then
Cancelled with rejectReason EC_PostOnlyWillTakeLiquidity. Linear: one-way positions, USDT
margin, funding at funding times (positive rate: longs pay). Spot: coin balances, no positions.
Liquidations are not modelled. Every method is thread-safe (one re-entrant lock).

Times: business timestamps (createdTime, execTime, ...) come from the market clock (the last
print's time) once a market print has happened, wall time before; auth uses wall time.
"""

from __future__ import annotations

import bisect
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
from gridlab.fakex.marketdata import MarketDataMixin, _int, _limit, _num, _page
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
    on_step,
)

__all__ = ["Engine", "EngineError", "Listener"]

_OPEN = ("New", "PartiallyFilled")


class Listener(Protocol):
    """Receives engine events (the server's WebSocket hub)."""

    def wants(self, channel: str, topic: str, key: str | None) -> bool: ...

    def push(self, channel: str, topic: str, key: str | None, msg: dict[str, Any]) -> None: ...


def _wall_ms() -> int:
    return int(time.time() * 1000)


class Engine(MarketDataMixin):
    """The exchange state and its rules. See the module docstring for the fill model."""

    def __init__(self, *, maker_fee: float = 0.0002, taker_fee: float = 0.00055,
                 slippage_bps: float = 0.0, funding_rate: float = 0.0001,
                 live_intervals: Iterable[str] = ("1", "5", "15", "60"),
                 partial_fills: bool = False, default_leverage: float = 10.0) -> None:
        self.lock = threading.RLock()
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.slippage_bps = slippage_bps
        self.funding_rate = funding_rate
        self.live_intervals = tuple(str(i) for i in live_intervals)
        self.partial_fills = partial_fills
        self.default_leverage = default_leverage
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
        """Move last/bid/ask/mark without a print (no matching)."""
        with self.lock:
            m, inst = self._market(category, symbol)
            self._set_touch(m, inst, price, 1)

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

    def _private(self, acct: Account, topic: str, data: Callable[[], list[dict[str, Any]]],
                 ts: int) -> None:
        self._emit("private", topic, acct.key, lambda: {
            "id": uuid.uuid4().hex, "topic": topic, "creationTime": ts, "data": data()})

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
            self._match(m, inst, price, size, ts)
            self._emit(category, f"publicTrade.{symbol}", None, lambda: {
                "topic": f"publicTrade.{symbol}", "type": "snapshot", "ts": ts,
                "data": [{"T": ts, "s": symbol, "S": sstr, "v": fmt(size), "p": fmt(price),
                          "L": "PlusTick" if side > 0 else "MinusTick", "i": tid,
                          "BT": False}]})
            self._emit(category, f"tickers.{symbol}", None, lambda: {
                "topic": f"tickers.{symbol}", "type": "delta", "cs": self.seq, "ts": ts,
                "data": {k: v for k, v in m.ticker(ts).items() if k != "ts"}})

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
                "tradeIv": "", "markIv": "", "blockTradeId": "", "seq": self._next_seq(),
                "feeCurrency": "USDT", "isLeverage": "", "createType": "",
            }
            acct.executions.append(ex)
            self._private(acct, "execution", lambda ex=ex: [ex], t)
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

    # ---- orders ----------------------------------------------------------------------------

    def create_order(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/order/create."""
        with self.lock:
            acct = self.accounts[key]
            category = p.get("category") or ""
            if category not in ("linear", "spot"):
                raise EngineError(10001, "params error: category only support linear and spot")
            m, inst = self._market(category, str(p.get("symbol", "")))
            if inst.status != "Trading":  # halted / settling / delisting: no new orders
                raise EngineError(110065, f"No trading is allowed at the current time "
                                          f"({inst.symbol} is {inst.status})")
            side = p.get("side")
            if side not in ("Buy", "Sell"):
                raise EngineError(10001, "params error: side invalid")
            otype = p.get("orderType")
            if otype not in ("Limit", "Market"):
                raise EngineError(10001, "params error: orderType invalid")
            tif = p.get("timeInForce") or ("IOC" if otype == "Market" else "GTC")
            if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
                raise EngineError(10001, "params error: timeInForce invalid")
            link = str(p.get("orderLinkId") or "")
            if len(link) > 36:
                raise EngineError(10001, "params error: orderLinkId too long")
            if link and link in acct.by_link:
                raise EngineError(110072, "OrderLinkedID is duplicate")
            qty = _num(p, "qty")
            assert qty is not None
            price = _num(p, "price", required=otype == "Limit") if otype == "Limit" else None
            reduce_only = p.get("reduceOnly") in (True, "true", "True", 1, "1")
            d = 1 if side == "Buy" else -1
            if otype == "Market" and not m.last_price:
                raise EngineError(10001, "params error: no market price yet")
            ref_price = price if price is not None else (m.ask if d > 0 else m.bid)
            self._check_filters(inst, qty, price, ref_price)
            if reduce_only:
                qty = self._reduce_only_qty(acct, inst, d, qty)
            self._check_balance(acct, m, inst, d, qty, ref_price, reduce_only)
            ts = self.now_ms()
            order = OrderRec(
                order_id=str(uuid.uuid4()), order_link_id=link, key=key, category=category,
                symbol=inst.symbol, side=side, order_type=otype,
                price=price if price is not None else 0.0, qty=qty, tif=tif,
                reduce_only=reduce_only, created=ts, updated=ts, seq=self._next_seq(),
                tick=inst.tick_size, step=inst.qty_step)
            acct.orders[order.order_id] = order
            if link:
                acct.by_link[link] = order.order_id
            self.stats["orders"] += 1
            self._on_new_order(acct, m, inst, order, d, ts)
            return {"orderId": order.order_id, "orderLinkId": link}

    def _check_filters(self, inst: InstrumentSpec, qty: float, price: float | None,
                       ref_price: float) -> None:
        spot = inst.category == "spot"
        if qty <= 0:
            raise EngineError(10001, "params error: qty must be positive")
        if price is not None and price <= 0:
            raise EngineError(10001, "params error: price must be positive")
        if floor_steps(qty, inst.qty_step) == 0 and not spot:
            raise EngineError(110017, "orderQty will be truncated to zero")
        if not on_step(qty, inst.qty_step):
            if spot:
                raise EngineError(170137, "Order quantity has too many decimals.")
            raise EngineError(10001, "params error: qty must be a multiple of "
                                     f"{fmt(inst.qty_step)}")
        if qty < inst.min_qty - 1e-12:
            if spot:
                raise EngineError(170136, "Order quantity is lower than the minimum.")
            raise EngineError(10001, "The number of contracts exceeds minimum limit allowed")
        if qty > inst.max_qty + 1e-12:
            raise EngineError(10001, "The number of contracts exceeds maximum limit allowed")
        if price is not None and not on_step(price, inst.tick_size):
            if spot:
                raise EngineError(170134, "Order price has too many decimals.")
            raise EngineError(10001, f"params error: price must be a multiple of "
                                     f"{fmt(inst.tick_size)}")
        if ref_price and qty * ref_price < inst.min_notional - 1e-9:
            if spot:
                raise EngineError(170140, "Order value exceeded lower limit.")
            raise EngineError(110094, "Order does not meet minimum order value")

    def _reduce_only_qty(self, acct: Account, inst: InstrumentSpec, d: int, qty: float) -> float:
        pos = acct.positions.get(inst.symbol)
        if inst.category == "spot" or pos is None or pos.size == 0 or (pos.size > 0) == (d > 0):
            raise EngineError(110017, "Reduce-only rule not satisfied")
        return min(qty, abs(pos.size))

    def available(self, acct: Account) -> float:
        """USDT free for new linear orders: balance + uPnL - position IM - open order IM."""
        total = acct.coins.get("USDT", 0.0)
        for sym, pos in acct.positions.items():
            mk = self.markets.get(("linear", sym))
            mark = mk.mark_price if mk else pos.avg_price
            total += pos.unrealised(mark) - pos.im(mark)
        for o in self.open[acct.key].values():
            if not o.reduce_only:
                if o.category == "linear":
                    lev = self._position(acct, o.symbol).leverage
                    total -= o.leaves * o.price / lev
                elif o.side == "Buy":
                    total -= o.leaves * o.price
        return total

    def _check_balance(self, acct: Account, m: MarketState, inst: InstrumentSpec, d: int,
                       qty: float, price: float, reduce_only: bool) -> None:
        if inst.category == "spot":
            if d > 0:
                locked = sum(o.leaves * o.price for o in self.open[acct.key].values()
                             if o.category == "spot" and o.side == "Buy"
                             and self.instruments[("spot", o.symbol)].quote_coin
                             == inst.quote_coin)
                if qty * price > acct.coins.get(inst.quote_coin, 0.0) - locked + 1e-9:
                    raise EngineError(170131, "Insufficient balance.")
            else:
                locked = sum(o.leaves for o in self.open[acct.key].values()
                             if o.symbol == inst.symbol and o.category == "spot"
                             and o.side == "Sell")
                if qty > acct.coins.get(inst.base_coin, 0.0) - locked + 1e-12:
                    raise EngineError(170131, "Insufficient balance.")
            return
        if reduce_only:
            return
        pos = self._position(acct, inst.symbol)
        incr = qty if pos.size == 0 or (pos.size > 0) == (d > 0) else max(0.0, qty - abs(pos.size))
        if incr <= 0:
            return
        need = incr * price / pos.leverage + qty * price * self.fees(acct)[1]
        if need > self.available(acct) + 1e-9:
            raise EngineError(110007, "ab not enough for new order")

    def _position(self, acct: Account, symbol: str) -> PositionRec:
        pos = acct.positions.get(symbol)
        if pos is None:
            ts = self.now_ms()
            pos = acct.positions[symbol] = PositionRec(symbol, leverage=self.default_leverage,
                                                       created=ts, updated=ts)
        return pos

    def _on_new_order(self, acct: Account, m: MarketState, inst: InstrumentSpec,
                      order: OrderRec, d: int, ts: int) -> None:
        slip = self.slippage_bps / 10_000
        if order.order_type == "Market":
            px = m.ask * (1 + slip) if d > 0 else m.bid * (1 - slip)
            px = round(round(px / inst.tick_size) * inst.tick_size, 12)
            self._fill(acct, m, inst, order, order.qty, px, False, ts)
            return
        crosses = (m.ask > 0 and order.price >= m.ask) if d > 0 else (
            m.bid > 0 and order.price <= m.bid)
        if crosses and order.tif == "PostOnly":
            order.status = "Cancelled"
            order.reject_reason = "EC_PostOnlyWillTakeLiquidity"
        elif crosses:
            self._fill(acct, m, inst, order, order.qty, m.ask if d > 0 else m.bid, False, ts)
            return
        elif order.tif in ("IOC", "FOK"):
            order.status = "Cancelled"
            order.reject_reason = "EC_NoImmediateQtyToFill"
        else:
            self.open[acct.key][order.order_id] = order
            if d > 0:
                bisect.insort(m.book_buy, (order.price, -order.seq, order.order_id, acct.key))
            else:
                bisect.insort(m.book_sell, (order.price, order.seq, order.order_id, acct.key))
        self._private(acct, "order", lambda: [order.to_bybit()], ts)

    def _fill(self, acct: Account, m: MarketState, inst: InstrumentSpec, order: OrderRec,
              qty: float, price: float, is_maker: bool, ts: int) -> None:
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
            pos.seq = self._next_seq()
        order.cum_qty = round(order.cum_qty + qty, 12)
        order.cum_value += value
        order.cum_fee += fee
        order.updated = ts
        order.status = "Filled" if order.cum_qty >= order.qty - inst.qty_step / 2 else (
            "PartiallyFilled")
        if order.status == "Filled":
            self.open[acct.key].pop(order.order_id, None)
        self.stats["fills"] += 1
        ex = {
            "category": inst.category, "symbol": inst.symbol, "execId": uuid.uuid4().hex,
            "execPrice": fmt(price), "execQty": fmt(qty, inst.qty_step), "execFee": fmt(fee),
            "execValue": fmt(value), "execType": "Trade", "feeRate": fmt(rate),
            "isMaker": is_maker, "execTime": str(ts), "orderId": order.order_id,
            "orderLinkId": order.order_link_id, "side": order.side,
            "orderPrice": fmt(order.price), "orderQty": fmt(order.qty, inst.qty_step),
            "leavesQty": fmt(order.leaves), "orderType": order.order_type,
            "stopOrderType": "", "closedSize": fmt(closed), "markPrice": fmt(m.mark_price),
            "indexPrice": fmt(m.mark_price), "underlyingPrice": "", "tradeIv": "",
            "markIv": "", "blockTradeId": "", "seq": self._next_seq(), "feeCurrency": fee_coin,
            "isLeverage": "", "createType": "CreateByUser",
        }
        acct.executions.append(ex)
        self._private(acct, "order", lambda: [order.to_bybit()], ts)
        self._private(acct, "execution", lambda: [ex], ts)
        if inst.category == "linear":
            self._push_position(acct, m, inst, acct.positions[inst.symbol], ts)
        self._push_wallet(acct, ts)

    def _push_position(self, acct: Account, m: MarketState, inst: InstrumentSpec,
                       pos: PositionRec, ts: int) -> None:
        self._private(acct, "position", lambda: [pos.to_bybit(m.mark_price, inst.qty_step)], ts)

    def _push_wallet(self, acct: Account, ts: int) -> None:
        self._private(acct, "wallet", lambda: [self._wallet(acct)], ts)

    def cancel_order(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/order/cancel (by orderId or orderLinkId)."""
        with self.lock:
            acct = self.accounts[key]
            oid = p.get("orderId") or acct.by_link.get(str(p.get("orderLinkId") or ""), "")
            if not p.get("orderId") and not p.get("orderLinkId"):
                raise EngineError(10001, "params error: orderId or orderLinkId is required")
            order = acct.orders.get(str(oid))
            if order is None or not order.is_open or order.symbol != p.get("symbol"):
                code = 170213 if p.get("category") == "spot" else 110001
                raise EngineError(code, "Order does not exist.")
            self._cancel(acct, order, "EC_NoError")
            return {"orderId": order.order_id, "orderLinkId": order.order_link_id}

    def _cancel(self, acct: Account, order: OrderRec, reason: str) -> None:
        m = self.markets[(order.category, order.symbol)]
        book = m.book_buy if order.side == "Buy" else m.book_sell
        for i, e in enumerate(book):
            if e[2] == order.order_id:
                book.pop(i)
                break
        ts = self.now_ms()
        self.open[acct.key].pop(order.order_id, None)
        order.status = "Cancelled"
        order.reject_reason = reason
        order.updated = ts
        self.stats["cancels"] += 1
        self._private(acct, "order", lambda: [order.to_bybit()], ts)

    def cancel_all(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/order/cancel-all (symbol, or every symbol of the category)."""
        with self.lock:
            acct = self.accounts[key]
            cat, sym = p.get("category"), p.get("symbol")
            done = []
            for o in sorted(self.open[key].values(), key=lambda o: o.seq):
                if o.category == cat and (not sym or o.symbol == sym):
                    self._cancel(acct, o, "EC_NoError")
                    done.append({"orderId": o.order_id, "orderLinkId": o.order_link_id})
            return {"list": done, "success": "1"}

    # ---- queries ---------------------------------------------------------------------------

    def open_orders(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/order/realtime. With orderId/orderLinkId it also finds closed orders."""
        with self.lock:
            acct = self.accounts[key]
            by_id = p.get("orderId") or p.get("orderLinkId")
            rows = [o for o in self._filter_orders(acct, p, None if by_id else self.open[key])
                    if by_id or o.is_open]
            limit = _limit(p, 20, 50)
            page, nxt = _page(sorted(rows, key=lambda o: -o.seq), p, limit)
            return {"category": p.get("category"), "list": [o.to_bybit() for o in page],
                    "nextPageCursor": nxt}

    def order_history(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/order/history: closed orders, newest first."""
        with self.lock:
            acct = self.accounts[key]
            start, end = _int(p, "startTime"), _int(p, "endTime")
            rows = [o for o in self._filter_orders(acct, p) if not o.is_open
                    and (start is None or o.created >= start) and (end is None or o.created <= end)]
            page, nxt = _page(sorted(rows, key=lambda o: -o.seq), p, _limit(p, 20, 50))
            return {"category": p.get("category"), "list": [o.to_bybit() for o in page],
                    "nextPageCursor": nxt}

    @staticmethod
    def _filter_orders(acct: Account, p: dict[str, Any],
                       pool: dict[str, OrderRec] | None = None) -> list[OrderRec]:
        cat, sym = p.get("category"), p.get("symbol")
        oid, link = p.get("orderId"), p.get("orderLinkId")
        if link and not oid:  # direct lookup
            found = acct.orders.get(acct.by_link.get(str(link), ""))
            return [found] if found and found.category == cat and (
                not sym or found.symbol == sym) else []
        return [o for o in (acct.orders if pool is None else pool).values()
                if o.category == cat and (not sym or o.symbol == sym)
                and (not oid or o.order_id == oid) and (not link or o.order_link_id == link)]

    def executions(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/execution/list: newest first, cursor paged."""
        with self.lock:
            acct = self.accounts[key]
            cat, sym = p.get("category"), p.get("symbol")
            start, end = _int(p, "startTime"), _int(p, "endTime")
            oid, link, etype = p.get("orderId"), p.get("orderLinkId"), p.get("execType")
            rows = [e for e in reversed(acct.executions)
                    if e["category"] == cat and (not sym or e["symbol"] == sym)
                    and (start is None or int(e["execTime"]) >= start)
                    and (end is None or int(e["execTime"]) <= end)
                    and (not oid or e["orderId"] == oid) and (not link or e["orderLinkId"] == link)
                    and (not etype or e["execType"] == etype)]
            page, nxt = _page(rows, p, _limit(p, 50, 100))
            return {"category": cat, "list": page, "nextPageCursor": nxt}

    def positions(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/position/list (linear)."""
        with self.lock:
            acct = self.accounts[key]
            if p.get("category") != "linear":
                raise EngineError(10001, "params error: category only support linear here")
            sym = p.get("symbol")
            if sym:
                self._market("linear", sym)
                syms = [sym]
            elif p.get("settleCoin") or p.get("baseCoin"):
                syms = sorted(acct.positions)
            else:
                raise EngineError(10001, "params error: symbol or settleCoin is required")
            out = []
            for s in syms:
                m, inst = self._market("linear", s)
                out.append(self._position(acct, s).to_bybit(m.mark_price, inst.qty_step))
            page, nxt = _page(out, p, _limit(p, 20, 200))
            return {"category": "linear", "list": page, "nextPageCursor": nxt}

    def set_leverage(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/position/set-leverage (110043 when unchanged)."""
        with self.lock:
            acct = self.accounts[key]
            _, inst = self._market(str(p.get("category")), str(p.get("symbol", "")))
            buy, sell = _num(p, "buyLeverage"), _num(p, "sellLeverage")
            if buy != sell:
                raise EngineError(10001, "params error: buy leverage must equal sell leverage")
            assert buy is not None
            if not 1 <= buy <= inst.max_leverage:
                raise EngineError(10001, "params error: leverage invalid")
            pos = self._position(acct, inst.symbol)
            if abs(pos.leverage - buy) < 1e-12:
                raise EngineError(110043, "Set leverage not modified")
            pos.leverage = buy
            return {}

    def _coin_usd(self, coin: str) -> float:
        if coin in ("USDT", "USDC", "USD"):
            return 1.0
        for cat in ("spot", "linear"):
            m = self.markets.get((cat, f"{coin}USDT"))
            if m and m.last_price:
                return m.last_price
        return 0.0

    def _wallet(self, acct: Account) -> dict[str, Any]:
        upl = pos_im = 0.0
        for sym, pos in acct.positions.items():
            mark = self.markets[("linear", sym)].mark_price
            upl += pos.unrealised(mark)
            pos_im += pos.im(mark)
        avail = self.available(acct)
        coins = []
        total_wallet = 0.0
        for coin, bal in sorted(acct.coins.items()):
            usd = self._coin_usd(coin)
            c_upl = upl if coin == "USDT" else 0.0
            total_wallet += bal * usd
            coins.append({
                "coin": coin, "equity": fmt(bal + c_upl), "usdValue": fmt((bal + c_upl) * usd),
                "walletBalance": fmt(bal), "free": "", "locked": "0", "spotHedgingQty": "0",
                "borrowAmount": "0", "availableToWithdraw": fmt(avail if coin == "USDT" else bal),
                "accruedInterest": "0", "totalOrderIM": "0",
                "totalPositionIM": fmt(pos_im if coin == "USDT" else 0.0),
                "totalPositionMM": "0", "unrealisedPnl": fmt(c_upl),
                "cumRealisedPnl": fmt(sum(p.cum_realised for p in acct.positions.values())
                                      if coin == "USDT" else 0.0),
                "bonus": "0", "marginCollateral": True, "collateralSwitch": True,
            })
        return {
            "accountType": "UNIFIED", "accountIMRate": "0", "accountMMRate": "0",
            "totalEquity": fmt(total_wallet + upl), "totalWalletBalance": fmt(total_wallet),
            "totalMarginBalance": fmt(total_wallet + upl), "totalAvailableBalance": fmt(avail),
            "totalPerpUPL": fmt(upl), "totalInitialMargin": fmt(pos_im),
            "totalMaintenanceMargin": "0", "accountLTV": "0", "coin": coins,
        }

    def wallet(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/account/wallet-balance (UNIFIED only)."""
        with self.lock:
            if p.get("accountType") != "UNIFIED":
                raise EngineError(10001, "params error: accountType only support UNIFIED")
            return {"list": [self._wallet(self.accounts[key])]}

    def fee_rate(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/account/fee-rate."""
        with self.lock:
            mk, tk = self.fees(self.accounts[key])
            cat, sym = p.get("category") or "linear", p.get("symbol")
            syms = [sym] if sym else [s for c, s in self.instruments if c == cat]
            if sym:
                self._market(cat, sym)
            return {"category": cat, "list": [
                {"symbol": s, "baseCoin": "", "takerFeeRate": fmt(tk), "makerFeeRate": fmt(mk)}
                for s in syms]}

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
                             "default_leverage": self.default_leverage},
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
