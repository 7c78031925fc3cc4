"""Private queries of the local exchange (a mixin of Engine): open/closed orders, order history,
executions, positions, leverage, wallet, fee rates, with Bybit's retention and paging rules.

- /v5/order/realtime (docs/v5/order/open-order): linear needs symbol, baseCoin or settleCoin;
  `openOnly=0` (default) open orders; `openOnly=1` the recent closed ones (`Rules.closed_realtime`
  per account and category); by orderId/orderLinkId an open or recent closed order. An order
  older than that is not returned although its orderLinkId stays taken.
- /v5/order/history (docs/v5/order/order-list): closed orders; cancelled/rejected orders without
  fills for `Rules.cancelled_history_ms`, others for `Rules.history_ms`; startTime/endTime at most
  7 days apart (10001), the last 7 days by default; orderId/orderLinkId win over the range.
- /v5/execution/list (docs/v5/order/execution): the same 7-day range rule.
- Cursors are keysets (the last row's sequence), so rows arriving between pages are neither
  repeated nor skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gridlab.fakex.marketdata import _int, _limit, _num, _page
from gridlab.fakex.records import (
    Account,
    EngineError,
    InstrumentSpec,
    MarketState,
    OrderRec,
    PositionRec,
    fmt,
)
from gridlab.fakex.rules import Rules, keyset_page, time_range

__all__ = ["QueriesMixin"]


class QueriesMixin:
    """Read endpoints over the engine's accounts."""

    lock: threading.RLock
    accounts: dict[str, Account]
    open: dict[str, dict[str, OrderRec]]
    markets: dict[tuple[str, str], MarketState]
    instruments: dict[tuple[str, str], InstrumentSpec]
    rules: Rules

    # provided by Engine / OrdersMixin
    now_ms: Callable[[], int]
    _market: Callable[[str, str], tuple[MarketState, InstrumentSpec]]
    _position: Callable[[Account, str], PositionRec]
    _position_entry: Callable[..., dict[str, Any]]
    available: Callable[[Account], float]
    fees: Callable[[Account], tuple[float, float]]

    # ---- orders ----------------------------------------------------------------------------

    def _in_scope(self, o: OrderRec, p: dict[str, Any]) -> bool:
        """category + symbol / baseCoin / settleCoin filters of a query."""
        if o.category != p.get("category"):
            return False
        inst = self.instruments[(o.category, o.symbol)]
        sym, base, settle = p.get("symbol"), p.get("baseCoin"), p.get("settleCoin")
        return ((not sym or o.symbol == sym) and (not base or inst.base_coin == base)
                and (not settle or inst.quote_coin == settle))

    @staticmethod
    def _named(acct: Account, p: dict[str, Any]) -> OrderRec | bool | None:
        """The order named by orderId (first) or orderLinkId; False when none is named."""
        oid, link = p.get("orderId"), p.get("orderLinkId")
        if oid:
            return acct.orders.get(str(oid))
        if link:
            return acct.orders.get(acct.by_link.get(str(link), ""))
        return False

    def open_orders(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/order/realtime: open orders, or the recent closed ones (see the module doc)."""
        with self.lock:
            acct = self.accounts[key]
            cat = p.get("category")
            if cat not in ("linear", "spot"):
                raise EngineError(10001, "params error: category only support linear and spot")
            if cat == "linear" and not (p.get("symbol") or p.get("baseCoin")
                                        or p.get("settleCoin")):
                raise EngineError(10001, "Missing some parameters that must be filled in: "
                                         "symbol or baseCoin or settleCoin")
            limit = _limit(p, 20, 50)
            recent = set(acct.recent_closed.get(str(cat), ()))
            named = self._named(acct, p)
            if named is not False:
                rows = [named] if isinstance(named, OrderRec) and self._in_scope(named, p) and (
                    named.is_open or named.order_id in recent) else []
            elif str(p.get("openOnly") or "0") == "0":
                rows = [o for o in self.open[key].values() if self._in_scope(o, p)]
            else:
                rows = [o for oid in recent if (o := acct.orders.get(oid)) is not None
                        and self._in_scope(o, p)]
            keyed = sorted(((o.seq, o) for o in rows), key=lambda r: -r[0])
            page, nxt = keyset_page(keyed, p.get("cursor"), limit)
            return {"category": cat, "list": [o.to_bybit() for o in page],
                    "nextPageCursor": nxt}

    def history_visible(self, o: OrderRec, now: int) -> bool:
        """Whether /v5/order/history still returns a closed order (retention windows)."""
        keep = (self.rules.cancelled_history_ms
                if o.cum_qty <= 0 and o.status in ("Cancelled", "Rejected", "Deactivated")
                else self.rules.history_ms)
        return now - o.updated <= keep

    def order_history(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/order/history: closed orders still retained, newest first."""
        with self.lock:
            acct = self.accounts[key]
            now = self.now_ms()
            named = self._named(acct, p)
            if named is not False:
                pool = [named] if isinstance(named, OrderRec) else []
                lo, hi = None, None
            else:
                pool = list(acct.orders.values())
                lo, hi = time_range(_int(p, "startTime"), _int(p, "endTime"), now,
                                    self.rules.max_range_ms)
            status = p.get("orderStatus")
            rows = [o for o in pool if not o.is_open and self._in_scope(o, p)
                    and self.history_visible(o, now) and (not status or o.status == status)
                    and (lo is None or o.created >= lo) and (hi is None or o.created <= hi)]
            keyed = sorted(((o.seq, o) for o in rows), key=lambda r: -r[0])
            page, nxt = keyset_page(keyed, p.get("cursor"), _limit(p, 20, 50))
            return {"category": p.get("category"), "list": [o.to_bybit() for o in page],
                    "nextPageCursor": nxt}

    def executions(self, key: str, p: dict[str, Any]) -> dict[str, Any]:
        """/v5/execution/list: newest first, 7-day ranges, keyset cursor."""
        with self.lock:
            acct = self.accounts[key]
            cat, sym = p.get("category"), p.get("symbol")
            oid, link, etype = p.get("orderId"), p.get("orderLinkId"), p.get("execType")
            lo, hi = time_range(_int(p, "startTime"), _int(p, "endTime"), self.now_ms(),
                                self.rules.max_range_ms)
            if oid or link:  # a named order: its fills whatever the range
                lo, hi = None, None  # type: ignore[assignment]
            rows = [(i, e) for i, e in reversed(list(enumerate(acct.executions)))
                    if e["category"] == cat and (not sym or e["symbol"] == sym)
                    and (lo is None or int(e["execTime"]) >= lo)
                    and (hi is None or int(e["execTime"]) <= hi)
                    and (not oid or e["orderId"] == oid) and (not link or e["orderLinkId"] == link)
                    and (not etype or e["execType"] == etype)]
            page, nxt = keyset_page(rows, p.get("cursor"), _limit(p, 50, 100))
            return {"category": cat, "list": page, "nextPageCursor": nxt}

    # ---- positions and account -------------------------------------------------------------

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
            out = [self._position_entry(acct, s) for s in syms]
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
        upl = pos_im = pos_mm = 0.0
        for sym, pos in acct.positions.items():
            mark = self.markets[("linear", sym)].mark_price
            upl += pos.unrealised(mark)
            pos_im += pos.im(mark)
            pos_mm += abs(pos.size) * pos.avg_price * self.instruments[("linear", sym)].mm_rate
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
                "totalPositionMM": fmt(pos_mm if coin == "USDT" else 0.0),
                "unrealisedPnl": fmt(c_upl),
                "cumRealisedPnl": fmt(sum(p.cum_realised for p in acct.positions.values())
                                      if coin == "USDT" else 0.0),
                "bonus": "0", "marginCollateral": True, "collateralSwitch": True,
            })
        return {
            "accountType": "UNIFIED", "accountIMRate": "0", "accountMMRate": "0",
            "totalEquity": fmt(total_wallet + upl), "totalWalletBalance": fmt(total_wallet),
            "totalMarginBalance": fmt(total_wallet + upl), "totalAvailableBalance": fmt(avail),
            "totalPerpUPL": fmt(upl), "totalInitialMargin": fmt(pos_im),
            "totalMaintenanceMargin": fmt(pos_mm), "accountLTV": "0", "coin": coins,
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
