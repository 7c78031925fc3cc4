"""Portfolio runs are first class: stored in DuckDB like single runs (round trip), run from
the CLI (`gridlab backtest --portfolio config.yaml`), listed and shown by `gridlab runs`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gridlab.backtest import MarketData
from gridlab.backtest.portfolio import backtest_portfolio
from gridlab.cli import main
from gridlab.store.core import Store
from gridlab.store.portfolio_runs import (
    get_portfolio_run,
    list_portfolio_runs,
    load_portfolio_account_equity,
    load_portfolio_equity,
    load_portfolio_fills,
    load_portfolio_symbols,
)
from gridlab.strategy.enums import Filters

T0 = 1_704_067_200_000
FILTERS = Filters(0.01, 0.01, 0.01, 0.0, 1.0)
CONFIG = {"portfolio": {"capital": 10_000.0, "max_total_exposure_pct": 0.5, "symbols": [
    {"symbol": "AAAUSDT", "allocation": 0.6}, {"symbol": "BBBUSDT", "allocation": 0.4}]}}


def _trades(sym: str, seed: int, n: int = 4_000, p0: float = 100.0) -> MarketData:
    rng = np.random.default_rng(seed)
    ts = T0 + np.cumsum(rng.integers(0, 40_000, n)).astype(np.int64)
    price = np.round(p0 * np.exp(np.cumsum(rng.normal(0, 1.5e-3, n))) / 0.01) * 0.01
    return MarketData.from_trades(ts, price, np.round(rng.exponential(0.5, n), 2), symbol=sym,
                                  filters=FILTERS)


def run(argv: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_stored_portfolio_run_round_trips(tmp_path: Path) -> None:
    datas = [_trades("AAAUSDT", 21), _trades("BBBUSDT", 22, p0=30.0)]
    with Store.open(tmp_path / "pf.duckdb") as store:
        res = backtest_portfolio(datas, CONFIG, store=store)
        assert res.run_id
        got = get_portfolio_run(store, res.run_id[:14])
        assert got["run_id"] == res.run_id
        assert got["symbols"] == "AAAUSDT/linear,BBBUSDT/linear"
        assert got["metrics"] == json.loads(json.dumps(res.total))
        assert got["params"]["config"] == json.loads(json.dumps(res.params))
        assert got["params"]["data"]["AAAUSDT"]["n_events"] == datas[0].n_events
        assert got["kernel_hash"] and got["gridlab_version"]
        assert got["n_events"] == sum(d.n_events for d in datas)
        assert got["start_ms"] == min(d.start_ms for d in datas)
        syms = load_portfolio_symbols(store, res.run_id)
        assert list(syms["symbol"]) == ["AAAUSDT", "BBBUSDT"]
        n_fills = 0
        for sym in ("AAAUSDT", "BBBUSDT"):
            row = syms[syms["symbol"] == sym].iloc[0]
            assert row["metrics"]["final_equity"] == res.metrics.loc[sym, "final_equity"]
            want = res.fills[sym].reset_index(drop=True)
            assert len(want) > 10
            n_fills += len(want)
            f = load_portfolio_fills(store, res.run_id, sym).drop(columns=["symbol", "seq"])
            pd.testing.assert_frame_equal(f[list(want.columns)], want, check_dtype=False)
            eq = load_portfolio_equity(store, res.run_id, sym).drop(columns=["symbol"])
            want_eq = res.equity[sym].drop_duplicates("ts", keep="last").reset_index(drop=True)
            pd.testing.assert_frame_equal(eq[list(want_eq.columns)], want_eq,
                                          check_dtype=False)
        assert len(load_portfolio_fills(store, res.run_id)) == n_fills
        acct = load_portfolio_account_equity(store, res.run_id)
        pd.testing.assert_frame_equal(acct, res.total_equity.reset_index(drop=True),
                                      check_dtype=False)
        assert len(acct) > 10
        listed = list_portfolio_runs(store, "BBBUSDT")
        assert list(listed["run_id"]) == [res.run_id]
        assert list_portfolio_runs(store, "CCCUSDT").empty


@pytest.fixture(scope="module")
def market_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gridlab.data.synth import write_synthetic_market

    path = tmp_path_factory.mktemp("pfcli") / "pf.duckdb"
    with Store.open(path) as store:
        write_synthetic_market(store, "BTCUSDT", "linear", days=1, seed=5, trades_per_day=3000)
        write_synthetic_market(store, "ETHUSDT", "linear", days=1, seed=6, trades_per_day=3000,
                               base_price=2000.0, tick_size=0.01, qty_step=0.01)
    return path


def _write(tmp_path: Path, portfolio: dict, name: str = "pf.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump({"profile": None, "portfolio": portfolio}))
    return p


PF = {"capital": 5000, "kill_switch_dd": 0.2, "symbols": [
    {"symbol": "BTCUSDT", "allocation": 0.5}, {"symbol": "ETHUSDT", "allocation": 0.5}]}


def test_cli_runs_a_portfolio_and_stores_it(market_db: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _write(tmp_path, PF)
    code, out, err = run(["backtest", "--portfolio", cfg, "--db", market_db, "--source", "1",
                          "--set", "grid.spacing=0.002"], capsys)
    assert code == 0, err
    assert "BTCUSDT" in out and "ETHUSDT" in out and "account (2 symbols):" in out
    assert "Total return" in out and "%" in out
    run_id = out.strip().splitlines()[-1].split()[1]
    with Store.open(market_db, read_only=True) as store:
        got = get_portfolio_run(store, run_id)
        assert got["symbols"] == "BTCUSDT/linear,ETHUSDT/linear" and got["source"] == "1"
        syms = got["params"]["config"]["symbols"]
        assert syms["BTCUSDT"]["grid"]["spacing"] == 0.002
        assert len(load_portfolio_fills(store, run_id)) == got["metrics"]["n_fills"] > 0
    code, out, err = run(["runs", "list", "--db", market_db, "--json"], capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert rows[0]["run_id"] == run_id and rows[0]["kind"] == "portfolio"
    assert rows[0]["symbol"] == "BTCUSDT/linear,ETHUSDT/linear"
    code, out, err = run(["runs", "show", run_id, "--db", market_db, "--fills", "3"], capsys)
    assert code == 0, err
    assert f"portfolio run_id: {run_id}" in out and "account metrics" in out
    assert "kill_switch_dd" in out and "fills (first 3 of" in out
    assert "2024-01-01T23:59:59.999Z" in out  # the exclusive end shown as the last millisecond
    code, out, err = run(["runs", "show", run_id, "--db", market_db, "--json"], capsys)
    got = json.loads(out)
    assert got["kind"] == "portfolio" and set(got["symbol_metrics"]) == {"BTCUSDT", "ETHUSDT"}


@pytest.mark.parametrize(("portfolio", "field"), [
    ({**PF, "symbols": [{"symbol": "BTCUSDT", "allocation": 1.5}]},
     "portfolio.symbols.0.allocation"),
    ({**PF, "kill_switch_dd": 2}, "portfolio.kill_switch_dd"),
    ({**PF, "capitl": 5000}, "portfolio.capitl"),
    ({k: v for k, v in PF.items() if k != "capital"}, "portfolio.capital"),
])
def test_a_bad_portfolio_config_exits_2_naming_the_field(
        market_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        portfolio: dict, field: str) -> None:
    cfg = _write(tmp_path, portfolio)
    code, _, err = run(["backtest", "--portfolio", cfg, "--db", market_db], capsys)
    assert code == 2
    assert field in err and "Traceback" not in err
    with Store.open(market_db, read_only=True) as store:  # a refused run stores nothing
        assert all(r != cfg.name for r in list_portfolio_runs(store, limit=1000)["source"])


def test_a_config_without_portfolio_or_with_config_is_a_usage_error(
        market_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("profile: null\n")
    code, _, err = run(["backtest", "--portfolio", plain, "--db", market_db], capsys)
    assert code == 2 and "portfolio" in err and "no portfolio section" in err
    code, _, err = run(["backtest", "--portfolio", _write(tmp_path, PF), "--config", plain,
                        "--db", market_db], capsys)
    assert code == 2 and "--config does not go with --portfolio" in err


def test_a_missing_portfolio_file_names_the_option(
        market_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["backtest", "--portfolio", tmp_path / "nope.yaml", "--db", market_db],
                       capsys)
    assert code == 2 and "nope.yaml does not exist" in err
    assert "--portfolio" in err and "--config" not in err
