"""The DuckDB store: opening, migrations, locks, transactions, I/O errors, market tables."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlab.errors import DataError, StoreError, StoreLockedError
from gridlab.store import core, market
from gridlab.store.core import Store, load_sql, migrations

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday


def klines_frame(open_times: list[int] | np.ndarray, interval: str = "1", symbol: str = "BTCUSDT",
                 category: str = "linear", base: float = 100.0) -> pd.DataFrame:
    t = np.asarray(open_times, dtype=np.int64)
    px = base + np.arange(len(t), dtype=float)
    return pd.DataFrame({"symbol": symbol, "category": category, "interval": interval,
                         "open_time": t, "open": px, "high": px + 1, "low": px - 1,
                         "close": px + 0.5, "volume": 2.0, "turnover": 2.0 * px})


def trades_frame(ts: list[int], ids: list[str] | None = None, side: str | list[str] = "Buy",
                 price: float | list[float] = 100.0, seq: list[int] | None = None,
                 symbol: str = "BTCUSDT", category: str = "linear") -> pd.DataFrame:
    df = pd.DataFrame({"symbol": symbol, "category": category, "ts": ts, "price": price,
                       "size": 0.5, "side": side,
                       "trade_id": ids or [f"t{i}" for i in range(len(ts))]})
    if seq is not None:
        df["seq"] = seq
    return df


# -- opening and migrations --------------------------------------------------------------------
def newest() -> int:
    return migrations()[-1].version


def test_open_creates_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.duckdb"
    with Store.open(path) as store:
        assert store.schema_version == newest() >= 1
        assert store.path == path
        tables = {r[0] for r in store.con.execute("SELECT table_name FROM duckdb_tables()")
                  .fetchall()}
        assert {"klines", "trades", "funding", "instruments", "trade_files",
                "schema_version"} <= tables
    with Store.open(path) as store:  # reopening applies nothing
        rows = store.con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
        assert [r[0] for r in rows] == [m.version for m in migrations()]


def test_memory_store() -> None:
    with Store.open(":memory:") as store:
        assert store.schema_version == newest()


def test_old_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(load_sql("schema_version"))
    con.execute(migrations()[0].sql)
    con.execute("INSERT INTO schema_version VALUES (1, 'market', 0)")
    con.execute("INSERT INTO funding VALUES ('BTCUSDT', 1, 0.0001)")
    con.close()
    with Store.open(path) as store:
        assert store.schema_version == newest()
        assert market.last_funding_time(store, "BTCUSDT") == 1  # data kept


def test_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    Store.open(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (999, 'future', 0)")
    con.close()
    with pytest.raises(StoreError, match=r"schema version 999.*newest migration "
                       rf"{newest()}.*upgrade gridlab"):
        Store.open(path)


def test_read_only_rules(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"does not exist"):
        Store.open(tmp_path / "missing.duckdb", read_only=True)
    path = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(path))
    con.execute(load_sql("schema_version"))
    con.execute(migrations()[0].sql)
    con.execute("INSERT INTO schema_version VALUES (1, 'market', 0)")
    con.close()
    if newest() > 1:
        with pytest.raises(StoreError, match=r"read-only"):
            Store.open(path, read_only=True)
    Store.open(path).close()
    with Store.open(path, read_only=True) as store:
        assert store.read_only
        with pytest.raises(StoreError, match=r"read-only"), store.transaction():
            pass
        with pytest.raises(StoreError, match=r"read-only"):
            market.insert_funding(store, pd.DataFrame({"symbol": ["BTCUSDT"], "ts": [1],
                                                       "rate": [0.0]}))


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.duckdb"
    path.write_bytes(b"this is not duckdb" * 1000)
    with pytest.raises(StoreError, match=r"cannot open the store"):
        Store.open(path)


def test_migration_files_are_discovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sql = tmp_path / "sql"
    shutil.copytree(ROOT / "gridlab" / "store" / "sql", sql)
    extra = f"{newest() + 1:04d}_extra.sql"
    (sql / "migrations" / extra).write_text("CREATE TABLE extra_things (x INTEGER);\n")
    (sql / "migrations" / "README.txt").write_text("not a migration")
    monkeypatch.setattr(core, "_sql_dir", lambda: sql)
    core.load_sql.cache_clear()
    try:
        with Store.open(tmp_path / "x.duckdb") as store:
            assert store.schema_version == newest()
            assert migrations()[-1].name == "extra"
            store.con.execute("SELECT count(*) FROM extra_things").fetchall()
        (sql / "migrations" / f"{newest():04d}_again.sql").write_text("SELECT 1;")
        with pytest.raises(StoreError, match=r"share version"):
            migrations()
    finally:
        core.load_sql.cache_clear()


def test_failed_migration_leaves_previous_version(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sql = tmp_path / "sql"
    shutil.copytree(ROOT / "gridlab" / "store" / "sql", sql)
    path = tmp_path / "x.duckdb"
    Store.open(path).close()
    (sql / "migrations" / f"{newest() + 1:04d}_broken.sql").write_text(
        "CREATE TABLE half_done (x INTEGER); SELECT * FROM no_such_table;")
    monkeypatch.setattr(core, "_sql_dir", lambda: sql)
    core.load_sql.cache_clear()
    try:
        before = newest() - 1
        with pytest.raises(StoreError, match=r"broken failed"):
            Store.open(path)
        monkeypatch.undo()
        with Store.open(path) as store:
            assert store.schema_version == before
            tables = store.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            assert ("half_done",) not in tables
    finally:
        core.load_sql.cache_clear()


def test_load_sql() -> None:
    assert "INSERT INTO klines" in load_sql("market_insert_klines")
    assert load_sql("market_insert_klines.sql") == load_sql("market_insert_klines")
    assert "CREATE TABLE klines" in load_sql("migrations/0001_market.sql")
    with pytest.raises(StoreError, match=r"not found"):
        load_sql("no_such_query")


# -- locks ------------------------------------------------------------------------------------
def _holder(path: Path, hold_s: float | None = None) -> subprocess.Popen[str]:
    code = textwrap.dedent(f"""
        import sys, time, duckdb
        con = duckdb.connect({str(path)!r})
        print("ready", flush=True)
        if {hold_s!r} is None:
            sys.stdin.read()
        else:
            time.sleep({hold_s!r})
        con.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    Store.open(path).close()
    proc = _holder(path)
    try:
        with pytest.raises(StoreLockedError, match=rf"{path.name}.*locked.*stop that process"):
            Store.open(path)
        with pytest.raises(StoreLockedError):
            Store.open(path, read_only=True)
        t0 = time.monotonic()
        with pytest.raises(StoreLockedError):
            Store.open(path, wait_s=0.3)
        assert time.monotonic() - t0 >= 0.25
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
    Store.open(path).close()


def test_wait_for_lock(tmp_path: Path) -> None:
    path = tmp_path / "busy.duckdb"
    Store.open(path).close()
    proc = _holder(path, hold_s=0.8)
    try:
        with Store.open(path, wait_s=30) as store:
            assert store.schema_version == newest()
    finally:
        proc.wait(timeout=30)


# -- transactions and I/O errors --------------------------------------------------------------
def test_transaction_rolls_back(tmp_store: Store) -> None:
    with pytest.raises(RuntimeError), tmp_store.transaction() as con:
        con.execute("INSERT INTO funding VALUES ('BTCUSDT', 1, 0.1)")
        with tmp_store.transaction():  # nested joins the outer one
            con.execute("INSERT INTO funding VALUES ('BTCUSDT', 2, 0.1)")
        raise RuntimeError("boom")
    assert market.last_funding_time(tmp_store, "BTCUSDT") is None
    with tmp_store.transaction() as con:
        con.execute("INSERT INTO funding VALUES ('BTCUSDT', 3, 0.1)")
    assert market.last_funding_time(tmp_store, "BTCUSDT") == 3


def test_io_error_becomes_store_error(tmp_store: Store) -> None:
    with pytest.raises(StoreError, match=r"test.duckdb.*No space left.*rolled back"), \
            tmp_store.transaction() as con:
        con.execute("INSERT INTO funding VALUES ('BTCUSDT', 1, 0.1)")
        raise duckdb.IOException("IO Error: No space left on device")
    assert market.last_funding_time(tmp_store, "BTCUSDT") is None


@pytest.mark.skipif(sys.platform != "linux",
                    reason="needs RLIMIT_FSIZE (Linux)")
def test_file_too_large_rolls_back(tmp_path: Path) -> None:
    """A real write failure (file size limit) mid-insert: StoreError naming the file, no rows."""
    path = tmp_path / "full.duckdb"
    code = textwrap.dedent(f"""
        import os, resource, signal
        import numpy as np, pandas as pd
        from gridlab.errors import StoreError
        from gridlab.store import market
        from gridlab.store.core import Store
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        store = Store.open({str(path)!r})
        store.con.execute("CHECKPOINT")
        limit = os.path.getsize({str(path)!r}) + 100_000
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        n = 1_000_000
        r = np.random.default_rng(0).random(n)
        df = pd.DataFrame({{"symbol": "BTCUSDT", "category": "linear", "interval": "1",
                           "open_time": np.arange(n) * 60000, "open": r, "high": r, "low": r,
                           "close": r, "volume": r, "turnover": r}})
        try:
            market.insert_klines(store, df)
            print("no error")
        except StoreError as exc:
            print("StoreError:", exc)
        store.close()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert "StoreError:" in out.stdout, out.stdout + out.stderr
    assert str(path) in out.stdout and "rolled back" in out.stdout
    with Store.open(path) as store:
        assert market.last_kline_time(store, "BTCUSDT", "linear", "1") is None


# -- validation -------------------------------------------------------------------------------
def test_validation_messages() -> None:
    assert market.validate_interval("1h") == "60"
    assert market.validate_interval(15) == "15"
    assert market.validate_interval("1d") == "D"
    with pytest.raises(DataError, match="unknown interval '1M'"):
        market.validate_interval("1M")  # a month elsewhere: never one minute
    with pytest.raises(DataError, match=r"unknown interval '7'.*1, 3, 5, 15, 30, 60, 120, 240, "
                       r"360, 720, D, W"):
        market.validate_interval("7")
    with pytest.raises(DataError, match=r"invalid symbol 'btcusdt'.*upper-case"):
        market.validate_symbol("btcusdt")
    with pytest.raises(DataError, match=r"invalid category 'futures'.*linear, inverse, spot"):
        market.validate_category("futures")
    assert market.bar_open_time(T0 + 3 * 86_400_000 + 5, "W") == T0  # weeks open on Monday
    assert market.bar_open_time(T0 + 61_000, "1") == T0 + 60_000


# -- klines -------------------------------------------------------------------------------------
def test_insert_klines_idempotent(tmp_store: Store) -> None:
    df = klines_frame(T0 + np.arange(10) * 60_000)
    assert market.insert_klines(tmp_store, df) == 10
    assert market.insert_klines(tmp_store, df) == 0
    changed = df.assign(open=0.0)
    assert market.insert_klines(tmp_store, pd.concat([changed, klines_frame([T0 + 600_000])])) == 1
    k = market.load_klines(tmp_store, "BTCUSDT", "linear", "1")
    assert k["open"][0] == 100.0  # a stored bar is never overwritten
    assert market.first_kline_time(tmp_store, "BTCUSDT", "linear", "1") == T0
    assert market.last_kline_time(tmp_store, "BTCUSDT", "linear", "1m") == T0 + 600_000
    assert market.last_kline_time(tmp_store, "BTCUSDT", "linear", "5") is None
    assert market.insert_klines(tmp_store, df.iloc[:0]) == 0


def test_insert_klines_rejects_bad_frames(tmp_store: Store) -> None:
    df = klines_frame([T0])
    with pytest.raises(DataError, match=r"missing column.*turnover"):
        market.insert_klines(tmp_store, df.drop(columns="turnover"))
    with pytest.raises(DataError, match=r"unknown interval '1m'"):
        market.insert_klines(tmp_store, df.assign(interval="1m"))
    with pytest.raises(DataError, match=r"invalid category"):
        market.insert_klines(tmp_store, df.assign(category="perp"))
    with pytest.raises(DataError, match=r"insert_klines: rejected"):
        market.insert_klines(tmp_store, df.assign(open=[None]))
    with pytest.raises(DataError, match=r"insert_klines: rejected"):
        market.insert_klines(tmp_store, df.assign(open=["abc"]))
    assert market.last_kline_time(tmp_store, "BTCUSDT", "linear", "1") is None


def test_load_klines_window_and_types(tmp_store: Store) -> None:
    times = T0 + np.array([5, 1, 3, 2, 4]) * 60_000
    market.insert_klines(tmp_store, klines_frame(times))
    k = market.load_klines(tmp_store, "BTCUSDT", "linear", "1", T0 + 2 * 60_000, T0 + 4 * 60_000)
    assert list(k) == ["open_time", "open", "high", "low", "close", "volume", "turnover"]
    assert k["open_time"].tolist() == [T0 + 120_000, T0 + 180_000]  # end exclusive, ordered
    assert k["open_time"].dtype == np.int64 and k["close"].dtype == np.float64
    assert all(a.flags.c_contiguous for a in k.values())
    empty = market.load_klines(tmp_store, "BTCUSDT", "linear", "1", 0, 1)
    assert len(empty["open_time"]) == 0
    with pytest.raises(DataError, match=r"no 5 klines for BTCUSDT linear.*ingest"):
        market.load_klines(tmp_store, "BTCUSDT", "linear", "5")
    with pytest.raises(DataError, match=r"end .* is before start"):
        market.load_klines(tmp_store, "BTCUSDT", "linear", "1", 10, 5)


# -- trades -------------------------------------------------------------------------------------
def test_insert_trades_key_and_order(tmp_store: Store) -> None:
    df = trades_frame([T0 + 5, T0 + 5, T0 + 1], ids=["a", "b", "c"], side=["Sell", "Buy", "Buy"],
                      price=[1.0, 2.0, 3.0], seq=[1, 0, 7])
    assert market.insert_trades(tmp_store, df) == 3
    assert market.insert_trades(tmp_store, df) == 0
    more = trades_frame([T0 + 9, T0 + 9, T0 + 5], ids=["d", "d", "a"], seq=[3, 2, 1])
    assert market.insert_trades(tmp_store, more) == 1  # repeat inside the batch and stored id
    t = market.load_trades(tmp_store, "BTCUSDT", "linear")
    assert t["ts"].tolist() == [T0 + 1, T0 + 5, T0 + 5, T0 + 9]
    assert t["price"].tolist() == [3.0, 2.0, 1.0, 100.0]  # ts ties broken by seq
    assert t["side"].tolist() == [1, 1, -1, 1] and t["side"].dtype == np.int8
    assert market.last_trade_time(tmp_store, "BTCUSDT", "linear") == T0 + 9
    assert market.count_trades(tmp_store, "BTCUSDT", "linear") == 4
    assert market.count_trades(tmp_store, "BTCUSDT", "linear", not_prefix="a") == 3
    no_seq = trades_frame([T0 + 20, T0 + 20], ids=["x", "y"], price=[5.0, 6.0])
    assert market.insert_trades(tmp_store, no_seq) == 2
    assert market.load_trades(tmp_store, "BTCUSDT", "linear", T0 + 20)["price"].tolist() == [
        5.0, 6.0]
    with pytest.raises(DataError, match=r"no trades for ETHUSDT linear"):
        market.load_trades(tmp_store, "ETHUSDT", "linear")


def test_insert_trades_rejects_bad_rows(tmp_store: Store) -> None:
    with pytest.raises(DataError, match=r"side 'buy'.*'Buy' or 'Sell'"):
        market.insert_trades(tmp_store, trades_frame([T0], side="buy"))
    with pytest.raises(DataError, match=r"non-positive"):
        market.insert_trades(tmp_store, trades_frame([T0], price=0.0))
    with pytest.raises(DataError, match=r"missing values"):
        market.insert_trades(tmp_store, trades_frame([T0], ids=[None]))  # type: ignore[list-item]
    with pytest.raises(DataError, match=r"missing column.*trade_id"):
        market.insert_trades(tmp_store, trades_frame([T0]).drop(columns="trade_id"))
    assert market.last_trade_time(tmp_store, "BTCUSDT", "linear") is None


# -- funding and instruments ------------------------------------------------------------------
def test_funding_and_instruments(tmp_store: Store) -> None:
    f = pd.DataFrame({"symbol": "BTCUSDT", "ts": [T0, T0 + 28_800_000], "rate": [1e-4, -2e-4]})
    assert market.insert_funding(tmp_store, f) == 2
    assert market.insert_funding(tmp_store, f) == 0
    assert market.last_funding_time(tmp_store, "BTCUSDT") == T0 + 28_800_000
    got = market.load_funding(tmp_store, "BTCUSDT", end_ms=T0 + 1)
    assert got["ts"].tolist() == [T0] and got["rate"].tolist() == [1e-4]
    with pytest.raises(DataError, match=r"no funding rates for ETHUSDT"):
        market.load_funding(tmp_store, "ETHUSDT")

    inst = pd.DataFrame([{"symbol": "BTCUSDT", "category": "linear", "tick_size": 0.1,
                          "qty_step": 0.001, "min_qty": 0.001, "min_notional": 5.0,
                          "max_qty": 1190.0, "fetched_at": 100}])
    assert market.get_instrument(tmp_store, "BTCUSDT", "linear") is None
    assert market.upsert_instruments(tmp_store, inst) == 1
    market.upsert_instruments(tmp_store, inst.assign(tick_size=0.5, fetched_at=50))  # older
    assert market.get_instrument(tmp_store, "BTCUSDT", "linear")["tick_size"] == 0.1
    market.upsert_instruments(tmp_store, inst.assign(tick_size=0.2, fetched_at=200))  # newer
    got_inst = market.get_instrument(tmp_store, "BTCUSDT", "linear")
    assert got_inst == {"symbol": "BTCUSDT", "category": "linear", "tick_size": 0.2,
                        "qty_step": 0.001, "min_qty": 0.001, "min_notional": 5.0,
                        "max_qty": 1190.0, "fetched_at": 200, "max_leverage": 0.0,
                        "funding_interval_min": 0, "origin": ""}  # optional columns: defaults
    market.insert_klines(tmp_store, klines_frame([T0], symbol="ETHUSDT", category="spot"))
    assert market.list_symbols(tmp_store) == [("BTCUSDT", "linear"), ("ETHUSDT", "spot")]


# -- resampling ---------------------------------------------------------------------------------
def reference_bars(trades: pd.DataFrame, interval: str, inverse: bool = False) -> pd.DataFrame:
    """Plain pandas: sort by (ts, seq), bucket, first/last/max/min/sum."""
    ms = market.INTERVAL_MS[interval]
    off = 4 * 86_400_000 if interval == "W" else 0
    t = trades.sort_values(["ts", "seq"], kind="stable")
    bucket = (t["ts"] - off) // ms * ms + off
    turn = t["size"] / t["price"] if inverse else t["price"] * t["size"]
    g = t.assign(b=bucket, turn=turn).groupby("b")
    return pd.DataFrame({"open": g["price"].first(), "high": g["price"].max(),
                         "low": g["price"].min(), "close": g["price"].last(),
                         "volume": g["size"].sum(), "turnover": g["turn"].sum()})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 60), seed=st.integers(0, 2**32 - 1),
       interval=st.sampled_from(["1", "3", "15", "60", "240", "D", "W"]),
       inverse=st.booleans())
def test_resample_matches_pandas(n: int, seed: int, interval: str, inverse: bool) -> None:
    rng = np.random.default_rng(seed)
    span = 10 * market.INTERVAL_MS[interval]
    ts = T0 + rng.integers(0, span, n)
    ts[rng.random(n) < 0.3] = ts[0]  # plenty of ts ties, broken by seq
    df = pd.DataFrame({"symbol": "BTCUSDT", "category": "inverse" if inverse else "linear",
                       "ts": ts, "price": np.round(rng.uniform(90, 110, n), 1),
                       "size": np.round(rng.uniform(0.001, 2, n), 3),
                       "side": np.where(rng.random(n) < 0.5, "Buy", "Sell"),
                       "trade_id": [f"id{i}" for i in range(n)],
                       "seq": rng.permutation(n)})
    with Store.open(":memory:") as store:
        market.insert_trades(store, df)
        category = "inverse" if inverse else "linear"
        added = market.resample_trades(store, "BTCUSDT", category, interval)
        got = market.load_klines(store, "BTCUSDT", category, interval)
        assert market.resample_trades(store, "BTCUSDT", category, interval) == 0
    ref = reference_bars(df, interval, inverse)
    assert added == len(ref)
    assert got["open_time"].tolist() == ref.index.tolist()
    for col in ("open", "high", "low", "close"):
        assert got[col].tolist() == ref[col].tolist(), col
    for col in ("volume", "turnover"):
        np.testing.assert_allclose(got[col], ref[col].to_numpy(), rtol=1e-12)


def test_resample_completes_partial_bar(tmp_store: Store) -> None:
    market.insert_trades(tmp_store, trades_frame([T0 + 1_000, T0 + 30_000], ids=["a", "b"],
                                                 price=[10.0, 11.0]))
    assert market.resample_trades(tmp_store, "BTCUSDT", "linear", "1") == 1
    market.insert_trades(tmp_store, trades_frame([T0 + 59_000, T0 + 61_000], ids=["c", "d"],
                                                 price=[9.0, 12.0]))
    assert market.resample_trades(tmp_store, "BTCUSDT", "linear", "1") == 1
    k = market.load_klines(tmp_store, "BTCUSDT", "linear", "1")
    assert k["close"].tolist() == [9.0, 12.0] and k["low"].tolist() == [9.0, 12.0]
    # a window only touches the bars it covers
    assert market.resample_trades(tmp_store, "BTCUSDT", "linear", "5", T0 + 60_000) == 1
    assert market.load_klines(tmp_store, "BTCUSDT", "linear", "5")["open"].tolist() == [10.0]
    with pytest.raises(DataError, match=r"no trades for ETHUSDT linear to resample"):
        market.resample_trades(tmp_store, "ETHUSDT", "linear", "1")
    with pytest.raises(DataError, match=r"unknown interval"):
        market.resample_trades(tmp_store, "BTCUSDT", "linear", "2")
