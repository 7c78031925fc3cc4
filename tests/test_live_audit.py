"""The live audit on the local exchange: the runner's real fills against the replay of the
tape it recorded. Cross model and zero latency: every fill matched; a forced stream drop is
marked as a gap instead of false misses; injected latency shows up as misses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from gridlab.backtest.data import MarketData
from gridlab.backtest.engine import backtest
from gridlab.fakex.handle import FakeExchange
from gridlab.research.live_audit import audit_live
from gridlab.store.core import Store
from gridlab.store.live import open_live_views
from gridlab.store.live_audit import audit_fills, list_audits, save_audit
from gridlab.strategy.params import make_filters
from live.commands import app as live_cli
from live.runner import LiveRunner
from tests.live_helpers import RunnerThread, local_config
from tests.test_live_parity import tape

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"


def _sections(fx: FakeExchange) -> dict[str, Any]:
    return {
        "grid": {"spacing": 0.002, "n_buy": 5, "n_sell": 5, "profit_target": 0.0015},
        "recenter": {"deviation": {"pct": 0.006}},
        "risk": {"max_exposure_pct": 1.0, "kill_switch_dd": 0.05},
        "backtest": {"fill_model": "cross", "latency_ms": 0, "check_interval_ms": 60_000,
                     "maker_fee": fx.engine.maker_fee, "taker_fee": fx.engine.taker_fee,
                     "funding": False, "post_only": True},
        "live": {"order_poll_s": 600},
    }


def _filters(fx: FakeExchange) -> Any:
    inst = fx.engine.instruments[("linear", SYM)]
    return make_filters(inst.tick_size, inst.qty_step, inst.min_qty, inst.min_notional,
                        inst.max_qty)


def _run(fx: FakeExchange, cfg: Any, data: dict[str, Any]) -> LiveRunner:
    fx.market.add_trades(SYM, data)
    runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
    rt = RunnerThread(runner).start()
    try:
        for ts in data["ts"]:
            assert fx.market.step(1) == 1
            rt.settle(fx, int(ts))
    finally:
        rt.stop()
    return runner


def _audit(runner: LiveRunner, cfg: Any, fx: FakeExchange, **kw: Any) -> Any:
    con = open_live_views(runner.mirror_dir)
    try:
        return audit_live(con, cfg, runner=runner.name, symbol=SYM,
                          state_key=runner.grids[0].state_key, filters=_filters(fx), **kw)
    finally:
        con.close()


def test_audit_on_the_local_exchange_matches_every_fill(fake_exchange: FakeExchange,
                                                       tmp_path: Path) -> None:
    fx = fake_exchange
    fx.engine.set_funding_rate(SYM, 0.0)
    data = tape(3)
    cfg = local_config(fx, tmp_path / "live", **_sections(fx))
    runner = _run(fx, cfg, data)
    audit = _audit(runner, cfg, fx)
    c = audit.result.counts
    assert c["matched"] >= 10
    assert c == {"matched": c["matched"], "missed": 0, "extra": 0, "gap": 0}
    assert audit.result.match_rate == 1.0
    assert audit.n_trades == len(data["ts"])  # the whole tape was recorded, once
    assert (audit.result.fills["dt_ms"] == 0).all()
    assert audit.pnl["total"] == pytest.approx(audit.pnl["live_pnl"] - audit.pnl["sim_pnl"])
    assert abs(audit.pnl["total"]) < 1e-6
    # the replay used the runner's stored parameters: the same as a backtest of the config
    md = MarketData.from_trades(data["ts"], data["price"], data["size"], symbol=SYM,
                                filters=_filters(fx))
    assert audit.result.counts["matched"] == len(backtest(md, cfg).fills)
    # stored in the research store, rows and fills
    with Store.open(tmp_path / "research.duckdb") as store:
        aid = save_audit(store, audit.summary(), audit.result.fills)
        assert list(list_audits(store)["audit_id"]) == [aid]
        assert len(audit_fills(store, aid)) == len(audit.result.fills)

    # the command line: the same audit from the config file, printed and stored
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    out = CliRunner().invoke(live_cli, ["live", "audit", "-c", str(path)])
    assert out.exit_code == 0, out.output
    assert f"{c['matched']} matched, 0 missed" in out.output and "match rate 100.00%" in out.output
    assert "stored as audit" in out.output
    bad = CliRunner().invoke(live_cli, ["live", "audit", "-c", str(path), "--latency-ms", "-1"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output

    # with 30 s of assumed latency the replay fills later or not at all: misses and extras,
    # and the PnL difference is split into causes that add up
    slow = _audit(runner, cfg, fx, latency_ms=30_000, tol_ms=500)
    assert slow.result.counts["missed"] + slow.result.counts["extra"] > 0
    parts = slow.pnl
    assert parts["total"] == pytest.approx(parts["live_pnl"] - parts["sim_pnl"], abs=1e-9)


def test_a_tape_gap_is_marked_not_reported_as_false_misses(fake_exchange: FakeExchange,
                                                           tmp_path: Path) -> None:
    """What a stream drop leaves (prints missing from the tape, a gap recorded over them):
    the fills inside the gap are marked `gap`; without the gap record the same tape gives
    false misses. Built from a real run by removing the print of one fill from its tape."""
    fx = fake_exchange
    fx.engine.set_funding_rate(SYM, 0.0)
    data = tape(3)
    cfg = local_config(fx, tmp_path / "live", **_sections(fx))
    runner = _run(fx, cfg, data)
    views = open_live_views(runner.mirror_dir)
    con = duckdb.connect()
    for table in ("live_tape", "live_state", "live_fills"):
        con.register("_v", views.execute(f"select * from {table}").df())
        con.execute(f"create table {table} as select * from _v")
        con.unregister("_v")
    assert views.execute("select count(*) from live_tape_gaps").fetchone()[0] == 0
    views.close()
    con.execute("create table live_tape_gaps (symbol varchar, start_ts bigint, end_ts bigint, "
                "reason varchar, recorded_at bigint)")
    fill_ts = int(con.execute("select exec_time from live_fills where exec_type = 'Trade' "
                              "order by exec_time limit 1 offset 3").fetchone()[0])
    before, after = con.execute(
        "select max(ts) filter (where ts < $t), min(ts) filter (where ts > $t) from live_tape",
        {"t": fill_ts}).fetchone()
    con.execute("delete from live_tape where ts = $t", {"t": fill_ts})
    kw = {"runner": runner.name, "symbol": SYM, "state_key": runner.grids[0].state_key,
          "tol_ms": 0}
    blind = audit_live(con, cfg, **kw)
    assert blind.result.counts["missed"] + blind.result.counts["extra"] > 0  # false misses
    con.execute("insert into live_tape_gaps values ($s, $a, $b, 'stream_drop', 0)",
                {"s": SYM, "a": int(before), "b": int(after)})
    audit = audit_live(con, cfg, **kw)
    assert audit.gaps == [(int(before), int(after), "stream_drop")]
    c = audit.result.counts
    assert c["missed"] == 0 and c["extra"] == 0, audit.result.fills
    assert c["gap"] >= 1
