"""CLI sub-commands of gridlab.data: `gridlab ingest ...`, `gridlab data ...`, `gridlab synth`.

`ingest_app` and `data_app` are module-level so other areas can add commands to them
(e.g. the REST ingestion's `gridlab ingest klines`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from gridlab.config.data import DataConfig
from gridlab.errors import DataError
from gridlab.fmt import CSV_OPTION, JSON_OPTION

__all__ = ["DB_OPTION", "data_app", "ingest_app", "parse_time_ms", "register"]

ingest_app = typer.Typer(no_args_is_help=True, help="Load market data into the store.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect the market data in the store.")

_DEFAULT_DB = DataConfig().db_path
DB_OPTION = typer.Option(_DEFAULT_DB, "--db", envvar="GRIDLAB_DB",
                         help="DuckDB store file (env GRIDLAB_DB)")
_WAIT_OPTION = typer.Option(0.0, "--wait", help="seconds to wait for a store locked by another "
                            "process")


def parse_time_ms(text: str) -> int:
    """'2024-01-01', '2024-01-01T12:00', '2024-01-01 12:00:00' (UTC) or epoch ms -> epoch ms."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%d %H:%M:%S"):
        try:
            return int(datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp() * 1000)
        except ValueError:
            continue
    raise DataError(f"cannot read the time {text!r}",
                    "use YYYY-MM-DD, YYYY-MM-DDTHH:MM (UTC) or epoch milliseconds")


@ingest_app.command("trades")
def ingest_trades_cmd(
    source: str = typer.Argument(..., help="a Bybit trade dump (.csv.gz), a folder of them, "
                                 "or an http(s) URL"),
    symbol: str | None = typer.Option(None, help="symbol (default: from the file name)"),
    category: str | None = typer.Option(None, help="linear | inverse | spot (default: from "
                                        "the format and symbol)"),
    force: bool = typer.Option(False, help="re-read files already ingested (adds nothing new)"),
    db: Path = DB_OPTION,
    wait: float = _WAIT_OPTION,
) -> None:
    """Ingest Bybit trade dumps (public.bybit.com/trading or /spot)."""
    from gridlab.data.files import FileResult, ingest_trade_files
    from gridlab.store.core import Store

    def show(r: FileResult) -> None:
        what = "already ingested" if r.skipped else f"{r.rows_added:,} of {r.rows_read:,} new"
        typer.echo(f"{r.source}: {r.symbol} {r.category}: {what}")

    with Store.open(db, wait_s=wait) as store:
        report = ingest_trade_files(store, source, symbol, category, force=force, progress=show)
    typer.echo(report.summary())
    for line in _after_trades_hints(report, db):
        typer.echo(line)


def _after_trades_hints(report: object, db: Path) -> list[str]:
    """What to do next after trades are stored: build bars, get the instrument filters."""
    pairs = sorted({(f.symbol, f.category) for f in getattr(report, "files", [])
                    if f.symbol})
    lines = []
    for sym, cat in pairs:
        lines.append(f"next: build bars with `gridlab ingest resample --symbol {sym} "
                     f"--category {cat} -i 1 --db {db}` (kline backtests and `data status`), "
                     f"or backtest the trades with `gridlab backtest --source trades "
                     f"--symbol {sym} --category {cat} --db {db}`")
    if pairs:
        lines.append("a backtest also needs each instrument's filters (tick, qty step, "
                     "minimums): `gridlab ingest instruments --symbol SYMBOL --db ...`")
    return lines


@ingest_app.command("resample")
def ingest_resample_cmd(
    symbol: str = typer.Option(..., help="symbol, e.g. BTCUSDT"),
    category: str = typer.Option("linear", help="linear | inverse | spot"),
    interval: list[str] = typer.Option(["1"], "--interval", "-i",
                                       help="Bybit interval (repeatable): 1 3 5 15 30 60 120 "
                                       "240 360 720 D W"),
    start: str | None = typer.Option(None, help="from this time (UTC date or epoch ms)"),
    end: str | None = typer.Option(None, help="until this time, exclusive"),
    db: Path = DB_OPTION,
    wait: float = _WAIT_OPTION,
) -> None:
    """Build klines from the stored trades (bars with trades; rewritten on each run)."""
    from gridlab.store.core import Store
    from gridlab.store.market import resample_trades, validate_interval

    interval = [validate_interval(iv) for iv in interval]
    start_ms = parse_time_ms(start) if start else None
    end_ms = parse_time_ms(end) if end else None
    with Store.open(db, wait_s=wait) as store:
        for iv in interval:
            added = resample_trades(store, symbol, category, iv, start_ms, end_ms)
            typer.echo(f"{symbol} {category} {iv}: {added:,} new bars")


@data_app.command("status")
def data_status_cmd(
    db: Path = DB_OPTION,
    gap_minutes: float = typer.Option(DataConfig().trade_gap_ms / 60_000, "--gap-minutes",
                                      help="a silence between trades longer than this is a gap"),
    wait: float = _WAIT_OPTION,
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
) -> None:
    """Coverage, gaps and duplicates of every kline, trade and funding series."""
    from gridlab.data.status import data_status, format_status
    from gridlab.fmt import emit_records, output_format
    from gridlab.store.core import Store

    fmt = output_format(as_json, as_csv)
    with Store.open(db, read_only=True, wait_s=wait) as store:
        status = data_status(store, trade_gap_ms=int(gap_minutes * 60_000))
    if fmt != "table":
        emit_records(status, fmt)
        return
    typer.echo(f"store: {db}")
    typer.echo(format_status(status))


@data_app.command("gaps")
def data_gaps_cmd(
    symbol: str = typer.Option(..., help="symbol, e.g. BTCUSDT"),
    category: str = typer.Option("linear", help="linear | inverse | spot"),
    interval: str = typer.Option("1", "--interval", "-i", help="Bybit interval"),
    db: Path = DB_OPTION,
    wait: float = _WAIT_OPTION,
) -> None:
    """List the missing bars of one kline series as [start, end) ranges."""
    from gridlab.data.status import find_kline_gaps, fmt_ms
    from gridlab.store.core import Store
    from gridlab.store.market import interval_ms

    with Store.open(db, read_only=True, wait_s=wait) as store:
        gaps = find_kline_gaps(store, symbol, category, interval)
    if not gaps:
        typer.echo(f"{symbol} {category} {interval}: no gaps")
    bar = interval_ms(interval)
    for a, b in gaps:
        typer.echo(f"{fmt_ms(a)} -> {fmt_ms(b)}  ({(b - a) // bar} bars)")


def synth_cmd(
    symbol: str = typer.Option("BTCUSDT", help="symbol to write"),
    category: str = typer.Option("linear", help="linear | inverse | spot"),
    days: float = typer.Option(7.0, help="length in days"),
    seed: int = typer.Option(0, help="random seed (same seed, same data)"),
    start: str = typer.Option("2024-01-01", help="start (UTC date or epoch ms)"),
    interval: list[str] = typer.Option(["1"], "--interval", "-i",
                                       help="kline intervals to build (repeatable)"),
    base_price: float = typer.Option(30000.0, help="starting price"),
    trades_per_day: float = typer.Option(150_000, help="average trades per day"),
    tick_size: float = typer.Option(0.1, help="price tick"),
    qty_step: float = typer.Option(0.001, help="quantity step"),
    funding_interval_h: int = typer.Option(8, "--funding-interval-h",
                                           help="funding interval of the instrument, hours: "
                                           "1, 2, 4 or 8 (Bybit's)"),
    replace: bool = typer.Option(False, "--replace",
                                 help="overwrite the symbol's data in that span (one transaction)"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar"),
    db: Path = DB_OPTION,
    wait: float = _WAIT_OPTION,
) -> None:
    """Write a synthetic market (trades, klines, funding, instrument) into the store."""
    from gridlab.data.funding import validate_funding_interval_h
    from gridlab.data.synth import synth_days, write_synthetic_market
    from gridlab.progress import progress_bar
    from gridlab.store.core import Store

    try:
        validate_funding_interval_h(funding_interval_h, "--funding-interval-h")
    except DataError as exc:
        raise typer.BadParameter(exc.message, param_hint="--funding-interval-h") from None
    start_ms = parse_time_ms(start)
    with (Store.open(db, wait_s=wait) as store,
          progress_bar(synth_days(start_ms, days), "synth", unit="day",
                       enabled=progress) as bar):
        out = write_synthetic_market(store, symbol, category, start_ms, days, seed,
                                     interval, base_price=base_price,
                                     trades_per_day=trades_per_day, tick_size=tick_size,
                                     qty_step=qty_step, replace=replace,
                                     progress=lambda _n: bar.update(1),
                                     funding_interval_h=funding_interval_h)
    if out["replaced"] is not None:
        r = out["replaced"]
        typer.echo(f"replaced {r.trades:,} trades, {r.klines:,} bars, {r.funding:,} funding "
                   "rates in that span")
    bars = ", ".join(f"{k}: {v:,}" for k, v in out["klines"].items())
    typer.echo(f"{db}: {symbol} {category} {days:g} days (seed {seed}): "
               f"{out['trades']:,} new trades, new bars {bars}, {out['funding']} funding rates"
               + (f" (every {funding_interval_h} h)" if category != "spot" else ""))


def register(app: typer.Typer) -> None:
    """Add this area's commands to the gridlab CLI."""
    from gridlab.data.ingest_rest import register_ingest

    register_ingest(ingest_app)
    app.add_typer(ingest_app, name="ingest")
    app.add_typer(data_app, name="data")
    app.command("synth")(synth_cmd)
