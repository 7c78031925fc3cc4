"""The `gridlab` command. Each area registers its own sub-commands; this module only wires them.

Startup is lazy: `gridlab --help` lists the commands from `COMMANDS` without importing any
area, and `gridlab X ...` imports only the area that defines X. Commands from other packages
(the live runner's `live` and `promote`) are plugins: a package announces a
`register(app)` function in the `gridlab.commands` entry-point group
(`[project.entry-points."gridlab.commands"]` in pyproject.toml), so gridlab never imports them.

Exit codes: 0 ok; 1 a failure (a GridlabError or an unexpected error: one message on stderr,
no traceback unless GRIDLAB_TRACEBACK=1); 2 a usage mistake (typer's short usage message) or
an invalid configuration (ConfigError: a config file, profile, --set or parameter value);
130 interrupted.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

# Plain click help and usage messages: rich's help renderer alone takes ~0.4 s to import and
# `gridlab --help` must answer in <= 0.3 s. TYPER_USE_RICH=1 brings the boxes back.
os.environ.setdefault("TYPER_USE_RICH", "0")
# No pydantic plugins: finding them scans every installed package's entry points (~20-60 ms of
# a cold `gridlab backtest`, whose budget is 1 s). PYDANTIC_DISABLE_PLUGINS=0 loads them again.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer
from typer.core import TyperGroup

__all__ = ["COMMANDS", "PLUGIN_GROUP", "app", "load_plugins", "main", "plugin_entry_points",
           "report_error", "run_app"]

PLUGIN_GROUP = "gridlab.commands"

# top-level command -> (module whose register(app) defines it, one-line help for `--help`).
# tests/test_cli_lazy.py checks that every line matches the command's own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("gridlab.data.commands", "Load market data into the store."),
    "data": ("gridlab.data.commands", "Inspect the market data in the store."),
    "synth": ("gridlab.data.commands",
              "Write a synthetic market (trades, klines, funding, instrument) into the store."),
    "profiles": ("gridlab.commands.strategy", "Strategy profiles (built-in and user)."),
    "grid": ("gridlab.commands.strategy", "Look at a grid before trading it."),
    "backtest": ("gridlab.backtest.commands",
                 "Backtest one parameter set; prints the metrics and the run_id."),
    "sweep": ("gridlab.backtest.commands",
              "Backtest every combination of the --param values; prints the top rows and "
              "sweep_id."),
    "runs": ("gridlab.backtest.commands", "Stored backtest runs and sweeps."),
    "report": ("gridlab.research.commands",
               "Backtest report: runs notebooks/03_report.ipynb, writes HTML (offline) + "
               ".ipynb."),
    "walkforward": ("gridlab.research.commands",
                    "Walk-forward validation: best set per train window, scored on the next "
                    "test window."),
    "optimize": ("gridlab.research.commands",
                 "Optuna search: TPE for one objective, NSGA-II (Pareto front) for two."),
    "fake-exchange": ("gridlab.fakex.commands",
                      "Run the local Bybit-v5-compatible exchange (REST + WebSocket) until "
                      "Ctrl-C."),
    "demo": ("gridlab.demo", "Offline demo: synthetic market, sweep, out-of-sample run, "
                             "report; prints where the outputs are."),
}


def _area_group(register: Callable[[typer.Typer], None]) -> TyperGroup:
    """The click group of the commands one `register(app)` function adds."""
    sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @sub.callback()
    def _area() -> None:
        """area"""

    register(sub)
    return typer.main.get_group(sub)


def plugin_entry_points(group: str = PLUGIN_GROUP) -> dict[str, str]:
    """The installed entry points of `group`: name -> "module:attr" (first on sys.path wins).

    Reads the `entry_points.txt` of each installed distribution directly: what
    `importlib.metadata.entry_points(group=...)` returns, without parsing every package's
    METADATA (~0.1 s on a full environment, too slow for `gridlab --help`).
    """
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in sorted(names):
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(entry or ".", name, "entry_points.txt"),
                          encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                continue
            if f"[{group}]" in text:
                for ep_name, value in _section(text, group).items():
                    found.setdefault(ep_name, value)
    return found


def _section(text: str, group: str) -> dict[str, str]:
    """`name = value` lines of one [group] of an entry_points.txt."""
    out: dict[str, str] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
        elif current == group and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _load_entry_point(value: str) -> Any:
    """Import "module:attr" (attr may be dotted)."""
    module, _, attr = value.partition(":")
    obj: Any = importlib.import_module(module.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    return obj


def load_plugins(warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Commands of the installed `gridlab.commands` entry points: name -> click command.

    A plugin that fails to import is reported through `warn` and skipped, so one broken
    package cannot take the whole CLI down.
    """
    found: dict[str, Any] = {}
    for name, value in sorted(plugin_entry_points().items()):
        try:
            group = _area_group(_load_entry_point(value))
        except Exception as exc:  # a broken plugin: say which and carry on
            if warn is not None:
                warn(f"warning: the command plugin {name!r} ({value}) could not be "
                     f"loaded: {exc}")
            continue
        found.update(group.commands)
    return found


class LazyGroup(TyperGroup):
    """The root group: areas are imported on first use, plugins when the list is needed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._areas: dict[str, TyperGroup] = {}
        self._plugins: dict[str, Any] | None = None
        self._listing = False

    def _area(self, module: str) -> TyperGroup:
        if module not in self._areas:
            self._areas[module] = _area_group(importlib.import_module(module).register)
        return self._areas[module]

    def plugins(self) -> dict[str, Any]:
        """The plugin commands (loaded once)."""
        if self._plugins is None:
            self._plugins = load_plugins(lambda msg: print(msg, file=sys.stderr))
        return self._plugins

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.commands, *COMMANDS, *sorted(set(self.plugins()) - set(COMMANDS))]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in COMMANDS:
            module, short = COMMANDS[cmd_name]
            if self._listing:  # `gridlab --help`: the line from the table, nothing imported
                return typer.core.TyperCommand(cmd_name, help=short, short_help=short)
            return self._area(module).commands.get(cmd_name)
        plugin = self.plugins().get(cmd_name)
        if plugin is not None:
            return plugin
        for module in dict.fromkeys(m for m, _ in COMMANDS.values()):  # not in the table
            cmd = self._area(module).commands.get(cmd_name)
            if cmd is not None:
                return cmd
        return None

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(cls=LazyGroup, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
                  help="gridlab: research-to-production grid trading on Bybit.")


@app.callback()
def _root() -> None:
    """gridlab: research-to-production grid trading on Bybit."""


def report_error(exc: BaseException) -> int:
    """Print a failure as `error: ...` (+ what to do) on stderr; return the exit code."""
    from gridlab.errors import ConfigError, GridlabError

    if isinstance(exc, GridlabError):
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  what to do: {exc.hint}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    if isinstance(exc, OSError):
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
    print("  what to do: this is a bug; rerun with GRIDLAB_TRACEBACK=1 and report the "
          "traceback", file=sys.stderr)
    return 1


def run_app(typer_app: typer.Typer, argv: list[str] | None = None,
            prog_name: str = "gridlab") -> None:
    """Run a Typer app as a command: 0 ok, 1 failure, 2 usage or bad config, 130 Ctrl-C.

    typer runs in standalone mode, so usage errors print its usual short message and exit 2
    and `raise typer.Exit(code)` in a command becomes the process exit code (under
    `standalone_mode=False` typer returns that code instead, and it was lost).
    """
    try:
        typer_app(args=argv, prog_name=prog_name)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("GRIDLAB_TRACEBACK"):
            raise
        sys.exit(report_error(exc))


def main(argv: list[str] | None = None) -> None:
    """Console entry point of `gridlab`."""
    run_app(app, argv, "gridlab")
