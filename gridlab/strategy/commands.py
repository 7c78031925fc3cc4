"""CLI sub-commands of gridlab.strategy: `gridlab profiles ...` and `gridlab grid preview`."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from gridlab.config import GridlabConfig, load_config
from gridlab.strategy.classes import GridStrategy, SlotView, preview_grid
from gridlab.strategy.enums import Mode, Side, Status, name_of
from gridlab.strategy.params import make_filters, resolve_profile, validate_profiles
from gridlab.strategy.profiles import all_profiles, profile_source, profile_to_dict

__all__ = ["format_preview", "grid_app", "profiles_app", "register"]

profiles_app = typer.Typer(no_args_is_help=True, help="Strategy profiles (built-in and user).")
grid_app = typer.Typer(no_args_is_help=True, help="Look at a grid before trading it.")

_CONFIG_OPT = typer.Option(None, "--config", "-c", help="config.yaml with user profiles")

_REASONS = {
    Status.DROP_RANGE: "outside the range [lower, upper]",
    Status.DROP_TICK_COLLAPSE: "spacing is below one tick: level rounds onto its neighbour",
    Status.DROP_NONPOSITIVE: "level price <= 0",
    Status.DROP_MIN_QTY: "qty below the exchange minimum",
    Status.DROP_MIN_NOTIONAL: "qty * price below the exchange minimum notional",
    Status.DROP_MAX_QTY: "qty above the exchange maximum",
}


def _config(path: Path | None) -> GridlabConfig | None:
    return None if path is None else load_config(path)


def _side(code: int) -> str:
    return {Side.BUY: "BUY", Side.SELL: "SELL"}.get(code, "-")


def _detail(strat: GridStrategy, v: SlotView) -> str:
    f = strat.filters
    if v.status == Status.DROP_MIN_QTY:
        return f" ({v.qty:g} < {f.min_qty:g}, step {f.qty_step:g})"
    if v.status == Status.DROP_MIN_NOTIONAL:
        return f" ({v.notional:.4g} < {f.min_notional:g})"
    if v.status == Status.DROP_MAX_QTY:
        return f" ({v.qty:g} > {f.max_qty:g})"
    if v.status == Status.DROP_RANGE:
        return f" [{strat.lower:g}, {strat.upper:g}]"
    return ""


def format_preview(strat: GridStrategy, title: str) -> list[str]:
    """Lines of `gridlab grid preview`: one row per slot, dropped slots with their reason."""
    gp = strat.gp
    lines = [f"{title}: centre {strat.centre:g}, spacing {strat.spacing:.4%}, "
             f"mode {name_of(Mode, gp.mode).lower()}, {strat.active_slots()}/"
             f"{strat.slots.shape[0]} slots active, capital {strat.capital:g} x{gp.leverage:g}",
             f"{'slot':>4} {'home':>4} {'lo':>12} {'hi':>12} {'order':>18} {'qty':>12} "
             f"{'notional':>10}  status"]
    orders = {o.slot: o for o in strat.orders()}
    for v in strat.levels():
        o = orders.get(v.slot)
        order = f"{_side(o.side)} @ {o.price:g}" if o else "-"
        status = "ok" if v.status == Status.OK else (
            f"DROPPED {v.status_name}: {_REASONS.get(v.status, '')}{_detail(strat, v)}")
        lines.append(f"{v.slot:>4} {_side(v.home):>4} {v.lo:>12g} {v.hi:>12g} {order:>18} "
                     f"{v.qty:>12g} {v.notional:>10.2f}  {status}")
    if strat.active_slots() == 0:
        lines.append("no slot can trade: raise capital or leverage, use fewer levels, "
                     "or check the range and filters")
    return lines


@profiles_app.command("list")
def list_cmd(config: Path | None = _CONFIG_OPT) -> None:
    """List the built-in and user profiles (* = active)."""
    cfg = _config(config)
    active = cfg.profile if cfg is not None else "Normal"
    typer.echo(f"  {'name':<16} {'source':<8} {'spacing':>8} {'levels':>6} {'target':>7}  note")
    for name, p in all_profiles(cfg).items():
        mark = "*" if name == active else " "
        typer.echo(f"{mark} {name:<16} {profile_source(cfg, name):<8} {p.grid_spacing:>8.2%} "
                   f"{p.target_levels:>6} {p.profit_target:>7.2%}  {p.note}")


@profiles_app.command("show")
def show_cmd(name: str, config: Path | None = _CONFIG_OPT) -> None:
    """Show a profile and the grid/recenter/risk sections it resolves to."""
    cfg = _config(config) or GridlabConfig()
    resolved = resolve_profile(cfg, name)
    prof = all_profiles(cfg)[name]
    out = {"definition": profile_to_dict(prof), "resolved": resolved.to_dict()}
    typer.echo(yaml.safe_dump(out, sort_keys=False).rstrip())


@profiles_app.command("validate")
def validate_cmd(path: Path) -> None:
    """Validate config.yaml: every section, every profile, the active profile."""
    cfg = load_config(path)
    warnings = validate_profiles(cfg)
    typer.echo(f"ok: {path} ({len(all_profiles(cfg))} profiles, active: {cfg.profile})")
    for warning in warnings:
        typer.echo(f"warning: {warning}")


@grid_app.command("preview")
def preview_cmd(
    price: float = typer.Option(..., help="centre price"),
    profile: str = typer.Option("Normal", help="profile name"),
    config: Path | None = _CONFIG_OPT,
    tick: float = typer.Option(0.1, help="price tick size"),
    qty_step: float = typer.Option(0.001, help="qty step"),
    min_qty: float = typer.Option(0.001, help="minimum order qty"),
    min_notional: float = typer.Option(5.0, help="minimum order value"),
    max_qty: float = typer.Option(0.0, help="maximum order qty (0 = none)"),
    capital: float = typer.Option(1000.0, help="capital in quote currency"),
    leverage: float = typer.Option(1.0, help="leverage"),
) -> None:
    """Print the grid a profile builds at a price: levels, qty, notional, dropped levels."""
    resolved = resolve_profile(_config(config) or GridlabConfig(), profile)
    filters = make_filters(tick, qty_step, min_qty, min_notional, max_qty)
    strat = preview_grid(resolved.grid, filters, price, capital, leverage)
    for line in format_preview(strat, f"profile {profile}"):
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the gridlab CLI."""
    app.add_typer(profiles_app, name="profiles")
    app.add_typer(grid_app, name="grid")
