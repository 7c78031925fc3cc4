"""Prometheus metrics of the panel's /metrics: read from the runner at scrape time, one series
per grid (label `symbol`) and a few for the whole runner."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from live.runner import LiveRunner

__all__ = ["Collector"]


class Collector:
    """Prometheus collector reading the runner at scrape time (label `symbol` per grid)."""

    def __init__(self, r: LiveRunner) -> None:
        self.r = r

    def collect(self) -> Iterator[Metric]:
        r = self.r
        if not r.cores or r.account is None:
            return
        g = GaugeMetricFamily
        cores = list(r.cores.values())

        def per(name: str, help_: str, fn: Any) -> Metric:
            m = g(name, help_, labels=["symbol"])
            for c in cores:
                v = fn(c)
                if v is not None and not (isinstance(v, float) and math.isnan(v)):
                    m.add_metric([c.s.symbol], v)
            return m

        yield per("gridlab_live_up", "1 while the grid is trading", lambda c: int(c.trading))
        yield per("gridlab_live_stopped", "stop code (0 = none, 1 = kill switch, ...)",
                  lambda c: int(c.risk.stopped))
        yield per("gridlab_live_error", "1 while the grid is in its error state",
                  lambda c: int(c.error is not None))
        yield per("gridlab_live_generation", "grid generation", lambda c: c.gen)
        yield per("gridlab_live_position", "strategy position (base units)",
                  lambda c: c.ledger.position)
        yield per("gridlab_live_price", "last market price", lambda c: c.last_price)
        yield per("gridlab_live_equity", "grid equity",
                  lambda c: None if math.isnan(c.last_price) else c.ledger.equity(c.last_price))
        yield per("gridlab_live_open_orders", "working orders of the grid",
                  lambda c: len(c.slot_link))
        yield per("gridlab_live_pending_fills", "stored fills not applied yet",
                  lambda c: len(c.pending))
        a = r.account.summary()
        yield g("gridlab_live_account_equity", "total equity of every grid",
                value=a["equity"])
        yield g("gridlab_live_account_exposure", "total |position| x price / total equity",
                value=a["exposure"] or 0.0)
        yield g("gridlab_live_account_stopped", "account stop code (1 = kill switch)",
                value=int(r.account.stopped))
        yield g("gridlab_live_grids_failed", "grids that could not start", value=len(r.failed))
        yield g("gridlab_live_streams_healthy", "1 when every WebSocket stream is healthy",
                value=int(r.streams_healthy))
        for name, help_ in (("fills_stored", "executions stored"),
                            ("fills_applied", "executions applied"),
                            ("duplicates", "execution deliveries dropped as duplicates"),
                            ("orders_placed", "orders placed"),
                            ("orders_amended", "orders moved by amend on a recenter"),
                            ("amends_refused", "amends refused (cancelled and placed again)"),
                            ("orders_refused", "orders refused by the exchange"),
                            ("blocked", "orders blocked by the risk checks"),
                            ("blocked_account", "orders blocked by the account limits"),
                            ("post_only", "PostOnly orders cancelled as takers"),
                            ("recenters", "grid recenters"), ("errors", "errors")):
            c = CounterMetricFamily(f"gridlab_live_{name}", help_, labels=["symbol"])
            for core in cores:
                c.add_metric([core.s.symbol], core.stats[name])
            yield c
