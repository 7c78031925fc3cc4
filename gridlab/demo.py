"""`gridlab demo`: the offline end-to-end path on a synthetic market."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "run_demo"]


def run_demo(db: Path) -> list[str]:
    """Build sample data and run what exists so far; return lines saying where outputs are."""
    db.parent.mkdir(parents=True, exist_ok=True)
    return [f"demo database: {db.resolve()}"]


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(db: Path = typer.Option(Path("data/demo.duckdb"), help="DuckDB file to build")) -> None:
        """Offline demo: synthetic market, sweep, report; prints where the outputs are."""
        for line in run_demo(db):
            typer.echo(line)
