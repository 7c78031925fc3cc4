"""Bybit v5 rules the local exchange follows, each in one place, with the doc page it follows.

- `Rules.closed_realtime`: "Get Open & Closed Orders" (docs/v5/order/open-order): /v5/order/realtime
  keeps at most the recent 500 closed (Cancelled, Rejected, Filled) orders per account and
  category (`openOnly=1`, or a query by orderId/orderLinkId); older ones only in history.
- `Rules.cancelled_history_ms` / `history_ms`: "Get Order History" (docs/v5/order/order-list):
  fully cancelled / rejected orders (no fills) are returned for 24 hours, orders with fills for
  2 years; `max_range_ms`: endTime - startTime <= 7 days, 7 days by default (also
  "Get Trade History", docs/v5/order/execution).
- `Rules.max_open_orders`: 500 active orders per symbol ("Place Order", docs/v5/order/create-order;
  retCode 110020 in docs/v5/error).
- `Rules.batch_max`: items per batch request ("Batch Place Order", docs/v5/order/batch-place:
  linear 20, spot 10; the same for amend-batch and cancel-batch).
- `Rules.market_band`: a market order is kept as an IOC limit order with a protection price
  (the touch +-band, on the tick) and reports that `price` (linear; spot reports "0").
- Liquidation price, bankruptcy price and liquidation: `liquidation.LiquidationMixin` (the
  backtest's margin kernels, not a rule of this module).

The windows are configurable (`Engine(rules=Rules(...))`, `FakeExchange(rules=...)`): tests use
small ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gridlab.fakex.records import EngineError

__all__ = ["DAY_MS", "Rules", "keyset_page", "time_range"]

DAY_MS = 86_400_000


@dataclass
class Rules:
    """Retention windows and limits (Bybit's values by default)."""

    closed_realtime: int = 500
    cancelled_history_ms: int = DAY_MS
    history_ms: int = 730 * DAY_MS
    max_range_ms: int = 7 * DAY_MS
    max_open_orders: int = 500
    batch_max_linear: int = 20
    batch_max_spot: int = 10
    market_band: float = 0.03

    def batch_max(self, category: str) -> int:
        """Items allowed in one batch request of `category`."""
        return self.batch_max_spot if category == "spot" else self.batch_max_linear

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, d: dict[str, Any] | Rules | None) -> Rules:
        if isinstance(d, Rules):
            return d
        return cls(**(d or {}))


def time_range(start: int | None, end: int | None, now: int,
               max_range_ms: int) -> tuple[int, int | None]:
    """[lo, hi] of a history query (docs/v5/order/order-list, startTime/endTime):
    neither -> the last `max_range_ms` (open-ended above: the market clock may lag the wall
    clock), only start -> [start, start + range], only end -> [end - range, end], both -> must
    be at most `max_range_ms` apart (10001 otherwise)."""
    if start is None and end is None:
        return now - max_range_ms, None
    if start is None:
        assert end is not None
        return end - max_range_ms, end
    if end is None:
        return start, start + max_range_ms
    if end < start:
        raise EngineError(10001, "params error: endTime must be after startTime")
    if end - start > max_range_ms:
        days = max_range_ms / DAY_MS
        raise EngineError(10001, f"params error: the time range between startTime and endTime "
                                 f"must be within {days:g} days")
    return start, end


def keyset_page(rows: list[tuple[int, Any]], cursor: str | None,
                limit: int) -> tuple[list[Any], str]:
    """A page of `rows` ((key, item), keys unique and descending: newest first) after `cursor`.

    The cursor names the last key returned, so rows added before the next call (newer, larger
    keys) neither shift nor repeat the later pages."""
    after: int | None = None
    if cursor:
        try:
            after = int(str(cursor).split(":", 1)[-1])
        except ValueError:
            raise EngineError(10001, "params error: cursor invalid") from None
    if after is not None:
        rows = [r for r in rows if r[0] < after]
    page = rows[:limit]
    nxt = f"k:{page[-1][0]}" if len(rows) > limit else ""
    return [item for _, item in page], nxt
