"""Soak runs (marker `slow`, `make test-slow`): a kill -9 loop under fault storms, and a day of
market time at high replay speed. Both run the real runner process against the local exchange.

The kill loop starts `python -m live live --paper`, lets it trade for a random while under a
random storm (stream drops, 5xx, timeouts before and after an order is accepted, 10006
storms, delayed acks), kills it with SIGKILL, and does that at least 30 times; then one last
clean run. It asserts what must hold whatever the kill points were: one exchange order per
orderLinkId, at most one live order per slot key, every execution stored once and applied,
and the position never above the exposure cap beyond price drift and one order.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import psutil
import pytest
import yaml

from gridlab.bybit.credentials import ENV_KEY, ENV_SECRET
from gridlab.fakex.handle import FakeExchange
from gridlab.store.live import LiveStore
from live.ids import parse_link, runner_tag
from tests.live_helpers import local_config
from tests.test_live_restart import Market as RestartMarket
from tests.test_live_restart import _executions, _mirror_count, _wait

pytestmark = pytest.mark.slow
pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
ROOT = Path(__file__).resolve().parents[1]
CAPITAL = 1000.0
CAP_PCT = 1.0
N_KILLS = 30


class Market(RestartMarket):
    """The restart test's market; also tracks the largest exposure seen and counts prints."""

    def __init__(self, fx: FakeExchange, seed: int, pause: float = 0.003) -> None:
        super().__init__(fx, seed)
        self.pause = pause
        self.max_exposure = 0.0
        self.n = 0

    def step(self) -> None:
        super().step()
        pos = self.fx.engine.accounts[self.fx.api_key].positions.get(SYM)
        if pos is not None:
            self.max_exposure = max(self.max_exposure, abs(pos.size) * self.price)
        self.n += 1


def _storm(fx: FakeExchange, rng: random.Random) -> str:
    """One random fault storm; returns its name."""
    kind = rng.choice(["drop_ws", "5xx", "timeout", "timeout_after_accept", "10006",
                       "delay_acks", "none"])
    f = fx.faults
    if kind == "drop_ws":
        f.drop_ws(rng.choice(["all", "public", "private"]), abrupt=rng.random() < 0.5)
    elif kind == "5xx":
        f.http_error(count=rng.randint(1, 4), status=rng.choice([500, 502, 503]))
    elif kind == "timeout":
        f.timeout(count=rng.randint(1, 2), seconds=2.5)
    elif kind == "timeout_after_accept":
        f.timeout(count=1, seconds=2.5, path="/v5/order/create", after_accept=True)
    elif kind == "10006":
        f.rate_limit(count=rng.randint(2, 6))
    elif kind == "delay_acks":
        f.delay_acks(rng.uniform(0.2, 1.0))
    return kind


def _config(fx: FakeExchange, tmp_path: Path) -> Path:
    cfg = local_config(fx, tmp_path / "live", grid={"spacing": 0.0015, "n_buy": 5, "n_sell": 5},
                       trading={"capital": CAPITAL},
                       risk={"max_exposure_pct": CAP_PCT},
                       live={"order_poll_s": 0.5, "export_s": 0.2})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return path


def _start(path: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "live", "live", "--config", str(path),
                             "--paper"], cwd=ROOT, env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)


@pytest.mark.timeout(1800)
def test_kill_9_loop_under_fault_storms(fake_exchange: FakeExchange, tmp_path: Path) -> None:
    fx = fake_exchange
    fx.engine.set_funding_rate(SYM, 0.0)
    path = _config(fx, tmp_path)
    env = {**os.environ, ENV_KEY: fx.api_key, ENV_SECRET: fx.api_secret, "TZ": "UTC"}
    mirror = tmp_path / "live" / "btcusdt-linear"
    log = tmp_path / "runs.log"
    starts = "select count(*) from live_events where kind = 'start'"
    rng = random.Random(20261201)
    market = Market(fx, seed=3)
    fx.engine.trade(SYM, 60_000.0, ts=market.ts)
    market.start()
    storms: Counter[str] = Counter()
    try:
        for n in range(1, N_KILLS + 1):
            seen = max(_mirror_count(mirror, starts), 0)
            proc = _start(path, env, log)
            # kill points: during start-up, right after it, or after trading a while
            if rng.random() < 0.3:
                time.sleep(rng.uniform(0.5, 3.0))
            else:
                _wait(lambda seen=seen, proc=proc: _mirror_count(mirror, starts) > seen
                      or proc.poll() is not None, 120, f"runner start {n}")
                assert proc.poll() is None, log.read_text()[-3000:]
                storms[_storm(fx, rng)] += 1
                time.sleep(rng.uniform(0.1, 2.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            fx.faults.clear()
            time.sleep(rng.uniform(0.0, 0.5))  # the market trades on while it is down
        final = _start(path, env, log)
        n_before = len(_executions(fx))
        _wait(lambda: len(_executions(fx)) >= n_before + 5, 120, "fills after the last start")
    finally:
        market.halt.set()
        market.join(5)
    n_total = len(_executions(fx))
    _wait(lambda: _mirror_count(mirror, "select count(*) from live_fills where applied")
          == n_total, 120, "the runner to store every execution")
    final.send_signal(signal.SIGTERM)
    assert final.wait(60) == 0, log.read_text()[-3000:]
    print(f"\nkill loop: {N_KILLS} kills, storms {dict(storms)}, {n_total} executions, "
          f"max exposure {market.max_exposure:,.0f} USDT (cap {CAP_PCT * CAPITAL:,.0f})")

    tag = runner_tag("btcusdt-linear")
    with fx.engine.lock:
        orders = list(fx.engine.accounts[fx.api_key].orders.values())
    ours = [o for o in orders if parse_link(o.order_link_id, "gl", tag)]
    assert max(Counter(o.order_link_id for o in ours).values()) == 1
    live_per_key: dict[tuple[int, int, str, int], int] = defaultdict(int)
    for o in ours:
        k = parse_link(o.order_link_id, "gl", tag)
        assert k is not None
        if o.status not in ("Cancelled", "Rejected") or o.cum_qty > 0:
            live_per_key[(k.gen, k.slot, k.leg, k.cycle)] += 1
    assert max(live_per_key.values()) == 1, "a slot key had two live orders"
    ls = LiveStore.open(tmp_path / "live" / "btcusdt-linear.duckdb")
    try:
        ids = list(ls.fills(1_000_000)["exec_id"])
        assert len(ids) == len(set(ids)), "a fill was stored twice"
        assert sorted(ids) == sorted(e["execId"] for e in _executions(fx)), "a fill was lost"
        assert ls.unapplied_fills() == []
    finally:
        ls.close()
    # exposure: the cap on equity, plus price drift and one order of slack
    one_order = max((o.qty for o in ours), default=0.0) * 60_000.0 * 1.1
    assert market.max_exposure <= CAP_PCT * CAPITAL * 1.05 + one_order


@pytest.mark.timeout(1800)
def test_a_day_of_market_time_at_replay_speed(fake_exchange: FakeExchange,
                                             tmp_path: Path) -> None:
    """86,400 market seconds of prints through one runner; prints its RSS growth."""
    fx = fake_exchange
    fx.engine.set_funding_rate(SYM, 0.0001)
    path = _config(fx, tmp_path)
    env = {**os.environ, ENV_KEY: fx.api_key, ENV_SECRET: fx.api_secret, "TZ": "UTC"}
    mirror = tmp_path / "live" / "btcusdt-linear"
    log = tmp_path / "soak.log"
    market = Market(fx, seed=5, pause=0.0015)
    fx.engine.trade(SYM, 60_000.0, ts=market.ts)
    proc = _start(path, env, log)
    _wait(lambda: _mirror_count(mirror, "select count(*) from live_events "
                                "where kind = 'start'") >= 1 or proc.poll() is not None,
          120, "runner start")
    assert proc.poll() is None, log.read_text()[-3000:]
    ps = psutil.Process(proc.pid)
    rss0 = ps.memory_info().rss
    samples = [rss0]
    market.start()
    try:
        while market.n < 86_400:
            time.sleep(5)
            assert proc.poll() is None, log.read_text()[-3000:]
            samples.append(ps.memory_info().rss)
    finally:
        market.halt.set()
        market.join(5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, log.read_text()[-3000:]
    growth = (samples[-1] - rss0) / 2**20
    print(f"\nday soak: {market.n:,} prints, RSS {rss0 / 2**20:,.0f} -> "
          f"{samples[-1] / 2**20:,.0f} MB (growth {growth:+,.0f} MB, peak "
          f"{max(samples) / 2**20:,.0f} MB), {len(_executions(fx)):,} executions")
    assert growth < 300, f"RSS grew {growth:,.0f} MB over a day of market time"
