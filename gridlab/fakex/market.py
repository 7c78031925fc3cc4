"""Market driver of the local exchange: replays trades or klines (from the DuckDB store, from
arrays, or from the synthetic generator) into the engine on one clock for all symbols.

Speed: `speed=N` plays N x real time (market time between prints is slept, scaled); `speed=None`
(or 0) plays as fast as possible. A test can instead call `step(n)` / `run_until(ts)`.
Each print drives matching and the public streams (publicTrade, kline, tickers).

Klines become four prints per bar at open_time + 0, 1/4, 1/2, 3/4 of the bar: open, then the
extreme nearer the open (low first on an up bar, high first on a down bar), the other extreme,
close - each with a quarter of the volume.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from gridlab.bybit.constants import INTERVAL_MS
from gridlab.fakex.engine import Engine

__all__ = ["MarketDriver", "klines_to_prints", "synthetic_trades"]

log = logging.getLogger("gridlab.fakex.market")


def klines_to_prints(k: Mapping[str, np.ndarray], interval_ms: int) -> dict[str, np.ndarray]:
    """Bars (open_time, open, high, low, close, volume) -> a 4-point price path per bar."""
    t0 = np.asarray(k["open_time"], dtype=np.int64)
    o, h, lo, c = (np.asarray(k[n], dtype=np.float64) for n in ("open", "high", "low", "close"))
    vol = np.asarray(k.get("volume", np.ones(len(t0))), dtype=np.float64)
    up = c >= o
    p = np.stack([o, np.where(up, lo, h), np.where(up, h, lo), c], axis=1)
    ts = t0[:, None] + (np.arange(4, dtype=np.int64) * (interval_ms // 4))[None, :]
    prev = np.concatenate([[p[0, 0]], p.reshape(-1)[:-1]]) if len(p) else np.zeros(0)
    price = p.reshape(-1)
    side = np.where(price >= prev, 1, -1).astype(np.int8)
    size = np.repeat(np.maximum(vol / 4, 0.0), 4)
    return {"ts": ts.reshape(-1), "price": price, "size": size, "side": side}


def synthetic_trades(symbol: str, start_ms: int, days: float = 1.0, seed: int = 0,
                     base_price: float = 60_000.0, category: str = "linear",
                     **kw: Any) -> dict[str, np.ndarray]:
    """Trades from gridlab.data.synth.generate_trades as arrays (ts, price, size, side +-1)."""
    from gridlab.data.synth import generate_trades

    df = generate_trades(symbol=symbol, start_ms=start_ms, days=days, seed=seed,
                         base_price=base_price, category=category, **kw)
    side = df["side"].to_numpy()
    return {"ts": df["ts"].to_numpy(np.int64), "price": df["price"].to_numpy(np.float64),
            "size": df["size"].to_numpy(np.float64),
            "side": np.where(side == "Buy", 1, -1).astype(np.int8)}


class MarketDriver:
    """Feeds prints of one or more symbols, merged by time, into an Engine."""

    def __init__(self, engine: Engine, speed: float | None = None) -> None:
        self.engine = engine
        self.speed = speed or None
        self._streams: list[tuple[str, str, dict[str, np.ndarray]]] = []
        self._ts = np.zeros(0, np.int64)
        self._price = np.zeros(0)
        self._size = np.zeros(0)
        self._side = np.zeros(0, np.int8)
        self._sym = np.zeros(0, np.int32)
        self.cursor = 0
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()

    # ---- sources ---------------------------------------------------------------------------

    def add_trades(self, symbol: str, trades: Mapping[str, np.ndarray],
                   category: str = "linear") -> int:
        """Queue trades (keys ts, price, size, side +-1, as gridlab.store.market.load_trades)."""
        arrays = {k: np.asarray(trades[k]) for k in ("ts", "price", "size", "side")}
        with self._lock:
            self._streams.append((category, symbol, arrays))
            self._merge()
        return len(arrays["ts"])

    def add_klines(self, symbol: str, klines: Mapping[str, np.ndarray], interval: str = "1",
                   category: str = "linear", serve_history: bool = False) -> int:
        """Queue bars as 4-point paths; `serve_history` also loads them for /v5/market/kline."""
        if serve_history:
            rows = np.stack([np.asarray(klines[c], dtype=np.float64) for c in
                             ("open", "high", "low", "close", "volume", "turnover")], axis=1)
            self.engine.load_klines(symbol, interval, klines["open_time"], rows.tolist(),
                                    category)
        return self.add_trades(symbol, klines_to_prints(klines, INTERVAL_MS[interval]), category)

    def add_synthetic(self, symbol: str, start_ms: int, days: float = 1.0, seed: int = 0,
                      base_price: float = 60_000.0, category: str = "linear", **kw: Any) -> int:
        """Queue a synthetic trade stream (gridlab.data.synth)."""
        inst = self.engine.instruments.get((category, symbol))
        if inst is not None:
            kw.setdefault("tick_size", inst.tick_size)
            kw.setdefault("qty_step", inst.qty_step)
        return self.add_trades(symbol, synthetic_trades(symbol, start_ms, days, seed, base_price,
                                                        category, **kw), category)

    def add_from_store(self, store: Any, symbol: str, category: str = "linear",
                       start_ms: int | None = None, end_ms: int | None = None,
                       kind: str = "trades", interval: str = "1") -> int:
        """Queue trades (or klines of `interval`) of a symbol from the DuckDB store."""
        from gridlab.store import market as sm

        if kind == "trades":
            return self.add_trades(symbol, sm.load_trades(store, symbol, category, start_ms,
                                                          end_ms), category)
        if kind == "klines":
            return self.add_klines(symbol, sm.load_klines(store, symbol, category, interval,
                                                          start_ms, end_ms), interval, category)
        raise ValueError(f"kind must be 'trades' or 'klines', got {kind!r}")

    def _merge(self) -> None:
        """Rebuild the merged timeline; keep the position (events after the last played ts)."""
        done_ts = int(self._ts[self.cursor - 1]) if self.cursor else None
        parts = [(i, s[2]) for i, s in enumerate(self._streams)]
        ts = np.concatenate([a["ts"].astype(np.int64) for _, a in parts])
        order = np.argsort(ts, kind="stable")
        self._ts = ts[order]
        self._price = np.concatenate([a["price"].astype(np.float64) for _, a in parts])[order]
        self._size = np.concatenate([a["size"].astype(np.float64) for _, a in parts])[order]
        self._side = np.concatenate([a["side"].astype(np.int8) for _, a in parts])[order]
        self._sym = np.concatenate([np.full(len(a["ts"]), i, np.int32) for i, a in parts])[order]
        self.cursor = 0 if done_ts is None else int(np.searchsorted(self._ts, done_ts, "right"))

    # ---- playing ---------------------------------------------------------------------------

    @property
    def remaining(self) -> int:
        """Prints not played yet."""
        return len(self._ts) - self.cursor

    @property
    def done(self) -> bool:
        """True when every queued print was played."""
        return self.remaining <= 0

    def next_ts(self) -> int | None:
        """Time of the next print (None when done)."""
        return None if self.done else int(self._ts[self.cursor])

    def step(self, n: int = 1) -> int:
        """Play the next `n` prints now; returns how many were played."""
        played = 0
        with self._lock:
            while played < n and self.cursor < len(self._ts):
                self._play(self.cursor)
                self.cursor += 1
                played += 1
        return played

    def run_until(self, ts: int) -> int:
        """Play every print with time <= ts."""
        with self._lock:
            end = int(np.searchsorted(self._ts, ts, "right"))
            return self.step(max(0, end - self.cursor))

    def _play(self, i: int) -> None:
        category, symbol, _ = self._streams[self._sym[i]]
        self.engine.on_trade(category, symbol, int(self._ts[i]), float(self._price[i]),
                             float(self._size[i]), int(self._side[i]))

    def start(self) -> None:
        """Play in a background thread at `speed` (None: as fast as possible)."""
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="fakex-market", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread."""
        self._stop.set()
        self._resume.set()
        if self._thread:
            self._thread.join(timeout)
        self._thread = None

    def pause(self) -> None:
        """Hold the background thread (step() still works)."""
        self._resume.clear()

    def resume(self) -> None:
        """Continue after pause()."""
        self._resume.set()

    def _run(self) -> None:
        wall0 = time.monotonic()
        sim0 = self.next_ts()
        batch = 0
        while not self._stop.is_set() and not self.done:
            if not self._resume.is_set():
                self._resume.wait()
                wall0, sim0 = time.monotonic(), self.next_ts()
                continue
            nxt = self.next_ts()
            if nxt is None:
                break
            if self.speed and sim0 is not None:
                due = wall0 + (nxt - sim0) / 1000.0 / self.speed
                delay = due - time.monotonic()
                if delay > 0:
                    self._stop.wait(min(delay, 0.5))
                    continue
            try:
                self.step(1)
            except Exception:  # a bad print must not kill the feed silently
                log.exception("market driver: print %d failed", self.cursor)
                self.cursor += 1
            batch += 1
            if batch % 200 == 0:
                time.sleep(0)  # let the server threads run
        log.info("market driver stopped at %d/%d prints", self.cursor, len(self._ts))

    def status(self) -> dict[str, Any]:
        """Progress for /admin/state."""
        return {"played": self.cursor, "total": len(self._ts), "speed": self.speed,
                "running": bool(self._thread and self._thread.is_alive()),
                "next_ts": self.next_ts()}
