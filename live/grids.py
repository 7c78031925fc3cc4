"""Which grids a runner trades: the one grid of `trading`, or every symbol of `portfolio`.

Each grid gets its capital (portfolio: `allocation x capital`), leverage, configured profile,
an orderLinkId tag and its live_state keys. Tags are deterministic: a single grid keeps
`runner_tag(<store name>)` (as before portfolios existed); a portfolio grid gets
`runner_tag(<store name>/<category>/<symbol>)`, so its orderLinkIds are unique per symbol on
the account and the same after every restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gridlab.config import GridlabConfig
from gridlab.errors import ConfigError
from gridlab.research.live_audit import mirror_dir
from live.core import BARS_KEY, STATE_KEY
from live.ids import runner_tag

__all__ = ["GridSpec", "grid_specs", "live_paths", "store_name"]


@dataclass(frozen=True)
class GridSpec:
    """One grid of a runner."""

    symbol: str
    category: str
    capital: float
    leverage: float
    profile: str | None  # the configured profile (None = the config sections as they are)
    own_profile: bool  # the symbol names its own profile: promotions do not replace it
    tag: str
    state_key: str
    bars_key: str

    @property
    def key(self) -> tuple[str, str]:
        return self.category, self.symbol


def store_name(config: GridlabConfig) -> str:
    """`live.name`, else `<symbol>-<category>` (one grid) or `portfolio`."""
    if config.live.name:
        return config.live.name
    if config.portfolio is not None:
        return "portfolio"
    t = config.trading
    return f"{t.symbol.lower()}-{t.category}"


def live_paths(config: GridlabConfig) -> tuple[str, Path, Path]:
    """(name, live DuckDB file, Parquet mirror folder) of a config's runner."""
    name = store_name(config)
    mirror = mirror_dir(config, name)
    return name, mirror.with_name(f"{name}.duckdb"), mirror


def grid_specs(config: GridlabConfig, name: str) -> list[GridSpec]:
    """The grids of a config's runner, in config order."""
    pf = config.portfolio
    if pf is None:
        t = config.trading
        return [GridSpec(t.symbol, t.category, t.capital,
                         t.leverage if t.category == "linear" else 1.0, config.profile, False,
                         runner_tag(name), STATE_KEY, BARS_KEY)]
    symbols = [s.symbol for s in pf.symbols]
    twice = sorted({s for s in symbols if symbols.count(s) > 1})
    if twice:
        raise ConfigError(f"portfolio.symbols: {', '.join(twice)} appear in two categories",
                          "the live runner trades one grid per symbol; run a second runner "
                          "(another live.name) for the other category")
    out = []
    for s in pf.symbols:
        ident = f"{s.category}/{s.symbol}"
        out.append(GridSpec(
            s.symbol, s.category, s.allocation * pf.capital,
            s.leverage if s.category == "linear" else 1.0,
            s.profile or pf.profile or config.profile, s.profile is not None,
            runner_tag(f"{name}/{ident}"), f"{STATE_KEY}/{ident}", f"{BARS_KEY}/{ident}"))
    tags = [g.tag for g in out]
    if len(set(tags)) != len(tags):
        raise ConfigError("two grids of the portfolio got the same orderLinkId tag",
                          "set another live.name (the tags are hashes of it and the symbol)")
    return out
