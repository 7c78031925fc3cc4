"""`backtest(...)`: one run of the numba engine, as a BacktestResult."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import numpy as np

from gridlab.backtest.data import MarketData, fmt_ms
from gridlab.backtest.engine_nb import n_days_nb, run_nb, run_state_nb
from gridlab.backtest.enums import (
    EQUITY_DTYPE,
    FILL_DTYPE,
    LEVEL_DTYPE,
    N_SUMMARY,
    RECENTER_DTYPE,
    FillKind,
    Sum,
)
from gridlab.backtest.metrics import annualization_warning, budget_returns, metrics_table
from gridlab.backtest.params import (
    RunParams,
    check_grid,
    effective_config,
    margin_tiers,
    run_params,
)
from gridlab.backtest.results import BacktestResult
from gridlab.backtest.start import StartState, fresh_state, resume_state
from gridlab.backtest.state_nb import check_capacity
from gridlab.errors import DataError
from gridlab.strategy.enums import Reason, Stop, name_of

__all__ = ["MAX_LEVEL_ROWS", "MAX_RECENTERS", "RunArrays", "RunOutcome", "backtest",
           "data_info", "margin_warnings", "run_arrays", "run_backtest"]

_FILL_KINDS = {v: k.lower() for k, v in zip(FillKind._fields, FillKind, strict=True)}
_REASONS = {v: k.lower() for k, v in zip(Reason._fields, Reason, strict=True)}
_FILLS_START = 65_536
MAX_RECENTERS = 20_000
"""Recorded (re)builds of one run; more are counted (metrics n_recenters) with a warning."""
MAX_LEVEL_ROWS = 1_000_000
"""Recorded grid level rows of one run (levels of each recorded build)."""


class RunArrays(NamedTuple):
    """What one kernel run wrote: record arrays trimmed to their counts, and the counts
    (`n_recenters` / `n_levels` may exceed the recorded rows: bounded, see MAX_*)."""

    fills: np.ndarray
    equity: np.ndarray
    daily: np.ndarray
    summary: np.ndarray
    recenters: np.ndarray
    levels: np.ndarray
    n_recenters: int
    n_levels: int
    state: StartState | None = None
    """the grid's state after the last event (with `keep_state` or `initial_state`)"""


def run_arrays(data: MarketData, rp: RunParams, funding: bool = True, *,
               initial_state: StartState | None = None, keep_state: bool = False
               ) -> RunArrays:
    """Run the kernel; returns its fills, equity, daily closing equity, summary, (re)builds and
    grid levels (the record arrays are empty when `rp.ep.record` is off). Refuses a grid the
    kernel's state cannot hold (ConfigError naming the field) before the kernel runs.

    `initial_state`: start from that grid state instead of flat (gridlab.backtest.start; the
    state given is not changed); `keep_state`: also return the state after the last event."""
    check_capacity(rp.gp.n_buy, rp.gp.n_sell)
    if initial_state is not None:
        if not isinstance(initial_state, StartState):
            raise DataError(f"initial_state must be a StartState (got "
                            f"{type(initial_state).__name__})",
                            "pass a result's final_state (backtest(..., keep_state=True)) or "
                            "gridlab.backtest.start.state_from_snapshot(...)")
        n = rp.gp.n_buy + rp.gp.n_sell
        if initial_state.arrays.slots.shape[0] != n:
            raise DataError(f"the initial state holds {initial_state.arrays.slots.shape[0]} "
                            f"slots, the run's grid {n}",
                            "start from a state of a grid with the same n_buy + n_sell")
    if funding:
        fts, frate = data.funding_in_run()
    else:
        fts, frate = np.zeros(0, np.int64), np.zeros(0, np.float64)
    first, last = int(data.ts[0]), int(data.ts[-1])
    n_eq = ((last - first) // rp.ep.equity_ms + 3) if rp.ep.record else 0
    daily = np.zeros(n_days_nb(first, last), np.float64)
    summary = np.zeros(N_SUMMARY, np.float64)
    cap = min(_FILLS_START, 4 * data.n_events + 64) if rp.ep.record else 0
    n_rc = 0
    n_lv = 0
    if rp.ep.record:  # at most one (re)build per check
        n_rc = min(MAX_RECENTERS, (last - first) // rp.ep.check_ms + 2)
        n_lv = min(MAX_LEVEL_ROWS, n_rc * (rp.gp.n_buy + rp.gp.n_sell + 1))
    recenters = np.zeros(n_rc, RECENTER_DTYPE)
    levels = np.zeros(n_lv, LEVEL_DTYPE)
    while True:
        fills = np.zeros(cap, FILL_DTYPE)
        equity = np.zeros(n_eq, EQUITY_DTYPE)
        state = None
        if initial_state is None and not keep_state:
            nf, ne, nr, nl = run_nb(data.ts, data.price, data.size, fts, frate, rp.gp, rp.f,
                                    rp.rp, rp.rk, rp.ep, fills, equity, recenters, levels,
                                    daily, summary)
        else:
            state = (resume_state(initial_state, first) if initial_state is not None else
                     fresh_state(rp.gp, rp.rp, rp.ep.capital, _eps(rp), first,
                                 float(data.price[0]), rp.ep.record))
            nf, ne, nr, nl = run_state_nb(state.rec, state.arrays, data.ts, data.price,
                                          data.size, fts, frate, rp.gp, rp.f, rp.rp, rp.rk,
                                          rp.ep, fills, equity, recenters, levels, daily,
                                          summary)
        if nf <= cap or not rp.ep.record:
            break
        cap = int(nf)  # deterministic: the second run writes every fill
    return RunArrays(fills[:nf] if rp.ep.record else fills, equity[:ne], daily, summary,
                     recenters[:nr], levels[:nl], int(nr), int(nl), state)


def _eps(rp: RunParams) -> float:
    """The position snap tolerance of a run (as `run_blocks_nb`)."""
    return rp.f.qty_step * 1e-6 if rp.f.qty_step > 0.0 else 1e-12


def margin_warnings(cfg: Any, tiers: Any, metrics: dict[str, Any], marked: bool = False
                    ) -> list[str]:
    """What a run with the margin model must say: the mark used, the liquidation."""
    if tiers is None:
        return []
    mark = ("the mark-price series" if marked else
            "the last trade as the mark price (no mark-price series: gridlab ingest mark-klines)")
    out = [f"margin {cfg.backtest.margin} at {cfg.trading.leverage:g}x with {tiers.symbol}'s "
           f"risk-limit tiers, liquidation checked against {mark}"]
    if metrics["n_liquidations"]:
        out.append(f"LIQUIDATED at {fmt_ms(int(metrics['liq_ts']))}: margin lost "
                   f"{metrics['liq_loss']:,.2f}")
    return out


def data_info(data: MarketData) -> dict[str, Any]:
    """What identifies the replayed data (stored with the run)."""
    return {"symbol": data.symbol, "category": data.category, "source": data.source,
            "start_ms": data.start_ms, "end_ms": data.end_ms, "n_events": data.n_events,
            "filters": data.filters._asdict(), "instruments": data.instruments}


class RunOutcome(NamedTuple):
    """One run before any table is built (no pandas): the effective config, the kernel
    parameters, what the kernel wrote, the metrics and the warnings."""

    cfg: Any
    rp: RunParams
    out: RunArrays
    metrics: dict[str, Any]
    warnings: list[str]
    elapsed_s: float


def run_backtest(data: MarketData, config: Any = None, profile: str | None = None, *,
                 record: bool = True, initial_state: StartState | None = None,
                 keep_state: bool = False, **overrides: Any) -> RunOutcome:
    """The run behind `backtest`, up to the metrics and warnings (numpy only: what the CLI
    needs when nothing is stored or written, without importing pandas)."""
    if not isinstance(data, MarketData):
        raise DataError(f"data must be a MarketData (got {type(data).__name__})",
                        "use load_market(store, ...) or MarketData.from_trades/from_klines")
    t0 = time.perf_counter()
    cfg = effective_config(config, profile, overrides)
    tiers = margin_tiers(cfg, data.symbol, getattr(data, "risk_tiers", None))
    rp = run_params(cfg, data.filters, data.category, trades=data.bar_ms == 0, record=record,
                    tiers=tiers)
    if tiers is not None and len(data.mark_px):
        rp = rp._replace(ep=rp.ep._replace(mark_ts=data.mark_ts, mark_px=data.mark_px))
    check_grid(rp, float(data.price[0]))
    out = run_arrays(data, rp, funding=cfg.backtest.funding, initial_state=initial_state,
                     keep_state=keep_state)
    summary, daily = out.summary, out.daily
    budget, account = rp.ep.capital, rp.ep.account
    metrics = {k: v[0].item() for k, v in
               metrics_table(summary[None, :], daily[None, :], np.array([account])).items()}
    metrics.update({k: v.item() for k, v in budget_returns(metrics["pnl"], budget,
                                                           account).items()})
    metrics["stop"] = name_of(Stop, int(metrics["stop_code"]))
    warnings = list(data.warnings)
    if cfg.backtest.funding:
        warnings.extend(data.funding_warnings())
    if metrics["n_empty_builds"]:
        warnings.append(f"{metrics['n_empty_builds']} recenter(s) built a grid with no valid "
                        "level (the run traded nothing until the next recenter)")
    if record and out.n_recenters > len(out.recenters):
        warnings.append(f"recorded the first {len(out.recenters):,} of {out.n_recenters:,} grid "
                        "(re)builds; the metrics count them all")
    if record and out.n_levels > len(out.levels):
        warnings.append(f"recorded the first {len(out.levels):,} of {out.n_levels:,} grid level "
                        "rows (the levels of the later builds are missing)")
    if metrics["stop_code"]:
        stop_at = fmt_ms(int(summary[Sum.STOP_TS]))
        warnings.append(f"trading stopped at {stop_at}: {metrics['stop']}")
    warnings.extend(margin_warnings(cfg, tiers, metrics, bool(len(rp.ep.mark_px))))
    short_window = annualization_warning(metrics["days"])
    if short_window:
        warnings.append(short_window)
    return RunOutcome(cfg, rp, out, metrics, warnings, time.perf_counter() - t0)


def backtest(data: MarketData, config: Any = None, profile: str | None = None, *,
             record: bool = True, store: Any = None, initial_state: StartState | None = None,
             keep_state: bool = False, **overrides: Any) -> BacktestResult:
    """Backtest one parameter set on `data`.

    `config`: GridlabConfig, dict, YAML path or None (defaults); `profile`: a profile name
    (default: the config's); `overrides`: config paths or unique suffixes, e.g.
    `spacing=0.002, n_buy=8, fill_model='touch', latency_ms=200, capital=5000`.
    `capital` (trading.capital) is the grid budget that sizes the orders; `account_equity`
    (backtest.account_equity, default the budget) is where the equity curve starts; the metrics
    carry `return_on_budget` and `return_on_account` (see gridlab.backtest.metrics).
    `record=False` skips the fills/equity/recenters/levels tables (metrics only). With `store`
    the run is saved (tables backtest_runs/fills/equity/recenters/levels) and `run_id` is set.

    `initial_state` (a `gridlab.backtest.start.StartState`): start from that grid state (a
    position, a grid and its resting orders, the ledger so far, the check clock) instead of
    flat; the metrics count this run's events (the ledger's totals include what the state
    held). `keep_state`: `final_state` of the result is the state after the last event (to
    start another run from).
    """
    import pandas as pd

    t0 = time.perf_counter()
    cfg, rp, out, metrics, warnings, _ = run_backtest(data, config, profile, record=record,
                                                        initial_state=initial_state,
                                                        keep_state=keep_state, **overrides)
    daily = out.daily
    eq_df = pd.DataFrame(out.equity)
    budget, account = rp.ep.capital, rp.ep.account
    eq_df["cash"] += account - budget  # the account's quote cash (the grid's cash + the rest)
    fills_df = rc_df = lv_df = None
    if record:
        fills_df = pd.DataFrame(out.fills)
        fills_df["kind"] = fills_df["kind"].map(_FILL_KINDS)
        rc_df = pd.DataFrame(out.recenters)
        rc_df["reason"] = rc_df["reason"].map(_REASONS)
        lv_df = pd.DataFrame(out.levels)
    liq_df = None
    if record and rp.ep.margin:  # after the run, from its equity samples (not in the kernel)
        from gridlab.backtest.liq_line_nb import liquidation_line

        liq, mark = liquidation_line(out.equity, rp.ep)
        liq_df = pd.DataFrame({"ts": out.equity["ts"], "mark": mark, "liq_price": liq})
    first_day = int(data.ts[0]) // 86_400_000
    daily_s = pd.Series(daily, index=pd.to_datetime(
        (first_day + np.arange(len(daily))) * 86_400_000, unit="ms", utc=True),
        name="equity")
    params = cfg.model_dump(mode="json", exclude={"profiles", "data", "exchange"})
    params["backtest"]["account_equity"] = account  # budget (trading.capital) and account
    res = BacktestResult(metrics=metrics, equity=eq_df, fills=fills_df, daily=daily_s,
                         params=params, data=data_info(data), summary=out.summary,
                         warnings=warnings, elapsed_s=time.perf_counter() - t0,
                         recenters=rc_df, levels=lv_df, final_state=out.state,
                         liquidation=liq_df)
    if store is not None:
        from gridlab.backtest.results import code_version
        from gridlab.store.runs import save_run

        res.run_id = save_run(store, res, code=code_version())
    return res
