"""gridlab.store: the DuckDB research store (`Store`) and its per-area modules."""

from __future__ import annotations

from gridlab.store.core import Store, load_sql

__all__ = ["Store", "load_sql"]
