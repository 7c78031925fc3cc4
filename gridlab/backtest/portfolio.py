"""`backtest_portfolio(...)`: several grids from one account in one replay (config `portfolio`).

Each symbol of `config.portfolio.symbols` is a grid with its own effective config: its profile
(or the portfolio's, or the config's), then the overrides, with `trading.capital = allocation x
portfolio.capital` and its leverage (spot: 1). The kernel (`portfolio_nb.run_portfolio_nb`)
merges the symbols' events on one time axis and runs every grid exactly as the single-symbol
engine does, plus the account-level limits of the `portfolio` section (total exposure cap,
per-symbol share, daily drawdown kill switch on total equity). With the limits off (or never
binding) each grid's fills and metrics equal its single `backtest` run and total equity is
`portfolio.capital + sum of the grids' PnL`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridlab.backtest.data import MarketData, fmt_ms
from gridlab.backtest.engine import (
    _FILL_KINDS,
    _REASONS,
    MAX_LEVEL_ROWS,
    MAX_RECENTERS,
    data_info,
)
from gridlab.backtest.engine_nb import n_days_nb
from gridlab.backtest.enums import (
    EQUITY_DTYPE,
    FILL_DTYPE,
    LEVEL_DTYPE,
    N_SUMMARY,
    RECENTER_DTYPE,
    Sum,
)
from gridlab.backtest.metrics import METRIC_COLUMNS, metrics_table
from gridlab.backtest.params import (
    RunParams,
    check_grid,
    coerce_config,
    effective_config,
    run_params,
)
from gridlab.backtest.portfolio_nb import ACCOUNT_ROW_DTYPE, merge_streams_nb, run_portfolio_nb
from gridlab.backtest.portfolio_sweep_nb import (
    N_TOTAL,
    PortfolioMarket,
    PortfolioOut,
    PortfolioRows,
    run_portfolio_chunk,
    slice_rows,
)
from gridlab.backtest.sweep_nb import rows_of
from gridlab.config import GridlabConfig
from gridlab.errors import ConfigError, DataError
from gridlab.strategy.enums import Stop, name_of

__all__ = ["PORTFOLIO_KEYS", "PortfolioResult", "backtest_portfolio", "portfolio_inputs",
           "sweep_portfolio"]

PORTFOLIO_KEYS = ("capital", "max_total_exposure_pct", "max_symbol_share", "kill_switch_dd",
                  "allocations")
"""Portfolio-level overrides: `portfolio.<key>=...` (`allocations`: one value per symbol)."""

_FILLS_START = 65_536
_SCAN_MAX = 12  # streams merged by merge_streams_nb's scan (measured: 90 ms at 8 streams of
#                 interleaved trades, 6M events, the sort 130 ms; 200 / 155 ms at 20)


@dataclass
class PortfolioResult:
    """A portfolio run. `metrics`: one row per symbol (index 'symbol', same columns as a single
    run) and `total` (the account's metrics: return on portfolio capital, total drawdown, sums
    of the counts). `equity`: per-symbol equity points (dict symbol -> DataFrame, as
    `BacktestResult.equity`); `total_equity`: ts, equity, exposure, worst at every account check;
    `daily`: closing equity per UTC day, a column per symbol plus 'total'; `correlation`: the
    correlation matrix of the symbols' daily PnL; `fills` / `recenters` / `levels`: dict
    symbol -> DataFrame (None with record=False); `data`: what identifies each symbol's replayed
    data; `run_id` once stored (`store=`)."""

    metrics: pd.DataFrame
    total: dict[str, Any]
    equity: dict[str, pd.DataFrame]
    total_equity: pd.DataFrame
    daily: pd.DataFrame
    correlation: pd.DataFrame
    fills: dict[str, pd.DataFrame] | None
    recenters: dict[str, pd.DataFrame] | None
    levels: dict[str, pd.DataFrame] | None
    params: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_id: str | None = None

    @property
    def symbols(self) -> list[str]:
        return list(self.metrics.index)

    def __repr__(self) -> str:
        t = self.total
        return (f"PortfolioResult({len(self.metrics)} symbols, return {t['total_return']:.4%}, "
                f"max DD {t['max_drawdown']:.2%}, {t['n_round_trips']} round trips, "
                f"stop {t['stop']})")


@dataclass
class _Inputs:
    keys: list[str]          # symbol names (as the config lists them)
    datas: list[MarketData]
    runs: list[RunParams]
    cfgs: list[GridlabConfig]
    capital: float
    max_exp: float
    max_share: float
    kill_dd: float
    check_ms: int
    funding: bool


def _datas_by_symbol(datas: Any) -> dict[str, MarketData]:
    if isinstance(datas, MarketData):
        datas = [datas]
    if isinstance(datas, dict):
        items = list(datas.items())
    elif isinstance(datas, Sequence):
        items = [(getattr(d, "symbol", None), d) for d in datas]
    else:
        raise DataError(f"datas must be a dict symbol -> MarketData or a list of MarketData "
                        f"(got {type(datas).__name__})", "pass {'BTCUSDT': data, ...}")
    out: dict[str, MarketData] = {}
    for key, d in items:
        if not isinstance(d, MarketData):
            raise DataError(f"data of {key!r} must be a MarketData (got {type(d).__name__})",
                            "use load_market(store, ...) or MarketData.from_trades/from_klines")
        if key in out:
            raise DataError(f"two data sets for {key!r}", "pass one MarketData per symbol")
        out[str(key)] = d
    return out


def portfolio_inputs(datas: Any, config: Any = None, profile: str | None = None,
                     **overrides: Any) -> _Inputs:
    """Validate the config's portfolio against the data; per-symbol kernel parameters."""
    cfg = coerce_config(config)
    pf_over = {k.split(".", 1)[1]: v for k, v in overrides.items()
               if k.startswith("portfolio.")}
    grid_over = {k: v for k, v in overrides.items() if not k.startswith("portfolio.")}
    unknown = sorted(set(pf_over) - set(PORTFOLIO_KEYS))
    if unknown:
        raise ConfigError(f"unknown portfolio parameter(s) {', '.join(unknown)}",
                          "use portfolio." + ", portfolio.".join(PORTFOLIO_KEYS))
    pf = cfg.portfolio
    if pf is None or not pf.symbols:
        raise ConfigError("the config has no portfolio symbols",
                          "add a portfolio section: symbols [{symbol, category, allocation}], "
                          "capital (see gridlab/config/portfolio.py)")
    raw = pf.model_dump(mode="json")
    if "allocations" in pf_over:
        alloc = list(pf_over.pop("allocations"))
        if len(alloc) != len(raw["symbols"]):
            raise ConfigError(f"portfolio.allocations has {len(alloc)} values for "
                              f"{len(raw['symbols'])} symbols",
                              "give one allocation per portfolio symbol, in config order")
        for s, a in zip(raw["symbols"], alloc, strict=True):
            s["allocation"] = float(a)
    raw.update({k: v.item() if isinstance(v, np.generic) else v for k, v in pf_over.items()})
    from pydantic import ValidationError

    from gridlab.config.portfolio import PortfolioConfig

    try:
        pf = PortfolioConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"portfolio: {'.'.join(map(str, err['loc']))}: {err['msg']}",
                          "fix the portfolio section or the portfolio.* overrides") from None
    by_sym = _datas_by_symbol(datas)
    if not by_sym:
        raise DataError("no market data given", "pass one MarketData per portfolio symbol")
    keys, ds, runs, cfgs = [], [], [], []
    names = [s.symbol for s in pf.symbols]
    extra = sorted(set(by_sym) - set(names) - {f"{s.symbol}/{s.category}" for s in pf.symbols})
    if extra:
        raise DataError(f"data given for {', '.join(extra)}, not in portfolio.symbols "
                        f"({', '.join(names)})", "add them to the portfolio or drop the data")
    check_ms = None
    funding = None
    for s in pf.symbols:
        key = f"{s.symbol}/{s.category}" if f"{s.symbol}/{s.category}" in by_sym else s.symbol
        d = by_sym.get(key)
        if d is None:
            raise DataError(f"no market data for portfolio symbol {s.symbol} ({s.category})",
                            f"pass data for every symbol: {', '.join(names)}")
        if d.category != s.category:
            raise DataError(f"data of {s.symbol} is {d.category}, the portfolio trades it as "
                            f"{s.category}", "load the data of the configured category")
        lev = s.leverage if s.category == "linear" else 1.0
        prof = s.profile or pf.profile or cfg.profile
        over = {**grid_over, "trading.capital": s.allocation * pf.capital,
                "trading.leverage": lev, "trading.symbol": s.symbol,
                "trading.category": s.category}
        c = effective_config(cfg, prof, over)
        if c.backtest.margin != "off":  # one account's cross margin spans the grids
            raise ConfigError(f"backtest.margin={c.backtest.margin} is not modelled in "
                              "portfolio runs yet", "set backtest.margin: off, or backtest "
                              "each symbol on its own")
        rp = run_params(c, d.filters, d.category, trades=d.bar_ms == 0, record=True)
        check_grid(rp, float(d.price[0]))
        if check_ms is None:
            check_ms, funding = int(c.backtest.check_interval_ms), bool(c.backtest.funding)
        keys.append(s.symbol)
        ds.append(d)
        runs.append(rp)
        cfgs.append(c)
    return _Inputs(keys, ds, runs, cfgs, float(pf.capital), float(pf.max_total_exposure_pct),
                   float(pf.max_symbol_share), float(pf.kill_switch_dd), int(check_ms or 60_000),
                   bool(funding))


@dataclass
class _Market:
    m_sym: np.ndarray
    m_idx: np.ndarray
    ev_off: np.ndarray
    ts: np.ndarray
    price: np.ndarray
    size: np.ndarray
    f_off: np.ndarray
    fts: np.ndarray
    frate: np.ndarray
    d0: int
    n_days: int


def merge_axis(tss: list[np.ndarray], ts: np.ndarray,
               ev_off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The merged axis of time-sorted streams `tss` (`ts` their concatenation, `ev_off` the
    offsets): each event's symbol and index in its stream, by time, ties in symbol order (as
    `portfolio_nb.merge_streams_nb`). Streams on one clock (the same strictly increasing
    times, e.g. klines of one interval over one span) interleave event by event; otherwise
    up to `_SCAN_MAX` streams `merge_streams_nb` (a scan of the heads), beyond a stable sort of
    the concatenation (numpy's timsort merges the sorted runs) and a gather of the symbols."""
    n0 = len(tss[0])
    if (all(len(t) == n0 for t in tss) and (n0 < 2 or bool((tss[0][1:] > tss[0][:-1]).all()))
            and all(np.array_equal(t, tss[0]) for t in tss[1:])):
        S = len(tss)
        return (np.tile(np.arange(S, dtype=np.int64), n0),
                np.repeat(np.arange(n0, dtype=np.int64), S))
    if len(tss) <= _SCAN_MAX:
        m_sym = np.empty(len(ts), np.int64)
        m_idx = np.empty(len(ts), np.int64)
        merge_streams_nb(ts, ev_off, m_sym, m_idx)
        return m_sym, m_idx
    order = np.argsort(ts, kind="stable")
    m_sym = np.repeat(np.arange(len(tss), dtype=np.int64), np.diff(ev_off))[order]
    return m_sym, order - ev_off[m_sym]


def _merge(datas: list[MarketData], funding: bool) -> _Market:
    """Events of every symbol on one axis: stable by time, then symbol order."""
    lens = np.array([d.n_events for d in datas], np.int64)
    ev_off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    ts = np.concatenate([d.ts for d in datas], dtype=np.int64)
    m_sym, m_idx = merge_axis([d.ts for d in datas], ts, ev_off)
    fund = [d.funding_in_run() if funding else (np.zeros(0, np.int64), np.zeros(0))
            for d in datas]
    f_off = np.concatenate([[0], np.cumsum([len(f[0]) for f in fund])]).astype(np.int64)
    first = int(ts.min())
    last = int(ts.max())
    return _Market(m_sym, m_idx, ev_off, ts,
                   np.concatenate([d.price for d in datas], dtype=np.float64),
                   np.concatenate([d.size for d in datas], dtype=np.float64), f_off,
                   np.concatenate([f[0] for f in fund] + [np.zeros(0, np.int64)]).astype(np.int64),
                   np.concatenate([f[1] for f in fund] + [np.zeros(0)]).astype(np.float64),
                   first // 86_400_000, n_days_nb(first, last))


def _run(inp: _Inputs, mk: _Market, record: bool) -> dict[str, Any]:
    """Allocate the outputs and run the kernel (re-run with room when fills overflow)."""
    S = len(inp.runs)
    G = rows_of([r.gp for r in inp.runs])
    R = rows_of([r.rp for r in inp.runs])
    K = rows_of([r.rk for r in inp.runs])
    E = rows_of([r.ep for r in inp.runs])
    F = rows_of([r.f for r in inp.runs])
    span = int(mk.ts.max() - mk.ts.min())
    if record:
        n_eq = max((int(d.ts[-1] - d.ts[0]) // r.ep.equity_ms + 3)
                   for d, r in zip(inp.datas, inp.runs, strict=True))
        n_rc = max(min(MAX_RECENTERS, int(d.ts[-1] - d.ts[0]) // r.ep.check_ms + 2)
                   for d, r in zip(inp.datas, inp.runs, strict=True))
        n_lv = min(MAX_LEVEL_ROWS, n_rc * max(r.gp.n_buy + r.gp.n_sell + 1 for r in inp.runs))
        n_acct = span // inp.check_ms + 2
        cap = min(_FILLS_START, 4 * max(d.n_events for d in inp.datas) + 64)
    else:
        n_eq = n_rc = n_lv = n_acct = cap = 0
    rc = np.zeros((S, n_rc), RECENTER_DTYPE)
    lv = np.zeros((S, n_lv), LEVEL_DTYPE)
    acct = np.zeros(n_acct, ACCOUNT_ROW_DTYPE)
    daily = np.zeros((S, mk.n_days))
    tdaily = np.zeros(mk.n_days)
    summary = np.zeros((S, N_SUMMARY))
    blocked = np.zeros(S, np.int64)
    counts = np.zeros((S, 4), np.int64)
    total = np.zeros(N_TOTAL)
    while True:
        fills = np.zeros((S, cap), FILL_DTYPE)
        equity = np.zeros((S, n_eq), EQUITY_DTYPE)
        run_portfolio_nb(mk.m_sym, mk.m_idx, mk.ev_off, mk.ts, mk.price, mk.size, mk.f_off,
                         mk.fts, mk.frate, G, R, K, E, F, inp.capital, inp.max_exp,
                         inp.max_share, inp.kill_dd, np.int64(inp.check_ms), bool(record),
                         fills, equity, rc, lv, daily, tdaily, acct, summary, blocked, counts,
                         total)
        need = int(counts[:, 0].max())
        if not record or need <= cap:
            break
        cap = need
    return {"fills": fills, "equity": equity, "rc": rc, "lv": lv, "daily": daily,
            "tdaily": tdaily, "acct": acct, "summary": summary, "blocked": blocked,
            "counts": counts, "total": total, "caps": E[:, 0].copy()}


def _symbol_daily(out: dict[str, Any], mk: _Market, inp: _Inputs, s: int) -> np.ndarray:
    d = inp.datas[s]
    i0 = int(d.ts[0]) // 86_400_000 - mk.d0
    return out["daily"][s, i0:i0 + n_days_nb(int(d.ts[0]), int(d.ts[-1]))]


def _total_metrics(out: dict[str, Any], mk: _Market, inp: _Inputs) -> dict[str, Any]:
    sm = out["summary"]
    tot = out["total"]
    t = np.zeros(N_SUMMARY)
    t[:] = sm.sum(axis=0)
    t[Sum.FINAL_EQUITY] = tot[6]
    t[Sum.MAX_DRAWDOWN] = tot[0]
    t[Sum.PEAK_EQUITY] = tot[1]
    t[Sum.MAX_DD_DURATION_MS] = tot[2]
    t[Sum.STOP_CODE] = tot[3]
    t[Sum.STOP_TS] = tot[4]
    t[Sum.FIRST_TS] = tot[7]
    t[Sum.LAST_TS] = tot[8]
    t[Sum.N_DAYS] = mk.n_days
    t[Sum.TIME_AT_MAX_MS] = 0.0  # not defined for the account
    t[Sum.POSITION] = 0.0        # positions of different instruments do not add
    met = {k: v[0].item() for k, v in metrics_table(t[None, :], out["tdaily"][None, :],
                                                    np.array([inp.capital])).items()}
    met["stop"] = name_of(Stop, int(tot[3]))
    met["stop_ts"] = int(tot[4])
    met["n_blocked_account"] = int(out["blocked"].sum())
    met["capital"] = inp.capital
    return met


def _metrics_frame(out: dict[str, Any], mk: _Market, inp: _Inputs) -> pd.DataFrame:
    rows = []
    for s, key in enumerate(inp.keys):
        m = {k: v[0].item() for k, v in metrics_table(
            out["summary"][s][None, :], _symbol_daily(out, mk, inp, s)[None, :],
            np.array([out["caps"][s]])).items()}
        m["stop"] = name_of(Stop, int(m["stop_code"]))
        m["n_blocked_account"] = int(out["blocked"][s])
        m["capital"] = float(out["caps"][s])
        rows.append({"symbol": key, **m})
    return pd.DataFrame(rows).set_index("symbol")


def _daily_frame(out: dict[str, Any], mk: _Market, inp: _Inputs) -> pd.DataFrame:
    idx = pd.to_datetime((mk.d0 + np.arange(mk.n_days)) * 86_400_000, unit="ms", utc=True)
    df = pd.DataFrame(out["daily"].T, index=idx, columns=inp.keys)
    df["total"] = out["tdaily"]
    return df


def _correlation(daily: pd.DataFrame, caps: np.ndarray, keys: list[str]) -> pd.DataFrame:
    eq = daily[keys]
    prev = pd.concat([pd.DataFrame([caps], columns=keys, index=eq.index[:1]), eq.iloc[:-1]])
    prev.index = eq.index
    pnl = eq - prev
    with np.errstate(invalid="ignore", divide="ignore"):
        return pnl.corr()


def backtest_portfolio(datas: dict[str, MarketData] | Sequence[MarketData], config: Any = None,
                       profile: str | None = None, *, record: bool = True, store: Any = None,
                       **overrides: Any) -> PortfolioResult:
    """Backtest the grids of `config.portfolio` together, from one account.

    `datas`: {symbol (or 'SYMBOL/category'): MarketData} or a list of MarketData (keyed by
    their `symbol`), one per portfolio symbol. `overrides`: config paths applied to every grid
    (`spacing=0.003`, `fill_model='touch'`), and portfolio-level values as
    `portfolio.<key>` for key in PORTFOLIO_KEYS (e.g. `**{'portfolio.kill_switch_dd': 0.05,
    'portfolio.allocations': [0.5, 0.3, 0.2]}`). `profile` replaces the config's profile for
    grids that name none in the portfolio section. With `store` the run is saved (tables
    portfolio_runs / _symbols / _fills / _equity / _account_equity, `gridlab runs show ID`)
    and `run_id` is set.
    """
    t0 = time.perf_counter()
    cfg = coerce_config(config)
    if profile is not None:
        cfg = cfg.model_copy(update={"profile": profile})
    inp = portfolio_inputs(datas, cfg, **overrides)
    mk = _merge(inp.datas, inp.funding)
    out = _run(inp, mk, record)
    metrics = _metrics_frame(out, mk, inp)
    total = _total_metrics(out, mk, inp)
    daily = _daily_frame(out, mk, inp)
    corr = _correlation(daily, out["caps"], inp.keys)
    eq, fills, rcs, lvs = {}, None, None, None
    if record:
        fills, rcs, lvs = {}, {}, {}
    warnings: list[str] = []
    for s, key in enumerate(inp.keys):
        nf, ne, nr, nl = (int(x) for x in out["counts"][s])
        eq[key] = pd.DataFrame(out["equity"][s][:ne])
        warnings.extend(f"{key}: {w}" for w in inp.datas[s].warnings)
        if inp.funding:
            warnings.extend(f"{key}: {w}" for w in inp.datas[s].funding_warnings())
        if record:
            f = pd.DataFrame(out["fills"][s][:nf])
            f["kind"] = f["kind"].map(_FILL_KINDS)
            fills[key] = f
            r = pd.DataFrame(out["rc"][s][:min(nr, out["rc"].shape[1])])
            r["reason"] = r["reason"].map(_REASONS)
            rcs[key] = r
            lvs[key] = pd.DataFrame(out["lv"][s][:min(nl, out["lv"].shape[1])])
            if nr > out["rc"].shape[1] or nl > out["lv"].shape[1]:
                warnings.append(f"{key}: recorded builds/levels are truncated "
                                f"({nr:,} builds, {nl:,} level rows)")
    n_acct = int(out["total"][5])
    tot_eq = pd.DataFrame(out["acct"][:min(n_acct, len(out["acct"]))])
    if total["stop_ts"]:
        warnings.append(f"account kill switch at {fmt_ms(total['stop_ts'])}: every grid stopped")
    params = {"portfolio": {"capital": inp.capital, "max_total_exposure_pct": inp.max_exp,
                            "max_symbol_share": inp.max_share, "kill_switch_dd": inp.kill_dd,
                            "allocations": [float(c) / inp.capital for c in out["caps"]]},
              "symbols": {k: c.model_dump(mode="json", exclude={"profiles", "data", "exchange",
                                                                "portfolio", "live"})
                          for k, c in zip(inp.keys, inp.cfgs, strict=True)}}
    res = PortfolioResult(metrics=metrics, total=total, equity=eq, total_equity=tot_eq,
                          daily=daily, correlation=corr, fills=fills, recenters=rcs,
                          levels=lvs, params=params, warnings=warnings,
                          elapsed_s=time.perf_counter() - t0,
                          data={k: data_info(d) for k, d in zip(inp.keys, inp.datas,
                                                                strict=True)})
    if store is not None:
        from gridlab.backtest.results import code_version
        from gridlab.store.portfolio_runs import save_portfolio_run

        res.run_id = save_portfolio_run(store, res, data=res.data, code=code_version())
    return res


def _rows(inps: list[_Inputs]) -> PortfolioRows:
    """The per-set parameter stacks of a portfolio sweep."""
    def stack(kind: str) -> np.ndarray:
        return np.stack([rows_of([getattr(r, kind) for r in inp.runs]) for inp in inps])

    acct = np.array([[i.capital, i.max_exp, i.max_share, i.kill_dd] for i in inps], np.float64)
    return PortfolioRows(stack("gp"), stack("rp"), stack("rk"), stack("ep"), stack("f"), acct,
                         np.array([i.check_ms for i in inps], np.int64))


def _chunks_local(market: PortfolioMarket, rows: PortfolioRows, n_jobs: int | None,
                  chunk_size: int | None) -> PortfolioOut:
    """The chunk loop on this machine's numba threads (prange over the sets of a chunk)."""
    import numba

    m = rows.grid.shape[0]
    size = max(1, int(chunk_size or m))
    threads = numba.get_num_threads()
    parts = []
    try:
        if n_jobs:
            numba.set_num_threads(max(1, min(int(n_jobs), numba.config.NUMBA_NUM_THREADS)))
        for i0 in range(0, m, size):
            parts.append(run_portfolio_chunk(market, slice_rows(rows, i0, min(m, i0 + size))))
    finally:
        numba.set_num_threads(threads)
    return PortfolioOut(*(np.concatenate(x) for x in zip(*parts, strict=True)))


def sweep_portfolio(datas: dict[str, MarketData] | Sequence[MarketData],
                    grid: dict[str, Sequence[Any]], config: Any = None,
                    profile: str | None = None, *, n_jobs: int | None = None,
                    chunk_size: int | None = None, client: Any = None,
                    **fixed: Any) -> pd.DataFrame:
    """Every combination of `grid` (keys: `portfolio.<key>` and/or grid config paths applied
    to every symbol; `portfolio.allocations` values are vectors), summaries only. Returns one
    row per set: set_id, the swept values, the total metrics.

    The sets run in parallel: one numba `prange` kernel over chunks of `chunk_size` sets
    (default: all), on `n_jobs` threads; with a Dask `client` the chunks (default 16 sets) run
    on its cluster (`gridlab.backtest.cluster`). A set's row is exactly what
    `backtest_portfolio(..., record=False)` gives for its values, whichever way it ran.
    """
    t0 = time.perf_counter()
    cfg = coerce_config(config)
    if profile is not None:
        cfg = cfg.model_copy(update={"profile": profile})
    keys = list(grid)
    for k, v in grid.items():
        if isinstance(v, str | bytes) or not isinstance(v, Sequence | np.ndarray) or not len(v):
            raise ConfigError(f"sweep values of {k!r} must be a non-empty list (got {v!r})",
                              "write e.g. {'portfolio.kill_switch_dd': [0.03, 0.05]}")
    combos = list(itertools.product(*(list(grid[k]) for k in keys)))
    inps = [portfolio_inputs(datas, cfg, **{**fixed, **dict(zip(keys, c, strict=True))})
            for c in combos]
    if len({i.funding for i in inps}) > 1:
        raise ConfigError("backtest.funding cannot be swept", "run two sweeps")
    mk = _merge(inps[0].datas, inps[0].funding)
    market = PortfolioMarket(mk.m_sym, mk.m_idx, mk.ev_off, mk.ts, mk.price, mk.size, mk.f_off,
                             mk.fts, mk.frate, mk.n_days)
    rows = _rows(inps)
    if client is not None:
        from gridlab.backtest.cluster import run_portfolio_chunks_on_dask  # imports dask lazily

        out = run_portfolio_chunks_on_dask(client, market, rows, chunk_size or 16)
    else:
        out = _chunks_local(market, rows, n_jobs, chunk_size)
    table_rows = []
    for j, (combo, inp) in enumerate(zip(combos, inps, strict=True)):
        one = {"summary": out.summary[j], "total": out.total[j], "tdaily": out.tdaily[j],
               "blocked": out.blocked[j]}
        tm = _total_metrics(one, mk, inp)
        table_rows.append({"set_id": j, **{k: (list(v) if isinstance(v, Sequence | np.ndarray)
                                               and not isinstance(v, str) else v)
                                           for k, v in zip(keys, combo, strict=True)},
                           **{c: tm[c] for c in METRIC_COLUMNS}, "stop": tm["stop"],
                           "n_blocked_account": tm["n_blocked_account"]})
    table = pd.DataFrame(table_rows)
    table.attrs["elapsed_s"] = time.perf_counter() - t0
    return table
