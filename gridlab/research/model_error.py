"""Model error of a kline backtest: how far it lands from the trade replay of the same span.

A kline replay walks each bar along a fixed intra-bar path (docs/strategy-kernels.md), so it
misses fills the trades would have made and invents an order of events; the only honest
measure of that error is the trade replay of the same span with the same parameters. When the
store holds trades covering the kline run's span, `kline_model_error` runs that replay and
returns the differences of the figures a grid trader ranks by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from gridlab.backtest.data import load_market
from gridlab.backtest.engine import backtest
from gridlab.backtest.results import BacktestResult
from gridlab.errors import DataError
from gridlab.store.market import trade_span

__all__ = ["COVER_SLACK_MS", "MODEL_ERROR_METRICS", "ModelError", "compare_runs",
           "kline_model_error"]

MODEL_ERROR_METRICS = ("n_limit_fills", "n_round_trips", "grid_profit", "fees", "funding", "pnl",
                       "total_return", "max_drawdown")
"""The figures compared: fills, round trips, grid profit, costs, PnL, return, drawdown."""
COVER_SLACK_MS = 60_000
"""The stored trades cover a span when they start and end within this of its ends."""


@dataclass(frozen=True)
class ModelError:
    """Kline run vs trade replay: one row per metric (klines, trades, diff = klines - trades,
    diff_pct = diff / |trades|, NaN when trades is 0), and the span compared."""

    table: pd.DataFrame
    start_ms: int
    end_ms: int
    kline_source: str

    def summary(self) -> str:
        """One line: fills and PnL differences."""
        t = self.table.set_index("metric")
        fills = t.loc["n_limit_fills"]
        pnl = t.loc["pnl"]
        return (f"kline model error vs trade replay: fills {int(fills['klines'])} vs "
                f"{int(fills['trades'])} ({_pct(fills['diff_pct'])}), PnL {pnl['klines']:,.2f} "
                f"vs {pnl['trades']:,.2f} ({_pct(pnl['diff_pct'])})")


def _pct(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:+.2%}"


def compare_runs(kline_run: BacktestResult, trade_run: BacktestResult) -> pd.DataFrame:
    """The MODEL_ERROR_METRICS of two runs side by side with their differences."""
    rows = []
    for name in MODEL_ERROR_METRICS:
        k = float(kline_run.metrics[name])
        t = float(trade_run.metrics[name])
        diff = k - t
        rows.append({"metric": name, "klines": k, "trades": t, "diff": diff,
                     "diff_pct": diff / abs(t) if t != 0.0 else float("nan")})
    return pd.DataFrame(rows)


def kline_model_error(store: Any, kline_run: BacktestResult, config: Any = None,
                      profile: str | None = None, **overrides: Any) -> ModelError | None:
    """Replay the trades of `kline_run`'s span with the same config, profile and overrides and
    compare; None when the store's trades do not cover that span (nothing to compare with)."""
    data = kline_run.data
    if data.get("source") == "trades":
        raise DataError("model error compares a kline run with the trade replay; this run "
                        "already replays trades", "pass the result of a kline backtest")
    symbol, category = data["symbol"], data["category"]
    start, end = int(data["start_ms"]), int(data["end_ms"])
    span = trade_span(store, symbol, category)
    if span is None or span[0] > start + COVER_SLACK_MS or span[1] < end - COVER_SLACK_MS:
        return None
    trades = load_market(store, symbol, category, "trades", start, end)
    trade_run = backtest(trades, config, profile, record=False, **overrides)
    return ModelError(compare_runs(kline_run, trade_run), start, end, str(data.get("source")))
