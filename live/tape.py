"""The runner's tape recorder: every public trade it receives, and where the tape has holes.

A thin layer over `gridlab.store.live_tape.TapeWriter` that knows the runner's events: trades
from the stream (and those recovered over REST after a reconnect) are buffered and flushed
once per consumer batch; a stream drop opens a gap at the last trade stored for each symbol of
that stream, a restart opens one at the last trade of the previous session; the gap is closed
(recorded) at the first trade seen after it. So a replay of the tape (the live audit) knows
which spans it cannot judge.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from gridlab.bybit.parse import PublicTrade
from gridlab.store.core import Store
from gridlab.store.live_tape import TapeWriter, last_tape_ts

__all__ = ["TapeRecorder"]

log = logging.getLogger("gridlab.live")


class TapeRecorder:
    """Buffers a runner's public trades and records the gaps of its tape."""

    def __init__(self, store: Store, symbols: Iterable[str]) -> None:
        self.writer = TapeWriter(store)
        self.last: dict[str, int] = {}
        self.open_gaps: dict[str, tuple[int, str]] = {}
        for sym in symbols:
            last = last_tape_ts(store.con, sym)
            if last is not None:
                self.last[sym] = last
                self.open_gaps[sym] = (last, "restart")

    def on_trades(self, symbol: str, trades: Iterable[PublicTrade]) -> None:
        """Buffer trades of `symbol`; the first one after an open gap closes it."""
        for t in trades:
            gap = self.open_gaps.pop(symbol, None)
            if gap is not None and t.ts >= gap[0]:
                self.writer.gap(symbol, gap[0], t.ts, gap[1])
            self.writer.add(symbol, t.ts, t.price, t.size, t.side, t.trade_id or f"{t.ts}")
            if t.ts > self.last.get(symbol, -1):
                self.last[symbol] = t.ts

    def stream_dropped(self, symbols: Iterable[str]) -> None:
        """The public stream of `symbols` reconnected: their tape has a hole since the last
        trade seen (closed at the next trade)."""
        for sym in symbols:
            if sym in self.last and sym not in self.open_gaps:
                self.open_gaps[sym] = (self.last[sym], "stream_drop")

    def flush(self) -> int:
        """Store the buffered trades (one transaction); returns rows added."""
        return self.writer.flush()

    def export(self, mirror_dir: Path | None) -> None:
        """Write the changed tape days and the gaps to the mirror."""
        if mirror_dir is not None:
            self.writer.export(mirror_dir)
