"""The synthetic market: determinism, tick grid, regimes, fat tails, seasonality, the store."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridlab.cli import app
from gridlab.data.synth import (
    SynthParams,
    generate_funding,
    generate_klines,
    generate_trades,
    write_synthetic_market,
)
from gridlab.errors import DataError
from gridlab.store import market
from gridlab.store.core import Store

T0 = 1_704_067_200_000
DAY = 86_400_000


@pytest.fixture(scope="module")
def week() -> pd.DataFrame:
    return generate_trades("BTCUSDT", start_ms=T0, days=7, seed=11, trades_per_day=60_000)


def minute_closes(trades: pd.DataFrame) -> pd.Series:
    return trades.groupby(trades["ts"] // 60_000)["price"].last()


def test_deterministic() -> None:
    a = generate_trades(days=0.5, seed=3, trades_per_day=20_000)
    b = generate_trades(days=0.5, seed=3, trades_per_day=20_000)
    pd.testing.assert_frame_equal(a, b)
    c = generate_trades(days=0.5, seed=4, trades_per_day=20_000)
    assert not a["price"].equals(c["price"])
    k1 = generate_klines(days=2, seed=3)
    pd.testing.assert_frame_equal(k1, generate_klines(days=2, seed=3))


def test_schema_and_grid(week: pd.DataFrame) -> None:
    assert list(week.columns) == ["symbol", "category", "ts", "price", "size", "side",
                                  "trade_id", "seq"]
    ts = week["ts"].to_numpy()
    assert np.all(np.diff(ts) >= 0) and ts[0] >= T0 and ts[-1] < T0 + 7 * DAY
    assert 0.9 * 7 * 60_000 < len(week) < 1.1 * 7 * 60_000
    price = week["price"].to_numpy()
    assert price.min() > 0
    assert np.abs(price / 0.1 - np.round(price / 0.1)).max() < 1e-6  # on the tick grid
    assert np.array_equal(price, np.round(price, 1))  # exact decimal representation
    size = week["size"].to_numpy()
    assert size.min() >= 0.001 and np.abs(size / 0.001 - np.round(size / 0.001)).max() < 1e-6
    assert set(week["side"].unique()) == {"Buy", "Sell"}
    assert week["trade_id"].is_unique
    day = ts // DAY
    seq = week["seq"].to_numpy()
    assert np.all(seq[np.r_[True, day[1:] != day[:-1]]] == 0)  # seq restarts each UTC day
    assert np.all(np.diff(seq)[day[1:] == day[:-1]] == 1)


def test_fat_tails_regimes_and_sizes(week: pd.DataFrame) -> None:
    r = np.diff(np.log(minute_closes(week).to_numpy()))
    kurt = pd.Series(r).kurt() + 3.0
    assert kurt > 3.0
    daily_vol = pd.Series(r).groupby(np.arange(len(r)) // 1440).std() * np.sqrt(1440)
    assert daily_vol.max() / daily_vol.min() > 1.3  # volatility regimes: days differ
    size = week["size"].to_numpy()
    assert size.max() > 50 * np.median(size)  # whales


def test_intraday_u_shape(week: pd.DataFrame) -> None:
    hour = (week["ts"] % DAY) // 3_600_000
    counts = hour.value_counts().sort_index()
    edges = counts[[0, 1, 22, 23]].mean()
    middle = counts[[11, 12, 13]].mean()
    assert edges > 1.5 * middle


def test_sides_follow_the_move(week: pd.DataFrame) -> None:
    signed = np.where(week["side"] == "Buy", 1, -1)  # trade-count imbalance per minute
    minute = week["ts"] // 60_000
    flow = pd.Series(signed).groupby(minute.to_numpy()).sum()
    ret = np.log(minute_closes(week)).diff()
    both = pd.concat([flow, ret], axis=1).dropna()
    assert both.corr().iloc[0, 1] > 0.3
    # buys print at the ask, sells at the bid: a buy after a sell in the same ms is not lower
    same = (np.diff(week["ts"].to_numpy()) == 0)
    up = (week["side"].to_numpy()[1:] == "Buy") & (week["side"].to_numpy()[:-1] == "Sell")
    assert np.all(np.diff(week["price"].to_numpy())[same & up] >= 0)


def test_funding(week: pd.DataFrame) -> None:
    f = generate_funding(week, T0, T0 + 7 * DAY, seed=11)
    assert len(f) == 21
    assert set((f["ts"] % DAY) // 3_600_000) == {0, 8, 16}
    assert f["rate"].abs().max() <= SynthParams().funding_cap
    ts, px = week["ts"].to_numpy(), week["price"].to_numpy()

    def at(t: np.ndarray) -> np.ndarray:
        return px[np.clip(np.searchsorted(ts, t, side="right") - 1, 0, len(ts) - 1)]

    t = f["ts"].to_numpy()
    r8 = np.log(at(t) / at(np.maximum(t - 8 * 3_600_000, T0)))
    assert np.corrcoef(r8, f["rate"])[0, 1] > 0.5  # trends make the crowded side pay


def test_klines_without_trades() -> None:
    k = generate_klines(days=30, seed=2, interval="5", tick_size=0.5)
    assert len(k) == 30 * 288
    assert np.all(np.diff(k["open_time"]) == 300_000)
    o, h, lo, c = (k[c].to_numpy() for c in ("open", "high", "low", "close"))
    assert np.all(h >= np.maximum(o, c)) and np.all(lo <= np.minimum(o, c)) and lo.min() > 0
    assert np.array_equal(o[1:], c[:-1])
    assert np.abs(h / 0.5 - np.round(h / 0.5)).max() < 1e-9
    assert (k["volume"] > 0).all()
    r = np.diff(np.log(c))
    assert pd.Series(r).kurt() + 3 > 3
    with pytest.raises(DataError, match=r"minute bars"):
        generate_klines(days=1, interval="D")


def test_parameters_are_checked() -> None:
    with pytest.raises(DataError, match=r"unknown synthetic-market parameter.*volatility"):
        generate_trades(days=0.1, volatility=0.1)
    with pytest.raises(DataError, match=r"days must be positive"):
        generate_trades(days=0)
    calm = generate_trades(days=0.5, seed=1, trades_per_day=20_000, daily_vol=0.005,
                           jump_rate_per_day=0.0)
    wild = generate_trades(days=0.5, seed=1, trades_per_day=20_000, daily_vol=0.05)
    assert np.ptp(np.log(calm["price"])) < np.ptp(np.log(wild["price"]))


def test_latent_kernel_matches_python() -> None:
    from gridlab.data.synth_nb import latent_path_nb, latent_state

    rng = np.random.default_rng(0)
    n = 500
    x0 = np.log(100.0)
    args = (rng.uniform(1e-4, 1e-3, n), rng.standard_normal(n),
            np.where(rng.random(n) < 0.02, rng.laplace(0, 0.01, n), 0.0),
            np.where(np.arange(n) < 250, 1e-4, 0.0), np.where(np.arange(n) < 250, 0.0, 0.05),
            np.isin(np.arange(n), [0, 250, 400]), rng.random(n))
    jit, ref = np.empty(n + 1), np.empty(n + 1)
    latent_path_nb(x0, latent_state(x0), *args, 3.0, jit)
    latent_path_nb.py_func(x0, latent_state(x0), *args, 3.0, ref)
    assert np.array_equal(jit, ref)
    # in stretches, the state carried over: the same path (cut inside both kinds of phase)
    state, parts = latent_state(x0), []
    for a, b in ((0, 120), (120, 260), (260, 401), (401, n)):
        out = np.empty(b - a + 1)
        latent_path_nb(x0, state, *(v[a:b] for v in args), 3.0, out)
        assert out[0] == (jit[0] if a == 0 else parts[-1][-1])
        parts.append(out[1:])
    assert np.array_equal(np.concatenate([jit[:1], *parts]), jit)


def test_the_stream_does_not_depend_on_the_chunk_size() -> None:
    """The latent path is built chunk by chunk (memory O(chunk)): any chunk size, one stream."""
    kw = {"start_ms": T0 + 5 * 3_600_000, "days": 3.5, "seed": 21, "trades_per_day": 3_000}
    one = generate_trades(**kw)
    for chunk_days in (2, 7):
        pd.testing.assert_frame_equal(generate_trades(chunk_days=chunk_days, **kw), one)
    with pytest.raises(DataError, match=r"chunk_days"):
        generate_trades(chunk_days=0, **kw)


def test_write_synthetic_market_is_the_same_for_any_chunk_size(tmp_path: Path) -> None:
    kw = {"start_ms": T0, "days": 2.5, "seed": 4, "trades_per_day": 4_000, "intervals": ("1",)}
    tables = []
    for chunk_days in (1, 3):
        db = tmp_path / f"c{chunk_days}.duckdb"
        with Store.open(db) as store:
            write_synthetic_market(store, "BTCUSDT", "linear", chunk_days=chunk_days, **kw)
            tables.append({t: store.con.execute(f"SELECT * FROM {t} ORDER BY ALL").df()
                           for t in ("trades", "klines", "funding", "instruments")})
            # the scratch database is gone and DuckDB's memory limit is back to its default
            names = store.con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
            assert ("synth_stage",) not in names
        assert not (tmp_path / f"c{chunk_days}.duckdb.synth-stage").exists()
    for name, frame in tables[0].items():
        assert len(frame), name
        pd.testing.assert_frame_equal(frame, tables[1][name], obj=name)


def test_speed() -> None:
    generate_trades(days=0.01, seed=0)  # numba load / compile out of the timing
    t0 = time.perf_counter()
    df = generate_trades(days=7, seed=0, trades_per_day=143_000)
    elapsed = time.perf_counter() - t0
    assert len(df) > 950_000
    assert elapsed < 6.0  # ~0.5 s on an idle 2-core machine; generous for loaded CI


def test_write_synthetic_market(tmp_store: Store) -> None:
    out = write_synthetic_market(tmp_store, "ETHUSDT", "linear", start_ms=T0, days=1, seed=7,
                                 trades_per_day=10_000, intervals=("1", "15"), base_price=2000.0,
                                 tick_size=0.01, qty_step=0.01, min_notional=1.0, max_qty=5000.0)
    assert out["trades"] == market.count_trades(tmp_store, "ETHUSDT", "linear") > 9000
    assert out["klines"]["15"] == 96 and out["funding"] == 3
    inst = market.get_instrument(tmp_store, "ETHUSDT", "linear")
    assert inst is not None and inst["tick_size"] == 0.01 and inst["min_qty"] == 0.01
    assert inst["min_notional"] == 1.0 and inst["max_qty"] == 5000.0
    k = market.load_klines(tmp_store, "ETHUSDT", "linear", "1")
    t = market.load_trades(tmp_store, "ETHUSDT", "linear")
    assert k["close"][-1] == t["price"][-1] and k["open"][0] == t["price"][0]
    with pytest.raises(DataError, match=r"already has ETHUSDT linear data in the synthetic "
                                        r"range .*pass --replace"):
        write_synthetic_market(tmp_store, "ETHUSDT", "linear", start_ms=T0, days=1, seed=7,
                               trades_per_day=10_000, intervals=("1", "15"))
    assert market.count_trades(tmp_store, "ETHUSDT", "linear") == out["trades"]


def test_synth_again_replaces_the_span_or_refuses(tmp_store: Store) -> None:
    kw = {"start_ms": T0, "days": 1, "trades_per_day": 5_000, "intervals": ("1",)}
    first = write_synthetic_market(tmp_store, "BTCUSDT", "linear", seed=1, **kw)
    with pytest.raises(DataError, match=r"already has BTCUSDT linear data"):
        write_synthetic_market(tmp_store, "BTCUSDT", "linear", seed=2, **kw)
    assert market.count_trades(tmp_store, "BTCUSDT", "linear") == first["trades"]
    second = write_synthetic_market(tmp_store, "BTCUSDT", "linear", seed=2, replace=True, **kw)
    assert second["replaced"].trades == first["trades"]
    assert second["replaced"].funding == 3
    assert second["replaced"].klines == first["klines"]["1"] > 1000
    # one price path: exactly seed 2's trades, bars and funding
    want = generate_trades("BTCUSDT", seed=2, start_ms=T0, days=1, trades_per_day=5_000)
    got = market.load_trades(tmp_store, "BTCUSDT", "linear")
    assert got["ts"].tolist() == want["ts"].tolist()
    assert got["price"].tolist() == want["price"].tolist()
    ids = tmp_store.con.execute("SELECT count(*) FILTER (WHERE trade_id LIKE 'syn1-%'), "
                                "count(*) FROM trades").fetchall()[0]
    assert ids == (0, len(want))
    bars = market.load_klines(tmp_store, "BTCUSDT", "linear", "1")["open_time"]
    assert len(bars) == second["klines"]["1"] == len(np.unique(want["ts"] // 60_000))
    assert len(market.load_funding(tmp_store, "BTCUSDT")["ts"]) == 3
    files = tmp_store.con.execute("SELECT source FROM trade_files").fetchall()
    assert files == [("synthetic:seed=2",)]


def test_failed_replace_keeps_the_old_span(tmp_store: Store) -> None:
    kw = {"start_ms": T0, "days": 0.5, "trades_per_day": 5_000}
    first = write_synthetic_market(tmp_store, "BTCUSDT", "linear", seed=1, **kw)
    with pytest.raises(DataError, match=r"unknown synthetic-market parameter"):
        write_synthetic_market(tmp_store, "BTCUSDT", "linear", seed=2, replace=True,
                               no_such_field=1.0, **kw)
    with pytest.raises(DataError):  # fails inside the transaction, after the delete
        write_synthetic_market(tmp_store, "BTCUSDT", "linear", seed=2, replace=True,
                               intervals=("1", "W"), max_qty=float("nan"), **kw)
    assert market.count_trades(tmp_store, "BTCUSDT", "linear") == first["trades"]


def test_store_holds_generate_trades(tmp_store: Store) -> None:
    write_synthetic_market(tmp_store, "BTCUSDT", "linear", start_ms=T0 + 3_600_000, days=1.5,
                           seed=9, trades_per_day=4_000)
    want = generate_trades("BTCUSDT", start_ms=T0 + 3_600_000, days=1.5, seed=9,
                           trades_per_day=4_000)
    got = tmp_store.con.execute("SELECT ts, price, size, side, trade_id, seq FROM trades "
                                "ORDER BY ts, seq").df()
    pd.testing.assert_frame_equal(got, want[list(got.columns)].reset_index(drop=True),
                                  check_dtype=False)
    assert want["seq"].iloc[0] == 0 and (want.groupby(want["ts"] // DAY)["seq"].min() == 0).all()


    spot = write_synthetic_market(tmp_store, "ETHUSDT", "spot", start_ms=T0, days=0.25, seed=7,
                                  trades_per_day=10_000)
    assert spot["funding"] == 0 and spot["trades"] > 0


def test_synth_cli(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    out = CliRunner().invoke(app, ["synth", "--db", str(db), "--days", "0.5", "--seed", "2",
                                   "--start", "2024-03-01", "--trades-per-day", "10000",
                                   "-i", "1", "-i", "60"])
    assert out.exit_code == 0, out.output
    assert "60: 12," in out.output
    with Store.open(db, read_only=True) as store:
        assert market.first_kline_time(store, "BTCUSDT", "linear", "60") == 1_709_251_200_000
