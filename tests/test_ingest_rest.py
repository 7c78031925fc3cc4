"""REST ingestion through pybit against the local exchange: kline pagination, resume,
idempotency, closed bars only, interruption; funding; instruments; the CLI commands."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from gridlab.bybit.client import BybitClient
from gridlab.bybit.errors import ServerError
from gridlab.data.ingest_rest import (
    IngestReport,
    ingest_funding,
    ingest_instruments,
    ingest_klines,
    parse_time,
    register_ingest,
)
from gridlab.errors import DataError
from gridlab.fakex.handle import FakeExchange
from gridlab.store import market as sm
from gridlab.store.core import Store

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
MIN = 60_000
Maker = Callable[..., Any]


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with Store.open(tmp_path / "ingest.duckdb") as st:
        yield st


def load_bars(fx: FakeExchange, n: int, interval: str = "1") -> np.ndarray:
    """n bars ending with the bar still forming now; returns their open times."""
    ms = sm.interval_ms(interval)
    now = int(time.time() * 1000)
    t = (now // ms * ms) - np.arange(n - 1, -1, -1, dtype=np.int64) * ms
    rows = [[100 + i % 7, 101 + i % 7, 99 + i % 7, 100.5 + i % 7, 1 + i % 3, 50.0]
            for i in range(n)]
    fx.engine.load_klines(SYM, interval, t, rows)
    return t


def client(fx: FakeExchange, fast_config: Maker, **kw: Any) -> BybitClient:
    return BybitClient(fast_config(fx, **kw))


def test_klines_paginate_resume_and_are_idempotent(fake_exchange: FakeExchange,
                                                    fast_config: Maker, store: Store) -> None:
    t = load_bars(fake_exchange, 5001)  # 5000 closed + 1 forming
    c = client(fake_exchange, fast_config)
    mid = int(t[2500])
    rep = ingest_klines(store, c, SYM, "linear", "1", int(t[0]), mid)
    assert (rep.added, rep.fetched, rep.pages) == (2500, 2500, 3)
    assert rep.first_ms == t[0] and rep.last_ms == t[2499]
    rep = ingest_klines(store, c, SYM, "linear", "1", int(t[0]))
    assert rep.resumed_from == t[2499] and rep.added == 2500 and rep.pages == 3
    assert rep.last_ms == t[-2]  # the forming bar is not stored
    again = ingest_klines(store, c, SYM, "linear", "1", int(t[0]))
    assert (again.added, again.fetched, again.pages) == (0, 0, 0)
    got = sm.load_klines(store, SYM, "linear", "1")
    assert np.array_equal(got["open_time"], t[:-1])
    assert got["close"][3] == 103.5 and got["volume"][4] == 2.0
    assert "resumed after" in str(rep) and isinstance(rep, IngestReport)


def test_klines_backfill_before_the_first_stored_bar(fake_exchange: FakeExchange,
                                                      fast_config: Maker, store: Store) -> None:
    t = load_bars(fake_exchange, 3001, "5")
    c = client(fake_exchange, fast_config)
    ingest_klines(store, c, SYM, "linear", "5", int(t[2000]))
    rep = ingest_klines(store, c, SYM, "linear", "5", int(t[0]))
    assert rep.added == 2000 and rep.first_ms == t[0]
    assert sm.load_klines(store, SYM, "linear", "5")["open_time"].size == 3000


def test_interrupted_ingest_resumes_without_gaps(fake_exchange: FakeExchange,
                                                 fast_config: Maker, store: Store) -> None:
    fx = fake_exchange
    t = load_bars(fx, 2001)
    c = client(fx, fast_config)

    def break_after_first_batch(rep: IngestReport) -> None:
        fx.faults.http_error(count=100, status=500, path="/v5/market/kline")

    with pytest.raises(ServerError):
        ingest_klines(store, c, SYM, "linear", "1", int(t[0]), limit=100,
                      progress=break_after_first_batch)
    stored = sm.load_klines(store, SYM, "linear", "1")["open_time"]
    assert np.array_equal(stored, t[:1000])  # one batch of 10 pages, complete
    fx.faults.clear()
    rep = ingest_klines(store, c, SYM, "linear", "1", int(t[0]), limit=100)
    assert rep.added == 1000 and rep.resumed_from == t[999]
    assert np.array_equal(sm.load_klines(store, SYM, "linear", "1")["open_time"], t[:-1])


def test_klines_go_through_the_rate_limiter(fake_exchange: FakeExchange, fast_config: Maker,
                                            store: Store) -> None:
    t = load_bars(fake_exchange, 1001)
    c = client(fake_exchange, fast_config, rate_limits={"market": 20, "burst": 1})
    t0 = time.monotonic()
    rep = ingest_klines(store, c, SYM, "linear", "1", int(t[0]), limit=100)
    assert rep.pages == 10 and rep.added == 1000
    assert time.monotonic() - t0 >= (rep.pages + 2 - 1) / 20 - 0.02  # + time + instrument


def test_unknown_symbol_is_a_data_error(fake_exchange: FakeExchange, fast_config: Maker,
                                        store: Store) -> None:
    c = client(fake_exchange, fast_config)
    with pytest.raises(DataError, match="NOPEUSDT"):
        ingest_klines(store, c, "NOPEUSDT", "linear", "1", 0)
    with pytest.raises(DataError, match="NOPEUSDT"):
        ingest_funding(store, c, "NOPEUSDT", 0)
    with pytest.raises(DataError, match="NOPEUSDT"):
        ingest_instruments(store, c, [SYM, "NOPEUSDT"])
    with pytest.raises(DataError, match="interval"):
        ingest_klines(store, c, SYM, "linear", "7", 0)


def test_funding_ingest_resumes(fake_exchange: FakeExchange, fast_config: Maker,
                                store: Store) -> None:
    now = int(time.time() * 1000)
    ts = np.arange(now // 28_800_000 - 499, now // 28_800_000 + 1) * 28_800_000
    rates = np.round(np.sin(np.arange(500)) * 1e-4, 8)
    fake_exchange.engine.load_funding(SYM, ts, rates)
    c = client(fake_exchange, fast_config)
    rep = ingest_funding(store, c, SYM, int(ts[0]), int(ts[300]))
    assert rep.added == 300 and rep.pages == 2
    rep = ingest_funding(store, c, SYM, int(ts[0]))
    assert rep.added == 200 and rep.resumed_from == ts[299]
    assert ingest_funding(store, c, SYM, int(ts[0])).added == 0
    got = sm.load_funding(store, SYM)
    assert np.array_equal(got["ts"], ts) and np.allclose(got["rate"], rates)
    with pytest.raises(DataError, match="spot"):
        ingest_funding(store, c, SYM, 0, category="spot")


def test_funding_ingest_gets_a_past_shorter_interval_complete(
        fake_exchange: FakeExchange, fast_config: Maker, store: Store) -> None:
    now = int(time.time() * 1000)
    h8 = 28_800_000
    hourly = np.arange(now // h8 * 8 - 800, now // h8 * 8 - 80) * 3_600_000  # 720 at 1 h ...
    recent = np.arange(now // h8 - 9, now // h8 + 1) * h8  # ... then 8 h (the instrument now)
    ts = np.concatenate([hourly, recent])
    fake_exchange.engine.load_funding(SYM, ts, np.full(len(ts), 1e-4))
    c = client(fake_exchange, fast_config)
    rep = ingest_funding(store, c, SYM, int(ts[0]))
    got = sm.load_funding(store, SYM)["ts"]
    assert rep.added == len(ts) and np.array_equal(got, ts)  # no window lost its oldest part
    assert rep.pages > 2


def test_instruments_ingest(fake_exchange_factory: Maker, fast_config: Maker,
                            store: Store) -> None:
    fx = fake_exchange_factory(symbols=("BTCUSDT", "ETHUSDT"))
    c = client(fx, fast_config)
    rep = ingest_instruments(store, c, ["ETHUSDT"])
    assert rep.added == 1 and rep.symbols == ["ETHUSDT"]
    eth = sm.get_instrument(store, "ETHUSDT", "linear")
    assert eth is not None and (eth["tick_size"], eth["qty_step"], eth["min_notional"]) == (
        0.01, 0.01, 5.0)
    rep = ingest_instruments(store, c, None)
    assert sorted(rep.symbols) == ["BTCUSDT", "ETHUSDT"]


def test_cli_commands(fake_exchange: FakeExchange, tmp_path: Path) -> None:
    t = load_bars(fake_exchange, 301)
    app = typer.Typer()
    register_ingest(app)
    db = tmp_path / "cli.duckdb"
    common = ["--env", "local", "--endpoint", fake_exchange.url, "--db", str(db)]
    runner = CliRunner()
    res = runner.invoke(app, ["klines", "--symbol", SYM, "--interval", "1",
                              "--start", str(int(t[0])), *common])
    assert res.exit_code == 0, res.output
    assert "300 new of 300" in res.output
    res = runner.invoke(app, ["instruments", "--symbol", SYM, *common])
    assert res.exit_code == 0 and "1 new" in res.output
    fake_exchange.engine.load_funding(SYM, [int(t[0]) // 28_800_000 * 28_800_000], [0.0003])
    day = time.strftime("%Y-%m-%d", time.gmtime(int(t[0]) / 1000 - 86_400))
    res = runner.invoke(app, ["funding", "--symbol", SYM, "--start", day, *common])
    assert res.exit_code == 0 and "1 new" in res.output
    res = runner.invoke(app, ["klines", "--symbol", "NOPEUSDT", "--start", "0", *common])
    assert res.exit_code != 0 and "NOPEUSDT" in str(res.exception)


def test_parse_time() -> None:
    assert parse_time("2024-01-01") == 1_704_067_200_000
    assert parse_time("2024-01-01T00:01:00Z") == 1_704_067_260_000
    assert parse_time("1704067200000") == 1_704_067_200_000 and parse_time(None) is None
    with pytest.raises(DataError):
        parse_time("yesterday")
