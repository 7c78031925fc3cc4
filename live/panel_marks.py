"""What the panel charts between the 5-minute snapshots: the runner's own marks and candles.

- `MarkBook`: every `step_s` (1 s) the panel samples each grid's ledger at its last price
  (strategy equity, position, unrealized PnL) and the account's total equity, in memory (the
  last `keep` samples; the stored snapshots cover what came before), so the equity chart has
  points from the first seconds on.
- `candles`: the bars the strategy itself builds from the market prints (its bar ring, oldest
  first, plus the bar being formed), on the market clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from gridlab.strategy.bars_nb import (
    B_CLOSE,
    B_HIGH,
    B_LOW,
    B_OPEN,
    B_OPEN_TIME,
    H_COUNT,
    H_CUR_OPEN,
    H_HEAD,
)

if TYPE_CHECKING:
    from live.core import TradingCore
    from live.runner import LiveRunner

__all__ = ["MarkBook", "candles"]

Mark = tuple[int, int, float, float, float, float]  # wall ms, market ms, price, equity, pos, upl


class MarkBook:
    """In-memory marks of every grid and of the account (see the module docstring)."""

    def __init__(self, step_s: float = 1.0, keep: int = 21_600) -> None:
        self.step_s = step_s
        self.grids: dict[str, deque[Mark]] = {}
        self.account: deque[tuple[int, float]] = deque(maxlen=keep)
        self.keep = keep

    def sample(self, r: LiveRunner) -> None:
        """One mark per grid with a price, and one of the account."""
        if not r.ready.is_set() or not r.cores:
            return
        now = int(time.time() * 1000)
        for c in r.cores.values():
            p = c.last_price
            if math.isnan(p):
                continue
            t = c.ledger.totals(p)
            q = self.grids.setdefault(c.s.symbol, deque(maxlen=self.keep))
            q.append((now, int(c.last_ts), float(p), t["equity"], t["position"], t["unrealized"]))
        if r.account is not None and any(not math.isnan(c.last_price) for c in r.cores.values()):
            self.account.append((now, float(r.account.total_equity())))

    def series(self, symbol: str | None) -> dict[str, list[Any]]:
        """ts (wall ms), equity, price of a grid's marks; of the account when `symbol` is None."""
        if symbol is None:
            return {"ts": [m[0] for m in self.account], "equity": [m[1] for m in self.account],
                    "price": []}
        q = self.grids.get(symbol, ())
        return {"ts": [m[0] for m in q], "equity": [m[3] for m in q], "price": [m[2] for m in q]}

    async def run(self, r: LiveRunner) -> None:
        """Sample until cancelled (a task on the runner's loop)."""
        while True:
            with contextlib.suppress(Exception):  # a mark must never break the panel
                self.sample(r)
            await asyncio.sleep(self.step_s)


def candles(core: TradingCore, limit: int = 500) -> dict[str, Any]:
    """The strategy's bars (market clock), oldest first: open times (ms) and OHLC."""
    st = core.strategy
    ring, meta, cur = st.ring, st.meta, st.cur
    n, cap, head = int(meta[H_COUNT]), ring.shape[0], int(meta[H_HEAD])
    idx = np.arange(head - n, head) % cap if n else np.zeros(0, dtype=np.int64)
    rows = ring[idx]
    t = rows[:, B_OPEN_TIME].astype(np.int64).tolist()
    o, h, lo, c = (rows[:, k].tolist() for k in (B_OPEN, B_HIGH, B_LOW, B_CLOSE))
    if int(meta[H_CUR_OPEN]) >= 0:  # the bar being formed
        t.append(int(meta[H_CUR_OPEN]))
        o.append(float(cur[0]))
        h.append(float(cur[1]))
        lo.append(float(cur[2]))
        c.append(float(cur[3]))
    k = max(0, len(t) - limit)
    return {"t": t[k:], "open": o[k:], "high": h[k:], "low": lo[k:], "close": c[k:],
            "bar_ms": int(st.gp.bar_ms)}
