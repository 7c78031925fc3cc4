"""Run metrics from the kernel summaries and daily closing equity, vectorized over runs.

Single runs and sweeps both go through `metrics_table`, so a sweep row equals the single run
with the same parameters. Definitions (returns are simple, risk-free rate 0, 365-day years):

- equity starts from the account equity (`backtest.account_equity`, default the grid budget
  `trading.capital`): final_equity, pnl, the daily returns, max_drawdown and total_return are the
  account's; return_on_budget = pnl / budget (what a Bybit grid bot shows on its investment),
  return_on_account = pnl / account equity (= total_return);
- total_return = final_equity / capital - 1 (capital: the account equity at the start);
  annualized_return = (1 + total)^(365 / days) - 1
  with days = (last event - first event) / 1 day (-1 if equity <= 0);
- daily returns r_d from the UTC-day closing equity (the first against the initial capital);
  avg_daily_return = mean(r_d); sharpe = mean / std(ddof 1) * sqrt(365);
  sortino = mean / sqrt(mean(min(r_d, 0)^2)) * sqrt(365); calmar = annualized / max_drawdown
  (NaN when undefined: fewer than 2 days, zero deviation or zero drawdown);
- max_drawdown: largest fall from a running peak of the equity marked at every event,
  as a fraction of the peak; max_dd_duration_h: longest time from a peak to the next new peak
  (or the end);
- time_at_max_exposure: share of the run with every opening leg of one side filled (the
  price left the grid on that side, inventory at its maximum);
- inventory_pnl = realized + unrealized - grid_profit (grid profit: completed round trips);
- n_blocked: order requests refused by the risk checks (retried at every check, each counted);
  n_rejected_post_only: orders cancelled on arrival because they would have taken liquidity;
  n_late_fills: fills of orders whose cancel was still in flight (latency);
- margin model (`backtest.margin`): n_liquidations (0 or 1: a liquidation stops the grid),
  liquidated, liq_ts (epoch ms, 0 = none), liq_loss (margin lost, quote), n_margin_refused
  (orders the margin could not carry, Bybit 110007; also counted in n_blocked).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gridlab.backtest.enums import SUMMARY_FIELDS, Sum

__all__ = ["ANNUALIZED_METRICS", "BUDGET_METRICS", "METRIC_COLUMNS", "MIN_ANNUALIZED_DAYS",
           "RECENTER_COLUMNS", "annualization_warning", "budget_returns", "metrics_table",
           "rank_sets"]

DAY_MS = 86_400_000
# Annualized figures from fewer days than this are noise (a Sharpe of 91 from 3 days).
MIN_ANNUALIZED_DAYS = 30.0
ANNUALIZED_METRICS = ("annualized_return", "sharpe", "sortino", "calmar")
RECENTER_COLUMNS = tuple(f for f in SUMMARY_FIELDS if f.startswith("rc_"))

METRIC_COLUMNS: tuple[str, ...] = (
    "total_return", "annualized_return", "avg_daily_return", "sharpe", "sortino", "calmar",
    "max_drawdown", "max_dd_duration_h", "final_equity", "pnl", "grid_profit", "inventory_pnl",
    "realized", "unrealized", "fees", "funding", "turnover", "n_round_trips", "n_fills",
    "n_limit_fills", "n_late_fills", "n_rejected_post_only", "n_blocked", "n_kill_switch",
    "stop_code", "n_recenters", *RECENTER_COLUMNS, "time_at_max_exposure", "position",
    "n_empty_builds", "days", "n_events", "n_liquidations", "liquidated", "liq_ts", "liq_loss",
    "n_margin_refused",
)


BUDGET_METRICS = ("return_on_budget", "return_on_account")
"""Returns on the grid budget and on the account (single runs and sweep tables; not stored
as sweep_results columns)."""


def budget_returns(pnl: np.ndarray | float, budget: np.ndarray | float,
                   account: np.ndarray | float) -> dict[str, np.ndarray]:
    """PnL as a fraction of the grid budget and of the account equity at the start."""
    pnl = np.asarray(pnl, dtype=np.float64)
    return {"return_on_budget": pnl / np.asarray(budget, dtype=np.float64),
            "return_on_account": pnl / np.asarray(account, dtype=np.float64)}


def annualization_warning(days: float) -> str | None:
    """The warning a run over `days` days carries: annualized metrics need MIN_ANNUALIZED_DAYS."""
    if not np.isfinite(days) or days >= MIN_ANNUALIZED_DAYS:
        return None
    return (f"annualized metrics ({', '.join(ANNUALIZED_METRICS)}) come from only {days:.1f} "
            f"days of data (< {MIN_ANNUALIZED_DAYS:g}): treat them as noise; compare "
            "total_return and max_drawdown instead, or backtest a longer window")


def metrics_table(summary: np.ndarray, daily: np.ndarray, capital: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """Metrics of m runs: `summary` (m, N_SUMMARY), `daily` (m, n_days), `capital` (m,)."""
    s = np.atleast_2d(np.asarray(summary, dtype=np.float64))
    d = np.atleast_2d(np.asarray(daily, dtype=np.float64))
    cap = np.broadcast_to(np.asarray(capital, dtype=np.float64), (s.shape[0],))
    final = s[:, Sum.FINAL_EQUITY]
    total = final / cap - 1.0
    days = (s[:, Sum.LAST_TS] - s[:, Sum.FIRST_TS]) / DAY_MS
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ann = np.where(final > 0, np.power(np.maximum(final / cap, 1e-300),
                                           365.0 / np.maximum(days, 1e-9)) - 1.0, -1.0)
        prev = np.concatenate([cap[:, None], d[:, :-1]], axis=1)
        r = d / prev - 1.0
        n = r.shape[1]
        mean = r.mean(axis=1) if n else np.full(s.shape[0], np.nan)
        std = r.std(axis=1, ddof=1) if n > 1 else np.full(s.shape[0], np.nan)
        down = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2, axis=1)) if n else mean * np.nan
        sharpe = np.where((std > 0) & (n > 1), mean / std * np.sqrt(365.0), np.nan)
        sortino = np.where((down > 0) & (n > 1), mean / down * np.sqrt(365.0), np.nan)
        mdd = s[:, Sum.MAX_DRAWDOWN]
        calmar = np.where(mdd > 0, ann / mdd, np.nan)
        span = s[:, Sum.LAST_TS] - s[:, Sum.FIRST_TS]
        t_max = np.where(span > 0, s[:, Sum.TIME_AT_MAX_MS] / span, 0.0)
    out: dict[str, np.ndarray] = {
        "total_return": total,
        "annualized_return": ann,
        "avg_daily_return": mean,
        "sharpe": sharpe,
        "sortino": sortino,
        "calmar": calmar,
        "max_drawdown": mdd,
        "max_dd_duration_h": s[:, Sum.MAX_DD_DURATION_MS] / 3_600_000,
        "final_equity": final,
        "pnl": final - cap,
        "grid_profit": s[:, Sum.GRID_PROFIT],
        "inventory_pnl": s[:, Sum.REALIZED] + s[:, Sum.UNREALIZED] - s[:, Sum.GRID_PROFIT],
        "realized": s[:, Sum.REALIZED],
        "unrealized": s[:, Sum.UNREALIZED],
        "fees": s[:, Sum.FEES],
        "funding": s[:, Sum.FUNDING],
        "turnover": s[:, Sum.TURNOVER],
        "time_at_max_exposure": t_max,
        "days": days,
        "liq_ts": s[:, Sum.LIQ_TS].astype(np.int64),
        "liq_loss": s[:, Sum.LIQ_LOSS],
    }
    for name in ("n_round_trips", "n_fills", "n_limit_fills", "n_late_fills",
                 "n_rejected_post_only", "n_blocked", "n_kill_switch", "stop_code",
                 "n_empty_builds", "n_events", "position", "n_liquidations",
                 "n_margin_refused"):
        out[name] = s[:, SUMMARY_FIELDS.index(name)]
    rc = np.stack([s[:, SUMMARY_FIELDS.index(c)] for c in RECENTER_COLUMNS], axis=1)
    for j, c in enumerate(RECENTER_COLUMNS):
        out[c] = rc[:, j]
    out["n_recenters"] = rc.sum(axis=1) - s[:, Sum.RC_INITIAL]
    out["liquidated"] = out["n_liquidations"] > 0
    for name in ("n_round_trips", "n_fills", "n_limit_fills", "n_late_fills",
                 "n_rejected_post_only", "n_blocked", "n_kill_switch", "stop_code",
                 "n_empty_builds", "n_events", "n_recenters", *RECENTER_COLUMNS,
                 "n_liquidations", "n_margin_refused"):
        out[name] = out[name].astype(np.int64)
    return {k: out[k] for k in METRIC_COLUMNS}


def rank_sets(table: Any, sort: str, ascending: bool = False) -> Any:
    """Parameter sets (a sweep table) ordered by `sort`, every liquidated set after every set
    that survived (a set that lost its margin never ranks above one that did not); stable."""
    liq = (table["liquidated"].fillna(False).astype(bool) if "liquidated" in table
           else np.zeros(len(table), bool))
    order = table.assign(_liq=np.asarray(liq)).sort_values(["_liq", sort],
                                                           ascending=[True, ascending],
                                                           kind="stable")
    return order.drop(columns="_liq")
