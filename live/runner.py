"""The live runner: one asyncio process trading one grid on Bybit (or the local exchange).

Tasks on one event loop:
- the consumer: the only task that changes trading state; it takes market prints,
  executions, order updates, timer ticks and panel commands from one queue, in order, and
  hands them to `TradingCore` (see live/core.py for the per-event order);
- WebSocket streams (threads of the Bybit adapter) post prints, executions and order updates
  to that queue; a reconnect posts a resync;
- timers: the REST poll every `order_poll_s` (executions, and orders/prices while a stream is
  down), equity/position snapshots every `snapshot_s`, the Parquet export every `export_s`;
- the control panel (uvicorn, same loop) when enabled.
SIGTERM / SIGINT stop it gracefully (orders left or cancelled per `live.on_shutdown`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from gridlab.bybit.client import BybitClient
from gridlab.bybit.credentials import Credentials, load_credentials
from gridlab.bybit.parse import Execution, Order, PublicTrade, Wallet
from gridlab.bybit.ws import BybitStream
from gridlab.config import GridlabConfig
from gridlab.errors import ConfigError, GridlabError, StoreLockedError
from gridlab.store.live import LiveStore
from gridlab.strategy.classes import GridStrategy, RiskManager
from gridlab.strategy.enums import Stop, name_of
from gridlab.strategy.params import make_filters
from live.alerts import Alerter
from live.core import BARS_KEY, STATE_KEY, CoreSettings, TradingCore
from live.exchange import Exchange
from live.ids import runner_tag
from live.ledger import Ledger
from live.promote import ActiveProfile, choose_profile, resolve_named
from live.reconcile import reconcile
from live.redact import Redactor

__all__ = ["LiveRunner", "live_paths", "main_live", "paper_config", "setup_logging"]

log = logging.getLogger("gridlab.live")

PAPER_URL = "http://127.0.0.1:8765"


def live_paths(config: GridlabConfig) -> tuple[str, Path, Path]:
    """(name, live DuckDB file, Parquet mirror folder) of a config's runner."""
    t = config.trading
    name = config.live.name or f"{t.symbol.lower()}-{t.category}"
    base = Path(config.live.data_dir)
    return name, base / f"{name}.duckdb", base / name


def paper_config(config: GridlabConfig) -> GridlabConfig:
    """`--paper`: the local exchange on 127.0.0.1 (config's endpoint if it is loopback)."""
    ex = config.exchange
    endpoint = ex.endpoint if ex.endpoint and "://127.0.0.1" in ex.endpoint else PAPER_URL
    update: dict[str, Any] = {"env": "local", "endpoint": endpoint}
    for field in ("ws_public", "ws_private"):
        url = getattr(ex, field)
        if url is not None and "://127.0.0.1" not in url:
            update[field] = None
    return config.model_copy(update={"exchange": ex.model_copy(update=update)})


class LiveRunner:
    """One grid, live. `await runner.run()` until `request_stop()` or a signal."""

    def __init__(self, config: GridlabConfig, *, paper: bool = False, profile: str | None = None,
                 credentials: Credentials | None = None, env_file: str | Path | None = ".env",
                 install_signals: bool = True) -> None:
        self.config = paper_config(config) if paper else config
        self.paper = paper
        self.profile_override = profile
        self.install_signals = install_signals
        if credentials is None:
            credentials = load_credentials(env_file)
        if credentials is None and paper:
            from gridlab.fakex.handle import DEFAULT_API_KEY, DEFAULT_API_SECRET

            credentials = Credentials(DEFAULT_API_KEY, DEFAULT_API_SECRET)
        if credentials is None:
            raise ConfigError("the live runner needs API keys",
                              "set GRIDLAB_BYBIT_API_KEY / GRIDLAB_BYBIT_API_SECRET (or use "
                              "--paper for the local exchange)")
        self.credentials = credentials
        self.name, self.db_path, self.mirror_dir = live_paths(self.config)
        self.tag = runner_tag(self.name)
        self.panel_token = os.environ.get(self.config.live.panel.token_env) or None
        self.redact = Redactor([credentials.api_key, credentials.api_secret, self.panel_token,
                                self.config.live.alerts.webhook_url,
                                self.config.live.alerts.telegram_url])
        self.alerter = Alerter(self.config.live.alerts, runner=self.name, redact=self.redact)
        self.store: LiveStore | None = None
        self.core: TradingCore | None = None
        self.exchange: Exchange | None = None
        self.streams: list[BybitStream] = []
        self.active: ActiveProfile | None = None
        self.wallet: Wallet | None = None
        self.started_at = time.time()
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.panel_url: str | None = None
        self.reconcile_summary: dict[str, Any] = {}
        self.exit_code = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: asyncio.Queue[tuple[Any, ...]] | None = None
        self._stop_event: asyncio.Event | None = None
        self._busy = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._panel_server: Any = None
        self._panel_task: asyncio.Task[Any] | None = None
        self._last_print_wall = 0.0
        self._errors = 0

    # ---- lifecycle -------------------------------------------------------------------------

    async def run(self) -> int:
        """Start, trade until stopped, shut down. Returns the process exit code."""
        self._loop = asyncio.get_running_loop()
        self._inbox = asyncio.Queue()
        self._stop_event = asyncio.Event()
        self.redact.install()
        if self.install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(sig, self.request_stop)
        try:
            await self._startup()
            self.ready.set()
            await self._stop_event.wait()
        except GridlabError as exc:
            log.error("%s", self.redact(str(exc)))
            self.exit_code = 2
        except Exception:
            log.exception("the runner failed")
            self.exit_code = 1
        finally:
            await self._shutdown()
            self.redact.uninstall()
            self.stopped.set()
        return self.exit_code

    def request_stop(self) -> None:
        """Ask the runner to shut down (thread-safe; signal handlers call it)."""
        loop = self._loop
        if loop is None or self._stop_event is None:
            return
        if loop.is_running():
            loop.call_soon_threadsafe(self._stop_event.set)

    async def _startup(self) -> None:
        cfg = self.config
        t = cfg.trading
        self.mirror_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.store = LiveStore.open(self.db_path, self.mirror_dir)
        except StoreLockedError as exc:
            raise StoreLockedError(f"another runner holds {self.db_path}",
                                   "stop it first: one runner per live store") from exc
        state = self.store.get_state(STATE_KEY)
        self.active = choose_profile(cfg, self.profile_override,
                                     state.get("profile") if state else None)
        client = BybitClient(cfg.exchange, self.credentials, t.category)
        self.exchange = ex = Exchange(client, t.symbol)
        inst = await ex.call(client.get_instrument, t.symbol)
        fees = await ex.call(client.get_fee_rates, t.symbol)
        lev = t.leverage if t.category == "linear" else 1.0
        if t.category == "linear":
            await ex.call(client.set_leverage, t.symbol, lev)
        filters = make_filters(inst.tick_size, inst.qty_step, inst.min_qty, inst.min_notional,
                               inst.max_qty)
        settings = CoreSettings(
            symbol=t.symbol, category=t.category, capital=t.capital,
            prefix=cfg.live.link_prefix, tag=self.tag,
            risk_ms=round(cfg.live.risk_check_s * 1000),
            grid_ms=round(cfg.live.grid_check_s * 1000), qty_step=inst.qty_step,
            maker_fee=fees.maker, taker_fee=fees.taker, fill_wait_s=cfg.live.fill_wait_s)
        res = self.active.resolved
        strategy = GridStrategy(res.grid, res.recenter, filters, t.capital, lev)
        risk = RiskManager(res.risk, t.capital)
        self.core = core = TradingCore(self.store, ex, settings, strategy, risk,
                                       Ledger(t.capital, inst.qty_step),
                                       profile=self.active.as_state(), notify=self._alert,
                                       redact=self.redact.clean)
        restored = None
        if state:
            restored = core.restore(state, self.store.get_state(BARS_KEY))
            core.profile = self.active.as_state()
        if cfg.live.ws:
            self._start_streams()
        self.reconcile_summary = await reconcile(core)
        core.event("start", f"runner {self.name} started on {cfg.exchange.env} "
                            f"({t.category} {t.symbol}), profile {self.active.name} "
                            f"v{self.active.version} ({self.active.source})",
                   details={"reconcile": self.reconcile_summary, "restored": restored,
                            "paper": self.paper, "tag": self.tag})
        await asyncio.to_thread(self.store.export)
        self._tasks = [
            asyncio.create_task(self._consume(), name="consumer"),
            asyncio.create_task(self._timer(cfg.live.order_poll_s, ("poll",)), name="poll"),
            asyncio.create_task(self._timer(cfg.live.snapshot_s, ("snapshot",), first=0.0),
                                name="snapshot"),
            asyncio.create_task(self._export_loop(), name="export"),
        ]
        if cfg.live.panel.enabled:
            await self._start_panel()

    async def _shutdown(self) -> None:
        core, store = self.core, self.store
        for t in self._tasks:
            if t.get_name() != "consumer":
                t.cancel()
        for s in self.streams:
            await asyncio.to_thread(s.close)
        self.streams = []
        consumer = next((t for t in self._tasks if t.get_name() == "consumer"), None)
        if consumer is not None:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await consumer
        if core is not None:
            try:
                if self._inbox is not None and not self._inbox.empty():
                    await self._process(self._drain())
                if self.config.live.on_shutdown == "cancel":
                    await core.cancel_all("shutdown")
                    core.event("shutdown_cancel", "orders cancelled at shutdown")
                core.persist(bars=True)
                core.event("shutdown", f"runner {self.name} stopped "
                                   f"(orders {self.config.live.on_shutdown})")
            except Exception:
                log.exception("shutdown steps failed")
        await self.alerter.close()
        if self._panel_server is not None:
            self._panel_server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._panel_task, 5)
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if store is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(store.export)
            store.close()
        if self.exchange is not None:
            await asyncio.to_thread(self.exchange.close)

    # ---- streams ---------------------------------------------------------------------------

    def _post(self, *item: Any) -> None:
        loop, inbox = self._loop, self._inbox
        if loop is not None and inbox is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(inbox.put_nowait, item)

    def _start_streams(self) -> None:
        cfg = self.config
        sym = cfg.trading.symbol
        pub = BybitStream(cfg.exchange, None, cfg.trading.category,
                          on_reconnect=lambda: self._post("resync", "public"))

        def on_trades(trades: list[PublicTrade]) -> None:
            self._last_print_wall = time.monotonic()
            self._post("prints", [(t.ts, t.price) for t in trades])

        pub.subscribe_trades(sym, on_trades)
        priv = BybitStream(cfg.exchange, self.credentials, "private",
                           on_reconnect=lambda: self._post("resync", "private"))
        priv.subscribe_executions(self._on_execs)
        priv.subscribe_orders(lambda os_: self._post("orders", os_))
        priv.subscribe_wallet(self._on_wallet)
        self.streams = [pub, priv]
        for s in self.streams:
            s.start(wait=0)
        for s in self.streams:
            s.wait_healthy(10)

    def _on_wallet(self, w: Wallet) -> None:
        self.wallet = w

    def _on_execs(self, xs: list[Execution]) -> None:
        """Stream thread: store the executions on the loop right away (between two awaits of
        the consumer, so never inside one of its transactions), then wake the consumer."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._store_now, xs, "ws")

    def _store_now(self, xs: list[Execution], source: str) -> None:
        core = self.core
        if core is None:
            self._post("execs", xs, source)
            return
        for e in xs:
            try:
                core.store_execution(e, source)
            except Exception as exc:  # the REST poll stores it later
                log.warning("storing execution %s failed: %s", e.exec_id, exc)
        self._post("wake")

    @property
    def streams_healthy(self) -> bool:
        return bool(self.streams) and all(s.healthy for s in self.streams)

    # ---- the consumer ----------------------------------------------------------------------

    def _drain(self) -> list[tuple[Any, ...]]:
        out = []
        assert self._inbox is not None
        while not self._inbox.empty():
            out.append(self._inbox.get_nowait())
        return out

    async def _consume(self) -> None:
        assert self._inbox is not None and self.core is not None
        while True:
            timeout = None
            if self.core.pending:
                oldest = min(pf.arrived for pf in self.core.pending)
                timeout = max(0.01, self.core.s.fill_wait_s - (time.monotonic() - oldest))
            try:
                first = await asyncio.wait_for(self._inbox.get(), timeout)
                batch = [first, *self._drain()]
            except TimeoutError:
                batch = []
            self._busy = True
            try:
                await self._process(batch)
            finally:
                self._busy = False

    async def _guard(self, what: str, coro: Any) -> Any:
        try:
            return await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._errors += 1
            assert self.core is not None
            self.core.stats["errors"] += 1
            log.debug("%s failed", what, exc_info=True)
            self.core.event("error", f"{what} failed: {type(exc).__name__}: {exc}", "error")
            return None

    async def _process(self, batch: list[tuple[Any, ...]]) -> None:
        core = self.core
        assert core is not None
        prints: list[tuple[int, float]] = []
        for item in batch:
            kind = item[0]
            if kind == "execs":
                for e in item[1]:
                    await self._guard("storing an execution", self._store_exec(e, item[2]))
            elif kind == "orders":
                for o in item[1]:
                    self._on_order(o)
            elif kind == "prints":
                prints.extend(item[1])
            elif kind == "poll":
                prints.extend(await self._guard("the REST poll", self._poll()) or [])
            elif kind == "resync":
                prints.extend(await self._guard("the resync", self._resync(item[1])) or [])
            elif kind == "snapshot":
                await self._guard("the snapshot", self._snapshot())
            elif kind == "command":
                await self._command(*item[1:])
        prints.sort(key=lambda x: x[0])
        for ts, price in prints:
            if ts < core.last_ts:
                continue  # an old print (a REST ticker behind the stream): the ring moves forward
            await self._guard("a market event", core.on_print(int(ts), float(price)))
        if core.pending:
            await self._guard("applying fills", core.apply_pending(core.last_ts,
                                                                   core.last_price))
            await self._guard("applying fills",
                              core.apply_pending(None, None, expired_only=True))

    async def _store_exec(self, e: Execution, source: str) -> None:
        assert self.core is not None
        self.core.store_execution(e, source)

    def _on_order(self, o: Order) -> None:
        assert self.core is not None
        if o.symbol == self.config.trading.symbol:
            self.core.on_order(o)

    async def _poll(self) -> list[tuple[int, float]]:
        """REST fallback: executions always; orders and prints while a stream is down."""
        core = self.core
        assert core is not None
        await core.catch_up()
        if not self.streams_healthy:
            await core.sync_orders()
            if time.monotonic() - self._last_print_wall > self.config.live.order_poll_s:
                return await self._recent_prints()
        return []

    async def _recent_prints(self) -> list[tuple[int, float]]:
        """Public prints newer than the last one seen (REST recent-trade, market clock)."""
        core, ex = self.core, self.exchange
        assert core is not None and ex is not None
        trades = await ex.call(ex.client.get_recent_trades, ex.symbol, 1000)
        return [(t.ts, t.price) for t in trades if t.ts > core.last_ts]

    async def _resync(self, which: str) -> list[tuple[int, float]]:
        """After a stream reconnect: what it may have missed, over REST (executions and
        orders; for the public stream the recent prints newer than the last one seen)."""
        core, ex = self.core, self.exchange
        assert core is not None and ex is not None
        core.event("ws_reconnect", f"{which} stream reconnected; resyncing over REST", "warning")
        await core.catch_up()
        await core.sync_orders()
        if which != "public" or core.last_ts < 0:
            return []
        return await self._recent_prints()

    async def _snapshot(self) -> None:
        core, ex, store = self.core, self.exchange, self.store
        assert core is not None and ex is not None and store is not None
        try:
            wallet = await ex.wallet()
            self.wallet = wallet
        except Exception as exc:
            log.warning("wallet snapshot failed: %s", type(exc).__name__)
            wallet = self.wallet
        p = core.last_price
        if math.isnan(p):
            return
        tot = core.ledger.totals(p)
        now = int(time.time() * 1000)
        store.add_equity(ts=now, price=p, equity=tot["equity"], position=tot["position"],
                         realized=tot["realized"], unrealized=tot["unrealized"],
                         fees=tot["fees"], funding=tot["funding"],
                         grid_profit=tot["grid_profit"],
                         exposure=abs(tot["position"]) * p / tot["equity"]
                         if tot["equity"] > 0 else 0.0,
                         wallet_equity=wallet.total_equity if wallet else None,
                         wallet_available=wallet.total_available_balance if wallet else None)
        if self.config.trading.category == "linear":
            for pos in await ex.positions():
                store.add_position(ts=now, symbol=pos.symbol, size=pos.signed_size,
                                   avg_price=pos.avg_price, mark_price=pos.mark_price,
                                   unrealised_pnl=pos.unrealised_pnl,
                                   cum_realised_pnl=pos.cum_realised_pnl, leverage=pos.leverage,
                                   liq_price=pos.liq_price, ledger_position=tot["position"])
        core.persist(bars=True)

    async def _timer(self, every: float, item: tuple[Any, ...], first: float | None = None
                     ) -> None:
        await asyncio.sleep(every if first is None else first)
        while True:
            self._post(*item)
            await asyncio.sleep(every)

    async def _export_loop(self) -> None:
        assert self.store is not None
        while True:
            await asyncio.sleep(self.config.live.export_s)
            if self.store.dirty:
                try:
                    await asyncio.to_thread(self.store.export)
                except Exception as exc:
                    log.warning("Parquet export failed: %s", exc)

    # ---- alerts and commands ---------------------------------------------------------------

    def _alert(self, kind: str, message: str, severity: str,
               details: dict[str, Any] | None) -> None:
        if kind in ("kill_switch", "risk_stop", "recenter"):
            self.alerter.notify(kind, message, severity=severity, details=details)
        elif severity in ("error", "critical"):
            self.alerter.notify("error", message, severity=severity, details=details)

    async def command(self, name: str, **kwargs: Any) -> dict[str, Any]:
        """Run a control command on the consumer (start, stop, profile)."""
        assert self._loop is not None
        fut: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._post("command", name, kwargs, fut)
        return await asyncio.wait_for(fut, 120)

    async def _command(self, name: str, kwargs: dict[str, Any],
                       fut: asyncio.Future[dict[str, Any]]) -> None:
        core = self.core
        assert core is not None
        try:
            if name == "stop":
                await core.pause()
                core.event("paused", "trading paused from the panel: orders cancelled")
                out = {"ok": True, "trading": core.trading}
            elif name == "start":
                was = name_of(Stop, core.stopped) if core.stopped else (
                    "paused" if core.paused else "running")
                await core.resume()
                core.event("resumed", f"trading resumed from the panel (was {was})")
                out = {"ok": True, "trading": core.trading, "was": was}
            elif name == "profile":
                out = await self._change_profile(kwargs["profile"], kwargs.get("version"))
            else:
                raise ValueError(f"unknown command {name}")
        except Exception as exc:
            core.event("error", f"command {name} failed: {exc}", "error")
            if not fut.done():
                fut.set_exception(exc)
            return
        if not fut.done():
            fut.set_result(out)

    async def _change_profile(self, name: str, version: int | None) -> dict[str, Any]:
        """Safe handover: resolve, cancel all, new strategy objects, rebuild at the last price."""
        core = self.core
        assert core is not None and self.active is not None
        new = await asyncio.to_thread(resolve_named, self.config, name, version,
                                      source="panel")
        new = ActiveProfile(new.name, new.version, "panel", self.active.promotion_id,
                            new.resolved)
        old = self.active
        t = self.config.trading
        lev = t.leverage if t.category == "linear" else 1.0
        strategy = GridStrategy(new.resolved.grid, new.resolved.recenter, core.strategy.filters,
                                t.capital, lev)
        risk = RiskManager(new.resolved.risk, core.risk.initial_equity)
        risk.kill_state[:] = core.risk.kill_state
        risk.stopped = core.risk.stopped
        await core.cancel_all("profile change")
        bars = core.bars_state()
        core.strategy, core.risk = strategy, risk
        core.copy_bars(bars)  # the bar history carries over when the ring has the same shape
        core.cycles = [0] * strategy.slots.shape[0]
        core.profile = new.as_state()
        self.active = new
        core.event("profile_change", f"profile {old.name} v{old.version} -> {new.name} "
                                     f"v{new.version}: orders cancelled, grid rebuilt",
                   details={"from": old.as_state()["name"], "to": new.name,
                            "version": new.version})
        if core.trading and not math.isnan(core.last_price):
            from gridlab.strategy.enums import Reason

            await core.rebuild(max(core.last_ts, 0), core.last_price, Reason.MANUAL)
            await core.fill_slots(core.last_price)
        else:
            core.force_rebuild = True
            core.next_grid = -1
        core.persist()
        return {"ok": True, "profile": new.name, "version": new.version, "gen": core.gen}

    # ---- the panel -------------------------------------------------------------------------

    async def _start_panel(self) -> None:
        from live.panel import serve_panel

        self._panel_server, self._panel_task, self.panel_url = await serve_panel(self)

    # ---- introspection (tests, benchmarks, panel) -------------------------------------------

    def idle(self) -> bool:
        """Nothing queued, nothing being processed, no fill waiting."""
        return (self._inbox is not None and self._inbox.empty() and not self._busy
                and self.core is not None and not self.core.pending)


def setup_logging(level: str, log_file: Path | None) -> None:
    """stderr (systemd's journal) and, if given, a file that logrotate may move."""
    from logging.handlers import WatchedFileHandler

    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level.upper())
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(WatchedFileHandler(log_file))
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    for noisy in ("websocket", "pybit", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def main_live(config_path: str | Path, *, paper: bool = False, profile: str | None = None,
              log_level: str = "INFO") -> int:
    """`gridlab live`: load the config, log to stderr and <data_dir>/<name>.log, run."""
    from gridlab.config import load_config

    config = load_config(config_path)
    runner = LiveRunner(config, paper=paper, profile=profile)
    setup_logging(log_level, Path(config.live.data_dir) / f"{runner.name}.log")
    return asyncio.run(runner.run())
