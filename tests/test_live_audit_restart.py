"""The live audit of a span that starts with an open position: a runner stopped while holding
a position and resting orders, restarted (it restores its step state), and the audit of the
second session. The replay starts from the state the runner logged at its restart (position,
ledger, grid, resting orders, check clock): cross model, zero latency, every fill matched.
Dropping the starting position (or the grid) from that state breaks the match."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from gridlab.backtest.enums import ACC
from gridlab.fakex.handle import FakeExchange
from gridlab.research.live_audit import audit_live
from gridlab.research.live_start import choose_state
from gridlab.store.live import open_live_views
from gridlab.store.live_audit import logged_states
from live.audit import audit_lines
from live.runner import LiveRunner
from tests.live_helpers import RunnerThread, local_config
from tests.test_live_audit import SYM, _filters, _sections
from tests.test_live_parity import tape

pytest_plugins = ["tests.fakex_fixtures"]


def _session(fx: FakeExchange, cfg: Any, ts: np.ndarray) -> LiveRunner:
    """One runner session over the next prints `ts` of the market."""
    runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
    rt = RunnerThread(runner).start()
    try:
        for t in ts:
            assert fx.market.step(1) == 1
            rt.settle(fx, int(t))
    finally:
        rt.stop()
    return runner


def _copy(runner: LiveRunner) -> duckdb.DuckDBPyConnection:
    """The runner's mirror as tables of an in-memory database (to edit a state by hand)."""
    views = open_live_views(runner.mirror_dir)
    con = duckdb.connect()
    for table in ("live_tape", "live_tape_gaps", "live_state", "live_fills", "live_state_log"):
        con.register("_v", views.execute(f"select * from {table}").df())
        con.execute(f"create table {table} as select * from _v")
        con.unregister("_v")
    views.close()
    return con


def test_audit_of_a_restart_holding_a_position_matches_every_fill(
        fake_exchange: FakeExchange, tmp_path: Path) -> None:
    fx = fake_exchange
    fx.engine.set_funding_rate(SYM, 0.0)
    data = tape(3)
    cfg = local_config(fx, tmp_path / "live", **_sections(fx))
    fx.market.add_trades(SYM, data)
    k = 430  # in the rally: the grid holds a position and rests orders on both sides
    first = _session(fx, cfg, data["ts"][:k])
    held = first.grids[0]
    core1 = first.cores[next(iter(first.cores))]
    assert core1.ledger.position != 0.0
    second = _session(fx, cfg, data["ts"][k:])
    key = held.state_key
    con = _copy(second)
    kinds = [(kind, ts) for ts, kind, _ in logged_states(con, key)]
    assert ("start", -1) in kinds and ("start", int(data["ts"][k - 1])) in kinds

    kw = {"runner": second.name, "symbol": SYM, "state_key": key, "filters": _filters(fx),
          "start_ms": int(data["ts"][k])}
    audit = audit_live(con, cfg, **kw)
    # the state logged at the restart (start, and the first equity snapshot right after it)
    assert audit.start is not None and audit.start.kind in ("start", "snapshot")
    assert audit.start.ts == int(data["ts"][k - 1])
    assert audit.start.position == core1.ledger.position != 0.0
    assert audit.start.state is not None
    assert (audit.start.state.arrays.orders["side"] != 0).sum() >= 2
    c = audit.result.counts
    assert c["matched"] >= 5
    assert c == {"matched": c["matched"], "missed": 0, "extra": 0, "gap": 0}, audit.result.fills
    assert audit.result.match_rate == 1.0
    assert (audit.result.fills["dt_ms"] == 0).all()
    assert audit.n_trades == len(data["ts"]) - k
    assert abs(audit.pnl["total"]) < 1e-6
    assert audit.pnl["held"] != 0.0  # the starting position's move is in both PnLs
    assert audit.pnl["live_pnl"] == pytest.approx(audit.pnl["sim_pnl"] + audit.pnl["total"],
                                                  abs=1e-9)
    assert audit.summary()["start_position"] == audit.start.position
    assert abs(audit.sim_position - audit.live_position) < 1e-9  # the same position at the end
    assert abs(audit.live_position - second.cores[next(iter(second.cores))].ledger.position
               ) < 1e-9
    text = "\n".join(audit_lines(audit, None))
    assert f"position {audit.start.position:g}" in text and "match rate 100.00%" in text
    # the second session's live fills are exactly the matched ones
    n_live = con.execute("select count(*) from live_fills where exec_type = 'Trade' and "
                         "exec_time >= $t", {"t": int(data["ts"][k])}).fetchone()[0]
    assert c["matched"] == n_live

    # a --from in the middle of the session starts at the state logged before it (the restart)
    mid = audit_live(con, cfg, **{**kw, "start_ms": int(data["ts"][k + 150])})
    assert mid.start_ms == audit.start_ms and mid.result.counts == c
    assert any("the latest before" in w for w in mid.warnings)

    # the whole span from the first session's flat start also matches (across the restart)
    whole = audit_live(con, cfg, **{**kw, "start_ms": None})
    assert whole.start is not None and whole.start.state is None  # a flat start
    assert whole.result.counts["missed"] == whole.result.counts["extra"] == 0

    # break the start state by hand: without its position the replay ends elsewhere than the
    # runner; without its grid (levels, slots, resting orders) it trades other levels
    row = con.execute("select value from live_state_log where state_key = $k and ts = $t "
                      "and kind = $kind", {"k": key, "t": audit.start.ts,
                                           "kind": audit.start.kind}).fetchall()
    assert len(row) == 1
    good = json.loads(row[0][0])

    def audit_with(value: dict[str, Any]) -> Any:  # every state logged at the restart
        con.execute("update live_state_log set value = $v where state_key = $k and ts = $t",
                    {"v": json.dumps(value), "k": key, "t": audit.start.ts})
        return audit_live(con, cfg, **kw)

    flat = copy.deepcopy(good)
    flat["ledger"]["acc"][ACC.POS] = 0.0
    flat["ledger"]["acc"][ACC.AVG] = 0.0
    broken = audit_with(flat)
    assert broken.start is not None and broken.start.position == 0.0
    assert abs(broken.sim_position - broken.live_position) > 1e-9
    assert any("ends with position" in w for w in broken.warnings)
    no_grid = copy.deepcopy(good)  # the grid forgotten: the replay builds its own
    no_grid["step"]["state"]["has_grid"] = [0]
    no_grid["step"]["orders"]["side"] = [0] * len(no_grid["step"]["orders"]["side"])
    broken = audit_with(no_grid)
    b = broken.result.counts
    assert b["missed"] + b["extra"] > 0, broken.result.fills
    assert audit_with(good).result.counts == c  # restored: matched again


def test_the_replay_starts_at_the_latest_state_logged_before_from() -> None:
    """`choose_state`: no log -> flat (said); no --from -> the earliest; --from T -> the latest
    logged state that saw only prints before T; none before T -> the earliest (said)."""
    assert choose_state([], None)[0] is None and "flat" in choose_state([], 5)[1][0]
    logged = [(-1, "start", 10), (-1, "snapshot", 11), (500, "snapshot", 20),
              (900, "start", 30), (900, "snapshot", 31)]
    assert choose_state(logged, None) == (logged[0], [])
    assert choose_state(logged, 500) == (logged[1], [])   # ts 500 saw the print at 500
    assert choose_state(logged, 501) == (logged[2], [])
    assert choose_state(logged, 10_000) == (logged[4], [])
    late = [(900, "start", 30)]
    found, warn = choose_state(late, 100)
    assert found == late[0] and "earliest" in warn[0]
