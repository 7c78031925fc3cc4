"""API keys from the environment or a .env file. The secret never appears in a repr or a log."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from gridlab.errors import ConfigError

__all__ = ["ENV_KEY", "ENV_SECRET", "Credentials", "load_credentials"]

ENV_KEY = "GRIDLAB_BYBIT_API_KEY"
ENV_SECRET = "GRIDLAB_BYBIT_API_SECRET"


@dataclass(frozen=True, slots=True)
class Credentials:
    """An API key pair. `repr`/`str` show a masked key and never the secret."""

    api_key: str
    api_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.api_key or not self.api_secret:
            raise ConfigError("API key and secret must both be non-empty",
                              f"set {ENV_KEY} and {ENV_SECRET} (environment or .env)")

    @property
    def masked_key(self) -> str:
        """The key with all but its first and last 2 characters hidden."""
        k = self.api_key
        return k[:2] + "***" + k[-2:] if len(k) > 6 else "***"

    def __repr__(self) -> str:
        return f"Credentials(api_key={self.masked_key!r}, api_secret='***')"

    __str__ = __repr__


def load_credentials(env_file: str | Path | None = ".env", *,
                     required: bool = False) -> Credentials | None:
    """Keys from GRIDLAB_BYBIT_API_KEY/_SECRET; the process environment wins over `env_file`.

    The .env file is read without modifying os.environ. Returns None when no key is set,
    unless `required`, which raises ConfigError naming the variables to set.
    """
    file_vals: dict[str, str | None] = {}
    if env_file is not None and Path(env_file).is_file():
        file_vals = dict(dotenv_values(env_file))
    key = os.environ.get(ENV_KEY) or file_vals.get(ENV_KEY) or ""
    secret = os.environ.get(ENV_SECRET) or file_vals.get(ENV_SECRET) or ""
    if not key and not secret:
        if required:
            raise ConfigError("no Bybit API key found",
                              f"set {ENV_KEY} and {ENV_SECRET} in the environment or in "
                              f"{env_file or '.env'}")
        return None
    if not key or not secret:
        missing = ENV_KEY if not key else ENV_SECRET
        raise ConfigError(f"{missing} is not set while its pair is",
                          f"set both {ENV_KEY} and {ENV_SECRET}")
    return Credentials(key.strip(), secret.strip())
