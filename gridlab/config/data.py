"""Config section `data`: where market and run data live."""

from __future__ import annotations

from pathlib import Path

from gridlab.config.base import StrictModel

__all__ = ["DataConfig"]


class DataConfig(StrictModel):
    """Location of the DuckDB research store."""

    db_path: Path = Path("data/gridlab.duckdb")
