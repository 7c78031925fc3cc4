"""REST ingestion of klines, funding rates and instruments from Bybit (or the local exchange).

Klines walk FORWARD in windows of `limit` bars ([start, start + limit * interval), start =
the resume point), so each reply holds the whole window whatever order the exchange sorts it
in, and an interrupted run leaves a store whose bars are complete up to its last bar. A run
resumes after the last stored bar (and back-fills before the first stored bar when `start` is
earlier).
Only closed bars are stored (open_time + interval <= server time): a stored bar is final.
Bars are inserted per batch of pages, each batch in one transaction; the store skips bars it
already holds, so re-running is idempotent. Requests go through the client's rate limiter.
Funding works the same way in windows of 200 funding intervals.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import typer

from gridlab.bybit.client import BybitClient
from gridlab.bybit.errors import BybitError, InvalidParameter
from gridlab.bybit.parse import Instrument
from gridlab.config.data import DataConfig
from gridlab.data.instruments import instrument_rows
from gridlab.errors import DataError
from gridlab.store import market as sm
from gridlab.store.core import Store
from gridlab.store.price_klines import insert_price_klines, price_kline_span

__all__ = [
    "IngestReport",
    "ingest_funding",
    "ingest_instruments",
    "ingest_klines",
    "parse_time",
    "register_ingest",
]

_BATCH_PAGES = 10  # pages per insert transaction


@dataclass
class IngestReport:
    """What one ingestion run fetched and stored."""

    kind: str
    symbol: str
    category: str
    interval: str = ""
    start_ms: int = 0
    end_ms: int = 0
    resumed_from: int | None = None
    pages: int = 0
    fetched: int = 0
    added: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    seconds: float = 0.0
    symbols: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        what = f"{self.kind} {self.symbol} {self.category}" + (
            f" {self.interval}" if self.interval else "")
        span = ""
        if self.first_ms is not None and self.last_ms is not None:
            span = f", {_iso(self.first_ms)} .. {_iso(self.last_ms)}"
        resumed = f", resumed after {_iso(self.resumed_from)}" if self.resumed_from else ""
        return (f"{what}: {self.added} new of {self.fetched} fetched in {self.pages} pages"
                f"{span}{resumed} ({self.seconds:.1f} s)")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def parse_time(value: str | int | None) -> int | None:
    """Epoch ms from an int, digits, or an ISO date/time (UTC when no zone is given)."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    s = str(value).strip()
    if s.lstrip("-").isdigit():
        return int(s)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"cannot read time {value!r}",
                        "use epoch ms or ISO like 2024-01-31 or 2024-01-31T12:00") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _instrument(client: BybitClient, symbol: str) -> Instrument:
    try:
        return client.get_instrument(symbol)
    except InvalidParameter:
        raise DataError(f"unknown symbol {symbol} ({client.category}) on {client.endpoint}",
                        "check the spelling (e.g. BTCUSDT) and --category") from None


def _ranges(first: int | None, last: int | None, lo: int, hi: int,
            step: int) -> tuple[list[tuple[int, int]], int | None]:
    """[lo, hi] minus the stored [first, last]; returns (ranges, resumed_from)."""
    if first is None or last is None:
        return ([(lo, hi)] if lo <= hi else []), None
    out = []
    if lo < first:
        out.append((lo, min(hi, first - 1)))
    if last + step <= hi:
        out.append((max(lo, last + step), hi))
    return out, (last if lo <= last else None)


def ingest_klines(store: Store, client: BybitClient, symbol: str, category: str,
                  interval: str | int, start_ms: int, end_ms: int | None = None, *,
                  limit: int = 1000,
                  progress: Callable[[IngestReport], None] | None = None,
                  kind: str = "trade") -> IngestReport:
    """Fetch closed bars with start_ms <= open_time < end_ms (default: now) into the store.
    `kind='mark'`: Bybit's mark-price klines, into `price_klines` (gridlab.store.price_klines)."""
    t0 = time.perf_counter()
    iv = sm.validate_interval(interval)
    sm.validate_category(category)
    sm.validate_symbol(symbol)
    ims = sm.interval_ms(iv)
    client = client.for_category(category)
    _instrument(client, symbol)
    now = client.get_server_time()
    hi = now - ims if end_ms is None else min(int(end_ms) - 1, now - ims)
    mark = kind == "mark"
    rep = IngestReport("mark klines" if mark else "klines", symbol, category, iv,
                       int(start_ms), hi + 1)
    if mark:
        first, last = price_kline_span(store, "mark", symbol, category, iv)
        fetch, insert = client.get_mark_price_klines, insert_price_klines
    else:
        first = sm.first_kline_time(store, symbol, category, iv)
        last = sm.last_kline_time(store, symbol, category, iv)
        fetch, insert = client.get_klines, sm.insert_klines
    ranges, rep.resumed_from = _ranges(first, last, int(start_ms), hi, ims)
    batch: list[pd.DataFrame] = []

    def flush() -> None:
        if batch:
            df = pd.concat(batch, ignore_index=True)
            batch.clear()
            if mark:
                df = df.drop(columns=["volume", "turnover"]).assign(kind="mark")
            rep.added += insert(store, df)

    for lo, top in ranges:
        cur = lo
        while cur <= top:
            w_end = min(top, cur + limit * ims - 1)  # at most `limit` bar opens
            bars = [b for b in fetch(symbol, iv, cur, w_end, limit)
                    if cur <= b.open_time <= w_end]
            rep.pages += 1
            if bars:
                rep.fetched += len(bars)
                rep.first_ms = min(rep.first_ms or bars[0].open_time, bars[0].open_time)
                rep.last_ms = max(rep.last_ms or 0, bars[-1].open_time)
                batch.append(pd.DataFrame({
                    "symbol": symbol, "category": category, "interval": iv,
                    "open_time": [b.open_time for b in bars], "open": [b.open for b in bars],
                    "high": [b.high for b in bars], "low": [b.low for b in bars],
                    "close": [b.close for b in bars], "volume": [b.volume for b in bars],
                    "turnover": [b.turnover for b in bars]}))
            if len(batch) >= _BATCH_PAGES:
                flush()
                if progress:
                    progress(rep)
            cur = w_end + 1
        flush()
    rep.seconds = time.perf_counter() - t0
    if progress:
        progress(rep)
    return rep


def ingest_funding(store: Store, client: BybitClient, symbol: str, start_ms: int,
                   end_ms: int | None = None, category: str = "linear", *,
                   progress: Callable[[IngestReport], None] | None = None) -> IngestReport:
    """Fetch settled funding rates with start_ms <= ts < end_ms (default: now).

    Windows of 200 of the instrument's current funding intervals; Bybit returns the newest 200
    of a window, so a full page (the interval was shorter in the past: more settlements than
    the window was sized for) is followed by the window's older part until a page is short."""
    t0 = time.perf_counter()
    if category == "spot":
        raise DataError("spot has no funding rates", "use --category linear")
    sm.validate_symbol(symbol)
    client = client.for_category(category)
    inst = _instrument(client, symbol)
    step = max(1, inst.funding_interval_min or 60) * 60_000
    now = client.get_server_time()
    hi = now if end_ms is None else min(int(end_ms) - 1, now)
    rep = IngestReport("funding", symbol, category, "", int(start_ms), hi + 1)
    last = sm.last_funding_time(store, symbol)
    ranges, rep.resumed_from = _ranges(None if last is None else int(start_ms), last,
                                       int(start_ms), hi, 1)
    for lo, top in ranges:
        cur = lo
        while cur <= top:
            w_end = min(top, cur + 200 * step - 1)
            hi_w = w_end
            while hi_w >= cur:
                page = client.get_funding_history(symbol, cur, hi_w, 200)
                rows = [f for f in page if cur <= f.ts <= hi_w]
                rep.pages += 1
                if rows:
                    rep.fetched += len(rows)
                    rep.first_ms = min(rep.first_ms or rows[0].ts, rows[0].ts)
                    rep.last_ms = max(rep.last_ms or 0, rows[-1].ts)
                    rep.added += sm.insert_funding(store, pd.DataFrame({
                        "symbol": symbol, "ts": [f.ts for f in rows],
                        "rate": [f.rate for f in rows]}))
                if len(page) < 200 or not rows:
                    break
                hi_w = rows[0].ts - 1  # a full page: the window's older settlements remain
            cur = w_end + 1
            if progress:
                progress(rep)
    rep.seconds = time.perf_counter() - t0
    return rep


def ingest_instruments(store: Store, client: BybitClient, symbols: list[str] | None,
                       category: str = "linear") -> IngestReport:
    """Store the trading rules of `symbols` (all of the category when None/empty)."""
    t0 = time.perf_counter()
    sm.validate_category(category)
    client = client.for_category(category)
    wanted = [sm.validate_symbol(s) for s in symbols or []]
    if wanted:
        found = []
        for s in wanted:
            found.extend(i for i in client.get_instruments(s) if i.symbol == s)
        unknown = sorted(set(wanted) - {i.symbol for i in found})
        if unknown:
            raise DataError(f"unknown symbol(s) {', '.join(unknown)} ({category}) on "
                            f"{client.endpoint}", "check the spelling and --category")
    else:
        found = client.get_instruments()
    fetched_at = client.get_server_time()
    df = instrument_rows(found, fetched_at, "rest")
    rep = IngestReport("instruments", ",".join(wanted) or "*", category, pages=1,
                       fetched=len(found), symbols=[i.symbol for i in found])
    rep.added = sm.upsert_instruments(store, df) if len(df) else 0
    rep.seconds = time.perf_counter() - t0
    return rep


# ---- CLI ---------------------------------------------------------------------------------------

def _client(env: str, endpoint: str | None, category: str) -> BybitClient:
    from gridlab.config.exchange import ExchangeConfig

    try:
        cfg = ExchangeConfig(env=env, endpoint=endpoint)  # type: ignore[arg-type]
    except ValueError as exc:
        raise DataError(f"invalid --env/--endpoint: {exc}".replace("\n", " "),
                        "use --env mainnet|testnet|demo|local and an http(s) URL") from None
    return BybitClient(cfg, None, category)


def register_ingest(ingest_app: typer.Typer) -> None:
    """Add `klines`, `funding`, `instruments`, `mark-klines`, `risk-limits` to the
    `gridlab ingest` typer app."""
    env_opt = typer.Option("mainnet", "--env", help="mainnet | testnet | demo | local")
    endpoint_opt = typer.Option(None, "--endpoint", help="REST base URL (overrides --env)")
    db_opt = typer.Option(DataConfig().db_path, "--db", envvar="GRIDLAB_DB",
                          help="DuckDB store file (env GRIDLAB_DB)")

    def run(fn: Callable[[Store, BybitClient], IngestReport], db: Path, env: str,
            endpoint: str | None, category: str) -> None:
        client = _client(env, endpoint, category)
        try:
            with Store.open(db, wait_s=5) as store:
                rep = fn(store, client)
        except BybitError as exc:
            raise DataError(f"ingest failed: {exc}") from None
        finally:
            client.close()
        typer.echo(str(rep))

    @ingest_app.command("klines")
    def klines_cmd(symbol: str = typer.Option(..., "--symbol"),
                   category: str = typer.Option("linear", "--category"),
                   interval: str = typer.Option("1", "--interval", help="1 3 5 15 ... 720 D W"),
                   start: str = typer.Option(..., "--start", help="epoch ms or ISO date"),
                   end: str = typer.Option(None, "--end", help="exclusive; default now"),
                   db: Path = db_opt, env: str = env_opt,
                   endpoint: str = endpoint_opt) -> None:
        """Klines over REST (paginated, resumable, idempotent)."""
        s, e = parse_time(start), parse_time(end)
        assert s is not None
        run(lambda st, c: ingest_klines(st, c, symbol, category, interval, s, e),
            db, env, endpoint, category)

    @ingest_app.command("funding")
    def funding_cmd(symbol: str = typer.Option(..., "--symbol"),
                    category: str = typer.Option("linear", "--category"),
                    start: str = typer.Option(..., "--start", help="epoch ms or ISO date"),
                    end: str = typer.Option(None, "--end", help="exclusive; default now"),
                    db: Path = db_opt, env: str = env_opt,
                    endpoint: str = endpoint_opt) -> None:
        """Funding-rate history over REST (resumable, idempotent)."""
        s, e = parse_time(start), parse_time(end)
        assert s is not None
        run(lambda st, c: ingest_funding(st, c, symbol, s, e, category),
            db, env, endpoint, category)

    @ingest_app.command("instruments")
    def instruments_cmd(symbol: list[str] = typer.Option(None, "--symbol",
                                                         help="repeat; none = all"),
                        category: str | None = typer.Option(
                            None, "--category", help="linear (default over REST) | spot | "
                            "inverse"),
                        from_file: Path | None = typer.Option(
                            None, "--from-file", help="a saved /v5/market/instruments-info "
                            "response (JSON; every category in it unless --category is given)"),
                        db: Path = db_opt, env: str = env_opt,
                        endpoint: str = endpoint_opt) -> None:
        """Instrument filters (tick, qty step, minimums, leverage) over REST or from a file."""
        if from_file is not None:
            from gridlab.data.instruments import ingest_instruments_file

            with Store.open(db, wait_s=5) as store:
                added = ingest_instruments_file(store, from_file, list(symbol or []), category)
            typer.echo(f"instruments from {from_file.name}: {added} stored in {db}")
            return
        cat = category or "linear"
        run(lambda st, c: ingest_instruments(st, c, list(symbol or []), cat),
            db, env, endpoint, cat)

    @ingest_app.command("mark-klines")
    def mark_klines_cmd(symbol: str = typer.Option(..., "--symbol"),
                        category: str = typer.Option("linear", "--category"),
                        interval: str = typer.Option("1", "--interval",
                                                     help="1 3 5 15 ... 720 D W"),
                        start: str = typer.Option(..., "--start", help="epoch ms or ISO date"),
                        end: str = typer.Option(None, "--end", help="exclusive; default now"),
                        db: Path = db_opt, env: str = env_opt,
                        endpoint: str = endpoint_opt) -> None:
        """Mark-price klines over REST (the backtest's margin model marks with them)."""
        s, e = parse_time(start), parse_time(end)
        assert s is not None
        run(lambda st, c: ingest_klines(st, c, symbol, category, interval, s, e, kind="mark"),
            db, env, endpoint, category)

    @ingest_app.command("risk-limits")
    def risk_limits_cmd(symbol: list[str] = typer.Option(..., "--symbol", help="repeat"),
                        category: str = typer.Option("linear", "--category"),
                        db: Path = db_opt, env: str = env_opt,
                        endpoint: str = endpoint_opt) -> None:
        """Risk-limit tiers over REST (/v5/market/risk-limit; the margin model's MM rates)."""
        from gridlab.data.risk_limits import ingest_risk_limits

        def fetch(st: Store, c: BybitClient) -> IngestReport:
            got = ingest_risk_limits(st, c.for_category(category), list(symbol), category)
            n = sum(got.values())
            return IngestReport("risk limits", ", ".join(got), category, fetched=n, added=n,
                                pages=len(got))

        run(fetch, db, env, endpoint, category)
