"""The live runner: one asyncio process trading the grids of one account on Bybit (or the local
exchange): the one grid of `trading`, or one grid per symbol of `portfolio`.

Tasks on one event loop:
- the consumer (live/consumer.py): the only task that changes trading state; it takes market
  prints (tagged with their symbol), executions, order updates, timer ticks and panel
  commands from one queue, in order, and hands them to the grid's `TradingCore` (see
  live/core.py for the per-event order);
  the prints of one batch are played in time order across symbols, so the account checks
  (live/account.py) see one market clock;
- WebSocket streams (threads of the Bybit adapter): one public stream per category with a
  `publicTrade` subscription per symbol, one private stream; they post prints, executions and
  order updates to that queue; a reconnect posts a resync;
- timers: the REST poll every `order_poll_s` (executions of every grid, and orders/prices while a
  stream is down), equity/position/account snapshots every `snapshot_s`, the Parquet export
  every `export_s`;
- the control panel (uvicorn, same loop) when enabled.
Every REST call goes through one worker thread and one rate limiter (the client's). One live
store holds every grid (rows carry `symbol`). A grid that fails is contained (its error state,
see live/core.py); the others keep trading. SIGTERM / SIGINT stop it gracefully (orders left
or cancelled per `live.on_shutdown`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridlab.backtest.params import margin_tiers
from gridlab.bybit.client import BybitClient
from gridlab.bybit.credentials import Credentials, load_credentials
from gridlab.bybit.errors import TransientError
from gridlab.bybit.parse import Execution, PublicTrade, Wallet
from gridlab.bybit.ws import BybitStream
from gridlab.config import GridlabConfig
from gridlab.errors import ConfigError, GridlabError, StoreLockedError
from gridlab.store.live import LiveStore
from gridlab.strategy.enums import Stop
from gridlab.strategy.params import make_filters
from live.account import ACCOUNT_KEY, AccountRisk
from live.alerts import Alerter
from live.consumer import Consumer, Key
from live.control import CommandError, run_command
from live.core import CoreSettings, TradingCore
from live.exchange import Exchange
from live.grids import GridSpec, grid_specs, live_paths
from live.ledger import Ledger
from live.promote import ActiveProfile, admit_profile, choose_profile
from live.reconcile import reconcile
from live.redact import Redactor
from live.step import new_step
from live.tape import TapeRecorder

__all__ = ["CommandError", "LiveRunner", "live_paths", "main_live", "paper_config",
           "setup_logging"]

log = logging.getLogger("gridlab.live")

PAPER_URL = "http://127.0.0.1:8765"
_ALERT_KINDS = ("kill_switch", "risk_stop", "recenter", "account_kill_switch", "grid_error")


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


class LiveRunner(Consumer):
    """The grids of one account, live. `await runner.run()` until `request_stop()` or a signal."""

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
        self.grids: list[GridSpec] = grid_specs(self.config, self.name)
        self.tag = self.grids[0].tag
        self.panel_token = os.environ.get(self.config.live.panel.token_env) or None
        self.redact = Redactor([credentials.api_key, credentials.api_secret, self.panel_token,
                                self.config.live.alerts.webhook_url,
                                self.config.live.alerts.telegram_url])
        self.alerter = Alerter(self.config.live.alerts, runner=self.name, redact=self.redact)
        self.store: LiveStore | None = None
        self.tape: TapeRecorder | None = None
        self.cores: dict[Key, TradingCore] = {}
        self.actives: dict[Key, ActiveProfile] = {}
        self.failed: dict[Key, str] = {}  # grids that could not start (no core)
        self.restored: dict[Key, bool | None] = {}
        self._halted: dict[Key, str] = {}  # instruments not trading at start
        self.account: AccountRisk | None = None
        self.exchange: Exchange | None = None
        self.streams: list[BybitStream] = []
        self.wallet: Wallet | None = None
        self.started_at = time.time()
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.panel_url: str | None = None
        self.reconcile_summary: dict[str, Any] = {}
        self.exit_code = 0
        self.stats = {"errors": 0}
        self._by_symbol: dict[str, TradingCore] = {}
        self._order: dict[Key, int] = {g.key: i for i, g in enumerate(self.grids)}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: asyncio.Queue[tuple[Any, ...]] | None = None
        self._stop_event: asyncio.Event | None = None
        self._busy = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._panel_server: Any = None
        self._panel_task: asyncio.Task[Any] | None = None
        self._last_print_wall = 0.0
        self._errors = 0

    # ---- grids -----------------------------------------------------------------------------

    @property
    def multi(self) -> bool:
        """True with a `portfolio` section (several grids, account-level limits)."""
        return self.config.portfolio is not None

    @property
    def core(self) -> TradingCore | None:
        """The first grid's core (the only one without a portfolio)."""
        return next(iter(self.cores.values()), None)

    @property
    def active(self) -> ActiveProfile | None:
        """The first grid's profile."""
        return next(iter(self.actives.values()), None)

    def core_of(self, symbol: str) -> TradingCore | None:
        """The core trading `symbol` (None if the runner has no such running grid)."""
        return self._by_symbol.get(symbol)

    def _route(self, symbol: str, category: str = "") -> TradingCore | None:
        core = self._by_symbol.get(symbol)
        if core is None or (category and category != core.s.category):
            return None
        return core

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

    async def _make_core(self, spec: GridSpec) -> TradingCore:
        """A grid's core: instrument rules, fees, leverage, profile, restored state."""
        cfg = self.config
        assert self.exchange is not None and self.store is not None
        ex = self.exchange.for_symbol(spec.symbol, spec.category)
        inst = await ex.call(ex.client.get_instrument, spec.symbol)
        fees = await ex.call(ex.client.get_fee_rates, spec.symbol)
        if spec.category == "linear":
            lev = await ex.set_leverage(spec.leverage)
            if lev.warning:  # e.g. portfolio margin: go on with the leverage in force
                self.event("leverage", lev.warning, "warning",
                           {"requested": lev.requested, "in_force": lev.in_force,
                            "code": lev.code}, symbol=spec.symbol)
        filters = make_filters(inst.tick_size, inst.qty_step, inst.min_qty, inst.min_notional,
                               inst.max_qty)
        state = self.store.get_state(spec.state_key)
        pcfg = cfg if spec.profile == cfg.profile else cfg.model_copy(
            update={"profile": spec.profile})
        active = choose_profile(pcfg, self.profile_override,
                                state.get("profile") if state else None,
                                use_promotions=not spec.own_profile)
        last = (await ex.call(ex.client.get_ticker, spec.symbol)).last_price
        equity = (await ex.wallet()).total_equity  # the account must cover the grid's budget
        # refused with every reason before any order (ConfigError), else its hash is logged
        admit_profile(active, inst, capital=spec.capital, leverage=spec.leverage,
                      category=spec.category, price=last if last > 0 else None,
                      equity=equity if equity > 0 else None)
        settings = CoreSettings(
            symbol=spec.symbol, category=spec.category, capital=spec.capital,
            prefix=cfg.live.link_prefix, tag=spec.tag,
            check_ms=int(cfg.backtest.check_interval_ms), qty_step=inst.qty_step,
            maker_fee=fees.maker, taker_fee=fees.taker, fill_wait_s=cfg.live.fill_wait_s,
            leverage=spec.leverage, state_key=spec.state_key, bars_key=spec.bars_key,
            error_limit=cfg.live.symbol_error_limit, amend=cfg.live.amend,
            margin=cfg.backtest.margin,
            tiers=margin_tiers(cfg, spec.symbol) if spec.category == "linear" else None)
        res = active.resolved
        step = new_step(res, filters, settings)
        core = TradingCore(self.store, ex, settings, step,
                           Ledger(spec.capital, inst.qty_step), profile=active.as_state(),
                           notify=self._alert, redact=self.redact.clean)
        self.restored[spec.key] = None
        if state:
            self.restored[spec.key] = core.restore(state, self.store.get_state(spec.bars_key))
            core.profile = active.as_state()
        self.actives[spec.key] = active
        if inst.status and inst.status != "Trading":
            self._halted[spec.key] = f"instrument status is {inst.status} (not Trading)"
        return core

    async def _startup(self) -> None:
        cfg = self.config
        self.mirror_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.store = LiveStore.open(self.db_path, self.mirror_dir)
        except StoreLockedError as exc:
            raise StoreLockedError(f"another runner holds {self.db_path}",
                                   "stop it first: one runner per live store") from exc
        if not self.multi:
            self.store.claim_symbol(self.grids[0].symbol)
        first = self.grids[0]
        client = BybitClient(cfg.exchange, self.credentials, first.category)
        self.exchange = Exchange(client, first.symbol)
        errors: list[GridlabError] = []
        for spec in self.grids:
            try:
                core = await self._make_core(spec)
            except (TransientError, StoreLockedError):
                raise
            except GridlabError as exc:
                if not self.multi:
                    raise
                errors.append(exc)
                self.failed[spec.key] = f"cannot start: {exc}"
                self.event("grid_error", f"{spec.symbol} grid cannot start: {exc}; the other "
                                          "grids trade without it", "error",
                            {"reason": str(exc)}, symbol=spec.symbol)
                continue
            self.cores[spec.key] = core
            self._by_symbol[spec.symbol] = core
        if not self.cores:
            raise errors[0]
        self.tape = TapeRecorder(self.store.store, [k[1] for k in self.cores])
        pf = cfg.portfolio
        self.account = AccountRisk(
            pf.capital if pf else cfg.trading.capital, list(self.cores.values()),
            check_ms=int(cfg.backtest.check_interval_ms),
            max_total_exposure_pct=pf.max_total_exposure_pct if pf else 0.0,
            max_symbol_share=pf.max_symbol_share if pf else 0.0,
            kill_switch_dd=pf.kill_switch_dd if pf else 0.0, event=self.event)
        self.account.restore(self.store.get_state(ACCOUNT_KEY))
        if self.account.stopped != Stop.NONE:  # a kill cut short by a crash: finish it
            for core in self.cores.values():
                if core.risk.stopped == Stop.NONE:
                    core.risk.stopped = Stop.KILL_SWITCH
        # where each grid's backfill starts, fixed before the streams store anything new
        starts = {key: core.exec_cursor() for key, core in self.cores.items()}
        if cfg.live.ws:
            self._start_streams()
        summaries: dict[str, Any] = {}
        for key, core in self.cores.items():
            halted = self._halted.get(key)
            if halted:
                core.error = halted  # no order is placed while reconciling
            try:
                summaries[core.s.symbol] = await reconcile(core, starts[key])
            except (TransientError, StoreLockedError):
                raise
            except Exception as exc:
                if not self.multi:
                    raise
                summaries[core.s.symbol] = {"error": f"{type(exc).__name__}: {exc}"}
                halted = halted or f"reconciliation failed: {type(exc).__name__}: {exc}"
            if halted:
                core.error = None
                await core.fail(halted)
            elif not core.trading:
                await self._guard("cancelling", core.ensure_cancelled(), core)
        for core in self.cores.values():  # where replays of this session start
            core.log_state("start")
        self.reconcile_summary = (summaries[self.grids[0].symbol] if not self.multi
                                  else summaries)
        where = (f"({first.category} {first.symbol})" if not self.multi else
                 f"({len(self.cores)} grids: {', '.join(c.s.symbol for c in self.cores.values())}"
                 + (f"; not started: {', '.join(k[1] for k in self.failed)}" if self.failed
                    else "") + ")")
        act = self.active
        assert act is not None
        self.event("start", f"runner {self.name} started on {cfg.exchange.env} {where}, "
                             f"profile {act.name} v{act.version} ({act.source})",
                    details={"reconcile": self.reconcile_summary,
                             "restored": (self.restored.get(first.key) if not self.multi
                                          else {k[1]: v for k, v in self.restored.items()}),
                             "paper": self.paper, "tag": self.tag,
                             "grids": {c.s.symbol: c.s.tag for c in self.cores.values()},
                             "failed": {k[1]: v for k, v in self.failed.items()}})
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
        store = self.store
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
        if self.cores:
            try:
                if self._inbox is not None and not self._inbox.empty():
                    await self._process(self._drain())
            except Exception:
                log.exception("shutdown steps failed")
            for core in self.cores.values():
                try:
                    if self.config.live.on_shutdown == "cancel":
                        await core.cancel_all("shutdown")
                        core.event("shutdown_cancel", "orders cancelled at shutdown")
                    core.persist(bars=True)
                except Exception:
                    log.exception("shutdown steps of %s failed", core.s.symbol)
            with contextlib.suppress(Exception):
                if self.account is not None:
                    self.account.persist()
            self.event("shutdown", f"runner {self.name} stopped "
                                    f"(orders {self.config.live.on_shutdown})")
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
            if self.tape is not None:
                with contextlib.suppress(Exception):
                    self.tape.flush()
                    self.tape.export(store.mirror_dir)
            store.close()
        if self.exchange is not None:
            await asyncio.to_thread(self.exchange.close)

    # ---- streams ---------------------------------------------------------------------------

    def _post(self, *item: Any) -> None:
        loop, inbox = self._loop, self._inbox
        if loop is not None and inbox is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(inbox.put_nowait, item)

    def _on_trades(self, key: Key) -> Callable[[list[PublicTrade]], None]:
        def on_trades(trades: list[PublicTrade]) -> None:
            self._last_print_wall = time.monotonic()
            self._post("prints", key, [(t.ts, t.price) for t in trades], trades)
        return on_trades

    def _start_streams(self) -> None:
        """One public stream per category (publicTrade and orderbook.1 topics per symbol: the
        best bid/ask feed the PostOnly check), one private."""
        cfg = self.config
        streams: list[BybitStream] = []
        for cat in dict.fromkeys(k[0] for k in self.cores):
            pub = BybitStream(cfg.exchange, None, cat,
                              on_reconnect=lambda cat=cat: self._post("resync", "public", cat))
            for key in self.cores:
                if key[0] == cat:
                    pub.subscribe_trades(key[1], self._on_trades(key))
                    pub.subscribe_orderbook(key[1], self.cores[key].ex.on_book)
            streams.append(pub)
        priv = BybitStream(cfg.exchange, self.credentials, "private",
                           on_reconnect=lambda: self._post("resync", "private", None))
        priv.subscribe_executions(self._on_execs)
        priv.subscribe_orders(lambda os_: self._post("orders", os_))
        priv.subscribe_wallet(self._on_wallet)
        self.streams = [*streams, priv]
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
        if not self.cores:
            self._post("execs", xs, source)
            return
        for e in xs:
            core = self._route(e.symbol, e.category)
            if core is None:
                continue
            try:
                core.store_execution(e, source)
            except Exception as exc:  # the REST poll stores it later
                log.warning("storing execution %s failed: %s", e.exec_id, exc)
        self._post("wake")

    @property
    def streams_healthy(self) -> bool:
        return bool(self.streams) and all(s.healthy for s in self.streams)

    # ---- events and timers -----------------------------------------------------------------

    def event(self, kind: str, message: str, severity: str = "info",
               details: dict[str, Any] | None = None, *, symbol: str | None = None) -> None:
        """An event of the runner or the account (symbol None), or of a grid without a core."""
        level = {"info": logging.INFO, "warning": logging.WARNING}.get(severity, logging.ERROR)
        message = self.redact.clean(message)
        details = self.redact.clean(details) if details is not None else None
        log.log(level, "%s: %s", kind, message)
        if self.store is not None:
            try:
                self.store.add_event(kind, message, severity=severity, details=details,
                                     symbol=symbol)
            except Exception:  # an event must never break trading
                log.exception("storing the event failed")
        self._alert(kind, message, severity, details)

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
            if self.tape is not None:
                try:
                    await asyncio.to_thread(self.tape.export, self.store.mirror_dir)
                except Exception as exc:
                    log.warning("tape export failed: %s", exc)

    # ---- alerts and commands ---------------------------------------------------------------

    def _alert(self, kind: str, message: str, severity: str,
               details: dict[str, Any] | None) -> None:
        if kind in _ALERT_KINDS:
            self.alerter.notify(kind, message, severity=severity, details=details)
        elif severity in ("error", "critical"):
            self.alerter.notify("error", message, severity=severity, details=details)

    async def command(self, name: str, symbol: str | None = None, **kwargs: Any
                      ) -> dict[str, Any]:
        """Run a control command on the consumer (start, stop, profile) for one grid
        (`symbol`) or every grid (None)."""
        assert self._loop is not None
        fut: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._post("command", name, symbol, kwargs, fut)
        return await asyncio.wait_for(fut, 120)

    async def _command(self, name: str, symbol: str | None, kwargs: dict[str, Any],
                       fut: asyncio.Future[dict[str, Any]]) -> None:
        try:
            out = await run_command(self, name, symbol, kwargs)
        except Exception as exc:
            if not isinstance(exc, CommandError):
                self.event("error", f"command {name} failed: {exc}", "error", symbol=symbol)
            if not fut.done():
                fut.set_exception(exc)
            return
        if not fut.done():
            fut.set_result(out)

    # ---- the panel -------------------------------------------------------------------------

    async def _start_panel(self) -> None:
        from live.panel import serve_panel

        self._panel_server, self._panel_task, self.panel_url = await serve_panel(self)

    # ---- introspection (tests, benchmarks, panel) -------------------------------------------

    def idle(self) -> bool:
        """Nothing queued, nothing being processed, no fill waiting."""
        return (self._inbox is not None and self._inbox.empty() and not self._busy
                and bool(self.cores) and not any(c.pending for c in self.cores.values()))


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
