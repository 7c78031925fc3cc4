"""Config section `data`: where market and run data live, and data-handling defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gridlab.config.base import StrictModel

__all__ = ["DataConfig"]


class DataConfig(StrictModel):
    """Location of the DuckDB research store and defaults of the data commands."""

    db_path: Path = Path("data/gridlab.duckdb")
    lock_wait_s: float = Field(0.0, ge=0, description="retry a locked store this long")
    download_timeout_s: float = Field(120.0, gt=0, description="per trade-file download")
    trade_gap_ms: int = Field(300_000, ge=1000,
                              description="a silence between trades longer than this is a gap")
