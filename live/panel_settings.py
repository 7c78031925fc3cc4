"""The settings page's data: the parameters a grid trades, the profiles it could trade
(promoted versions from the research store, named profiles of the config and built-ins), and
the difference between the running parameters and a chosen one, field by field."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridlab.errors import GridlabError
from live.promote import resolve_named

if TYPE_CHECKING:
    from live.core import TradingCore
    from live.runner import LiveRunner

__all__ = ["flatten", "profile_choices", "profile_diff", "running_params"]


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"grid": {"spacing": 0.004}} -> {"grid.spacing": 0.004} (sorted by key)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return dict(sorted(out.items()))


def running_params(r: LiveRunner, core: TradingCore) -> dict[str, Any]:
    """The active profile of a grid and its effective grid / recenter / risk parameters."""
    a = r.actives[(core.s.category, core.s.symbol)]
    return {"symbol": core.s.symbol, "profile": {"name": a.name, "version": a.version,
                                                 "source": a.source},
            "capital": core.ledger.capital, "leverage": core.s.leverage,
            "params": flatten(a.params)}


def profile_choices(r: LiveRunner) -> dict[str, Any]:
    """Promoted versions (newest first) and the named profiles; `note` says why promotions
    are missing (no research store, or it could not be read)."""
    from gridlab.store.core import Store
    from gridlab.store.live import list_promotions
    from gridlab.strategy.profiles import all_profiles

    named = [{"profile": n, "version": None, "label": f"{n} (current definition)"}
             for n in sorted(all_profiles(r.config))]
    promoted: list[dict[str, Any]] = []
    note = None
    path = Path(r.config.data.db_path)
    if not path.exists():
        note = f"no research store at {path}: nothing promoted yet"
    else:
        try:
            with Store.open(path, read_only=True, wait_s=2.0) as store:
                for p in list_promotions(store, 50):
                    promoted.append({"profile": p.profile, "version": p.version,
                                     "promoted_at": p.promoted_at, "note": p.note,
                                     "run_id": p.run_id, "id": p.id,
                                     "label": f"{p.profile} v{p.version} (promotion {p.id})"})
        except GridlabError as exc:
            note = f"promotions could not be read: {exc}"
    return {"promoted": promoted, "named": named, "note": note}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def profile_diff(r: LiveRunner, core: TradingCore, name: str, version: int | None
                 ) -> dict[str, Any]:
    """Every parameter of the running profile next to the chosen one's (changed first)."""
    chosen = resolve_named(r.config, name, version, source="panel", wait_s=2.0)
    run = running_params(r, core)["params"]
    new = flatten(chosen.params)
    rows = [{"param": k, "running": run.get(k), "chosen": new.get(k),
             "changed": not _same(run.get(k), new.get(k))} for k in sorted(set(run) | set(new))]
    rows.sort(key=lambda x: (not x["changed"], x["param"]))
    return {"symbol": core.s.symbol, "profile": name, "version": chosen.version,
            "n_changed": sum(1 for x in rows if x["changed"]), "rows": rows}
