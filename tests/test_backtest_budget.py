"""Grid budget vs account equity: the budget sizes the grid and carries its own risk limits; the
account equity is where the reported equity starts; returns are reported on both."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from gridlab.backtest.data import MarketData
from gridlab.backtest.engine import backtest
from gridlab.backtest.sweep import sweep
from gridlab.config import config_from_dict
from gridlab.errors import ConfigError
from gridlab.strategy.enums import Filters
from tests.backtest_helpers import random_market

FILTERS = Filters(0.01, 0.01, 0.01, 0.0, 1.0)
BUDGET = 1000.0
ACCOUNT = 5000.0


@pytest.fixture(scope="module")
def market() -> MarketData:
    ts, price, size = random_market(11, 6_000, vol=8e-4, dt_max=30_000)
    return MarketData.from_trades(ts, price, size, symbol="TESTUSDT", filters=FILTERS)


def test_account_equity_is_validated_against_the_budget() -> None:
    assert config_from_dict({}).account_equity() == 1000.0  # default: the budget
    cfg = config_from_dict({"trading": {"capital": 800}, "backtest": {"account_equity": 900}})
    assert (cfg.grid_budget(), cfg.account_equity()) == (800.0, 900.0)
    with pytest.raises(ConfigError, match=r"backtest\.account_equity \(500\) must be >= the "
                                          r"grid budget trading\.capital \(1000\)"):
        config_from_dict({"backtest": {"account_equity": 500}})
    with pytest.raises(ConfigError, match=r"backtest\.account_equity: Input should be greater"):
        config_from_dict({"backtest": {"account_equity": 0}})
    pf = {"capital": 3000, "symbols": [{"symbol": "BTCUSDT", "allocation": 0.5}]}
    with pytest.raises(ConfigError, match=r"backtest\.account_equity .* portfolio\.capital"):
        config_from_dict({"portfolio": pf, "backtest": {"account_equity": 4000}})
    assert config_from_dict({"portfolio": pf}).account_equity() == 3000.0


def test_budget_sizes_the_grid_and_account_equity_starts_the_ledger(market) -> None:
    plain = backtest(market, profile=None, capital=BUDGET, spacing=0.002)
    big = backtest(market, profile=None, capital=BUDGET, spacing=0.002, account_equity=ACCOUNT)
    a, b = plain.metrics, big.metrics
    assert a["n_fills"] > 20
    # the same orders: sized from the budget, not from the account
    assert plain.fills[["ts", "side", "price", "qty", "fee"]].equals(
        big.fills[["ts", "side", "price", "qty", "fee"]])
    assert b["pnl"] == pytest.approx(a["pnl"], abs=1e-9)
    assert b["final_equity"] == pytest.approx(a["final_equity"] + ACCOUNT - BUDGET, abs=1e-9)
    assert big.equity["equity"].iloc[0] == pytest.approx(ACCOUNT, rel=1e-3)
    assert np.allclose(big.equity["equity"] - plain.equity["equity"], ACCOUNT - BUDGET)
    assert np.allclose(big.equity["cash"] - plain.equity["cash"], ACCOUNT - BUDGET)
    assert np.allclose(big.daily - plain.daily, ACCOUNT - BUDGET)
    # returns on both
    assert b["return_on_budget"] == pytest.approx(b["pnl"] / BUDGET)
    assert b["return_on_account"] == pytest.approx(b["pnl"] / ACCOUNT)
    assert b["total_return"] == pytest.approx(b["return_on_account"])
    assert a["return_on_budget"] == a["return_on_account"] == pytest.approx(a["total_return"])
    # drawdown is the account's: the same fall from a larger peak is a smaller fraction
    assert 0 < b["max_drawdown"] < a["max_drawdown"]
    # the run's params keep both values
    assert big.params["trading"]["capital"] == BUDGET
    assert big.params["backtest"]["account_equity"] == ACCOUNT
    assert plain.params["backtest"]["account_equity"] == BUDGET


def test_grid_risk_is_judged_on_the_budget(market) -> None:
    """The grid's kill switch and stops see budget + the grid's PnL, as live (live/ledger.py):
    a larger account does not dilute them."""
    kw = {"profile": None, "capital": BUDGET, "spacing": 0.002, "n_buy": 8, "n_sell": 8,
          "kill_switch_dd": 0.004, "mode": "long"}
    plain = backtest(market, **kw)
    big = backtest(market, account_equity=20 * BUDGET, **kw)
    assert plain.metrics["n_kill_switch"] == 1 and plain.metrics["stop"] == "KILL_SWITCH"
    assert big.metrics["n_kill_switch"] == 1
    assert big.metrics["stop"] == plain.metrics["stop"]
    assert big.fills["ts"].iloc[-1] == plain.fills["ts"].iloc[-1]
    sl = {**kw, "kill_switch_dd": 0.0, "stop_loss_equity_pct": 0.004}
    p2, b2 = backtest(market, **sl), backtest(market, account_equity=20 * BUDGET, **sl)
    assert p2.metrics["stop"] == b2.metrics["stop"] == "STOP_LOSS_EQUITY"
    assert len(p2.fills) == len(b2.fills)


def test_sweep_rows_equal_single_runs_with_an_account(market) -> None:
    table = sweep(market, {"spacing": [0.002, 0.004]}, profile=None, capital=BUDGET,
                  account_equity=ACCOUNT, progress=False)
    for row in table.to_dict("records"):
        one = backtest(market, profile=None, capital=BUDGET, account_equity=ACCOUNT,
                       spacing=row["spacing"], record=False).metrics
        for k in ("final_equity", "total_return", "max_drawdown", "sharpe",
                  "return_on_budget", "return_on_account"):
            assert row[k] == one[k] or (np.isnan(row[k]) and np.isnan(one[k])), k


def test_cli_and_stored_run_show_budget_and_account(tmp_path) -> None:
    from gridlab.cli import app
    from gridlab.data.synth import write_synthetic_market
    from gridlab.store.core import Store
    from gridlab.store.runs import get_run

    db = tmp_path / "bt.duckdb"
    with Store.open(db) as s:
        write_synthetic_market(s, days=1, trades_per_day=5_000, intervals=("1",))
    out = CliRunner().invoke(app, ["backtest", "--db", str(db), "--source", "1",
                                   "--set", "trading.capital=1000",
                                   "--set", "account_equity=4000"])
    assert out.exit_code == 0, out.output
    assert "grid budget 1,000.00 (trading.capital) in an account of 4,000.00" in out.output
    assert "return_on_budget" in out.output and "return_on_account" in out.output
    run_id = out.output.strip().splitlines()[-1].split()[1]
    with Store.open(db) as s:
        run = get_run(s, run_id)
    cfg = run["params"]["config"]
    assert cfg["trading"]["capital"] == 1000 and cfg["backtest"]["account_equity"] == 4000
    m = run["metrics"]
    assert m["return_on_budget"] == pytest.approx(4 * m["return_on_account"])
    bad = CliRunner().invoke(app, ["backtest", "--db", str(db), "--source", "1",
                                   "--set", "account_equity=10"])
    assert bad.exit_code != 0 and isinstance(bad.exception, ConfigError)
    assert "backtest.account_equity (10) must be >=" in str(bad.exception)
