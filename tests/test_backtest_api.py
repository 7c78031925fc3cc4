"""The Python API around the kernels: data validation, backtest(), sweep(), the runs store, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridlab.backtest.data import MarketData, fmt_ms, load_market
from gridlab.backtest.engine import backtest
from gridlab.backtest.metrics import METRIC_COLUMNS
from gridlab.backtest.params import resolve_key
from gridlab.backtest.sweep import parse_param_grid, plan_sweep, sweep
from gridlab.backtest.sweep_nb import (
    engine_params_from_row_nb,
    grid_params_from_row_nb,
    recenter_params_from_row_nb,
    risk_params_from_row_nb,
    rows_of,
)
from gridlab.errors import ConfigError, DataError, StrategyError
from gridlab.strategy.enums import Filters
from tests.backtest_helpers import T0, random_market

FILTERS = Filters(0.01, 0.01, 0.01, 0.0, 1.0)


@pytest.fixture(scope="module")
def market() -> MarketData:
    ts, price, size = random_market(3, 20_000, vol=5e-4, dt_max=30_000)
    fts = np.arange(T0, ts[-1], 8 * 3_600_000, dtype=np.int64)
    return MarketData.from_trades(ts, price, size, symbol="TESTUSDT", filters=FILTERS,
                                  funding={"ts": fts, "rate": np.full(len(fts), 1e-4)})


def _same(a: float, b: float) -> bool:
    return a == b or (np.isnan(a) and np.isnan(b))


def test_bad_input_errors() -> None:
    ts = np.array([T0, T0 + 1, T0 + 2])
    with pytest.raises(DataError, match="no trades"):
        MarketData.from_trades(ts[:0], np.zeros(0))
    with pytest.raises(DataError, match=r"index 1 .* is nan"):
        MarketData.from_trades(ts, [1.0, np.nan, 1.0])
    with pytest.raises(DataError, match="backwards at index 2"):
        MarketData.from_trades([T0, T0 + 5, T0 + 1], [1.0, 1.0, 1.0])
    with pytest.raises(DataError, match="high/low"):
        MarketData.from_klines([T0], [10.0], [9.0], [8.0], [9.5])
    md = MarketData.from_trades(ts, [100.0, 100.0, 100.0], filters=FILTERS)
    with pytest.raises(StrategyError, match="no valid grid level"):
        backtest(md, profile=None, capital=1.0)
    with pytest.raises(ConfigError, match="ambiguous"):
        resolve_key("pct")
    with pytest.raises(ConfigError, match="unknown parameter"):
        backtest(md, spacingg=0.1)
    with pytest.raises(ConfigError, match="queue fill model needs trades"):
        backtest(MarketData.from_klines([T0], [10.0], [11.0], [9.0], [10.5], filters=FILTERS),
                 fill_model="queue")


def test_gaps_are_warned(market: MarketData) -> None:
    ts = np.concatenate([market.ts[:100], market.ts[100:200] + 5 * 3_600_000])
    md = MarketData.from_trades(ts, market.price[:200], market.size[:200], filters=FILTERS)
    assert len(md.gaps) == 1 and "1 gap(s)" in md.warnings[0]
    res = backtest(md, record=False)
    assert any("gap" in w for w in res.warnings)


def test_override_keys_resolve() -> None:
    assert resolve_key("spacing") == "grid.spacing"
    assert resolve_key("mode") == "grid.mode"
    assert resolve_key("capital") == "trading.capital"
    assert resolve_key("deviation.pct") == "recenter.deviation.pct"
    assert resolve_key("latency_ms") == "backtest.latency_ms"


def test_backtest_result_and_accounting(market: MarketData) -> None:
    res = backtest(market, spacing=0.002, capital=2000.0)
    m = res.metrics
    assert set(METRIC_COLUMNS) <= set(m)
    assert m["n_fills"] == len(res.fills) > 0
    assert m["fees"] == pytest.approx(res.fills["fee"].sum())
    eq = res.equity
    lhs = eq["equity"]
    rhs = 2000.0 + eq["realized"] + eq["unrealized"] - eq["fees"] - eq["funding"]
    assert np.allclose(lhs, rhs, rtol=0, atol=1e-9)
    assert m["final_equity"] == pytest.approx(eq["equity"].iloc[-1])
    assert m["inventory_pnl"] == pytest.approx(m["realized"] + m["unrealized"]
                                               - m["grid_profit"])
    assert m["funding"] != 0.0
    assert res.params["grid"]["spacing"] == 0.002 and res.params["profile"] is None


def test_sweep_rows_equal_single_runs(market: MarketData) -> None:
    grid = {"grid.spacing": [0.001, 0.003], "n_buy": [2, 5], "mode": ["neutral", "short"],
            "fill_model": ["cross", "touch"], "latency_ms": [0, 2000]}
    table = sweep(market, grid, capital=1500.0, chunk_size=5, progress=False)
    assert len(table) == 32
    for i in (0, 7, 13, 22, 31):
        row = table.iloc[i]
        over = {k: (row[k].item() if hasattr(row[k], "item") else row[k]) for k in grid}
        res = backtest(market, capital=1500.0, record=False, **over)
        bad = [k for k in METRIC_COLUMNS if not _same(res.metrics[k], row[k])]
        assert not bad, (i, bad)


def test_param_rows_round_trip(market: MarketData) -> None:
    plan = plan_sweep(market, {"spacing": [0.002], "kill_switch_dd": [0.03]},
                      **{"recenter.trailing_up.enabled": True})
    r = plan.runs[0]
    assert grid_params_from_row_nb(rows_of([r.gp])[0]) == r.gp
    assert recenter_params_from_row_nb(rows_of([r.rp])[0]) == r.rp
    assert risk_params_from_row_nb(rows_of([r.rk])[0]) == r.rk
    _same_engine(engine_params_from_row_nb(rows_of([r.ep])[0]), r.ep._replace(record=False))
    on = plan_sweep(market, {"spacing": [0.002]}, margin="cross", leverage=10,
                    risk_limits_symbol="ETHUSDT").runs[0].ep  # the tier arrays round-trip too
    assert len(on.tier_limit) == 10
    _same_engine(engine_params_from_row_nb(rows_of([on])[0]), on._replace(record=False))


def _same_engine(a, b) -> None:
    """EngineParams field by field (array fields by value)."""
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y, (x, y)


def test_parse_param_grid() -> None:
    g = parse_param_grid(["grid.spacing=0.001,0.002", "grid.n_buy=4:12:2", "mode=long"])
    assert g == {"grid.spacing": [0.001, 0.002], "grid.n_buy": [4, 6, 8, 10, 12],
                 "mode": ["long"]}
    with pytest.raises(ConfigError):
        parse_param_grid(["n_buy=4:1:0"])


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory):
    from gridlab.data.synth import write_synthetic_market
    from gridlab.store.core import Store

    path = tmp_path_factory.mktemp("bt") / "bt.duckdb"
    with Store.open(path) as s:
        write_synthetic_market(s, days=2, trades_per_day=20_000, intervals=("1",))
    return path


def test_store_round_trip_and_period_errors(store_path) -> None:
    from gridlab.store.core import Store
    from gridlab.store.market import trade_span
    from gridlab.store.runs import (
        get_run,
        list_runs,
        load_run_equity,
        load_run_fills,
        load_run_levels,
        load_run_recenters,
        load_sweep_results,
    )

    with Store.open(store_path) as s:
        with pytest.raises(DataError, match="the store has trades from 2024-01-01"):
            load_market(s, "BTCUSDT", "linear", "trades", "2023-01-01", "2023-02-01")
        first, last = trade_span(s, "BTCUSDT", "linear")
        assert fmt_ms(first).startswith("2024-01-01") and fmt_ms(last).startswith("2024-01-02")
        assert trade_span(s, "ETHUSDT", "linear") is None
        early = load_market(s, "BTCUSDT", "linear", "1", "2023-12-30", "2024-01-01T06:00")
        assert any("after the requested start" in w for w in early.warnings)
        data = load_market(s, "BTCUSDT", "linear", "1", "2024-01-01", "2024-01-02")
        assert data.n_events % 4 == 0 and data.n_events <= 4 * 1440 and data.bar_ms == 60_000
        assert data.n_events == 4 * 1440 or data.gaps  # missing bars are reported
        res = backtest(data, store=s, spacing=0.003)
        run = get_run(s, res.run_id[:12])
        assert run["metrics"]["n_fills"] == res.metrics["n_fills"]
        assert run["params"]["config"] == json.loads(res.params_json())
        assert len(load_run_fills(s, res.run_id)) == len(res.fills)
        assert len(load_run_equity(s, res.run_id)) == len(res.equity)
        assert len(res.recenters) == res.metrics["n_recenters"] + 1  # + the initial build
        assert res.recenters["reason"].iloc[0] == "initial"
        pd.testing.assert_frame_equal(load_run_recenters(s, res.run_id), res.recenters,
                                      check_dtype=False)
        pd.testing.assert_frame_equal(load_run_levels(s, res.run_id), res.levels,
                                      check_dtype=False)
        assert res.run_id in set(list_runs(s)["run_id"])
        table = sweep(data, {"spacing": [0.002, 0.004]}, store=s)
        stored = load_sweep_results(s, table.attrs["sweep_id"])
        assert stored["total_return"].tolist() == table["total_return"].tolist()
        # reproducible: the stored params replay to the same metrics
        again = backtest(data, run["params"]["config"])
        assert again.metrics["final_equity"] == res.metrics["final_equity"]


def test_cli_backtest_sweep_runs(store_path) -> None:
    from gridlab.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["backtest", "--db", str(store_path), "--source", "1",
                              "--latency-ms", "100", "--set", "grid.spacing=0.003"])
    assert out.exit_code == 0, out.output
    assert "run_id:" in out.output and "total_return" in out.output
    run_id = out.output.strip().splitlines()[-1].split()[1]
    out = runner.invoke(app, ["runs", "show", run_id, "--db", str(store_path)])
    assert out.exit_code == 0 and "latency 100 ms" in out.output
    out = runner.invoke(app, ["sweep", "--db", str(store_path), "--source", "1", "--no-progress",
                              "--param", "grid.spacing=0.002,0.004", "--param", "n_buy=3:5:1"])
    assert out.exit_code == 0, out.output
    assert "sweep_id:" in out.output and "(6 sets" in out.output


def test_recenters_and_levels_recorded(market: MarketData, monkeypatch) -> None:
    import gridlab.backtest.engine as engine
    from gridlab.research.plots import price_grid_figure

    res = backtest(market, spacing=0.002, capital=2000.0, **{"recenter.deviation.pct": 0.002})
    rc, lv = res.recenters, res.levels
    assert list(rc.columns) == ["ts", "reason", "price", "centre", "spacing", "lowest",
                                "highest", "n_slots"]
    assert list(lv.columns) == ["ts", "price", "side"]
    m = res.metrics
    assert len(rc) == m["n_recenters"] + 1 > 2 and rc["reason"].iloc[0] == "initial"
    for reason, n in rc["reason"].value_counts().items():
        assert m[f"rc_{reason}"] == n
    assert rc["ts"].is_monotonic_increasing and (rc["centre"] - rc["price"]).abs().max() <= 0.005
    for build in rc.itertuples():
        prices = lv.loc[lv["ts"] == build.ts, "price"]
        assert len(prices) == build.n_slots + 1  # contiguous grid: n slots, n + 1 levels
        assert prices.min() == build.lowest and prices.max() == build.highest
        sides = lv.loc[lv["ts"] == build.ts, "side"]
        assert (sides[prices < build.centre] == 1).all()
        assert (sides[prices > build.centre] == -1).all()
    fig = price_grid_figure(market_prices(market), lv, res.fills, rc)
    assert {"grid levels", "recenters"} <= {t.name for t in fig.data}
    # bounded: only the first builds are kept, with a warning; the metrics are unchanged
    monkeypatch.setattr(engine, "MAX_RECENTERS", 2)
    small = backtest(market, spacing=0.002, capital=2000.0, **{"recenter.deviation.pct": 0.002})
    assert len(small.recenters) == 2 and small.recenters.equals(rc.iloc[:2])
    assert set(small.levels["ts"]) == set(rc["ts"].iloc[:2])
    assert any(f"first 2 of {len(rc)}" in w for w in small.warnings)
    assert small.metrics == res.metrics
    assert backtest(market, spacing=0.002, record=False).recenters is None


def market_prices(market: MarketData):
    return pd.DataFrame({"ts": market.ts, "price": market.price})


def test_read_only_input_reuses_the_compiled_kernel(market: MarketData) -> None:
    """One array flavour reaches the kernels: read-only input (DuckDB's arrays, a memory map)
    is copied to writable arrays, so it does not cost a second compile of every kernel."""
    from gridlab.backtest.engine_nb import run_nb

    backtest(market, record=False)
    compiled = list(run_nb.signatures)
    frozen = []
    for a in (market.ts, market.price, market.size):
        v = a.view()
        v.flags.writeable = False
        frozen.append(v)
    md = MarketData.from_trades(*frozen, symbol="TESTUSDT", filters=FILTERS)
    assert all(a.flags.writeable for a in (md.ts, md.price, md.size))
    assert np.array_equal(md.price, market.price)
    backtest(md, record=False)
    assert list(run_nb.signatures) == compiled
