"""Funding with the instrument's real interval: synth, the backtest's check, data status."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridlab.cli import app
from gridlab.data.funding import check_funding
from gridlab.data.status import data_status
from gridlab.data.synth import (
    SynthParams,
    generate_funding,
    generate_trades,
    write_synthetic_market,
)
from gridlab.errors import DataError
from gridlab.store import market
from gridlab.store.core import Store

T0 = 1_704_067_200_000
H = 3_600_000
DAY = 86_400_000


def _synth(store: Store, hours: int, days: float = 2.0, symbol: str = "BTCUSDT") -> dict:
    return write_synthetic_market(store, symbol, "linear", start_ms=T0, days=days, seed=5,
                                  trades_per_day=3000, funding_interval_h=hours)


@pytest.mark.parametrize("hours", [1, 4])
def test_synth_settles_exactly_on_the_interval_grid(tmp_store: Store, hours: int) -> None:
    out = _synth(tmp_store, hours)
    f = market.load_funding(tmp_store, "BTCUSDT")
    ts = f["ts"]
    iv = hours * H
    assert out["funding"] == len(ts) == 2 * 24 // hours
    assert ts[0] == T0 and np.all(ts % iv == 0) and np.all(np.diff(ts) == iv)
    assert np.abs(f["rate"]).max() <= SynthParams().funding_cap * hours / 8  # cap per interval
    inst = market.get_instrument(tmp_store, "BTCUSDT", "linear")
    assert inst is not None and inst["funding_interval_min"] == hours * 60
    # generate_funding follows the same grid
    trades = generate_trades(start_ms=T0, days=1, seed=5, trades_per_day=3000)
    g = generate_funding(trades, T0, T0 + DAY, seed=5, funding_interval_h=hours)
    assert len(g) == 24 // hours and np.all(np.diff(g["ts"]) == iv)
    hot = generate_funding(trades, T0, T0 + DAY, seed=5, funding_interval_h=hours,
                           funding_beta=100.0)  # trends beyond the cap: clipped per interval
    assert np.abs(hot["rate"]).max() == pytest.approx(SynthParams().funding_cap * hours / 8)


def test_default_interval_is_8h_and_the_same_stream(tmp_path: Path) -> None:
    trades = generate_trades(start_ms=T0, days=2, seed=5, trades_per_day=3000)
    a = generate_funding(trades, T0, T0 + 2 * DAY, seed=5)
    b = generate_funding(trades, T0, T0 + 2 * DAY, seed=5, funding_interval_h=8)
    pd.testing.assert_frame_equal(a, b)
    assert set((a["ts"] % DAY) // H) == {0, 8, 16}
    # the rates per interval: a steady trend pays about the same per day at 1 h as at 8 h
    base = generate_funding(trades, T0, T0 + 2 * DAY, seed=5, funding_noise=0.0)
    hourly = generate_funding(trades, T0, T0 + 2 * DAY, seed=5, funding_noise=0.0,
                              funding_interval_h=1, funding_beta=0.0)
    flat = generate_funding(trades, T0, T0 + 2 * DAY, seed=5, funding_noise=0.0,
                            funding_beta=0.0)
    assert hourly["rate"].sum() == pytest.approx(flat["rate"].sum())  # base 0.01 % per 8 h
    assert len(base) == 6


def test_a_bad_interval_is_refused_naming_the_field(tmp_store: Store, tmp_path: Path) -> None:
    for bad in (3, 0, 16, 2.5, "8", True):
        with pytest.raises(DataError, match="funding_interval_h must be one of 1, 2, 4, 8"):
            SynthParams(funding_interval_h=bad)
    with pytest.raises(DataError, match="funding_interval_h"):
        _synth(tmp_store, 6)
    assert market.trade_span(tmp_store, "BTCUSDT", "linear") is None  # nothing written
    res = CliRunner().invoke(app, ["synth", "--days", "0.1", "--funding-interval-h", "3",
                                   "--no-progress", "--db", str(tmp_path / "x.duckdb")])
    assert res.exit_code == 2 and "--funding-interval-h" in res.output


def _backtest_warnings(store: Store, symbol: str = "BTCUSDT") -> list[str]:
    from gridlab.backtest import backtest, load_market

    md = load_market(store, symbol, "linear", "1")
    return [w for w in backtest(md, record=False).warnings if w.startswith("funding")]


def test_backtest_reports_missing_settlements(tmp_store: Store) -> None:
    _synth(tmp_store, 4)
    assert _backtest_warnings(tmp_store) == []  # complete: nothing to say
    tmp_store.con.execute(f"DELETE FROM funding WHERE ts IN ({T0 + 8 * H}, {T0 + 12 * H}, "
                          f"{T0 + 32 * H})")
    from gridlab.backtest import backtest, load_market

    md = load_market(tmp_store, "BTCUSDT", "linear", "1")
    db = str(tmp_store.path)
    grid = np.arange(0, 49 * H, 4 * H) + T0  # the 4 h settlements the replayed span holds
    n = int(((grid >= md.ts[0]) & (grid <= md.ts[-1])).sum())
    (w,) = _backtest_warnings(tmp_store)
    assert w.startswith(f"funding: 3 of {n} settlement(s) missing in the run (BTCUSDT settles "
                        "every 4 h; the funding table of")
    assert "2024-01-01 08:00:00 -> 2024-01-01 16:00:00" in w  # the largest hole first
    off = backtest(load_market(tmp_store, "BTCUSDT", "linear", "1"), record=False,
                   funding=False)
    assert not [x for x in off.warnings if x.startswith("funding")]  # funding off: not checked
    tmp_store.close()  # the CLI says it too
    res = CliRunner().invoke(app, ["backtest", "--symbol", "BTCUSDT", "--source", "1",
                                   "--db", db, "--no-save"])
    assert res.exit_code == 0, res.output
    assert f"warning: funding: 3 of {n} settlement(s) missing" in res.output


def test_portfolio_reports_missing_settlements_per_symbol(tmp_store: Store) -> None:
    from gridlab.backtest import load_market
    from gridlab.backtest.portfolio import backtest_portfolio

    _synth(tmp_store, 8)
    _synth(tmp_store, 2, symbol="ETHUSDT")
    tmp_store.con.execute(f"DELETE FROM funding WHERE symbol = 'ETHUSDT' AND ts = {T0 + 6 * H}")
    datas = [load_market(tmp_store, s, "linear", "1") for s in ("BTCUSDT", "ETHUSDT")]
    cfg = {"portfolio": {"capital": 2000.0, "symbols": [
        {"symbol": "BTCUSDT", "allocation": 0.5}, {"symbol": "ETHUSDT", "allocation": 0.5}]}}
    got = [w for w in backtest_portfolio(datas, cfg, record=False).warnings if "funding" in w]
    assert len(got) == 1 and got[0].startswith("ETHUSDT: funding: 1 of ")
    assert "ETHUSDT settles every 2 h" in got[0]


def test_backtest_refuses_a_rate_off_the_hour(tmp_store: Store) -> None:
    from gridlab.backtest import load_market

    _synth(tmp_store, 8)
    market.insert_funding(tmp_store, pd.DataFrame({"symbol": ["BTCUSDT"],
                                                   "ts": [T0 + 9 * H + 30 * 60_000],
                                                   "rate": [1e-4]}))
    with pytest.raises(DataError, match=r"1 funding rate\(s\) in the funding table of .* are not "
                       r"on a whole hour \(first at 2024-01-01 09:30:00.000\)"):
        load_market(tmp_store, "BTCUSDT", "linear", "1")


def test_backtest_says_when_the_interval_changed(tmp_store: Store) -> None:
    _synth(tmp_store, 4, days=3)  # the instrument settles every 4 h now ...
    # ... but the first two days of the stored history settled every 8 h
    tmp_store.con.execute(f"DELETE FROM funding WHERE ts < {T0 + 2 * DAY} AND ts % {8 * H} <> 0")
    (w,) = _backtest_warnings(tmp_store)
    assert w.startswith("funding: BTCUSDT settled every 8 h from 2024-01-01 08:00:00 to "
                        "2024-01-03 00:00:00 in the funding table of")
    assert "every 4 h now: Bybit changed the instrument's funding interval" in w
    # and a rate off the 8 h grid of an 8 h instrument is named
    _synth(tmp_store, 8, symbol="ETHUSDT")
    market.insert_funding(tmp_store, pd.DataFrame({"symbol": ["ETHUSDT"], "ts": [T0 + 28 * H],
                                                   "rate": [1e-4]}))
    (w,) = _backtest_warnings(tmp_store, "ETHUSDT")
    assert w.startswith("funding: 1 rate(s) in the funding table of") and \
        "off ETHUSDT's 8 h settlement grid (first at 2024-01-02 04:00:00)" in w


def test_check_funding_cases() -> None:
    iv = 8 * H
    c = check_funding(T0 + np.array([0, 1, 2, 5, 6]) * iv, iv, T0, T0 + 7 * iv)
    assert c.expected == 8 and c.missing.tolist() == [T0 + 3 * iv, T0 + 4 * iv, T0 + 7 * iv]
    assert c.holes == ((T0 + 3 * iv, T0 + 5 * iv), (T0 + 7 * iv, T0 + 7 * iv + 1))
    empty = check_funding(np.zeros(0, np.int64), iv, T0 + 1, T0 + 2 * iv)
    assert empty.stored == 0 and empty.missing.tolist() == [T0 + iv, T0 + 2 * iv]
    # a single 4 h step is not a period at 4 h: its end is off the 8 h grid, the next is missing
    c = check_funding(T0 + np.array([0, 4, 16, 24]) * H, iv, T0, T0 + 24 * H)
    assert c.off_grid.tolist() == [T0 + 4 * H] and c.missing.tolist() == [T0 + 8 * H]
    assert c.periods == ()
    # nor are three 4 h steps (one day at 8 h holds three settlements)
    c = check_funding(T0 + np.array([0, 4, 8, 12]) * H, iv, T0, T0 + 12 * H)
    assert c.periods == () and c.off_grid.tolist() == [T0 + 4 * H, T0 + 12 * H]
    # an hourly period inside a 4 h history
    t = np.concatenate([np.arange(0, 12, 4), np.arange(12, 16), np.arange(16, 29, 4)]) * H + T0
    c = check_funding(t, 4 * H, T0, T0 + 28 * H)
    assert c.periods == ((H, T0 + 12 * H, T0 + 16 * H),) and len(c.missing) == 0
    assert len(c.off_grid) == 0
    with pytest.raises(DataError, match="not one of Bybit's"):
        check_funding(t, 3 * H, T0, T0 + DAY)


def test_data_status_uses_the_instruments_interval(tmp_store: Store) -> None:
    _synth(tmp_store, 1, days=1)
    row = data_status(tmp_store).query("kind == 'funding'").iloc[0]
    assert (row["interval"], row["expected_rows"], row["missing"]) == ("1h", 24, 0)
    # two hourly rates 4 h apart: three missing (the most common spacing would say none)
    tmp_store.con.execute(f"DELETE FROM funding WHERE ts NOT IN ({T0}, {T0 + 4 * H})")
    row = data_status(tmp_store).query("kind == 'funding'").iloc[0]
    assert (row["expected_rows"], row["missing"], row["gaps"]) == (5, 3, 1)
    assert row["gap_ranges"] == [(T0 + H, T0 + 4 * H)] and "(3 bars)" in row["largest_gap"]
    # a symbol no instrument row or snapshot knows: the most common spacing, marked as a guess
    market.insert_funding(tmp_store, pd.DataFrame({"symbol": "ZZZUSDT",
                                                   "ts": T0 + np.array([0, 2, 4, 8]) * H,
                                                   "rate": 1e-4}))
    row = data_status(tmp_store).query("symbol == 'ZZZUSDT'").iloc[0]
    assert (row["interval"], row["expected_rows"], row["missing"]) == ("2h?", 5, 1)
