"""The `gridlab` command. Each area registers its own sub-commands; this module only wires them."""

from __future__ import annotations

import sys

import typer

from gridlab.errors import GridlabError

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="gridlab: research-to-production grid trading on Bybit.")


@app.callback()
def _root() -> None:
    """gridlab: research-to-production grid trading on Bybit."""


def _register_all() -> None:
    from gridlab import demo
    from gridlab.backtest import commands as backtest_commands
    from gridlab.data import commands as data_commands
    from gridlab.fakex import commands as fakex_commands
    from gridlab.research import commands as research_commands
    from gridlab.strategy import commands as strategy_commands
    from live import commands as live_commands

    for module in (data_commands, strategy_commands, backtest_commands, research_commands,
                   fakex_commands, live_commands, demo):
        module.register(app)


_register_all()


def main() -> None:
    """Console entry point: a GridlabError becomes one line on stderr and exit code 2."""
    try:
        app(standalone_mode=False)
    except GridlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
