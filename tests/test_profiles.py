"""Config sections, the profile system (YAML and DuckDB round trips) and the CLI commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gridlab.cli import app
from gridlab.config import config_from_dict, load_config
from gridlab.config.strategy import BUILTIN_PROFILES, GridConfig, ProfileConfig
from gridlab.errors import ConfigError, StoreError
from gridlab.store.core import Store
from gridlab.store.profiles import list_profiles, load_profile, save_profile
from gridlab.strategy.enums import AtrMode, Mode, SpacingMode
from gridlab.strategy.params import (
    grid_params,
    recenter_params,
    resolve_profile,
    risk_params,
    validate_profiles,
)
from gridlab.strategy.profiles import (
    all_profiles,
    get_profile,
    profile_from_yaml,
    profile_to_yaml,
    shadowed_fields,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "config.strategy.example.yaml"


@st.composite
def profiles(draw: st.DrawFn) -> ProfileConfig:
    grid = draw(st.fixed_dictionaries({}, optional={
        "n_sell": st.integers(0, 50), "mode": st.sampled_from(["neutral", "long", "short"]),
        "atr": st.fixed_dictionaries({}, optional={"mode": st.sampled_from(["simple", "wilder"]),
                                                   "mult": st.floats(0.1, 10)}),
    }))
    recenter = draw(st.fixed_dictionaries({}, optional={
        "time": st.fixed_dictionaries({"hours": st.floats(0.5, 100)}),
        "trailing_up": st.fixed_dictionaries({"enabled": st.booleans()}),
    }))
    risk = draw(st.fixed_dictionaries({}, optional={"kill_switch_dd": st.floats(0, 0.5)}))
    return ProfileConfig(name=draw(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True)),
                         grid_spacing=draw(st.floats(1e-4, 0.49)),
                         target_levels=draw(st.integers(1, 100)),
                         profit_target=draw(st.floats(0, 0.1)),
                         note=draw(st.text(max_size=20)), grid=grid, recenter=recenter, risk=risk)


@settings(max_examples=60, deadline=None)
@given(prof=profiles())
def test_profile_yaml_round_trip(prof: ProfileConfig) -> None:
    assert profile_from_yaml(profile_to_yaml(prof)) == prof


@settings(max_examples=25, deadline=None)
@given(prof=profiles())
def test_profile_duckdb_round_trip(prof: ProfileConfig) -> None:
    with Store.open(":memory:") as store:
        v = save_profile(store, prof)
        assert v == 1 and save_profile(store, prof) == 1  # unchanged params: same version
        assert load_profile(store, prof.name) == prof


def test_profile_versions(tmp_path: Path) -> None:
    db = tmp_path / "p.duckdb"
    normal = BUILTIN_PROFILES["Normal"]
    wider = normal.model_copy(update={"grid_spacing": 0.003})
    with Store.open(db) as store:
        assert save_profile(store, normal) == 1
        assert save_profile(store, wider, note="wider") == 2
        assert save_profile(store, wider) == 2
        assert save_profile(store, normal) == 3
    with Store.open(db) as store:
        assert load_profile(store, "Normal", 2).grid_spacing == 0.003
        assert load_profile(store, "Normal", 2).note == "wider"
        assert load_profile(store, "Normal") == normal
        rows = list_profiles(store)
        assert [(r.name, r.version, r.n_versions) for r in rows] == [("Normal", 3, 3)]
        assert [r.version for r in list_profiles(store, all_versions=True)] == [1, 2, 3]
        with pytest.raises(StoreError, match="no version 9"):
            load_profile(store, "Normal", 9)
        with pytest.raises(StoreError, match="'Nope' is not in the store"):
            load_profile(store, "Nope")


def test_builtin_profiles_and_resolution() -> None:
    cfg = config_from_dict({})
    assert {n: (p.grid_spacing, p.target_levels, p.profit_target)
            for n, p in all_profiles(cfg).items()} == {
        "Conservative": (0.0035, 5, 0.0030), "Normal": (0.0025, 6, 0.0020),
        "Aggressive": (0.0015, 8, 0.0015)}
    r = resolve_profile(cfg, "Aggressive")
    assert (r.grid.spacing, r.grid.n_buy, r.grid.n_sell, r.grid.profit_target) == (
        0.0015, 8, 8, 0.0015)
    assert resolve_profile(config_from_dict({"profile": None, "grid": {"spacing": 0.01}})
                           ).grid.spacing == 0.01


def test_example_config_and_user_profile() -> None:
    cfg = load_config(EXAMPLE)
    r = resolve_profile(cfg, "Scalper")
    assert (r.grid.spacing, r.grid.n_buy, r.grid.n_sell) == (0.001, 10, 8)
    assert r.grid.atr.mode == "wilder" and r.grid.atr.mult == 3.0 and r.grid.atr.period == 14
    assert r.recenter.time.hours == 6 and r.recenter.deviation.pct == 0.02
    assert r.risk.kill_switch_dd == 0.03
    gp, rp, rk = r.kernel(leverage=2.0)
    assert gp.leverage == 2.0 and gp.atr_mode == AtrMode.WILDER and rp.max_age_ms == 6 * 3_600_000
    assert rk.kill_switch_dd == 0.03
    assert shadowed_fields(cfg) == [] and validate_profiles(cfg) == []
    cfg2 = config_from_dict({"grid": {"spacing": 0.01}})
    assert shadowed_fields(cfg2) == ["grid.spacing"]
    assert validate_profiles(cfg2) == ["grid.spacing is set but the active profile 'Normal' "
                                       "replaces it"]


def test_kernel_params_conversion() -> None:
    gp = grid_params(GridConfig(spacing_mode="geometric", mode="short", lower=10, upper=20))
    assert (gp.spacing_mode, gp.mode, gp.lower, gp.upper, gp.bar_ms) == (
        SpacingMode.GEOMETRIC, Mode.SHORT, 10.0, 20.0, 60_000)
    cfg = config_from_dict({})
    rp, rk = recenter_params(cfg.recenter), risk_params(cfg.risk)
    assert (rp.deviation, rp.max_age_ms, rp.dom_share, rp.dom_window_ms) == (
        0.02, 86_400_000, 0.8, 36_000_000)
    assert (rp.pd_pct, rp.pd_window_ms, rp.trail_up, rp.trail_down) == (
        0.05, 3_600_000, False, False)
    assert rk.kill_switch_dd == 0.05 and rk.max_exposure_pct == 1.0


@pytest.mark.parametrize(("raw", "message"), [
    ({"grid": {"spacing": 0.7}}, "grid.spacing: must be > 0 and < 0.5 (got 0.7)"),
    ({"grid": {"n_buy": -1}}, "grid.n_buy: must be >= 0 and <= 500 (got -1)"),
    ({"grid": {"atr": {"floor": 0.05, "ceil": 0.01}}}, "grid.atr: floor (0.05) must be <= ceil"),
    ({"recenter": {"dominance": {"share": 0.2}}}, "recenter.dominance.share: must be > 0.5"),
    ({"risk": {"kill_switch_dd": 2}}, "risk.kill_switch_dd: must be >= 0 and < 1 (got 2)"),
    ({"profiles": {"X": {"grid_spacing": 0, "target_levels": 5, "profit_target": 0.001}}},
     "profiles.X.grid_spacing: must be > 0 and < 0.5 (got 0)"),
    ({"profiles": {"X": {"grid_spacing": 0.01, "target_levels": 5, "profit_target": 0.001,
                         "grid": {"n_sel": 3}}}}, "profiles.X: grid.n_sel: unknown field"),
    ({"profiles": {"X": {"grid_spacing": 0.01, "target_levels": 5, "profit_target": 0.001,
                         "risk": {"max_exposure_pct": 0}}}},
     "profiles.X: risk.max_exposure_pct: must be > 0 and <= 100 (got 0)"),
    ({"profiles": {"X": {"grid_spacing": 0.01, "target_levels": 5}}},
     "profiles.X.profit_target: Field required"),
])
def test_bad_config_names_the_field(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert message in str(info.value)


def test_bad_profile_lookups() -> None:
    with pytest.raises(ConfigError, match=r"profile 'Nope' does not exist.*Aggressive"):
        resolve_profile(config_from_dict({"profile": "Nope"}))
    with pytest.raises(ConfigError, match=r"profiles\.A: name 'B' differs"):
        get_profile(config_from_dict({"profiles": {"A": {
            "name": "B", "grid_spacing": 0.01, "target_levels": 5, "profit_target": 0.0}}}), "A")
    # fits the defaults but not this config's range
    cfg = config_from_dict({"grid": {"lower": 100, "upper": 200}, "profiles": {"R": {
        "grid_spacing": 0.01, "target_levels": 5, "profit_target": 0.0, "grid": {"upper": 50}}}})
    with pytest.raises(ConfigError, match=r"profile 'R' does not fit.*grid: lower \(100.0\)"):
        resolve_profile(cfg, "R")
    with pytest.raises(ConfigError, match="not valid YAML"):
        profile_from_yaml("a: [")


# ---- CLI -------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_preview_and_list(tmp_path: Path) -> None:
    res = runner.invoke(app, ["grid", "preview", "--price", "30000", "--profile", "Normal"])
    assert res.exit_code == 0, res.output
    assert "12/12 slots active" in res.output and "BUY @ 29925" in res.output
    res = runner.invoke(app, ["grid", "preview", "--price", "30000", "--profile", "Aggressive",
                              "--capital", "400", "--min-notional", "30"])
    assert res.exit_code == 0 and "DROPPED DROP_MIN_NOTIONAL" in res.output
    res = runner.invoke(app, ["profiles", "list", "--config", str(EXAMPLE)])
    assert res.exit_code == 0 and "Scalper" in res.output and "* Normal" in res.output
    res = runner.invoke(app, ["profiles", "show", "Scalper", "--config", str(EXAMPLE)])
    shown = yaml.safe_load(res.output)
    assert shown["resolved"]["grid"]["n_sell"] == 8 and shown["definition"]["target_levels"] == 10


def test_cli_validate(tmp_path: Path) -> None:
    res = runner.invoke(app, ["profiles", "validate", str(EXAMPLE)])
    assert res.exit_code == 0 and "ok:" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("profiles:\n  X: {grid_spacing: 0.9, target_levels: 3, profit_target: 0}\n")
    res = runner.invoke(app, ["profiles", "validate", str(bad)])
    assert res.exit_code != 0
    assert "profiles.X.grid_spacing: must be > 0 and < 0.5 (got 0.9)" in str(res.exception)
    bad.write_text("profile: Nope\n")
    res = runner.invoke(app, ["profiles", "validate", str(bad)])
    assert "profile 'Nope' does not exist" in str(res.exception)
    bad.write_text("grid: {spacing: 0.01}\n")
    res = runner.invoke(app, ["profiles", "validate", str(bad)])
    assert res.exit_code == 0 and "warning: grid.spacing is set" in res.output


def test_missing_stored_profile_hints_at_promote(tmp_store) -> None:
    from gridlab.errors import StoreError
    from gridlab.store.profiles import load_profile, save_profile
    from gridlab.strategy.profiles import get_profile

    with pytest.raises(StoreError, match=r"store one from a result: gridlab promote NAME "
                                         r"--from-run RUN_ID") as err:
        load_profile(tmp_store, "Nope")
    assert "save_profile" not in str(err.value)
    save_profile(tmp_store, get_profile(None, "Normal"))
    with pytest.raises(StoreError, match=r"has no version 7 .*stored versions: 1"):
        load_profile(tmp_store, "Normal", 7)
