"""Market data for the backtest: the event arrays the kernels replay, validated.

`MarketData` holds events (trades, or kline path points), the funding table and the
instrument filters. Build it from the store with `load_market` or from arrays with
`MarketData.from_trades` / `MarketData.from_klines`. Validation refuses what would give a
silently wrong result (empty data, NaN or non-positive prices, times going backwards, bars
whose high/low do not contain open/close) with a DataError naming the first bad row, and
reports gaps as warnings carried into the result.

Funding: `load_market` takes the instrument's funding interval (`funding_interval_min` of the
store's instruments row, else the shipped snapshot's; gridlab.data.funding). A funding table
with a rate off the whole hour (on no Bybit grid) is refused, naming the time; the run then
reports the settlements of its span missing from the table, the rates off the interval's
grid and the periods at another interval (Bybit changed the instrument's interval) as
warnings (`MarketData.funding_check`, used by `backtest`). Unknown interval: not checked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gridlab.backtest.path_nb import POINTS_PER_BAR, kline_path
from gridlab.data.funding import FundingCheck, check_funding, off_hour
from gridlab.errors import DataError
from gridlab.strategy.enums import Filters

__all__ = ["MarketData", "fmt_ms", "load_market", "to_ms"]

_DEFAULT_FILTERS = Filters(0.01, 0.001, 0.0, 0.0, 0.0)


def to_ms(value: Any) -> int | None:
    """Epoch ms from an int (ms), a 'YYYY-MM-DD[THH:MM[:SS]]' string (UTC), a datetime or None."""
    if value is None:
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, dt.datetime):
        d = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return int(d.timestamp() * 1000)
    if isinstance(value, dt.date):
        return to_ms(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC))
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        try:
            return to_ms(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise DataError(f"cannot read the time {value!r}",
                            "write YYYY-MM-DD, YYYY-MM-DDTHH:MM or epoch milliseconds") from None
    raise DataError(f"cannot read the time {value!r} ({type(value).__name__})",
                    "pass epoch ms, a date string or a datetime")


def fmt_ms(ms: int | None) -> str:
    """ISO UTC text of epoch ms ('-' for None)."""
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True, eq=False)
class MarketData:
    """Validated replay input. `bar_ms` is 0 for trades, the kline length for kline paths."""

    ts: np.ndarray
    price: np.ndarray
    size: np.ndarray
    symbol: str = "SYNTH"
    category: str = "linear"
    source: str = "trades"
    bar_ms: int = 0
    fund_ts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    fund_rate: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    filters: Filters = _DEFAULT_FILTERS
    warnings: tuple[str, ...] = ()
    gaps: tuple[tuple[int, int], ...] = ()
    instruments: str = ""  # where the filters came from (load_market): store / snapshot
    # the margin model (backtest.margin): mark-price series (time each mark is known, float
    # epoch ms; mark) and the risk-limit tiers (strategy.margin.RiskTiers) from the store
    mark_ts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    mark_px: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    risk_tiers: Any = None
    # the instrument's funding interval (ms, 0 = unknown: the funding is not checked) and where
    # the funding rates came from (named in the warnings)
    funding_interval_ms: int = 0
    funding_where: str = "the given funding arrays"

    def __post_init__(self) -> None:
        # numba compiles a kernel once per array flavour: read-only arrays (DuckDB's, a
        # memory map) would cost a second compile of every replay kernel (about two
        # minutes cold), so the replay arrays are always writable (a read-only one is copied)
        for name in ("ts", "price", "size", "fund_ts", "fund_rate", "mark_ts", "mark_px"):
            a = getattr(self, name)
            if not a.flags.writeable:
                object.__setattr__(self, name, a.copy())

    def with_mark(self, open_time: Any, close: Any, interval_ms: int) -> MarketData:
        """This data with a mark-price series of bars (open times, closes): each close is
        the mark from the bar's end (open + interval) on."""
        ot = np.asarray(open_time, dtype=np.int64)
        px = np.ascontiguousarray(close, dtype=np.float64)
        if len(ot) != len(px) or (len(ot) > 1 and np.any(np.diff(ot) <= 0)):
            raise DataError("mark-price bars must be ascending, one close per open time",
                            "load them with gridlab.store.price_klines.load_price_klines")
        _check_prices(px, ot, "mark price")
        return replace(self, mark_ts=np.ascontiguousarray(ot + int(interval_ms),
                                                          dtype=np.float64), mark_px=px)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_trades(cls, ts: Any, price: Any, size: Any = None, *, symbol: str = "SYNTH",
                    category: str = "linear", filters: Filters | None = None,
                    funding: dict[str, np.ndarray] | None = None,
                    max_gap_ms: int = 3_600_000, funding_interval_ms: int = 0,
                    funding_where: str = "the given funding arrays") -> MarketData:
        """Trades (ts int64 ms ascending, price, size in base units). `funding_interval_ms`
        (the instrument's, 0 = unknown) has the funding checked (module docstring)."""
        ts_a = np.ascontiguousarray(ts, dtype=np.int64)
        price_a = np.ascontiguousarray(price, dtype=np.float64)
        size_a = (np.ones(len(ts_a)) if size is None
                  else np.ascontiguousarray(size, dtype=np.float64))
        if not len(ts_a):
            raise DataError(f"no trades for {symbol} {category} in the requested period",
                            "widen the period or ingest data")
        if not (len(price_a) == len(ts_a) == len(size_a)):
            raise DataError("ts, price and size must have the same length",
                            "pass aligned arrays")
        _check_prices(price_a, ts_a, "price")
        _check_sorted(ts_a)
        bad = np.flatnonzero(~np.isfinite(size_a) | (size_a < 0))
        if len(bad):
            i = int(bad[0])
            raise DataError(f"trade size at index {i} ({fmt_ms(int(ts_a[i]))}) is {size_a[i]}",
                            "clean the data: sizes must be finite and >= 0")
        gaps = _gaps(ts_a, max_gap_ms)
        fts, frate = _funding(funding, category, funding_interval_ms, funding_where)
        return cls(ts_a, price_a, size_a, symbol, category, "trades", 0, fts, frate,
                   filters or _DEFAULT_FILTERS, _gap_warnings(gaps), gaps,
                   funding_interval_ms=int(funding_interval_ms), funding_where=funding_where)

    @classmethod
    def from_klines(cls, open_time: Any, open: Any, high: Any, low: Any, close: Any,
                    volume: Any = None, *, bar_ms: int = 60_000, source: str | None = None,
                    symbol: str = "SYNTH", category: str = "linear",
                    filters: Filters | None = None,
                    funding: dict[str, np.ndarray] | None = None,
                    funding_interval_ms: int = 0,
                    funding_where: str = "the given funding arrays") -> MarketData:
        """Klines (open_time ascending); each bar becomes 4 path points (see `path_nb`).
        `funding_interval_ms` as in `from_trades`."""
        ot = np.ascontiguousarray(open_time, dtype=np.int64)
        cols = [np.ascontiguousarray(x, dtype=np.float64) for x in (open, high, low, close)]
        vol = (np.zeros(len(ot)) if volume is None
               else np.ascontiguousarray(volume, dtype=np.float64))
        if not len(ot):
            raise DataError(f"no klines for {symbol} {category} in the requested period",
                            "widen the period or ingest data")
        for name, col in zip(("open", "high", "low", "close"), cols, strict=True):
            _check_prices(col, ot, name)
        o, h, lo, c = cols
        bad = np.flatnonzero((h < np.maximum(o, c)) | (lo > np.minimum(o, c)))
        if len(bad):
            i = int(bad[0])
            raise DataError(f"bar {i} ({fmt_ms(int(ot[i]))}) has high/low not containing "
                            f"open/close (o={o[i]} h={h[i]} l={lo[i]} c={c[i]})",
                            "clean or re-ingest the klines")
        if len(ot) > 1 and np.any(np.diff(ot) <= 0):
            i = int(np.flatnonzero(np.diff(ot) <= 0)[0]) + 1
            raise DataError(f"kline open times do not increase at bar {i} ({fmt_ms(int(ot[i]))})",
                            "sort and de-duplicate the bars")
        if len(ot) > 1 and bar_ms > 0 and np.any(np.diff(ot) < bar_ms):
            i = int(np.flatnonzero(np.diff(ot) < bar_ms)[0]) + 1
            raise DataError(f"kline open times {fmt_ms(int(ot[i - 1]))} and "
                            f"{fmt_ms(int(ot[i]))} (bars {i - 1} and {i}) are "
                            f"{int(ot[i] - ot[i - 1])} ms apart, closer than the interval "
                            f"({bar_ms} ms)", "pass the bars' real interval (bar_ms), or "
                            "drop the bars that do not open on the interval's grid")
        gaps = _gaps(ot, bar_ms)
        ts, price, size = kline_path(ot, o, h, lo, c, vol, bar_ms)
        fts, frate = _funding(funding, category, funding_interval_ms, funding_where)
        return cls(ts, price, size, symbol, category, source or f"{bar_ms // 60_000}", bar_ms,
                   fts, frate, filters or _DEFAULT_FILTERS, _gap_warnings(gaps), gaps,
                   funding_interval_ms=int(funding_interval_ms), funding_where=funding_where)

    # -- views -------------------------------------------------------------------------------
    @property
    def n_events(self) -> int:
        return len(self.ts)

    @property
    def start_ms(self) -> int:
        return int(self.ts[0])

    @property
    def end_ms(self) -> int:
        """One past the last event (klines: the end of the last bar)."""
        return int(self.ts[-1]) + 1

    def slice(self, start_ms: int, end_ms: int) -> MarketData:
        """Events in [start_ms, end_ms) (klines: whole bars whose open time is in it)."""
        start_ms, end_ms = int(start_ms), int(end_ms)
        if self.bar_ms:
            opens = self.ts[::POINTS_PER_BAR]
            b0 = int(np.searchsorted(opens, start_ms, "left"))
            b1 = int(np.searchsorted(opens, end_ms, "left"))
            i0, i1 = b0 * POINTS_PER_BAR, b1 * POINTS_PER_BAR
        else:
            i0 = int(np.searchsorted(self.ts, start_ms, "left"))
            i1 = int(np.searchsorted(self.ts, end_ms, "left"))
        if i1 <= i0:
            raise DataError(f"no {self.source} data in [{fmt_ms(start_ms)}, {fmt_ms(end_ms)})",
                            f"the data covers {fmt_ms(self.start_ms)} .. {fmt_ms(self.end_ms - 1)}")
        ts = self.ts[i0:i1]
        f0 = int(np.searchsorted(self.fund_ts, ts[0], "left"))
        f1 = int(np.searchsorted(self.fund_ts, ts[-1], "right"))
        gaps = tuple(g for g in self.gaps if g[0] >= ts[0] and g[1] <= ts[-1])
        return replace(self, ts=ts, price=self.price[i0:i1], size=self.size[i0:i1],
                       fund_ts=self.fund_ts[f0:f1], fund_rate=self.fund_rate[f0:f1],
                       gaps=gaps, warnings=_gap_warnings(gaps))

    def describe(self) -> str:
        """Symbol, source, period, events; a second line with the filters' origin, if known."""
        line = (f"{self.symbol} {self.category} {self.source} {fmt_ms(self.start_ms)} .. "
                f"{fmt_ms(self.end_ms - 1)} ({self.n_events:,} events)")
        return f"{line}\ninstrument filters: {self.instruments}" if self.instruments else line

    def funding_in_run(self) -> tuple[np.ndarray, np.ndarray]:
        """Funding times within the replayed events (spot: none)."""
        if self.category == "spot" or not len(self.fund_ts):
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        f0 = int(np.searchsorted(self.fund_ts, self.ts[0], "left"))
        f1 = int(np.searchsorted(self.fund_ts, self.ts[-1], "right"))
        return (np.ascontiguousarray(self.fund_ts[f0:f1]),
                np.ascontiguousarray(self.fund_rate[f0:f1]))

    def funding_check(self) -> FundingCheck | None:
        """The replayed span's funding settlements against the instrument's interval (None for
        spot or an unknown interval); `.warnings(symbol, where)` is what a run reports."""
        if self.category == "spot" or not self.funding_interval_ms:
            return None
        fts, _ = self.funding_in_run()
        return check_funding(fts, self.funding_interval_ms, int(self.ts[0]), int(self.ts[-1]))

    def funding_warnings(self) -> list[str]:
        """The warnings of `funding_check` (empty when the funding is complete or unchecked)."""
        check = self.funding_check()
        return [] if check is None else check.warnings(self.symbol, self.funding_where)


# -- helpers ---------------------------------------------------------------------------------
def _check_prices(price: np.ndarray, ts: np.ndarray, what: str) -> None:
    bad = np.flatnonzero(~np.isfinite(price) | (price <= 0))
    if len(bad):
        i = int(bad[0])
        raise DataError(f"{what} at index {i} ({fmt_ms(int(ts[i]))}) is {price[i]} "
                        f"({len(bad)} bad rows)",
                        "clean or re-ingest the data; prices must be finite and > 0")


def _check_sorted(ts: np.ndarray) -> None:
    if len(ts) > 1:
        back = np.flatnonzero(np.diff(ts) < 0)
        if len(back):
            i = int(back[0]) + 1
            raise DataError(f"trade times go backwards at index {i} ({fmt_ms(int(ts[i]))})",
                            "sort the trades by time")


def _gaps(t: np.ndarray, step: int) -> tuple[tuple[int, int], ...]:
    """(before, after) times of every step longer than `step`."""
    if len(t) < 2:
        return ()
    idx = np.flatnonzero(np.diff(t) > step)
    return tuple((int(t[i]), int(t[i + 1])) for i in idx)


def _gap_warnings(gaps: tuple[tuple[int, int], ...]) -> tuple[str, ...]:
    if not gaps:
        return ()
    shown = ", ".join(f"{fmt_ms(a)} -> {fmt_ms(b)}" for a, b in gaps[:5])
    more = f" and {len(gaps) - 5} more" if len(gaps) > 5 else ""
    return (f"{len(gaps)} gap(s) in the data: {shown}{more}",)


def _funding(funding: dict[str, np.ndarray] | None, category: str, interval_ms: int = 0,
             where: str = "the given funding arrays") -> tuple[np.ndarray, np.ndarray]:
    if funding is None or category == "spot":
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    fts = np.ascontiguousarray(funding["ts"], dtype=np.int64)
    rate = np.ascontiguousarray(funding["rate"], dtype=np.float64)
    order = np.argsort(fts, kind="stable")
    fts, rate = fts[order], rate[order]
    bad = np.flatnonzero(~np.isfinite(rate))
    if len(bad):
        i = int(bad[0])
        raise DataError(f"funding rate at {fmt_ms(int(fts[i]))} is {rate[i]}",
                        "clean or re-ingest the funding table")
    odd = off_hour(fts) if interval_ms else fts[:0]
    if len(odd):
        raise DataError(f"{len(odd)} funding rate(s) in {where} are not on a whole hour (first "
                        f"at {fmt_ms(int(odd[0]))}.{int(odd[0]) % 1000:03d}): Bybit settles "
                        "funding on the hour (every 1, 2, 4 or 8 h)",
                        "delete those rows and re-ingest the funding (gridlab ingest funding)")
    return fts, rate


def load_market(store: Any, symbol: str, category: str = "linear", source: str = "trades",
                start: Any = None, end: Any = None, *, filters: Filters | None = None,
                funding: bool = True, max_gap_ms: int = 3_600_000) -> MarketData:
    """Load trades (`source='trades'`) or klines (`source` = Bybit interval '1', '5', ...) in
    [start, end) from the store, with the funding table and the instrument filters.

    A period outside the stored data raises DataError naming the stored range. The filters
    are `filters`, else the store's instruments row, else the shipped snapshot's
    (gridlab.data.instruments); `MarketData.instruments` says which. The funding interval
    comes from the same row (module docstring).
    """
    from gridlab.data.funding import interval_ms_of_minutes
    from gridlab.data.instruments import instrument_filters
    from gridlab.store import market as mk

    start_ms, end_ms = to_ms(start), to_ms(end)
    source = str(source)
    origin = "given (filters=)"
    inst: dict[str, Any] | None = None
    if filters is None:
        found = instrument_filters(store, symbol, category)  # the store's, else the snapshot's
        inst, origin = found.row, found.description
        filters = Filters(float(inst["tick_size"]), float(inst["qty_step"]),
                          float(inst["min_qty"]), float(inst["max_qty"]),
                          float(inst["min_notional"]))
    fund = None
    fiv = 0
    if funding and category != "spot":
        if inst is None:
            try:
                inst = instrument_filters(store, symbol, category).row
            except DataError:
                inst = None
        fiv = interval_ms_of_minutes(inst.get("funding_interval_min") if inst else 0)
        try:
            fund = mk.load_funding(store, symbol, start_ms, end_ms)
        except DataError:
            fund = None
    where = f"the funding table of {store.path}"
    if source == "trades":
        d = mk.load_trades(store, symbol, category, start_ms, end_ms)
        if not len(d["ts"]):
            span = mk.trade_span(store, symbol, category)
            hint = (f"the store has trades from {fmt_ms(span[0])} to {fmt_ms(span[1])}" if span
                    else f"the store has no {symbol} {category} trades: ingest them first")
            raise DataError(f"no trades for {symbol} {category} in [{fmt_ms(start_ms)}, "
                            f"{fmt_ms(end_ms)})", hint)
        md = MarketData.from_trades(d["ts"], d["price"], d["size"], symbol=symbol,
                                    category=category, filters=filters, funding=fund,
                                    max_gap_ms=max_gap_ms, funding_interval_ms=fiv,
                                    funding_where=where)
    else:
        interval = mk.validate_interval(source)
        d = mk.load_klines(store, symbol, category, interval, start_ms, end_ms)
        if not len(d["open_time"]):
            first = mk.first_kline_time(store, symbol, category, interval)
            last = mk.last_kline_time(store, symbol, category, interval)
            raise DataError(f"no {interval} klines for {symbol} {category} in "
                            f"[{fmt_ms(start_ms)}, {fmt_ms(end_ms)})",
                            f"the store has them from {fmt_ms(first)} to {fmt_ms(last)}")
        md = MarketData.from_klines(d["open_time"], d["open"], d["high"], d["low"], d["close"],
                                    d["volume"], bar_ms=mk.interval_ms(interval), source=interval,
                                    symbol=symbol, category=category, filters=filters,
                                    funding=fund, funding_interval_ms=fiv,
                                    funding_where=where)
    slack = max(md.bar_ms, max_gap_ms)
    extra = []
    if start_ms is not None and md.start_ms - start_ms > slack:
        extra.append(f"the data starts at {fmt_ms(md.start_ms)}, after the requested start "
                     f"{fmt_ms(start_ms)}")
    if end_ms is not None and end_ms - md.end_ms > slack:
        extra.append(f"the data ends at {fmt_ms(md.end_ms - 1)}, before the requested end "
                     f"{fmt_ms(end_ms)}")
    md = replace(md, warnings=md.warnings + tuple(extra), instruments=origin)
    if category != "spot":
        md = _with_margin_data(store, md, start_ms, end_ms)
    return md


def _with_margin_data(store: Any, md: MarketData, start_ms: int | None,
                      end_ms: int | None) -> MarketData:
    """The store's 1m mark-price bars over the run and its risk-limit tiers, when it has them."""
    from gridlab.store.price_klines import load_price_klines
    from gridlab.store.risk_limits import risk_limit_rows
    from gridlab.strategy.margin import RiskTiers

    lo = None if start_ms is None else int(start_ms) - 60_000
    mk_ = load_price_klines(store, "mark", md.symbol, md.category, "1", lo, end_ms)
    if len(mk_["open_time"]):
        md = md.with_mark(mk_["open_time"], mk_["close"], 60_000)
    rows = risk_limit_rows(store, md.symbol, md.category)
    if rows:
        md = replace(md, risk_tiers=RiskTiers.from_rows(md.symbol, rows))
    return md
