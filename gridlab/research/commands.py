"""CLI sub-commands of gridlab.research: `report`, `walkforward`, `optimize`."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]

_DB_HELP = "DuckDB store (default: data.db_path of the config)"
_SOURCE_OPT = typer.Option(None, "--source", help="trades or a kline interval: 1, 5, 60... "
                           "(default: backtest.source of the config)")
_PROGRESS_OPT = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr")


def _num(v: object) -> object:
    """NaN -> None for JSON."""
    return None if isinstance(v, float) and v != v else v


def _db_and_config(db: Path | None, config: Path | None) -> Path:
    """--db, else the config's data.db_path, else the default store path."""
    if db is not None:
        return db
    from gridlab.config import GridlabConfig, load_config

    return (load_config(config) if config else GridlabConfig()).data.db_path


def register(app: typer.Typer) -> None:
    """Add this area's commands to the gridlab CLI."""

    @app.command("report")
    def report_cmd(
        symbol: str | None = typer.Option(None, help="symbol, e.g. BTCUSDT"),
        start: str | None = typer.Option(None, help="start (ISO date/time UTC or epoch ms)"),
        end: str | None = typer.Option(None, help="end, exclusive"),
        profile: str = typer.Option("Normal", help="strategy profile"),
        params: str = typer.Option("", help="parameter-set JSON or .json file"),
        fill_model: str = typer.Option("", help="fill model: cross, touch or queue"),
        category: str = typer.Option("linear", help="linear or spot"),
        db: Path | None = typer.Option(None, help=_DB_HELP),
        config: Path | None = typer.Option(None, help="config.yaml (default: built-in)"),
        out: Path = typer.Option(Path("reports"), help="output folder"),
        source: str | None = _SOURCE_OPT,
        progress: bool = _PROGRESS_OPT,
        live: str | None = typer.Option(
            None, "--live", metavar="RUNNER",
            help="live audit report of this runner instead (notebooks/06_live_audit.ipynb): "
                 "its newest stored audit, else one run now"),
        mirror: Path | None = typer.Option(
            None, help="--live: the runner's Parquet mirror (default <live.data_dir>/RUNNER)"),
        latency_ms: int = typer.Option(0, min=0, help="--live: latency of an audit run now"),
    ) -> None:
        """Backtest report: runs notebooks/03_report.ipynb, writes HTML (offline) + .ipynb.

        With --live RUNNER: the live audit report of that runner (its fills against the
        backtest of its tape), from notebooks/06_live_audit.ipynb.
        """
        if live:
            from gridlab.research.live_report import run_live_report

            html = run_live_report(live, db_path=_db_and_config(db, config), config=config,
                                   mirror=mirror, fill_model=fill_model or "cross",
                                   latency_ms=latency_ms, out_dir=out, progress=progress)
            typer.echo(f"report: {html}")
            typer.echo(f"notebook: {html.with_suffix('.ipynb')}")
            return
        missing = [f"--{n}" for n, v in (("symbol", symbol), ("start", start), ("end", end))
                   if not v]
        if missing:
            raise typer.BadParameter(
                f"Missing option '{missing[0]}': a backtest report needs --symbol, --start and "
                "--end (or --live RUNNER for a live audit report)")
        assert symbol and start and end
        from gridlab.research.report import run_report

        html = run_report(symbol, start, end, profile=profile or None, params=params or None,
                          fill_model=fill_model or None, db_path=_db_and_config(db, config),
                          category=category, source=source, config=config, out_dir=out,
                          progress=progress)
        typer.echo(f"report: {html}")
        typer.echo(f"notebook: {html.with_suffix('.ipynb')}")

    @app.command("walkforward")
    def walkforward_cmd(
        symbol: str = typer.Option(..., help="symbol, e.g. BTCUSDT"),
        start: str = typer.Option(..., help="start (ISO date/time UTC or epoch ms)"),
        end: str = typer.Option(..., help="end, exclusive"),
        param: list[str] = typer.Option(
            ..., help="swept parameter: path=v1,v2 or path=start:stop:step; repeat"),
        train_days: float = typer.Option(3.0, help="train window, days"),
        test_days: float = typer.Option(1.0, help="test window, days"),
        step_days: float = typer.Option(0.0, help="step between folds, days (0 = test_days)"),
        anchored: bool = typer.Option(False, help="train windows all start at --start"),
        objective: str = typer.Option("total_return:max", help="metric[:max|min]"),
        min_trades: int = typer.Option(0, help="a set needs this many round trips to be chosen"),
        profile: str = typer.Option("Normal", help="strategy profile"),
        fill_model: str = typer.Option("", help="fill model: cross, touch or queue"),
        category: str = typer.Option("linear", help="linear or spot"),
        db: Path | None = typer.Option(None, help=_DB_HELP),
        config: Path | None = typer.Option(None, help="config.yaml (default: built-in)"),
        csv: Path = typer.Option(None, help="write the per-fold table to this CSV"),
        source: str | None = _SOURCE_OPT,
        progress: bool = _PROGRESS_OPT,
        as_json: bool = typer.Option(False, "--json",
                                     help="print the folds and the summary as JSON"),
    ) -> None:
        """Walk-forward validation: best set per train window, scored on the next test window."""
        import json

        from gridlab.fmt import emit_records, format_value
        from gridlab.research.workflow import parse_grid, parse_objective, run_walkforward

        res = run_walkforward(_db_and_config(db, config), symbol, start, end,
                              grid=parse_grid(param),
                              objective=parse_objective(objective, min_trades),
                              train_days=train_days, test_days=test_days,
                              step_days=step_days or None, anchored=anchored,
                              category=category, profile=profile or None,
                              fill_model=fill_model or None, source=source, config=config,
                              progress=progress)
        summary = res.summary()
        if as_json:
            typer.echo(json.dumps({"summary": {k: _num(v) for k, v in summary.items()},
                                   "folds": json.loads(res.folds.to_json(orient="records"))},
                                  indent=1))
        else:
            emit_records(res.folds, "table", empty="no folds")
            for k, v in summary.items():
                typer.echo(f"{k}: {format_value(k, v)}")
        if csv:
            res.folds.to_csv(csv, index=False)
            typer.echo(f"folds: {csv}")
        typer.echo(f"walkforward_id: {res.folds.attrs.get('walkforward_id', '(not saved)')}")

    @app.command("optimize")
    def optimize_cmd(
        symbol: str = typer.Option(..., help="symbol, e.g. BTCUSDT"),
        start: str = typer.Option(..., help="start (ISO date/time UTC or epoch ms)"),
        end: str = typer.Option(..., help="end, exclusive"),
        range_: list[str] = typer.Option(..., "--range",
                                         help="search range: path=low:high[:log]; repeat"),
        objective: list[str] = typer.Option(
            ["total_return:max"], help="metric[:max|min]; give two for a Pareto search"),
        min_trades: int = typer.Option(0, help="sets with fewer round trips are infeasible"),
        trials: int = typer.Option(50, help="number of trials"),
        seed: int = typer.Option(0, help="sampler seed"),
        profile: str = typer.Option("Normal", help="strategy profile"),
        fill_model: str = typer.Option("", help="fill model: cross, touch or queue"),
        category: str = typer.Option("linear", help="linear or spot"),
        db: Path | None = typer.Option(None, help=_DB_HELP),
        config: Path | None = typer.Option(None, help="config.yaml (default: built-in)"),
        csv: Path = typer.Option(None, help="write all trials to this CSV"),
        source: str | None = _SOURCE_OPT,
    ) -> None:
        """Optuna search: TPE for one objective, NSGA-II (Pareto front) for two."""
        from gridlab.fmt import emit_records, params_lines
        from gridlab.research.workflow import parse_objective, parse_space, run_optimize

        space = parse_space(range_)
        res = run_optimize(_db_and_config(db, config), symbol, start, end, space=space,
                           objectives=[parse_objective(o, min_trades) for o in objective],
                           n_trials=trials, seed=seed, category=category,
                           profile=profile or None, fill_model=fill_model or None,
                           source=source, config=config)
        cols = ["trial", *space, *(o.metric for o in res.objectives), "feasible"]
        if res.pareto is not None:
            typer.echo("Pareto front:")
            emit_records(res.pareto[cols], "table")
        else:
            typer.echo("best:")
            for line in params_lines(res.best_params or {}):
                typer.echo(line)
        if csv:
            res.trials.to_csv(csv, index=False)
            typer.echo(f"trials: {csv}")
        typer.echo(f"study_id: {res.trials.attrs.get('study_id', '(not saved)')}")
