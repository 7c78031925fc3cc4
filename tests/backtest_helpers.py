"""Shared builders for the backtest tests: random markets and kernel parameter sets."""

from __future__ import annotations

import numpy as np

from gridlab.backtest.engine_nb import n_days_nb, run_nb, run_state_nb
from gridlab.backtest.enums import (
    EQUITY_DTYPE,
    FILL_DTYPE,
    LEVEL_DTYPE,
    N_SUMMARY,
    RECENTER_DTYPE,
    SUMMARY_FIELDS,
    EngineParams,
)
from gridlab.strategy.enums import Filters, GridParams, RecenterParams, RiskParams

T0 = 1_700_000_000_000
HOUR = 3_600_000


def random_market(seed: int, n: int, vol: float = 1e-3, dt_max: int = 20_000,
                  tick: float = 0.01, dup_ts: bool = True):
    """Random-walk trades rounded to the tick (so prices repeat and touch levels)."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(0 if dup_ts else 1, dt_max, n)
    ts = (T0 + np.cumsum(steps)).astype(np.int64)
    price = np.round(100.0 * np.exp(np.cumsum(rng.normal(0, vol, n))) / tick) * tick
    price = np.maximum(price, tick)
    size = np.round(rng.exponential(0.5, n), 2)
    return ts, price, size


def funding_for(ts: np.ndarray, seed: int, every: int = 8 * HOUR):
    rng = np.random.default_rng(seed + 1)
    fts = np.arange((ts[0] // every + 1) * every, ts[-1] + 1, every, dtype=np.int64)
    return fts, rng.normal(1e-4, 3e-4, len(fts))


def params(*, n_buy=4, n_sell=4, spacing=0.003, spacing_mode=0, profit_target=0.0, qty_mode=0,
           mode=0, atr_mode=0, lower=0.0, upper=0.0, tick=0.01, qty_step=0.01, min_qty=0.01,
           min_notional=1.0, dev=0.01, time_h=6.0, dom=True, pd=True, trail=False,
           exposure=1.0, max_position=0.0, kill=0.0, flatten=True, sl=0.0, tp=0.0,
           capital=1000.0, spot=False, fill_model=0, latency=0, queue_ahead=0.5, queue_mult=1.0,
           maker=0.0002, taker=0.00055, slippage=0.0005, post_only=True, check_ms=60_000,
           equity_ms=600_000, record=True, leverage=1.0, account=None):
    gp = GridParams(int(n_buy), int(n_sell), float(spacing), int(spacing_mode), float(lower),
                    float(upper), float(profit_target), int(qty_mode), int(mode), float(leverage),
                    int(atr_mode), 5, 1.0, 0.001, 0.02, 60_000)
    f = Filters(float(tick), float(qty_step), float(min_qty), 0.0, float(min_notional))
    rp = RecenterParams(True, float(dev), True, int(time_h * HOUR), bool(dom), 0.8, 3 * HOUR,
                        bool(pd), 0.02, HOUR, bool(trail), 0.0, bool(trail), 0.0)
    rk = RiskParams(float(exposure), float(max_position), float(kill), bool(flatten), float(sl),
                    float(tp), 0.0, 0.0)
    ep = EngineParams(float(capital), bool(spot), int(fill_model), int(latency),
                      float(queue_ahead), float(queue_mult), float(maker), float(taker),
                      float(slippage), bool(post_only), int(check_ms), int(equity_ms),
                      bool(record), 0.0 if account is None else float(account))
    return gp, f, rp, rk, ep


def run_kernel_full(ts, price, size, fts, frate, gp, f, rp, rk, ep, cap=200_000,
                    rc_cap=100_000, lv_cap=1_000_000, state=None):
    """Run `run_nb` (or `run_state_nb` on `state`, a StartState changed in place); returns
    (fills list of tuples, equity list, daily list, summary dict, recenters list, levels
    list, (n recenters, n level rows) as counted by the kernel)."""
    fills = np.zeros(cap, FILL_DTYPE)
    eq = np.zeros((ts[-1] - ts[0]) // ep.equity_ms + 3, EQUITY_DTYPE)
    rc = np.zeros(rc_cap, RECENTER_DTYPE)
    lv = np.zeros(lv_cap, LEVEL_DTYPE)
    daily = np.zeros(n_days_nb(ts[0], ts[-1]))
    summ = np.zeros(N_SUMMARY)
    if state is None:
        nf, ne, nr, nl = run_nb(ts, price, size, fts, frate, gp, f, rp, rk, ep, fills, eq, rc,
                                lv, daily, summ)
    else:
        nf, ne, nr, nl = run_state_nb(state.rec, state.arrays, ts, price, size, fts, frate, gp,
                                      f, rp, rk, ep, fills, eq, rc, lv, daily, summ)
    assert nf <= cap
    return ([tuple(x) for x in fills[:nf].tolist()], [tuple(x) for x in eq[:ne].tolist()],
            daily.tolist(), dict(zip(SUMMARY_FIELDS, summ.tolist(), strict=True)),
            [tuple(x) for x in rc[:nr].tolist()], [tuple(x) for x in lv[:nl].tolist()],
            (int(nr), int(nl)))


def run_kernel(ts, price, size, fts, frate, gp, f, rp, rk, ep, cap=200_000):
    """Run `run_nb`; returns (fills list of tuples, equity list, daily list, summary dict)."""
    return run_kernel_full(ts, price, size, fts, frate, gp, f, rp, rk, ep, cap)[:4]


def nan_safe(rows: list[tuple]) -> list[tuple]:
    """Rows with nan replaced by a marker, so that == compares them (nan != nan)."""
    return [tuple("nan" if isinstance(v, float) and v != v else v for v in r) for r in rows]
