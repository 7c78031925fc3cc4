"""Synthetic market: seeded, realistic trade streams, klines and funding for offline work.

Model (all times UTC; one latent log price x(t) on a grid of `step` seconds, 1 s for trades):

* **Volatility regimes.** A Markov chain over calm / normal / stormy regimes with exponential
  sojourns (mean `regime_hours`) and jump probabilities `regime_transitions`. Each regime scales
  the volatility (`regime_vol`), the trade intensity (`regime_activity`) and the jump rate.
* **Trending and ranging phases**, alternating with exponential durations (`trend_hours`,
  `range_hours`). A trending phase adds a drift of `trend_drift` per day (times a strength drawn
  in [0.5, 1.5]) whose sign is drawn at the phase start, biased back toward the starting price
  (`pull`) so long runs stay in a sensible band. A ranging phase pulls x toward its level at the
  phase start (Ornstein-Uhlenbeck, half-life `range_half_life_hours`).
* **Diffusion** with daily volatility `daily_vol` (normal regime), times the regime factor and
  an intraday U-shape `1 + season_vol * cos(2 pi u)` (u = fraction of the UTC day: busiest and
  most volatile around 00:00 UTC, quietest around 12:00).
* **Jumps**: compound Poisson, `jump_rate_per_day` (times the regime's vol factor), Laplace
  sizes with scale `jump_scale` (in log price).
* **Trades** arrive as a Poisson process with intensity proportional to the regime activity and
  the U-shape `1 + season_activity * cos(2 pi u)`, normalised to `trades_per_day` on average,
  at uniformly random milliseconds. The aggressor side is Buy with probability
  `1 / (1 + exp(-side_sensitivity * dx / sigma))`, dx being the latent move over that second,
  so buying pressure goes with rising prices. Buys print at the ask and sells at the bid of a
  one-tick spread around the latent mid (bid = floor(mid / tick) * tick): prices lie on the
  tick grid and bounce between bid and ask.
* **Sizes** are lognormal (median `size_median`, log-sd `size_sigma`); with probability
  `size_tail_prob` a trade is multiplied by a Pareto(`size_tail_alpha`) factor (whales). Sizes
  are floored to the quantity step (at least one step).
* **Funding** every `funding_interval_h` hours (1, 2, 4 or 8 as on Bybit; default 8: 00/08/16
  UTC) on the interval's UTC grid, stored as the instrument's `funding_interval_min`. The rate
  is per interval, s = interval / 8 h: `funding_base * s + funding_beta * r + noise * sqrt(s)`,
  r the log return of the previous interval (trends make the crowded side pay, the same per
  day at any interval), noise sd `funding_noise`, clipped to +-`funding_cap * s`, rounded to
  1e-6 (8 h: exactly the 8 h model) or 1e-8 (shorter intervals; Bybit publishes 8 decimals).

The same seed gives identical data; each component draws from its own child seed, so changing
one parameter does not reshuffle the others. 1M trades take about 0.3-0.5 s on 2 cores.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from gridlab.data.funding import HOUR_MS, validate_funding_interval_h
from gridlab.data.synth_nb import latent_path_nb, latent_state
from gridlab.errors import DataError
from gridlab.store.core import Store
from gridlab.store.market import (
    INTERVAL_MS,
    fmt_utc,
    insert_funding,
    resample_trades,
    upsert_instruments,
    validate_category,
    validate_interval,
    validate_symbol,
)
from gridlab.store.synthetic import clear_market_span, span_counts, trade_stage
from gridlab.store.trade_files import log_trade_file

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "DEFAULT_START_MS",
    "SynthParams",
    "generate_funding",
    "generate_klines",
    "generate_trades",
    "synth_days",
    "write_synthetic_market",
]

DAY_MS = 86_400_000
DEFAULT_START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC


@dataclass(frozen=True)
class SynthParams:
    """Parameters of the synthetic market model (see the module docstring)."""

    daily_vol: float = 0.025
    """Daily volatility of the log price in the normal regime, before seasonality."""
    regime_vol: tuple[float, float, float] = (0.5, 1.0, 2.2)
    """Volatility factor of the calm, normal and stormy regimes."""
    regime_activity: tuple[float, float, float] = (0.6, 1.0, 2.0)
    """Trade-intensity factor of each regime."""
    regime_hours: tuple[float, float, float] = (12.0, 16.0, 4.0)
    """Mean sojourn of each regime, hours."""
    regime_transitions: tuple[tuple[float, float, float], ...] = (
        (0.0, 0.75, 0.25), (0.6, 0.0, 0.4), (0.3, 0.7, 0.0))
    """Row r: probabilities of the next regime when regime r ends."""
    trend_hours: float = 20.0
    """Mean duration of a trending phase, hours."""
    range_hours: float = 36.0
    """Mean duration of a ranging phase, hours."""
    trend_drift: float = 0.04
    """Absolute log drift per day in a trending phase (times a strength in [0.5, 1.5])."""
    range_half_life_hours: float = 4.0
    """Half-life of the pull toward the phase's level in a ranging phase, hours."""
    pull: float = 3.0
    """Bias of a new trend's sign toward the starting price (per unit of log distance)."""
    jump_rate_per_day: float = 1.0
    """Jumps per day in the normal regime (scaled by the regime's vol factor)."""
    jump_scale: float = 0.005
    """Laplace scale of a jump in log price."""
    season_activity: float = 0.5
    """Amplitude of the intraday U-shape of trade intensity."""
    season_vol: float = 0.3
    """Amplitude of the intraday U-shape of volatility."""
    size_median: float = 0.01
    """Median trade size in base units."""
    size_sigma: float = 1.2
    """Log standard deviation of trade sizes."""
    size_tail_prob: float = 0.01
    """Probability that a trade is a whale (Pareto multiplier)."""
    size_tail_alpha: float = 1.5
    """Pareto exponent of the whale multiplier."""
    side_sensitivity: float = 2.0
    """Slope of P(Buy) against the normalised latent move."""
    funding_base: float = 1e-4
    """Funding rate per 8 h with no trend (Bybit's 0.01 %); times interval / 8 h per interval."""
    funding_beta: float = 0.01
    """Funding rate per unit of the previous interval's log return."""
    funding_noise: float = 5e-5
    """Standard deviation of funding noise at 8 h (times sqrt(interval / 8 h))."""
    funding_cap: float = 0.00375
    """Funding rates are clipped to +-cap at 8 h (times interval / 8 h)."""
    funding_interval_h: int = 8
    """Funding interval of the instrument, hours: 1, 2, 4 or 8 (Bybit's)."""

    def __post_init__(self) -> None:
        validate_funding_interval_h(self.funding_interval_h, "funding_interval_h")

    @property
    def funding_ms(self) -> int:  # the funding interval in ms
        return int(self.funding_interval_h) * HOUR_MS


def _params(params: SynthParams | None, overrides: dict[str, Any]) -> SynthParams:
    base = params or SynthParams()
    known = {f.name for f in fields(SynthParams)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise DataError(f"unknown synthetic-market parameter(s) {', '.join(unknown)}",
                        f"known: {', '.join(sorted(known))}")
    return replace(base, **overrides) if overrides else base


def _decimals(step: float) -> int:
    text = f"{step:.12f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def _check_common(symbol: str, category: str, start_ms: int, days: float, base_price: float,
                  tick_size: float) -> None:
    validate_symbol(symbol)
    validate_category(category)
    if not days > 0:
        raise DataError(f"days must be positive, got {days}", "pass e.g. days=7")
    if not (base_price > 0 and tick_size > 0 and base_price > 100 * tick_size):
        raise DataError(f"base_price {base_price} and tick_size {tick_size} do not fit",
                        "use a positive price at least 100 ticks high")
    if start_ms < 0:
        raise DataError(f"start_ms must be epoch milliseconds, got {start_ms}",
                        "pass e.g. 1704067200000 (2024-01-01)")


class _Latent:
    """The latent path on a regular grid of `step_ms`, built one stretch of steps at a time.

    The segment-level draws (regimes with their jumps, trending/ranging phases: a few per day)
    are made for the whole span up front; `stretch(a, b)` builds the per-step arrays of steps
    [a, b) (seasonality, volatility, activity, the normal draws and the path) with the path's
    state carried over, so any cut into stretches gives the same path as one stretch. Call
    `stretch` on consecutive ranges from 0.
    """

    def __init__(self, p: SynthParams, seed: int, start_ms: int, n_steps: int, step_ms: int,
                 base_price: float) -> None:
        self.rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
        r_reg, r_phase, _r_z, r_jump = self.rngs[:4]
        self.p, self.n_steps = p, n_steps
        step_s = step_ms / 1000.0
        step_day = step_ms / DAY_MS
        # intraday U-shape: step i has the value table[i % per_day]
        per_day = DAY_MS // step_ms
        first = (start_ms % DAY_MS) // step_ms
        self.table = np.cos(2.0 * np.pi * (np.arange(per_day) + first) / per_day)
        # volatility regimes (segments), jumps per segment
        reg, reg_len = _markov(r_reg, n_steps, step_s, p.regime_hours, p.regime_transitions,
                               start=int(r_reg.choice(3, p=(0.3, 0.5, 0.2))))
        rvol = np.asarray(p.regime_vol)[reg]
        self.reg_edges = np.concatenate(([0], np.cumsum(reg_len)))
        self.reg_sigma = p.daily_vol * math.sqrt(step_day) * rvol
        self.reg_activity = np.asarray(p.regime_activity)[reg]
        seg_start = self.reg_edges[:-1]
        n_jumps = r_jump.poisson(p.jump_rate_per_day * reg_len * step_day * rvol)
        at = np.repeat(seg_start, n_jumps) + (r_jump.random(int(n_jumps.sum()))
                                              * np.repeat(reg_len, n_jumps)).astype(np.int64)
        keep = at < n_steps
        self.jump_at = at[keep]
        self.jump_size = r_jump.laplace(0.0, p.jump_scale, len(at))[keep]
        # trending / ranging phases
        phase, ph_len = _markov(r_phase, n_steps, step_s, (p.trend_hours, p.range_hours),
                                ((0.0, 1.0), (1.0, 0.0)), start=int(r_phase.integers(0, 2)))
        strength = r_phase.uniform(0.5, 1.5, len(phase))
        kappa_step = min(math.log(2.0) / (p.range_half_life_hours * 3600.0 / step_s), 1.0)
        self.ph_edges = np.concatenate(([0], np.cumsum(ph_len)))
        self.ph_drift = np.where(phase == 0, p.trend_drift * step_day * strength, 0.0)
        self.ph_kappa = np.where(phase == 0, 0.0, kappa_step)
        self.ph_u = r_phase.random(len(ph_len))
        self.x0 = math.log(base_price)
        self.state = latent_state(self.x0)
        self.next_step = 0

    def season(self, a: int, b: int) -> np.ndarray:
        return self.table[np.arange(a, b) % len(self.table)]

    def activity(self, a: int, b: int, season: np.ndarray | None = None) -> np.ndarray:
        """Trade-intensity factor of steps [a, b) (regime times the intraday U-shape)."""
        season = self.season(a, b) if season is None else season
        return (_per_step(self.reg_edges, self.reg_activity, a, b)
                * (1.0 + self.p.season_activity * season))

    def stretch(self, a: int, b: int) -> _Stretch:
        """Steps [a, b): sigma and activity per step and the path x at the b - a + 1
        boundaries (x[k] is the latent log price at step a + k)."""
        if a != self.next_step or not a < b <= self.n_steps:
            raise ValueError(f"stretch [{a}, {b}) does not follow step {self.next_step}")
        self.next_step = b
        p, n = self.p, b - a
        season = self.season(a, b)
        sigma = _per_step(self.reg_edges, self.reg_sigma, a, b) * (1.0 + p.season_vol * season)
        jumps = np.zeros(n)
        j = (self.jump_at >= a) & (self.jump_at < b)
        jumps[self.jump_at[j] - a] += self.jump_size[j]
        drift_abs = _per_step(self.ph_edges, self.ph_drift, a, b)
        kappa = _per_step(self.ph_edges, self.ph_kappa, a, b)
        starts = np.zeros(n, dtype=np.bool_)
        phase_u = np.zeros(n)
        k0, k1 = np.searchsorted(self.ph_edges[:-1], (a, b), side="left")
        starts[self.ph_edges[k0:k1] - a] = True
        phase_u[self.ph_edges[k0:k1] - a] = self.ph_u[k0:k1]
        z = self.rngs[2].standard_normal(n)
        x = np.empty(n + 1)
        latent_path_nb(self.x0, self.state, sigma, z, jumps, drift_abs, kappa, starts,
                       phase_u, p.pull, x)
        return _Stretch(sigma, self.activity(a, b, season), x)

    def whole(self) -> _Stretch:
        """The whole span as one stretch."""
        return self.stretch(0, self.n_steps)


class _Stretch(NamedTuple):
    sigma: np.ndarray
    activity: np.ndarray
    x: np.ndarray


def _per_step(edges: np.ndarray, values: np.ndarray, a: int, b: int) -> np.ndarray:
    """values[k] for every step of [a, b), segment k covering steps [edges[k], edges[k + 1])."""
    k0 = int(np.searchsorted(edges, a, side="right")) - 1
    k1 = int(np.searchsorted(edges, b, side="left"))
    lengths = np.minimum(edges[k0 + 1:k1 + 1], b) - np.maximum(edges[k0:k1], a)
    return np.repeat(values[k0:k1], lengths)


def _markov(rng: np.random.Generator, n_steps: int, step_s: float,
            hours: tuple[float, ...], trans: tuple[tuple[float, ...], ...],
            start: int) -> tuple[np.ndarray, np.ndarray]:
    """Segments (state, length in steps) of a Markov chain with exponential sojourns."""
    states: list[int] = []
    lengths: list[int] = []
    state, total = start, 0
    while total < n_steps:
        dur = max(1, round(rng.exponential(hours[state]) * 3600.0 / step_s))
        states.append(state)
        lengths.append(dur)
        total += dur
        state = int(rng.choice(len(trans), p=trans[state]))
    return np.asarray(states, dtype=np.int64), np.asarray(lengths, dtype=np.int64)


def _round_step(x: np.ndarray, step: float) -> np.ndarray:
    return np.round(np.floor(x / step + 1e-9) * step, _decimals(step))


def _trade_chunks(symbol: str, category: str, start_ms: int, days: float, seed: int,
                  base_price: float, trades_per_day: float, tick_size: float, qty_step: float,
                  p: SynthParams, chunk_days: int = 1) -> Iterator[dict[str, np.ndarray]]:
    """The trade stream one UTC day at a time (arrays ts, price, size, buy, seq).

    The latent path is built `chunk_days` days at a time (its state carried over), so memory
    holds one chunk of the path and one day of trades; the stream does not depend on
    `chunk_days`. The trade counts per second are Poisson draws normalised by the span's mean
    activity and come first in their random stream: a first pass (activity only, no path)
    finds the mean and moves that stream past the counts, the second replays the counts
    from a copy of it.
    """
    _check_common(symbol, category, start_ms, days, base_price, tick_size)
    if not (isinstance(chunk_days, int) and chunk_days >= 1):
        raise DataError(f"chunk_days must be a whole number of days >= 1, got {chunk_days!r}",
                        "pass e.g. chunk_days=1")
    n_steps = round(days * 86_400)
    if n_steps < 1:
        raise DataError(f"days={days} is shorter than a second", "pass a longer span")
    start = int(start_ms)
    lat = _Latent(p, seed, start, n_steps, 1000, base_price)
    rng_t, rng_s, rng_z = lat.rngs[4], lat.rngs[5], lat.rngs[6]
    day_steps = _day_steps(start, n_steps)
    # pass 1: the mean activity (per-day sums, fsum: exact whatever the chunks), then the counts
    mean_act = math.fsum(float(lat.activity(a, b).sum()) for a, b in day_steps) / n_steps
    scale = trades_per_day / 86_400.0 / mean_act
    rng_counts = copy.deepcopy(rng_t)
    for a, b in day_steps:
        rng_t.poisson(lat.activity(a, b) * scale)  # only moves rng_t past the counts
    # pass 2: the path chunk by chunk, the trades day by day
    for c in range(0, len(day_steps), chunk_days):
        days_c = day_steps[c:c + chunk_days]
        c0 = days_c[0][0]
        st = lat.stretch(c0, days_c[-1][1])
        counts = rng_counts.poisson(st.activity * scale)
        for a, b in days_c:
            cnt = counts[a - c0:b - c0]
            n = int(cnt.sum())
            sec = np.repeat(np.arange(a - c0, b - c0, dtype=np.int64), cnt)
            ts = np.sort((sec + c0) * 1000 + rng_t.integers(0, 1000, n)) + start
            frac = ((ts - start) % 1000) / 1000.0
            x0, x1 = st.x[sec], st.x[sec + 1]
            mid = np.exp(x0 + (x1 - x0) * frac)
            move = (x1 - x0) / st.sigma[sec]
            buy = rng_s.random(n) < 1.0 / (1.0 + np.exp(-p.side_sensitivity * move))
            ticks = np.maximum(np.floor(mid / tick_size), 1.0) + buy
            price = np.round(ticks * tick_size, _decimals(tick_size))
            size = np.exp(math.log(p.size_median) + p.size_sigma * rng_z.standard_normal(n))
            whale = rng_z.random(n) < p.size_tail_prob
            size[whale] *= rng_z.pareto(p.size_tail_alpha, int(whale.sum())) + 1.0
            size = np.maximum(_round_step(size, qty_step), qty_step)
            day = ts // DAY_MS
            seq = np.arange(n, dtype=np.int64) - np.searchsorted(day, day, side="left")
            yield {"ts": ts, "price": price, "size": size, "buy": buy, "seq": seq}


def _day_steps(start_ms: int, n_steps: int) -> list[tuple[int, int]]:
    """[a, b) ranges of 1-second steps, cut at UTC midnights."""
    first = (DAY_MS - start_ms % DAY_MS) // 1000 if start_ms % DAY_MS else 86_400
    edges = [0, *range(min(first, n_steps), n_steps, 86_400), n_steps]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def synth_days(start_ms: int, days: float) -> int:
    """Number of (UTC-day) chunks `write_synthetic_market` writes: the progress total."""
    return len(_day_steps(int(start_ms), max(round(days * 86_400), 1)))


def generate_trades(symbol: str = "BTCUSDT", start_ms: int = DEFAULT_START_MS, days: float = 7,
                    seed: int = 0, base_price: float = 30000.0,
                    trades_per_day: float = 150_000, tick_size: float = 0.1,
                    qty_step: float = 0.001, category: str = "linear",
                    params: SynthParams | None = None, chunk_days: int = 1,
                    **overrides: Any) -> pd.DataFrame:
    """A synthetic trade stream in the trades-table schema, sorted by (ts, seq).

    Columns symbol, category, ts (epoch ms), price (on the tick grid), size (multiple of
    qty_step), side ('Buy'/'Sell'), trade_id ('syn<seed>-<ts>-<seq>'), seq (index within the
    UTC day). `overrides` replace fields of `params` (SynthParams). The same stream as
    `write_synthetic_market` stores; `chunk_days` (days of latent path built at a time)
    changes the memory, never the stream.
    """
    p = _params(params, overrides)
    import pyarrow as pa

    chunks = [pa.table(c) for c in _trade_chunks(symbol, category, start_ms, days, seed,
                                                  base_price, trades_per_day, tick_size,
                                                  qty_step, p, chunk_days)]
    return _trade_frame(symbol, category, seed, pa.concat_tables(chunks))


def _trade_frame(symbol: str, category: str, seed: int, raw: pa.Table) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.compute as pc

    n = raw.num_rows
    ts, seq = raw.column("ts"), raw.column("seq")

    def const(text: str) -> pa.Array:
        return pc.fill_null(pa.nulls(n, pa.string()), text)

    table = pa.table({
        "symbol": const(symbol), "category": const(category), "ts": ts,
        "price": raw.column("price"), "size": raw.column("size"),
        "side": pc.if_else(raw.column("buy"), "Buy", "Sell"),
        "trade_id": pc.binary_join_element_wise(f"syn{seed}", pc.cast(ts, pa.string()),
                                                pc.cast(seq, pa.string()), "-"),
        "seq": seq})
    return table.to_pandas()


def generate_klines(symbol: str = "BTCUSDT", start_ms: int = DEFAULT_START_MS, days: float = 365,
                    seed: int = 0, base_price: float = 30000.0, interval: str = "1",
                    tick_size: float = 0.1, qty_step: float = 0.001,
                    trades_per_day: float = 150_000, steps_per_bar: int = 12,
                    category: str = "linear", params: SynthParams | None = None,
                    **overrides: Any) -> pd.DataFrame:
    """Klines straight from the latent model (no trades), for long-horizon tests.

    The latent path runs on `steps_per_bar` points per bar; open/close are its values at the
    bar edges (so open = previous close), high/low its extremes (rounded outward to the tick).
    Volume is a Poisson trade count times the mean size, turnover volume times the bar's mean
    price. Columns: the klines-table schema.
    """
    _check_common(symbol, category, start_ms, days, base_price, tick_size)
    key = validate_interval(interval)
    if key in ("D", "W"):
        raise DataError("generate_klines makes minute bars", "use an interval of 1..720 minutes")
    p = _params(params, overrides)
    bar_ms = INTERVAL_MS[key]
    if bar_ms % steps_per_bar:
        raise DataError(f"steps_per_bar {steps_per_bar} does not divide a {key}m bar",
                        "use a divisor of the bar length in milliseconds, e.g. 12")
    start = int(start_ms) // bar_ms * bar_ms
    n_bars = round(days * DAY_MS / bar_ms)
    if n_bars < 1:
        raise DataError(f"days={days} is shorter than one {key} bar", "pass a longer span")
    m = steps_per_bar
    lat = _Latent(p, seed, start, n_bars * m, bar_ms // m, base_price)
    whole = lat.whole()
    path = np.maximum(np.exp(whole.x), tick_size)  # never below one tick
    edges = path[::m]
    inner = path[:-1].reshape(n_bars, m)
    high = np.maximum(inner.max(axis=1), edges[1:])
    low = np.minimum(inner.min(axis=1), edges[1:])
    dec = _decimals(tick_size)
    open_ = np.round(np.round(edges[:-1] / tick_size) * tick_size, dec)
    close = np.round(np.round(edges[1:] / tick_size) * tick_size, dec)
    high = np.maximum(np.round(np.ceil(high / tick_size - 1e-9) * tick_size, dec),
                      np.maximum(open_, close))
    low = np.minimum(np.round(np.floor(low / tick_size + 1e-9) * tick_size, dec),
                     np.minimum(open_, close))
    act = whole.activity.reshape(n_bars, m).mean(axis=1)
    lam = act / act.mean() * trades_per_day * bar_ms / DAY_MS
    n_trades = lat.rngs[4].poisson(lam)
    mean_size = p.size_median * math.exp(p.size_sigma**2 / 2)
    volume = np.maximum(_round_step(n_trades * mean_size, qty_step), qty_step)
    turnover = volume * inner.mean(axis=1)
    import pandas as pd

    return pd.DataFrame({
        "symbol": symbol, "category": category, "interval": key,
        "open_time": start + np.arange(n_bars, dtype=np.int64) * bar_ms,
        "open": open_, "high": high, "low": low, "close": close,
        "volume": volume, "turnover": turnover,
    })


def _funding_times(start_ms: int, end_ms: int, step_ms: int) -> np.ndarray:
    """Settlement times in [start_ms, end_ms): the multiples of `step_ms` (UTC grid)."""
    first = -(-int(start_ms) // step_ms) * step_ms
    return np.arange(first, int(end_ms), step_ms, dtype=np.int64)


class _PriceAt:
    """Last trade price at or before each query time, fed one chunk of trades at a time."""

    def __init__(self, queries: np.ndarray) -> None:
        self.queries = queries
        self.price = np.full(len(queries), np.nan)
        self.first = math.nan

    def feed(self, ts: np.ndarray, price: np.ndarray) -> None:
        if not len(ts):
            return
        if math.isnan(self.first):
            self.first = float(price[0])
        idx = np.searchsorted(ts, self.queries, side="right") - 1
        hit = idx >= 0
        self.price[hit] = price[idx[hit]]

    def values(self) -> np.ndarray:
        """Prices at the queries (a query before the first trade: the first trade's price)."""
        return np.where(np.isnan(self.price), self.first, self.price)


def _funding_frame(symbol: str, times: np.ndarray, p_now: np.ndarray, p_prev: np.ndarray,
                   seed: int, p: SynthParams) -> dict[str, np.ndarray]:
    """rate = funding_base * s + funding_beta * log(p_now / p_prev) + noise * sqrt(s), clipped
    to +-funding_cap * s and rounded, s = interval / 8 h (1 at 8 h: the 8 h model exactly)."""
    s = p.funding_interval_h / 8.0
    r = np.log(p_now / p_prev)
    noise = np.random.default_rng(np.random.SeedSequence(seed).spawn(8)[7]).normal(
        0.0, p.funding_noise * math.sqrt(s), len(times))
    cap = p.funding_cap * s
    rate = np.clip(p.funding_base * s + p.funding_beta * r + noise, -cap, cap)
    return {"symbol": np.full(len(times), symbol, dtype=object), "ts": times,
            "rate": np.round(rate, 6 if p.funding_interval_h == 8 else 8)}


def generate_funding(trades: pd.DataFrame, start_ms: int, end_ms: int, seed: int = 0,
                     params: SynthParams | None = None, **overrides: Any) -> pd.DataFrame:
    """Funding rates every `funding_interval_h` hours (default 8: 00/08/16 UTC) in
    [start_ms, end_ms) from a synthetic trade stream (the model: module docstring)."""
    import pandas as pd

    p = _params(params, overrides)
    times = _funding_times(start_ms, end_ms, p.funding_ms)
    if not len(times) or not len(trades):
        return pd.DataFrame({"symbol": pd.Series(dtype=str), "ts": times[:0],
                             "rate": np.zeros(0)})
    at = _PriceAt(np.concatenate([times, times - p.funding_ms]))
    at.feed(trades["ts"].to_numpy(), trades["price"].to_numpy())
    prices = at.values()
    return pd.DataFrame(_funding_frame(str(trades["symbol"].iloc[0]), times,
                                       prices[:len(times)], prices[len(times):], seed, p))


def write_synthetic_market(store: Store, symbol: str = "BTCUSDT", category: str = "linear",
                           start_ms: int = DEFAULT_START_MS, days: float = 7, seed: int = 0,
                           intervals: tuple[str, ...] | list[str] = ("1",), *,
                           base_price: float = 30000.0, trades_per_day: float = 150_000,
                           tick_size: float = 0.1, qty_step: float = 0.001,
                           min_notional: float = 5.0, max_qty: float = 1190.0,
                           replace: bool = False,
                           progress: Callable[[int], None] | None = None,
                           params: SynthParams | None = None, chunk_days: int = 1,
                           **overrides: Any) -> dict[str, Any]:
    """Write a synthetic market into the store: trades, klines resampled from them (each of
    `intervals`), funding every `funding_interval_h` hours (a SynthParams field, default 8;
    not for spot) and an instruments row (tick_size, qty_step, min_qty = qty_step,
    min_notional, max_qty, funding_interval_min, origin 'synthetic').

    A span that already holds market data of the symbol (trades, klines or funding: real
    ones or an earlier synthetic run) is refused, unless `replace`, which deletes that span's
    trades, klines and funding and writes the new market in the same transaction. The latent
    path is built `chunk_days` days at a time and trades are generated and inserted one UTC
    day at a time (`progress` is called with each day's number of trades), so memory holds
    one chunk of the path and one day of trades, whatever the span; the stored market does
    not depend on `chunk_days`. One transaction: nothing is stored if it fails. `overrides`
    replace SynthParams fields. Returns what was added: trades, klines per interval, funding,
    and `replaced` (the SpanCounts deleted, or None).
    """
    keys = [validate_interval(i) for i in intervals]
    p = _params(params, overrides)
    _check_common(symbol, category, start_ms, days, base_price, tick_size)
    start = int(start_ms)
    end_ms = start + round(days * DAY_MS)
    held = span_counts(store, symbol, category, start, end_ms)
    if not held.empty and not replace:
        raise DataError(
            f"the store {store.path} already has {symbol} {category} data in the synthetic "
            f"range {fmt_utc(start)} .. {fmt_utc(end_ms)} ({held.trades:,} trades, "
            f"{held.klines:,} bars, {held.funding:,} funding rates)",
            "pass --replace (replace=True) to overwrite that span, or use another symbol, "
            "--start or --db")
    funding_times = (_funding_times(start, end_ms, p.funding_ms) if category != "spot"
                     else np.zeros(0, np.int64))
    at = _PriceAt(np.concatenate([funding_times, funding_times - p.funding_ms]))
    with trade_stage(store, symbol, category, f"syn{seed}-") as stage:
        for chunk in _trade_chunks(symbol, category, start, days, seed, base_price,
                                   trades_per_day, tick_size, qty_step, p, chunk_days):
            stage.add(chunk)
            at.feed(chunk["ts"], chunk["price"])
            if progress:
                progress(len(chunk["ts"]))
        with store.transaction():
            if not held.empty:
                clear_market_span(store, symbol, category, start, end_ms)
            added = stage.publish()
            log_trade_file(store, source=f"synthetic:seed={seed}", symbol=symbol,
                           category=category, nbytes=0, cover=(start, end_ms), rows_read=added,
                           rows_added=added)
            funding_added = 0
            if len(funding_times) and added:
                prices = at.values()
                funding_added = insert_funding(store, _funding_frame(
                    symbol, funding_times, prices[:len(funding_times)],
                    prices[len(funding_times):], seed, p))
            upsert_instruments(store, {
                "symbol": [symbol], "category": [category], "tick_size": [float(tick_size)],
                "qty_step": [float(qty_step)], "min_qty": [float(qty_step)],
                "min_notional": [float(min_notional)], "max_qty": [float(max_qty)],
                "fetched_at": [start], "origin": ["synthetic"],
                "funding_interval_min": [p.funding_interval_h * 60 if category != "spot"
                                         else 0]})
            klines = {k: resample_trades(store, symbol, category, k, start, end_ms)
                      for k in keys}
    return {"symbol": symbol, "category": category, "start_ms": start, "end_ms": end_ms,
            "trades": added, "klines": klines, "funding": funding_added,
            "replaced": None if held.empty else held}
