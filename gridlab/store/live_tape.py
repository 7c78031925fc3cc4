"""The live tape: public trades a runner received, and the spans where it is incomplete.

The runner appends trades in batches (`append_tape`, one transaction, unique by trade id per
symbol, so a replayed batch is stored once) and records gaps (`add_tape_gap`) when its trade
stream dropped or it restarted. The mirror holds one Parquet file per symbol and UTC day
(`<mirror>/live_tape/<symbol>_<YYYY-MM-DD>.parquet`, only the days written since the last
export are rewritten) and `live_tape_gaps.parquet`; `tape_views` adds them to a reader
connection. Readers: `load_tape` / `tape_gaps` on a connection that has the tables or views.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import pandas as pd

from gridlab.errors import StoreError
from gridlab.store.core import Store, load_sql

__all__ = ["TAPE_COLUMNS", "TapeWriter", "add_tape_gap", "append_tape", "last_tape_ts",
           "load_tape", "tape_gaps", "tape_views"]

TAPE_COLUMNS = ("symbol", "ts", "price", "size", "side", "trade_id")
DAY_MS = 86_400_000
_GAPS = "\x00gaps"  # the key of the gaps table among the days to export


def append_tape(store: Store, trades: pd.DataFrame) -> int:
    """Store a batch of trades (TAPE_COLUMNS) in one transaction; returns rows added."""
    missing = [c for c in TAPE_COLUMNS if c not in trades.columns]
    if missing:
        raise StoreError(f"append_tape: the batch lacks {', '.join(missing)}",
                         f"pass the columns {', '.join(TAPE_COLUMNS)}")
    if trades.empty:
        return 0
    store.con.register("_gl_tape", trades[list(TAPE_COLUMNS)])
    try:
        with store.transaction() as con:
            before = con.execute(load_sql("live_tape_count")).fetchone()[0]
            con.execute(load_sql("live_tape_insert"))
            after = con.execute(load_sql("live_tape_count")).fetchone()[0]
    finally:
        store.con.unregister("_gl_tape")
    return int(after - before)


def add_tape_gap(store: Store, symbol: str, start_ts: int, end_ts: int, reason: str) -> None:
    """Record that the tape of `symbol` is incomplete in [start_ts, end_ts]."""
    if end_ts < start_ts:
        start_ts, end_ts = end_ts, start_ts
    with store.transaction() as con:
        con.execute(load_sql("live_tape_gap_insert"), {
            "symbol": symbol, "start_ts": int(start_ts), "end_ts": int(end_ts),
            "reason": reason, "recorded_at": int(time.time() * 1000)})


def last_tape_ts(con: duckdb.DuckDBPyConnection, symbol: str) -> int | None:
    """Time of the newest stored trade of `symbol` (None when there is none)."""
    row = con.execute(load_sql("live_tape_last"), {"symbol": symbol}).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def load_tape(con: duckdb.DuckDBPyConnection, symbol: str, start_ms: int, end_ms: int
              ) -> pd.DataFrame:
    """Trades of `symbol` in [start_ms, end_ms), in time order."""
    return con.execute(load_sql("live_tape_select"),
                       {"symbol": symbol, "start_ms": int(start_ms), "end_ms": int(end_ms)}).df()


def tape_gaps(con: duckdb.DuckDBPyConnection, symbol: str, start_ms: int, end_ms: int
              ) -> list[tuple[int, int, str]]:
    """Recorded gaps of `symbol` overlapping [start_ms, end_ms)."""
    rows = con.execute(load_sql("live_tape_gaps_select"),
                       {"symbol": symbol, "start_ms": int(start_ms), "end_ms": int(end_ms)})
    return [(int(a), int(b), str(r)) for a, b, r in rows.fetchall()]


class TapeWriter:
    """Buffers trades and gaps of a runner and flushes them in batches; exports the mirror.

    `add` keeps trades in memory until `flush` (the runner calls it every `flush_s` and at
    shutdown); a flush is one transaction. `gap` records a gap at once. `export(mirror_dir)`
    writes the days flushed since the last export and the gaps table.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._buf: list[tuple[str, int, float, float, int, str]] = []
        self._days: set[tuple[str, int]] = {(_GAPS, 0)}  # the gaps file exists from the start
        self.stored = 0

    def add(self, symbol: str, ts: int, price: float, size: float, side: int,
            trade_id: str) -> None:
        self._buf.append((symbol, int(ts), float(price), float(size), int(side), str(trade_id)))

    def pending(self) -> int:
        return len(self._buf)

    def flush(self) -> int:
        """Store the buffered trades; returns rows added (0 when the buffer is empty)."""
        if not self._buf:
            return 0
        frame = pd.DataFrame(self._buf, columns=list(TAPE_COLUMNS))
        n = append_tape(self.store, frame)
        for sym, day in set(zip(frame["symbol"], frame["ts"] // DAY_MS, strict=True)):
            self._days.add((str(sym), int(day)))
        self._buf.clear()
        self.stored += n
        return n

    def gap(self, symbol: str, start_ts: int, end_ts: int, reason: str) -> None:
        add_tape_gap(self.store, symbol, start_ts, end_ts, reason)
        self._days.add((_GAPS, 0))

    def export(self, mirror_dir: str | Path, con: duckdb.DuckDBPyConnection | None = None
               ) -> list[Path]:
        """Write the changed days to `<mirror>/live_tape/` and the gaps table, atomically."""
        todo, self._days = self._days, set()
        folder = Path(mirror_dir) / "live_tape"
        folder.mkdir(parents=True, exist_ok=True)
        cur = con or self.store.con.cursor()
        out = []
        try:
            for sym, day in sorted(todo):
                if sym == _GAPS:
                    final = Path(mirror_dir) / "live_tape_gaps.parquet"
                    df = cur.execute(load_sql("live_tape_gaps_all")).df()
                else:
                    stamp = pd.Timestamp(day * DAY_MS, unit="ms", tz="UTC").strftime("%Y-%m-%d")
                    final = folder / f"{sym}_{stamp}.parquet"
                    df = cur.execute(load_sql("live_tape_day"), {
                        "symbol": sym, "start_ms": day * DAY_MS,
                        "end_ms": (day + 1) * DAY_MS}).df()
                tmp = final.with_name("." + final.name + ".tmp")
                try:
                    df.to_parquet(tmp, index=False)
                    os.replace(tmp, final)
                except OSError as exc:
                    self._days.add((sym, day))
                    raise StoreError(f"exporting the tape to {final} failed: {exc}",
                                     "check free space and permissions of the mirror folder"
                                     ) from None
                out.append(final)
        finally:
            if con is None:
                cur.close()
        return out


def tape_views(con: duckdb.DuckDBPyConnection, mirror_dir: str | Path) -> bool:
    """Add views `live_tape` and `live_tape_gaps` over a mirror; False if it has no tape."""
    folder = Path(mirror_dir)
    files = sorted((folder / "live_tape").glob("*.parquet"))
    if not files or not (folder / "live_tape_gaps.parquet").exists():
        return False
    con.read_parquet([str(f) for f in files]).create_view("live_tape")
    gaps = folder / "live_tape_gaps.parquet"
    con.read_parquet(str(gaps)).create_view("live_tape_gaps")
    return True
