"""Plotly figures for research notebooks and reports. Plotting glue only: every number is computed
elsewhere (backtest, walk-forward, sweep); these functions lay it out.

Times are int64 epoch milliseconds (UTC) in the inputs and shown as UTC datetimes.
Call `use_offline_renderer()` once in a notebook: it embeds plotly.js once and makes figures
render in nbconvert HTML without any network access.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import NotebookRenderer
from plotly.subplots import make_subplots

__all__ = [
    "OFFLINE_RENDERER",
    "equity_drawdown_figure",
    "metrics_table_figure",
    "parallel_coordinates_figure",
    "pareto_figure",
    "pnl_decomposition_figure",
    "price_grid_figure",
    "stability_figure",
    "sweep_heatmap",
    "use_offline_renderer",
    "walkforward_figure",
]

OFFLINE_RENDERER = "gridlab_offline"
_BUY, _SELL = 1, -1
_COLORS = {"buy": "#2ca02c", "sell": "#d62728", "level": "rgba(100,100,100,0.35)",
           "recenter": "#9467bd", "equity": "#1f77b4", "dd": "#d62728", "liq": "#ff7f0e"}


class _OfflineNotebookRenderer(NotebookRenderer):
    """plotly's "notebook" renderer without the per-figure MathJax CDN <script src>.

    The stock renderer embeds plotly.js once (good) but adds a MathJax script from a CDN to every
    figure; reports must open offline and carry no external script URL.
    """

    def to_mimebundle(self, fig_dict: Any) -> dict[str, str]:
        html = pio.to_html(fig_dict, config=self.config, include_plotlyjs=False,
                           include_mathjax=False, full_html=False, default_width="100%",
                           default_height=525, validate=False)
        return {"text/html": html}


def use_offline_renderer(with_mimetype: bool = True) -> str:
    """Make figures render offline in notebooks and in nbconvert HTML; return the renderer name.

    Embeds plotly.js once (in the cell that calls this). With `with_mimetype`, figures also carry
    the plotly mimetype so JupyterLab shows them natively; nbconvert uses the HTML part.
    """
    if OFFLINE_RENDERER not in pio.renderers:
        pio.renderers[OFFLINE_RENDERER] = _OfflineNotebookRenderer()
    name = f"plotly_mimetype+{OFFLINE_RENDERER}" if with_mimetype else OFFLINE_RENDERER
    pio.renderers.default = name
    return name


def _dt(ms: Any) -> pd.DatetimeIndex | pd.Series:
    return pd.to_datetime(np.asarray(ms, dtype="int64"), unit="ms", utc=True)


def _level_segments(levels: pd.DataFrame, end_ms: int, ts_col: str,
                    price_col: str) -> tuple[list[Any], list[Any]]:
    """Horizontal segments: each grid's levels from its build time to the next build (or end)."""
    xs: list[Any] = []
    ys: list[Any] = []
    starts = np.sort(levels[ts_col].unique())
    ends = np.append(starts[1:], max(int(end_ms), int(starts[-1])))
    for t0, t1 in zip(starts, ends, strict=True):
        d0, d1 = _dt([t0, t1])
        for p in levels.loc[levels[ts_col] == t0, price_col].to_numpy():
            xs += [d0, d1, None]
            ys += [p, p, None]
    return xs, ys


def price_grid_figure(prices: pd.DataFrame, levels: pd.DataFrame | None = None,
                      fills: pd.DataFrame | None = None, recenters: pd.DataFrame | None = None,
                      *, ts_col: str = "ts", price_col: str = "price", side_col: str = "side",
                      max_points: int = 20_000, liquidation: pd.DataFrame | None = None,
                      title: str = "Price, grid levels, fills and recenters") -> go.Figure:
    """Price line with the grid levels in force, fills (buy/sell markers) and recenter marks.

    prices: `ts`, `price` (or `close`). levels: long table `ts` (grid build time), `price`
    (one row per level). fills: `ts`, `price`, `side` (1 buy, -1 sell). recenters: `ts`
    (+ optional `reason`, `price`). liquidation: `ts`, `liq_price` (nan when flat; a
    BacktestResult's `liquidation`), drawn as the "liquidation price" line. The price and
    liquidation lines keep every k-th point so that at most `max_points` are drawn (the file
    stays small); markers are all drawn.
    """
    pcol = price_col if price_col in prices else "close"
    stride = max(1, -(-len(prices) // max(1, max_points)))
    line = prices.iloc[::stride]
    fig = go.Figure()
    fig.add_trace(go.Scattergl(x=_dt(line[ts_col]), y=line[pcol], mode="lines",
                               name="price", line={"width": 1, "color": "#444"}))
    if levels is not None and len(levels):
        xs, ys = _level_segments(levels, int(prices[ts_col].iloc[-1]), ts_col, price_col)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="grid levels",
                                 line={"width": 1, "color": _COLORS["level"], "dash": "dot"},
                                 hoverinfo="skip"))
    if fills is not None and len(fills):
        for side, name, symbol in ((_BUY, "buy fills", "triangle-up"),
                                   (_SELL, "sell fills", "triangle-down")):
            f = fills[fills[side_col] == side]
            fig.add_trace(go.Scattergl(x=_dt(f[ts_col]), y=f[price_col], mode="markers",
                                       name=name, marker={"symbol": symbol, "size": 7,
                                       "color": _COLORS["buy" if side == _BUY else "sell"]}))
    if liquidation is not None and len(liquidation) and liquidation["liq_price"].notna().any():
        lq = liquidation.iloc[::max(1, -(-len(liquidation) // max(1, max_points)))]
        fig.add_trace(go.Scatter(x=_dt(lq[ts_col]), y=lq["liq_price"].where(lq["liq_price"] > 0),
                                 mode="lines", name="liquidation price",
                                 line={"width": 1.5, "color": _COLORS["liq"], "dash": "dash"}))
    if recenters is not None and len(recenters):
        text = recenters["reason"].astype(str) if "reason" in recenters else None
        if price_col in recenters:
            y = recenters[price_col]
        else:
            y = np.interp(recenters[ts_col], prices[ts_col], prices[pcol])
        fig.add_trace(go.Scatter(x=_dt(recenters[ts_col]), y=y, mode="markers", name="recenters",
                                 text=text, marker={"symbol": "x", "size": 10,
                                                    "color": _COLORS["recenter"]}))
    fig.update_layout(title=title, xaxis_title="time (UTC)", yaxis_title="price",
                      hovermode="x unified", legend={"orientation": "h"})
    return fig


def equity_drawdown_figure(equity: pd.DataFrame, *, ts_col: str = "ts",
                           equity_col: str = "equity",
                           title: str = "Equity and drawdown") -> go.Figure:
    """Equity curve (top) and drawdown from the running peak in % (bottom)."""
    eq = equity[equity_col].to_numpy(dtype="float64")
    dd = eq / np.maximum.accumulate(eq) - 1.0 if len(eq) else eq
    x = _dt(equity[ts_col])
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        vertical_spacing=0.04)
    fig.add_trace(go.Scattergl(x=x, y=eq, name="equity", line={"color": _COLORS["equity"]}),
                  row=1, col=1)
    fig.add_trace(go.Scattergl(x=x, y=dd * 100.0, name="drawdown %", fill="tozeroy",
                               line={"color": _COLORS["dd"], "width": 1}), row=2, col=1)
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown %", row=2, col=1)
    fig.update_layout(title=title, hovermode="x unified", showlegend=False)
    return fig


def pnl_decomposition_figure(parts: Mapping[str, float] | pd.DataFrame, *, ts_col: str = "ts",
                             title: str = "PnL decomposition") -> go.Figure:
    """PnL by source. A mapping (e.g. grid_profit, inventory_pnl, fees, funding) gives a waterfall
    to the total; a DataFrame with `ts` and one cumulative column per source gives lines."""
    fig = go.Figure()
    if isinstance(parts, pd.DataFrame):
        x = _dt(parts[ts_col])
        for col in (c for c in parts.columns if c != ts_col):
            fig.add_trace(go.Scattergl(x=x, y=parts[col], name=str(col), mode="lines"))
        fig.update_layout(xaxis_title="time (UTC)", yaxis_title="cumulative PnL",
                          hovermode="x unified")
    else:
        names = list(parts)
        values = [float(parts[k]) for k in names]
        fig.add_trace(go.Waterfall(x=[*names, "total"], y=[*values, 0.0],
                                   measure=["relative"] * len(names) + ["total"],
                                   text=[f"{v:,.2f}" for v in [*values, sum(values)]],
                                   textposition="outside"))
        fig.update_layout(yaxis_title="PnL (quote)", showlegend=False)
    fig.update_layout(title=title)
    return fig


Reducer = str | Callable[[pd.Series], float]
_LOWER_IS_BETTER = ("drawdown", "dd_duration", "fees", "funding", "n_blocked", "n_kill")


def sweep_heatmap(results: pd.DataFrame, x: str, y: str, metric: str,
                  reducer: Reducer = "mean", *, higher_is_better: bool | None = None,
                  title: str | None = None) -> go.Figure:
    """Heatmap of `metric` over two parameters; rows sharing (x, y) (the other parameters) are
    aggregated with `reducer` ("mean", "median", "max", "min" or a callable). Green is better:
    `higher_is_better` defaults to False for drawdown/fees-like metrics, else True."""
    if higher_is_better is None:
        higher_is_better = not any(w in metric for w in _LOWER_IS_BETTER)
    table = results.pivot_table(index=y, columns=x, values=metric, aggfunc=reducer)
    rname = reducer if isinstance(reducer, str) else getattr(reducer, "__name__", "reducer")
    fig = go.Figure(go.Heatmap(z=table.to_numpy(), x=[str(v) for v in table.columns],
                               y=[str(v) for v in table.index], colorscale="RdYlGn",
                               reversescale=not higher_is_better,
                               colorbar={"title": metric},
                               hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{metric}=%{{z}}"
                                             "<extra></extra>"))
    fig.update_layout(title=title or f"{metric} ({rname} over other parameters)",
                      xaxis_title=x, yaxis_title=y)
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig


def parallel_coordinates_figure(results: pd.DataFrame, params: Sequence[str], metric: str,
                                *, title: str | None = None) -> go.Figure:
    """Parallel coordinates of parameter sets coloured by `metric` (text parameters such as the
    fill model become categorical axes)."""
    dims: list[dict[str, Any]] = []
    for p in params:
        col = results[p]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            dims.append({"label": p, "values": col})
        else:
            cats = sorted(col.astype(str).unique())
            codes = col.astype(str).map({c: i for i, c in enumerate(cats)})
            dims.append({"label": p, "values": codes, "tickvals": list(range(len(cats))),
                         "ticktext": cats})
    dims.append({"label": metric, "values": results[metric]})
    fig = go.Figure(go.Parcoords(line={"color": results[metric], "colorscale": "RdYlGn",
                                       "showscale": True}, dimensions=dims))
    fig.update_layout(title=title or f"Parameter sets by {metric}")
    return fig


def walkforward_figure(oos_equity: pd.DataFrame, folds: pd.DataFrame, metric: str, *,
                       ts_col: str = "ts", equity_col: str = "equity",
                       title: str = "Walk-forward: stitched out-of-sample equity") -> go.Figure:
    """Stitched OOS equity with fold boundaries (top) and IS vs OOS `metric` per fold (bottom).

    folds: one row per fold with `fold`, `test_start`, `is_<metric>`, `oos_<metric>`.
    """
    fig = make_subplots(rows=2, cols=1, row_heights=[0.6, 0.4], vertical_spacing=0.12,
                        subplot_titles=("stitched OOS equity", f"{metric}: in-sample vs OOS"))
    fig.add_trace(go.Scattergl(x=_dt(oos_equity[ts_col]), y=oos_equity[equity_col],
                               name="OOS equity", line={"color": _COLORS["equity"]}),
                  row=1, col=1)
    for t in folds["test_start"].iloc[1:]:
        fig.add_vline(x=_dt([t])[0], line={"dash": "dot", "color": "#999", "width": 1},
                      row=1, col=1)
    labels = [f"fold {int(f)}" for f in folds["fold"]]
    fig.add_trace(go.Bar(x=labels, y=folds[f"is_{metric}"], name="in-sample"), row=2, col=1)
    fig.add_trace(go.Bar(x=labels, y=folds[f"oos_{metric}"], name="out-of-sample"), row=2, col=1)
    fig.update_layout(title=title, barmode="group", legend={"orientation": "h"})
    return fig


def stability_figure(neighbours: pd.DataFrame, metric: str, *,
                     title: str | None = None) -> go.Figure:
    """Bars of `metric` for a set and its grid neighbours (`stability.neighbourhood` output)."""
    labels = neighbours["label"] if "label" in neighbours else neighbours.index.astype(str)
    colors = ["#1f77b4" if b else "#aaa" for b in neighbours.get("is_best", [False] * len(labels))]
    fig = go.Figure(go.Bar(x=list(labels), y=neighbours[metric], marker={"color": colors}))
    fig.update_layout(title=title or f"{metric}: best set (blue) and its grid neighbours",
                      yaxis_title=metric, xaxis={"showticklabels": len(labels) <= 30})
    return fig


def pareto_figure(trials: pd.DataFrame, x: str, y: str, pareto: pd.DataFrame | None = None,
                  *, title: str | None = None) -> go.Figure:
    """Scatter of trials over two objectives with the Pareto front highlighted."""
    fig = go.Figure(go.Scatter(x=trials[x], y=trials[y], mode="markers", name="trials",
                               marker={"color": "#bbb"}))
    if pareto is not None and len(pareto):
        p = pareto.sort_values(x)
        fig.add_trace(go.Scatter(x=p[x], y=p[y], mode="markers+lines", name="Pareto front",
                                 marker={"color": "#d62728", "size": 9}))
    fig.update_layout(title=title or f"{y} vs {x}", xaxis_title=x, yaxis_title=y)
    return fig


def metrics_table_figure(metrics: Mapping[str, Any], *, title: str = "Metrics") -> go.Figure:
    """A two-column table of metric names and values."""
    def fmt(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return f"{v:,.6g}"
        return str(v)

    names = list(metrics)
    fig = go.Figure(go.Table(header={"values": ["metric", "value"]},
                             cells={"values": [names, [fmt(metrics[k]) for k in names]]}))
    fig.update_layout(title=title, height=max(250, 30 * len(names) + 120))
    return fig
