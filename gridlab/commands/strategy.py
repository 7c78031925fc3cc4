"""CLI sub-commands of gridlab.strategy: `gridlab profiles ...` and `gridlab grid preview`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from gridlab.fmt import CSV_OPTION, JSON_OPTION

if TYPE_CHECKING:  # the kernels load numba: imported inside the commands, not at start-up
    from gridlab.config import GridlabConfig
    from gridlab.strategy.classes import GridPreview, SlotView

__all__ = ["format_preview", "grid_app", "profiles_app", "register"]

profiles_app = typer.Typer(no_args_is_help=True, help="Strategy profiles (built-in and user).")
grid_app = typer.Typer(no_args_is_help=True, help="Look at a grid before trading it.")

_CONFIG_OPT = typer.Option(None, "--config", "-c", help="config.yaml with user profiles")


def _reasons() -> dict[int, str]:
    from gridlab.strategy.enums import Status

    return {
        Status.DROP_RANGE: "outside the range [lower, upper]",
        Status.DROP_TICK_COLLAPSE: "spacing is below one tick: level rounds onto its neighbour",
        Status.DROP_NONPOSITIVE: "level price <= 0",
        Status.DROP_MIN_QTY: "qty below the exchange minimum",
        Status.DROP_MIN_NOTIONAL: "qty * price below the exchange minimum notional",
        Status.DROP_MAX_QTY: "qty above the exchange maximum",
    }


def _config(path: Path | None) -> GridlabConfig | None:
    from gridlab.config import load_config

    return None if path is None else load_config(path)


def _side(code: int) -> str:
    from gridlab.strategy.enums import Side

    return {Side.BUY: "BUY", Side.SELL: "SELL"}.get(code, "-")


def _positive(value: float | None) -> float | None:
    """Option callback: a price must be > 0 (a usage error naming the option otherwise)."""
    if value is not None and not value > 0:
        raise typer.BadParameter(f"must be a price > 0, got {value:g}")
    return value


def _detail(strat: GridPreview, v: SlotView) -> str:
    from gridlab.strategy.enums import Status

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


def format_preview(strat: GridPreview, title: str) -> list[str]:
    """Lines of `gridlab grid preview`: one row per slot, dropped slots with their reason."""
    from gridlab.strategy.enums import Mode, Status, name_of

    reasons = _reasons()
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
            f"DROPPED {v.status_name}: {reasons.get(v.status, '')}{_detail(strat, v)}")
        lines.append(f"{v.slot:>4} {_side(v.home):>4} {v.lo:>12g} {v.hi:>12g} {order:>18} "
                     f"{v.qty:>12g} {v.notional:>10.2f}  {status}")
    if strat.active_slots() == 0:
        lines.append("no slot can trade: raise capital or leverage, use fewer levels, "
                     "or check the range and filters")
    return lines


@profiles_app.command("list")
def list_cmd(config: Path | None = _CONFIG_OPT,
             db: Path | None = typer.Option(None, "--db",
                                            help="also list the profiles stored in this "
                                                 "DuckDB store (saved and promoted versions)"),
             all_versions: bool = typer.Option(False, "--all-versions",
                                               help="with --db: every stored version"),
             as_json: bool = JSON_OPTION, as_csv: bool = CSV_OPTION) -> None:
    """List the built-in and user profiles (* = active)."""
    from gridlab.fmt import emit_records, output_format
    from gridlab.strategy.profiles import all_profiles, profile_source

    fmt = output_format(as_json, as_csv)
    cfg = _config(config)
    active = cfg.profile if cfg is not None else "Normal"
    rows: list[dict[str, Any]] = [
        {"active": "*" if name == active else "", "name": name,
         "source": profile_source(cfg, name), "version": None, "spacing": p.grid_spacing,
         "levels": p.target_levels, "target": p.profit_target, "note": p.note}
        for name, p in all_profiles(cfg).items()]
    if db is not None:
        rows += _stored_profiles(db, all_versions)
    if fmt != "table":
        emit_records(rows, fmt)
        return
    typer.echo(f"  {'name':<16} {'source':<8} {'version':>7} {'spacing':>8} {'levels':>6} "
               f"{'target':>7}  note")
    for r in rows:
        version = "-" if r["version"] is None else f"v{r['version']}"
        typer.echo(f"{r['active'] or ' '} {r['name']:<16} {r['source']:<8} {version:>7} "
                   f"{_pct(r['spacing']):>8} {_int(r['levels']):>6} {_pct(r['target']):>7}  "
                   f"{r['note']}")
    if db is not None and not any(r["source"] == "store" for r in rows):
        typer.echo(f"no profiles stored in {db}: `gridlab promote NAME` saves one")


def _pct(x: Any) -> str:
    from gridlab.fmt import pct

    return "-" if x is None else pct(x)


def _int(x: Any) -> str:
    return "-" if x is None else str(int(x))


def _stored_profiles(db: Path, all_versions: bool) -> list[dict[str, Any]]:
    """Rows of the profiles saved in a store (`gridlab promote` saves them)."""
    from gridlab.store.core import Store
    from gridlab.store.profiles import list_profiles

    with Store.open(db, read_only=True, wait_s=5.0) as store:
        records = list_profiles(store, all_versions=all_versions)
    return [{"active": "", "name": r.name, "source": "store", "version": r.version,
             "spacing": r.params.get("grid_spacing"), "levels": r.params.get("target_levels"),
             "target": r.params.get("profit_target"), "note": r.note or "",
             "created_at": r.created_at} for r in records]


@profiles_app.command("show")
def show_cmd(name: str, config: Path | None = _CONFIG_OPT) -> None:
    """Show a profile and the grid/recenter/risk sections it resolves to."""
    import yaml

    from gridlab.config import GridlabConfig
    from gridlab.strategy.params import resolve_profile
    from gridlab.strategy.profiles import all_profiles, profile_to_dict

    cfg = _config(config) or GridlabConfig()
    resolved = resolve_profile(cfg, name)
    prof = all_profiles(cfg)[name]
    out = {"definition": profile_to_dict(prof), "resolved": resolved.to_dict()}
    typer.echo(yaml.safe_dump(out, sort_keys=False).rstrip())


@profiles_app.command("validate")
def validate_cmd(path: Path) -> None:
    """Validate config.yaml: every section, every profile, the active profile."""
    from gridlab.config import load_config
    from gridlab.strategy.params import validate_profiles
    from gridlab.strategy.profiles import all_profiles

    cfg = load_config(path)
    warnings = validate_profiles(cfg)
    typer.echo(f"ok: {path} ({len(all_profiles(cfg))} profiles, active: {cfg.profile})")
    for warning in warnings:
        typer.echo(f"warning: {warning}")


@grid_app.command("preview")
def preview_cmd(
    price: float = typer.Option(..., help="centre price (> 0)", callback=_positive),
    profile: str = typer.Option("Normal", help="profile name"),
    config: Path | None = _CONFIG_OPT,
    symbol: str | None = typer.Option(None, help="take tick, qty step, min qty/notional and "
                                      "max qty from this instrument: the store's (--db), else "
                                      "the shipped snapshot's"),
    category: str = typer.Option("linear", help="with --symbol: linear | inverse | spot"),
    db: Path | None = typer.Option(None, "--db", help="with --symbol: the DuckDB store "
                                   "(default: data.db_path of the config)"),
    tick: float = typer.Option(0.1, min=0.0, help="price tick size"),
    qty_step: float = typer.Option(0.001, min=0.0, help="qty step"),
    min_qty: float = typer.Option(0.001, min=0.0, help="minimum order qty"),
    min_notional: float = typer.Option(5.0, min=0.0, help="minimum order value"),
    max_qty: float = typer.Option(0.0, min=0.0, help="maximum order qty (0 = none)"),
    capital: float = typer.Option(1000.0, min=0.0, help="capital in quote currency"),
    leverage: float | None = typer.Option(None, min=1.0,
                                          help="leverage (default: trading.leverage)"),
    margin: str | None = typer.Option(None, help="isolated | cross: the margin the "
                                      "liquidation price is shown for (default: "
                                      "backtest.margin, isolated when off)"),
) -> None:
    """Print the grid a profile builds at a price: levels, qty, notional, dropped levels, and
    the liquidation prices if every buy / every sell fills."""
    from gridlab.config import GridlabConfig
    from gridlab.errors import ConfigError
    from gridlab.strategy.classes import preview_grid
    from gridlab.strategy.params import make_filters, resolve_profile

    cfg = _config(config) or GridlabConfig()
    resolved = resolve_profile(cfg, profile)
    title = f"profile {profile}"
    if symbol is not None:
        inst, origin = _instrument(db or cfg.data.db_path, symbol, category)
        tick, qty_step, min_qty = inst["tick_size"], inst["qty_step"], inst["min_qty"]
        min_notional, max_qty = inst["min_notional"], inst["max_qty"]
        title += f", {symbol.upper()} {category} filters from the {origin}"
    filters = make_filters(tick, qty_step, min_qty, min_notional, max_qty)
    if margin not in (None, "isolated", "cross"):
        raise ConfigError(f"unknown --margin {margin!r}", "use isolated or cross")
    lev = float(cfg.trading.leverage if leverage is None else leverage)
    strat = preview_grid(resolved.grid, filters, price, capital, lev)
    for line in format_preview(strat, title):
        typer.echo(line)
    for line in liquidation_lines(strat, price, capital, lev, margin or cfg.backtest.margin,
                                  symbol or cfg.backtest.risk_limits_symbol
                                  or cfg.trading.symbol):
        typer.echo(line)


def liquidation_lines(strat: GridPreview, price: float, capital: float, leverage: float,
                      margin: str, symbol: str) -> list[str]:
    """The preview's liquidation lines: the worst cases of `grid_liquidation` with the
    shipped risk-limit tiers of `symbol` (margin 'off' shows isolated)."""
    from gridlab.errors import ConfigError
    from gridlab.strategy.margin import grid_liquidation, snapshot_info, snapshot_tiers

    mode = "isolated" if margin == "off" else margin
    if mode not in ("isolated", "cross"):
        raise ConfigError(f"unknown --margin {margin!r}", "use isolated or cross")
    from gridlab.errors import DataError

    try:
        tiers = snapshot_tiers(symbol.upper())
    except DataError as exc:
        return [f"liquidation: not shown ({exc.message})"]
    seed = strat.seed
    orders = [(o.side, o.price, o.qty) for o in strat.orders()]
    rows = grid_liquidation(orders, seed, price, capital, leverage, tiers, mode)
    head = (f"liquidation ({mode} margin, {leverage:g}x, {tiers.symbol} risk-limit tiers of "
            f"{snapshot_info()['as_of']}):")
    if not rows:
        return [head + " no position can build up (no opening order)"]
    out = [head]
    for r in rows:
        what = "every buy filled: long" if r["side"] > 0 else "every sell filled: short"
        liq = ("none (never reached)" if r["liq_price"] <= 0.0
               else f"{r['liq_price']:,.6g} ({r['distance']:+.2%} from the centre)")
        out.append(f"  {what} {r['size']:g} @ {r['entry']:,.6g} -> liquidation price {liq}, "
                   f"bankruptcy {r['bankruptcy_price']:,.6g}")
    return out


def _instrument(db: Path, symbol: str, category: str) -> tuple[dict[str, float], str]:
    """The filters of one instrument (the store's, else the shipped snapshot's) and where
    they came from; a DataError saying how to get them when neither has it."""
    from gridlab.data.instruments import instrument_filters
    from gridlab.store.core import Store

    with Store.open(db, read_only=True, wait_s=5.0) as store:
        found = instrument_filters(store, symbol.upper(), category)
    keys = ("tick_size", "qty_step", "min_qty", "min_notional", "max_qty")
    return {k: float(found.row[k]) for k in keys}, found.description


def register(app: typer.Typer) -> None:
    """Add this area's commands to the gridlab CLI."""
    app.add_typer(profiles_app, name="profiles")
    app.add_typer(grid_app, name="grid")
