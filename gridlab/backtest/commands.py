"""CLI sub-commands of gridlab.backtest: `backtest`, `sweep`, `runs list|show`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gridlab.fmt import CSV_OPTION, JSON_OPTION

__all__ = ["register"]

_DB_HELP = "DuckDB store (default: data.db_path of the config)"


def _setup(config: Path | None, db: Path | None, symbol: str | None, category: str | None,
           source: str | None, sets: list[str]) -> tuple[Any, Path, str, str, str, dict]:
    from gridlab.backtest.sweep import parse_param_grid
    from gridlab.config import GridlabConfig, load_config

    cfg = load_config(config) if config else GridlabConfig()
    overrides = {k: v[0] for k, v in parse_param_grid(sets).items()}
    return (cfg, db or cfg.data.db_path, symbol or cfg.trading.symbol,
            category or cfg.trading.category, source or cfg.backtest.source, overrides)


def _open(db: Path, save: bool) -> Any:
    from gridlab.store.core import Store

    return Store.open(db, read_only=not save, wait_s=5.0)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the gridlab CLI."""

    @app.command("backtest")
    def backtest_cmd(
        config: Path | None = typer.Option(None, help="config.yaml (default: built-in defaults)"),
        profile: str | None = typer.Option(None, help="profile name (default: the config's)"),
        symbol: str | None = typer.Option(None, help="symbol (default: trading.symbol)"),
        category: str | None = typer.Option(None, help="linear | spot (default: config)"),
        source: str | None = typer.Option(None, help="trades or a kline interval: 1, 5, 60..."),
        start: str | None = typer.Option(None, help="YYYY-MM-DD[THH:MM] UTC or epoch ms"),
        end: str | None = typer.Option(None, help="exclusive end, same formats"),
        fill_model: str | None = typer.Option(None, help="cross | touch | queue"),
        latency_ms: int | None = typer.Option(None, help="order / cancel latency in ms"),
        db: Path | None = typer.Option(None, help=_DB_HELP),
        save: bool = typer.Option(True, "--save/--no-save", help="store the run"),
        set_: list[str] = typer.Option([], "--set", help="override, e.g. grid.spacing=0.003"),
        fills_csv: Path | None = typer.Option(None, help="also write the fills to this CSV"),
        explain: bool = typer.Option(True, "--explain/--no-explain",
                                     help="a short explanation after the obscure metrics"),
    ) -> None:
        """Backtest one parameter set; prints the metrics and the run_id."""
        from gridlab.backtest.data import load_market
        from gridlab.backtest.engine import backtest

        cfg, dbp, sym, cat, src, overrides = _setup(config, db, symbol, category, source, set_)
        if fill_model:
            overrides["backtest.fill_model"] = fill_model
        if latency_ms is not None:
            overrides["backtest.latency_ms"] = latency_ms
        overrides["backtest.source"] = src
        overrides["trading.category"] = cat
        with _open(dbp, save) as store:
            data = load_market(store, sym, cat, src, start, end,
                               max_gap_ms=cfg.backtest.max_gap_ms)
            # metrics only (no fill/equity tables) when nothing keeps them: faster
            res = backtest(data, cfg, profile, store=store if save else None,
                           record=save or fills_csv is not None, **overrides)
        from gridlab.fmt import metric_lines

        typer.echo(data.describe())
        for w in res.warnings:
            typer.echo(f"warning: {w}", err=True)
        for line in metric_lines(res.metrics, explain=explain):
            typer.echo(line)
        if fills_csv is not None and res.fills is not None:
            from gridlab.fmt import side_name, utc_iso

            out = res.fills.copy()
            if "side" in out:
                out["side"] = [side_name(v) for v in out["side"]]
            if "ts" in out:
                out.insert(1, "time", [utc_iso(v) for v in out["ts"]])
            out.to_csv(fills_csv, index=False)
            typer.echo(f"fills: {fills_csv}")
        typer.echo(f"run_id: {res.run_id or '(not saved)'}  ({res.elapsed_s:.2f} s)")

    @app.command("sweep")
    def sweep_cmd(
        param: list[str] = typer.Option(..., "--param",
                                        help="path=v1,v2 or path=start:stop:step (repeat)"),
        config: Path | None = typer.Option(None, help="config.yaml"),
        profile: str | None = typer.Option(None, help="profile name (default: the config's)"),
        symbol: str | None = typer.Option(None, help="symbol (default: trading.symbol)"),
        category: str | None = typer.Option(None, help="linear | spot"),
        source: str | None = typer.Option(None, help="trades or a kline interval"),
        start: str | None = typer.Option(None, help="start (UTC)"),
        end: str | None = typer.Option(None, help="exclusive end (UTC)"),
        fill_model: str | None = typer.Option(None, help="cross | touch | queue"),
        latency_ms: int | None = typer.Option(None, help="order / cancel latency in ms"),
        db: Path | None = typer.Option(None, help=_DB_HELP),
        save: bool = typer.Option(True, "--save/--no-save", help="store the sweep"),
        set_: list[str] = typer.Option([], "--set", help="fixed override for every set"),
        sort: str = typer.Option("total_return", help="metric to rank by (descending)"),
        top: int = typer.Option(10, help="rows to print"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar"),
        csv: Path | None = typer.Option(None, help="write the whole table to this CSV"),
        as_json: bool = typer.Option(False, "--json", help="print the top rows as JSON"),
    ) -> None:
        """Backtest every combination of the --param values; prints the top rows and sweep_id."""
        from gridlab.backtest.data import load_market
        from gridlab.backtest.sweep import parse_param_grid, sweep
        from gridlab.errors import ConfigError

        cfg, dbp, sym, cat, src, fixed = _setup(config, db, symbol, category, source, set_)
        grid = parse_param_grid(param)
        if fill_model:
            fixed["backtest.fill_model"] = fill_model
        if latency_ms is not None:
            fixed["backtest.latency_ms"] = latency_ms
        fixed["backtest.source"] = src
        fixed["trading.category"] = cat
        with _open(dbp, save) as store:
            data = load_market(store, sym, cat, src, start, end,
                               max_gap_ms=cfg.backtest.max_gap_ms)
            table = sweep(data, grid, cfg, profile, progress=progress,
                          store=store if save else None, **fixed)
        if sort not in table:
            raise ConfigError(f"unknown metric {sort!r}", "choose a column of the sweep table")
        from gridlab.backtest.metrics import rank_sets
        from gridlab.fmt import emit_records

        typer.echo(data.describe(), err=as_json)
        cols = ["set_id", *grid, "total_return", "sharpe", "max_drawdown", "n_round_trips",
                "fees"]
        if sort not in cols:
            cols.append(sort)
        _short_window_warning(table)
        if "liquidated" not in cols:
            cols.append("liquidated")
        emit_records(rank_sets(table, sort).head(top)[cols],
                     "json" if as_json else "table")
        if csv is not None:
            table.to_csv(csv, index=False)
            typer.echo(f"table: {csv}")
        typer.echo(f"sweep_id: {table.attrs.get('sweep_id', '(not saved)')}  "
                   f"({len(table)} sets, {table.attrs['elapsed_s']:.2f} s)", err=as_json)

    runs = typer.Typer(no_args_is_help=True, help="Stored backtest runs and sweeps.")
    app.add_typer(runs, name="runs")

    @runs.command("list")
    def runs_list(db: Path | None = typer.Option(None, help=_DB_HELP),
                  config: Path | None = typer.Option(None, help="config.yaml"),
                  symbol: str | None = typer.Option(None, help="only this symbol"),
                  limit: int = typer.Option(20, min=1, help="rows"),
                  sweeps: bool = typer.Option(False, "--sweeps", help="list sweeps instead"),
                  as_json: bool = JSON_OPTION, as_csv: bool = CSV_OPTION) -> None:
        """The newest runs (or sweeps) in the store."""
        from gridlab.fmt import emit_records, output_format
        from gridlab.store.runs import list_runs, list_sweeps

        fmt = output_format(as_json, as_csv)
        _cfg, dbp, *_ = _setup(config, db, None, None, None, [])
        with _open(dbp, False) as store:
            df = list_sweeps(store, limit) if sweeps else list_runs(store, symbol, limit)
        if "end_ms" in df:  # stored as an exclusive end: show the last covered millisecond
            df["end_ms"] = df["end_ms"] - 1
        emit_records(df, fmt, empty=("no sweeps stored: run `gridlab sweep`" if sweeps else
                                     "no runs stored: run `gridlab backtest`"))

    @runs.command("show")
    def runs_show(run_id: str = typer.Argument(..., help="run or sweep id (or a unique prefix)"),
                  db: Path | None = typer.Option(None, help=_DB_HELP),
                  config: Path | None = typer.Option(None, help="config.yaml"),
                  fills: int = typer.Option(0, min=0, help="also print the first N fills"),
                  sort: str = typer.Option("total_return",
                                           help="sweeps: metric to rank the sets by"),
                  ascending: bool = typer.Option(False, "--ascending",
                                                 help="sweeps: smallest first (e.g. "
                                                      "max_drawdown)"),
                  top: int = typer.Option(10, min=1, help="sweeps: sets to print"),
                  explain: bool = typer.Option(True, "--explain/--no-explain",
                                               help="explain the obscure metrics"),
                  as_json: bool = JSON_OPTION, as_csv: bool = CSV_OPTION) -> None:
        """One stored run (data, code, parameters, metrics) or sweep (ranked sets, ranges)."""
        from gridlab.errors import StoreError
        from gridlab.fmt import output_format
        from gridlab.show import show_run, show_sweep
        from gridlab.store.runs import get_run

        fmt = output_format(as_json, as_csv)
        _cfg, dbp, *_ = _setup(config, db, None, None, None, [])
        with _open(dbp, False) as store:
            try:
                run = get_run(store, run_id)
            except StoreError as exc:
                if "no backtest run" not in exc.message:
                    raise
                show_sweep(store, run_id, sort=sort, ascending=ascending, top=top, fmt=fmt,
                           explain=explain)
                return
            show_run(store, run, fills=fills, fmt=fmt, explain=explain)


def _short_window_warning(table: Any) -> None:
    """Warn on stderr when the sweep's window is too short for annualized metrics."""
    from gridlab.backtest.metrics import annualization_warning

    if "days" in table and len(table):
        msg = annualization_warning(float(table["days"].max()))
        if msg:
            typer.echo(f"warning: {msg}", err=True)
