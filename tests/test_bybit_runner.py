"""The runner's use of the adapter against the local exchange with Bybit's rate limits and the
example settings: a 40-level build costs a handful of requests, a 20-symbol start meets no
10006, the PostOnly check uses the book, leverage refusals are a warning."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gridlab.fakex.handle import FakeExchange
from gridlab.fakex.records import EngineError
from live.runner import LiveRunner
from tests.live_helpers import RunnerThread, local_config

pytest_plugins = ["tests.fakex_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_040_000
MIN = 60_000
ORDER_ENTRY = ("/v5/order/create", "/v5/order/create-batch", "/v5/order/cancel",
               "/v5/order/cancel-all", "/v5/order/cancel-batch", "/v5/order/amend",
               "/v5/order/amend-batch")


def example_exchange() -> dict[str, Any]:
    """The rate limits and retries of config.example.yaml."""
    ex = yaml.safe_load((ROOT / "config.example.yaml").read_text())["exchange"]
    return {"rate_limits": ex["rate_limits"], "retry": ex["retry"]}


def count_refusals(fx: FakeExchange) -> list[str]:
    """Paths of every request (or batch item) the local exchange's limiter refused (10006)."""
    refused: list[str] = []
    original = fx.limits.check

    def check(key: str, path: str, weight: int = 1, now_ms: int | None = None,
              category: str | None = None) -> Any:
        v = original(key, path, weight, now_ms, category=category)
        if v.granted < v.wanted:
            refused.append(path)
        return v

    fx.limits.check = check  # type: ignore[method-assign]
    return refused


class Started:
    def __init__(self, fx: FakeExchange, tmp: Path, **sections: Any) -> None:
        self.fx = fx
        self.refused = count_refusals(fx)  # from the first request on
        self.cfg = local_config(fx, tmp / "live", **sections)
        self.runner = LiveRunner(self.cfg, credentials=fx.credentials, install_signals=False)
        self.rt = RunnerThread(self.runner).start()
        self.ts = T0 - 1000

    @property
    def client(self) -> Any:
        assert self.runner.exchange is not None
        return self.runner.exchange.client

    def order_entry(self) -> dict[str, int]:
        return {p: n for p, n in self.client.paths.items() if p in ORDER_ENTRY}

    def trade(self, symbols: list[str], price: dict[str, float], dt: int = 1000) -> None:
        self.ts += dt
        for s in symbols:
            self.fx.engine.trade(s, price[s], side=1, ts=self.ts)
        self.rt.settle(self.fx, self.ts, timeout=60.0)

    def open_orders(self) -> list[Any]:
        with self.fx.engine.lock:
            return list(self.fx.engine.open[self.fx.api_key].values())


@pytest.fixture
def start(fake_exchange_factory: Callable[..., FakeExchange],
          tmp_path: Path) -> Iterator[Callable[..., Started]]:
    made: list[Started] = []

    def make(fx_kwargs: dict[str, Any], **sections: Any) -> Started:
        fx = fake_exchange_factory(rate_limits=None, **fx_kwargs)  # Bybit's per-UID limits
        for s in fx_kwargs.get("symbols", ("BTCUSDT",)):
            fx.engine.set_funding_rate(s, 0.0)
        r = Started(fx, tmp_path / f"r{len(made)}", **sections)
        made.append(r)
        return r

    yield make
    for r in made:
        r.rt.stop()


def test_a_40_level_build_and_rebuild_cost_a_handful_of_requests(
        start: Callable[..., Started]) -> None:
    r = start({}, exchange=example_exchange(),
              grid={"spacing": 0.001, "n_buy": 20, "n_sell": 20, "profit_target": 0.0},
              trading={"capital": 5000.0}, risk={"max_exposure_pct": 100.0})
    before = r.order_entry()
    r.trade(["BTCUSDT"], {"BTCUSDT": 60_000.0})
    placed = r.open_orders()
    build = {p: n - before.get(p, 0) for p, n in r.order_entry().items()}
    assert len(placed) == 40
    assert build == {"/v5/order/cancel-all": 1, "/v5/order/create-batch": 4}  # not 40 creates
    before = r.order_entry()
    r.rt.call(r.runner.command("start", "BTCUSDT"))  # a manual rebuild at the last price
    r.rt.settle(r.fx)
    assert r.runner.core.gen == 2 and len(r.open_orders()) == 40
    recenter = {p: n - before.get(p, 0) for p, n in r.order_entry().items()}
    assert recenter == {"/v5/order/cancel-all": 1, "/v5/order/create-batch": 4}
    assert r.refused == [] and r.client.stats["retries"] == 0


def test_20_symbols_start_without_10006(start: Callable[..., Started]) -> None:
    symbols = [f"S{i:02d}USDT" for i in range(20)]
    price = {s: 100.0 + i for i, s in enumerate(symbols)}
    r = start({"symbols": tuple(symbols), "price": price}, exchange=example_exchange(),
              grid={"spacing": 0.002, "n_buy": 2, "n_sell": 2, "profit_target": 0.0},
              risk={"max_exposure_pct": 5.0},
              portfolio={"capital": 20_000.0,
                         "symbols": [{"symbol": s, "allocation": 0.05} for s in symbols]},
              recenter={"deviation": {"enabled": False}, "pump_dump": {"enabled": False}})
    r.trade(symbols, price)
    per = {s: sum(1 for o in r.open_orders() if o.symbol == s) for s in symbols}
    assert per == dict.fromkeys(symbols, 4), per
    assert all(c.gen == 1 for c in r.runner.cores.values())
    assert r.refused == [] and r.client.stats["retries"] == 0


def test_post_only_check_uses_the_best_bid_and_ask(start: Callable[..., Started]) -> None:
    r = start({}, grid={"spacing": 0.001, "n_buy": 2, "n_sell": 2, "profit_target": 0.0})
    r.trade(["BTCUSDT"], {"BTCUSDT": 60_000.0})
    ex = r.runner.core.ex
    assert ex.book.known and (ex.book.bid, ex.book.ask) == (59_999.9, 60_000.0)
    ts, ok = ex.book.ts, r.runner.core.risk.post_only_ok
    # the book, not the last trade as both: a buy at the bid / a sell at the ask are makers
    assert ex.best_bid_ask(60_000.0, ts) == (59_999.9, 60_000.0)
    assert ok(1, 59_999.9, *ex.best_bid_ask(60_000.0, ts))
    assert ok(-1, 60_000.0, *ex.best_bid_ask(60_000.0, ts))  # a sell at the ask: a maker
    assert not ok(-1, 60_000.0, 60_000.0, 60_000.0)  # what the last trade as both said
    assert not ok(1, 60_000.0, *ex.best_bid_ask(60_000.0, ts))  # at the ask: would take
    assert ex.best_bid_ask(60_010.0, ts + 1) == (60_010.0, 60_010.0)  # its book is on the way
    assert ex.best_bid_ask(60_010.0, ts) == (59_999.9, 60_010.0)  # held back only if both say


def test_a_leverage_refusal_is_a_warning_and_the_runner_starts(
        fake_exchange_factory: Callable[..., FakeExchange], tmp_path: Path) -> None:
    fx = fake_exchange_factory()

    def refuse(key: str, p: dict[str, Any]) -> dict[str, Any]:
        raise EngineError(110038, "Portfolio margin mode is not allowed to change leverage")

    fx.engine.set_leverage = refuse  # type: ignore[method-assign]
    r = Started(fx, tmp_path, trading={"leverage": 3.0})
    try:
        ev = r.runner.store.events()
        row = ev[ev["kind"] == "leverage"]
        assert len(row) == 1 and "110038" in row["message"].iloc[0]
        assert "leverage in force is 1" in row["message"].iloc[0]
        assert r.runner.ready.is_set() and not r.runner.stopped.is_set()
    finally:
        r.rt.stop()
