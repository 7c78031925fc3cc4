"""Config sections `grid`, `recenter`, `risk` and the profile system. Owned by gridlab.strategy.

All fractions are fractions (0.0025 = 0.25 %); prices are absolute; 0 means "off" for the
optional limits. A value outside its range fails with the field and the allowed range, e.g.
`grid.spacing: must be > 0 and < 0.5 (got 0.7)`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gridlab.config.base import StrictModel

__all__ = [
    "BUILTIN_PROFILES",
    "AtrConfig",
    "DeviationTrigger",
    "DominanceTrigger",
    "GridConfig",
    "ProfileConfig",
    "PumpDumpTrigger",
    "RecenterConfig",
    "RiskConfig",
    "TimeTrigger",
    "TrailTrigger",
    "deep_merge",
]

_BOUND_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_OPS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


class _Section(StrictModel):
    """StrictModel whose range errors say the whole allowed range of the field."""

    @field_validator("*", mode="wrap")
    @classmethod
    def _range_message(cls, value: Any, handler: ValidatorFunctionWrapHandler,
                       info: ValidationInfo) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            field = cls.model_fields.get(info.field_name or "")
            types = {e["type"] for e in exc.errors()}
            if field is None or not types or not types <= _BOUND_ERRORS:
                raise
            parts = [f"{op} {getattr(m, attr)}" for m in field.metadata
                     for attr, op in _OPS if getattr(m, attr, None) is not None]
            raise PydanticCustomError(
                "out_of_range", "must be {allowed} (got {got})",
                {"allowed": " and ".join(parts), "got": value}) from None


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise PydanticCustomError("invalid_combination", msg)


# ---- grid ------------------------------------------------------------------------------

class AtrConfig(_Section):
    """Volatility-adjusted spacing: clip(ATR / price * mult, floor, ceil) when mode != off."""

    mode: Literal["off", "simple", "wilder"] = Field(
        "off", description="off | simple (mean |close-to-close| change, the seed's) | wilder")
    period: int = Field(14, ge=2, le=1000, description="ATR period in bars")
    mult: float = Field(2.0, gt=0, le=100, description="multiplier of ATR / price")
    floor: float = Field(0.001, gt=0, lt=0.5, description="smallest spacing (fraction)")
    ceil: float = Field(0.02, gt=0, lt=0.5, description="largest spacing (fraction)")
    bar_ms: int = Field(60_000, ge=1_000, le=86_400_000,
                        description="bar length in ms of the bar ring (ATR, dominance, pump/dump)")

    @model_validator(mode="after")
    def _floor_le_ceil(self) -> AtrConfig:
        _check(self.floor <= self.ceil, f"floor ({self.floor}) must be <= ceil ({self.ceil})")
        return self


class GridConfig(_Section):
    """Grid shape. `n_buy` slots below the centre, `n_sell` above (n_buy + n_sell + 1 levels)."""

    spacing: float = Field(0.0025, gt=0, lt=0.5, description="distance between levels (fraction)")
    spacing_mode: Literal["arithmetic", "geometric"] = Field(
        "arithmetic", description="arithmetic: centre*(1 ± s*i); geometric: centre*(1+s)**±i")
    n_buy: int = Field(6, ge=0, le=500, description="slots below the centre")
    n_sell: int = Field(6, ge=0, le=500, description="slots above the centre")
    lower: float = Field(0.0, ge=0, description="lowest allowed level price; 0 = unbounded")
    upper: float = Field(0.0, ge=0, description="highest allowed level price; 0 = unbounded")
    profit_target: float = Field(
        0.002, ge=0, lt=0.5,
        description="close leg at entry*(1 ± profit_target); 0 = at the slot's other level")
    qty_mode: Literal["equal_quote", "equal_base"] = Field(
        "equal_quote", description="equal_quote: same notional per slot; equal_base: same qty")
    mode: Literal["neutral", "long", "short"] = Field(
        "neutral", description="neutral: buys below, sells above; long/short: seeded inventory")
    atr: AtrConfig = Field(default_factory=AtrConfig)

    @model_validator(mode="after")
    def _shape(self) -> GridConfig:
        _check(self.n_buy + self.n_sell >= 1, "n_buy + n_sell must be >= 1")
        _check(not (self.lower > 0 and self.upper > 0 and self.lower >= self.upper),
               f"lower ({self.lower}) must be < upper ({self.upper})")
        return self


# ---- recenter --------------------------------------------------------------------------

class DeviationTrigger(_Section):
    """Recenter when price leaves the outer levels by more than `pct`."""

    enabled: bool = True
    pct: float = Field(0.02, gt=0, lt=1, description="beyond highest*(1+pct) / lowest*(1-pct)")


class TimeTrigger(_Section):
    """Recenter when the grid is older than `hours`."""

    enabled: bool = True
    hours: float = Field(24.0, gt=0, le=24 * 365, description="maximum grid age in hours")


class DominanceTrigger(_Section):
    """Recenter when `share` of the bars of the last `window_hours` closed on one side."""

    enabled: bool = True
    share: float = Field(0.8, gt=0.5, le=1, description="share of bar closes on one side")
    window_hours: float = Field(10.0, gt=0, le=24 * 30, description="look-back window in hours")


class PumpDumpTrigger(_Section):
    """Recenter when price moved `pct` within `window_hours` (or since the last recenter)."""

    enabled: bool = True
    pct: float = Field(0.05, gt=0, lt=1, description="move as a fraction of the reference open")
    window_hours: float = Field(1.0, gt=0, le=24 * 30, description="look-back window in hours")


class TrailTrigger(_Section):
    """Rebuild the grid when price leaves it on this side (Bybit trailing), up to a limit."""

    enabled: bool = False
    limit_price: float = Field(0.0, ge=0, description="stop trailing beyond this price; 0 = none")


class RecenterConfig(_Section):
    """Recenter triggers; each can be switched off. Defaults are the seed's."""

    deviation: DeviationTrigger = Field(default_factory=DeviationTrigger)
    time: TimeTrigger = Field(default_factory=TimeTrigger)
    dominance: DominanceTrigger = Field(default_factory=DominanceTrigger)
    pump_dump: PumpDumpTrigger = Field(default_factory=PumpDumpTrigger)
    trailing_up: TrailTrigger = Field(default_factory=TrailTrigger)
    trailing_down: TrailTrigger = Field(default_factory=TrailTrigger)


# ---- risk ------------------------------------------------------------------------------

class RiskConfig(_Section):
    """Risk limits. Each numeric limit except max_exposure_pct uses 0 = off."""

    max_exposure_pct: float = Field(
        1.0, gt=0, le=100,
        description="worst-case |position| * price <= this * equity (1.0 = 100 %; "
                    "raise it with leverage)")
    kill_switch_dd: float = Field(
        0.05, ge=0, lt=1, description="daily drawdown from the UTC-day max equity; 0 = off")
    flatten_on_kill: bool = Field(False, description="close the position with a taker order")
    stop_loss_equity_pct: float = Field(
        0.0, ge=0, lt=1, description="stop when equity <= initial*(1 - x); 0 = off")
    take_profit_equity_pct: float = Field(
        0.0, ge=0, le=100, description="stop when equity >= initial*(1 + x); 0 = off")
    stop_price_low: float = Field(0.0, ge=0, description="stop when price <= this; 0 = off")
    stop_price_high: float = Field(0.0, ge=0, description="stop when price >= this; 0 = off")
    max_position: float = Field(0.0, ge=0, description="max |position| in base units; 0 = off")

    @model_validator(mode="after")
    def _prices(self) -> RiskConfig:
        _check(not (self.stop_price_low > 0 and self.stop_price_high > 0
                    and self.stop_price_low >= self.stop_price_high),
               f"stop_price_low ({self.stop_price_low}) must be < stop_price_high "
               f"({self.stop_price_high})")
        return self


# ---- profiles --------------------------------------------------------------------------

def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override` applied; nested dicts merge key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _override_error(section: str, exc: ValidationError) -> PydanticCustomError:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (section, *err["loc"]))
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{loc}: {msg}")
    return PydanticCustomError("bad_override", "{detail}", {"detail": "; ".join(parts)})


class ProfileConfig(_Section):
    """A named parameter set: spacing, levels per side, profit target, plus optional overrides
    of any `grid` / `recenter` / `risk` field (nested mappings, applied last)."""

    name: str = Field("", pattern=r"^$|^[A-Za-z0-9_.-]{1,40}$",
                      description="profile name; in config.yaml the mapping key")
    grid_spacing: float = Field(gt=0, lt=0.5, description="grid.spacing (fraction)")
    target_levels: int = Field(ge=1, le=500, description="grid.n_buy = grid.n_sell")
    profit_target: float = Field(ge=0, lt=0.5, description="grid.profit_target (fraction)")
    note: str = Field("", max_length=500)
    grid: dict[str, Any] = Field(default_factory=dict, description="overrides of grid fields")
    recenter: dict[str, Any] = Field(default_factory=dict,
                                     description="overrides of recenter fields")
    risk: dict[str, Any] = Field(default_factory=dict, description="overrides of risk fields")

    def grid_fields(self) -> dict[str, Any]:
        """The grid fields this profile sets (its own three, then the overrides)."""
        own = {"spacing": self.grid_spacing, "n_buy": self.target_levels,
               "n_sell": self.target_levels, "profit_target": self.profit_target}
        return deep_merge(own, self.grid)

    @model_validator(mode="after")
    def _overrides_valid(self) -> ProfileConfig:
        sections: tuple[tuple[str, type[StrictModel], dict[str, Any]], ...] = (
            ("grid", GridConfig, self.grid_fields()),
            ("recenter", RecenterConfig, self.recenter),
            ("risk", RiskConfig, self.risk),
        )
        for section, model, fields in sections:
            try:
                model.model_validate(deep_merge(model().model_dump(), fields))
            except ValidationError as exc:
                raise _override_error(section, exc) from None
        return self


BUILTIN_PROFILES: dict[str, ProfileConfig] = {
    "Conservative": ProfileConfig(name="Conservative", grid_spacing=0.0035, target_levels=5,
                                  profit_target=0.0030, note="built-in: wide, few levels"),
    "Normal": ProfileConfig(name="Normal", grid_spacing=0.0025, target_levels=6,
                            profit_target=0.0020, note="built-in: the default"),
    "Aggressive": ProfileConfig(name="Aggressive", grid_spacing=0.0015, target_levels=8,
                                profit_target=0.0015, note="built-in: tight, many levels"),
}
"""The seed's three profiles (architecture.md "Profile System")."""
