"""Local exchange and adapter benchmarks (loopback only, bounded loops).

- orders/s the local exchange sustains: place + cancel cycles through BybitClient, and raw
  (a minimal signed requests.Session, one thread and four threads);
- the adapter's added latency per call: BybitClient call minus the same raw signed HTTP call
  (median of many, for a read and for place_order);
- REST kline ingestion into DuckDB, pages of 1000 bars per second.

Client and server rate limits are off here. Run: `python -m benchmarks.bench_exchange`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import requests

try:
    from benchmarks.common import Result
except ImportError:  # benchmarks/common.py not there yet: same fields
    from dataclasses import dataclass

    @dataclass
    class Result:  # type: ignore[no-redef]
        name: str
        value: float
        unit: str
        target: float | None = None
        higher_is_better: bool = True


if TYPE_CHECKING:
    from gridlab.fakex.handle import FakeExchange

__all__ = ["run"]

SYM = "BTCUSDT"
_UNLIMITED = {"market": 0, "order": 0, "batch": 0, "position": 0, "account": 0}


class RawClient:
    """The least a client can do: sign and send with one requests.Session."""

    def __init__(self, url: str, key: str, secret: str) -> None:
        self.url, self.key, self.secret = url, key, secret
        self.s = requests.Session()

    def _headers(self, payload: str) -> dict[str, str]:
        ts = str(int(time.time() * 1000))
        sign = hmac.new(self.secret.encode(), f"{ts}{self.key}5000{payload}".encode(),
                        hashlib.sha256).hexdigest()
        return {"X-BAPI-API-KEY": self.key, "X-BAPI-SIGN": sign, "X-BAPI-TIMESTAMP": ts,
                "X-BAPI-RECV-WINDOW": "5000", "Content-Type": "application/json"}

    def get(self, path: str, query: str) -> dict:
        return self.s.get(f"{self.url}{path}?{query}", headers=self._headers(query),
                          timeout=5).json()

    def post(self, path: str, body: dict) -> dict:
        data = json.dumps(body)
        return self.s.post(f"{self.url}{path}", data=data, headers=self._headers(data),
                           timeout=5).json()


def _raw_cycles(fx: FakeExchange, n: int, tag: str) -> None:
    raw = RawClient(fx.url, fx.api_key, fx.api_secret)
    for i in range(n):
        link = f"{tag}-{i}"
        r = raw.post("/v5/order/create", {"category": "linear", "symbol": SYM, "side": "Buy",
                                          "orderType": "Limit", "qty": "0.001",
                                          "price": str(50_000 + i % 500),
                                          "timeInForce": "PostOnly", "orderLinkId": link})
        assert r["retCode"] == 0, r
        r = raw.post("/v5/order/cancel", {"category": "linear", "symbol": SYM,
                                          "orderLinkId": link})
        assert r["retCode"] == 0, r


def _median_ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def run() -> list[Result]:
    """All exchange/adapter figures."""
    from gridlab.bybit.client import BybitClient
    from gridlab.data.ingest_rest import ingest_klines
    from gridlab.fakex.handle import FakeExchange
    from gridlab.fakex.rules import Rules
    from gridlab.store.core import Store

    out: list[Result] = []
    # the latency rows leave 600 orders resting: lift the 500-per-symbol cap (110020)
    with tempfile.TemporaryDirectory() as tmp, FakeExchange(
            rate_limits={}, state_path=Path(tmp) / "s.json", balance=1e9,
            rules=Rules(max_open_orders=10**6)) as fx:
        client = BybitClient(fx.config(rate_limits=_UNLIMITED), fx.credentials)
        client.get_server_time()
        n = 400
        t0 = time.perf_counter()
        for i in range(n):
            ack = client.place_order(SYM, 1, 0.001, 50_000.0 + i % 500)
            client.cancel_order(SYM, ack.order_id)
        out.append(Result("local exchange: place+cancel cycles/s through BybitClient",
                          n / (time.perf_counter() - t0), "cycles/s", 150.0))
        t0 = time.perf_counter()
        _raw_cycles(fx, n, "raw1")
        out.append(Result("local exchange: place+cancel cycles/s, raw signed HTTP, 1 thread",
                          n / (time.perf_counter() - t0), "cycles/s", 250.0))
        threads = [threading.Thread(target=_raw_cycles, args=(fx, n // 4, f"raw4-{k}"))
                   for k in range(4)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out.append(Result("local exchange: place+cancel cycles/s, raw signed HTTP, 4 threads",
                          n / (time.perf_counter() - t0), "cycles/s", 250.0))

        raw = RawClient(fx.url, fx.api_key, fx.api_secret)
        q = "category=linear&symbol=BTCUSDT"
        m_raw = _median_ms(lambda: raw.get("/v5/order/realtime", q), 300)
        m_ad = _median_ms(lambda: client.get_open_orders(SYM), 300)
        out.append(Result("adapter added latency, get_open_orders (median, loopback)",
                          (m_ad - m_raw) * 1000, "us", 1000.0, False))
        k = iter(range(10**6))

        def raw_place() -> None:
            raw.post("/v5/order/create", {"category": "linear", "symbol": SYM, "side": "Buy",
                                          "orderType": "Limit", "qty": "0.001", "price": "40000",
                                          "timeInForce": "PostOnly", "orderLinkId": f"L{next(k)}"})

        m_raw = _median_ms(raw_place, 300)
        m_ad = _median_ms(lambda: client.place_order(SYM, 1, 0.001, 40_000.0), 300)
        out.append(Result("adapter added latency, place_order (median, loopback)",
                          (m_ad - m_raw) * 1000, "us", 1000.0, False))
        out.append(Result("raw signed HTTP call on loopback (median)", m_raw, "ms", 5.0, False))

        bars = 100_000
        now = int(time.time() * 1000) // 60_000 * 60_000
        t = now - np.arange(bars, 0, -1, dtype=np.int64) * 60_000
        fx.engine.load_klines(SYM, "1", t, np.tile([100.0, 101, 99, 100.5, 1, 100],
                                                   (bars, 1)).tolist())
        with Store.open(Path(tmp) / "bench.duckdb") as store:
            t0 = time.perf_counter()
            rep = ingest_klines(store, BybitClient(fx.config(rate_limits=_UNLIMITED)), SYM,
                                "linear", "1", int(t[0]))
            dt = time.perf_counter() - t0
        assert rep.added == bars, rep
        out.append(Result("REST kline ingest into DuckDB (1000 bars/page)", rep.pages / dt,
                          "pages/s", 20.0))
        client.close()
    return out


if __name__ == "__main__":
    for r in run():
        print(f"{r.name:70s} {r.value:10.1f} {r.unit:9s} (target {r.target})")
