"""Control commands of the panel (start, stop, profile change), for one grid or every grid.

They run on the runner's consumer task (`LiveRunner.command` posts them to its queue), so they
never interleave with trading. Without a symbol they act on every grid: `start` also clears
the account kill switch; with a symbol, a grid cannot be started while the account is stopped.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from gridlab.errors import GridlabError
from gridlab.strategy.enums import Reason, Stop, name_of
from live.promote import ActiveProfile, resolve_named
from live.step import new_step

if TYPE_CHECKING:
    from live.core import TradingCore
    from live.runner import LiveRunner

__all__ = ["CommandError", "cancel_order", "change_profile", "close_positions", "run_command",
           "targets"]


class CommandError(GridlabError):
    """A panel command that cannot run now (unknown symbol, the account is stopped, ...)."""

    def __init__(self, message: str, hint: str | None = None, status: int = 409) -> None:
        super().__init__(message, hint)
        self.status = status


def targets(r: LiveRunner, symbol: str | None) -> list[TradingCore]:
    """Every grid (None), or the grid of `symbol` (CommandError when there is none)."""
    if symbol is None:
        return list(r.cores.values())
    core = r.core_of(symbol)
    if core is None:
        why = next((v for k, v in r.failed.items() if k[1] == symbol), None)
        if why is not None:
            raise CommandError(f"the {symbol} grid did not start: {why}",
                               "fix the cause and restart the runner")
        raise CommandError(f"no grid trades {symbol}", "use a symbol of /api/status",
                           status=404)
    return [core]


def _was(core: TradingCore) -> str:
    if core.stopped:
        return name_of(Stop, core.stopped)
    return "error" if core.error else ("paused" if core.paused else "running")


async def run_command(r: LiveRunner, name: str, symbol: str | None, kwargs: dict[str, Any]
                      ) -> dict[str, Any]:
    """Run `name` (stop, start, profile) on the grid of `symbol` or every grid."""
    acct = r.account
    assert acct is not None
    cores = targets(r, symbol)
    if name == "stop":
        for core in cores:
            await core.pause()
            core.event("paused", "trading paused from the panel: orders cancelled")
        out: dict[str, Any] = {"ok": True, "trading": any(c.trading for c in cores)}
    elif name == "start":
        if symbol is not None and acct.stopped != Stop.NONE:
            raise CommandError("the account kill switch stopped every grid",
                               "POST /api/start without a symbol restarts them all")
        if acct.stopped != Stop.NONE:
            acct.reset()
            acct.persist()
            r.event("account_resumed", "account kill switch cleared from the panel")
        was = {c.s.symbol: _was(c) for c in cores}
        for core in cores:
            await core.resume()
            core.event("resumed", f"trading resumed from the panel (was {was[core.s.symbol]})")
        out = {"ok": True, "trading": all(c.trading for c in cores),
               "was": was[cores[0].s.symbol] if len(cores) == 1 else was}
    elif name == "profile":
        out = await change_profile(r, cores, kwargs["profile"], kwargs.get("version"))
    elif name == "cancel":
        out = await cancel_order(cores, kwargs["order_link_id"])
    elif name == "close":
        out = await close_positions(cores)
    else:
        raise ValueError(f"unknown command {name}")
    if symbol is None and r.multi:
        out["grids"] = {c.s.symbol: c.state_name for c in r.cores.values()}
    return out


async def cancel_order(cores: list[TradingCore], link: str) -> dict[str, Any]:
    """Cancel one working order of the runner (by orderLinkId). A grid that keeps trading
    places the slot's order again at its next check."""
    for core in cores:
        row = core.orders.get(link)
        if row is None or not row.active:
            continue
        if not await core.ex.cancel(link):  # gone already: filled or cancelled meanwhile
            found = await core.ex.find_order(link)
            if found is not None:
                core.on_order(found)  # a fill is left to its executions
            raise CommandError(f"order {link} is no longer open (filled or cancelled)",
                               "reload the open orders")
        core._dead(row, "Cancelled", "cancelled from the panel")
        core.event("order_cancel", f"order {link} ({row.price:g} x {row.qty:g}) cancelled from "
                                   "the panel", details={"order_link_id": link})
        core.persist()
        return {"ok": True, "cancelled": link, "symbol": core.s.symbol,
                "trading": core.trading}
    raise CommandError(f"no working order {link}", "pick one of the open orders", status=404)


async def close_positions(cores: list[TradingCore]) -> dict[str, Any]:
    """Pause each grid (cancel its orders), then close its position with a reduce-only
    market order at the market."""
    out: dict[str, Any] = {}
    for core in cores:
        before = core.ledger.position
        await core.pause()
        if before != 0.0 and not math.isnan(core.last_price):
            await core._flatten(core.last_price)
        core.event("position_closed", f"trading paused and position {before:g} closed from "
                                      f"the panel (now {core.ledger.position:g})",
                   details={"before": before, "after": core.ledger.position})
        out[core.s.symbol] = {"before": before, "after": core.ledger.position}
    return {"ok": True, "trading": any(c.trading for c in cores), "positions": out}


async def change_profile(r: LiveRunner, cores: list[TradingCore], name: str,
                         version: int | None) -> dict[str, Any]:
    """Safe handover, per grid: resolve, cancel all, new strategy objects (the bar history,
    the ledger and the kill-switch state carry over), rebuild at the last price."""
    res = await asyncio.to_thread(resolve_named, r.config, name, version, source="panel")
    gens = {}
    for core in cores:
        key = (core.s.category, core.s.symbol)
        old = r.actives[key]
        new = ActiveProfile(res.name, res.version, "panel", old.promotion_id, res.resolved)
        step = new_step(new.resolved, core.step.filters, core.s)
        step.g.kstate[:] = core.step.g.kstate
        step.risk.stopped = core.stopped
        if not math.isnan(core.last_price):
            step.st["mark"] = core.last_price
        await core.cancel_all("profile change")
        bars = core.bars_state()
        core.step = step
        core.share_ledger()  # the ledger carries over
        if core.account is not None:
            core.account.bind_all()
        core.copy_bars(bars)  # the bar history carries over when the ring has the same shape
        core.cycles = [0] * step.n
        core.profile = new.as_state()
        r.actives[key] = new
        core.event("profile_change", f"profile {old.name} v{old.version} -> {new.name} "
                                     f"v{new.version}: orders cancelled, grid rebuilt",
                   details={"from": old.as_state()["name"], "to": new.name,
                            "version": new.version})
        if core.trading and not math.isnan(core.last_price):
            await core.rebuild(max(core.last_ts, 0), core.last_price, Reason.MANUAL)
        else:
            core.force_rebuild = True
            core.next_check = -1
        core.persist()
        gens[core.s.symbol] = core.gen
    out: dict[str, Any] = {"ok": True, "profile": res.name, "version": res.version}
    out["gen"] = gens[cores[0].s.symbol] if len(cores) == 1 else gens
    return out
