"""The live store: idempotent writes, the Parquet mirror read by another process, promotions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gridlab.errors import StoreError, StoreLockedError
from gridlab.store.core import Store
from gridlab.store.live import (
    LIVE_TABLES,
    FillRow,
    LiveStore,
    OrderRow,
    add_promotion,
    latest_promotion,
    list_promotions,
    open_live_views,
)


def _fill(exec_id: str, t: int = 1_000, source: str = "ws") -> FillRow:
    return FillRow(exec_id=exec_id, exec_time=t, symbol="BTCUSDT", order_link_id="glx-1-0o0-0",
                   order_id="oid", exec_type="Trade", side=1, price=100.0, qty=0.5, fee=0.01,
                   fee_rate=0.0002, is_maker=True, source=source)


@pytest.fixture
def live(tmp_path: Path) -> LiveStore:
    ls = LiveStore.open(tmp_path / "live.duckdb", tmp_path / "mirror")
    yield ls
    ls.close()


def test_fill_stored_once_by_exec_id(live: LiveStore) -> None:
    assert live.insert_fill(_fill("e1"), kind="grid", gen=1, slot=0)
    assert not live.insert_fill(_fill("e1", source="rest"), kind="grid", gen=1, slot=0)
    assert live.insert_fill(_fill("e2", 2_000), kind="grid", gen=1, slot=1)
    assert [f.exec_id for f in live.unapplied_fills()] == ["e1", "e2"]
    live.mark_applied("e1", apply_seq=1, kind="grid", gen=1, slot=0, position=0.5,
                      grid_profit=0.0)
    assert [f.exec_id for f in live.unapplied_fills()] == ["e2"]
    assert live.last_exec_time() == 2_000
    df = live.fills()
    assert len(df) == 2 and df["source"].tolist() == ["ws", "ws"]
    assert live.fills_summary()["n_fills"] == 2


def test_orders_upsert_and_update(live: LiveStore) -> None:
    row = OrderRow("glx-1-0o0-0", "BTCUSDT", "grid", 1, 0, "o", 0, 0, 1, 99.0, 0.1)
    live.put_order(row)
    live.put_order(row)  # replay: same key, one row
    live.update_order("glx-1-0o0-0", "New", 0.0, order_id="abc")
    live.update_order("glx-1-0o0-0", "Filled", 0.1)
    got = live.orders()
    assert len(got) == 1 and got[0].order_id == "abc" and got[0].status == "Filled"
    assert live.orders(active_only=True) == []


def test_state_events_snapshots(live: LiveStore) -> None:
    live.put_state("gen", {"n": 3})
    live.put_state("gen", {"n": 4})
    assert live.get_state("gen") == {"n": 4}
    assert live.get_state("missing", 7) == 7
    a = live.add_event("start", "hello", details={"x": 1})
    b = live.add_event("error", "boom", severity="error")
    assert b == a + 1
    assert live.events()["kind"].tolist() == ["error", "start"]
    live.add_equity(ts=1, price=100.0, equity=1000.0, position=0.0, realized=0.0,
                    unrealized=0.0, fees=0.0, funding=0.0, grid_profit=0.0, exposure=0.0,
                    wallet_equity=None, wallet_available=None)
    assert len(live.equity()) == 1


def test_batch_rolls_back_whole(live: LiveStore) -> None:
    with pytest.raises(RuntimeError), live.batch():
        live.insert_fill(_fill("e9"), kind="grid", gen=1, slot=0)
        live.put_state("k", 1)
        raise RuntimeError("crash inside the batch")
    assert live.unapplied_fills() == [] and live.get_state("k") is None


def test_mirror_read_by_another_process_while_writer_holds_the_file(
        live: LiveStore, tmp_path: Path) -> None:
    live.insert_fill(_fill("e1"), kind="grid", gen=1, slot=0)
    paths = live.export()
    assert {p.stem for p in paths} == set(LIVE_TABLES)
    assert live.export() == []  # nothing changed
    live.insert_fill(_fill("e2", 2_000), kind="grid", gen=1, slot=0)
    assert [p.stem for p in live.export()] == ["live_fills"]
    assert not list((tmp_path / "mirror").glob(".*tmp"))
    # the live file is locked for other processes, the mirror is not
    code = textwrap.dedent(f"""
        from gridlab.store.core import Store
        from gridlab.store.live import open_live_views
        from gridlab.errors import StoreLockedError
        try:
            Store.open({str(tmp_path / 'live.duckdb')!r}, read_only=True)
            print("opened")
        except StoreLockedError:
            print("locked")
        con = open_live_views({str(tmp_path / 'mirror')!r})
        print(con.execute("select count(*) from live_fills").fetchall()[0][0])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["locked", "2"]


def test_views_follow_exports(live: LiveStore, tmp_path: Path) -> None:
    live.export()
    con = open_live_views(tmp_path / "mirror")
    assert con.execute("select count(*) from live_fills").fetchall()[0][0] == 0
    live.insert_fill(_fill("e1"), kind="grid", gen=1, slot=0)
    live.export()
    assert con.execute("select count(*) from live_fills").fetchall()[0][0] == 1
    with pytest.raises(StoreError, match="no live mirror"):
        open_live_views(tmp_path / "nowhere")


def test_promotions(tmp_path: Path) -> None:
    with Store.open(tmp_path / "research.duckdb") as st:
        assert latest_promotion(st) is None
        a = add_promotion(st, "Normal", 1, {"grid_spacing": 0.0025}, note="first")
        b = add_promotion(st, "Tight", 2, {"grid_spacing": 0.001}, run_id="r1")
        assert (a, b) == (1, 2)
        p = latest_promotion(st)
        assert p is not None and p.profile == "Tight" and p.run_id == "r1"
        assert [x.id for x in list_promotions(st)] == [2, 1]


def test_second_writer_refused(tmp_path: Path) -> None:
    path = tmp_path / "live.duckdb"
    code = f"from gridlab.store.live import LiveStore; LiveStore.open({str(path)!r}); print('ok')"
    ls = LiveStore.open(path)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode != 0 and "StoreLockedError" in out.stderr
    finally:
        ls.close()
    assert StoreLockedError.__name__ == "StoreLockedError"


def test_a_store_of_one_grid_migrates_to_symbols(tmp_path: Path) -> None:
    """A live store written before migration 0006 (one grid, no symbol on equity / grid /
    events) keeps its rows; the single-symbol runner claims them."""
    import duckdb

    from gridlab.store.core import load_sql, migrations

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(load_sql("schema_version"))
    for m in migrations():
        if m.version <= 4:
            con.execute(m.sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, 0)", [m.version, m.name])
    con.execute("INSERT INTO live_equity VALUES (1, 100.0, 1000.0, 0.1, 0, 0, 0, 0, 0, 0.01, "
                "NULL, NULL)")
    con.execute("INSERT INTO live_grid VALUES (1, 1, 100.0, 99.0, 101.0, 0.01, 2, 2, "
                "'INITIAL', 'Normal', NULL, 0.0)")
    con.execute("INSERT INTO live_positions VALUES (1, 'BTCUSDT', 0.1, 100, 100, 0, 0, 1, 0, "
                "0.1)")
    con.execute("INSERT INTO live_events (ts, kind, severity, message) VALUES "
                "(1, 'start', 'info', 'hello')")
    con.close()
    ls = LiveStore.open(path)
    try:
        assert ls.store.schema_version >= 6
        assert ls.equity()["symbol"].tolist() == [""]
        ls.claim_symbol("BTCUSDT")
        assert ls.equity(symbol="BTCUSDT")["equity"].tolist() == [1000.0]
        assert ls.grids(symbol="BTCUSDT")["reason"].tolist() == ["INITIAL"]
        assert len(ls.positions(symbol="BTCUSDT")) == 1
        assert ls.events()["symbol"].isna().all()
        # the same generation / time of another symbol is another row now
        ls.add_grid(gen=1, symbol="ETHUSDT", ts=1, price=10.0, lowest=9.0, highest=11.0,
                    spacing=0.01, n_buy=2, n_sell=2, reason="INITIAL", profile="Normal",
                    profile_version=None, seed_qty=0.0)
        ls.add_equity(ts=1, symbol="ETHUSDT", price=10.0, equity=500.0, position=0.0,
                      realized=0.0, unrealized=0.0, fees=0.0, funding=0.0, grid_profit=0.0,
                      exposure=0.0, wallet_equity=None, wallet_available=None)
        assert sorted(ls.grids()["symbol"]) == ["BTCUSDT", "ETHUSDT"]
        assert len(ls.equity()) == 2 and len(ls.equity(symbol="ETHUSDT")) == 1
    finally:
        ls.close()


def test_symbol_filters_and_account_rows(live: LiveStore) -> None:
    for i, sym in enumerate(("BTCUSDT", "ETHUSDT", "BTCUSDT")):
        f = _fill(f"e{i}", 1_000 + i)
        live.insert_fill(FillRow(**{**f.__dict__, "symbol": sym}), kind="grid", gen=1, slot=i)
    assert live.last_exec_time("ETHUSDT") == 1_001 and live.last_exec_time() == 1_002
    assert [f.exec_id for f in live.unapplied_fills("BTCUSDT")] == ["e0", "e2"]
    assert live.fills_summary("ETHUSDT")["n_fills"] == 1
    assert live.fills_by_symbol()["n_fills"].tolist() == [2, 1]
    live.add_event("grid_error", "eth halted", symbol="ETHUSDT")
    live.add_event("start", "runner")
    live.add_event("recenter", "btc", symbol="BTCUSDT")
    assert live.events(symbol="ETHUSDT")["kind"].tolist() == ["start", "grid_error"]
    live.add_account(ts=5, capital=3000.0, equity=2990.0, realized=0.0, unrealized=-10.0,
                     fees=0.0, funding=0.0, grid_profit=0.0, notional=500.0,
                     worst_notional=900.0, exposure=0.167, daily_max=3000.0,
                     drawdown=0.0033, stopped=0, n_grids=3, n_trading=3, wallet_equity=None,
                     wallet_available=None)
    assert live.account()["equity"].tolist() == [2990.0]
    assert "live_account" in {p.stem for p in live.export()}
