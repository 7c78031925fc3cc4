"""Which profile the runner trades: promotions (research store) and the profile in use.

`gridlab promote PROFILE [--from-run RUN_ID] [--note ...]` stores the profile's version in the
research store (`profiles`) and records a row in `promotions` (what, when, why, from which
backtest). On start the runner takes, in this order: `--profile NAME`; the profile chosen on
the panel (kept in the live store) unless a newer promotion exists; the latest promotion;
else `config.profile`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridlab.config import GridlabConfig
from gridlab.config.strategy import GridConfig, ProfileConfig, RecenterConfig, RiskConfig
from gridlab.errors import ConfigError, StoreError
from gridlab.store.core import Store
from gridlab.store.live import Promotion, add_promotion, latest_promotion
from gridlab.store.profiles import load_profile, save_profile
from gridlab.strategy.params import ResolvedParams, resolve_profile
from gridlab.strategy.profiles import get_profile, profile_to_dict

__all__ = ["ActiveProfile", "choose_profile", "promote", "resolve_named"]

log = logging.getLogger("gridlab.live")


@dataclass(frozen=True)
class ActiveProfile:
    """The parameters the runner trades and where they came from."""

    name: str | None
    version: int | None
    source: str  # cli | promotion | panel | config | state
    promotion_id: int | None
    resolved: ResolvedParams

    @property
    def params(self) -> dict[str, Any]:
        """grid / recenter / risk sections as plain data (the identity of the parameters)."""
        d = self.resolved.to_dict()
        return {k: d[k] for k in ("grid", "recenter", "risk")}

    def as_state(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "source": self.source,
                "promotion_id": self.promotion_id, "params": self.params}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> ActiveProfile:
        p = d["params"]
        res = ResolvedParams(d.get("name"), GridConfig.model_validate(p["grid"]),
                             RecenterConfig.model_validate(p["recenter"]),
                             RiskConfig.model_validate(p["risk"]))
        return cls(d.get("name"), d.get("version"), d.get("source", "state"),
                   d.get("promotion_id"), res)


def _apply(config: GridlabConfig, prof: ProfileConfig) -> ResolvedParams:
    name = prof.name
    cfg = config.model_copy(update={"profiles": {**config.profiles, name: prof}})
    return resolve_profile(cfg, name)


def _open_research(config: GridlabConfig, wait_s: float) -> Store | None:
    path = Path(config.data.db_path)
    if not path.exists():
        return None
    return Store.open(path, read_only=True, wait_s=wait_s)


def resolve_named(config: GridlabConfig, name: str, version: int | None = None, *,
                  source: str = "cli", wait_s: float = 5.0) -> ActiveProfile:
    """Profile `name` (config / built-in; a stored version from the research store)."""
    if version is None:
        try:
            prof = get_profile(config, name)
            return ActiveProfile(name, None, source, None, _apply(config, prof))
        except ConfigError:
            pass
    store = _open_research(config, wait_s)
    if store is None:
        raise ConfigError(f"profile {name!r} is not in the config nor built in",
                          f"add it under profiles: or store it ({config.data.db_path} "
                          "does not exist)")
    with store:
        prof = load_profile(store, name, version)
        got = version or max(r.version for r in _versions(store, name))
    return ActiveProfile(name, got, source, None, _apply(config, prof))


def _versions(store: Store, name: str) -> list[Any]:
    from gridlab.store.profiles import list_profiles

    return [r for r in list_profiles(store, all_versions=True) if r.name == name]


def choose_profile(config: GridlabConfig, override: str | None,
                   state_profile: dict[str, Any] | None, wait_s: float = 10.0, *,
                   use_promotions: bool = True) -> ActiveProfile:
    """The profile to start with (see the module docstring). `use_promotions=False` (a
    portfolio grid naming its own profile): promotions do not replace `config.profile`."""
    if override:
        return resolve_named(config, override, source="cli", wait_s=wait_s)
    promo: Promotion | None = None
    prof: ProfileConfig | None = None
    try:
        store = _open_research(config, wait_s) if use_promotions else None
    except StoreError as exc:
        log.warning("cannot read promotions (%s); using the stored / configured profile", exc)
        store = None
    if store is not None:
        with store:
            try:
                promo = latest_promotion(store)
                prof = (load_profile(store, promo.profile, promo.version)
                        if promo is not None else None)
            except StoreError as exc:
                log.warning("cannot read promotions: %s", exc)
                promo, prof = None, None
    if state_profile is not None and state_profile.get("source") == "panel" and (
            promo is None or (state_profile.get("promotion_id") or 0) >= promo.id):
        return ActiveProfile.from_state(state_profile)
    if promo is not None and prof is not None:
        return ActiveProfile(promo.profile, promo.version, "promotion", promo.id,
                             _apply(config, prof))
    res = resolve_profile(config)
    return ActiveProfile(res.name, None, "config", None, res)


def promote(config: GridlabConfig, name: str, *, run_id: str | None = None, note: str = "",
            wait_s: float = 10.0) -> tuple[Promotion, dict[str, Any] | None]:
    """Store profile `name`'s current definition as a version and promote it.

    Returns the promotion and the backtest run it came from (header + metrics), if any."""
    with Store.open(config.data.db_path, wait_s=wait_s) as store:
        run = None
        if run_id:
            from gridlab.store.runs import get_run

            run = get_run(store, run_id)
            run_id = str(run["run_id"])
        try:
            prof = get_profile(config, name)
            version = save_profile(store, prof)
        except ConfigError:
            prof = load_profile(store, name)
            version = max(r.version for r in _versions(store, name))
        params = profile_to_dict(prof)
        params.pop("name", None)
        pid = add_promotion(store, name, version, params, note=note, run_id=run_id)
        promo = latest_promotion(store)
    assert promo is not None and promo.id == pid
    return promo, run
