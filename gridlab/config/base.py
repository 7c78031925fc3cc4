"""Base class for typed config sections: frozen, unknown fields rejected."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from gridlab.errors import ConfigError

__all__ = ["StrictModel", "config_error_from"]


class StrictModel(BaseModel):
    """Frozen pydantic model that rejects unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True,
                              allow_inf_nan=False)


def config_error_from(exc: ValidationError, source: str) -> ConfigError:
    """Turn a pydantic ValidationError into a one-line-per-field ConfigError."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see README 'Configuration')"
        lines.append(f"{loc}: {msg}")
    return ConfigError(f"invalid config in {source}: " + "; ".join(lines),
                       "fix the named field(s) and run again")
