"""CLI: `gridlab live` (run the live runner) and `gridlab promote` (choose what goes live).

gridlab finds them through the `gridlab.commands` entry point (pyproject.toml) and calls
`register(app)`; gridlab never imports live. `python -m live ...` runs the same commands
standalone. Exit codes: 0 ok, 1 the runner failed (unreachable exchange, bad keys, a second
runner on the same store...), 2 a usage mistake or a refused configuration.
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["app", "register"]

_CONFIG = typer.Option(Path("config.yaml"), "--config", "-c", help="config.yaml")


def register(app: typer.Typer) -> None:
    """Add `live` (and `live audit`), `promote` and `promotions` to a Typer app."""

    live_app = typer.Typer(invoke_without_command=True, add_completion=False,
                           pretty_exceptions_enable=False,
                           help="Run the grid live (Bybit, or --paper), with the control panel; "
                                "`gridlab live audit` checks its fills against the backtest.")

    @live_app.callback()
    def live_cmd(ctx: typer.Context, config: Path = _CONFIG,
                 paper: bool = typer.Option(False, "--paper",
                                            help="trade on the local exchange at 127.0.0.1 "
                                                 "(`gridlab fake-exchange`)"),
                 profile: str | None = typer.Option(None, "--profile",
                                                    help="trade this profile instead of the "
                                                         "latest promotion"),
                 log_level: str = typer.Option("INFO", "--log-level")) -> None:
        """Run the grid live (Bybit, or --paper), with the control panel."""
        if ctx.invoked_subcommand is not None:
            return
        from live.runner import main_live

        code = main_live(config, paper=paper, profile=profile, log_level=log_level)
        if code:
            raise typer.Exit(code)

    @live_app.command("audit")
    def audit_cmd(config: Path = _CONFIG,
                  name: str | None = typer.Option(None, "--name",
                                                  help="the runner (live.name); default: "
                                                       "the config's"),
                  symbol: str | None = typer.Option(None, "--symbol", help="one of its grids"),
                  start: str | None = typer.Option(None, "--from", help="UTC date/time"),
                  end: str | None = typer.Option(None, "--to", help="UTC date/time"),
                  fill_model: str = typer.Option("cross", "--fill-model",
                                                 help="cross | touch | queue"),
                  latency_ms: int = typer.Option(0, "--latency-ms", min=0),
                  tol_ms: int = typer.Option(5_000, "--tol-ms", min=0,
                                             help="largest time difference of a match"),
                  save: bool = typer.Option(True, "--save/--no-save",
                                            help="store the audit in the research store")
                  ) -> None:
        """Replay the runner's recorded tape through the backtest with the parameters it
        traded and compare fill by fill: matched, missed, extra, gaps, the PnL gap by cause."""
        from gridlab.config import load_config
        from live.audit import audit_lines, run_audit

        cfg = load_config(config)
        for audit, aid in run_audit(cfg, name=name, symbol=symbol, start=start, end=end,
                                    fill_model=fill_model, latency_ms=latency_ms,
                                    tol_ms=tol_ms, save=save):
            for line in audit_lines(audit, aid):
                typer.echo(line)

    app.add_typer(live_app, name="live")

    @app.command("promote")
    def promote_cmd(profile: str = typer.Argument(..., help="profile name"),
                    from_run: str | None = typer.Option(
                        None, "--from-run", help="a stored backtest run: its parameters"),
                    from_sweep: str | None = typer.Option(
                        None, "--from-sweep", help="a stored sweep (with --set-id or --best)"),
                    set_id: int | None = typer.Option(None, "--set-id", help="the sweep's set"),
                    best: str | None = typer.Option(
                        None, "--best", help="the sweep's best set by METRIC[:max|min]"),
                    from_walkforward: str | None = typer.Option(
                        None, "--from-walkforward", help="a stored walk-forward: the set its "
                        "last fold chose"),
                    from_trial: str | None = typer.Option(
                        None, "--from-trial", help="an Optuna trial: STUDY_ID:N"),
                    version: int | None = typer.Option(
                        None, "--version", help="re-activate this stored version (rollback)"),
                    note: str = typer.Option("", "--note", help="why"),
                    config: Path | None = typer.Option(None, "--config", "-c")) -> None:
        """Promote a profile (or a result's parameters as a new version of it): the live
        runner trades the latest promotion on start."""
        from gridlab.config import GridlabConfig, load_config
        from live.promote import promote_cli

        cfg = load_config(config) if config is not None else GridlabConfig()
        for line in promote_cli(cfg, profile, from_run=from_run, from_sweep=from_sweep,
                                set_id=set_id, best=best, from_walkforward=from_walkforward,
                                from_trial=from_trial, version=version, note=note):
            typer.echo(line)

    promotions_app = typer.Typer(no_args_is_help=True, help="Promotions: what went live, from "
                                 "which result.")

    @promotions_app.command("list")
    def promotions_list_cmd(config: Path | None = typer.Option(None, "--config", "-c"),
                            limit: int = typer.Option(20, "--limit", help="newest N")) -> None:
        """Promotions, newest first: profile version, source, data, metrics, note."""
        from gridlab.config import GridlabConfig, load_config
        from live.promote import format_promotions

        cfg = load_config(config) if config is not None else GridlabConfig()
        for line in format_promotions(cfg, limit):
            typer.echo(line)

    app.add_typer(promotions_app, name="promotions")


app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="gridlab live runner (standalone: python -m live).")
register(app)
