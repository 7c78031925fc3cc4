"""Recenters by amend (live/moves.py), pybit against the local exchange: a small recenter of a
40-level grid moves the resting orders with amend-batch requests instead of cancel-all +
create-batch, and ends with the same book, slots and position as the cancel path; a fill at
an order's old price before its amend belongs to the old generation; a refused amend falls
back to cancel + create with one order per slot; a runner killed around the amend restarts
with one order per slot and every fill once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from gridlab.bybit.credentials import ENV_KEY, ENV_SECRET
from gridlab.fakex.handle import FakeExchange
from gridlab.store.live import LiveStore, open_live_views
from gridlab.store.live_links import load_moves
from live.core import TradingCore
from live.ids import parse_link, runner_tag
from live.runner import LiveRunner
from tests.live_helpers import RunnerThread, local_config

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
MIN = 60_000
T0 = 1_700_000_040_000  # 40 s into a minute: the first print is the first check
RECENTER_AT = -(-(T0 + 3 * MIN) // MIN) * MIN  # the TIME recenter's check (3 minutes on)
NEW_P = 59_940.0  # a small recenter: 0.1 % down, less than a level
ROOT = Path(__file__).resolve().parents[1]
ORDER_PATHS = ("/v5/order/create", "/v5/order/create-batch", "/v5/order/amend",
               "/v5/order/amend-batch", "/v5/order/cancel", "/v5/order/cancel-batch",
               "/v5/order/cancel-all")
Maker = Callable[..., Any]


def grid_config(fx: FakeExchange, data_dir: Path, *, amend: bool = True, **live: Any) -> Any:
    """40 levels (20 buys, 20 sells), a TIME recenter every 3 minutes, Bybit's batch limit
    (10 orders a request)."""
    return local_config(
        fx, data_dir,
        exchange={"rate_limits": {"batch": 10}},
        trading={"symbol": SYM, "category": "linear", "capital": 30_000.0, "leverage": 1.0},
        grid={"spacing": 0.002, "n_buy": 20, "n_sell": 20, "profit_target": 0.0},
        recenter={"time": {"enabled": True, "hours": 0.05}},
        risk={"max_exposure_pct": 5.0, "kill_switch_dd": 0.5},
        live={"order_poll_s": 600, "amend": amend, **live})


def open_orders(fx: FakeExchange) -> list[Any]:
    with fx.engine.lock:
        return [o for o in fx.engine.open[fx.api_key].values() if o.symbol == SYM]


def book(fx: FakeExchange) -> list[tuple[str, float, float]]:
    return sorted((o.side, o.price, o.qty) for o in open_orders(fx))


def exchange_position(fx: FakeExchange) -> float:
    acct = fx.engine.accounts[fx.api_key]
    return acct.positions[SYM].size if SYM in acct.positions else 0.0


def one_order_per_slot(fx: FakeExchange, core: TradingCore) -> None:
    """Every open order of ours is the order of exactly one slot of the current generation
    (as the runner maps it), one per level, and every slot with an order rests once."""
    opened = open_orders(fx)
    per_level = Counter((o.side, o.price) for o in opened)
    assert max(per_level.values()) == 1, per_level
    slots = Counter()
    for o in opened:
        row = core.orders.get(o.order_link_id)
        assert row is not None and row.active and row.gen == core.gen, o.order_link_id
        assert core.slot_link.get(row.slot) == o.order_link_id
        assert abs(row.price - o.price) < 1e-6 and row.side == (1 if o.side == "Buy" else -1)
        slots[row.slot] += 1
    assert max(slots.values()) == 1
    assert set(slots) == set(core.slot_link)


def client_paths(core: TradingCore) -> dict[str, int]:
    return dict(core.ex.client.paths)


def diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {p: after.get(p, 0) - before.get(p, 0) for p in ORDER_PATHS
            if after.get(p, 0) != before.get(p, 0)}


class Session:
    """A runner in a thread on `fx` and the market prints the test sends."""

    def __init__(self, fx: FakeExchange, data_dir: Path, *, amend: bool = True) -> None:
        self.fx = fx
        fx.engine.set_funding_rate(SYM, 0.0)
        self.runner = LiveRunner(grid_config(fx, data_dir, amend=amend),
                                 credentials=fx.credentials, install_signals=False)
        self.rt = RunnerThread(self.runner).start()
        self.ts = T0

    @property
    def core(self) -> TradingCore:
        assert self.runner.core is not None
        return self.runner.core

    def trade(self, price: float, *, settle: bool = True, size: float = 1.0,
              side: int = -1) -> None:
        self.fx.engine.trade(SYM, price, size=size, side=side, ts=self.ts)
        if settle:
            self.rt.settle(self.fx, self.ts)
        self.ts += 1000

    def up_to_recenter(self) -> None:
        """The first grid, quiet prints up to the recenter's check."""
        self.trade(60_000.0)
        assert len(open_orders(self.fx)) == 40, len(open_orders(self.fx))
        while self.ts < RECENTER_AT:
            self.trade(60_000.0)

    def stop(self) -> None:
        self.rt.stop()


def recenter(fx: FakeExchange, data_dir: Path, *, amend: bool) -> dict[str, Any]:
    """Build the 40-level grid, recenter it 0.1 % down; what the recenter cost and left."""
    s = Session(fx, data_dir, amend=amend)
    try:
        s.up_to_recenter()
        before_book = book(fx)
        was = {o.order_link_id: o.price for o in open_orders(fx)}
        before = client_paths(s.core)
        s.trade(NEW_P)  # the check print: the TIME recenter fires at it
        cost = diff(client_paths(s.core), before)
        grids = s.runner.store.grids()
        assert len(grids) == 2 and grids["reason"].iloc[0] == "TIME", grids
        one_order_per_slot(fx, s.core)
        n = s.core.step.n
        rows = s.core.step.g.orders[:n]
        return {"cost": cost, "book": book(fx), "before_book": before_book,
                "slots": s.core.step.slots.copy(),
                "rows": [(int(r["side"]), float(r["price"]), float(r["qty"]), float(r["rem"]))
                         for r in rows],
                "position": s.core.ledger.position, "xpos": exchange_position(fx),
                "amended": s.core.stats["orders_amended"], "gen": s.core.gen,
                "links": {o.order_link_id for o in open_orders(fx)},
                "moved_by": max(abs(o.price / was[o.order_link_id] - 1) if o.order_link_id
                                in was else 0.0 for o in open_orders(fx))}
    finally:
        s.stop()


def test_small_recenter_amends_and_ends_like_cancel_and_place(
        fake_exchange_factory: Maker, tmp_path: Path) -> None:
    amend = recenter(fake_exchange_factory(), tmp_path / "a", amend=True)
    cancel = recenter(fake_exchange_factory(), tmp_path / "c", amend=False)
    print(f"\n40-level small recenter: amend path {amend['cost']}, cancel path "
          f"{cancel['cost']}")
    # the cancel path: one cancel-all and the new grid in create-batch requests of 10
    assert cancel["cost"] == {"/v5/order/cancel-all": 1, "/v5/order/create-batch": 4}
    # the amend path: the 40 orders moved in amend-batch requests of 10, nothing else
    assert amend["cost"] == {"/v5/order/amend-batch": 4}, amend["cost"]
    assert amend["amended"] == 40 and cancel["amended"] == 0
    # the same orders on the exchange, the same slots, order rows and position
    assert amend["book"] == cancel["book"] and amend["book"] != amend["before_book"]
    assert len(amend["book"]) == 40
    assert np.array_equal(amend["slots"], cancel["slots"])
    assert amend["rows"] == cancel["rows"]
    assert amend["position"] == cancel["position"] == amend["xpos"] == 0.0
    # the amended orders kept their orderLinkIds (of the first generation)
    gens = {parse_link(x, "gl", runner_tag("btcusdt-linear")).gen for x in amend["links"]}
    assert gens == {1} and amend["gen"] == 2
    # nearest to the market first: each order moved by the recenter's 0.1 %, not across the
    # grid (less than one level, 0.2 %)
    assert amend["moved_by"] < 0.0015, amend["moved_by"]


def rows_book(core: TradingCore) -> list[tuple[str, float, float]]:
    """The step's order rows as the exchange would list them."""
    rows = core.step.g.orders[:core.step.n]
    return sorted(("Buy" if r["side"] > 0 else "Sell", round(float(r["price"]), 6),
                   round(float(r["rem"]), 9))
                  for r in rows if r["side"] != 0)


def test_fill_at_the_old_price_before_the_amend_is_the_old_generations(
        fake_exchange: FakeExchange, tmp_path: Path) -> None:
    """The nearest buy of the first grid fills at its old price while its amend is on the
    way: a late fill of generation 1 (as an order cancelled then); its amend is refused
    (the order is gone) and the new slot gets a fresh order of its own."""
    fx = fake_exchange
    s = Session(fx, tmp_path / "live")
    try:
        s.up_to_recenter()
        old_buy = max((o for o in open_orders(fx) if o.side == "Buy"), key=lambda o: o.price)
        core = s.core
        send = core.ex.amend_many

        async def fill_first(moves: list[tuple[str, float, float | None]]) -> Any:
            if old_buy.order_link_id in {m[0] for m in moves}:
                fx.engine.trade(SYM, old_buy.price - 0.1, size=old_buy.qty,
                                side=-1, ts=s.ts + 500)
            return await send(moves)

        core.ex.amend_many = fill_first  # type: ignore[method-assign]
        s.trade(NEW_P)
        s.trade(NEW_P)
        fills = s.runner.store.fills(100)
        assert len(fills) == 1, fills
        f = fills.iloc[0]
        assert f["price"] == old_buy.price and f["order_link_id"] == old_buy.order_link_id
        assert f["kind"] == "late" and f["gen"] == 1, f.to_dict()
        qty = old_buy.qty
        assert core.ledger.position == pytest.approx(qty) == exchange_position(fx)
        assert core.stats["late_fills"] == 1
        one_order_per_slot(fx, core)
        assert len(open_orders(fx)) == 40 and book(fx) == rows_book(core)
        # the nearest new buy is a fresh order of generation 2, not the filled one
        nearest = max((o for o in open_orders(fx) if o.side == "Buy"), key=lambda o: o.price)
        key = parse_link(nearest.order_link_id, "gl", core.s.tag)
        assert key is not None and key.gen == 2 and nearest.order_link_id != old_buy.order_link_id
        assert core.stats["orders_amended"] == 39 and core.stats["amends_refused"] == 1
    finally:
        s.stop()


def test_refused_amends_fall_back_to_cancel_and_create(fake_exchange: FakeExchange,
                                                       tmp_path: Path) -> None:
    fx = fake_exchange
    s = Session(fx, tmp_path / "live")
    try:
        s.up_to_recenter()
        before = client_paths(s.core)
        fx.faults.reject(count=1, code=110001, msg="order not exists or too late to replace",
                         path="/v5/order/amend-batch")
        s.trade(NEW_P)
        cost = diff(client_paths(s.core), before)
        # 10 of 40 refused: cancelled in one cancel-batch, their slots in one create-batch
        assert cost == {"/v5/order/amend-batch": 4, "/v5/order/cancel-batch": 1,
                        "/v5/order/create-batch": 1}, cost
        core = s.core
        assert core.stats["orders_amended"] == 30 and core.stats["amends_refused"] == 10
        one_order_per_slot(fx, core)
        assert len(open_orders(fx)) == 40 and book(fx) == rows_book(core)
        cancelled = [o for o in core.orders.values() if o.reason == "amend refused"]
        assert len(cancelled) == 10 and all(o.status == "Cancelled" for o in cancelled)
    finally:
        s.stop()


def _wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        time.sleep(0.005)


def _starts(mirror: Path) -> list[dict[str, Any]]:
    import json

    try:
        con = open_live_views(mirror)
        rows = con.execute("select details from live_events where kind = 'start' "
                           "order by id").fetchall()
    except Exception:
        return []
    return [json.loads(r[0]) for r in rows]


@pytest.mark.parametrize("after_accept", [False, True])
def test_kill_9_around_the_amend_restarts_with_one_order_per_slot(
        fake_exchange: FakeExchange, tmp_path: Path, after_accept: bool) -> None:
    """SIGKILL while the first amend-batch request is in flight (every move written ahead):
    not carried out -> on restart the 40 orders rest at their old prices and are cancelled
    and placed again once; carried out (only the reply lost) -> the 10 moved orders are
    adopted as their new slots' orders (same exchange orders) and the other 30 replaced.
    Either way one order per slot and level, every execution stored and applied once, and a
    fill of a moved order at its new price is its new slot's."""
    fx = fake_exchange
    fx.engine.set_funding_rate(SYM, 0.0)
    cfg = grid_config(fx, tmp_path / "live", order_poll_s=0.5, export_s=0.2)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    env = {**os.environ, ENV_KEY: fx.api_key, ENV_SECRET: fx.api_secret, "TZ": "UTC"}
    mirror = tmp_path / "live" / "btcusdt-linear"
    tag = runner_tag("btcusdt-linear")
    ts = [T0]

    def start(n: int) -> subprocess.Popen[bytes]:
        log = tmp_path / f"run{n}.log"
        proc = subprocess.Popen([sys.executable, "-m", "live", "live", "--config", str(path),
                                 "--paper"], cwd=ROOT, env=env, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT)
        _wait(lambda: len(_starts(mirror)) >= n or proc.poll() is not None, 120,
              f"runner start {n}")
        assert proc.poll() is None, log.read_text()[-3000:]
        return proc

    def trade(price: float) -> None:
        fx.engine.trade(SYM, price, side=-1, ts=ts[0])
        ts[0] += 1000
        time.sleep(0.01)

    p = start(1)
    trade(60_000.0)
    _wait(lambda: len(open_orders(fx)) == 40, 30, "the first grid")
    first = {o.order_link_id: o.price for o in open_orders(fx)}
    while ts[0] < RECENTER_AT:
        trade(60_000.0)
    fired = fx.faults.fired["timeout"]
    fx.faults.timeout(count=1, seconds=3, path="/v5/order/amend-batch",
                      after_accept=after_accept)
    trade(NEW_P)  # the recenter: its first amend-batch request hangs
    _wait(lambda: fx.faults.fired["timeout"] > fired, 30, "the amend request in flight")
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    moved = {o.order_link_id for o in open_orders(fx) if o.price != first[o.order_link_id]}
    assert len(open_orders(fx)) == 40 and len(moved) == (10 if after_accept else 0)
    ls = LiveStore.open(tmp_path / "live" / "btcusdt-linear.duckdb")
    try:
        assert len(load_moves(ls, SYM)) == 40  # every move written before the amend
    finally:
        ls.close()
    p = start(2)
    try:
        summary = _starts(mirror)[1]["reconcile"]
        assert summary.get("unmoved") == 40 - len(moved), summary
        _wait(lambda: len(open_orders(fx)) == 40, 30, "the grid after the restart")
        opened = open_orders(fx)
        assert max(Counter((o.side, o.price) for o in opened).values()) == 1
        assert moved <= {o.order_link_id for o in opened}  # adopted, not replaced
        per_slot = Counter()
        for o in opened:
            k = parse_link(o.order_link_id, "gl", tag)
            assert k is not None
            per_slot[("moved", o.price) if o.order_link_id in moved else (k.gen, k.slot)] += 1
        assert max(per_slot.values()) == 1 and len(per_slot) == 40
        assert {o.price for o in opened}.isdisjoint(first.values())  # all at the new grid
        # a fill at the new grid's nearest buy (a moved order when one was adopted)
        buy = max((o for o in opened if o.side == "Buy"), key=lambda o: o.price)
        trade(buy.price - 0.1)
        trade(buy.price + 5)
        n_ex = len(fx.engine.accounts[fx.api_key].executions)
        assert n_ex == 1
        _wait(lambda: _applied(mirror) == n_ex, 30, "the fill applied")
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0
    ls = LiveStore.open(tmp_path / "live" / "btcusdt-linear.duckdb")
    try:
        fills = ls.fills(100)
        assert len(fills) == 1 and ls.unapplied_fills() == []
        f = fills.iloc[0]
        assert f["kind"] == "grid" and f["gen"] == 2, f.to_dict()  # the new slot's fill
        assert (f["order_link_id"] in moved) == after_accept
        state = ls.get_state("runner")
        assert state["ledger"]["acc"][0] == pytest.approx(exchange_position(fx), abs=1e-9)
        assert exchange_position(fx) == pytest.approx(buy.qty)
    finally:
        ls.close()


def _applied(mirror: Path) -> int:
    try:
        con = open_live_views(mirror)
        return int(con.execute("select count(*) from live_fills where applied").fetchall()[0][0])
    except Exception:
        return -1
