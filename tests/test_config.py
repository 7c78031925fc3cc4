"""The root config.yaml schema: the example loads, errors name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridlab.config import load_config
from gridlab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_example_config_loads_with_and_without_portfolio(tmp_path):
    text = (ROOT / "config.example.yaml").read_text()
    cfg = load_config(ROOT / "config.example.yaml")
    assert cfg.portfolio is None
    assert "Scalper" in cfg.profiles
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") and (line[2:].startswith(("portfolio", "  ")))
        else line for line in text.splitlines()
    )
    path = tmp_path / "config.yaml"
    path.write_text(uncommented)
    cfg = load_config(path)
    assert [s.symbol for s in cfg.portfolio.symbols] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert cfg.portfolio.kill_switch_dd == 0.05


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("trading: {capital: -5}", "trading.capital"),
        ("trading: {symbl: BTCUSDT}", "trading.symbl: unknown field"),
        ("backtest: {fill_model: magic}", "backtest.fill_model"),
        ("trading: [1, 2", "not valid YAML"),
        ("- just a list", "mapping of sections"),
        ("portfolio: {capital: 10, symbols: [{symbol: A1, allocation: 0.7},"
         " {symbol: B1, allocation: 0.7}]}", "allocations add up to 1.4000"),
    ],
)
def test_bad_config_names_the_problem(tmp_path, text, needle):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert needle in str(exc.value)
    assert str(path) in str(exc.value)


def test_missing_config_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match=r"config\.example\.yaml"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "-5"])
def test_capital_must_be_a_finite_positive_number(tmp_path, value):
    path = tmp_path / "config.yaml"
    path.write_text(f"trading: {{capital: {value}}}\n")
    with pytest.raises(ConfigError, match=r"trading\.capital"):
        load_config(path)


def _float_fields():
    """(section, field) of every float field of the root config's sections."""
    from gridlab.config import GridlabConfig

    out = []
    for section, info in GridlabConfig.model_fields.items():
        model = info.annotation
        fields = getattr(model, "model_fields", None)
        if not fields:
            continue
        for name, f in fields.items():
            if f.annotation in (float, float | None):
                out.append((section, name))
    return out


@pytest.mark.parametrize(("section", "field"), _float_fields())
def test_every_float_field_refuses_inf_and_nan(section, field):
    from gridlab.config import config_from_dict

    for bad in (float("inf"), float("nan")):
        with pytest.raises(ConfigError, match=rf"{section}\.{field}"):
            config_from_dict({section: {field: bad}})
