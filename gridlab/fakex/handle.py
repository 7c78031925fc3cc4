"""FakeExchange: the local exchange served by uvicorn in a background thread, with its engine,
faults and market driver at hand. Used by tests (the `fake_exchange` fixture), benchmarks and
`gridlab fake-exchange`.

    with FakeExchange(symbols=("BTCUSDT",)) as fx:
        client = BybitClient(fx.config(), fx.credentials)
        fx.engine.trade("BTCUSDT", 59_990.0)       # or fx.market.step(10)
        fx.faults.timeout(path="/v5/order/create", seconds=2, after_accept=True)
        fx.restart()                                # same port, state reloaded from file
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from gridlab.bybit.credentials import Credentials
from gridlab.config.exchange import ExchangeConfig
from gridlab.fakex.engine import Engine
from gridlab.fakex.faults import Faults
from gridlab.fakex.market import MarketDriver
from gridlab.fakex.ratelimit import DEFAULT_RATE_LIMITS, RateLimits
from gridlab.fakex.rules import Rules
from gridlab.fakex.server import ExchangeState, create_app

__all__ = ["DEFAULT_API_KEY", "DEFAULT_API_SECRET", "FakeExchange", "run_local_exchange"]

log = logging.getLogger("gridlab.fakex")

DEFAULT_API_KEY = "fakex-test-key"
DEFAULT_API_SECRET = "fakex-test-secret"  # a local test secret, not a real credential

# tick, qty step, min qty, min notional, max leverage for some common symbols
_SPECS: dict[str, dict[str, float]] = {
    "BTCUSDT": {"tick_size": 0.1, "qty_step": 0.001, "min_qty": 0.001, "min_notional": 5.0},
    "ETHUSDT": {"tick_size": 0.01, "qty_step": 0.01, "min_qty": 0.01, "min_notional": 5.0},
    "SOLUSDT": {"tick_size": 0.01, "qty_step": 0.1, "min_qty": 0.1, "min_notional": 5.0},
}


class FakeExchange:
    """A running local exchange. Construct, then `start()` (or use as a context manager)."""

    def __init__(self, engine: Engine | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 symbols: tuple[str, ...] | list[str] = ("BTCUSDT",), category: str = "linear",
                 price: float | dict[str, float] = 60_000.0,
                 api_key: str = DEFAULT_API_KEY, api_secret: str = DEFAULT_API_SECRET,
                 balance: float = 100_000.0, state_path: str | Path | None = None,
                 resume: bool = True, rate_limits: dict[str, Any] | None = None,
                 speed: float | None = None, faults: Faults | None = None,
                 ws_ack_delay: float = 0.1, rules: Rules | dict[str, Any] | None = None,
                 margin: str | None = None) -> None:
        """`rules`: retention windows and limits (gridlab.fakex.rules.Rules; Bybit's by
        default), applied to a fresh or a reloaded engine. `margin`: off (default, never
        liquidates) | isolated | cross (gridlab.fakex.liquidation), applied likewise."""
        self.host = host
        self.port = port
        self.api_key = api_key
        self.api_secret = api_secret
        self._tmp: tempfile.TemporaryDirectory | None = None
        if state_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fakex-")
            state_path = Path(self._tmp.name) / "state.json"
        self.state_path = Path(state_path)
        if engine is None and resume and self.state_path.exists():
            engine = Engine.load(self.state_path)
        if engine is None:
            engine = Engine(rules=rules, margin=margin or "off")
            for sym in symbols:
                px = price.get(sym, 60_000.0) if isinstance(price, dict) else price
                engine.add_instrument(sym, category, price=px, **_SPECS.get(sym, {}))
            engine.add_account(api_key, api_secret, balance=balance)
        elif api_key not in engine.accounts:
            engine.add_account(api_key, api_secret, balance=balance)
        if rules is not None:
            engine.rules = Rules.from_state(rules)
        if margin is not None:
            engine.margin = Engine(margin=margin).margin  # validated
        self.engine = engine
        self.faults = faults or Faults()
        self.faults.ws_ack_delay = ws_ack_delay
        self.faults.restart_hook = self.restart
        self.limits = RateLimits(DEFAULT_RATE_LIMITS if rate_limits is None else rate_limits)
        self.market = MarketDriver(engine, speed)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._state: ExchangeState | None = None
        self._restart_lock = threading.Lock()

    # ---- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """REST base URL, e.g. http://127.0.0.1:54321."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_public(self) -> str:
        """Public stream base (append /linear or /spot)."""
        return f"ws://{self.host}:{self.port}/v5/public"

    @property
    def ws_private(self) -> str:
        """Private stream URL."""
        return f"ws://{self.host}:{self.port}/v5/private"

    @property
    def credentials(self) -> Credentials:
        """The test account's key pair."""
        return Credentials(self.api_key, self.api_secret)

    def config(self, **overrides: Any) -> ExchangeConfig:
        """An ExchangeConfig pointing at this server (env local); keywords override fields."""
        fields: dict[str, Any] = {"env": "local", "endpoint": self.url,
                                  "ws_public": self.ws_public, "ws_private": self.ws_private}
        fields.update(overrides)
        return ExchangeConfig(**fields)

    def set_rate_limit(self, path: str, per_second: int | None) -> None:
        """Server-side per-key limit of one path (None or 0 removes it)."""
        if per_second:
            self.limits.limits[path] = per_second
        else:
            self.limits.limits.pop(path, None)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> FakeExchange:
        """Bind (port 0: a free port, kept across restarts) and serve in a thread."""
        # proto IPPROTO_TCP: asyncio sets TCP_NODELAY only then (else Nagle adds ~40 ms)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(512)
        self.port = sock.getsockname()[1]
        self._sock = sock
        self.market.engine = self.engine
        self._state = ExchangeState(self.engine, self.faults, self.limits, market=self.market,
                                    save=self.save)
        config = uvicorn.Config(create_app(self._state), log_level="warning", access_log=False,
                                ws="websockets-sansio", lifespan="on", log_config=None,
                                timeout_graceful_shutdown=1, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"fakex-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the local exchange did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self, save: bool = True) -> None:
        """Close streams, stop serving, and (by default) save the state file."""
        self.market.stop()
        if self._server is not None and self._state is not None:
            self._state.hub.drop("all")
            time.sleep(0.05)
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._server = self._thread = self._sock = None
        if save:
            self.save()

    def save(self) -> Path:
        """Write the engine state to `state_path`."""
        return self.engine.save(self.state_path)

    def restart(self, downtime: float = 0.0) -> None:
        """Stop, save, reload the engine from the state file, serve again on the same port."""
        with self._restart_lock:
            playing = bool(self.market._thread and self.market._thread.is_alive())
            self.stop(save=True)
            if downtime:
                time.sleep(downtime)
            self.engine = Engine.load(self.state_path)
            self.start()
            if playing:
                self.market.start()

    def close(self) -> None:
        """stop() and remove the temporary state folder (if one was made)."""
        self.stop(save=self._tmp is None)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> FakeExchange:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        symbols = sorted(s for _, s in self.engine.instruments)
        return f"FakeExchange(url={self.url!r}, symbols={symbols})"


def run_local_exchange(*, host: str = "127.0.0.1", port: int = 8765,
                       symbols: tuple[str, ...] | list[str] = ("BTCUSDT",),
                       category: str = "linear", db: str | Path | None = None,
                       source: str = "synthetic", interval: str = "1",
                       start_ms: int | None = None, end_ms: int | None = None,
                       days: float = 1.0, seed: int = 0, price: float = 60_000.0,
                       speed: float | None = 1.0, state_path: str | Path | None = None,
                       fresh: bool = False, api_key: str = DEFAULT_API_KEY,
                       api_secret: str = DEFAULT_API_SECRET, balance: float = 100_000.0,
                       echo: Any = print, stop: threading.Event | None = None,
                       margin: str = "off") -> FakeExchange:
    """Serve the local exchange until Ctrl-C (or `stop` is set), replaying a market.

    source: "trades" / "klines" (from the store at `db`), "synthetic", or "none" (drive it via
    POST /admin/trade). `margin`: off | isolated | cross (liquidations on).
    The state is saved to `state_path` on exit - Ctrl-C, SIGTERM (as systemd
    or `kill` stop it) or `stop` - and reloaded on start unless `fresh`.
    """
    if state_path is not None and fresh:
        Path(state_path).unlink(missing_ok=True)
    fx = FakeExchange(host=host, port=port, symbols=symbols, category=category, price=price,
                      api_key=api_key, api_secret=api_secret, balance=balance,
                      state_path=state_path, speed=speed, margin=margin)
    start = start_ms if start_ms is not None else int(time.time() * 1000) - int(days * 86_400_000)
    if source in ("trades", "klines"):
        if db is None:
            raise ValueError(f"--source {source} needs --db")
        from gridlab.data.risk_limits import risk_tiers
        from gridlab.errors import DataError
        from gridlab.store.core import Store

        with Store.open(db, read_only=True, wait_s=5) as store:
            for sym in symbols:
                fx.market.add_from_store(store, sym, category, start_ms, end_ms, source,
                                         interval)
                if category == "linear" and margin != "off":  # the backtest's tiers
                    try:
                        fx.engine.set_risk_tiers(sym, risk_tiers(store, sym)[0].rows())
                    except DataError:  # neither stored nor shipped: the instrument's rate
                        echo(f"{sym}: no risk-limit tiers stored or shipped; one tier at "
                             "the instrument's maintenance margin rate")
    elif source == "synthetic":
        for i, sym in enumerate(symbols):
            fx.market.add_synthetic(sym, start, days, seed + i, price, category)
    elif source != "none":
        raise ValueError(f"unknown source {source!r}: trades, klines, synthetic or none")
    stop = stop or threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():  # signals reach the main thread
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    fx.start()
    fx.market.start()
    echo(f"local exchange on {fx.url} (ws {fx.ws_public}/{category}, {fx.ws_private}); "
         f"api key {fx.api_key}, secret {fx.api_secret}; {fx.market.remaining} prints "
         f"at speed {speed or 'max'}; state file {fx.state_path}")
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        fx.stop(save=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        echo(f"stopped; state saved to {fx.state_path}")
    return fx
