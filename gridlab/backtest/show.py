"""`gridlab runs show`: one stored run or portfolio run, or one stored sweep ranked by a metric.

Presentation only: the rows come from gridlab.store.runs, the formatting from gridlab.fmt.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from gridlab.errors import ConfigError, StoreError
from gridlab.fmt import emit_records, metric_lines, params_lines, utc_iso

__all__ = ["account_lines", "find_sweep", "param_ranges", "show_portfolio_run", "show_run",
           "show_sweep"]


def show_run(store: Any, run: dict[str, Any], fills: int, fmt: str, explain: bool) -> None:
    """Print a run from `get_run`: header, parameters table, metrics (or all of it as JSON)."""
    from gridlab.backtest.metrics import annualization_warning
    from gridlab.store.runs import load_run_fills

    f = load_run_fills(store, run["run_id"]) if fills else None
    warnings = [w for w in (run.get("warnings") or "").split("\n") if w]
    short = annualization_warning(float(run["metrics"].get("days", float("nan"))))
    if short and short not in warnings:
        warnings.append(short)
    if fmt != "table":
        if fmt == "csv":
            raise typer.BadParameter("a single run has no table shape: use --json",
                                     param_hint="--csv")
        out = {k: (v.item() if hasattr(v, "item") else v) for k, v in run.items()
               if k not in ("params", "metrics", "warnings")}
        for k in ("created_at", "start_ms", "end_ms"):
            out[k.replace("_ms", "")] = utc_iso(int(run[k]) - (k == "end_ms"))
        out.update(params=run["params"], metrics=run["metrics"], warnings=warnings)
        if f is not None:
            out["fills"] = json.loads(f.head(fills).to_json(orient="records"))
        typer.echo(json.dumps(out, indent=1, default=str))
        return
    typer.echo(f"run_id: {run['run_id']}  created {utc_iso(int(run['created_at']))}")
    typer.echo(f"data: {run['symbol']} {run['category']} {run['source']} "
               f"{utc_iso(int(run['start_ms']))} .. {utc_iso(int(run['end_ms']) - 1)} "
               f"({int(run['n_events']):,} events)")
    typer.echo(f"code: gridlab {run['gridlab_version']} commit {run['git_commit'] or '-'} "
               f"kernels {run['kernel_hash']}")
    typer.echo(f"fill model: {run['fill_model']}, latency {run['latency_ms']} ms")
    params = run["params"]
    if params.get("profile"):
        typer.echo(f"profile: {params['profile']}")
    typer.echo("parameters (live.* settings omitted: they do not change a backtest):")
    shown = {k: v for k, v in params.get("config", params).items() if k != "live"}
    for line in params_lines(shown):
        typer.echo(line)
    for w in warnings:
        typer.echo(f"warning: {w}")
    typer.echo("metrics:")
    for line in metric_lines(run["metrics"], explain=explain):
        typer.echo("  " + line)
    from gridlab.backtest.model_error import MODEL_ERROR_KEY, payload_lines

    for line in payload_lines(params.get(MODEL_ERROR_KEY)):  # stored with kline runs
        typer.echo(line)
    if f is not None:
        typer.echo(f"fills (first {min(fills, len(f))} of {len(f):,}):")
        emit_records(f.head(fills), "table", empty="no fills")


def find_sweep(store: Any, sweep_id: str) -> dict[str, Any]:
    """The header of the sweep whose id starts with `sweep_id` (StoreError if none or many)."""
    from gridlab.store.runs import list_sweeps

    sweeps = list_sweeps(store, 1_000_000)
    hit = sweeps[sweeps["sweep_id"].str.startswith(sweep_id)]
    if hit.empty:
        raise StoreError(f"no backtest run or sweep {sweep_id!r} in the store {store.path}",
                         "list them with `gridlab runs list` or `gridlab runs list --sweeps`")
    if len(hit) > 1:
        raise StoreError(f"sweep id prefix {sweep_id!r} is ambiguous", "give more characters")
    out = hit.iloc[0].to_dict()
    out["param_grid"] = json.loads(out["param_grid"])
    return out


def param_ranges(grid: dict[str, list[Any]]) -> list[str]:
    """'path: n values, min .. max' (or the list for few / non-numeric values)."""
    lines = []
    for path, values in grid.items():
        nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(nums) == len(values) and len(values) > 4:
            lines.append(f"  {path}: {len(values)} values, {min(nums):g} .. {max(nums):g}")
        else:
            lines.append(f"  {path}: {', '.join(map(str, values))}")
    return lines


def show_sweep(store: Any, sweep_id: str, sort: str, ascending: bool, top: int, fmt: str,
               explain: bool) -> None:
    """Print a sweep: header, swept ranges, the top sets by `sort` (or them as JSON/CSV)."""
    import pandas as pd

    from gridlab.backtest.metrics import annualization_warning, rank_sets
    from gridlab.fmt import METRICS
    from gridlab.store.runs import load_sweep_results

    head = find_sweep(store, sweep_id)
    res = load_sweep_results(store, head["sweep_id"])
    if sort not in res.columns or sort in ("sweep_id", "set_id", "params"):
        metrics = [c for c in res.columns if c not in ("sweep_id", "set_id", "params")]
        raise ConfigError(f"unknown metric {sort!r} for --sort",
                          f"choose one of {', '.join(metrics)}")
    params = pd.DataFrame([json.loads(p) for p in res["params"]], index=res.index)
    table = pd.concat([res[["set_id"]], params, res.drop(columns=["sweep_id", "set_id",
                                                                  "params"])], axis=1)
    ranked = rank_sets(table, sort, ascending).head(top)
    cols = ["set_id", *params.columns, "total_return", "sharpe", "max_drawdown",
            "n_round_trips", "fees"]
    if sort not in cols:
        cols.append(sort)
    if fmt != "table":
        emit_records(ranked, fmt)
        return
    typer.echo(f"sweep_id: {head['sweep_id']}  created {utc_iso(int(head['created_at']))}  "
               f"({int(head['n_sets']):,} sets)")
    typer.echo(f"data: {head['symbol']} {head['category']} {head['source']} "
               f"{utc_iso(int(head['start_ms']))} .. {utc_iso(int(head['end_ms']) - 1)}, "
               f"fill model {head['fill_model']}")
    typer.echo("parameter ranges:")
    for line in param_ranges(head["param_grid"]):
        typer.echo(line)
    short = annualization_warning(float(res["days"].max())) if len(res) else None
    if short:
        typer.echo(f"warning: {short}")
    label = METRICS.get(sort, (sort, "", ""))[0]
    typer.echo(f"top {len(ranked)} of {len(res):,} sets by {label} "
               f"({'smallest' if ascending else 'largest'} first):")
    emit_records(ranked[cols], "table")
    if explain:
        typer.echo("every metric of these sets: add --csv or --json")


def account_lines(metrics: dict[str, Any], explain: bool) -> list[str]:
    """A portfolio's account metrics as metric lines; the account stop time as UTC ISO."""
    m = dict(metrics)
    stop_ts = int(m.pop("stop_ts", 0) or 0)
    lines = ["  " + line for line in metric_lines(m, explain=explain)]
    if stop_ts:
        lines.append(f"  account kill switch at {utc_iso(stop_ts)}")
    return lines


def show_portfolio_run(store: Any, run: dict[str, Any], fills: int, fmt: str,
                       explain: bool) -> None:
    """Print a portfolio run from `get_portfolio_run`: header, per-symbol metrics, account
    metrics, limits (or all of it as JSON)."""
    from gridlab.store.portfolio_runs import load_portfolio_fills, load_portfolio_symbols

    syms = load_portfolio_symbols(store, run["run_id"])
    f = load_portfolio_fills(store, run["run_id"]) if fills else None
    warnings = [w for w in (run.get("warnings") or "").split("\n") if w]
    if fmt != "table":
        if fmt == "csv":
            raise typer.BadParameter("a portfolio run has no table shape: use --json",
                                     param_hint="--csv")
        out = {k: (v.item() if hasattr(v, "item") else v) for k, v in run.items()
               if k not in ("params", "metrics", "warnings")}
        for k in ("created_at", "start_ms", "end_ms"):
            out[k.replace("_ms", "")] = utc_iso(int(run[k]) - (k == "end_ms"))
        out.update(kind="portfolio", params=run["params"], metrics=run["metrics"],
                   symbol_metrics={r["symbol"]: r["metrics"] for _, r in syms.iterrows()},
                   warnings=warnings)
        if f is not None:
            out["fills"] = json.loads(f.head(fills).to_json(orient="records"))
        typer.echo(json.dumps(out, indent=1, default=str))
        return
    typer.echo(f"portfolio run_id: {run['run_id']}  created {utc_iso(int(run['created_at']))}")
    typer.echo(f"data: {run['symbols']} {run['source']} {utc_iso(int(run['start_ms']))} .. "
               f"{utc_iso(int(run['end_ms']) - 1)} ({int(run['n_events']):,} events)")
    typer.echo(f"code: gridlab {run['gridlab_version']} commit {run['git_commit'] or '-'} "
               f"kernels {run['kernel_hash']}")
    typer.echo(f"fill model: {run['fill_model']}, latency {run['latency_ms']} ms")
    typer.echo("account limits:")
    for line in params_lines(run["params"]["config"].get("portfolio", {})):
        typer.echo(line)
    for w in warnings:
        typer.echo(f"warning: {w}")
    typer.echo("symbols:")
    syms["end_ms"] = syms["end_ms"] - 1  # stored as an exclusive end: the last millisecond
    emit_records(syms.drop(columns=["metrics", "seq"]), "table")
    typer.echo(f"account metrics (stop {run['stop']}):")
    for line in account_lines(run["metrics"], explain):
        typer.echo(line)
    if explain:
        typer.echo("each symbol's parameters and metrics: add --json")
    if f is not None:
        typer.echo(f"fills (first {min(fills, len(f))} of {len(f):,}):")
        emit_records(f.head(fills), "table", empty="no fills")
