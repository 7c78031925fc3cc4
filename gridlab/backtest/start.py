"""A backtest started from a grid's state instead of flat: `StartState`.

A run normally starts flat: no position, no grid (the first check builds it at the first
event). `backtest(data, cfg, initial_state=s)` starts instead from `s`, the one step kernel's
state of a grid (`state_nb`: the `GRID_STATE_DTYPE` record and its `GridArrays`): position,
average price, realized PnL, fees and funding so far (the ledger), the grid's centre and
range, its slots and their resting orders, the bar history, the kill switch and the check
clock. The same step and run loop (`engine_nb.run_state_nb`) replay the events from there:
nothing of the strategy is repeated here.

Where a state comes from:
- the end of another run: `backtest(..., keep_state=True).final_state` (the state after its
  last event), e.g. to split a replay in two;
- a live runner: `state_from_snapshot` decodes what the runner stores with its state
  (`live.step.GridStep.snapshot`, its ledger vector, its bar ring and its check clock), as
  the live audit does for a runner that holds a position when its audited span begins.

`resume_state` prepares a copy for a new run: the run's counters (fills, round trips, builds,
refusals, time at max, drawdown, liquidations) start at zero so that the run's metrics count
its own events, and the book summary is refreshed from the order rows. The decisions do not
depend on these counters, so a run resumed from the state a run had after event i repeats
that run's fills from event i + 1 on exactly (tests/test_backtest_start.py).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from gridlab.backtest.enums import ACC, N_ACC
from gridlab.backtest.state_nb import N_REASONS, STATE_CACHE_FIELDS, GridArrays, new_grid_state
from gridlab.backtest.step_nb import book_state_nb
from gridlab.errors import DataError
from gridlab.strategy.recenter_nb import new_recenter_cache

__all__ = ["SNAPSHOT_ARRAYS", "StartState", "copy_state", "fresh_state", "load_records",
           "resume_state", "state_from_snapshot"]

SNAPSHOT_ARRAYS = ("slots", "orders", "kstate", "blk_epoch", "blk_eq")
"""The arrays of a grid state a live snapshot holds (besides the record)."""

_RUN_COUNTERS = ("n_fills", "n_limit", "n_rt", "n_late", "n_rej", "n_blocked", "n_acc_blocked",
                 "n_empty", "n_kill", "n_eq", "n_rc_rows", "n_lv_rows", "time_at_max",
                 "n_liq", "liq_ts", "n_mref", "mark_i", "max_dur", "fund_i")


class StartState(NamedTuple):
    """A grid's step state to start a run from: `rec` a GRID_STATE_DTYPE[1] array (its row
    is the state record), `arrays` its GridArrays."""

    rec: np.ndarray
    arrays: GridArrays

    @property
    def position(self) -> float:
        """The position the state holds."""
        return float(self.arrays.acc[ACC.POS])

    @property
    def price(self) -> float:
        """The last price the state saw (its previous event price)."""
        return float(self.rec[0]["prev_p"])


def copy_state(s: StartState) -> StartState:
    """A deep copy (runs change their state in place)."""
    return StartState(s.rec.copy(), GridArrays(*(a.copy() for a in s.arrays)))


def resume_state(s: StartState, first_ts: int) -> StartState:
    """A copy of `s` ready to start a run whose first event is at `first_ts` (see the module
    docstring: the run's counters at zero, the book summary refreshed)."""
    out = copy_state(s)
    st = out.rec[0]
    for name in _RUN_COUNTERS:
        st[name] = 0
    st["liq_loss"] = 0.0
    st["max_dd"] = 0.0
    for j in range(N_REASONS):
        st["rc"][j] = 0
    st["at_max_since"] = int(first_ts)  # time at max counts from the run's start
    st["peak_ts"] = int(first_ts)
    book_state_nb(st, out.arrays.orders)
    return out


def load_records(dst: np.ndarray, src: dict[str, list[Any]]) -> list[str]:
    """Copy a stored record array (`src`: field name -> values, as a snapshot keeps it) into
    `dst`. A cache field (STATE_CACHE_FIELDS) that `src` lacks is set to 0 (nothing cached);
    the names of the other fields `src` lacks are returned (left as they were)."""
    missing = []
    for name in dst.dtype.names:
        if name not in src:
            if name in STATE_CACHE_FIELDS:
                dst[name] = 0
            else:
                missing.append(name)
            continue
        dst[name] = np.asarray(src[name], dtype=dst.dtype[name].base).reshape(dst[name].shape)
    return missing


def _load_records(dst: np.ndarray, src: dict[str, list[Any]], what: str) -> None:
    missing = load_records(dst, src)
    if missing:
        raise DataError(f"the stored grid state lacks {what}.{missing[0]}",
                        "audit a span the runner wrote with this gridlab version")


def state_from_snapshot(step: dict[str, Any], acc: Any, gp: Any, rp: Any, capital: float,
                        eps: float, *, bars: dict[str, Any] | None = None,
                        next_check: int = -1) -> StartState:
    """The StartState of a live grid: `step` its step snapshot (`GridStep.snapshot`: the
    record and SNAPSHOT_ARRAYS as lists), `acc` its ledger vector (ACC indices), `bars` its
    bar ring (`ring`, `meta`, `cur`; None: empty), `next_check` its check clock (the next
    check time; -1: at the first event). `gp`, `rp`: the kernel parameters of the run (the
    arrays are shaped for them; a snapshot of another grid shape is refused)."""
    rec, arrays = new_grid_state(gp, rp, capital, eps, 0, 0.0)
    _load_records(rec, step["state"], "state")
    for k in SNAPSHOT_ARRAYS:
        dst = getattr(arrays, k)
        src = step[k]
        if dst.dtype.names:
            if len(next(iter(src.values()))) != dst.shape[0]:
                raise DataError(f"the stored grid state has {len(next(iter(src.values())))} "
                                f"{k} rows, the replayed grid {dst.shape[0]}",
                                "replay with the parameters the runner traded")
            _load_records(dst, src, k)
        else:
            v = np.asarray(src, dtype=dst.dtype)
            if v.shape != dst.shape:
                raise DataError(f"the stored grid state's {k} has shape {v.shape}, the "
                                f"replayed grid's {dst.shape}",
                                "replay with the parameters the runner traded")
            dst[:] = v
    a = np.asarray(acc, dtype=np.float64)
    if a.shape != (N_ACC,):
        raise DataError(f"the stored ledger has {a.size} values ({N_ACC} expected)",
                        "audit a span the runner wrote with this gridlab version")
    arrays.acc[:] = a
    if bars:
        ring = np.asarray(bars["ring"], dtype=np.float64)
        if ring.shape == arrays.ring.shape:
            arrays.ring[:] = ring
            arrays.meta[:] = np.asarray(bars["meta"], dtype=np.int64)
            arrays.cur[:] = np.asarray(bars["cur"], dtype=np.float64)
    arrays.rcache[:] = new_recenter_cache(arrays.ring.shape[0])
    rec[0]["next_check"] = int(next_check)
    return StartState(rec, arrays)


def fresh_state(gp: Any, rp: Any, capital: float, eps: float, first_ts: int,
                     first_p: float, record: bool) -> StartState:
    """A flat state (what a run without `initial_state` starts from)."""
    rec, arrays = new_grid_state(gp, rp, capital, eps, first_ts, first_p, record)
    return StartState(rec, arrays)
