"""Pydantic config -> kernel NamedTuples; profile resolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from gridlab.config.strategy import GridConfig, RecenterConfig, RiskConfig, deep_merge
from gridlab.errors import ConfigError
from gridlab.strategy.enums import (
    AtrMode,
    Filters,
    GridParams,
    Mode,
    QtyMode,
    RecenterParams,
    RiskParams,
    SpacingMode,
)
from gridlab.strategy.profiles import all_profiles, get_profile, shadowed_fields

if TYPE_CHECKING:
    from gridlab.config import GridlabConfig

__all__ = [
    "HOUR_MS",
    "ResolvedParams",
    "grid_params",
    "make_filters",
    "recenter_params",
    "resolve_profile",
    "risk_params",
    "validate_profiles",
]

HOUR_MS = 3_600_000


def grid_params(grid: GridConfig, leverage: float = 1.0) -> GridParams:
    """Kernel GridParams of a `grid` section (leverage comes from `trading`)."""
    if leverage <= 0:
        raise ConfigError(f"leverage must be > 0 (got {leverage})", "use 1 on spot")
    return GridParams(
        n_buy=int(grid.n_buy),
        n_sell=int(grid.n_sell),
        spacing=float(grid.spacing),
        spacing_mode=getattr(SpacingMode, grid.spacing_mode.upper()),
        lower=float(grid.lower),
        upper=float(grid.upper),
        profit_target=float(grid.profit_target),
        qty_mode=getattr(QtyMode, grid.qty_mode.upper()),
        mode=getattr(Mode, grid.mode.upper()),
        leverage=float(leverage),
        atr_mode=getattr(AtrMode, grid.atr.mode.upper()),
        atr_period=int(grid.atr.period),
        atr_mult=float(grid.atr.mult),
        atr_floor=float(grid.atr.floor),
        atr_ceil=float(grid.atr.ceil),
        bar_ms=int(grid.atr.bar_ms),
    )


def recenter_params(rc: RecenterConfig) -> RecenterParams:
    """Kernel RecenterParams of a `recenter` section (hours -> ms)."""
    return RecenterParams(
        dev_enabled=bool(rc.deviation.enabled),
        deviation=float(rc.deviation.pct),
        time_enabled=bool(rc.time.enabled),
        max_age_ms=round(rc.time.hours * HOUR_MS),
        dom_enabled=bool(rc.dominance.enabled),
        dom_share=float(rc.dominance.share),
        dom_window_ms=round(rc.dominance.window_hours * HOUR_MS),
        pd_enabled=bool(rc.pump_dump.enabled),
        pd_pct=float(rc.pump_dump.pct),
        pd_window_ms=round(rc.pump_dump.window_hours * HOUR_MS),
        trail_up=bool(rc.trailing_up.enabled),
        trail_up_limit=float(rc.trailing_up.limit_price),
        trail_down=bool(rc.trailing_down.enabled),
        trail_down_limit=float(rc.trailing_down.limit_price),
    )


def risk_params(rk: RiskConfig) -> RiskParams:
    """Kernel RiskParams of a `risk` section."""
    return RiskParams(
        max_exposure_pct=float(rk.max_exposure_pct),
        max_position=float(rk.max_position),
        kill_switch_dd=float(rk.kill_switch_dd),
        flatten_on_kill=bool(rk.flatten_on_kill),
        stop_loss_equity_pct=float(rk.stop_loss_equity_pct),
        take_profit_equity_pct=float(rk.take_profit_equity_pct),
        stop_price_low=float(rk.stop_price_low),
        stop_price_high=float(rk.stop_price_high),
    )


def make_filters(tick: float, qty_step: float, min_qty: float = 0.0, min_notional: float = 0.0,
                 max_qty: float = 0.0) -> Filters:
    """Kernel Filters from instrument info; 0 = no constraint."""
    values = {"tick": tick, "qty_step": qty_step, "min_qty": min_qty, "max_qty": max_qty,
              "min_notional": min_notional}
    for name, value in values.items():
        if not value >= 0:
            raise ConfigError(f"filter {name} must be >= 0 (got {value})",
                              "take it from the instrument info")
    return Filters(float(tick), float(qty_step), float(min_qty), float(max_qty),
                   float(min_notional))


@dataclass(frozen=True)
class ResolvedParams:
    """The grid/recenter/risk sections after applying a profile (name None = no profile)."""

    name: str | None
    grid: GridConfig
    recenter: RecenterConfig
    risk: RiskConfig

    def kernel(self, leverage: float = 1.0) -> tuple[GridParams, RecenterParams, RiskParams]:
        """The kernel NamedTuples."""
        return (grid_params(self.grid, leverage), recenter_params(self.recenter),
                risk_params(self.risk))

    def to_dict(self) -> dict[str, object]:
        """JSON-able dict (what `gridlab profiles show` prints)."""
        return {"profile": self.name, "grid": self.grid.model_dump(mode="json"),
                "recenter": self.recenter.model_dump(mode="json"),
                "risk": self.risk.model_dump(mode="json")}


def resolve_profile(config: GridlabConfig, name: str | None = None) -> ResolvedParams:
    """Apply profile `name` (default: `config.profile`) onto the config's sections.

    The profile's spacing / target_levels (n_buy = n_sell) / profit_target, then its
    overrides, replace the section values. With no profile the sections are used as they are.
    """
    name = config.profile if name is None else name
    if name is None:
        return ResolvedParams(None, config.grid, config.recenter, config.risk)
    prof = get_profile(config, name)
    merged = []
    for section, model, base, fields in (
        ("grid", GridConfig, config.grid, prof.grid_fields()),
        ("recenter", RecenterConfig, config.recenter, prof.recenter),
        ("risk", RiskConfig, config.risk, prof.risk),
    ):
        try:
            merged.append(model.model_validate(deep_merge(base.model_dump(), fields)))
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(str(p) for p in (section, *e['loc']))}: {e['msg']}"
                               for e in exc.errors())
            raise ConfigError(f"profile {name!r} does not fit this config: {detail}",
                              f"fix profiles.{name} or the named section") from None
    return ResolvedParams(name, *merged)


def validate_profiles(config: GridlabConfig) -> list[str]:
    """Resolve the active profile and every known profile against `config` (ConfigError on
    the first that does not fit); returns warnings (grid fields the active profile replaces)."""
    resolve_profile(config)
    for name in all_profiles(config):
        resolve_profile(config, name)
    return [f"{field} is set but the active profile {config.profile!r} replaces it"
            for field in shadowed_fields(config)]
