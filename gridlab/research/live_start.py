"""Where the live audit's replay starts: the runner's own state at the start of the span.

A runner logs each grid's state (table live_state_log) when a session starts (after its
restore and reconciliation, before its first print) and at every equity snapshot: the step
state (`GridStep.snapshot`), the ledger, the bar ring, the check clock, and how many fills it
had applied. `replay_start` picks the logged state the audit starts from:

- no `--from`: the earliest logged state (a runner started on an empty account logged a flat
  one before its first print);
- `--from T`: the latest state that saw only prints before T (its `ts` < T); when there is
  none, the earliest one after T (the audit then starts later than asked, with a warning);
- a store without the log (written by an older gridlab): a flat start, with a warning.

The chosen state becomes the backtest's `initial_state` (`gridlab.backtest.start`): the
replay runs the tape after the state's last print from the position, average price, ledger,
grid and resting orders the runner held, and the live fills compared are those applied after
the state (`apply_seq`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import duckdb

from gridlab.backtest.enums import ACC
from gridlab.backtest.params import run_params
from gridlab.backtest.start import StartState, state_from_snapshot
from gridlab.fmt import utc_iso
from gridlab.store.live_audit import logged_state, logged_states
from gridlab.strategy.enums import Filters

__all__ = ["ReplayStart", "choose_state", "replay_start"]


class ReplayStart(NamedTuple):
    """Where a replay starts. `kind`: flat (nothing logged), start or snapshot (the logged
    state's kind); `ts`: the last print time the state saw (-1: none, the whole tape is
    after it); `state`: the backtest's initial state (None: flat); `apply_seq`: the live
    fills already in the state (-1: none); `position`, `price`, `funding`: the position it
    held, its last price and the funding booked so far; `capital`: the grid budget of its
    ledger (None: the config's); `warnings`: what the audit must say about its start."""

    kind: str
    ts: int
    state: StartState | None
    apply_seq: int
    position: float
    price: float
    funding: float
    capital: float | None
    warnings: list[str]


FLAT = ReplayStart("flat", -1, None, -1, 0.0, math.nan, 0.0, None, [])


def choose_state(logged: list[tuple[int, str, int]], start_ms: int | None
                 ) -> tuple[tuple[int, str, int] | None, list[str]]:
    """The logged state (ts, kind, recorded_at) a replay from `start_ms` starts from (see the
    module docstring), and the warnings that choice needs."""
    if not logged:
        return None, ["the runner logged no grid state (a store of an older gridlab): the "
                      "replay starts flat at the first tape trade"]
    if start_ms is None:
        return logged[0], []
    before = [s for s in logged if s[0] < int(start_ms)]
    if before:
        return before[-1], []
    first = logged[0]
    return first, [f"no grid state was logged before {utc_iso(int(start_ms))}: the audit "
                   f"starts from the earliest one (after the print of {utc_iso(first[0])})"]


def replay_start(con: duckdb.DuckDBPyConnection, state_key: str, cfg: Any, filters: Filters,
                 category: str, start_ms: int | None) -> ReplayStart:
    """The start of a replay of grid `state_key` from `start_ms` (None: the earliest), with
    `cfg` the config the replay runs (its grid shapes the state's arrays)."""
    found, warnings = choose_state(logged_states(con, state_key), start_ms)
    if found is None:
        return FLAT._replace(warnings=warnings)
    ts, kind, recorded_at = found
    value, bars = logged_state(con, state_key, recorded_at, kind)
    ledger = value["ledger"]
    acc = [float(x) for x in ledger["acc"]]
    capital = float(ledger["capital"])
    price = value.get("last_price")
    price = math.nan if price is None else float(price)
    seq = int(value.get("apply_seq", 0))
    step = value["step"]
    st = step["state"]
    orders = step["orders"]["side"]
    flat = (not st["has_grid"][0] and acc[ACC.POS] == 0.0 and not any(orders)
            and acc[ACC.REALIZED] == 0.0 and acc[ACC.FEES] == 0.0)
    if flat:  # nothing to carry: the replay's own flat start is this state
        return ReplayStart(kind, ts, None, seq, 0.0, price, 0.0, capital, warnings)
    run_cfg = cfg.model_copy(update={"trading": cfg.trading.model_copy(
        update={"capital": capital})})
    rp = run_params(run_cfg, filters, category)
    eps = filters.qty_step * 1e-6 if filters.qty_step > 0 else 1e-12
    state = state_from_snapshot(step, acc, rp.gp, rp.rp, capital, eps, bars=bars,
                                next_check=int(value.get("next_check", -1)))
    return ReplayStart(kind, ts, state, seq, acc[ACC.POS], price, acc[ACC.FUNDING], capital,
                       warnings)
