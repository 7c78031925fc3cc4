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
    """Add `live` and `promote` to a Typer app."""

    @app.command("live")
    def live_cmd(config: Path = _CONFIG,
                 paper: bool = typer.Option(False, "--paper",
                                            help="trade on the local exchange at 127.0.0.1 "
                                                 "(`gridlab fake-exchange`)"),
                 profile: str | None = typer.Option(None, "--profile",
                                                    help="trade this profile instead of the "
                                                         "latest promotion"),
                 log_level: str = typer.Option("INFO", "--log-level")) -> None:
        """Run the grid live (Bybit, or --paper), with the control panel."""
        from live.runner import main_live

        code = main_live(config, paper=paper, profile=profile, log_level=log_level)
        if code:
            raise typer.Exit(code)

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
