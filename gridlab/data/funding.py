"""Funding settlements against the instrument's funding interval: what is missing, what is off.

Bybit settles a perpetual's funding every 1, 2, 4 or 8 hours (instruments-info
`fundingInterval`, minutes; stored as `instruments.funding_interval_min`), on the UTC grid of
that interval (epoch multiples: 8 h settles at 00/08/16 UTC, 4 h at 00/04/.../20). The rate is
per interval. `check_funding` compares stored settlement times with that grid over a span:

* a settlement time that is not a whole hour lies on no Bybit grid: `off_hour` (the backtest
  refuses such a funding table, naming the first such time);
* a run of at least `PERIOD_MIN_STEPS` consecutive steps of another Bybit interval, on that
  interval's grid, is a **period at another interval**: Bybit changes an instrument's interval
  (e.g. 8 h to 4 h when the rate hits its cap), the stored row only knows the current one.
  Such a period is reported as such (`periods`), its settlements are neither off-grid nor is
  the coarser spacing counted as missing;
* every other settlement not on the instrument's grid is `off_grid` (reported, charged at its
  stored time);
* every grid time of the span without a settlement (between settlements, before the first,
  after the last) is `missing` (the backtest charges nothing there and says how many).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridlab.errors import DataError

__all__ = ["FUNDING_INTERVALS_H", "HOUR_MS", "PERIOD_MIN_STEPS", "FundingCheck",
           "check_funding", "interval_ms_of_minutes", "off_hour", "validate_funding_interval_h"]

HOUR_MS = 3_600_000
FUNDING_INTERVALS_H = (1, 2, 4, 8)
"""Funding intervals Bybit uses, hours."""
PERIOD_MIN_STEPS = 4
"""Consecutive steps (5 settlements) of another interval that make a period at that interval
(fewer are taken as stray rows: one extra rate between two regular ones is off the grid)."""
_ALLOWED_MS = tuple(h * HOUR_MS for h in FUNDING_INTERVALS_H)


def validate_funding_interval_h(value: object, field: str = "funding_interval_h") -> int:
    """A funding interval in hours, one of 1, 2, 4, 8 (DataError naming `field` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) \
            or float(value) not in FUNDING_INTERVALS_H:
        raise DataError(f"{field} must be one of {', '.join(map(str, FUNDING_INTERVALS_H))} "
                        f"hours (Bybit's funding intervals), got {value!r}",
                        f"set {field} to 1, 2, 4 or 8 (default 8)")
    return int(value)


def interval_ms_of_minutes(minutes: object) -> int:
    """An instrument's `funding_interval_min` as ms; 0 when unknown (0, None) or not one of
    Bybit's intervals (then the series cannot be checked against it)."""
    try:
        ms = int(minutes or 0) * 60_000  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
    return ms if ms in _ALLOWED_MS else 0


def _fmt(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _hours(ms: int) -> str:
    return f"{ms / HOUR_MS:g} h"


@dataclass(frozen=True)
class FundingCheck:
    """Stored settlements of a span checked against the instrument's interval."""

    interval_ms: int
    lo: int
    hi: int
    stored: int
    missing: np.ndarray
    """Grid times without a settlement (int64 ms)."""
    holes: tuple[tuple[int, int], ...]
    """Runs of missing settlements as [first missing, next stored or the span's end) ranges,
    largest first."""
    off_grid: np.ndarray
    """Stored times not on the instrument's grid, outside any period at another interval."""
    periods: tuple[tuple[int, int, int], ...]
    """(interval_ms, first, last settlement) of each period at another interval."""

    @property
    def expected(self) -> int:
        """Settlements the span should hold: the stored ones plus the missing ones."""
        return self.stored + len(self.missing)

    def warnings(self, symbol: str, where: str) -> list[str]:
        """What a backtest over the span says about its funding (empty when all is well)."""
        iv = _hours(self.interval_ms)
        out = []
        if len(self.missing):
            shown = ", ".join(f"{_fmt(a)} -> {_fmt(b)}" for a, b in self.holes[:3])
            more = f" and {len(self.holes) - 3} more" if len(self.holes) > 3 else ""
            out.append(f"funding: {len(self.missing):,} of {self.expected:,} settlement(s) "
                       f"missing in the run ({symbol} settles every {iv}; {where}): "
                       f"{shown}{more}; no funding is charged there (gridlab ingest funding "
                       f"--symbol {symbol} fills them)")
        for step, first, last in self.periods:
            out.append(f"funding: {symbol} settled every {_hours(step)} from {_fmt(first)} to "
                       f"{_fmt(last)} in {where}, every {iv} now: Bybit changed the "
                       "instrument's funding interval; those rates are charged at their "
                       "stored times")
        if len(self.off_grid):
            out.append(f"funding: {len(self.off_grid):,} rate(s) in {where} off {symbol}'s "
                       f"{iv} settlement grid (first at {_fmt(int(self.off_grid[0]))}): an "
                       "interval change or bad rows; they are charged at their stored times")
        return out


def _periods(ts: np.ndarray, steps: np.ndarray, iv: int) -> np.ndarray:
    """Per step: the other Bybit interval whose period it belongs to, else 0."""
    out = np.zeros(len(steps), np.int64)
    i = 0
    n = len(steps)
    while i < n:
        j = i
        while j + 1 < n and steps[j + 1] == steps[i]:
            j += 1
        d = int(steps[i])
        if (d != iv and d in _ALLOWED_MS and j - i + 1 >= PERIOD_MIN_STEPS
                and not np.any(ts[i:j + 2] % d)):
            out[i:j + 1] = d
        i = j + 1
    return out


def _grid_between(a: int, b: int, step: int) -> np.ndarray:
    """Multiples of `step` in [a, b)."""
    first = -(-a // step) * step
    return np.arange(first, b, step, dtype=np.int64)


def check_funding(ts: np.ndarray, interval_ms: int, lo: int, hi: int) -> FundingCheck:
    """Check settlement times `ts` (the stored ones within [lo, hi], ascending) against the grid
    of `interval_ms` over the closed span [lo, hi] (module docstring)."""
    iv = int(interval_ms)
    if iv not in _ALLOWED_MS:
        raise DataError(f"funding interval {iv} ms is not one of Bybit's (1, 2, 4, 8 h)",
                        "pass the instrument's funding_interval_min x 60000")
    lo, hi = int(lo), int(hi)
    t = np.unique(np.asarray(ts, dtype=np.int64))
    t = t[(t >= lo) & (t <= hi)]
    if not len(t):
        miss = _grid_between(lo, hi + 1, iv)
        holes = ((int(miss[0]), hi + 1),) if len(miss) else ()
        return FundingCheck(iv, lo, hi, 0, miss, holes, t, ())
    steps = np.diff(t)
    per = _periods(t, steps, iv)
    in_period = np.zeros(len(t), np.bool_)
    in_period[:-1] |= per > 0
    in_period[1:] |= per > 0
    missing: list[np.ndarray] = []
    holes: list[tuple[int, int]] = []

    def gap(a: int, b: int, step: int, end: int) -> None:
        m = _grid_between(a, b, step)
        if len(m):
            missing.append(m)
            holes.append((int(m[0]), end))

    lead = int(per[0]) if len(per) and per[0] else iv
    gap(lo, int(t[0]), lead, int(t[0]))
    for k in np.flatnonzero(per == 0):
        a, b = int(t[k]), int(t[k + 1])
        if b - a > iv:
            gap(a + 1, b, iv, b)
    tail = int(per[-1]) if len(per) and per[-1] else iv
    gap(int(t[-1]) + 1, hi + 1, tail, hi + 1)
    periods = []
    k = 0
    while k < len(per):
        if per[k]:
            j = k
            while j + 1 < len(per) and per[j + 1] == per[k]:
                j += 1
            periods.append((int(per[k]), int(t[k]), int(t[j + 1])))
            k = j + 1
        else:
            k += 1
    off = t[(t % iv != 0) & ~in_period]
    holes.sort(key=lambda h: (h[0] - h[1], h[0]))
    miss = np.concatenate(missing) if missing else np.zeros(0, np.int64)
    return FundingCheck(iv, lo, hi, len(t), np.sort(miss), tuple(holes), off, tuple(periods))


def off_hour(ts: np.ndarray) -> np.ndarray:
    """Settlement times that are not whole UTC hours (on no Bybit funding grid)."""
    t = np.asarray(ts, dtype=np.int64)
    return t[t % HOUR_MS != 0]
