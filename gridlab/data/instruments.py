"""Instrument filters without the network: Bybit instruments-info files and the shipped snapshot.

`gridlab ingest instruments --from-file PATH` loads a saved `/v5/market/instruments-info`
response (the whole response, its `result`, or a JSON list of responses, one per category).
gridlab ships such a file, `gridlab/data/snapshots/bybit_instruments.json` (linear and spot
BTC, ETH, SOL, XRP, DOGE, and BNB linear; SNAPSHOT_DATE), so a backtest of trade dumps alone
works offline: `instrument_filters` takes the store's row when there is one, else the
snapshot's, and says which one it used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from gridlab.errors import DataError
from gridlab.store.core import Store
from gridlab.store.market import get_instrument, upsert_instruments, validate_category

if TYPE_CHECKING:
    import pandas as pd

    from gridlab.bybit.parse import Instrument

__all__ = [
    "SNAPSHOT_PATH",
    "InstrumentSource",
    "ingest_instruments_file",
    "instrument_filters",
    "instrument_rows",
    "read_instruments_file",
    "snapshot_date",
    "snapshot_instrument",
]

SNAPSHOT_PATH = "snapshots/bybit_instruments.json"
_HOW = ("get them with `gridlab ingest instruments --symbol SYM --category CAT` (REST), or "
        "`gridlab ingest instruments --from-file FILE` (a saved /v5/market/instruments-info "
        "response)")


class InstrumentSource(NamedTuple):
    """Instrument filters and where they came from."""

    row: dict[str, Any]
    origin: str  # store | snapshot
    description: str  # e.g. "store (rest, fetched 2025-07-01)"


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def instrument_rows(found: Iterable[Instrument], fetched_at: int, origin: str) -> pd.DataFrame:
    """The instruments-table frame of parsed instruments (what upsert_instruments takes)."""
    items = list(found)
    import pandas as pd

    return pd.DataFrame({
        "symbol": [i.symbol for i in items], "category": [i.category for i in items],
        "tick_size": [i.tick_size for i in items], "qty_step": [i.qty_step for i in items],
        "min_qty": [i.min_qty for i in items], "min_notional": [i.min_notional for i in items],
        "max_qty": [i.max_qty for i in items], "fetched_at": int(fetched_at),
        "max_leverage": [i.max_leverage for i in items],
        "funding_interval_min": [i.funding_interval_min for i in items], "origin": origin})


def _results(doc: Any, name: str) -> list[tuple[dict[str, Any], int | None]]:
    """(result, response time) pairs of a response, a result, or a list of either."""
    if isinstance(doc, list):
        return [r for d in doc for r in _results(d, name)]
    if not isinstance(doc, dict):
        raise DataError(f"{name} is not an instruments-info response (found "
                        f"{type(doc).__name__})", "save the JSON of /v5/market/instruments-info")
    if "result" in doc:
        if doc.get("retCode", 0) != 0:
            raise DataError(f"{name} holds an error response (retCode {doc.get('retCode')}: "
                            f"{doc.get('retMsg', '')})", "save a successful response")
        t = doc.get("time")
        return [(r, int(t) if t is not None else None) for r, _ in _results(doc["result"], name)]
    if "list" in doc and "category" in doc:
        return [(doc, None)]
    raise DataError(f"{name} has no result.category / result.list",
                    "save the JSON of /v5/market/instruments-info as it came")


def read_instruments_file(path: str | Path, fetched_at: int | None = None
                          ) -> tuple[list[Instrument], int]:
    """Parse a saved instruments-info file: (instruments, fetched_at epoch ms).

    fetched_at is `fetched_at`, else the response's `time`, else the file's modification time.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}", "check the path") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name} is not valid JSON: {exc}", "save the response as JSON"
                        ) from None
    return _parse(doc, path.name, fetched_at, int(path.stat().st_mtime * 1000))


def _parse(doc: Any, name: str, fetched_at: int | None, fallback_ms: int
           ) -> tuple[list[Instrument], int]:
    from gridlab.bybit.parse import parse_instrument  # only when a file or snapshot is read

    found: list[Instrument] = []
    times: list[int] = []
    for result, t in _results(doc, name):
        category = validate_category(str(result["category"]))
        for k, entry in enumerate(result.get("list") or []):
            try:
                found.append(parse_instrument(entry, category))
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{name}: {category} entry {k} cannot be read ({exc})",
                                "save the response of /v5/market/instruments-info unchanged"
                                ) from None
        if t is not None:
            times.append(t)
    if not found:
        raise DataError(f"{name} lists no instrument", "save a response with result.list")
    return found, int(fetched_at if fetched_at is not None else max(times, default=fallback_ms))


def ingest_instruments_file(store: Store, path: str | Path, symbols: list[str] | None = None,
                            category: str | None = None) -> int:
    """Store the instruments of a saved instruments-info file (only `symbols` / `category`
    when given); returns rows inserted or replaced (a stored row fetched later is kept)."""
    found, fetched_at = read_instruments_file(path)
    wanted = set(symbols or [])
    keep = [i for i in found if (not wanted or i.symbol in wanted)
            and (category is None or i.category == category)]
    missing = sorted(wanted - {i.symbol for i in keep})
    if missing:
        raise DataError(f"{Path(path).name} has no {', '.join(missing)}"
                        f"{f' ({category})' if category else ''}",
                        "check the spelling and --category, or drop --symbol")
    return upsert_instruments(store, instrument_rows(keep, fetched_at, f"file:{Path(path).name}"))


def _snapshot() -> tuple[list[Instrument], int]:
    node = resources.files("gridlab.data").joinpath(SNAPSHOT_PATH)
    return _parse(json.loads(node.read_text(encoding="utf-8")), "the shipped snapshot", None, 0)


def snapshot_date() -> str:
    """UTC date of the shipped snapshot (YYYY-MM-DD)."""
    return _day(_snapshot()[1])


def snapshot_instrument(symbol: str, category: str) -> dict[str, Any] | None:
    """The shipped snapshot's row for (symbol, category), in the instruments-table shape."""
    found, fetched_at = _snapshot()
    hit = [i for i in found if i.symbol == symbol and i.category == category]
    if not hit:
        return None
    row = instrument_rows(hit, fetched_at, f"snapshot:{_day(fetched_at)}").iloc[0].to_dict()
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def instrument_filters(store: Store, symbol: str, category: str) -> InstrumentSource:
    """The instrument's filters: the store's row, else the shipped snapshot's, else DataError."""
    row = get_instrument(store, symbol, category)
    if row is not None:
        how = row.get("origin") or "rest"
        return InstrumentSource(row, "store", f"store ({how}, fetched {_day(row['fetched_at'])})")
    snap = snapshot_instrument(symbol, category)
    if snap is not None:
        return InstrumentSource(snap, "snapshot",
                                f"shipped snapshot of {_day(snap['fetched_at'])} (the store has "
                                f"no {symbol} {category} instrument; {_HOW} for current ones)")
    raise DataError(f"{symbol} {category} is neither in the instruments table of {store.path} "
                    "nor in the shipped snapshot", _HOW + ", or pass filters=")
