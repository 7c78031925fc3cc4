"""Backtest reports: execute notebooks/03_report.ipynb with papermill, render HTML without code.

The HTML opens offline: plotly.js is embedded once (the notebook calls
`plots.use_offline_renderer()`), and nbconvert's require.js / MathJax / mermaid CDN scripts are
left out of the page. The executed .ipynb is written next to the HTML; both are written to a
temporary name first and renamed, so a reader never sees half a report.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gridlab.errors import ConfigError, GridlabError
from gridlab.fmt import METRICS

__all__ = [
    "METRIC_LABELS",
    "REPORT_NOTEBOOK",
    "ReportError",
    "code_version",
    "execute_notebook",
    "external_scripts",
    "grid_summary",
    "liquidation_parts",
    "liquidation_summary",
    "metrics_table",
    "model_error_parts",
    "model_error_table",
    "notebooks_dir",
    "params_table",
    "pick_kernel",
    "render_html",
    "report_name",
    "run_report",
]

REPORT_NOTEBOOK = "03_report.ipynb"

_KIND_OF_UNIT = {"pct": "pct", "ratio": "ratio", "money": "money", "int": "count",
                 "time": "time", "text": "text"}
_UNIT_SUFFIX = {"hours": " (hours)", "qty": " (base units)"}
METRIC_LABELS: dict[str, tuple[str, str]] = {
    key: (label + _UNIT_SUFFIX.get(unit, ""), _KIND_OF_UNIT.get(unit, "num"))
    for key, (label, unit, _note) in METRICS.items()}
"""Human name and display kind (pct, money, ratio, count, num, time, text) of each backtest
metric, derived from gridlab.fmt.METRICS (the one table of metric names)."""

_PARAM_SECTIONS = ("trading", "grid", "recenter", "risk", "backtest")
"""Config sections that decide a backtest (the strategy first)."""

_PCT_PARAMS = frozenset({
    "grid.spacing", "grid.profit_target", "grid.atr.floor", "grid.atr.ceil",
    "recenter.deviation.pct", "recenter.dominance.share", "recenter.pump_dump.pct",
    "risk.max_exposure_pct", "risk.kill_switch_dd", "risk.stop_loss_equity_pct",
    "risk.take_profit_equity_pct", "backtest.maker_fee", "backtest.taker_fee"})

_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
_EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\ssrc=[\"']?(?:https?:)?//", re.IGNORECASE)


class ReportError(GridlabError):
    """A report notebook failed to execute or render."""


def notebooks_dir() -> Path:
    """The repository's notebooks/ folder (gridlab is installed editable from the repo)."""
    import gridlab

    return Path(gridlab.__file__).resolve().parents[1] / "notebooks"


def code_version() -> str:
    """`gridlab <version> (git <commit>[+dirty], kernels <hash>)`, the same identity the backtest
    stores with a run; the git part only in a checkout."""
    import gridlab

    try:
        from gridlab.backtest.results import code_version as engine_version
    except ImportError:
        pass
    else:
        v = engine_version()
        return (f"gridlab {v['version']} (git {v.get('commit') or 'n/a'}, "
                f"kernels {v.get('kernel_hash', 'n/a')})")

    version = f"gridlab {gridlab.__version__}"
    root = Path(gridlab.__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root,
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version} (git {sha}{'+dirty' if dirty else ''})" if sha else version


def pick_kernel() -> str:
    """The registered "gridlab" kernel if it runs this interpreter, else "python3".

    jupyter_client starts the "python3" kernel with `sys.executable`, so a fresh venv (CI) without
    a registered kernel still runs the report on the same code as the caller.
    """
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        spec = KernelSpecManager().get_kernel_spec("gridlab")
    except (ImportError, NoSuchKernel):
        return "python3"
    exe = spec.argv[0] if spec.argv else ""
    if exe in ("python", "python3") or os.path.abspath(exe) == os.path.abspath(sys.executable):
        return "gridlab"
    return "python3"


def report_name(symbol: str, start: Any, end: Any, label: str) -> str:
    """File stem such as `report_BTCUSDT_Normal_2024-01-01_2024-01-08`."""
    raw = f"report_{symbol}_{label}_{start}_{end}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-")


def _publish(tmp: str | Path, path: Path) -> None:
    """Give a temp file normal permissions (mkstemp makes it 0600) and rename it into place."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def _atomic_write(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def execute_notebook(notebook: Path, out: Path, parameters: Mapping[str, Any], *,
                     kernel_name: str | None = None, cwd: Path | None = None,
                     timeout: int = 600, progress: bool = False) -> Path:
    """Run `notebook` with papermill into `out` (atomically). On a cell error raise ReportError;
    the partly executed notebook is kept as `<out>.failed.ipynb`. `progress`: papermill's
    tqdm bar over the cells on stderr."""
    import papermill as pm

    if not notebook.exists():
        raise ConfigError(f"notebook {notebook} does not exist",
                          "run from a gridlab checkout (notebooks/ is in the repository)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp.ipynb", dir=out.parent)
    os.close(fd)
    try:
        pm.execute_notebook(str(notebook), tmp, parameters=dict(parameters),
                            kernel_name=kernel_name or pick_kernel(), progress_bar=progress,
                            log_output=False, cwd=str(cwd or notebook.parent),
                            execution_timeout=timeout)
    except pm.PapermillExecutionError as exc:
        failed = out.with_suffix(".failed.ipynb")
        _publish(tmp, failed)
        raise ReportError(
            f"{notebook.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}",
            f"the executed notebook with the traceback is {failed}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _publish(tmp, out)
    return out


def external_scripts(html: str) -> list[str]:
    """`<script src=...>` tags that load from the network (a report must have none)."""
    return [m.group(0) for m in _EXTERNAL_SCRIPT.finditer(html)]


def render_html(executed: Path, html_path: Path) -> Path:
    """Render an executed notebook to HTML without code cells or prompts (atomically)."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(extra_loaders=[jinja2.DictLoader({"gridlab.html.j2": _TEMPLATE})],
                            template_file="gridlab.html.j2", exclude_input=True,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    nb = nbformat.read(str(executed), as_version=4)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": html_path.stem}})
    bad = external_scripts(body)
    if bad:
        raise ReportError(f"the report would load scripts from the network: {bad[:3]}",
                          "show figures through gridlab.research.plots.use_offline_renderer()")
    _atomic_write(html_path, body)
    return html_path


def _fmt(value: Any, kind: str) -> str:
    import math

    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()  # numpy scalars
    if value is None:
        return "–"
    if isinstance(value, bool) or kind == "text" or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    if kind == "time":
        from gridlab.fmt import utc_iso

        return utc_iso(value) if value > 0 else "–"
    if kind == "pct":
        return f"{value:.2%}".replace("%", " %")
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "ratio":
        return f"{value:,.2f}"
    if kind == "count":
        return f"{int(value):,}"
    return f"{value:,.6g}" if isinstance(value, float) else f"{value:,}"


def metrics_table(metrics: Mapping[str, Any], keys: list[str] | None = None) -> Any:
    """Metrics with human names, ratios as percent: a DataFrame (metric -> value, meaning),
    every row (the unknown keys under their own name), `keys` (in that order) when given."""
    import pandas as pd

    names = list(keys) if keys is not None else list(metrics)
    rows = [(METRIC_LABELS.get(k, (k, "num"))[0],
             _fmt(metrics.get(k), METRIC_LABELS.get(k, (k, "num"))[1]),
             METRICS.get(k, ("", "", ""))[2]) for k in names]
    return pd.DataFrame(rows, columns=["metric", "value", "meaning"]).set_index("metric")


def model_error_table(err: Any) -> Any:
    """A ModelError (gridlab.backtest.model_error) with human metric names: kline run, trade
    replay, difference (klines - trades) and the difference in percent of the trade replay."""
    import pandas as pd

    rows = []
    for r in err.table.to_dict("records"):
        label, kind = METRIC_LABELS.get(r["metric"], (r["metric"], "num"))
        rows.append((label, _fmt(r["klines"], kind), _fmt(r["trades"], kind),
                     _fmt(r["diff"], kind), _fmt(r["diff_pct"], "pct")))
    return pd.DataFrame(rows, columns=["metric", "klines", "trades", "difference",
                                       "difference (% of trades)"]).set_index("metric")


def model_error_parts(db_path: str | Path, res: Any) -> list[Any]:
    """What the report shows on the model error of run `res`: for a kline run with stored
    trades over its span, a line and `model_error_table` (the trade replay runs here); else
    one line saying why there is none. IPython objects, for `display(*parts)`."""
    from IPython.display import Markdown

    from gridlab.backtest.model_error import is_kline_run, kline_model_error, no_trades_line
    from gridlab.store.core import Store

    if not is_kline_run(res):
        return [Markdown("This run replays trades: it is the reference a kline run is "
                         "measured against, so it has no model error.")]
    with Store.open(db_path, read_only=True) as store:
        err = kline_model_error(store, res)
    if err is None:
        return [Markdown(no_trades_line(res))]
    return [Markdown(f"The same parameters replayed on the stored trades of the same span: "
                     f"{err.summary().replace('%', ' %')}."), model_error_table(err)]


def liquidation_summary(res: Any) -> dict[str, Any] | None:
    """The liquidation price of a run (a BacktestResult) for the report; None with the margin
    model off. Keys: margin, leverage, recorded (False: run with record=False, no samples),
    end (liq_price, mark, distance: |mark - liq| / mark at the last equity sample; nan when
    flat), closest (ts, liq_price, mark, distance: the sample with a position nearest to its
    liquidation price, or None), liq_ts, liq_loss (0 when not liquidated)."""
    import numpy as np

    margin = str(res.params.get("backtest", {}).get("margin", "off"))
    if margin == "off":
        return None
    m = res.metrics
    out: dict[str, Any] = {"margin": margin,
                           "leverage": float(res.params.get("trading", {}).get("leverage", 1)),
                           "recorded": res.liquidation is not None,
                           "end": {"liq_price": np.nan, "mark": np.nan, "distance": np.nan},
                           "closest": None, "liq_ts": int(m.get("liq_ts") or 0),
                           "liq_loss": float(m.get("liq_loss") or 0.0)}
    line = res.liquidation
    if line is None or not len(line):
        return out
    liq, mark = line["liq_price"].to_numpy(), line["mark"].to_numpy()
    dist = np.abs(mark - liq) / mark
    out["end"] = {"liq_price": float(liq[-1]), "mark": float(mark[-1]),
                  "distance": float(dist[-1])}
    held = np.flatnonzero(np.isfinite(liq) & (liq > 0))
    if len(held):
        i = int(held[np.argmin(dist[held])])
        out["closest"] = {"ts": int(line["ts"].iloc[i]), "liq_price": float(liq[i]),
                          "mark": float(mark[i]), "distance": float(dist[i])}
    return out


def liquidation_parts(res: Any) -> list[Any]:
    """What the report says on liquidation: the model off, or the liquidation price at the end
    of the run, its closest approach to the mark and the liquidation if there was one.
    IPython objects, for `display(*parts)`."""
    import math

    from IPython.display import Markdown

    s = liquidation_summary(res)
    if s is None:
        return [Markdown("The liquidation model is off (`backtest.margin: off`): the run does "
                         "not check the position against a liquidation price, and leveraged "
                         "equity can go below zero. Set `backtest.margin: isolated` or `cross` "
                         "to model Bybit's margin and liquidation (docs/margin.md).")]
    lines = [f"Margin model **{s['margin']}** at {s['leverage']:g}x (Bybit's risk-limit tiers; "
             "the liquidation price at each equity sample, from the kernels' own functions)."]
    if not s["recorded"]:
        lines.append("The run was not recorded: no liquidation price to show.")
        return [Markdown("\n\n".join(lines))]
    end = s["end"]
    if math.isfinite(end["liq_price"]):
        lines.append("Liquidation price at the end of the run: "
                     f"**{_fmt(end['liq_price'], 'money')}** (mark {_fmt(end['mark'], 'money')}, "
                     f"{_fmt(end['distance'], 'pct')} away).")
    else:
        lines.append("Liquidation price at the end of the run: none (no open position).")
    c = s["closest"]
    if c is not None:
        lines.append(f"Closest approach: at {_fmt(c['ts'], 'time')} the mark "
                     f"{_fmt(c['mark'], 'money')} was {_fmt(c['distance'], 'pct')} from the "
                     f"liquidation price {_fmt(c['liq_price'], 'money')}.")
    if s["liq_ts"]:
        lines.append(f"**Liquidated** at {_fmt(s['liq_ts'], 'time')}: margin lost "
                     f"{_fmt(s['liq_loss'], 'money')}; the grid stopped.")
    return [Markdown("\n\n".join(lines))]


def _model_of(annotation: Any) -> Any:
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _describe(path: str) -> str:
    """The config field's description (gridlab.config), '' if it has none."""
    from gridlab.config import GridlabConfig

    model: Any = GridlabConfig
    parts = path.split(".")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            return ""
        if i == len(parts) - 1:
            return field.description or ""
        model = _model_of(field.annotation)
    return ""


def _flat(d: Mapping[str, Any], prefix: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}.{k}"
        if isinstance(v, Mapping):
            out.extend(_flat(v, key))
        else:
            out.append((key, v))
    return out


def params_table(params: Mapping[str, Any]) -> Any:
    """Every effective parameter of a backtest (trading, grid, recenter, risk, backtest),
    strategy first: a DataFrame with parameter, value (fractions as percent) and meaning."""
    import pandas as pd

    rows = []
    for section in _PARAM_SECTIONS:
        sec = params.get(section)
        if not isinstance(sec, Mapping):
            continue
        for key, value in _flat(sec, section):
            kind = "pct" if key in _PCT_PARAMS else "num"
            text = _fmt(value, kind)
            if kind == "pct" and isinstance(value, int | float) and not isinstance(value, bool):
                text += f" ({value:g})"
            rows.append((key, text, _describe(key)))
    return pd.DataFrame(rows, columns=["parameter", "value", "meaning"]).set_index("parameter")


def grid_summary(params: Mapping[str, Any], recenters: Any = None) -> str:
    """One line on the grid: levels, spacing, mode, and the range of the first build."""
    g = params["grid"]
    atr = g.get("atr", {})
    spacing = (f"ATR-based ({atr.get('mode')}, {atr.get('mult')} x ATR, "
               f"{atr.get('floor', 0):.2%}-{atr.get('ceil', 0):.2%})"
               if atr.get("mode", "off") != "off" else f"{g['spacing']:.2%}")
    text = (f"{g['n_buy']} buy + {g['n_sell']} sell levels, {g['spacing_mode']} spacing "
            f"{spacing}, {g['mode']} mode, quantity {g['qty_mode'].replace('_', ' ')}")
    if recenters is not None and len(recenters):
        first = recenters.iloc[0]
        lo, hi, p = (_fmt(first.get(k), "money") for k in ("lowest", "highest", "price"))
        text += f"; first grid {lo} - {hi} around {p}, {len(recenters)} build(s) in all"
    return text.replace("%", " %")


def _params_json(params: Mapping[str, Any] | str | Path | None) -> str:
    if params is None:
        return ""
    if isinstance(params, Mapping):
        return json.dumps(dict(params), sort_keys=True)
    text = Path(params).read_text() if Path(str(params)).suffix == ".json" else str(params)
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"parameter set is not valid JSON: {exc}",
                          'pass e.g. \'{"spacing": 0.004, "n_buy": 10}\' or a .json file') from None
    if not isinstance(loaded, dict):
        raise ConfigError("parameter set JSON must be an object", 'e.g. {"spacing": 0.004}')
    return json.dumps(loaded, sort_keys=True)


def run_report(symbol: str, start: str | int, end: str | int, *, profile: str | None = "Normal",
               params: Mapping[str, Any] | str | Path | None = None,
               fill_model: str | None = None, db_path: str | Path = "data/gridlab.duckdb",
               category: str = "linear", source: str | None = None,
               config: str | Path | None = None,
               out_dir: str | Path = "reports", kernel_name: str | None = None,
               notebook: Path | None = None, name: str | None = None,
               timeout: int = 600, progress: bool = False) -> Path:
    """Execute the report notebook for one backtest and write `<name>.ipynb` + `<name>.html` into
    `out_dir`; return the HTML path.

    `params` is a parameter-set mapping, a JSON string or a .json file applied on top of
    `profile`; `fill_model` overrides the configured one ('cross', 'touch', 'queue'); `config`
    is a config.yaml (fees, latency, capital, user profiles; default: built-in defaults).
    """
    db = Path(db_path).resolve()
    if not db.exists():
        raise ConfigError(f"database {db} does not exist",
                          "build one first (gridlab demo, or the data commands), or pass --db")
    params_json = _params_json(params)
    config_path = ""
    if config is not None:
        cpath = Path(config).resolve()
        if not cpath.exists():
            raise ConfigError(f"config file {cpath} does not exist", "check --config")
        config_path = str(cpath)
    label = profile or "params"
    if params_json:
        label += "+params"
    stem = name or report_name(symbol, start, end, label)
    out = Path(out_dir).resolve()
    parameters = {
        "db_path": str(db), "symbol": symbol, "category": category, "start": start, "end": end,
        "profile": profile or "", "params_json": params_json, "fill_model": fill_model or "",
        "source": source or "", "config_path": config_path, "code_version": code_version(),
    }
    nb_path = notebook or notebooks_dir() / REPORT_NOTEBOOK
    executed = execute_notebook(nb_path, out / f"{stem}.ipynb", parameters,
                                kernel_name=kernel_name, cwd=nb_path.parent, timeout=timeout,
                                progress=progress)
    return render_html(executed, out / f"{stem}.html")
