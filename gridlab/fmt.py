"""How the CLI shows things: UTC ISO times, percents, buy/sell, metric names, tables, JSON, CSV.

Every command prints through these helpers, so a time or a ratio looks the same everywhere:
times `2024-01-01T00:00:00Z` (UTC, ISO 8601), ratios `12.34%`, sides `buy`/`sell`. Scripts
pass `--json` or `--csv` to the listing and showing commands and get the raw values (times
still as ISO strings, ratios as fractions) on stdout.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import typer

__all__ = [
    "CSV_OPTION",
    "JSON_OPTION",
    "METRICS",
    "emit_records",
    "emit_table",
    "format_value",
    "metric_lines",
    "metric_unit",
    "output_format",
    "params_lines",
    "pct",
    "side_name",
    "utc_iso",
]

JSON_OPTION = typer.Option(False, "--json", help="print JSON (for scripts)")
CSV_OPTION = typer.Option(False, "--csv", help="print CSV (for scripts)")

_TIME_COLUMNS = {"ts", "time", "start", "end", "first", "last", "start_ms", "end_ms", "first_ms",
                 "last_ms", "ts_ms", "train_start", "train_end", "test_start", "test_end",
                 "train_start_ms", "train_end_ms", "test_start_ms", "test_end_ms"}
_RENAME = {"start_ms": "start", "end_ms": "end", "first_ms": "first", "last_ms": "last",
           "ts_ms": "ts", "train_start_ms": "train_start", "train_end_ms": "train_end",
           "test_start_ms": "test_start", "test_end_ms": "test_end"}


def utc_iso(ms: Any) -> str:
    """Epoch milliseconds -> '2024-01-01T00:00:00Z' (with .mmm when not a whole second)."""
    if ms is None or (isinstance(ms, float) and not math.isfinite(ms)):
        return "-"
    ms = int(ms)
    t = datetime.fromtimestamp(ms / 1000, tz=UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


def pct(x: Any, digits: int = 2) -> str:
    """A fraction as a percent: 0.1234 -> '12.34%'; NaN/None -> 'n/a'."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    return f"{float(x) * 100:.{digits}f}%"


def side_name(code: Any) -> str:
    """1 / -1 (or 'Buy'/'Sell') -> 'buy' / 'sell'."""
    if isinstance(code, str):
        return code.lower()
    try:
        c = int(code)
    except (TypeError, ValueError):
        return "-"
    return {1: "buy", -1: "sell"}.get(c, "-")


# metric -> (human name, unit, explanation for the obscure ones). Units: pct (a fraction shown
# as %), ratio, money (quote currency), int, hours, days, qty.
METRICS: dict[str, tuple[str, str, str]] = {
    "total_return": ("Total return", "pct", "on the account equity at the start"),
    "return_on_budget": ("Return on grid budget", "pct",
                         "PnL / the grid's budget (trading.capital), as a Bybit grid bot shows"),
    "return_on_account": ("Return on account", "pct",
                          "PnL / the account equity at the start (backtest.account_equity)"),
    "annualized_return": ("Annualized return (CAGR)", "pct",
                          "total return compounded to a 365-day year"),
    "avg_daily_return": ("Average daily return", "pct", ""),
    "sharpe": ("Sharpe ratio (annualized)", "ratio", "mean / std of daily returns x sqrt(365)"),
    "sortino": ("Sortino ratio (annualized)", "ratio",
                "like Sharpe, only losing days count as risk"),
    "calmar": ("Calmar ratio", "ratio", "annualized return / max drawdown"),
    "max_drawdown": ("Max drawdown", "pct",
                     "largest fall of the account's equity from a running peak"),
    "max_dd_duration_h": ("Longest drawdown", "hours", "from a peak to the next new peak"),
    "final_equity": ("Final equity", "money", ""),
    "pnl": ("Profit and loss", "money", ""),
    "grid_profit": ("Grid profit", "money", "profit of completed buy/sell round trips"),
    "inventory_pnl": ("Inventory PnL", "money",
                      "realized + unrealized - grid profit: the cost of holding the position"),
    "realized": ("Realized PnL", "money", ""),
    "unrealized": ("Unrealized PnL", "money", "open position marked at the last price"),
    "fees": ("Fees paid", "money", ""),
    "funding": ("Funding", "money", "funding payments; negative = paid"),
    "turnover": ("Turnover", "money", "traded notional"),
    "n_round_trips": ("Round trips", "int", "a buy and its sell (or sell and buy) both filled"),
    "n_fills": ("Fills", "int", ""),
    "n_limit_fills": ("Limit fills", "int", "fills of resting limit orders (maker)"),
    "n_late_fills": ("Late fills", "int", "filled while the cancel was still in flight"),
    "n_rejected_post_only": ("PostOnly rejects", "int",
                             "orders cancelled on arrival: they would have taken liquidity"),
    "n_blocked": ("Blocked order requests", "int",
                  "refused by the risk checks: exposure cap or margin; each retry counts"),
    "n_kill_switch": ("Kill-switch trips", "int", "trading halted by the loss limit"),
    "stop_code": ("Stop code", "int", ""),
    "n_recenters": ("Recenters", "int", "grid rebuilds after the initial one"),
    "time_at_max_exposure": ("Time at max exposure", "pct",
                             "share of the run with every level of one side filled"),
    "position": ("Final position", "qty", ""),
    "n_empty_builds": ("Empty grid builds", "int", "rebuilds with no valid level"),
    "days": ("Days", "days", ""),
    "n_events": ("Events", "int", "trades or bars replayed"),
    "stop": ("Stopped by", "text", ""),
    "n_liquidations": ("Liquidations", "int",
                       "backtest.margin: the mark crossed the liquidation price (stops the grid)"),
    "liquidated": ("Liquidated", "text", ""),
    "liq_ts": ("Liquidated at", "time", ""),
    "liq_loss": ("Liquidation loss", "money", "the margin lost at the bankruptcy price"),
    "n_margin_refused": ("Orders refused for margin", "int",
                         "the margin could not carry them (Bybit 110007)"),
    # grid builds by reason (the CLI shows them as one line; the report row by row)
    "rc_initial": ("Builds: initial", "int", ""),
    "rc_deviation": ("Recenters: price left the range (deviation)", "int", ""),
    "rc_time": ("Recenters: grid too old (time)", "int", ""),
    "rc_dominance": ("Recenters: closes on one side (dominance)", "int", ""),
    "rc_pump_dump": ("Recenters: pump / dump", "int", ""),
    "rc_trail_up": ("Recenters: trailing up", "int", ""),
    "rc_trail_down": ("Recenters: trailing down", "int", ""),
    "rc_kill": ("Rebuilds after a kill switch", "int", ""),
    "rc_manual": ("Manual rebuilds", "int", ""),
    "rc_none": ("Checks without a recenter", "int", ""),
}
"""The one table of metric names (the CLI here, the HTML report through
gridlab.research.report.METRIC_LABELS)."""

_RC_PREFIX = "rc_"


def _value(unit: str, v: Any) -> str:
    if isinstance(v, str) or v is None:
        return "-" if v is None else v
    if unit == "text":  # a flag (liquidated) as yes / no
        return "yes" if bool(v) else "no"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(f):
        return "n/a"
    if unit == "pct":
        return pct(f)
    if unit == "time":
        return utc_iso(f) if f > 0 else "-"
    if unit == "int":
        return f"{int(f):,}"
    if unit == "hours":
        return f"{f:,.1f} h"
    if unit == "days":
        return f"{f:,.2f}"
    if unit == "ratio":
        return f"{f:.3f}"
    if unit == "money":
        return f"{f:,.2f}"
    return f"{f:,.6g}"


def metric_lines(metrics: Mapping[str, Any], explain: bool = True) -> list[str]:
    """Metrics as 'Human name  key  value  (what it means)' lines (the key is what --sort and
    --objective take); the rc_* counts become one 'grid builds by reason' line."""
    width = max(len(label) for key, (label, _, _) in METRICS.items()
                if not key.startswith(_RC_PREFIX))
    kw = max([len(k) for k in metrics if not k.startswith(_RC_PREFIX)] + [4])
    lines = []
    order = {k: i for i, k in enumerate(METRICS)}
    for key in sorted(metrics, key=lambda k: order.get(k, len(order))):
        v = metrics[key]
        if key.startswith(_RC_PREFIX):
            continue
        label, unit, note = METRICS.get(key, (key, "", ""))
        text = _value(unit, v)
        extra = f"  ({note})" if explain and note else ""
        lines.append(f"{label:<{width}}  {key:<{kw}}  {text:>12}{extra}")
    rc = {k[len(_RC_PREFIX):]: int(v) for k, v in metrics.items()
          if k.startswith(_RC_PREFIX) and _finite(v) and int(v)}
    if any(k.startswith(_RC_PREFIX) for k in metrics):
        by = ", ".join(f"{k.replace('_', ' ')} {n:,}" for k, n in rc.items()) or "none"
        lines.append(f"{'Grid builds by reason':<{width}}  {'rc_*':<{kw}}  {by}"
                     + ("  (the initial build and each recenter, by trigger)"
                        if explain else ""))
    return lines


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _flatten(d: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            yield from _flatten(v, key + ".")
        else:
            yield key, v


def params_lines(params: Mapping[str, Any]) -> list[str]:
    """A nested parameter dict as an aligned 'section.key  value' table, every row shown."""
    rows = list(_flatten(params))
    if not rows:
        return ["(no parameters)"]
    width = max(len(k) for k, _ in rows)
    return [f"  {k:<{width}}  {json.dumps(v, default=str) if not isinstance(v, str) else v}"
            for k, v in rows]


def output_format(as_json: bool, as_csv: bool) -> str:
    """'json', 'csv' or 'table'; both flags at once is a usage error (exit 2)."""
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv", param_hint="--json/--csv")
    return "json" if as_json else "csv" if as_csv else "table"


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        with contextlib.suppress(TypeError, ValueError):
            v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def metric_unit(name: str) -> str:
    """Unit of a metric column, also with an is_/oos_/mean_ prefix ('' if not a metric)."""
    for prefix in ("", "is_", "oos_", "mean_is_", "mean_oos_", "mean_"):
        if name.startswith(prefix) and name[len(prefix):] in METRICS:
            return METRICS[name[len(prefix):]][1]
    return ""


def format_value(name: str, value: Any) -> str:
    """One value as the tables show it (percent for ratios, thousands separators...)."""
    return _value(metric_unit(name), value)


def _is_time(col: str) -> bool:
    return col in _TIME_COLUMNS or col.endswith("_at")


def emit_records(records: Any, fmt: str, empty: str = "nothing to show") -> None:
    """Print a DataFrame (or list of dicts): aligned table, JSON array or CSV.

    Time columns (ts, *_ms, *_at, start/end...) in epoch ms become UTC ISO strings, a `side`
    column becomes buy/sell, in every format.
    """
    import pandas as pd

    df = records.copy() if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    for col in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            df[col] = [utc_iso(int(v.value // 1_000_000)) if not pd.isna(v) else "-"
                       for v in df[col]]
        elif str(col).endswith("_ranges"):  # [(start_ms, end_ms), ...]
            df[col] = [[[utc_iso(a), utc_iso(b)] for a, b in (v or [])] for v in df[col]]
        elif _is_time(str(col)) and pd.api.types.is_numeric_dtype(df[col]):
            df[col] = [utc_iso(v) if _finite(v) else "-" for v in df[col]]
        elif str(col) == "side":
            df[col] = [side_name(v) for v in df[col]]
        elif fmt == "table" and metric_unit(str(col)):
            unit = metric_unit(str(col))
            df[col] = [_value(unit, v) for v in df[col]]
        elif fmt == "table" and pd.api.types.is_float_dtype(df[col]):
            df[col] = [f"{v:.6g}" if _finite(v) else "n/a" for v in df[col]]
    df = df.rename(columns={c: _RENAME[c] for c in df.columns if c in _RENAME
                            and _RENAME[c] not in df.columns})
    if fmt == "json":
        rows = [{str(k): _jsonable(v) for k, v in r.items()} for r in df.to_dict("records")]
        typer.echo(json.dumps(rows, indent=1, default=str))
    elif fmt == "csv":
        typer.echo(df.to_csv(index=False).rstrip("\n"))
    else:
        emit_table(df, empty)


def emit_table(df: Any, empty: str = "nothing to show") -> None:
    """An aligned text table, never cut by pandas ('...'): all rows and columns."""
    import pandas as pd

    if len(df) == 0:
        typer.echo(empty)
        return
    with pd.option_context("display.width", 250, "display.max_columns", None,
                           "display.max_rows", None, "display.max_colwidth", 60):
        typer.echo(df.to_string(index=False))
