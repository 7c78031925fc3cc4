"""The per-grid state of the one step kernel, and the action records it returns (numba).

A grid's state is two parts, both allocated once per run (or once at live start):
- `GRID_STATE_DTYPE`: one record of named scalar fields (grid geometry, book summary, check
  clock, stop state, counters, metric accumulators). Kernels take it as a numba Record (a
  pointer: no reference counting), e.g. `GS[0]` of a one-row array, or `GS[s]` of a
  portfolio's rows;
- `GridArrays`: the arrays of the grid (slots, order rows, ledger, bar ring, trigger cache,
  kill state, refused-retry memo, the per-event fill buffer, the action buffer).

`new_grid_state` builds both from the kernel NamedTuples (Python; `new_grid_state_nb` is the
same inside a kernel). `check_capacity` refuses a configuration the arrays cannot hold,
naming the field, before any kernel runs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from gridlab.backtest.enums import ACC, N_ACC, ORDER_DTYPE
from gridlab.errors import ConfigError
from gridlab.strategy.bars_nb import new_bar_ring, ring_capacity_nb
from gridlab.strategy.enums import SLOT_DTYPE
from gridlab.strategy.recenter_nb import new_recenter_cache
from gridlab.strategy.risk_nb import new_kill_state

__all__ = [
    "ACTION_DTYPE",
    "GRID_STATE_DTYPE",
    "INT64_MAX",
    "MAX_SLOTS",
    "N_ACTIONS_EXTRA",
    "N_REASONS",
    "STATE_CACHE_FIELDS",
    "Act",
    "GridArrays",
    "check_capacity",
    "init_state_nb",
    "new_grid_state",
    "new_grid_state_nb",
]

INT64_MAX = np.iinfo(np.int64).max
MAX_SLOTS = 1_000
"""Most slots (n_buy + n_sell) one grid state holds (order rows, fill and action buffers)."""
N_REASONS = 10
"""Reason codes 0..9 (`strategy.enums.Reason`), counted per code in `rc`."""
N_ACTIONS_EXTRA = 8
"""Action buffer rows beyond one per slot (cancel all, rebuild, seed, stop, flatten)."""


class _Act(NamedTuple):
    PLACE: int = 1       # limit order of slot `slot`: side, price, qty; reaches the book at `ts`
    CANCEL_ALL: int = 2  # cancel every order of the grid (effective at `ts`)
    REBUILD: int = 3     # a new grid was built at `price` (reason `code`, spacing in `qty`)
    SEED: int = 4        # market order side, qty (LONG/SHORT seed); sim: filled at price, fee
    FLATTEN: int = 5     # market order closing the position; sim: filled at price, fee
    STOP: int = 6        # the grid stopped trading (Stop code `code`)
    LIQUIDATE: int = 7   # the position taken over at the bankruptcy price `price` (no fee)


Act = _Act()

ACTION_DTYPE = np.dtype(
    [
        ("kind", np.int64),     # Act
        ("slot", np.int64),     # slot index (-1: not a slot's order)
        ("side", np.int64),     # 1 buy, -1 sell (0: not an order)
        ("price", np.float64),  # limit price; market orders: execution price when simulated
        ("qty", np.float64),    # order qty (REBUILD: the effective spacing)
        ("fee", np.float64),    # market orders, simulated: the taker fee booked
        ("ts", np.int64),       # event time of the decision (PLACE: active time t + latency)
        ("code", np.int64),     # REBUILD: Reason; STOP: Stop code
        ("pos", np.float64),    # market orders, simulated: the position after the fill
    ],
    align=True,
)

GRID_STATE_DTYPE = np.dtype(
    [
        # grid geometry
        ("has_grid", np.int64),
        ("centre", np.float64),      # price the grid was built at (unrounded)
        ("lowest", np.float64),      # lowest level of the enabled slots (nan: none)
        ("highest", np.float64),
        ("lower", np.float64),       # the (moving) bounded range, 0 = unset
        ("upper", np.float64),
        ("last_rc", np.int64),       # time of the last build
        # book summary (kept by the fill model after every change of the order rows)
        ("best_buy", np.float64),    # highest live buy (-inf: none)
        ("best_sell", np.float64),   # lowest live sell (+inf: none)
        ("next_book", np.int64),     # next time an order reaches the book or a cancel applies
        ("prev_p", np.float64),      # the grid's previous event price
        ("mark", np.float64),        # the grid's last event price (account marks)
        ("eps", np.float64),         # position snap tolerance (qty_step * 1e-6)
        # clocks, stop
        ("next_check", np.int64),
        ("stopped", np.int64),
        ("stop_code", np.int64),
        ("stop_ts", np.int64),
        # refused-retry memo: `epoch` counts changes of orders, slots, position and cash
        ("epoch", np.int64),
        ("rest_ok", np.int64),       # rb/rs/rbn below are the resting totals (no change since)
        ("rb", np.float64),
        ("rs", np.float64),
        ("rbn", np.float64),
        # retries skipped while nothing changed: at epoch `skip_epoch` every slot without an
        # order was refused (`skip_nblk` of them) at equity `skip_eq`
        ("skip_epoch", np.int64),
        ("skip_eq", np.float64),
        ("skip_nblk", np.int64),
        # the last fill applied by on_fill_nb
        ("last_fee", np.float64),
        ("last_gprof", np.float64),
        ("last_full", np.int64),
        ("last_pos", np.float64),    # position right after it
        # counters (summary)
        ("n_fills", np.int64),
        ("n_limit", np.int64),
        ("n_rt", np.int64),
        ("n_late", np.int64),
        ("n_rej", np.int64),
        ("n_blocked", np.int64),
        ("n_acc_blocked", np.int64),
        ("n_empty", np.int64),
        ("n_kill", np.int64),
        ("rc", np.int64, (N_REASONS,)),  # builds per Reason code
        ("at_max", np.int64),
        ("at_max_since", np.int64),
        ("time_at_max", np.int64),
        # backtest metrics and recording (the replay loops)
        ("n_eq", np.int64),
        ("n_rc_rows", np.int64),
        ("n_lv_rows", np.int64),
        ("next_eq", np.int64),
        ("last_eq_ts", np.int64),
        ("fund_i", np.int64),
        ("next_fund", np.int64),
        ("eq", np.float64),
        ("peak", np.float64),
        ("peak_ts", np.int64),
        ("max_dd", np.float64),
        ("max_dur", np.int64),
        # margin model (liquidation_nb; backtest.margin)
        ("liq_px", np.float64),      # liquidation price of the position (nan: none)
        ("n_liq", np.int64),
        ("liq_ts", np.int64),
        ("liq_loss", np.float64),
        ("n_mref", np.int64),        # orders refused by the margin (Bybit 110007)
        ("mark_i", np.int64),        # marks known so far (ep.mark_ts <= t)
        ("skip_nmref", np.int64),    # the skipped pass's margin refusals (of skip_nblk)
        ("liq_pos", np.float64),     # the position, entry and backing margin liq_px was
        ("liq_avg", np.float64),     # computed from (refresh_liq_nb recomputes it only when
        ("liq_bal", np.float64),     # one of them changed; liq_pos 0: none cached)
        ("blk_mg", np.int8, (MAX_SLOTS,)),  # slot k's last refusal was the margin's (memo)
        # shortcuts (results unchanged): `exact` 1 replays every event and every trigger
        # in full (no quiet events, no quiet checks; tests compare both); `n_quiet` counts
        # the checks whose triggers were answered by the quiet window (recenter_nb)
        ("exact", np.int64),
        ("n_quiet", np.int64),
    ],
    align=True,
)

STATE_CACHE_FIELDS = frozenset({"liq_pos", "liq_avg", "liq_bal", "exact", "n_quiet"})
"""Fields of GRID_STATE_DTYPE that only cache what the kernels can recompute (0: nothing
cached): a stored state written before they existed loads with them at 0."""


class GridArrays(NamedTuple):
    """The arrays of one grid's state (see the module docstring)."""

    slots: np.ndarray      # SLOT_DTYPE[n]
    orders: np.ndarray     # ORDER_DTYPE[2n]: row k slot k's order, row n + k its cancelling one
    acc: np.ndarray        # f8[N_ACC], the ledger (indices ACC)
    ring: np.ndarray       # f8[cap, 5] completed bars
    meta: np.ndarray       # i8[4] ring head, count, forming bar open time
    cur: np.ndarray        # f8[4] forming bar o, h, l, c
    rcache: np.ndarray     # recenter trigger cache (new_recenter_cache)
    kstate: np.ndarray     # f8[2] kill switch (day, daily max)
    blk_epoch: np.ndarray  # i8[n] epoch of a slot's last refusal (-1: none)
    blk_eq: np.ndarray     # f8[n] equity at that refusal
    fill_row: np.ndarray   # i8[2n] the fill buffer of one event: order rows
    fill_qty: np.ndarray   # f8[2n] and their fill quantities
    act: np.ndarray        # ACTION_DTYPE[n + N_ACTIONS_EXTRA]
    lv_price: np.ndarray   # f8[n + 1] scratch of a build: level prices
    lv_status: np.ndarray  # i8[n + 1] and their Status


@njit(cache=True)
def init_state_nb(st, capital, lower, upper, eps, first_ts, first_p, record):
    """Initial values of one grid's state record (before its first event)."""
    st["has_grid"] = 0
    st["centre"] = np.nan
    st["lowest"] = np.nan
    st["highest"] = np.nan
    st["lower"] = lower
    st["upper"] = upper
    st["last_rc"] = 0
    st["best_buy"] = -np.inf
    st["best_sell"] = np.inf
    st["next_book"] = INT64_MAX
    st["prev_p"] = first_p
    st["mark"] = first_p
    st["eps"] = eps
    st["next_check"] = -1
    st["stopped"] = 0
    st["stop_code"] = 0
    st["stop_ts"] = 0
    st["epoch"] = 0
    st["rest_ok"] = 0
    st["rb"] = 0.0
    st["rs"] = 0.0
    st["rbn"] = 0.0
    st["skip_epoch"] = -1
    st["skip_eq"] = 0.0
    st["skip_nblk"] = 0
    st["last_fee"] = 0.0
    st["last_gprof"] = 0.0
    st["last_full"] = 0
    st["last_pos"] = 0.0
    st["n_fills"] = 0
    st["n_limit"] = 0
    st["n_rt"] = 0
    st["n_late"] = 0
    st["n_rej"] = 0
    st["n_blocked"] = 0
    st["n_acc_blocked"] = 0
    st["n_empty"] = 0
    st["n_kill"] = 0
    for j in range(N_REASONS):
        st["rc"][j] = 0
    st["at_max"] = 0
    st["at_max_since"] = 0
    st["time_at_max"] = 0
    st["n_eq"] = 0
    st["n_rc_rows"] = 0
    st["n_lv_rows"] = 0
    st["next_eq"] = -1 if record else INT64_MAX
    st["last_eq_ts"] = -1
    st["fund_i"] = 0
    st["next_fund"] = INT64_MAX
    st["eq"] = capital
    st["peak"] = capital
    st["peak_ts"] = first_ts
    st["max_dd"] = 0.0
    st["max_dur"] = 0
    st["liq_px"] = np.nan
    st["n_liq"] = 0
    st["liq_ts"] = 0
    st["liq_loss"] = 0.0
    st["n_mref"] = 0
    st["mark_i"] = 0
    st["skip_nmref"] = 0
    st["liq_pos"] = 0.0
    st["liq_avg"] = 0.0
    st["liq_bal"] = 0.0
    st["exact"] = 0
    st["n_quiet"] = 0


@njit(cache=True)
def new_grid_state_nb(n, bar_ms, atr_period, dom_window_ms, pd_window_ms, capital):
    """The arrays of a grid of n slots (GridArrays), ledger cash = capital."""
    cap = ring_capacity_nb(bar_ms, atr_period, dom_window_ms, pd_window_ms)
    ring, meta = new_bar_ring(cap)
    acc = np.zeros(N_ACC, dtype=np.float64)
    acc[ACC.CASH] = capital
    return GridArrays(np.zeros(n, dtype=SLOT_DTYPE), np.zeros(2 * n, dtype=ORDER_DTYPE), acc,
                      ring, meta, np.zeros(4, dtype=np.float64), new_recenter_cache(cap),
                      new_kill_state(), np.full(n, -1, dtype=np.int64),
                      np.zeros(n, dtype=np.float64), np.zeros(2 * n, dtype=np.int64),
                      np.zeros(2 * n, dtype=np.float64),
                      np.zeros(n + N_ACTIONS_EXTRA, dtype=ACTION_DTYPE),
                      np.zeros(n + 1, dtype=np.float64), np.zeros(n + 1, dtype=np.int64))


def check_capacity(n_buy: int, n_sell: int, field: str = "grid") -> None:
    """Refuse a grid the state cannot hold (raise ConfigError naming the field)."""
    n = int(n_buy) + int(n_sell)
    if n_buy < 0 or n_sell < 0:
        raise ConfigError(f"{field}.n_buy / {field}.n_sell must be >= 0 (got {n_buy}, {n_sell})",
                          "set non-negative level counts")
    if n > MAX_SLOTS:
        raise ConfigError(f"{field}.n_buy + {field}.n_sell = {n} is more than the grid state "
                          f"holds ({MAX_SLOTS:,} slots)", "use fewer levels")


def new_grid_state(gp, rp, capital: float, eps: float, first_ts: int, first_p: float,
                   record: bool = False) -> tuple[np.ndarray, GridArrays]:
    """A fresh grid state: (GRID_STATE_DTYPE[1] record array, GridArrays); take `rec[0]` as
    the state record the kernels want. Refuses a grid larger than MAX_SLOTS."""
    check_capacity(gp.n_buy, gp.n_sell)
    rec = np.zeros(1, GRID_STATE_DTYPE)
    init_state_nb(rec[0], float(capital), float(gp.lower), float(gp.upper), float(eps),
                  int(first_ts), float(first_p), bool(record))
    arrs = new_grid_state_nb(int(gp.n_buy + gp.n_sell), int(gp.bar_ms), int(gp.atr_period),
                             int(rp.dom_window_ms), int(rp.pd_window_ms), float(capital))
    return rec, arrs
