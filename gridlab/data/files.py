"""Ingest Bybit's public trade dumps (public.bybit.com) from a file, a folder or a URL.

Formats, detected from the header line:

* derivatives `trading/SYM/SYM2024-01-01.csv.gz`: `timestamp,symbol,side,size,price,
  tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional[,RPI]`, timestamp in Unix
  seconds with a fraction (stored floored to the millisecond), side Buy/Sell;
* spot `spot/SYM/SYM_2024-01-01.csv.gz`: `id,timestamp,price,volume,side[,rpi]`, timestamp in
  milliseconds, side lower case.

Each file is read by DuckDB (`read_csv` with explicit types), checked and inserted in one
transaction: a bad file stores nothing and raises DataError naming it (and the line). A file
already ingested (same name and size) is skipped; re-reading it anyway (`force`) adds nothing.
"""

from __future__ import annotations

import gzip
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gridlab.errors import DataError
from gridlab.store.core import Store
from gridlab.store.market import validate_category, validate_symbol
from gridlab.store.trade_files import (
    drop_staged,
    insert_staged_trades,
    stage_trade_csv,
    staging_cursor,
    trade_file_seen,
)

__all__ = [
    "DERIVATIVES_COLUMNS",
    "SPOT_COLUMNS",
    "FileResult",
    "IngestReport",
    "TradeFile",
    "detect_trade_file",
    "ingest_trade_files",
]

DERIVATIVES_COLUMNS: dict[str, str] = {
    "timestamp": "DOUBLE", "symbol": "VARCHAR", "side": "VARCHAR", "size": "DOUBLE",
    "price": "DOUBLE", "tickDirection": "VARCHAR", "trdMatchID": "VARCHAR",
    "grossValue": "VARCHAR", "homeNotional": "VARCHAR", "foreignNotional": "VARCHAR",
}
SPOT_COLUMNS: dict[str, str] = {
    "id": "VARCHAR", "timestamp": "BIGINT", "price": "DOUBLE", "volume": "DOUBLE",
    "side": "VARCHAR",
}
_OPTIONAL = {"derivatives": ("RPI", "VARCHAR"), "spot": ("rpi", "VARCHAR")}
_NAME_RE = re.compile(r"^(?P<sym>[A-Z0-9][A-Z0-9-]*?)(?P<sep>_?)(?P<date>\d{4}-\d{2}-\d{2})"
                      r"\.csv(?:\.gz)?$")
_DAY_MS = 86_400_000
_FIX = "re-download the file (it may be truncated or not a Bybit trade dump)"


@dataclass(frozen=True)
class TradeFile:
    """What a trade dump is: format, column types, symbol, category and the day it covers."""

    path: Path
    fmt: str  # derivatives | spot
    columns: dict[str, str]
    symbol: str
    category: str
    cover: tuple[int, int] | None
    compression: str  # gzip | none


@dataclass(frozen=True)
class FileResult:
    """Outcome of one file."""

    source: str
    symbol: str
    category: str
    rows_read: int
    rows_added: int
    skipped: bool
    seconds: float


@dataclass
class IngestReport:
    """Outcome of one ingest_trade_files call."""

    files: list[FileResult] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files if not f.skipped)

    @property
    def rows_added(self) -> int:
        return sum(f.rows_added for f in self.files)

    @property
    def seconds(self) -> float:
        """Wall time of the call (per-file times overlap: the next file is read meanwhile)."""
        return self.wall_seconds or sum(f.seconds for f in self.files)

    @property
    def files_skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    def summary(self) -> str:
        """One line: files, rows read/added and speed."""
        rate = self.rows_read / self.seconds if self.seconds > 0 else 0.0
        return (f"{len(self.files)} file(s) ({self.files_skipped} already ingested): "
                f"{self.rows_read:,} rows read, {self.rows_added:,} added "
                f"in {self.seconds:.1f} s ({rate:,.0f} rows/s)")


def _read_head(path: Path) -> tuple[str, str, str]:
    """Header line, first data line and compression of a (gzipped) CSV file."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(2)
    except OSError as exc:
        raise DataError(f"cannot read trade file {path}: {exc.strerror}",
                        "check the path and permissions") from None
    if not magic:
        raise DataError(f"trade file {path.name} is empty", _FIX)
    gz = magic == b"\x1f\x8b"
    if path.name.endswith(".gz") and not gz:
        raise DataError(f"trade file {path.name} is not gzip-compressed despite its name", _FIX)
    try:
        with (gzip.open(path, "rt", encoding="utf-8", newline="") if gz
              else path.open("r", encoding="utf-8", newline="")) as fh:
            header = fh.readline()
            first = fh.readline()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read trade file {path.name}: {exc}", _FIX) from None
    return header.lstrip("\ufeff").strip(), first.strip(), "gzip" if gz else "none"


def _guess_category(symbol: str) -> str:
    base = symbol.split("-")[0]
    return "inverse" if base.endswith("USD") else "linear"


def detect_trade_file(path: str | Path, symbol: str | None = None,
                      category: str | None = None) -> TradeFile:
    """Work out the format (from the header), symbol and category of a Bybit trade dump.

    The symbol comes from `symbol`, else the file name (SYMYYYY-MM-DD / SYM_YYYY-MM-DD), else
    the derivatives file's symbol column. The category is `category`, else spot for the spot
    format, else inverse for ...USD symbols and linear otherwise.
    """
    path = Path(path)
    header, first, compression = _read_head(path)
    names = [c.strip().strip('"') for c in header.split(",")] if header else []
    fmt = None
    for name, cols in (("derivatives", DERIVATIVES_COLUMNS), ("spot", SPOT_COLUMNS)):
        base = list(cols)
        opt, opt_type = _OPTIONAL[name]
        if names == base:
            fmt, columns = name, dict(cols)
        elif names == [*base, opt]:
            fmt, columns = name, {**cols, opt: opt_type}
        if fmt:
            break
    if fmt is None:
        shown = ",".join(names[:12]) or "nothing"
        raise DataError(
            f"trade file {path.name} has columns {shown}; expected Bybit's derivatives header "
            f"({','.join(DERIVATIVES_COLUMNS)}) or spot header ({','.join(SPOT_COLUMNS)})",
            "pass a trade dump from public.bybit.com/trading or /spot")
    m = _NAME_RE.match(path.name)
    name_symbol = m.group("sym") if m else None
    if symbol is None:
        symbol = name_symbol
    if symbol is None and fmt == "derivatives" and first:
        symbol = first.split(",")[1].strip().strip('"') if first.count(",") >= 2 else None
    if symbol is None:
        raise DataError(f"cannot tell the symbol of trade file {path.name}",
                        "pass --symbol (or keep Bybit's file name, e.g. BTCUSDT_2024-01-01.csv.gz)")
    validate_symbol(symbol)
    if category is None:
        category = "spot" if fmt == "spot" else _guess_category(symbol)
    validate_category(category)
    if (fmt == "spot") != (category == "spot"):
        raise DataError(f"trade file {path.name} is in Bybit's {fmt} format but the category "
                        f"is {category}", "drop --category or pass the matching one")
    cover = None
    if m:
        try:
            day = datetime.strptime(m.group("date"), "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            day = None
        if day is not None:
            start = int(day.timestamp() * 1000)
            cover = (start, start + _DAY_MS)
    return TradeFile(path, fmt, columns, symbol, category, cover, compression)


def _download(url: str, folder: Path, timeout_s: float) -> Path:
    name = Path(urllib.parse.urlparse(url).path).name or "download.csv.gz"
    target = folder / name
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp, target.open("wb") as out:
            shutil.copyfileobj(resp, out, length=1 << 20)
    except urllib.error.HTTPError as exc:
        raise DataError(f"cannot download {url}: HTTP {exc.code} {exc.reason}",
                        "check the URL (Bybit publishes each day's file the next day)") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"cannot download {url}: {reason}",
                        "check the URL and the network, or download the file and pass its path"
                        ) from None
    return target


def _files_in(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and (p.name.endswith(".csv.gz") or p.name.endswith(".csv")))
    if not files:
        raise DataError(f"no .csv.gz or .csv files in {folder}",
                        "point at a folder of Bybit trade dumps, or at one file")
    return files


@dataclass(frozen=True)
class _Todo:
    info: TradeFile
    name: str
    nbytes: int


def _plan(store: Store, paths: Iterable[Path], symbol: str | None, category: str | None,
          force: bool, report: IngestReport) -> list[_Todo]:
    """Detect every file (bad headers fail before anything is stored) and drop those seen."""
    todo: list[_Todo] = []
    for path in paths:
        t0 = time.perf_counter()
        info = detect_trade_file(path, symbol, category)
        name = path.name
        nbytes = path.stat().st_size
        seen = None if force else trade_file_seen(store, info.symbol, info.category, name,
                                                   nbytes)
        if seen is not None:
            report.files.append(FileResult(name, info.symbol, info.category, seen["rows_read"],
                                           0, True, time.perf_counter() - t0))
        else:
            todo.append(_Todo(info, name, nbytes))
    return todo


class _Inline(AbstractContextManager["_Inline"]):
    """An executor that runs each task at submit time, on the calling thread."""

    def submit(self, fn: Callable[[int], float], arg: int) -> Future[float]:
        fut: Future[float] = Future()
        try:
            fut.set_result(fn(arg))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut

    def __exit__(self, *exc: object) -> None:
        return None


def _run(store: Store, todo: list[_Todo], report: IngestReport,
         progress: Callable[[FileResult], None] | None) -> None:
    """Stage file i+1 on a worker thread while file i is checked and inserted.

    Inside a caller's transaction the worker's staging tables would be invisible to it, so
    files are then staged on the store's own connection, one after the other.
    """
    if not todo:
        return
    cursor = None if store.in_transaction else staging_cursor(store)
    base = 0 if cursor is not None else 2  # staging slots: see gridlab.store.market

    def stage(k: int) -> float:
        t0 = time.perf_counter()
        item = todo[k]
        stage_trade_csv(store, item.info.path, fmt=item.info.fmt, columns=item.info.columns,
                        compression=item.info.compression, slot=base + k % 2, con=cursor)
        return time.perf_counter() - t0

    try:
        with (ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridlab-stage")
              if cursor is not None else _Inline()) as pool:
            pending = pool.submit(stage, 0)
            for k, item in enumerate(todo):
                try:
                    staged_s = pending.result()
                    if k + 1 < len(todo):
                        pending = pool.submit(stage, k + 1)
                    t0 = time.perf_counter()
                    read, added = insert_staged_trades(
                        store, slot=base + k % 2, name=item.info.path.name, fmt=item.info.fmt,
                        symbol=item.info.symbol, category=item.info.category, source=item.name,
                        nbytes=item.nbytes, cover=item.info.cover)
                except DataError as exc:
                    if report.files:
                        stored = sum(not f.skipped for f in report.files)
                        raise DataError(f"{exc.message} ({stored} earlier file(s) were stored)",
                                        exc.hint) from None
                    raise
                finally:
                    drop_staged(store, base + k % 2)
                result = FileResult(item.name, item.info.symbol, item.info.category, read,
                                    added, False, staged_s + time.perf_counter() - t0)
                report.files.append(result)
                if progress:
                    progress(result)
    finally:
        for slot in (base, base + 1):
            drop_staged(store, slot)
        if cursor is not None:
            cursor.close()


def ingest_trade_files(store: Store, source: str | Path, symbol: str | None = None,
                       category: str | None = None, *, force: bool = False,
                       timeout_s: float = 120.0,
                       progress: Callable[[FileResult], None] | None = None) -> IngestReport:
    """Ingest Bybit trade dumps from a file, a folder (all *.csv.gz / *.csv, by name) or a URL.

    Every file's header is checked first. Files are then inserted in name order, each in its own
    transaction (the next one is read on a second core meanwhile), so an interrupted run resumes
    where it stopped: files already ingested (same name and size) are skipped unless `force`.
    The first bad file raises DataError; the files before it stay stored. `progress` is called
    with each file's result.
    """
    t0 = time.perf_counter()
    report = IngestReport()
    text = str(source)
    if text.startswith(("http://", "https://")):
        with tempfile.TemporaryDirectory(prefix="gridlab-dl-") as tmp:
            path = _download(text, Path(tmp), timeout_s)
            _run(store, _plan(store, [path], symbol, category, force, report), report, progress)
        report.wall_seconds = time.perf_counter() - t0
        return report
    path = Path(source)
    if not path.exists():
        raise DataError(f"trade source {path} does not exist",
                        "pass a .csv.gz file, a folder of them, or an http(s) URL")
    paths = _files_in(path) if path.is_dir() else [path]
    todo = _plan(store, paths, symbol, category, force, report)
    if progress:
        for skipped in report.files:
            progress(skipped)
    _run(store, todo, report, progress)
    report.wall_seconds = time.perf_counter() - t0
    return report
