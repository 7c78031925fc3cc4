"""Restart safety: `python -m live live --paper` killed with SIGKILL mid-run while the market keeps
trading, then started again: no order is duplicated and every execution is stored once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from gridlab.bybit.credentials import ENV_KEY, ENV_SECRET
from gridlab.fakex.handle import FakeExchange
from gridlab.store.live import LiveStore, open_live_views
from live.ids import parse_link, runner_tag
from tests.live_helpers import local_config

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
ROOT = Path(__file__).resolve().parents[1]


class Market(threading.Thread):
    """A mean-reverting random walk of prints, one market second apart, every few ms."""

    def __init__(self, fx: FakeExchange, seed: int = 7) -> None:
        super().__init__(daemon=True)
        self.fx = fx
        self.rng = np.random.default_rng(seed)
        self.halt = threading.Event()
        self.ts = 1_700_000_000_000
        self.price = 60_000.0
        # the walk's step multiplier: wider while the runner is down, so that resting levels
        # further out fill in a few hundred prints even on a loaded machine
        self.swing = 1.0

    pause = 0.003

    def step(self) -> None:
        """One print, one market second after the last."""
        self.price += self.rng.normal(0, 18 * self.swing) - 0.03 * (self.price - 60_000.0)
        self.price = round(self.price * 10) / 10
        self.ts += 1000
        self.fx.engine.trade(SYM, self.price, side=1 if self.rng.random() < 0.5 else -1,
                             ts=self.ts)

    def run(self) -> None:
        while not self.halt.is_set():
            self.step()
            time.sleep(self.pause)


def _executions(fx: FakeExchange) -> list[dict[str, Any]]:
    with fx.engine.lock:
        return [dict(e) for e in fx.engine.accounts[fx.api_key].executions
                if e["symbol"] == SYM]


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        time.sleep(0.05)


def assert_one_order_per_level(fx: FakeExchange, symbols: tuple[str, ...] = (SYM,)) -> None:
    """On the exchange, read without parsing any orderLinkId: no two resting orders of a
    symbol at the same side and price (a grid has one order per level; a runner that cannot
    re-derive the ids of its previous process places its grid a second time)."""
    with fx.engine.lock:
        opened = list(fx.engine.open[fx.api_key].values())
    for sym in symbols:
        per_level = Counter((o.side, o.price) for o in opened if o.symbol == sym)
        dup = {k: n for k, n in per_level.items() if n > 1}
        assert not dup, f"{sym}: duplicate resting orders on the exchange {dup}"


def _mirror_count(mirror: Path, sql: str) -> int:
    try:
        con = open_live_views(mirror)
        return int(con.execute(sql).fetchall()[0][0])
    except Exception:
        return -1


def test_kill_9_and_restart_no_duplicates_every_fill_once(fake_exchange: FakeExchange,
                                                         tmp_path: Path) -> None:
    fx = fake_exchange
    fx.engine.set_funding_rate(SYM, 0.0)
    cfg = local_config(fx, tmp_path / "live",
                       grid={"spacing": 0.0015, "n_buy": 5, "n_sell": 5},
                       live={"order_poll_s": 0.5, "export_s": 0.2})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    env = {**os.environ, ENV_KEY: fx.api_key, ENV_SECRET: fx.api_secret, "TZ": "UTC"}
    mirror = tmp_path / "live" / "btcusdt-linear"
    starts = "select count(*) from live_events where kind = 'start'"

    def start(n: int, log: Path) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "live", "live", "--config", str(path),
                                 "--paper"], cwd=ROOT, env=env, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT)
        _wait(lambda: _mirror_count(mirror, starts) >= n or proc.poll() is not None, 120,
              f"runner start {n}")
        assert proc.poll() is None, log.read_text()[-3000:]
        return proc

    market = Market(fx)
    fx.faults.set_latency(0.01)  # slower replies: the kill more likely lands mid-request
    p1 = start(1, tmp_path / "run1.log")
    fx.engine.trade(SYM, 60_000.0, ts=market.ts)
    market.start()
    try:
        _wait(lambda: len(_executions(fx)) >= 12, 60, "fills before the kill")
        p1.send_signal(signal.SIGKILL)
        p1.wait(10)
        fx.faults.set_latency(0.0)
        n_dead = len(_executions(fx))
        market.swing = 3.0
        _wait(lambda: len(_executions(fx)) >= n_dead + 3, 90, "fills while the runner is down")
        market.swing = 1.0
        p2 = start(2, tmp_path / "run2.log")
        assert_one_order_per_level(fx)  # reconciled: the grid is on the exchange once
        n_back = len(_executions(fx))
        _wait(lambda: len(_executions(fx)) >= n_back + 12, 60, "fills after the restart")
    finally:
        market.halt.set()
        market.join(5)
    n_total = len(_executions(fx))
    _wait(lambda: _mirror_count(mirror, "select count(*) from live_fills where applied")
          == n_total, 60, "the runner to store every execution")
    assert_one_order_per_level(fx)
    p2.send_signal(signal.SIGTERM)
    assert p2.wait(60) == 0, (tmp_path / "run2.log").read_text()[-3000:]

    tag = runner_tag("btcusdt-linear")
    with fx.engine.lock:
        orders = list(fx.engine.accounts[fx.api_key].orders.values())
    ours = [o for o in orders if parse_link(o.order_link_id, "gl", tag)]
    assert len(ours) == len(orders) > 0
    # one exchange order per orderLinkId, and per (generation, slot, leg, cycle) at most one
    # that was not cancelled / rejected before any fill
    assert max(Counter(o.order_link_id for o in ours).values()) == 1
    live_per_key: dict[tuple[int, int, str, int], int] = defaultdict(int)
    for o in ours:
        k = parse_link(o.order_link_id, "gl", tag)
        assert k is not None
        if o.status not in ("Cancelled", "Rejected") or o.cum_qty > 0:
            live_per_key[(k.gen, k.slot, k.leg, k.cycle)] += 1
    assert max(live_per_key.values()) == 1
    open_slots = Counter((k.gen, k.slot) for o in ours if o.is_open
                         for k in [parse_link(o.order_link_id, "gl", tag)] if k)
    assert not open_slots or max(open_slots.values()) == 1
    # every execution stored exactly once, and applied
    ex_ids = sorted(e["execId"] for e in _executions(fx))
    ls = LiveStore.open(tmp_path / "live" / "btcusdt-linear.duckdb")
    try:
        df = ls.fills(100_000)
        assert sorted(df["exec_id"]) == ex_ids
        assert ls.unapplied_fills() == []
        assert (df["source"] == "backfill").any()  # fills made while it was dead
        ev = ls.events(1000)
        assert (ev["kind"] == "start").sum() == 2
        pos = fx.engine.accounts[fx.api_key].positions[SYM].size
        state = ls.get_state("runner")
        assert state["ledger"]["acc"][0] == pytest.approx(pos, abs=1e-9)
    finally:
        ls.close()


def test_kill_9_inside_order_create_adopts_or_resends_the_same_id(
        fake_exchange: FakeExchange, tmp_path: Path) -> None:
    """Killed while an order request is in flight (its Intent row written ahead): accepted by
    the exchange -> adopted on restart; never reached the book -> sent again under the same
    orderLinkId. Either way one exchange order per id and per slot."""
    fx = fake_exchange
    fx.engine.set_funding_rate(SYM, 0.0)
    cfg = local_config(fx, tmp_path / "live", live={"order_poll_s": 0.5, "export_s": 0.2})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    env = {**os.environ, ENV_KEY: fx.api_key, ENV_SECRET: fx.api_secret}
    mirror = tmp_path / "live" / "btcusdt-linear"
    starts = "select count(*) from live_events where kind = 'start'"
    tag = runner_tag("btcusdt-linear")
    ts = [1_700_000_040_000]

    def start(n: int) -> subprocess.Popen[bytes]:
        log = tmp_path / f"run{n}.log"
        proc = subprocess.Popen([sys.executable, "-m", "live", "live", "--config", str(path),
                                 "--paper"], cwd=ROOT, env=env, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT)
        _wait(lambda: _mirror_count(mirror, starts) >= n or proc.poll() is not None, 120,
              f"runner start {n}")
        assert proc.poll() is None, log.read_text()[-3000:]
        return proc

    def trade(price: float) -> None:
        ts[0] += 1000
        fx.engine.trade(SYM, price, ts=ts[0])

    def reconcile_summary(n: int) -> dict[str, Any]:
        con = open_live_views(mirror)
        rows = con.execute("select details from live_events where kind = 'start' "
                           "order by id").fetchall()
        import json

        return json.loads(rows[n - 1][0])["reconcile"]

    p = start(1)
    trade(60_000.0)
    _wait(lambda: len(fx.engine.open[fx.api_key]) == 8, 30, "the grid")
    for n, (after_accept, price) in enumerate(((True, 59_850.0), (False, 60_160.0)), start=2):
        fired = fx.faults.fired["timeout"]
        fx.faults.timeout(count=1, seconds=3, path="/v5/order/create", after_accept=after_accept)
        trade(price)  # fills one order: the runner sends its counter order, which hangs
        _wait(lambda f=fired: fx.faults.fired["timeout"] > f, 30, "the order request in flight")
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        p = start(n)
        assert_one_order_per_level(fx)
        summary = reconcile_summary(n)
        if after_accept:
            assert summary["adopted"] == 1, summary  # it was on the book: adopted
        else:
            assert summary["void"] == 1 and summary["placed"] >= 1, summary  # sent again
        _wait(lambda: len(fx.engine.open[fx.api_key]) == 8, 30, "the grid after the restart")
    p.send_signal(signal.SIGTERM)
    assert p.wait(60) == 0
    with fx.engine.lock:
        orders = list(fx.engine.accounts[fx.api_key].orders.values())
    assert max(Counter(o.order_link_id for o in orders).values()) == 1
    per_slot = Counter(k.slot for o in orders if o.is_open
                       for k in [parse_link(o.order_link_id, "gl", tag)] if k)
    assert max(per_slot.values()) == 1 and len(per_slot) == 8
    ls = LiveStore.open(tmp_path / "live" / "btcusdt-linear.duckdb")
    try:
        assert sorted(ls.fills(1000)["exec_id"]) == sorted(e["execId"] for e in _executions(fx))
        assert not [o for o in ls.orders() if o.status in ("Intent", "Void")]
    finally:
        ls.close()


PF_SYMBOLS = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0}


class PortfolioMarket(threading.Thread):
    """Mean-reverting random walks of three symbols, one print each per market second."""

    def __init__(self, fx: FakeExchange, seed: int = 11) -> None:
        super().__init__(daemon=True)
        self.fx = fx
        self.rng = np.random.default_rng(seed)
        self.halt = threading.Event()
        self.ts = 1_700_000_000_000
        self.price = dict(PF_SYMBOLS)
        self.swing = 1.0  # as Market.swing

    def run(self) -> None:
        while not self.halt.is_set():
            self.ts += 1000
            for sym, p0 in PF_SYMBOLS.items():
                p = self.price[sym]
                p += self.rng.normal(0, 4e-4 * p0 * self.swing) - 0.03 * (p - p0)
                self.price[sym] = p = round(p, 2)
                self.fx.engine.trade(sym, p, side=1 if self.rng.random() < 0.5 else -1,
                                     ts=self.ts)
            time.sleep(0.004)


def test_kill_9_and_restart_three_symbols(fake_exchange_factory: Any, tmp_path: Path) -> None:
    """The same with a portfolio of three symbols in one runner: per symbol, no order twice
    and every execution stored once."""
    fx = fake_exchange_factory(symbols=tuple(PF_SYMBOLS), price=PF_SYMBOLS)
    for s in PF_SYMBOLS:
        fx.engine.set_funding_rate(s, 0.0)
    pf = {"capital": 3000.0, "max_total_exposure_pct": 2.0,
          "symbols": [{"symbol": s, "allocation": 1 / 3} for s in PF_SYMBOLS]}
    cfg = local_config(fx, tmp_path / "live", portfolio=pf,
                       grid={"spacing": 0.0015, "n_buy": 4, "n_sell": 4},
                       live={"order_poll_s": 0.5, "export_s": 0.2})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    env = {**os.environ, ENV_KEY: fx.api_key, ENV_SECRET: fx.api_secret, "TZ": "UTC"}
    mirror = tmp_path / "live" / "portfolio"
    starts = "select count(*) from live_events where kind = 'start'"

    def executions() -> list[dict[str, Any]]:
        with fx.engine.lock:
            return [dict(e) for e in fx.engine.accounts[fx.api_key].executions]

    def start(n: int) -> subprocess.Popen[bytes]:
        log = tmp_path / f"run{n}.log"
        proc = subprocess.Popen([sys.executable, "-m", "live", "live", "--config", str(path),
                                 "--paper"], cwd=ROOT, env=env, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT)
        _wait(lambda: _mirror_count(mirror, starts) >= n or proc.poll() is not None, 120,
              f"runner start {n}")
        assert proc.poll() is None, log.read_text()[-3000:]
        return proc

    def by_symbol(xs: list[dict[str, Any]]) -> Counter[str]:
        return Counter(e["symbol"] for e in xs)

    market = PortfolioMarket(fx)
    fx.faults.set_latency(0.01)
    procs = [start(1)]
    market.start()
    try:
        try:
            _wait(lambda: min(by_symbol(executions()).get(s, 0) for s in PF_SYMBOLS) >= 4,
                  60, "fills of every symbol before the kill")
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(10)
            fx.faults.set_latency(0.0)
            n_dead = len(executions())
            market.swing = 3.0
            _wait(lambda: len(executions()) >= n_dead + 3, 90,
                  "fills while the runner is down")
            market.swing = 1.0
            procs.append(start(2))
            assert_one_order_per_level(fx, tuple(PF_SYMBOLS))
            back = by_symbol(executions())
            _wait(lambda: all(by_symbol(executions()).get(s, 0) >= back.get(s, 0) + 3
                              for s in PF_SYMBOLS), 60,
                  "fills of every symbol after the restart")
        finally:
            market.halt.set()
            market.join(5)
        n_total = len(executions())
        _wait(lambda: _mirror_count(mirror, "select count(*) from live_fills where applied")
              == n_total, 60, "the runner to store every execution")
        procs[1].send_signal(signal.SIGTERM)
        assert procs[1].wait(60) == 0, (tmp_path / "run2.log").read_text()[-3000:]
    finally:
        for proc in procs:  # a failed wait leaves no runner behind
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)

    tags = {s: runner_tag(f"portfolio/linear/{s}") for s in PF_SYMBOLS}
    with fx.engine.lock:
        orders = list(fx.engine.accounts[fx.api_key].orders.values())
    assert max(Counter(o.order_link_id for o in orders).values()) == 1
    for sym, tag in tags.items():
        mine = [o for o in orders if o.symbol == sym]
        assert mine and all(parse_link(o.order_link_id, "gl", tag) for o in mine), sym
        live_per_key: dict[tuple[int, int, str, int], int] = defaultdict(int)
        for o in mine:
            k = parse_link(o.order_link_id, "gl", tag)
            assert k is not None
            if o.status not in ("Cancelled", "Rejected") or o.cum_qty > 0:
                live_per_key[(k.gen, k.slot, k.leg, k.cycle)] += 1
        assert max(live_per_key.values()) == 1, sym
        open_slots = Counter(k.slot for o in mine if o.is_open
                             for k in [parse_link(o.order_link_id, "gl", tag)] if k)
        assert not open_slots or max(open_slots.values()) == 1, sym
    ls = LiveStore.open(tmp_path / "live" / "portfolio.duckdb")
    try:
        df = ls.fills(100_000)
        assert sorted(df["exec_id"]) == sorted(e["execId"] for e in executions())
        assert ls.unapplied_fills() == []
        assert set(df[df["source"] == "backfill"]["symbol"]) <= set(PF_SYMBOLS)
        assert (df["source"] == "backfill").any()
        assert Counter(df["symbol"]) == by_symbol(executions())
        for sym in PF_SYMBOLS:
            pos = fx.engine.accounts[fx.api_key].positions[sym].size
            state = ls.get_state(f"runner/linear/{sym}")
            assert state["ledger"]["acc"][0] == pytest.approx(pos, abs=1e-9), sym
        ev = ls.events(1000)
        assert (ev["kind"] == "start").sum() == 2
    finally:
        ls.close()
