"""Portfolio backtest runs in the DuckDB store (tables from migrations/0013_portfolio_runs.sql).

Stored like single runs (gridlab.store.runs): a header with the code version, the effective
parameters and the account's metrics; one row per symbol with its metrics; every symbol's
fills and equity points; the account equity curve. One transaction per run, bulk inserts:
a run lands whole or not at all. Plain data in (frames, dicts): the store imports nothing of
the backtest.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd

from gridlab.errors import StoreError
from gridlab.store.core import Store, load_sql
from gridlab.store.runs import _dumps, _insert, new_id, run_by_prefix

__all__ = ["get_portfolio_run", "list_portfolio_runs", "load_portfolio_account_equity",
           "load_portfolio_equity", "load_portfolio_fills", "load_portfolio_symbols",
           "save_portfolio_run"]


def _key_metrics(m: dict[str, Any]) -> dict[str, Any]:
    return {"total_return": float(m["total_return"]), "max_drawdown": float(m["max_drawdown"]),
            "n_round_trips": int(m["n_round_trips"]), "fees": float(m["fees"]),
            "final_equity": float(m["final_equity"])}


def _per_symbol(run_id: str, frames: dict[str, pd.DataFrame] | None,
                order: bool) -> pd.DataFrame | None:
    """One frame of every symbol's rows, with run_id, symbol (and seq when `order`)."""
    parts = []
    for sym, f in (frames or {}).items():
        if f is None or not len(f):
            continue
        f = f.copy() if order else f.drop_duplicates("ts", keep="last").copy()
        if order:
            f.insert(0, "seq", np.arange(len(f), dtype=np.int64))
        f.insert(0, "symbol", sym)
        f.insert(0, "run_id", run_id)
        parts.append(f)
    return pd.concat(parts, ignore_index=True) if parts else None


def save_portfolio_run(store: Store, result: Any, *, data: dict[str, dict[str, Any]],
                       code: dict[str, str]) -> str:
    """Store one portfolio run; returns its run_id.

    `result`: a `PortfolioResult` (metrics frame, total, equity, total_equity, fills, params,
    warnings, elapsed_s); `data`: {symbol: what identifies its replayed data (symbol,
    category, source, start_ms, end_ms, n_events)}, in portfolio order; `code`: the code
    version (version, commit, kernel_hash)."""
    if not data:
        raise StoreError("a portfolio run needs at least one symbol", "pass its data infos")
    run_id = new_id()
    t = result.total
    infos = list(data.values())
    first = next(iter(result.params.get("symbols", {}).values()), {})
    bt = first.get("backtest", {})
    head = pd.DataFrame([{
        "run_id": run_id, "created_at": int(time.time() * 1000),
        "gridlab_version": code["version"], "git_commit": code["commit"],
        "kernel_hash": code["kernel_hash"],
        "symbols": ",".join(f"{d['symbol']}/{d['category']}" for d in infos),
        "source": str(infos[0]["source"]),
        "start_ms": min(int(d["start_ms"]) for d in infos),
        "end_ms": max(int(d["end_ms"]) for d in infos),
        "n_events": sum(int(d["n_events"]) for d in infos),
        "fill_model": str(bt.get("fill_model", "")), "latency_ms": int(bt.get("latency_ms", 0)),
        "capital": float(t["capital"]),
        "params": _dumps({"config": result.params, "data": data}), "metrics": _dumps(t),
        "warnings": "\n".join(result.warnings), "stop": str(t["stop"]),
        "sharpe": float(t["sharpe"]), "funding": float(t["funding"]),
        "elapsed_s": float(result.elapsed_s), **_key_metrics(t),
    }])
    syms = pd.DataFrame([{
        "run_id": run_id, "seq": i, "symbol": sym, "category": d["category"],
        "source": str(d["source"]), "start_ms": int(d["start_ms"]), "end_ms": int(d["end_ms"]),
        "n_events": int(d["n_events"]), "capital": float(m["capital"]),
        "metrics": _dumps(m), **_key_metrics(m)}
        for i, (sym, d) in enumerate(data.items())
        for m in [result.metrics.loc[sym].to_dict()]])
    acct = result.total_equity.copy()
    acct.insert(0, "seq", np.arange(len(acct), dtype=np.int64))
    acct.insert(0, "run_id", run_id)
    fills = _per_symbol(run_id, result.fills, order=True)
    equity = _per_symbol(run_id, result.equity, order=False)
    with store.transaction():
        _insert(store, "portfolio_insert_run", head)
        _insert(store, "portfolio_insert_symbols", syms)
        _insert(store, "portfolio_insert_account_equity", acct)
        if fills is not None:
            _insert(store, "portfolio_insert_fills", fills)
        if equity is not None:
            _insert(store, "portfolio_insert_equity", equity)
    return run_id


def list_portfolio_runs(store: Store, symbol: str | None = None, limit: int = 20
                        ) -> pd.DataFrame:
    """The newest portfolio runs (one row each, the account's key metrics); `symbol`: only
    runs trading it."""
    return store.con.execute(load_sql("portfolio_list"),
                             {"symbol": symbol, "limit": limit}).df()


def get_portfolio_run(store: Store, run_id: str) -> dict[str, Any]:
    """One portfolio run by id or unique prefix: header, params and metrics (decoded JSON)."""
    return run_by_prefix(store, "portfolio_get", run_id, "portfolio run")


def load_portfolio_symbols(store: Store, run_id: str) -> pd.DataFrame:
    """The symbols of a stored portfolio run, in config order (metrics decoded to dicts)."""
    df = store.con.execute(load_sql("portfolio_symbols"), {"run_id": run_id}).df()
    df["metrics"] = [json.loads(m) for m in df["metrics"]]
    return df


def load_portfolio_fills(store: Store, run_id: str, symbol: str | None = None) -> pd.DataFrame:
    """The fills of a stored portfolio run (one symbol's, or all by symbol then order)."""
    return store.con.execute(load_sql("portfolio_fills"),
                             {"run_id": run_id, "symbol": symbol}).df()


def load_portfolio_equity(store: Store, run_id: str, symbol: str | None = None
                          ) -> pd.DataFrame:
    """The per-symbol equity points of a stored portfolio run."""
    return store.con.execute(load_sql("portfolio_equity"),
                             {"run_id": run_id, "symbol": symbol}).df()


def load_portfolio_account_equity(store: Store, run_id: str) -> pd.DataFrame:
    """The account equity curve of a stored portfolio run: ts, equity, exposure, worst."""
    return store.con.execute(load_sql("portfolio_account_equity"), {"run_id": run_id}).df()
