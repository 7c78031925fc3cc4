"""Model error of a kline backtest: how far it lands from the trade replay of the same span.

A kline replay walks each bar along a fixed intra-bar path (docs/strategy-kernels.md), so it
misses fills the trades would have made and invents an order of events; the only honest
measure of that error is the trade replay of the same span with the same parameters. When the
store holds trades covering the kline run's span, `kline_model_error` runs that replay
(metrics only, no tables) and returns the differences of the figures a grid trader ranks by;
otherwise nothing is replayed and `no_trades_line` says so.

It lives here, next to the engine, because `gridlab backtest` prints it and stores it with the
run (`backtest_runs.params` JSON, key `model_error`); `gridlab.research.model_error` is the
same module for notebooks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gridlab.errors import DataError

if TYPE_CHECKING:  # the engine is imported by the functions that replay (a cheap import)
    import pandas as pd

    from gridlab.backtest.results import BacktestResult

__all__ = [
    "COVER_SLACK_MS",
    "HEADLINE",
    "MODEL_ERROR_KEY",
    "MODEL_ERROR_METRICS",
    "ModelError",
    "backtest_with_model_error",
    "compare_runs",
    "is_kline_run",
    "kline_model_error",
    "model_error_payload",
    "no_trades_line",
    "payload_lines",
    "trades_cover",
]

MODEL_ERROR_METRICS = ("n_limit_fills", "n_round_trips", "grid_profit", "fees", "funding", "pnl",
                       "total_return", "max_drawdown")
"""The figures compared: fills, round trips, grid profit, costs, PnL, return, drawdown."""
HEADLINE = (("n_limit_fills", "fills"), ("grid_profit", "grid profit"), ("pnl", "PnL"))
"""The figures printed by `gridlab backtest` (metric, name)."""
MODEL_ERROR_KEY = "model_error"
"""Key of the model error in a stored run's params JSON (next to `config` and `data`)."""
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

    def lines(self) -> list[str]:
        """What `gridlab backtest` prints: a header and one line per HEADLINE figure, the
        kline run, the trade replay, their difference absolute and in percent."""
        t = self.table.set_index("metric")
        out = [f"model error (kline {self.kline_source} vs trade replay of the same span):"]
        for key, name in HEADLINE:
            r = t.loc[key]
            fmt = "{:,.0f}" if key.startswith("n_") else "{:,.2f}"
            diff = ("{:+,.0f}" if key.startswith("n_") else "{:+,.2f}").format(r["diff"])
            out.append(f"  {name:<12} klines {fmt.format(r['klines']):>12}  trades "
                       f"{fmt.format(r['trades']):>12}  diff {diff:>12} ({_pct(r['diff_pct'])})")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (NaN -> None): what is stored with the run and printed by --json."""
        rows = {r["metric"]: {k: _num(r[k]) for k in ("klines", "trades", "diff", "diff_pct")}
                for r in self.table.to_dict("records")}
        return {"compared": True, "vs": "trades", "kline_source": self.kline_source,
                "start_ms": self.start_ms, "end_ms": self.end_ms, "metrics": rows}


def _num(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(float(x)) else f"{x:+.2%}"


def is_kline_run(run: BacktestResult) -> bool:
    """True for a run that replayed klines (the runs that have a model error)."""
    return str(run.data.get("source")) != "trades"


def trades_cover(store: Any, symbol: str, category: str, start_ms: int, end_ms: int) -> bool:
    """True when the store's trades of `symbol` cover start_ms .. end_ms (COVER_SLACK_MS of
    slack at either end): only then is a kline run compared with a trade replay."""
    from gridlab.store.market import trade_span

    span = trade_span(store, symbol, category)
    return not (span is None or span[0] > start_ms + COVER_SLACK_MS
                or span[1] < end_ms - COVER_SLACK_MS)


def no_trades_line(run: BacktestResult | dict[str, Any]) -> str:
    """The one line printed when no stored trades cover a kline run's span (`run`: the run or
    its `data` dict)."""
    from gridlab.fmt import utc_iso

    d = run if isinstance(run, dict) else run.data
    return (f"model error: no stored {d['symbol']} trades cover {utc_iso(int(d['start_ms']))} .. "
            f"{utc_iso(int(d['end_ms']) - 1)}; not compared with a trade replay")


def compare_runs(kline_run: BacktestResult, trade_run: BacktestResult) -> pd.DataFrame:
    """The MODEL_ERROR_METRICS of two runs side by side with their differences."""
    import pandas as pd

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
    """Replay the trades of `kline_run`'s span and compare; None when the store's trades do not
    cover that span (then nothing is replayed). The replay uses the run's own effective
    parameters (`kline_run.params`) unless `config` is given; `profile` and `overrides` are
    applied on top, as in `backtest`."""
    from gridlab.backtest.data import load_market
    from gridlab.backtest.engine import backtest
    data = kline_run.data
    if not is_kline_run(kline_run):
        raise DataError("model error compares a kline run with the trade replay; this run "
                        "already replays trades", "pass the result of a kline backtest")
    symbol, category = data["symbol"], data["category"]
    start, end = int(data["start_ms"]), int(data["end_ms"])
    if not trades_cover(store, symbol, category, start, end):
        return None
    trades = load_market(store, symbol, category, "trades", start, end)
    base = kline_run.params if config is None else config
    trade_run = backtest(trades, base, profile, record=False, **overrides)
    return ModelError(compare_runs(kline_run, trade_run), start, end, str(data.get("source")))


def model_error_payload(store: Any, run: BacktestResult) -> dict[str, Any] | None:
    """The model error of `run` as stored with it: `ModelError.to_dict()`, or
    `{"compared": False, "reason": <no_trades_line>}` when no stored trades cover its span;
    None for a trade run (it has no model error)."""
    if not is_kline_run(run):
        return None
    err = kline_model_error(store, run)
    return err.to_dict() if err is not None else {"compared": False,
                                                  "reason": no_trades_line(run)}


def payload_lines(payload: dict[str, Any] | None) -> list[str]:
    """The terminal lines of a stored / computed payload (none for a trade run)."""
    if payload is None:
        return []
    if not payload.get("compared"):
        return [str(payload["reason"])]
    import pandas as pd

    m = payload["metrics"]
    table = pd.DataFrame([{"metric": k, **{c: (float("nan") if v is None else v)
                                            for c, v in m[k].items()}} for k in m])
    err = ModelError(table, int(payload["start_ms"]), int(payload["end_ms"]),
                     str(payload["kline_source"]))
    return err.lines()


def backtest_with_model_error(store: Any, data: Any, config: Any = None,
                              profile: str | None = None, *, save: bool = False,
                              record: bool = True, model_error: bool = True, **overrides: Any
                              ) -> tuple[BacktestResult, dict[str, Any] | None]:
    """`backtest` plus, for a kline run with `model_error` on, its model error (the trade
    replay runs only when stored trades cover the span). With `save` the run is stored with
    the model error (params JSON, key MODEL_ERROR_KEY) in one transaction."""
    from gridlab.backtest.engine import backtest
    from gridlab.backtest.results import code_version
    from gridlab.store.runs import save_run

    res = backtest(data, config, profile, record=record, **overrides)
    payload = model_error_payload(store, res) if model_error else None
    if save:
        res.run_id = save_run(store, res, code=code_version(),
                              extra={MODEL_ERROR_KEY: payload} if payload else None)
    return res, payload
