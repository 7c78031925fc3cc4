"""What the CLI prints: UTC ISO times, percents, buy/sell, human metric names, full parameter
tables, --json/--csv, `runs show SWEEP_ID`, the short-window warning, the progress helper."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from gridlab.backtest.metrics import MIN_ANNUALIZED_DAYS, annualization_warning
from gridlab.cli import main
from gridlab.fmt import emit_records, metric_lines, params_lines, pct, side_name, utc_iso
from gridlab.progress import progress_bar


@pytest.fixture(scope="module")
def store_with_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gridlab.data.synth import write_synthetic_market
    from gridlab.store.core import Store

    path = tmp_path_factory.mktemp("cliout") / "runs.duckdb"
    with Store.open(path) as store:
        write_synthetic_market(store, "BTCUSDT", "linear", days=1, seed=5, trades_per_day=3000)
    return path


def run(argv: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_formats() -> None:
    assert utc_iso(1_704_067_200_000) == "2024-01-01T00:00:00Z"
    assert utc_iso(1_704_067_200_123) == "2024-01-01T00:00:00.123Z"
    assert utc_iso(None) == "-"
    assert pct(0.1234) == "12.34%" and pct(float("nan")) == "n/a" and pct(-0.005, 1) == "-0.5%"
    assert [side_name(x) for x in (1, -1, "Buy", 0)] == ["buy", "sell", "buy", "-"]


def test_metric_lines_name_and_explain_the_obscure_ones() -> None:
    lines = metric_lines({"total_return": 0.0123, "n_blocked": 7, "rc_initial": 1,
                          "rc_dominance": 3, "rc_time": 0, "sharpe": float("nan")})
    text = "\n".join(lines)
    assert "Total return" in text and "1.23%" in text
    assert "Blocked order requests" in text and "risk checks" in text
    assert "Grid builds by reason" in text and "initial 1, dominance 3" in text
    assert "rc_time" not in text  # a zero count is not listed
    assert "n/a" in text  # NaN Sharpe
    quiet = "\n".join(metric_lines({"n_blocked": 7}, explain=False))
    assert "risk checks" not in quiet


def test_params_table_shows_every_row() -> None:
    params = {"grid": {f"p{i}": i for i in range(100)}, "risk": {"cap": 0.5}}
    lines = params_lines(params)
    assert len(lines) == 101 and "..." not in "".join(lines)
    assert lines[-1].split() == ["risk.cap", "0.5"]


def test_emit_records_json_and_csv_keep_raw_values(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"ts": 1_704_067_200_000, "side": 1, "total_return": 0.25, "latency_ms": 100}]
    emit_records(rows, "json")
    got = json.loads(capsys.readouterr().out)
    assert got == [{"ts": "2024-01-01T00:00:00Z", "side": "buy", "total_return": 0.25,
                    "latency_ms": 100}]
    emit_records(rows, "csv")
    got = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert got[0]["ts"] == "2024-01-01T00:00:00Z" and got[0]["total_return"] == "0.25"
    emit_records(rows, "table")
    table = capsys.readouterr().out
    assert "25.00%" in table and "2024-01-01T00:00:00Z" in table and "buy" in table


def test_annualization_warning() -> None:
    assert annualization_warning(MIN_ANNUALIZED_DAYS) is None
    assert annualization_warning(float("nan")) is None
    msg = annualization_warning(3.0)
    assert msg is not None and "3.0 days" in msg and "sharpe" in msg


def test_backtest_result_carries_the_short_window_warning(store_with_runs: Path,
                                                          tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    fills = tmp_path / "fills.csv"
    code, out, err = run(["backtest", "--db", store_with_runs, "--source", "1",
                          "--fills-csv", fills], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(fills.open()))
    assert rows and {r["side"] for r in rows} <= {"buy", "sell"}
    assert all(r["time"].endswith("Z") for r in rows)
    assert "annualized metrics" in err and "1.0 days" in err
    assert "Total return" in out and "total_return" in out
    run_id = out.strip().splitlines()[-1].split()[1]
    code, out, err = run(["runs", "show", run_id, "--db", store_with_runs], capsys)
    assert code == 0, err
    assert "warning: annualized metrics" in out
    assert "  grid.spacing" in out and "params: {" not in out  # a table, not one JSON line
    assert "data: BTCUSDT linear 1 2024-01-01T00:" in out and ".999Z (" in out
    code, out, _ = run(["runs", "show", run_id, "--db", store_with_runs, "--json"], capsys)
    got = json.loads(out)
    assert got["run_id"] == run_id and got["start"].startswith("2024-01-01T00:")
    assert any("annualized" in w for w in got["warnings"])
    code, out, _ = run(["runs", "list", "--db", store_with_runs, "--json"], capsys)
    rows = json.loads(out)
    assert rows[0]["run_id"] == run_id and rows[0]["start"].endswith("Z")
    assert isinstance(rows[0]["total_return"], float)


def test_runs_show_a_sweep_ranked_by_a_metric(store_with_runs: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["sweep", "--db", store_with_runs, "--source", "1", "--no-progress",
                          "--param", "grid.spacing=0.002:0.007:0.001",
                          "--param", "grid.n_buy=3,5"], capsys)
    assert code == 0, err
    sweep_id = out.strip().splitlines()[-1].split()[1]
    code, out, err = run(["runs", "show", sweep_id[:12], "--db", store_with_runs,
                          "--sort", "max_drawdown", "--ascending", "--top", "3", "--csv"],
                         capsys)
    assert code == 0, err
    top = list(csv.DictReader(io.StringIO(out)))
    assert len(top) == 3
    dd = [float(r["max_drawdown"]) for r in top]
    assert dd == sorted(dd)
    code, out, err = run(["runs", "show", sweep_id, "--db", store_with_runs, "--sort",
                          "max_drawdown", "--ascending", "--top", "3", "--json"], capsys)
    assert [r["set_id"] for r in json.loads(out)] == [int(r["set_id"]) for r in top]
    code, out, err = run(["runs", "show", sweep_id, "--db", store_with_runs], capsys)
    assert code == 0, err
    assert "parameter ranges:" in out
    assert "grid.spacing: 6 values, 0.002 .. 0.007" in out and "grid.n_buy: 3, 5" in out
    assert "top 10 of 12 sets by Total return (largest first)" in out
    code, _, err = run(["runs", "show", sweep_id, "--db", store_with_runs, "--sort", "nope"],
                       capsys)
    assert code == 2 and "unknown metric 'nope'" in err and "max_drawdown" in err


def test_progress_bar_counts_and_can_be_silent(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar(3, "job", unit="step") as bar:
        bar.update(1)
        bar.update(2)
    assert bar.enabled and bar.n == 3
    err = capsys.readouterr().err
    assert "job" in err and "3/3" in err
    with progress_bar(3, "quiet", enabled=False) as bar:
        bar.update(3)
        bar.set_postfix_str("x")
    assert not bar.enabled and bar.n == 3 and capsys.readouterr().err == ""
    with pytest.raises(RuntimeError), progress_bar(2, "boom") as bar:
        raise RuntimeError("closed on error")
    assert math.isfinite(bar.n)


def test_data_status_for_scripts(store_with_runs: Path, capsys: pytest.CaptureFixture[str]
                                 ) -> None:
    code, out, err = run(["data", "status", "--db", store_with_runs, "--json"], capsys)
    assert code == 0, err
    rows = {r["kind"]: r for r in json.loads(out)}
    assert {"klines", "trades", "funding"} <= set(rows)
    first = rows["klines"]["first"]
    assert first.startswith("2024-01-01T00:0") and first.endswith(":00Z")
    assert all(a.endswith("Z") and b.endswith("Z") for a, b in rows["klines"]["gap_ranges"])
    code, out, err = run(["data", "status", "--db", store_with_runs, "--csv"], capsys)
    assert code == 0 and out.splitlines()[0].startswith("kind,symbol,category")


def test_grid_preview_takes_the_filters_of_a_stored_instrument(
        store_with_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["grid", "preview", "--price", "30000", "--symbol", "BTCUSDT",
                          "--db", store_with_runs, "--min-notional", "100000"], capsys)
    assert code == 0, err
    assert "BTCUSDT linear filters from the store" in out.splitlines()[0]
    assert "DROPPED" not in out  # the store's min notional, not --min-notional, applies
