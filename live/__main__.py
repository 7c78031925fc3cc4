"""`python -m live live|promote ...` (the same commands as `gridlab live` / `gridlab promote`)."""

from __future__ import annotations

from gridlab.cli import run_app
from live.commands import app

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Run the live commands standalone, with the exit codes of `gridlab`."""
    run_app(app, argv, "python -m live")


if __name__ == "__main__":
    main()
