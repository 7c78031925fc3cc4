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
    from gridlab.config import GridlabConfig, load_config

    cfg = load_config(config) if config else GridlabConfig()
    overrides: dict[str, Any] = {}
    if sets:  # the sweep module (and what it imports) only when there is a --set to read
        from gridlab.backtest.sweep import parse_param_grid

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
        portfolio: Path | None = typer.Option(
            None, "--portfolio", help="config.yaml with a portfolio section: backtest its "
                                      "symbols together from one account (instead of --config)"),
        model_error: bool = typer.Option(
            True, "--model-error/--no-model-error",
            help="kline runs: compare with the trade replay of the span when trades are stored"),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Backtest one parameter set; prints the metrics and the run_id."""
        from gridlab.backtest.data import load_market
        from gridlab.backtest.engine import data_info, run_backtest
        from gridlab.backtest.model_error import (
            backtest_with_model_error,
            no_trades_line,
            payload_lines,
            trades_cover,
        )

        if portfolio is not None:
            for name, given in (("--config", config), ("--symbol", symbol),
                                ("--category", category), ("--fills-csv", fills_csv)):
                if given is not None:
                    raise typer.BadParameter(f"{name} does not go with --portfolio (the "
                                             "portfolio config lists its symbols)",
                                             param_hint=name)
            _backtest_portfolio(portfolio, profile, source, start, end, fill_model, latency_ms,
                                db, save, set_, explain)
            return
        cfg, dbp, sym, cat, src, overrides = _setup(config, db, symbol, category, source, set_)
        if fill_model:
            overrides["backtest.fill_model"] = fill_model
        if latency_ms is not None:
            overrides["backtest.latency_ms"] = latency_ms
        overrides["backtest.source"] = src
        overrides["trading.category"] = cat
        res: Any
        with _open(dbp, save) as store:
            data = load_market(store, sym, cat, src, start, end,
                               max_gap_ms=cfg.backtest.max_gap_ms)
            kline = data.bar_ms > 0
            compare = model_error and kline and trades_cover(store, data.symbol, data.category,
                                                             data.start_ms, data.end_ms)
            error: dict[str, Any] | None = None
            if save or fills_csv is not None or compare or as_json:
                res, error = backtest_with_model_error(store, data, cfg, profile, save=save,
                                                       record=save or fills_csv is not None,
                                                       model_error=model_error, **overrides)
                budget = res.params["trading"]["capital"]
                account = res.params["backtest"]["account_equity"]
            else:  # metrics only, nothing to compare: no pandas (a faster cold start)
                res = run_backtest(data, cfg, profile, record=False, **overrides)
                budget, account = res.rp.ep.capital, res.rp.ep.account
                if model_error and kline:
                    error = {"compared": False, "reason": no_trades_line(data_info(data))}
        from gridlab.fmt import metric_lines

        typer.echo(data.describe(), err=as_json)
        for w in res.warnings:
            typer.echo(f"warning: {w}", err=True)
        if as_json:
            _echo_json(res, error)
        else:
            typer.echo(f"grid budget {budget:,.2f} (trading.capital) "
                       f"in an account of {account:,.2f} (backtest.account_equity)")
            for line in metric_lines(res.metrics, explain=explain) + payload_lines(error):
                typer.echo(line)
        fills = getattr(res, "fills", None)
        if fills_csv is not None and fills is not None:
            from gridlab.fmt import side_name, utc_iso

            out = fills.copy()
            if "side" in out:
                out["side"] = [side_name(v) for v in out["side"]]
            if "ts" in out:
                out.insert(1, "time", [utc_iso(v) for v in out["ts"]])
            out.to_csv(fills_csv, index=False)
            typer.echo(f"fills: {fills_csv}", err=as_json)
        typer.echo(f"run_id: {getattr(res, 'run_id', None) or '(not saved)'}  "
                   f"({res.elapsed_s:.2f} s)", err=as_json)

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
        """The newest runs, single and portfolio (or sweeps), in the store."""
        from gridlab.fmt import emit_records, output_format
        from gridlab.store.runs import list_sweeps

        fmt = output_format(as_json, as_csv)
        _cfg, dbp, *_ = _setup(config, db, None, None, None, [])
        with _open(dbp, False) as store:
            df = list_sweeps(store, limit) if sweeps else _all_runs(store, symbol, limit)
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
        from gridlab.backtest.show import show_portfolio_run, show_run, show_sweep
        from gridlab.errors import StoreError
        from gridlab.fmt import output_format
        from gridlab.store.portfolio_runs import get_portfolio_run
        from gridlab.store.runs import get_run

        fmt = output_format(as_json, as_csv)
        _cfg, dbp, *_ = _setup(config, db, None, None, None, [])
        with _open(dbp, False) as store:
            try:
                run = get_run(store, run_id)
            except StoreError as exc:
                if "no backtest run" not in exc.message:
                    raise
                try:
                    prun = get_portfolio_run(store, run_id)
                except StoreError as pexc:
                    if "no portfolio run" not in pexc.message:
                        raise
                    show_sweep(store, run_id, sort=sort, ascending=ascending, top=top,
                               fmt=fmt, explain=explain)
                    return
                show_portfolio_run(store, prun, fills=fills, fmt=fmt, explain=explain)
                return
            show_run(store, run, fills=fills, fmt=fmt, explain=explain)


def _all_runs(store: Any, symbol: str | None, limit: int) -> Any:
    """Single and portfolio runs, newest first: `kind` says which; a portfolio's `symbol` lists
    its symbols and its `category` is 'portfolio'."""
    import pandas as pd

    from gridlab.store.portfolio_runs import list_portfolio_runs
    from gridlab.store.runs import list_runs

    single = list_runs(store, symbol, limit)
    single.insert(1, "kind", "single")
    pf = list_portfolio_runs(store, symbol, limit).rename(columns={"symbols": "symbol"})
    if pf.empty:
        return single
    pf.insert(1, "kind", "portfolio")
    pf["category"] = "portfolio"
    pf = pf[[c for c in single.columns if c in pf.columns]]
    both = pd.concat([single, pf], ignore_index=True) if len(single) else pf
    return both.sort_values(["created_at", "run_id"], ascending=[False, True],
                            kind="stable").head(limit).reset_index(drop=True)


def _backtest_portfolio(path: Path, profile: str | None, source: str | None, start: str | None,
                        end: str | None, fill_model: str | None, latency_ms: int | None,
                        db: Path | None, save: bool, sets: list[str], explain: bool) -> None:
    """`gridlab backtest --portfolio config.yaml`: every symbol of its portfolio section, one
    account; prints each symbol's data and metrics, the account's metrics and the run_id."""
    from gridlab.backtest.data import load_market
    from gridlab.backtest.portfolio import backtest_portfolio
    from gridlab.backtest.show import account_lines
    from gridlab.errors import ConfigError
    from gridlab.fmt import emit_records

    if not path.exists():
        raise ConfigError(f"portfolio config {path} does not exist",
                          "pass --portfolio a config.yaml with a portfolio section "
                          "(see config.example.yaml)")
    cfg, dbp, _sym, _cat, src, overrides = _setup(path, db, None, None, source, sets)
    if cfg.portfolio is None:
        raise ConfigError(f"portfolio: {path} has no portfolio section",
                          "add portfolio: {capital, symbols: [{symbol, allocation}]} "
                          "(see config.example.yaml)")
    if fill_model:
        overrides["backtest.fill_model"] = fill_model
    if latency_ms is not None:
        overrides["backtest.latency_ms"] = latency_ms
    overrides["backtest.source"] = src
    with _open(dbp, save) as store:
        datas = {f"{s.symbol}/{s.category}": load_market(store, s.symbol, s.category, src,
                                                         start, end,
                                                         max_gap_ms=cfg.backtest.max_gap_ms)
                 for s in cfg.portfolio.symbols}
        res = backtest_portfolio(datas, cfg, profile, record=save,
                                 store=store if save else None, **overrides)
    for d in datas.values():
        typer.echo(d.describe())
    for w in res.warnings:
        typer.echo(f"warning: {w}", err=True)
    cols = ["capital", "total_return", "max_drawdown", "n_round_trips", "fees",
            "n_blocked_account", "stop"]
    emit_records(res.metrics[cols].reset_index(), "table")
    typer.echo(f"account ({len(res.metrics)} symbols):")
    for line in account_lines(res.total, explain):
        typer.echo(line)
    typer.echo(f"run_id: {res.run_id or '(not saved)'}  ({res.elapsed_s:.2f} s)")
def _echo_json(res: Any, model_error: dict[str, Any] | None) -> None:
    """`backtest --json`: metrics (NaN as null), run_id, data, warnings and the model error."""
    import json
    import math

    def num(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    typer.echo(json.dumps({"run_id": res.run_id, "data": res.data, "warnings": res.warnings,
                           "metrics": {k: num(v) for k, v in res.metrics.items()},
                           "model_error": model_error}, indent=1, default=str))


def _short_window_warning(table: Any) -> None:
    """Warn on stderr when the sweep's window is too short for annualized metrics."""
    from gridlab.backtest.metrics import annualization_warning

    if "days" in table and len(table):
        msg = annualization_warning(float(table["days"].max()))
        if msg:
            typer.echo(f"warning: {msg}", err=True)
