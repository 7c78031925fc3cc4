"""Risk-limit tiers in the store: one table, replaced whole per (symbol, category)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridlab.store.core import Store, load_sql

if TYPE_CHECKING:  # pandas only for the DataFrame API: the backtest's load path is numpy
    import pandas as pd

__all__ = ["RISK_LIMIT_COLUMNS", "get_risk_limits", "replace_risk_limits", "risk_limit_rows"]

RISK_LIMIT_COLUMNS = ("tier", "risk_limit_value", "mmr", "imr", "mm_deduction", "max_leverage",
                      "fetched_at")


def replace_risk_limits(store: Store, symbol: str, category: str, tiers: pd.DataFrame) -> int:
    """Replace the stored tiers of (symbol, category) by `tiers` (columns RISK_LIMIT_COLUMNS)
    in one transaction; returns the number of tiers stored."""
    frame = tiers[list(RISK_LIMIT_COLUMNS)].assign(symbol=symbol, category=category)
    frame = frame[["symbol", "category", *RISK_LIMIT_COLUMNS]]
    store.con.register("_gl_tiers", frame)
    try:
        with store.transaction() as con:
            con.execute(load_sql("risk_limits_delete"), {"symbol": symbol, "category": category})
            con.execute(load_sql("risk_limits_insert"))
    finally:
        store.con.unregister("_gl_tiers")
    return len(frame)


def get_risk_limits(store: Store, symbol: str, category: str) -> pd.DataFrame:
    """Stored tiers of (symbol, category), ascending; empty if none."""
    return store.con.execute(load_sql("risk_limits_select"),
                             {"symbol": symbol, "category": category}).df()


def risk_limit_rows(store: Store, symbol: str, category: str) -> list[dict[str, Any]]:
    """Stored tiers of (symbol, category), ascending, as plain dicts (no pandas); [] if none."""
    cur = store.con.execute(load_sql("risk_limits_select"),
                            {"symbol": symbol, "category": category})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
