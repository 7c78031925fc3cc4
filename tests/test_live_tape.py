"""The live tape: batched, idempotent storage of public trades, gaps, and its Parquet mirror."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from gridlab.errors import StoreError
from gridlab.store.core import Store
from gridlab.store.live_tape import (
    TapeWriter,
    append_tape,
    last_tape_ts,
    load_tape,
    tape_gaps,
    tape_views,
)

DAY = 86_400_000
T0 = 1_704_067_200_000


def _writer(tmp_path: Path) -> TapeWriter:
    return TapeWriter(Store.open(tmp_path / "live.duckdb"))


def test_batches_are_stored_once_by_trade_id(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    for i in range(5):
        w.add("BTCUSDT", T0 + i, 100.0 + i, 0.1, 1, f"t{i}")
    w.add("BTCUSDT", T0 + 4, 104.0, 0.1, 1, "t4")  # the same trade twice in one batch
    assert w.pending() == 6
    assert w.flush() == 5
    assert w.pending() == 0 and w.flush() == 0
    # a replayed batch (reconnect, REST catch-up) adds nothing
    assert append_tape(w.store, pd.DataFrame({
        "symbol": ["BTCUSDT"], "ts": [T0], "price": [100.0], "size": [0.1], "side": [1],
        "trade_id": ["t0"]})) == 0
    tape = load_tape(w.store.con, "BTCUSDT", T0, T0 + DAY)
    assert list(tape["trade_id"]) == [f"t{i}" for i in range(5)]
    assert last_tape_ts(w.store.con, "BTCUSDT") == T0 + 4
    assert last_tape_ts(w.store.con, "ETHUSDT") is None


def test_a_batch_without_the_columns_is_refused(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    with pytest.raises(StoreError, match="trade_id"):
        append_tape(w.store, pd.DataFrame({"symbol": ["X"], "ts": [1]}))


def test_gaps_are_recorded_and_found_by_overlap(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.gap("BTCUSDT", T0 + 2_000, T0 + 1_000, "stream_drop")  # reversed ends are ordered
    w.gap("BTCUSDT", T0 + 50_000, T0 + 60_000, "restart")
    assert tape_gaps(w.store.con, "BTCUSDT", T0, T0 + 10_000) == [
        (T0 + 1_000, T0 + 2_000, "stream_drop")]
    assert len(tape_gaps(w.store.con, "BTCUSDT", T0, T0 + DAY)) == 2
    assert tape_gaps(w.store.con, "ETHUSDT", T0, T0 + DAY) == []


def test_the_mirror_holds_a_file_per_day_and_reads_back_equal(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    mirror = tmp_path / "mirror"
    for i in range(3):
        w.add("BTCUSDT", T0 + i * DAY // 2, 100.0 + i, 0.1, -1, f"t{i}")
    w.flush()
    w.gap("BTCUSDT", T0 + 10, T0 + 20, "stream_drop")
    files = w.export(mirror)
    names = sorted(p.name for p in files)
    assert names == ["BTCUSDT_2024-01-01.parquet", "BTCUSDT_2024-01-02.parquet",
                     "live_tape_gaps.parquet"]
    assert w.export(mirror) == []  # nothing changed since
    con = duckdb.connect()
    assert tape_views(con, mirror)
    back = load_tape(con, "BTCUSDT", T0, T0 + 2 * DAY)
    pd.testing.assert_frame_equal(back, load_tape(w.store.con, "BTCUSDT", T0, T0 + 2 * DAY))
    assert tape_gaps(con, "BTCUSDT", T0, T0 + DAY) == [(T0 + 10, T0 + 20, "stream_drop")]
    # a later flush rewrites only its own day
    w.add("BTCUSDT", T0 + DAY + 5, 101.0, 0.2, 1, "t9")
    w.flush()
    assert [p.name for p in w.export(mirror)] == ["BTCUSDT_2024-01-02.parquet"]


def test_no_tape_in_the_mirror_means_no_views(tmp_path: Path) -> None:
    assert not tape_views(duckdb.connect(), tmp_path)


def test_the_recorder_opens_gaps_at_drops_and_restarts(tmp_path: Path) -> None:
    from gridlab.bybit.parse import PublicTrade
    from live.tape import TapeRecorder

    def trades(*ts: int) -> list[PublicTrade]:
        return [PublicTrade("BTCUSDT", t, 100.0, 0.1, 1, f"id{t}") for t in ts]

    store = Store.open(tmp_path / "live.duckdb")
    rec = TapeRecorder(store, ["BTCUSDT"])
    assert rec.open_gaps == {}  # a fresh tape: nothing to bridge
    rec.on_trades("BTCUSDT", trades(T0, T0 + 1))
    rec.stream_dropped(["BTCUSDT"])
    rec.on_trades("BTCUSDT", trades(T0 + 50))  # the first trade after the drop closes it
    rec.flush()
    assert tape_gaps(store.con, "BTCUSDT", T0, T0 + DAY) == [(T0 + 1, T0 + 50, "stream_drop")]
    # a restart: the next session's first trade closes a gap from the last stored one
    rec2 = TapeRecorder(store, ["BTCUSDT"])
    rec2.on_trades("BTCUSDT", trades(T0 + 900))
    rec2.flush()
    assert (T0 + 50, T0 + 900, "restart") in tape_gaps(store.con, "BTCUSDT", T0, T0 + DAY)
    store.close()
