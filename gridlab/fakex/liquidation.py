"""Margin and liquidation of the local exchange, from the backtest's own margin kernels.

The liquidation price (`liqPrice`), bankruptcy price (`bustPrice`) and maintenance margin
(`positionMM`) of a linear position are the values of `gridlab.strategy.margin_nb`
(`liq_price_nb`, `bankruptcy_price_nb`, `maintenance_margin_nb`: the functions the backtest's
`backtest.liquidation_nb` calls), with the instrument's risk-limit tiers: those set with
`Engine.set_risk_tiers`, else the shipped snapshot's (`strategy.margin.snapshot_tiers`, the
loader the backtest uses offline), else one tier at the instrument's `mm_rate`. The margin
backing a position is, as in `liquidation_nb.position_margin_nb`: its initial margin
`size x entry / leverage` (isolated, and the display when margin is off) or the account's
USDT wallet balance (cross: balance + realized - fees - funding, unrealized PnL excluded;
one linear position per account is assumed to use it).

Liquidation (`Engine(margin="isolated" | "cross")`; "off", the default, never liquidates):
the mark is the last print (`MarketState.mark_price`, as the backtest without a mark-price
series uses the event price). The engine looks at three points of a print, as the backtest
looks at three points of an event: before matching (the position as it stands), after
matching, and after an order that filled on entry (a market order, a marketable limit).
When the mark has reached the liquidation price (`liq_crossed_nb`: long mark <= LP, short
mark >= LP) every open order of the symbol is cancelled (cancelType CancelByLiq) and the
whole position is taken over at the bankruptcy price with no fee (as the backtest books it):
an execution `execType` BustTrade of a Market order `createType` CreateByTakeOverPassThrough,
then the order, position and wallet streams. Partial (tiered) liquidation and ADL are not
modelled, as in the backtest.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any

from gridlab.fakex.records import (
    Account,
    InstrumentSpec,
    MarketState,
    OrderRec,
    PositionRec,
    fmt,
)
from gridlab.strategy.margin import RiskTiers, snapshot_tiers
from gridlab.strategy.margin_nb import (
    bankruptcy_price_nb,
    liq_crossed_nb,
    liq_price_nb,
    maintenance_margin_nb,
    order_margin_ok_nb,
    tier_index_nb,
)

__all__ = ["MARGIN_MODES", "LiquidationMixin", "PositionMargin"]

MARGIN_MODES = ("off", "isolated", "cross")
EXEC_BUST = "BustTrade"  # docs/v5/enum#exectype: a liquidation take-over
CREATE_TAKEOVER = "CreateByTakeOverPassThrough"  # docs/v5/enum#createtype
CANCEL_LIQ = "CancelByLiq"  # docs/v5/enum#canceltype


class PositionMargin:
    """The margin figures of one position (kernel values, unrounded)."""

    __slots__ = ("bust", "liq", "margin", "mm", "tier")

    def __init__(self, liq: float, bust: float, mm: float, margin: float, tier: int) -> None:
        self.liq, self.bust, self.mm, self.margin, self.tier = liq, bust, mm, margin, tier


class LiquidationMixin:
    """Margin figures of positions and the liquidation engine (a part of `Engine`)."""

    margin: str
    tier_rows: dict[str, list[dict[str, Any]]]
    _tiers: dict[str, RiskTiers]
    instruments: dict[tuple[str, str], InstrumentSpec]
    markets: dict[tuple[str, str], MarketState]
    accounts: dict[str, Account]
    open: dict[str, dict[str, OrderRec]]
    stats: dict[str, int]

    # provided by the engine and OrdersMixin
    _fill: Callable[..., None]
    _cancel: Callable[..., None]
    _next_seq: Callable[[], int]

    # ---- tiers -----------------------------------------------------------------------------

    def set_risk_tiers(self, symbol: str, rows: list[dict[str, Any]]) -> RiskTiers:
        """Use these risk-limit tier rows (TIER_FIELDS, as the store holds them) for `symbol`."""
        tiers = RiskTiers.from_rows(symbol, rows)
        self.tier_rows[symbol] = tiers.rows()
        self._tiers.pop(symbol, None)
        return tiers

    def risk_tiers(self, inst: InstrumentSpec) -> RiskTiers:
        """The tiers of a linear instrument (module docstring: set, snapshot, one tier)."""
        tiers = self._tiers.get(inst.symbol)
        if tiers is None:
            rows = self.tier_rows.get(inst.symbol)
            if rows is not None:
                tiers = RiskTiers.from_rows(inst.symbol, rows)
            else:
                try:
                    tiers = snapshot_tiers(inst.symbol)
                except Exception:  # not in the snapshot: one tier at the instrument's rate
                    tiers = RiskTiers.from_rows(inst.symbol, [{
                        "risk_limit_value": 1e18, "mmr": inst.mm_rate,
                        "imr": 2 * inst.mm_rate, "max_leverage": 100.0, "mm_deduction": 0.0}])
            self._tiers[inst.symbol] = tiers
        return tiers

    # ---- figures ---------------------------------------------------------------------------

    def position_margin(self, acct: Account, inst: InstrumentSpec,
                        pos: PositionRec) -> PositionMargin | None:
        """liq / bust price, MM, backing margin and tier index of a position (None if flat)."""
        if not pos.size or pos.avg_price <= 0 or pos.leverage <= 0:
            return None
        tiers = self.risk_tiers(inst)
        side = 1 if pos.size > 0 else -1
        size, entry = abs(pos.size), pos.avg_price
        if self.margin == "cross":
            margin = acct.coins.get("USDT", 0.0)
        else:
            margin = size * entry / pos.leverage
        liq = float(liq_price_nb(side, size, entry, margin, *tiers.arrays))
        bust = float(bankruptcy_price_nb(side, size, entry, margin))
        mm = float(maintenance_margin_nb(size * entry, *tiers.arrays))
        tier = min(int(tier_index_nb(tiers.limit, size * entry)), tiers.limit.shape[0] - 1)
        return PositionMargin(liq, bust, mm, margin, tier)

    @staticmethod
    def shown_price(px: float, side: int, tick: float) -> str:
        """A liquidation / bankruptcy price as the position shows it: on the tick (a long's
        rounded up, a short's down: towards the entry), "" when it cannot be reached."""
        if math.isnan(px) or px <= 0:
            return ""
        n = math.ceil(px / tick - 1e-9) if side > 0 else math.floor(px / tick + 1e-9)
        return fmt(round(n * tick, 12))

    def margin_fields(self, acct: Account, inst: InstrumentSpec,
                      pos: PositionRec) -> dict[str, Any]:
        """The position entry's liqPrice, bustPrice, positionMM, riskId, riskLimitValue."""
        tiers = self.risk_tiers(inst)
        pm = self.position_margin(acct, inst, pos)
        if pm is None:
            return {"liqPrice": "", "bustPrice": "", "positionMM": "0", "riskId": 1,
                    "riskLimitValue": f"{tiers.limit[0]:.0f}"}
        side = 1 if pos.size > 0 else -1
        return {"liqPrice": self.shown_price(pm.liq, side, inst.tick_size),
                "bustPrice": self.shown_price(pm.bust, side, inst.tick_size),
                "positionMM": fmt(pm.mm),
                "riskId": pm.tier + 1, "riskLimitValue": f"{tiers.limit[pm.tier]:.0f}"}

    # ---- order admission (110007) -----------------------------------------------------------

    def margin_carries(self, acct: Account, inst: InstrumentSpec, pos: PositionRec, d: int,
                       qty: float, price: float, taker_fee: float, mark: float) -> bool:
        """With margin on: does the margin carry a new linear order (side d, qty at price)?
        The backtest's rule (`order_margin_ok_nb`, docs/margin.md): the position's IM plus the
        costlier side's order cost of the resting orders, with the new one, against the margin
        balance (isolated: the USDT wallet balance; cross: that + the unrealized PnL)."""
        bq = bn = sq = sn = 0.0
        for o in self.open[acct.key].values():
            if o.category != "linear" or o.symbol != inst.symbol or o.reduce_only:
                continue
            if o.side == "Buy":
                bq, bn = bq + o.leaves, bn + o.leaves * o.price
            else:
                sq, sn = sq + o.leaves, sn + o.leaves * o.price
        balance = acct.coins.get("USDT", 0.0)
        if self.margin == "cross":
            balance += pos.unrealised(mark)
        return bool(order_margin_ok_nb(d, qty, price, pos.size, pos.avg_price, balance, bq, bn,
                                       sq, sn, pos.leverage, taker_fee))

    # ---- the liquidation engine ------------------------------------------------------------

    def _liquidations(self, m: MarketState, inst: InstrumentSpec, ts: int) -> int:
        """Liquidate every position of the symbol whose liquidation price the mark reached
        (margin on, linear only). Returns how many were taken over."""
        if self.margin == "off" or inst.category != "linear":
            return 0
        n = 0
        for acct in list(self.accounts.values()):
            pos = acct.positions.get(inst.symbol)
            if pos is None or not pos.size:
                continue
            pm = self.position_margin(acct, inst, pos)
            if pm is None or not liq_crossed_nb(1 if pos.size > 0 else -1, pm.liq,
                                                m.mark_price):
                continue
            self._take_over(acct, m, inst, pos, pm, ts)
            n += 1
        return n

    def _take_over(self, acct: Account, m: MarketState, inst: InstrumentSpec,
                   pos: PositionRec, pm: PositionMargin, ts: int) -> None:
        """Cancel the symbol's open orders, then take the position over at the bankruptcy
        price, no fee (module docstring)."""
        for o in sorted(self.open[acct.key].values(), key=lambda o: o.seq):
            if o.category == "linear" and o.symbol == inst.symbol:
                self._cancel(acct, o, "EC_NoError", CANCEL_LIQ)
        side = "Sell" if pos.size > 0 else "Buy"
        qty = abs(pos.size)
        order = OrderRec(order_id=str(uuid.uuid4()), order_link_id="", key=acct.key,
                         category="linear", symbol=inst.symbol, side=side,
                         order_type="Market", price=pm.bust, qty=qty,
                         tif="IOC", reduce_only=True, created=ts, updated=ts,
                         seq=self._next_seq(), tick=inst.tick_size, step=inst.qty_step,
                         create_type=CREATE_TAKEOVER)
        acct.orders[order.order_id] = order
        self.stats["liquidations"] = self.stats.get("liquidations", 0) + 1
        self._fill(acct, m, inst, order, qty, pm.bust, False, ts, rate=0.0,
                   exec_type=EXEC_BUST)
