"""Every `gridlab` command family: a usage mistake exits 2 with typer's short usage message, a
runtime failure exits non-zero with one clear message (what is wrong, what to do) — never a
traceback. Runs the real entry point (`gridlab.cli.main`) in process."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gridlab.cli import main


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gridlab.data.synth import write_synthetic_market
    from gridlab.store.core import Store

    path = tmp_path_factory.mktemp("clierr") / "tiny.duckdb"
    with Store.open(path) as store:
        write_synthetic_market(store, "BTCUSDT", "linear", days=1, seed=3, trades_per_day=3000)
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `gridlab ARGV`."""
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


USAGE = {
    "unknown command": (["backtst"], "No such command 'backtst'"),
    "data": (["data", "status", "--gap-minutes", "many"], "--gap-minutes"),
    "data gaps": (["data", "gaps"], "Missing option '--symbol'"),
    "ingest": (["ingest", "trades"], "Missing argument 'source'"),
    "ingest resample": (["ingest", "resample", "--symbl", "X"], "No such option: --symbl"),
    "synth": (["synth", "--days", "abc"], "--days"),
    "backtest": (["backtest", "--symbl", "X"], "No such option: --symbl"),
    "sweep": (["sweep"], "Missing option '--param'"),
    "runs": (["runs", "show"], "Missing argument 'run_id'"),
    "runs list": (["runs", "list", "--json", "--csv"], "choose one of --json and --csv"),
    "walkforward": (["walkforward", "--start", "2024-01-01"], "Missing option '--symbol'"),
    "optimize": (["optimize", "--trials", "many"], "--trials"),
    "report": (["report", "--symbol", "BTCUSDT", "--start", "2024-01-01"],
               "Missing option '--end'"),
    "grid": (["grid", "preview", "--price", "-5"], "--price"),
    "profiles": (["profiles", "show"], "Missing argument 'name'"),
    "promote": (["promote"], "Missing argument 'profile'"),
    "live": (["live", "--bogus"], "No such option: --bogus"),
    "fake-exchange": (["fake-exchange", "--port", "0"], "--port"),
    "fake-exchange source": (["fake-exchange", "--source", "trades"], "--source"),
    "fake-exchange margin": (["fake-exchange", "--margin", "both"], "--margin"),
    "demo": (["demo", "--days", "1"], "--days"),
}


@pytest.mark.parametrize("family", list(USAGE))
def test_usage_mistake_exits_2_with_a_short_message(family: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    argv, needle = USAGE[family]
    code, out, err = run(argv, capsys)
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    assert err.startswith("Usage: gridlab"), err
    assert "Try 'gridlab" in err and needle in err, err
    assert len(err.splitlines()) <= 8, err  # short: usage, hint, one error


def _failures(db: Path, tmp: Path) -> dict[str, tuple[list[str], str]]:
    cfg = tmp / "config.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"db_path": str(db)}}))
    missing = tmp / "missing.duckdb"
    span = ["--start", "2024-01-01", "--end", "2024-01-02"]
    return {
        "data": (["data", "status", "--db", missing], "does not exist"),
        "ingest": (["ingest", "trades", tmp / "none.csv.gz", "--db", tmp / "i.duckdb"],
                   "does not exist"),
        "synth": (["synth", "--days", "-1", "--db", tmp / "s.duckdb"], "days"),
        "backtest": (["backtest", "--db", db, "--symbol", "NOPEUSDT", "--no-save"],
                     "NOPEUSDT"),
        "sweep": (["sweep", "--db", db, "--symbol", "NOPEUSDT", "--param",
                   "grid.spacing=0.002,0.003", "--no-save", "--no-progress"], "NOPEUSDT"),
        "runs": (["runs", "show", "nope", "--db", db], "no backtest run or sweep 'nope'"),
        "walkforward": (["walkforward", "--db", missing, "--symbol", "BTCUSDT", *span,
                         "--param", "grid.spacing=0.002"], "does not exist"),
        "optimize": (["optimize", "--db", missing, "--symbol", "BTCUSDT", *span,
                      "--range", "grid.spacing=0.001:0.01"], "does not exist"),
        "report": (["report", "--db", missing, "--symbol", "BTCUSDT", *span,
                    "--out", tmp / "rep"], "does not exist"),
        "grid": (["grid", "preview", "--price", "100", "--profile", "Nope"],
                 "profile 'Nope' does not exist"),
        "grid symbol": (["grid", "preview", "--price", "100", "--symbol", "NOPEUSDT", "--db",
                         db], "NOPEUSDT linear is neither in the instruments table"),
        "profiles": (["profiles", "validate", tmp / "missing.yaml"], "does not exist"),
        "promote": (["promote", "Normal", "--from-run", "nope", "--config", cfg],
                    "no backtest run 'nope'"),
        "live": (["live", "--config", tmp / "missing.yaml"], "does not exist"),
        "fake-exchange": (["fake-exchange", "--start", "someday"], "someday"),
    }


FAILURES = ["data", "ingest", "synth", "backtest", "sweep", "runs", "walkforward", "optimize",
            "report", "grid", "grid symbol", "profiles", "promote", "live", "fake-exchange"]


@pytest.mark.parametrize("family", FAILURES)
def test_runtime_failure_exits_non_zero_with_one_message(
        family: str, tiny_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, needle = _failures(tiny_db, tmp_path)[family]
    code, out, err = run(argv, capsys)
    assert code != 0, (out, err)
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err  # one message (a progress bar may have started before it)
    assert needle in err, err
    assert "what to do: " in err, err  # every failure says what to do about it


def test_an_unexpected_error_is_one_line_unless_asked(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    import gridlab.strategy.classes as classes

    def boom(*_a: object, **_k: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(classes, "preview_grid", boom)
    code, _out, err = run(["grid", "preview", "--price", "100"], capsys)
    assert code == 1 and "Traceback" not in err
    assert "unexpected ZeroDivisionError: division by zero" in err
    assert "GRIDLAB_TRACEBACK=1" in err
    monkeypatch.setenv("GRIDLAB_TRACEBACK", "1")
    with pytest.raises(ZeroDivisionError):
        main(["grid", "preview", "--price", "100"])


def test_typer_exit_code_reaches_the_process(capsys: pytest.CaptureFixture[str]) -> None:
    """`raise typer.Exit(3)` in a command is the exit code (standalone mode keeps it)."""
    import typer

    from gridlab.cli import run_app

    app = typer.Typer()

    @app.command()
    def fail() -> None:
        """fail"""
        raise typer.Exit(3)

    with pytest.raises(SystemExit) as exc:
        run_app(app, [], "x")
    assert exc.value.code == 3
