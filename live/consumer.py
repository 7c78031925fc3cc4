"""The consumer of a `LiveRunner`: the one task that changes trading state. It takes the
queued items in order (executions, order updates, prints, the REST poll, resyncs after a
stream reconnect, snapshots, panel commands) and hands them to the grids' `TradingCore`s; the
prints of one batch are played in time order across symbols (one market clock for the
account checks). A step that fails is contained (`_guard`): an `error` event, and the grid's
error state after `live.symbol_error_limit` failures in a row. A mixin of `LiveRunner`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from gridlab.bybit.errors import TransientError
from gridlab.bybit.parse import Execution, Order

if TYPE_CHECKING:
    from live.core import TradingCore
    from live.tape import TapeRecorder

__all__ = ["Consumer", "Key"]

log = logging.getLogger("gridlab.live")

Key = tuple[str, str]  # (category, symbol)


class Consumer:
    """The consumer task and the REST fallbacks of a runner (a part of `LiveRunner`)."""

    _inbox: asyncio.Queue[tuple[Any, ...]] | None
    cores: dict[Key, TradingCore]
    tape: TapeRecorder | None

    def _drain(self) -> list[tuple[Any, ...]]:
        out = []
        assert self._inbox is not None
        while not self._inbox.empty():
            out.append(self._inbox.get_nowait())
        return out

    async def _consume(self) -> None:
        assert self._inbox is not None
        while True:
            timeout = None
            pending = [pf.arrived for c in self.cores.values() for pf in c.pending]
            if pending:
                wait = self.config.live.fill_wait_s
                timeout = max(0.01, wait - (time.monotonic() - min(pending)))
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

    async def _guard(self, what: str, coro: Any, core: TradingCore | None = None) -> Any:
        """Run a step; an exception becomes an `error` event (of the grid, if given) and the
        consumer carries on. Non-transient failures of one grid in a row count towards its
        error state (`live.symbol_error_limit`)."""
        try:
            out = await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._errors += 1
            log.debug("%s failed", what, exc_info=True)
            msg = f"{what} failed: {type(exc).__name__}: {exc}"
            if core is None:
                self.stats["errors"] += 1
                self.event("error", msg, "error")
                return None
            core.stats["errors"] += 1
            core.event("error", msg, "error")
            if not isinstance(exc, TransientError) and core.note_error() and core.error is None:
                try:
                    await core.fail(f"{core.errors_in_row} failures in a row (last: {msg})")
                except Exception:
                    log.exception("putting %s in its error state failed", core.s.symbol)
            return None
        if core is not None:
            core.errors_in_row = 0
        return out

    async def _process(self, batch: list[tuple[Any, ...]]) -> None:
        prints: dict[Key, list[tuple[int, float]]] = {}

        def add(found: dict[Key, list[tuple[int, float]]] | None) -> None:
            for k, ps in (found or {}).items():
                prints.setdefault(k, []).extend(ps)

        for item in batch:
            kind = item[0]
            if kind == "execs":
                for e in item[1]:
                    core = self._route(e.symbol, e.category)
                    if core is not None:
                        await self._guard("storing an execution",
                                          self._store_exec(core, e, item[2]), core)
            elif kind == "orders":
                for o in item[1]:
                    self._on_order(o)
            elif kind == "prints":
                prints.setdefault(item[1], []).extend(item[2])
                if self.tape is not None and len(item) > 3:
                    self.tape.on_trades(item[1][1], item[3])
            elif kind == "poll":
                add(await self._guard("the REST poll", self._poll()))
            elif kind == "resync":
                add(await self._guard("the resync", self._resync(item[1], item[2])))
            elif kind == "snapshot":
                await self._guard("the snapshot", self._snapshot())
            elif kind == "command":
                await self._command(*item[1:])
        # one market clock: every symbol's prints in time order (config order on a tie)
        merged = sorted(((ts, self._order.get(k, 0), k, p) for k, ps in prints.items()
                         if k in self.cores for ts, p in ps), key=lambda x: (x[0], x[1]))
        for ts, _, k, price in merged:
            core = self.cores[k]
            if ts < core.last_ts:
                continue  # an old print (a REST ticker behind the stream): the ring moves forward
            await self._guard("a market event", core.on_print(int(ts), float(price)), core)
        for core in self.cores.values():
            if core.pending:
                await self._guard("applying fills",
                                  core.apply_pending(core.last_ts, core.last_price), core)
                await self._guard("applying fills",
                                  core.apply_pending(None, None, expired_only=True), core)
        if self.tape is not None and self.tape.writer.pending():
            try:
                self.tape.flush()  # on the consumer: the writer connection is not shared
            except Exception:
                log.exception("storing the tape failed")

    async def _store_exec(self, core: TradingCore, e: Execution, source: str) -> None:
        core.store_execution(e, source)

    def _on_order(self, o: Order) -> None:
        core = self._route(o.symbol, o.category)
        if core is not None:
            core.on_order(o)

    async def _poll(self) -> dict[Key, list[tuple[int, float]]]:
        """REST fallback: executions always; orders and prints while a stream is down; and
        orders of a grid that is not trading cancelled again if a cancel failed before."""
        healthy = self.streams_healthy
        for core in self.cores.values():
            await self._guard("the REST poll", core.catch_up(), core)
            if not healthy:
                await self._guard("the order sync", core.sync_orders(), core)
            await self._guard("cancelling", core.ensure_cancelled(), core)
        out: dict[Key, list[tuple[int, float]]] = {}
        if not healthy and time.monotonic() - self._last_print_wall > self.config.live.order_poll_s:
            for key, core in self.cores.items():
                out[key] = await self._guard("the recent prints", self._recent_prints(core),
                                             core) or []
        return out

    async def _recent_prints(self, core: TradingCore) -> list[tuple[int, float]]:
        """Public prints newer than the last one seen (REST recent-trade, market clock)."""
        ex = core.ex
        limit = 60 if core.s.category == "spot" else 1000  # Bybit's limits per category
        trades = await ex.call(ex.client.get_recent_trades, ex.symbol, limit)
        return [(t.ts, t.price) for t in trades if t.ts > core.last_ts]

    async def _resync(self, which: str, category: str | None
                      ) -> dict[Key, list[tuple[int, float]]]:
        """After a stream reconnect: what it may have missed, over REST (executions and
        orders; for a public stream the recent prints newer than the last one seen)."""
        stream = f"{which} {category}" if category else which
        self.event("ws_reconnect", f"{stream} stream reconnected; resyncing over REST",
                    "warning")
        out: dict[Key, list[tuple[int, float]]] = {}
        if which == "public" and self.tape is not None:
            self.tape.stream_dropped(k[1] for k in self.cores if k[0] == category)
        for key, core in self.cores.items():
            await self._guard("the resync", core.catch_up(), core)
            await self._guard("the resync", core.sync_orders(), core)
            if which == "public" and key[0] == category and core.last_ts >= 0:
                out[key] = await self._guard("the resync", self._recent_prints(core),
                                             core) or []
        return out

    async def _snapshot(self) -> None:
        """Equity of every grid, the account, and the exchange positions (one transaction)."""
        ex, store, acct = self.exchange, self.store, self.account
        assert ex is not None and store is not None and acct is not None
        try:
            self.wallet = await ex.wallet()
        except Exception as exc:
            log.warning("wallet snapshot failed: %s", type(exc).__name__)
        wallet = self.wallet
        w_eq = wallet.total_equity if wallet else None
        w_av = wallet.total_available_balance if wallet else None
        positions = {}
        for key, core in self.cores.items():
            if key[0] == "linear" and not math.isnan(core.last_price):
                positions[key] = await self._guard("the position snapshot", core.ex.positions(),
                                                   core) or []
        now = int(time.time() * 1000)
        with store.batch():
            for key, core in self.cores.items():
                p = core.last_price
                if math.isnan(p):
                    continue
                tot = core.ledger.totals(p)
                store.add_equity(ts=now, symbol=core.s.symbol, price=p, equity=tot["equity"],
                                 position=tot["position"], realized=tot["realized"],
                                 unrealized=tot["unrealized"], fees=tot["fees"],
                                 funding=tot["funding"], grid_profit=tot["grid_profit"],
                                 exposure=abs(tot["position"]) * p / tot["equity"]
                                 if tot["equity"] > 0 else 0.0,
                                 wallet_equity=w_eq, wallet_available=w_av)
                for pos in positions.get(key, []):
                    store.add_position(ts=now, symbol=pos.symbol, size=pos.signed_size,
                                       avg_price=pos.avg_price, mark_price=pos.mark_price,
                                       unrealised_pnl=pos.unrealised_pnl,
                                       cum_realised_pnl=pos.cum_realised_pnl,
                                       leverage=pos.leverage, liq_price=pos.liq_price,
                                       ledger_position=tot["position"])
                core.persist(bars=True)
                core.log_state("snapshot")
            if any(not math.isnan(c.last_price) for c in self.cores.values()):
                a = acct.summary()
                store.add_account(
                    ts=now, capital=a["capital"], equity=a["equity"], realized=a["realized"],
                    unrealized=a["unrealized"], fees=a["fees"], funding=a["funding"],
                    grid_profit=a["grid_profit"], notional=a["notional"],
                    worst_notional=a["worst_notional"], exposure=a["exposure"] or 0.0,
                    daily_max=a["daily_max"], drawdown=a["drawdown"], stopped=acct.stopped,
                    n_grids=a["n_grids"] + len(self.failed), n_trading=a["n_trading"],
                    wallet_equity=w_eq, wallet_available=w_av)
