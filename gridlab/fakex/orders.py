"""Order entry of the local exchange (a mixin of Engine): create, amend, cancel, cancel-all and
their batch forms, with Bybit's filters, balance checks and retCodes.

Follows docs/v5/order/create-order, amend-order, cancel-order, cancel-all, batch-place,
batch-amend and batch-cancel. Batch replies carry one `result.list` and one `retExtInfo.list`
item per request item, in request order; an item's refusal does not stop the others.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections.abc import Callable
from typing import Any

from gridlab.fakex.marketdata import _num
from gridlab.fakex.records import (
    Account,
    Batch,
    EngineError,
    InstrumentSpec,
    MarketState,
    OrderRec,
    PositionRec,
    floor_steps,
    fmt,
    on_step,
)
from gridlab.fakex.rules import Rules

__all__ = ["OrdersMixin"]

_TOO_MANY = (10006, "Too many visits!")


class OrdersMixin:
    """create/amend/cancel (single and batch) over the engine's books and accounts."""

    lock: threading.RLock
    accounts: dict[str, Account]
    open: dict[str, dict[str, OrderRec]]
    markets: dict[tuple[str, str], MarketState]
    instruments: dict[tuple[str, str], InstrumentSpec]
    rules: Rules
    stats: dict[str, int]
    slippage_bps: float

    # provided by Engine
    now_ms: Callable[[], int]
    _next_seq: Callable[[], int]
    _market: Callable[[str, str], tuple[MarketState, InstrumentSpec]]
    _position: Callable[[Account, str], PositionRec]
    _private: Callable[..., None]
    _fill: Callable[..., None]
    fees: Callable[[Account], tuple[float, float]]
    _liquidations: Callable[[MarketState, InstrumentSpec, int], int]
    margin: str
    margin_carries: Callable[..., bool]

    # ---- create ----------------------------------------------------------------------------

    def create_order(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/order/create (Limit/Market; GTC/IOC/FOK/PostOnly; reduceOnly; orderLinkId)."""
        with self.lock:
            order = self._create(self.accounts[key], p)
            return {"orderId": order.order_id, "orderLinkId": order.order_link_id}

    def _create(self, acct: Account, p: dict[str, Any]) -> OrderRec:
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
        if otype == "Market":
            tif = "IOC"  # Bybit keeps a market order as IOC
        link = str(p.get("orderLinkId") or "")
        if len(link) > 36:
            raise EngineError(10001, "params error: orderLinkId too long")
        if link and link in acct.by_link:  # a link id stays taken, returned or not
            raise EngineError(110072, "OrderLinkedID is duplicate")
        qty = _num(p, "qty")
        assert qty is not None
        price = _num(p, "price") if otype == "Limit" else None
        reduce_only = p.get("reduceOnly") in (True, "true", "True", 1, "1")
        d = 1 if side == "Buy" else -1
        if otype == "Market" and not m.last_price:
            raise EngineError(10001, "params error: no market price yet")
        ref_price = price if price is not None else (m.ask if d > 0 else m.bid)
        self._check_filters(inst, qty, price, ref_price)
        if reduce_only:
            qty = self._reduce_only_qty(acct, inst, d, qty)
        self._check_balance(acct, m, inst, d, qty, ref_price, reduce_only)
        if otype == "Limit":
            self._check_open_cap(acct, inst)
        ts = self.now_ms()
        order = OrderRec(
            order_id=str(uuid.uuid4()), order_link_id=link, key=acct.key, category=category,
            symbol=inst.symbol, side=side, order_type=otype,
            price=price if price is not None else self._market_price(inst, ref_price, d),
            qty=qty, tif=tif, reduce_only=reduce_only, created=ts, updated=ts,
            seq=self._next_seq(), tick=inst.tick_size, step=inst.qty_step)
        acct.orders[order.order_id] = order
        if link:
            acct.by_link[link] = order.order_id
        self.stats["orders"] += 1
        self._on_new_order(acct, m, inst, order, d, ts)
        return order

    def _market_price(self, inst: InstrumentSpec, touch: float, d: int) -> float:
        """The price a market order reports: linear, the protection price touch +- band on the
        tick (Bybit turns it into an IOC limit order); spot, 0."""
        if inst.category == "spot":
            return 0.0
        raw = touch * (1 + d * self.rules.market_band) / inst.tick_size
        steps = floor_steps(raw, 1.0) if d < 0 else -floor_steps(-raw, 1.0)
        return round(steps * inst.tick_size, 12)

    def _check_open_cap(self, acct: Account, inst: InstrumentSpec) -> None:
        """At most `rules.max_open_orders` active orders per symbol (110020)."""
        cap = self.rules.max_open_orders
        n = sum(1 for o in self.open[acct.key].values()
                if o.symbol == inst.symbol and o.category == inst.category)
        if n >= cap:
            raise EngineError(110020, f"Not allowed to have more than {cap} active orders.")

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
        if self.margin != "off":  # the backtest's margin rule (liquidation.margin_carries)
            if not self.margin_carries(acct, inst, pos, d, qty, price, self.fees(acct)[1],
                                       m.mark_price):
                raise EngineError(110007, "ab not enough for new order")
            return
        incr = qty if pos.size == 0 or (pos.size > 0) == (d > 0) else max(0.0, qty - abs(pos.size))
        if incr <= 0:
            return
        need = incr * price / pos.leverage + qty * price * self.fees(acct)[1]
        if need > self.available(acct) + 1e-9:
            raise EngineError(110007, "ab not enough for new order")

    def _on_new_order(self, acct: Account, m: MarketState, inst: InstrumentSpec,
                      order: OrderRec, d: int, ts: int) -> None:
        """Fill, cancel (PostOnly that would take, IOC/FOK leftovers) or rest a new order."""
        slip = self.slippage_bps / 10_000
        if order.order_type == "Market":
            px = m.ask * (1 + slip) if d > 0 else m.bid * (1 - slip)
            px = round(round(px / inst.tick_size) * inst.tick_size, 12)
            self._fill(acct, m, inst, order, order.qty, px, False, ts)
            self._liquidations(m, inst, ts)  # a fill on entry moved the liquidation price
            return
        if self._place_or_take(acct, m, inst, order, d, ts):
            self._liquidations(m, inst, ts)
            return
        self._private(acct, "order", inst.category, lambda: [order.to_bybit()], ts)

    def _place_or_take(self, acct: Account, m: MarketState, inst: InstrumentSpec,
                       order: OrderRec, d: int, ts: int) -> bool:
        """Book a limit order's leaves, or take / cancel it when it crosses the touch.
        True when a fill already pushed the order stream."""
        crosses = (m.ask > 0 and order.price >= m.ask) if d > 0 else (
            m.bid > 0 and order.price <= m.bid)
        if crosses and order.tif == "PostOnly":
            self._close(acct, order, "Cancelled", "EC_PostOnlyWillTakeLiquidity", ts)
        elif crosses:
            self._fill(acct, m, inst, order, order.leaves, m.ask if d > 0 else m.bid, False, ts)
            return True
        elif order.tif in ("IOC", "FOK"):
            self._close(acct, order, "Cancelled", "EC_NoImmediateQtyToFill", ts)
        else:
            self.open[acct.key][order.order_id] = order
            prio = self._next_seq()
            book = m.book_buy if d > 0 else m.book_sell
            bisect.insort(book, (order.price, -prio if d > 0 else prio, order.order_id,
                                 acct.key))
        return False

    def _close(self, acct: Account, order: OrderRec, status: str, reason: str, ts: int,
               cancel_type: str = "UNKNOWN") -> None:
        """Mark an order closed and keep it among the realtime-visible recent closed ones."""
        self.open[acct.key].pop(order.order_id, None)
        order.status = status
        order.reject_reason = reason
        order.cancel_type = cancel_type
        order.updated = ts
        self._remember_closed(acct, order)

    def _remember_closed(self, acct: Account, order: OrderRec) -> None:
        recent = acct.recent_closed.setdefault(order.category, [])
        recent.append(order.order_id)
        extra = len(recent) - self.rules.closed_realtime
        if extra > 0:
            del recent[:extra]

    # ---- amend / cancel --------------------------------------------------------------------

    def _find_open(self, acct: Account, p: dict[str, Any], what: str) -> OrderRec:
        """The open order named by orderId or orderLinkId (110001 / spot 170213 if none)."""
        if not p.get("orderId") and not p.get("orderLinkId"):
            raise EngineError(10001, "params error: orderId or orderLinkId is required")
        oid = p.get("orderId") or acct.by_link.get(str(p.get("orderLinkId") or ""), "")
        order = acct.orders.get(str(oid))
        if (order is None or not order.is_open or order.symbol != p.get("symbol")
                or order.category != p.get("category")):
            code = 170213 if p.get("category") == "spot" else 110001
            raise EngineError(code, f"order not exists or too late to {what}")
        return order

    def amend_order(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/order/amend: new qty and/or price of an open limit order."""
        with self.lock:
            order = self._amend(self.accounts[key], p)
            return {"orderId": order.order_id, "orderLinkId": order.order_link_id}

    def _amend(self, acct: Account, p: dict[str, Any]) -> OrderRec:
        """Price changes and qty increases lose queue priority; a PostOnly moved through the
        touch is cancelled (EC_PostOnlyWillTakeLiquidity), a GTC one takes."""
        order = self._find_open(acct, p, "replace")
        m, inst = self._market(order.category, order.symbol)
        qty, price = _num(p, "qty", required=False), _num(p, "price", required=False)
        new_qty = order.qty if qty is None else qty
        new_price = order.price if price is None else price
        if abs(new_qty - order.qty) < 1e-12 and abs(new_price - order.price) < 1e-12:
            raise EngineError(10001, "params error: the order remains unchanged "
                                     "(qty and price as before)")
        if new_qty <= order.cum_qty + 1e-12:
            raise EngineError(10001, "params error: qty must be above the filled qty")
        self._check_filters(inst, new_qty, new_price, new_price)
        d = 1 if order.side == "Buy" else -1
        self.open[acct.key].pop(order.order_id, None)  # check the balance without the old order
        try:
            self._check_balance(acct, m, inst, d, new_qty - order.cum_qty, new_price,
                                order.reduce_only)
        finally:
            self.open[acct.key][order.order_id] = order
        self._unbook(m, order)
        self.open[acct.key].pop(order.order_id, None)
        order.qty, order.price = new_qty, new_price
        ts = self.now_ms()
        order.updated = ts
        if not self._place_or_take(acct, m, inst, order, d, ts):
            self._private(acct, "order", inst.category, lambda: [order.to_bybit()], ts)
        return order

    @staticmethod
    def _unbook(m: MarketState, order: OrderRec) -> None:
        book = m.book_buy if order.side == "Buy" else m.book_sell
        for i, e in enumerate(book):
            if e[2] == order.order_id:
                book.pop(i)
                return

    def cancel_order(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/order/cancel (by orderId or orderLinkId)."""
        with self.lock:
            acct = self.accounts[key]
            order = self._find_open(acct, p, "cancel")
            self._cancel(acct, order, "EC_NoError")
            return {"orderId": order.order_id, "orderLinkId": order.order_link_id}

    def _cancel(self, acct: Account, order: OrderRec, reason: str,
                cancel_type: str = "CancelByUser") -> None:
        m = self.markets[(order.category, order.symbol)]
        self._unbook(m, order)
        ts = self.now_ms()
        self._close(acct, order, "Cancelled", reason, ts, cancel_type)
        self.stats["cancels"] += 1
        self._private(acct, "order", order.category, lambda: [order.to_bybit()], ts)

    def cancel_all(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/order/cancel-all (docs/v5/order/cancel-all): linear needs symbol, baseCoin or
        settleCoin (10001 otherwise); spot without symbol cancels every spot order."""
        with self.lock:
            acct = self.accounts[key]
            cat = p.get("category")
            if cat not in ("linear", "spot"):
                raise EngineError(10001, "params error: category only support linear and spot")
            sym, base, settle = p.get("symbol"), p.get("baseCoin"), p.get("settleCoin")
            if cat == "linear" and not (sym or base or settle):
                raise EngineError(10001, "Missing some parameters that must be filled in: "
                                         "symbol or baseCoin or settleCoin")
            done = []
            for o in sorted(self.open[key].values(), key=lambda o: o.seq):
                inst = self.instruments[(o.category, o.symbol)]
                if o.category == cat and (not sym or o.symbol == sym) and (
                        not base or inst.base_coin == base) and (
                        not settle or inst.quote_coin == settle):
                    self._cancel(acct, o, "EC_NoError")
                    done.append({"orderId": o.order_id, "orderLinkId": o.order_link_id})
            return {"list": done, "success": "1"}

    # ---- batches ---------------------------------------------------------------------------

    def _batch(self, key: str, p: dict[str, Any], allowed: int | None,
               one: Callable[[Account, dict[str, Any]], OrderRec],
               stamp: bool) -> Batch:
        with self.lock:
            acct = self.accounts[key]
            cat = p.get("category")
            if cat not in ("linear", "spot"):
                raise EngineError(10001, "params error: category only support linear and spot")
            items = p.get("request")
            if not isinstance(items, list) or not items:
                raise EngineError(10001, "params error: request must be a non-empty list")
            cap = self.rules.batch_max(str(cat))
            if len(items) > cap:
                raise EngineError(10001, f"params error: at most {cap} orders per batch "
                                         f"request ({cat}), got {len(items)}")
            out, ext = [], []
            for i, raw in enumerate(items):
                item = dict(raw) if isinstance(raw, dict) else {}
                item["category"] = cat
                row: dict[str, Any] = {"category": cat, "symbol": str(item.get("symbol", "")),
                                       "orderId": "", "orderLinkId": str(
                                           item.get("orderLinkId") or "")}
                if stamp:
                    row["createAt"] = ""
                code, msg = 0, "OK"
                if allowed is not None and i >= allowed:
                    code, msg = _TOO_MANY
                else:
                    try:
                        order = one(acct, item)
                        row.update(orderId=order.order_id, orderLinkId=order.order_link_id)
                        if stamp:
                            row["createAt"] = str(order.created)
                    except EngineError as exc:
                        code, msg = exc.code, exc.msg
                out.append(row)
                ext.append({"code": code, "msg": msg})
            return Batch({"list": out}, {"list": ext})

    def batch_create(self, key: str, p: dict[str, Any], allowed: int | None = None) -> Batch:
        """/v5/order/create-batch; items past `allowed` (the rate window's room) get 10006."""
        return self._batch(key, p, allowed, self._create, True)

    def batch_amend(self, key: str, p: dict[str, Any], allowed: int | None = None) -> Batch:
        """/v5/order/amend-batch."""
        return self._batch(key, p, allowed, self._amend, False)

    def batch_cancel(self, key: str, p: dict[str, Any], allowed: int | None = None) -> Batch:
        """/v5/order/cancel-batch."""
        def one(acct: Account, item: dict[str, Any]) -> OrderRec:
            order = self._find_open(acct, item, "cancel")
            self._cancel(acct, order, "EC_NoError")
            return order

        return self._batch(key, p, allowed, one, False)
