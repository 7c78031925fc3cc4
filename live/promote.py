"""Which profile the runner trades: promotions (research store) and the profile in use.

`gridlab promote PROFILE [--from-run RUN_ID] [--note ...]` stores the profile's version in the
research store (`profiles`) and records a row in `promotions` (what, when, why, from which
backtest). On start the runner takes, in this order: `--profile NAME`; the profile chosen on
the panel (kept in the live store) unless a newer promotion exists; the latest promotion;
else `config.profile`.
"""

from __future__ import annotations

import hashlib
import json
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

__all__ = [
    "ActiveProfile",
    "PromotionResult",
    "PromotionSource",
    "activate_version",
    "admit_profile",
    "choose_profile",
    "params_hash",
    "promote",
    "promote_from",
    "promote_from_run",
    "promote_from_sweep",
    "promote_from_trial",
    "promote_from_walkforward",
    "resolve_named",
]


def params_hash(params: dict[str, Any]) -> str:
    """sha256 (16 hex) of the canonical JSON of grid / recenter / risk parameters."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

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

    @property
    def params_hash(self) -> str:
        """sha256 prefix of the canonical JSON of `params`: equal hashes, equal parameters."""
        return params_hash(self.params)

    def as_state(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "source": self.source,
                "promotion_id": self.promotion_id, "params": self.params,
                "hash": self.params_hash}

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

    Returns the promotion and the backtest run it came from (header + metrics), if any.
    Nothing is created when it fails: a missing store is only created for a profile that the
    config or the built-ins define, with no --from-run."""
    if run_id or not Path(config.data.db_path).exists():
        try:
            get_profile(config, name)
        except ConfigError:
            _require_store(config)
        if run_id:
            _require_store(config)
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


# ---- promotion from results ------------------------------------------------------------

SECTIONS = ("grid", "recenter", "risk")
_SECTION_MODELS = {"grid": GridConfig, "recenter": RecenterConfig, "risk": RiskConfig}
_KEY_METRICS = ("total_return", "max_drawdown", "sharpe", "n_round_trips", "grid_profit", "fees",
                "funding", "final_equity")


@dataclass(frozen=True)
class PromotionSource:
    """A result's effective strategy parameters (grid / recenter / risk) and its lineage."""

    kind: str  # run | sweep | walkforward | trial
    id: str
    sections: dict[str, dict[str, Any]]
    lineage: dict[str, Any]
    run_id: str | None = None


@dataclass(frozen=True)
class PromotionResult:
    """What `promote_from` did: the promotion, the version, the previous one and the diff."""

    promotion: Promotion
    version: int
    previous: int | None  # the version it replaced (None: the profile had no stored version)
    created: bool  # False when the parameters equal the latest stored version's
    diff: list[str]
    source: PromotionSource | None


def _sections_of(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """grid / recenter / risk of an effective config dict, validated and normalised."""
    return {s: _SECTION_MODELS[s].model_validate(config[s]).model_dump(mode="json")
            for s in SECTIONS}


def _with_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    from gridlab.backtest.params import effective_config

    cfg = effective_config(base, None, overrides)
    return cfg.model_dump(mode="json", exclude={"profiles", "data", "exchange"})


def _code(row: dict[str, Any]) -> dict[str, str]:
    return {"version": str(row.get("gridlab_version", "")),
            "commit": str(row.get("git_commit", "")),
            "kernel_hash": str(row.get("kernel_hash", ""))}


def _data(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (int(row[k]) if k.endswith("_ms") else str(row[k]))
            for k in ("symbol", "category", "source", "start_ms", "end_ms")}


def _metrics(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m[k] for k in _KEY_METRICS if k in m and m[k] is not None}


def source_from_run(store: Store, run_id: str) -> PromotionSource:
    """The effective parameters of a stored backtest run (id or unique prefix)."""
    from gridlab.store.runs import get_run

    run = get_run(store, run_id)
    return PromotionSource("run", str(run["run_id"]), _sections_of(run["params"]["config"]), {
        "data": _data(run), "fill_model": str(run["fill_model"]),
        "metrics": _metrics(run["metrics"]), "code": _code(run)}, str(run["run_id"]))


def source_from_sweep(store: Store, sweep_id: str, set_id: int | None = None,
                      best: str | None = None) -> PromotionSource:
    """One set of a stored sweep: `set_id`, or the best by `best` ('metric' or 'metric:min')."""
    from gridlab.store.runs import best_sweep_set, get_sweep_set

    if (set_id is None) == (best is None):
        raise ConfigError("promoting from a sweep needs exactly one of --set-id and --best",
                          "e.g. --set-id 3, or --best total_return (--best max_drawdown:min)")
    if best is not None:
        metric, _, way = best.partition(":")
        if way not in ("", "max", "min"):
            raise ConfigError(f"--best {best!r}: the direction must be max or min",
                              "e.g. --best sharpe or --best max_drawdown:min")
        set_id = best_sweep_set(store, sweep_id, metric, maximize=way != "min")
    assert set_id is not None
    row = get_sweep_set(store, sweep_id, set_id)
    cfg = _with_overrides(row["base_params"]["config"], row["set_params"])
    return PromotionSource("sweep", f"{row['sweep_id']}:{set_id}", _sections_of(cfg), {
        "data": _data(row), "fill_model": str(row["fill_model"]),
        "set_params": row["set_params"], "metrics": _metrics(row["metrics"]),
        "code": _code(row), "best": best})


def source_from_walkforward(store: Store, wf_id: str) -> PromotionSource:
    """The set a stored walk-forward chose on its last fold."""
    from gridlab.store.research import get_walkforward

    wf = get_walkforward(store, wf_id)
    last = wf["folds"][-1]
    chosen = {p: last.get(p) for p in wf["param_grid"]}
    if any(v is None for v in chosen.values()):
        raise StoreError(f"the last fold of walk-forward {wf['wf_id']} chose no set"
                         f"{': ' + last['note'] if last.get('note') else ''}",
                         "promote an earlier result (a run, a sweep set) instead")
    cfg = _with_overrides(wf["base_params"]["config"], chosen)
    metric = wf["objective"].split(":")[0]
    return PromotionSource("walkforward", f"{wf['wf_id']}:fold{last['fold']}",
                           _sections_of(cfg), {
        "data": _data(wf), "fill_model": str(wf["fill_model"]), "set_params": chosen,
        "fold": {k: last.get(k) for k in ("fold", "train_start", "train_end", "test_start",
                                           "test_end")},
        "metrics": {f"is_{metric}": last.get(f"is_{metric}"),
                    f"oos_{metric}": last.get(f"oos_{metric}")},
        "code": _code(wf)})


def source_from_trial(store: Store, spec: str) -> PromotionSource:
    """A trial of a stored Optuna study, `STUDY_ID:TRIAL`."""
    from gridlab.store.research import get_trial

    study, sep, number = spec.rpartition(":")
    if not sep or not study or not number.isdigit():
        raise ConfigError(f"--from-trial {spec!r} is not STUDY:N",
                          "e.g. --from-trial 18c4f0a2b1c-1a2b3c4d:17 (study_id:trial number)")
    t = get_trial(store, study, int(number))
    if not t["feasible"]:
        raise StoreError(f"trial {number} of study {t['study_id']} is not a feasible result "
                         f"({t['metrics'].get('state', '')} {t['metrics'].get('note', '')})"
                         .strip(), "promote a COMPLETE, feasible trial")
    cfg = _with_overrides(t["base_params"]["config"], t["params"])
    return PromotionSource("trial", f"{t['study_id']}:{t['trial']}", _sections_of(cfg), {
        "data": _data(t), "fill_model": str(t["fill_model"]), "set_params": t["params"],
        "metrics": _metrics(t["metrics"]), "code": _code(t)})


def profile_holding(name: str, sections: dict[str, dict[str, Any]],
                    note: str = "") -> ProfileConfig:
    """A profile that resolves to exactly `sections` on any config (every field overridden)."""
    g = sections["grid"]
    return ProfileConfig(name=name, grid_spacing=g["spacing"], target_levels=max(1, g["n_buy"]),
                         profit_target=g["profit_target"], note=note, grid=dict(g),
                         recenter=dict(sections["recenter"]), risk=dict(sections["risk"]))


def _resolved_sections(config: GridlabConfig, prof: ProfileConfig) -> dict[str, dict[str, Any]]:
    res = _apply(config, prof)
    return {s: getattr(res, s).model_dump(mode="json") for s in SECTIONS}


def params_diff(old: dict[str, dict[str, Any]] | None,
                new: dict[str, dict[str, Any]]) -> list[str]:
    """'section.field: old -> new' for every changed field (all fields when `old` is None)."""
    lines = []
    for s in SECTIONS:
        for k in sorted(new[s]):
            before = None if old is None else old[s].get(k)
            if old is None or before != new[s][k]:
                lines.append(f"{s}.{k}: {'-' if old is None else before} -> {new[s][k]}")
    return lines


def _require_store(config: GridlabConfig) -> Path:
    path = Path(config.data.db_path)
    if not path.exists():
        raise StoreError(f"the research store {path} does not exist",
                         "pass -c config.yaml (data.db_path) or run from the folder that holds "
                         "it; results are stored there by backtest / sweep / walkforward / "
                         "optimize")
    return path


def _previous(store: Store, config: GridlabConfig, name: str
              ) -> tuple[int | None, dict[str, dict[str, Any]] | None]:
    """Latest stored version of `name` and its sections (else a config / built-in one's)."""
    versions = _versions(store, name)
    if versions:
        latest = max(r.version for r in versions)
        return latest, _resolved_sections(config, load_profile(store, name, latest))
    try:
        return None, _resolved_sections(config, get_profile(config, name))
    except ConfigError:
        return None, None


def promote_from(config: GridlabConfig, name: str, source: PromotionSource, *,
                 note: str = "", wait_s: float = 10.0) -> PromotionResult:
    """Store a version of profile `name` holding exactly `source`'s parameters, promote it
    with its lineage, and return the diff against the profile's previous version."""
    from gridlab.backtest.results import code_version

    path = _require_store(config)
    prof = profile_holding(name, source.sections, note)
    with Store.open(path, wait_s=wait_s) as store:
        prev, old = _previous(store, config, name)
        version = save_profile(store, prof)
        lineage = {**source.lineage, "promoted_by": code_version()}
        params = profile_to_dict(prof)
        params.pop("name", None)
        add_promotion(store, name, version, params, note=note, run_id=source.run_id,
                      source_kind=source.kind, source_id=source.id, lineage=lineage)
        promo = latest_promotion(store)
    assert promo is not None
    return PromotionResult(promo, version, prev, version != prev,
                           params_diff(old, source.sections), source)


def promote_from_run(config: GridlabConfig, name: str, run_id: str,
                     note: str = "") -> PromotionResult:
    """`gridlab promote NAME --from-run RUN_ID`."""
    with Store.open(_require_store(config), read_only=True, wait_s=10.0) as store:
        src = source_from_run(store, run_id)
    return promote_from(config, name, src, note=note)


def promote_from_sweep(config: GridlabConfig, name: str, sweep_id: str, set_id: int | None = None,
                       best: str | None = None, note: str = "") -> PromotionResult:
    """`gridlab promote NAME --from-sweep SWEEP_ID --set-id N | --best METRIC[:min]`."""
    with Store.open(_require_store(config), read_only=True, wait_s=10.0) as store:
        src = source_from_sweep(store, sweep_id, set_id, best)
    return promote_from(config, name, src, note=note)


def promote_from_walkforward(config: GridlabConfig, name: str, wf_id: str,
                             note: str = "") -> PromotionResult:
    """`gridlab promote NAME --from-walkforward ID` (the last fold's chosen set)."""
    with Store.open(_require_store(config), read_only=True, wait_s=10.0) as store:
        src = source_from_walkforward(store, wf_id)
    return promote_from(config, name, src, note=note)


def promote_from_trial(config: GridlabConfig, name: str, spec: str,
                       note: str = "") -> PromotionResult:
    """`gridlab promote NAME --from-trial STUDY:N`."""
    with Store.open(_require_store(config), read_only=True, wait_s=10.0) as store:
        src = source_from_trial(store, spec)
    return promote_from(config, name, src, note=note)


def activate_version(config: GridlabConfig, name: str, version: int, note: str = "",
                     wait_s: float = 10.0) -> PromotionResult:
    """`gridlab promote NAME --version K`: promote an older stored version again (rollback)."""
    with Store.open(_require_store(config), wait_s=wait_s) as store:
        prof = load_profile(store, name, version)  # StoreError naming the versions if absent
        current = latest_promotion(store)
        old = None
        if current is not None and current.profile == name:
            old = _resolved_sections(config, load_profile(store, name, current.version))
        new = _resolved_sections(config, prof)
        params = profile_to_dict(prof)
        params.pop("name", None)
        add_promotion(store, name, version, params, note=note, source_kind="rollback",
                      source_id=f"{name}:v{version}",
                      lineage={"from_promotion": None if current is None else current.id})
        promo = latest_promotion(store)
    assert promo is not None
    return PromotionResult(promo, version, None if current is None else current.version,
                           False, params_diff(old, new), None)


# ---- CLI glue (`gridlab promote`, `gridlab promotions list`) ---------------------------------

def _fmt_ms(ms: Any) -> str:
    from gridlab.backtest.data import fmt_ms

    return fmt_ms(int(ms)) if ms is not None else "-"


def _summary(lineage: dict[str, Any]) -> str:
    d = lineage.get("data") or {}
    parts = []
    if d:
        parts.append(f"{d.get('symbol')} {d.get('category')} {d.get('source')} "
                     f"{_fmt_ms(d.get('start_ms'))} .. {_fmt_ms(d.get('end_ms'))} UTC")
    if lineage.get("fill_model"):
        parts.append(f"fill {lineage['fill_model']}")
    for k, v in (lineage.get("metrics") or {}).items():
        if isinstance(v, int | float):
            is_ratio = any(w in k for w in ("return", "drawdown"))
            parts.append(f"{k} {v:.2%}" if is_ratio else f"{k} {v:.4g}")
    return ", ".join(parts)


def promote_cli(config: GridlabConfig, name: str, *, from_run: str | None = None,
                from_sweep: str | None = None, set_id: int | None = None,
                best: str | None = None, from_walkforward: str | None = None,
                from_trial: str | None = None, version: int | None = None,
                note: str = "") -> list[str]:
    """Run one `gridlab promote` and return its output lines."""
    chosen = [k for k, v in (("--from-run", from_run), ("--from-sweep", from_sweep),
                             ("--from-walkforward", from_walkforward),
                             ("--from-trial", from_trial), ("--version", version))
              if v is not None]
    if len(chosen) > 1:
        raise ConfigError(f"{' and '.join(chosen)} cannot be combined",
                          "promote from one result (or re-activate one version) at a time")
    if (set_id is not None or best is not None) and from_sweep is None:
        raise ConfigError("--set-id / --best go with --from-sweep", "add --from-sweep SWEEP_ID")
    if not chosen:
        promo, _ = promote(config, name, note=note)
        return [f"promoted {promo.profile} v{promo.version} (promotion {promo.id}) in "
                f"{config.data.db_path}"]
    if version is not None:
        res = activate_version(config, name, version, note)
        head = (f"re-activated {name} v{version} (promotion {res.promotion.id}; it replaces "
                f"{'nothing' if res.previous is None else f'v{res.previous}'})")
    else:
        if from_run is not None:
            res = promote_from_run(config, name, from_run, note)
        elif from_sweep is not None:
            res = promote_from_sweep(config, name, from_sweep, set_id, best, note)
        elif from_walkforward is not None:
            res = promote_from_walkforward(config, name, from_walkforward, note)
        else:
            assert from_trial is not None
            res = promote_from_trial(config, name, from_trial, note)
        src = res.source
        assert src is not None
        state = ("a new version" if res.created
                 else "the latest stored version already holds these parameters")
        head = (f"promoted {name} v{res.version} ({state}; promotion {res.promotion.id}) in "
                f"{config.data.db_path}")
        kind = {"run": "backtest", "sweep": "sweep set", "walkforward": "walk-forward",
                "trial": "trial"}[src.kind]
        head += f"\nfrom {kind} {src.id}: {_summary(src.lineage)}"
    base = "the previous version" if res.previous is not None else "the config / built-in"
    lines = [head, f"diff against {base}:" if res.diff else f"no change against {base}"]
    return lines + [f"  {d}" for d in res.diff]


def format_promotions(config: GridlabConfig, limit: int = 20) -> list[str]:
    """Lines of `gridlab promotions list` (newest first)."""
    from gridlab.store.live import list_promotions

    path = _require_store(config)
    with Store.open(path, read_only=True, wait_s=10.0) as store:
        promos = list_promotions(store, limit)
    if not promos:
        return [f"no promotions in {path}"]
    lines = [f"{'id':>4}  {'promoted (UTC)':<19}  {'profile':<16} {'ver':>3}  "
             f"{'source':<12} {'source id':<28}  note"]
    for p in promos:
        kind = p.source_kind or ("run" if p.run_id else "profile")
        sid = p.source_id or (p.run_id or "")
        lines.append(f"{p.id:>4}  {_fmt_ms(p.promoted_at):<19}  {p.profile:<16} "
                     f"{p.version:>3}  {kind:<12} {sid:<28}  {p.note}")
        if p.lineage.get("data"):
            lines.append(f"{'':>6}{_summary(p.lineage)}")
    return lines


# ---- admission on start: can this account trade the chosen parameters? ----------------------

def admit_profile(active: ActiveProfile, instrument: Any, *, capital: float, leverage: float,
                  category: str, price: float | None = None,
                  equity: float | None = None) -> str:
    """Refuse (ConfigError with every reason) parameters the account cannot trade, before any
    order is sent; else log the effective parameters and their hash and return the hash.

    `instrument` is a `gridlab.bybit.parse.Instrument` (filters, max_leverage); `price` (the
    last price) lets the grid be built to check that some level passes the filters; `equity`
    (the account's) must cover the grid's capital. The runner calls it right after
    `choose_profile` and stores `active.as_state()` (which carries the hash).
    """
    from gridlab.strategy.classes import preview_grid
    from gridlab.strategy.params import make_filters

    reasons = []
    if not capital > 0:
        reasons.append(f"the grid's capital is {capital}")
    if equity is not None and capital > equity:
        reasons.append(f"the grid's capital {capital:g} is more than the account's equity "
                       f"{equity:g}")
    if category == "spot" and leverage != 1:
        reasons.append(f"spot cannot use leverage {leverage:g}")
    max_lev = float(getattr(instrument, "max_leverage", 0.0) or 0.0)
    if category != "spot" and max_lev > 0 and leverage > max_lev:
        reasons.append(f"leverage {leverage:g} is above {instrument.symbol}'s maximum "
                       f"{max_lev:g}")
    if price is not None and price > 0 and capital > 0:
        filters = make_filters(instrument.tick_size, instrument.qty_step, instrument.min_qty,
                               instrument.min_notional, instrument.max_qty)
        strat = preview_grid(active.resolved.grid, filters, price, capital, leverage)
        if strat.active_slots() == 0:
            dropped = sorted({v.status_name for v in strat.levels()})
            reasons.append(f"no grid level passes {instrument.symbol}'s filters at {price:g} "
                           f"(tick {instrument.tick_size:g}, qty step {instrument.qty_step:g}, "
                           f"min qty {instrument.min_qty:g}, min notional "
                           f"{instrument.min_notional:g}): {', '.join(dropped)}")
    what = (f"profile {active.name or '(config sections)'}"
            f"{f' v{active.version}' if active.version else ''} ({active.source})")
    if reasons:
        raise ConfigError(f"{what} cannot be traded by this account: " + "; ".join(reasons),
                          "promote parameters that fit (gridlab grid preview shows a grid "
                          "against the filters), or change trading.capital / leverage")
    digest = active.params_hash
    log.info("trading %s: effective parameters hash %s: %s", what, digest,
             json.dumps(active.params, sort_keys=True))
    return digest
