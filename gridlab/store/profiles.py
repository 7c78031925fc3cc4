"""Versioned strategy profiles in the DuckDB store (table `profiles`, migration 0002)."""

from __future__ import annotations

import json
import time
from typing import Any, NamedTuple

from gridlab.config.strategy import ProfileConfig
from gridlab.errors import StoreError
from gridlab.store.core import Store, load_sql
from gridlab.strategy.profiles import profile_from_dict, profile_to_dict

__all__ = ["ProfileRecord", "list_profiles", "load_profile", "save_profile"]


class ProfileRecord(NamedTuple):
    """One stored profile version."""

    name: str
    version: int
    created_at: int  # epoch ms
    note: str
    params: dict[str, Any]
    n_versions: int


def _params(profile: ProfileConfig) -> dict[str, Any]:
    raw = profile_to_dict(profile)
    raw.pop("name", None)
    raw.pop("note", None)
    return raw


def save_profile(store: Store, profile: ProfileConfig, note: str | None = None) -> int:
    """Store `profile` under its name; returns its version. A new version (latest + 1) is
    written only when the parameters differ from the latest stored ones."""
    if not profile.name:
        raise StoreError("a profile needs a name to be stored", "set ProfileConfig(name=...)")
    params = _params(profile)
    with store.transaction() as con:
        row = con.execute(load_sql("profiles_latest"), [profile.name]).fetchone()
        if row is not None and json.loads(row[1]) == params:
            return int(row[0])
        version = 1 if row is None else int(row[0]) + 1
        con.execute(load_sql("profiles_insert"),
                    [profile.name, version, json.dumps(params, sort_keys=True),
                     int(time.time() * 1000), profile.note if note is None else note])
    return version


def load_profile(store: Store, name: str, version: int | None = None) -> ProfileConfig:
    """The stored profile `name` at `version` (default: the latest)."""
    if version is None:
        latest = store.con.execute(load_sql("profiles_latest"), [name]).fetchone()
        if latest is None:
            known = sorted({r.name for r in list_profiles(store)})
            raise StoreError(f"profile {name!r} is not in the store {store.path}",
                             f"stored profiles: {', '.join(known) or 'none'}; store one "
                             "from a result: gridlab promote NAME --from-run RUN_ID (or "
                             "--from-sweep, --from-walkforward, --from-trial)")
        version = int(latest[0])
    row = store.con.execute(load_sql("profiles_get"), [name, version]).fetchone()
    if row is None:
        versions = [r.version for r in list_profiles(store, all_versions=True) if r.name == name]
        raise StoreError(f"profile {name!r} has no version {version} in the store {store.path}",
                         f"stored versions: {', '.join(map(str, versions)) or 'none'} "
                         "(gridlab promotions list)")
    raw = json.loads(row[1])
    raw.update(name=name, note=row[2])
    return profile_from_dict(raw, f"stored profile {name} v{version}")


def list_profiles(store: Store, all_versions: bool = False) -> list[ProfileRecord]:
    """Stored profiles, by name: the latest version of each, or every version."""
    rows = store.con.execute(load_sql("profiles_list")).fetchall()
    return [ProfileRecord(r[0], int(r[1]), int(r[2]), r[3], json.loads(r[4]), int(r[5]))
            for r in rows if all_versions or r[1] == r[6]]
