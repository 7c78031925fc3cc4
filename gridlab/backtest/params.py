"""Config + profile + overrides -> the effective config and the kernel NamedTuples of a run.

Override keys are config paths (`grid.spacing`, `recenter.deviation.pct`, `trading.capital`,
`backtest.latency_ms`) or any unambiguous suffix of one (`spacing`, `n_buy`, `capital`,
`fill_model`, `deviation.pct`); among several matches the shortest path wins if it is unique
(`mode` = `grid.mode`). `target_levels` sets `grid.n_buy` and `grid.n_sell`. Overrides are
applied after the profile, so they win.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel

from gridlab.backtest.enums import EngineParams, MarginMode, fill_model_code, margin_mode_code
from gridlab.backtest.state_nb import check_capacity
from gridlab.config import GridlabConfig, config_from_dict, load_config
from gridlab.config.strategy import deep_merge
from gridlab.errors import ConfigError, DataError, StrategyError
from gridlab.strategy.enums import (
    SLOT_DTYPE,
    Filters,
    GridParams,
    RecenterParams,
    RiskParams,
    Status,
    name_of,
)

__all__ = [
    "OVERRIDE_SECTIONS",
    "PlanCache",
    "RunParams",
    "check_grid",
    "coerce_config",
    "effective_config",
    "engine_params",
    "margin_tiers",
    "override_paths",
    "resolve_key",
    "run_params",
]

OVERRIDE_SECTIONS = ("trading", "grid", "recenter", "risk", "backtest")


class RunParams(NamedTuple):
    """The kernel inputs of one run (filters come from the market data)."""

    gp: GridParams
    f: Filters
    rp: RecenterParams
    rk: RiskParams
    ep: EngineParams


def coerce_config(config: GridlabConfig | dict[str, Any] | str | Path | None) -> GridlabConfig:
    """A GridlabConfig from a config object, a dict, a YAML path, or None (defaults)."""
    if config is None:
        return GridlabConfig()
    if isinstance(config, GridlabConfig):
        return config
    if isinstance(config, dict):
        return config_from_dict(config)
    if isinstance(config, str | Path):
        return load_config(config)
    raise ConfigError(f"config must be a GridlabConfig, dict or path (got {type(config).__name__})",
                      "pass load_config('config.yaml') or None for the defaults")


def _leaves(model: type[BaseModel], prefix: str) -> list[str]:
    out = []
    for name, fld in model.model_fields.items():
        ann = fld.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_leaves(ann, f"{prefix}{name}."))
        else:
            out.append(f"{prefix}{name}")
    return out


def _section_model(sec: str) -> type[BaseModel]:
    ann = GridlabConfig.model_fields[sec].annotation
    assert isinstance(ann, type) and issubclass(ann, BaseModel)
    return ann


@functools.cache
def _override_paths() -> tuple[str, ...]:
    return tuple(p for sec in OVERRIDE_SECTIONS for p in _leaves(_section_model(sec), f"{sec}."))


def override_paths() -> list[str]:
    """Every config path an override may set (the schema's leaves: computed once)."""
    return list(_override_paths())


@functools.lru_cache(maxsize=4096)
def resolve_key(key: str) -> str:
    """Full config path of an override key (see the module docstring)."""
    paths = _override_paths()
    if key in paths:
        return key
    parts = key.split(".")
    hits = [p for p in paths if p.split(".")[-len(parts):] == parts]
    if not hits:
        raise ConfigError(f"unknown parameter {key!r}",
                          "use a config path such as grid.spacing, recenter.deviation.pct, "
                          "risk.kill_switch_dd, trading.capital, backtest.latency_ms")
    shortest = min(len(h.split(".")) for h in hits)
    best = [h for h in hits if len(h.split(".")) == shortest]
    if len(best) > 1:
        raise ConfigError(f"parameter {key!r} is ambiguous: {', '.join(best)}",
                          "write the full path")
    return best[0]


def _nested(path: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cur = out
    parts = path.split(".")
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value.item() if isinstance(value, np.generic) else value
    return out


def _override_leaves(key: str, value: Any) -> list[tuple[str, Any]]:
    """The (config path, value) pairs one override sets."""
    if key == "profile":
        raise ConfigError("profile cannot be an override", "pass profile= to the call")
    if key == "target_levels":
        return [("grid.n_buy", int(value)), ("grid.n_sell", int(value))]
    return [(resolve_key(key), value.item() if isinstance(value, np.generic) else value)]


def _override_part(key: str, value: Any) -> dict[str, Any]:
    """The nested dict one override merges into the config dump."""
    out: dict[str, Any] = {}
    for path, v in _override_leaves(key, value):
        out = deep_merge(out, _nested(path, v))
    return out


def _raw_config(cfg: GridlabConfig, profile: str | None) -> dict[str, Any]:
    """The dump of `cfg` with `profile` applied that overrides merge into."""
    from gridlab.strategy.params import resolve_profile

    resolved = resolve_profile(cfg, profile)
    raw = cfg.model_dump(mode="json")
    raw["grid"] = resolved.grid.model_dump(mode="json")
    raw["recenter"] = resolved.recenter.model_dump(mode="json")
    raw["risk"] = resolved.risk.model_dump(mode="json")
    raw["profile"] = None
    raw["profiles"] = {}
    return raw


def effective_config(config: Any = None, profile: str | None = None,
                     overrides: dict[str, Any] | None = None) -> GridlabConfig:
    """The config a run really uses: profile applied to grid/recenter/risk, then overrides;
    `profile` is None in the result (its values are in the sections)."""
    cfg = coerce_config(config)
    raw = _raw_config(cfg, profile)
    for key, value in (overrides or {}).items():
        raw = deep_merge(raw, _override_part(key, value))
    out = config_from_dict(raw, "<backtest parameters>")
    return out.model_copy(update={"profiles": cfg.profiles})


def _freeze(v: Any) -> Any:
    """A hashable key of an override value, equal for two values only if validation cannot
    tell them apart (type and repr of each scalar: 1, 1.0 and True, 0.0 and -0.0 differ);
    None for a value of another kind (never cached)."""
    if v is None or type(v) in (bool, int, float, str):
        return (type(v).__name__, repr(v))
    if isinstance(v, dict):
        items = tuple((_freeze(k), _freeze(x)) for k, x in v.items())
        return None if any(k is None or x is None for k, x in items) else ("dict", items)
    if isinstance(v, list | tuple):
        elems = tuple(_freeze(x) for x in v)
        return None if any(x is None for x in elems) else (type(v).__name__, elems)
    return None


class PlanCache:
    """`effective_config(base, None, overrides)` and `run_params` of many override sets on one
    base config (a sweep's sets), with each section validated and each kernel NamedTuple
    derived once per distinct value of the overrides that reach it, not once per set.

    A set's touched sections are validated alone (a section's validators see only their
    section) and the config is assembled from section models, which runs the cross-section
    checks; untouched sections are the base's. A set that fails anywhere, or whose values
    cannot be keyed, takes `effective_config` itself, so its error is that function's.
    Keys are the override values themselves (type and repr), so a changed value is a new
    key. Meant for one plan: make a new cache for a new base."""

    def __init__(self, base: GridlabConfig) -> None:
        self.base = base
        self._raw = _raw_config(base, None)
        try:
            first = GridlabConfig.model_validate(self._raw)
            self._fields: dict[str, Any] | None = {
                name: getattr(first, name) for name in GridlabConfig.model_fields}
        except Exception:  # every set then takes effective_config
            self._fields = None
        self._sections: dict[Any, BaseModel] = {}
        self._params: dict[Any, Any] = {}
        self._alive: dict[int, Any] = {}  # objects whose id() is in a key

    def config(self, overrides: dict[str, Any]) -> tuple[GridlabConfig, dict[str, Any] | None]:
        """(effective config, section keys) of one override set; keys None = not cached."""
        try:
            got = self._assemble(overrides)
        except Exception:  # effective_config raises the error a user sees
            got = None
        if got is None:
            return effective_config(self.base, None, overrides), None
        return got

    def _assemble(self, overrides: dict[str, Any]) -> tuple[GridlabConfig, dict[str, Any]] | None:
        if self._fields is None:
            return None
        parts: dict[str, list[tuple[str, Any]]] = {}
        for key, value in overrides.items():
            for path, v in _override_leaves(key, value):
                parts.setdefault(path.partition(".")[0], []).append((path, v))
        fields = dict(self._fields)
        keys: dict[str, Any] = {}
        for sec, leaves in parts.items():
            frozen = tuple((path, _freeze(v)) for path, v in leaves)
            if sec not in OVERRIDE_SECTIONS or any(f is None for _, f in frozen):
                return None
            key = (sec, frozen)
            model = self._sections.get(key)
            if model is None:
                merged = self._raw[sec]
                for path, v in leaves:
                    merged = deep_merge(merged, _nested(path, v)[sec])
                model = _section_model(sec).model_validate(merged)
                self._sections[key] = model
            fields[sec] = model
            keys[sec] = key
        cfg = GridlabConfig.model_validate(fields)
        return cfg.model_copy(update={"profiles": self.base.profiles}), keys

    def _memo(self, key: Any, make: Any) -> Any:
        got = self._params.get(key)
        if got is None:
            got = self._params[key] = make()
        return got

    def run_params(self, cfg: GridlabConfig, keys: dict[str, Any] | None, filters: Filters,
                   category: str, *, trades: bool = True, record: bool = True,
                   tiers: Any = None) -> RunParams:
        """`run_params(cfg, ...)` of a config from `config` (with its keys): each NamedTuple
        is built once per distinct key of the sections it reads, the same object after."""
        if keys is None:
            return run_params(cfg, filters, category, trades=trades, record=record, tiers=tiers)
        from gridlab.strategy.params import grid_params, recenter_params, risk_params

        self._alive[id(tiers)] = tiers
        ctx = (category, bool(trades), bool(record), id(tiers))
        ep = self._memo(("ep", ctx, keys.get("trading"), keys.get("backtest")),
                        lambda: engine_params(cfg, category, trades=trades, record=record,
                                              tiers=tiers))
        lev = float(cfg.trading.leverage)
        gp = self._memo(("gp", keys.get("grid"), repr(lev)), lambda: grid_params(cfg.grid, lev))
        rp = self._memo(("rp", keys.get("recenter")), lambda: recenter_params(cfg.recenter))
        rk = self._memo(("rk", keys.get("risk")), lambda: risk_params(cfg.risk))
        return RunParams(gp, filters, rp, rk, ep)


def margin_tiers(cfg: GridlabConfig, symbol: str, tiers: Any = None) -> Any:
    """The risk-limit tiers (strategy.margin.RiskTiers) a run with `backtest.margin` on uses:
    the shipped snapshot's of `backtest.risk_limits_symbol` when set, else `tiers` (the
    data's: store or snapshot), else the snapshot's of `symbol`; None when margin is off."""
    from gridlab.strategy.margin import snapshot_tiers

    bt = cfg.backtest
    if bt.margin == "off":
        return None
    name = bt.risk_limits_symbol
    if name is None and tiers is not None:
        return tiers
    try:
        return snapshot_tiers(name or symbol)
    except DataError as e:
        raise ConfigError(f"backtest.margin={bt.margin}: {e.args[0]}",
                          "set backtest.risk_limits_symbol to a symbol of the snapshot (e.g. "
                          "BTCUSDT) or run `gridlab ingest risk-limits`") from None


def run_params(cfg: GridlabConfig, filters: Filters, category: str, *, trades: bool = True,
               record: bool = True, tiers: Any = None) -> RunParams:
    """Kernel NamedTuples of an effective config for data of `category`; `tiers`
    (`margin_tiers`) are required when `backtest.margin` is on."""
    from gridlab.strategy.params import grid_params, recenter_params, risk_params

    ep = engine_params(cfg, category, trades=trades, record=record, tiers=tiers)
    return RunParams(grid_params(cfg.grid, float(cfg.trading.leverage)), filters,
                     recenter_params(cfg.recenter), risk_params(cfg.risk), ep)


def engine_params(cfg: GridlabConfig, category: str, *, trades: bool = True,
                  record: bool = True, tiers: Any = None) -> EngineParams:
    """The EngineParams of `run_params` (read from `trading`, `backtest`, `portfolio`)."""
    spot = category == "spot"
    lev = float(cfg.trading.leverage)
    if spot and lev != 1.0:
        raise ConfigError(f"spot cannot use leverage {lev}", "set trading.leverage: 1 for spot")
    bt = cfg.backtest
    if bt.fill_model == "queue" and not trades:
        raise ConfigError("the queue fill model needs trades", "use --source trades or cross")
    maker, taker = bt.fees(category)
    return EngineParams(
        capital=float(cfg.trading.capital),
        spot=spot,
        fill_model=fill_model_code(bt.fill_model),
        latency_ms=int(bt.latency_ms),
        queue_ahead=float(bt.queue_ahead),
        queue_mult=float(bt.queue_ahead_mult),
        maker_fee=float(maker),
        taker_fee=float(taker),
        slippage=float(bt.slippage_bps) * 1e-4,
        post_only=bool(bt.post_only),
        check_ms=int(bt.check_interval_ms),
        equity_ms=int(bt.equity_ms),
        record=bool(record),
        account=cfg.account_equity() if cfg.portfolio is None else float(cfg.trading.capital),
        **_margin_fields(cfg, spot, lev, tiers),
    )


def _margin_fields(cfg: GridlabConfig, spot: bool, lev: float, tiers: Any) -> dict[str, Any]:
    mode = margin_mode_code(cfg.backtest.margin)
    if mode == MarginMode.OFF:  # tiers given (a sweep over margin modes): carried, not read
        return {} if tiers is None else {"tier_limit": tiers.limit, "tier_mmr": tiers.mmr,
                                         "tier_mmd": tiers.mmd}
    if spot:
        raise ConfigError(f"backtest.margin={cfg.backtest.margin} is for futures (the data is "
                          "spot)", "set backtest.margin: off for spot")
    if tiers is None:
        raise ConfigError(f"backtest.margin={cfg.backtest.margin} needs risk-limit tiers",
                          "pass tiers=margin_tiers(cfg, symbol)")
    if lev > float(tiers.max_lev[0]):
        raise ConfigError(f"trading.leverage {lev:g} is above {tiers.symbol}'s maximum "
                          f"{float(tiers.max_lev[0]):g}x (first risk-limit tier)",
                          "lower trading.leverage (Bybit refuses it: 110043)")
    limit, mmr, mmd = (np.ascontiguousarray(a, dtype=np.float64) for a in tiers.arrays)
    return {"margin": mode, "leverage": lev, "tier_limit": limit, "tier_mmr": mmr,
            "tier_mmd": mmd}


def check_grid(rp: RunParams, price: float) -> None:
    """Raise ConfigError if the grid state cannot hold the grid (too many levels), and
    StrategyError if the grid built at `price` has no enabled slot, naming why."""
    from gridlab.strategy.grid_nb import build_slots_nb

    check_capacity(rp.gp.n_buy, rp.gp.n_sell)
    n = rp.gp.n_buy + rp.gp.n_sell
    slots = np.zeros(n, dtype=SLOT_DTYPE)
    build_slots_nb(float(price), rp.gp.spacing, rp.gp, rp.f, rp.ep.capital, slots)
    if np.any(slots["status"] == Status.OK):
        return
    counts: dict[str, int] = {}
    for st in slots["status"]:
        nm = name_of(Status, int(st))
        counts[nm] = counts.get(nm, 0) + 1
    why = ", ".join(f"{k} x{v}" for k, v in counts.items())
    f = rp.f
    raise StrategyError(
        f"no valid grid level at price {price}: every slot is disabled ({why}); "
        f"capital {rp.ep.capital} x leverage {rp.gp.leverage}, spacing {rp.gp.spacing}, "
        f"tick {f.tick}, qty_step {f.qty_step}, min_qty {f.min_qty}, "
        f"min_notional {f.min_notional}",
        "raise capital or leverage, use fewer levels or a wider spacing, or check the range")
