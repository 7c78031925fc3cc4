"""Ingesting Bybit trade dumps: formats, idempotency, resume, bad files, URLs, the CLI."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridlab.cli import app
from gridlab.data.files import detect_trade_file, ingest_trade_files
from gridlab.data.synth import generate_trades
from gridlab.errors import DataError
from gridlab.store import market
from gridlab.store.core import Store

if TYPE_CHECKING:
    from tests.conftest import DumpText

DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01


@pytest.fixture(scope="module")
def day_trades() -> list[pd.DataFrame]:
    """Three UTC days of synthetic trades, one frame per day (as Bybit's daily files)."""
    df = generate_trades("BTCUSDT", start_ms=T0, days=3, seed=5, trades_per_day=3000)
    return [g.reset_index(drop=True) for _, g in df.groupby(df["ts"] // DAY)]


def day_name(k: int, spot: bool = False) -> str:
    day = pd.Timestamp(T0 + k * DAY, unit="ms").strftime("%Y-%m-%d")
    return f"BTCUSDT_{day}.csv.gz" if spot else f"BTCUSDT{day}.csv.gz"


def stored(store: Store, category: str = "linear") -> int:
    return market.count_trades(store, "BTCUSDT", category)


def test_derivatives_file_round_trip(tmp_store: Store, write_dump: Callable[..., Path],
                                     day_trades: list[pd.DataFrame],
                                     dump_text: type[DumpText]) -> None:
    day = day_trades[0]
    path = write_dump(day_name(0), dump_text.derivatives(day))
    info = detect_trade_file(path)
    assert (info.fmt, info.symbol, info.category) == ("derivatives", "BTCUSDT", "linear")
    assert info.cover == (T0, T0 + DAY)
    report = ingest_trade_files(tmp_store, path)
    assert report.rows_read == report.rows_added == len(day)
    got = market.load_trades(tmp_store, "BTCUSDT", "linear")
    assert got["ts"].tolist() == day["ts"].tolist()  # seconds.fraction floored to the ms
    assert got["price"].tolist() == day["price"].tolist()
    assert got["size"].tolist() == day["size"].tolist()
    assert got["side"].tolist() == np.where(day["side"] == "Buy", 1, -1).tolist()
    ids = tmp_store.con.execute("SELECT trade_id, seq FROM trades ORDER BY ts, seq").fetchall()
    assert [i for i, _ in ids] == day["trade_id"].tolist()
    assert [s for _, s in ids] == list(range(len(day)))  # seq = line order in the file


def test_seq_breaks_timestamp_ties_in_file_order(tmp_store: Store,
                                                 write_dump: Callable[..., Path],
                                                 dump_text: type[DumpText]) -> None:
    n = 500
    df = pd.DataFrame({"symbol": "BTCUSDT", "ts": T0 + np.arange(n) // 50,  # 50 trades per ms
                       "price": 100.0 + np.arange(n) % 7, "size": 0.001, "side": "Sell",
                       "trade_id": [f"x{i}" for i in range(n)]})
    ingest_trade_files(tmp_store, write_dump(day_name(0), dump_text.derivatives(df, sub_ms="9")))
    got = market.load_trades(tmp_store, "BTCUSDT", "linear")
    assert got["price"].tolist() == df["price"].tolist()
    assert got["ts"].tolist() == df["ts"].tolist()


def test_spot_and_rpi_formats(tmp_store: Store, write_dump: Callable[..., Path],
                              day_trades: list[pd.DataFrame], dump_text: type[DumpText]) -> None:
    day = day_trades[1]
    path = write_dump(day_name(1, spot=True), dump_text.spot(day, rpi=True))
    info = detect_trade_file(path)
    assert (info.fmt, info.category, "rpi" in info.columns) == ("spot", "spot", True)
    assert ingest_trade_files(tmp_store, path).rows_added == len(day)
    got = market.load_trades(tmp_store, "BTCUSDT", "spot")
    assert got["ts"].tolist() == day["ts"].tolist()
    assert got["side"].tolist() == np.where(day["side"] == "Buy", 1, -1).tolist()
    rpi = write_dump(day_name(1), dump_text.derivatives(day, rpi=True))
    assert detect_trade_file(rpi).columns["RPI"] == "VARCHAR"
    assert ingest_trade_files(tmp_store, rpi).rows_added == len(day)
    plain = write_dump("BTCUSDT2024-01-02.csv", dump_text.derivatives(day), compress=False)
    assert ingest_trade_files(tmp_store, plain).rows_added == 0  # same ids: nothing new
    assert stored(tmp_store) == stored(tmp_store, "spot") == len(day)


def test_idempotent_and_resume(tmp_store: Store, write_dump: Callable[..., Path],
                               day_trades: list[pd.DataFrame], tmp_path: Path,
                               dump_text: type[DumpText]) -> None:
    folder = tmp_path / "folder"
    paths = [write_dump(day_name(k), dump_text.derivatives(d), folder)
             for k, d in enumerate(day_trades)]
    total = sum(len(d) for d in day_trades)
    first = ingest_trade_files(tmp_store, paths[1])  # an earlier, interrupted run
    assert first.rows_added == len(day_trades[1])
    seen: list[str] = []
    report = ingest_trade_files(tmp_store, folder, progress=lambda r: seen.append(r.source))
    assert [f.skipped for f in report.files] == [True, False, False]
    assert sorted(seen) == sorted(p.name for p in paths)
    assert stored(tmp_store) == total
    again = ingest_trade_files(tmp_store, folder)
    assert again.files_skipped == 3 and again.rows_added == 0
    forced = ingest_trade_files(tmp_store, folder, force=True)
    assert forced.rows_read == total and forced.rows_added == 0
    assert stored(tmp_store) == total
    assert "3 file(s)" in forced.summary()
    cover = tmp_store.con.execute("SELECT min(cover_start), max(cover_end), sum(rows_read) "
                                  "FROM trade_files").fetchall()[0]
    assert cover == (T0, T0 + 3 * DAY, total)


def _gz_truncated(text: str) -> bytes:
    import gzip

    data = gzip.compress(text.encode())
    return data[: len(data) // 2]


def _edit(text: str, line: int, col: int | None = None, value: str = "") -> str:
    """Replace field `col` of 1-based `line` (or the whole line when col is None)."""
    lines = text.split("\n")
    if col is None:
        lines[line - 1] = value
    else:
        fields = lines[line - 1].split(",")
        fields[col] = value
        lines[line - 1] = ",".join(fields)
    return "\n".join(lines)


# each maker turns a good derivatives dump text into a bad file's content
BAD_FILES = {
    "truncated": (lambda t: _gz_truncated(t), r"Unexpected end of GZIP"),
    "columns": (lambda t: "time,sym,px\n1,BTCUSDT,3\n", r"has columns time,sym,px; expected"),
    "non-numeric": (lambda t: _edit(t, 5, 4, "abc"),
                    r"line 5: column price: could not convert string \"abc\""),
    "short row": (lambda t: _edit(t, 3, None, "1704067200.0,BTCUSDT,Buy"),
                  r"line 3: Expected Number of Columns: 10 Found: 3"),
    "bad side": (lambda t: _edit(t, 7, 2, "Hold"), r"line 7: a side that is not Buy/Sell"),
    "missing value": (lambda t: _edit(t, 4, 3, ""), r"line 4: a missing value"),
    "zero size": (lambda t: _edit(t, 6, 3, "0"), r"line 6: a non-positive price or size"),
    "header only": (lambda t: t.splitlines()[0] + "\n", r"holds no trades"),
    "other symbol": (lambda t: t.replace("BTCUSDT", "ETHUSDT"),
                     r"holds symbol ETHUSDT, expected BTCUSDT"),
    "ms read as seconds": (lambda t: _edit(t, 5, 0, "1704067200123.5"),
                           r"line 5: time \d+ \(year 55,9\d\d\) is after 2100: milliseconds "
                           r"read as seconds"),
    "outside its day": (lambda t: _edit(t, 8, 0, "1704153600.5"),
                        r"line 8: time 2024-01-02 00:00:00 is outside the day its name says "
                        r"\(2024-01-01\)"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_store_nothing(case: str, tmp_store: Store, write_dump: Callable[..., Path],
                                 day_trades: list[pd.DataFrame], dump_text: type[DumpText]) -> None:
    make, pattern = BAD_FILES[case]
    content = make(dump_text.derivatives(day_trades[0]))
    if isinstance(content, bytes):
        path = write_dump(day_name(0), b"", compress=False)
        path.write_bytes(content)
    else:
        path = write_dump(day_name(0), content)
    with pytest.raises(DataError, match=pattern) as err:
        ingest_trade_files(tmp_store, path)
    assert path.name in str(err.value)
    assert "\n" not in str(err.value)
    assert stored(tmp_store) == 0
    assert tmp_store.con.execute("SELECT count(*) FROM trade_files").fetchall() == [(0,)]


def test_duplicate_lines_stored_once(tmp_store: Store, write_dump: Callable[..., Path],
                                     day_trades: list[pd.DataFrame],
                                     dump_text: type[DumpText]) -> None:
    day = day_trades[0].iloc[:300]
    doubled = pd.concat([day, day.iloc[:100]]).sort_values("ts", kind="stable")
    report = ingest_trade_files(tmp_store, write_dump(day_name(0), dump_text.derivatives(doubled)))
    assert (report.rows_read, report.rows_added) == (400, 300)
    assert stored(tmp_store) == 300
    ids = tmp_store.con.execute("SELECT count(DISTINCT trade_id) FROM trades").fetchall()
    assert ids == [(300,)]


def test_spot_seconds_refused(tmp_store: Store, write_dump: Callable[..., Path],
                              day_trades: list[pd.DataFrame], dump_text: type[DumpText]) -> None:
    day = day_trades[0].assign(ts=day_trades[0]["ts"] // 1000)  # seconds in the ms column
    path = write_dump(day_name(0, spot=True), dump_text.spot(day))
    with pytest.raises(DataError, match=r"line 2: time 1704067\d+ \(1970-01-20 .*before 2015"):
        ingest_trade_files(tmp_store, path)
    assert stored(tmp_store, "spot") == 0


def test_insert_trades_refuses_implausible_times(tmp_store: Store,
                                                 day_trades: list[pd.DataFrame]) -> None:
    bad = day_trades[0].iloc[:10].assign(ts=lambda d: d["ts"] * 1000)  # microseconds
    with pytest.raises(DataError, match=r"insert_trades: time .* after 2100"):
        market.insert_trades(tmp_store, bad)
    assert stored(tmp_store) == 0


def test_empty_and_fake_gzip(tmp_store: Store, tmp_path: Path) -> None:
    empty = tmp_path / "BTCUSDT2024-01-01.csv.gz"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"is empty"):
        ingest_trade_files(tmp_store, empty)
    empty.write_bytes(b"timestamp,symbol\n")
    with pytest.raises(DataError, match=r"not gzip-compressed"):
        ingest_trade_files(tmp_store, empty)
    with pytest.raises(DataError, match=r"does not exist"):
        ingest_trade_files(tmp_store, tmp_path / "nope.csv.gz")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(DataError, match=r"no .csv.gz or .csv files"):
        ingest_trade_files(tmp_store, tmp_path / "emptydir")


def test_symbol_and_category_rules(tmp_store: Store, write_dump: Callable[..., Path],
                                   day_trades: list[pd.DataFrame],
                                   dump_text: type[DumpText]) -> None:
    text = dump_text.derivatives(day_trades[0])
    renamed = write_dump("trades.csv.gz", text)
    assert detect_trade_file(renamed).symbol == "BTCUSDT"  # from the symbol column
    assert detect_trade_file(renamed).cover is None
    inverse = write_dump("BTCUSD2024-01-01.csv.gz", text.replace("BTCUSDT", "BTCUSD"))
    assert detect_trade_file(inverse).category == "inverse"
    with pytest.raises(DataError, match=r"spot.*derivatives|derivatives.*spot"):
        detect_trade_file(renamed, category="spot")
    spot = write_dump("export.csv.gz", dump_text.spot(day_trades[0]))
    with pytest.raises(DataError, match=r"cannot tell the symbol.*--symbol"):
        detect_trade_file(spot)
    assert detect_trade_file(spot, symbol="ETHUSDT").symbol == "ETHUSDT"
    with pytest.raises(DataError, match=r"holds symbol BTCUSDT, expected ETHUSDT"):
        ingest_trade_files(tmp_store, renamed, symbol="ETHUSDT")
    report = ingest_trade_files(tmp_store, renamed)
    assert report.rows_added == len(day_trades[0])
    assert report.files[0].source == "trades.csv.gz"


def test_bad_file_in_folder_keeps_earlier_files(tmp_store: Store, tmp_path: Path,
                                                write_dump: Callable[..., Path],
                                                day_trades: list[pd.DataFrame],
                                                dump_text: type[DumpText]) -> None:
    folder = tmp_path / "mixed"
    write_dump(day_name(0), dump_text.derivatives(day_trades[0]), folder)
    bad = dump_text.derivatives(day_trades[1]).replace(",Sell,", ",Nope,", 1)
    write_dump(day_name(1), bad, folder)
    write_dump(day_name(2), dump_text.derivatives(day_trades[2]), folder)
    with pytest.raises(DataError, match=r"BTCUSDT2024-01-02.csv.gz.*1 earlier file\(s\) were "
                       r"stored"):
        ingest_trade_files(tmp_store, folder)
    assert stored(tmp_store) == len(day_trades[0])


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server (127.0.0.1 only) serving a temporary folder."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_ingest_from_url(tmp_store: Store, http_folder: tuple[str, Path],
                         write_dump: Callable[..., Path], day_trades: list[pd.DataFrame],
                         dump_text: type[DumpText]) -> None:
    base, root = http_folder
    write_dump(day_name(2), dump_text.derivatives(day_trades[2]), root / "trading" / "BTCUSDT")
    url = f"{base}/trading/BTCUSDT/{day_name(2)}"
    report = ingest_trade_files(tmp_store, url)
    assert report.rows_added == len(day_trades[2])
    assert report.files[0].source == day_name(2)
    assert ingest_trade_files(tmp_store, url).files_skipped == 1
    with pytest.raises(DataError, match=r"cannot download .*HTTP 404"):
        ingest_trade_files(tmp_store, f"{base}/trading/BTCUSDT/missing.csv.gz")


def test_cli_ingest_and_resample(tmp_path: Path, write_dump: Callable[..., Path],
                                 day_trades: list[pd.DataFrame], dump_text: type[DumpText]) -> None:
    db = tmp_path / "cli.duckdb"
    path = write_dump(day_name(0), dump_text.derivatives(day_trades[0]))
    runner = CliRunner()
    out = runner.invoke(app, ["ingest", "trades", str(path), "--db", str(db)])
    assert out.exit_code == 0, out.output
    assert f"{len(day_trades[0]):,} of {len(day_trades[0]):,} new" in out.output
    out = runner.invoke(app, ["ingest", "resample", "--symbol", "BTCUSDT", "-i", "1", "-i", "60",
                              "--db", str(db)])
    assert out.exit_code == 0, out.output
    assert "BTCUSDT linear 60: 24 new bars" in out.output
    out = runner.invoke(app, ["ingest", "resample", "--symbol", "BTCUSDT", "-i", "7",
                              "--db", str(db)])
    assert isinstance(out.exception, DataError)
    with Store.open(db, read_only=True) as store:
        assert len(market.load_klines(store, "BTCUSDT", "linear", "60")["open_time"]) == 24


def test_inside_a_callers_transaction(tmp_store: Store, tmp_path: Path,
                                      write_dump: Callable[..., Path],
                                      day_trades: list[pd.DataFrame],
                                      dump_text: type[DumpText]) -> None:
    folder = tmp_path / "tx"
    for k, d in enumerate(day_trades[:2]):
        write_dump(day_name(k), dump_text.derivatives(d), folder)
    with pytest.raises(RuntimeError), tmp_store.transaction():
        report = ingest_trade_files(tmp_store, folder)
        assert report.rows_added == len(day_trades[0]) + len(day_trades[1])
        raise RuntimeError("caller aborts")
    assert stored(tmp_store) == 0  # the caller's rollback undid both files
    with tmp_store.transaction():
        ingest_trade_files(tmp_store, folder)
    assert stored(tmp_store) == len(day_trades[0]) + len(day_trades[1])
