"""How the CLI is wired: gridlab never imports live, the live commands arrive as a plugin,
`gridlab --help` imports no area, and its command table matches the commands' own help."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import typer

from gridlab import cli

ROOT = Path(__file__).resolve().parents[1]


def live_imports(package: Path) -> list[str]:
    """'file:line' of every import of `live` (static or importlib, at any depth) under a tree."""
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (isinstance(node, ast.Call) and node.args
                  and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str)
                  and getattr(node.func, "attr", getattr(node.func, "id", "")) in
                  ("import_module", "__import__")):
                names = [node.args[0].value]
            if any(n == "live" or n.startswith("live.") for n in names):
                found.append(f"{path.relative_to(package.parent)}:{node.lineno}")
    return found


def test_gridlab_never_imports_live() -> None:
    assert live_imports(ROOT / "gridlab") == []


def test_the_scan_finds_an_import_of_live(tmp_path: Path) -> None:
    pkg = tmp_path / "gridlab"
    pkg.mkdir()
    (pkg / "a.py").write_text("def f():\n    from live import commands\n")
    (pkg / "b.py").write_text("import importlib\nimportlib.import_module('live.runner')\n")
    (pkg / "c.py").write_text("import livestock\nfrom gridlab import live_view\n")
    assert live_imports(pkg) == ["gridlab/a.py:2", "gridlab/b.py:2"]


def test_live_commands_come_from_the_entry_point() -> None:
    eps = cli.plugin_entry_points()
    assert eps.get("live") == "live.commands:register"
    cmds = cli.load_plugins()
    assert {"live", "promote"} <= set(cmds)


def test_a_broken_plugin_is_reported_and_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "plugin_entry_points",
                        lambda group=cli.PLUGIN_GROUP: {"bad": "no_such_module_xyz:register",
                                                        "live": "live.commands:register"})
    warnings: list[str] = []
    cmds = cli.load_plugins(warnings.append)
    assert "live" in cmds and len(warnings) == 1 and "'bad'" in warnings[0]


def test_entry_point_section_parser() -> None:
    text = "[console_scripts]\ngridlab = gridlab.cli:main\n\n[gridlab.commands]\n" \
           "live = live.commands:register\n# c\nother=pkg.mod:fn\n"
    assert cli._section(text, "gridlab.commands") == {"live": "live.commands:register",
                                                      "other": "pkg.mod:fn"}


def test_help_lists_every_command_and_imports_no_area() -> None:
    code = textwrap.dedent("""
        import sys
        from gridlab.cli import main
        try:
            main(["--help"])
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        heavy = sorted(m for m in sys.modules if m in ("numba", "pandas", "duckdb", "pydantic",
                       "llvmlite", "gridlab.backtest", "gridlab.strategy", "gridlab.config",
                       "gridlab._numba_cache", "rich", "live.runner"))
        print("HEAVY", heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout
    for name in [*cli.COMMANDS, "live", "promote"]:
        assert f"  {name} " in out.stdout, name


def test_the_command_table_matches_the_commands() -> None:
    """Every area command is in COMMANDS, with the first line of its own help."""
    modules = dict.fromkeys(m for m, _ in cli.COMMANDS.values())
    defined: dict[str, str] = {}
    for module in modules:
        group = cli._area_group(__import__(module, fromlist=["register"]).register)
        for name, cmd in group.commands.items():
            assert name not in defined, f"{name} defined twice"
            defined[name] = module
            assert cli.COMMANDS.get(name, ("", ""))[0] == module, name
            help_text = " ".join((cmd.help or "").split())
            assert help_text.startswith(cli.COMMANDS[name][1]), (name, help_text)
    assert set(defined) == set(cli.COMMANDS)


def test_an_area_is_imported_only_when_used() -> None:
    group = typer.main.get_command(cli.app)
    assert isinstance(group, cli.LazyGroup)
    ctx = group.make_context("gridlab", ["grid", "preview", "--help"], resilient_parsing=True)
    cmd = group.get_command(ctx, "grid")
    assert cmd is not None and "preview" in cmd.commands
    assert set(group._areas) == {"gridlab.commands.strategy"}


def test_a_kline_backtest_that_keeps_nothing_imports_no_pandas(tmp_path: Path) -> None:
    """`gridlab backtest --no-save` (no --fills-csv) runs on numpy only: pandas, pyarrow and
    the sweep are off its path (they cost a cold start more than the replay)."""
    from gridlab.data.synth import write_synthetic_market
    from gridlab.store.core import Store

    db = tmp_path / "bt.duckdb"
    with Store.open(db) as store:
        write_synthetic_market(store, "BTCUSDT", "linear", days=1, seed=1, trades_per_day=3_000)
    code = textwrap.dedent(f"""
        import sys
        from gridlab.cli import main
        try:
            main(["backtest", "--db", {str(db)!r}, "--source", "1", "--no-save",
                  "--no-model-error"])
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pandas", "pyarrow",
                       "plotly") or m in ("gridlab.backtest.sweep", "gridlab.strategy.classes"))
        print("HEAVY", heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Total return" in out.stdout and "run_id: (not saved)" in out.stdout, out.stdout
    assert "HEAVY []" in out.stdout, out.stdout
