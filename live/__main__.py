"""`python -m live live|promote ...` (the same commands as `gridlab live` / `gridlab promote`)."""

from __future__ import annotations

import sys

from gridlab.errors import GridlabError
from live.commands import app

__all__ = ["main"]


def main() -> None:
    try:
        app(standalone_mode=False)
    except GridlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
