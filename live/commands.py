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
                    from_run: str | None = typer.Option(None, "--from-run",
                                                        help="the backtest run id it came from"),
                    note: str = typer.Option("", "--note", help="why"),
                    config: Path | None = typer.Option(None, "--config", "-c")) -> None:
        """Promote a profile: the live runner trades the latest promotion on start."""
        from gridlab.config import GridlabConfig, load_config
        from live.promote import promote

        cfg = load_config(config) if config is not None else GridlabConfig()
        promo, run = promote(cfg, profile, run_id=from_run, note=note)
        typer.echo(f"promoted {promo.profile} v{promo.version} (promotion {promo.id}) "
                   f"in {cfg.data.db_path}")
        if run is not None:
            m = run["metrics"]
            typer.echo(f"from backtest {run['run_id']}: {run['symbol']} "
                       f"total_return {m.get('total_return', float('nan')):.4%}, "
                       f"max_drawdown {m.get('max_drawdown', float('nan')):.2%}")
            if run["params"].get("profile") not in (None, profile):
                typer.echo(f"note: that run used profile {run['params'].get('profile')!r}",
                           err=True)


app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="gridlab live runner (standalone: python -m live).")
register(app)
