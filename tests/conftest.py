"""Shared fixtures: stores (empty, or holding a small synthetic market) and Bybit dump writers.

Add area fixtures here only when several test modules need them; keep them generic.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridlab.store.core import Store

SYNTH_START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC (a Monday)


@pytest.fixture
def tmp_store(tmp_path: Path) -> Iterator[Store]:
    """An empty, migrated store in a temporary file; closed at teardown."""
    store = Store.open(tmp_path / "test.duckdb")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="session")
def synthetic_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file holding 2 days of synthetic BTCUSDT linear (seed 0, 20k trades/day) from
    2024-01-01: trades, 1m/5m/60m klines, funding, instrument. Do not write to it: use
    `synthetic_store` (a private copy) for that."""
    from gridlab.data.synth import write_synthetic_market

    path = tmp_path_factory.mktemp("synthetic") / "synthetic.duckdb"
    with Store.open(path) as store:
        write_synthetic_market(store, "BTCUSDT", "linear", start_ms=SYNTH_START_MS, days=2,
                               seed=0, trades_per_day=20_000, intervals=("1", "5", "60"))
    return path


@pytest.fixture
def synthetic_store(synthetic_db: Path, tmp_path: Path) -> Iterator[Store]:
    """A private read-write copy of `synthetic_db`, opened; closed at teardown."""
    copy = tmp_path / "synthetic.duckdb"
    shutil.copyfile(synthetic_db, copy)
    store = Store.open(copy)
    try:
        yield store
    finally:
        store.close()


def seconds_text(ts_ms: np.ndarray, sub_ms: str = "7") -> list[str]:
    """Bybit's derivatives timestamps: Unix seconds with a fraction ('1704067200.1237').

    `sub_ms` digits are appended after the milliseconds (ingestion floors them away)."""
    sec, ms = np.divmod(np.asarray(ts_ms, dtype=np.int64), 1000)
    return [f"{s}.{m:03d}{sub_ms}" for s, m in zip(sec.tolist(), ms.tolist(), strict=True)]


def derivatives_csv(trades: pd.DataFrame, rpi: bool = False, sub_ms: str = "7") -> str:
    """Bybit derivatives dump text (`trading/SYM/SYMYYYY-MM-DD.csv.gz`) of a trades frame."""
    price = trades["price"].to_numpy()
    size = trades["size"].to_numpy()
    out = pd.DataFrame({
        "timestamp": seconds_text(trades["ts"].to_numpy(), sub_ms),
        "symbol": trades["symbol"].to_numpy(), "side": trades["side"].to_numpy(),
        "size": size, "price": price, "tickDirection": "ZeroPlusTick",
        "trdMatchID": trades["trade_id"].to_numpy(), "grossValue": price * size * 1e8,
        "homeNotional": size, "foreignNotional": price * size})
    if rpi:
        out["RPI"] = 0
    return out.to_csv(index=False, lineterminator="\n")


def spot_csv(trades: pd.DataFrame, rpi: bool = False) -> str:
    """Bybit spot dump text (`spot/SYM/SYM_YYYY-MM-DD.csv.gz`) of a trades frame."""
    out = pd.DataFrame({
        "id": np.arange(1, len(trades) + 1) + 10_000_000, "timestamp": trades["ts"].to_numpy(),
        "price": trades["price"].to_numpy(), "volume": trades["size"].to_numpy(),
        "side": trades["side"].str.lower().to_numpy()})
    if rpi:
        out["rpi"] = 0
    return out.to_csv(index=False, lineterminator="\n")


class DumpText:
    """Bybit dump text builders (the `dump_text` fixture)."""

    derivatives = staticmethod(derivatives_csv)
    spot = staticmethod(spot_csv)
    seconds = staticmethod(seconds_text)


@pytest.fixture(scope="session")
def dump_text() -> type[DumpText]:
    """dump_text.derivatives(trades_df, rpi=False, sub_ms='7') / dump_text.spot(trades_df):
    the text of a Bybit trade dump of a trades-table frame."""
    return DumpText


@pytest.fixture
def write_dump(tmp_path: Path) -> Callable[..., Path]:
    """write_dump(name, text_or_bytes, folder=None, compress=True) -> path of a dump file."""

    def write(name: str, content: str | bytes, folder: Path | None = None,
              compress: bool = True) -> Path:
        target = (folder or tmp_path / "dumps") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        target.write_bytes(gzip.compress(data, compresslevel=1) if compress else data)
        return target

    return write


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the live runner's step kernels before any test starts a runner subprocess (on a
    clean clone the numba cache is cold; see tests/live_helpers.py)."""
    from tests.live_helpers import warm_live_step_kernels

    warm_live_step_kernels()
