"""Profile registry: the built-in profiles plus the user's, lookup, YAML round trip."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from gridlab.config.base import config_error_from
from gridlab.config.strategy import BUILTIN_PROFILES, ProfileConfig
from gridlab.errors import ConfigError

if TYPE_CHECKING:
    from gridlab.config import GridlabConfig

__all__ = [
    "all_profiles",
    "get_profile",
    "profile_from_dict",
    "profile_from_yaml",
    "profile_source",
    "profile_to_dict",
    "profile_to_yaml",
    "shadowed_fields",
]


def all_profiles(config: GridlabConfig | None = None) -> dict[str, ProfileConfig]:
    """Built-in profiles, then the config's user profiles (a user profile may replace a
    built-in of the same name). Each profile's `name` is its key."""
    out = dict(BUILTIN_PROFILES)
    if config is not None:
        for key, prof in config.profiles.items():
            if prof.name and prof.name != key:
                raise ConfigError(f"profiles.{key}: name {prof.name!r} differs from its key",
                                  "drop the name field or make it equal to the key")
            out[key] = prof.model_copy(update={"name": key})
    return out


def profile_source(config: GridlabConfig | None, name: str) -> str:
    """'user' if the config defines `name`, else 'builtin'."""
    return "user" if config is not None and name in config.profiles else "builtin"


def get_profile(config: GridlabConfig | None, name: str) -> ProfileConfig:
    """The profile called `name`; ConfigError listing the known names if there is none."""
    profiles = all_profiles(config)
    if name not in profiles:
        raise ConfigError(f"profile {name!r} does not exist",
                          f"use one of {', '.join(sorted(profiles))} or add it under profiles:")
    return profiles[name]


def profile_to_dict(profile: ProfileConfig) -> dict[str, Any]:
    """Plain dict of a profile; empty override sections and an empty note are left out."""
    raw = profile.model_dump(mode="json")
    return {k: v for k, v in raw.items() if v not in ({}, "")}


def profile_from_dict(raw: Any, source: str = "<profile>") -> ProfileConfig:
    """Validate a profile mapping; ConfigError naming the field if it is invalid."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a profile must be a mapping", "see docs/config.strategy"
                          ".example.yaml")
    try:
        return ProfileConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error_from(exc, source) from None


def profile_to_yaml(profile: ProfileConfig) -> str:
    """YAML text of one profile (round-trips through `profile_from_yaml`)."""
    import yaml

    return yaml.safe_dump(profile_to_dict(profile), sort_keys=False)


def profile_from_yaml(text: str, source: str = "<yaml>") -> ProfileConfig:
    """Parse and validate one profile from YAML text."""
    import yaml

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}".replace("\n", " "),
                          "fix the YAML syntax at the line shown") from None
    return profile_from_dict(raw, source)


def shadowed_fields(config: GridlabConfig) -> list[str]:
    """Fields set explicitly in `grid` to a value the active profile replaces (worth a warning)."""
    if config.profile is None:
        return []
    owned = get_profile(config, config.profile).grid_fields()
    return [f"grid.{f}" for f in sorted(config.grid.model_fields_set & set(owned))
            if not isinstance(owned[f], dict) and getattr(config.grid, f) != owned[f]]
