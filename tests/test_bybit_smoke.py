"""The testnet/demo smoke (`make smoke-testnet`): refuses without keys or on mainnet (exit 2,
no traceback, nothing sent); its steps against the local exchange; a failed step exits 1."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gridlab.bybit.credentials import ENV_KEY, ENV_SECRET
from gridlab.bybit.smoke import main
from gridlab.fakex.handle import FakeExchange

pytest_plugins = ["tests.fakex_fixtures"]

ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_refuses_without_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_SECRET, raising=False)
    code, out, err = run(["--env-file", str(tmp_path / ".env")])
    assert code == 2 and out == ""
    assert ENV_KEY in err and ENV_SECRET in err and "Nothing was sent" in err
    env = {k: v for k, v in os.environ.items() if k not in (ENV_KEY, ENV_SECRET)}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-m", "gridlab.bybit.smoke", "--env-file",
                           str(tmp_path / ".env")], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and ENV_KEY in proc.stderr


def test_refuses_mainnet_and_bad_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY, "k" * 10)
    monkeypatch.setenv(ENV_SECRET, "s" * 10)
    code, _, err = run(["--env", "mainnet"])
    assert code == 2 and "refuses mainnet" in err
    assert run(["--env", "local"])[0] == 2  # needs --endpoint
    assert run(["--bogus"])[0] == 2


def test_steps_against_the_local_exchange(fake_exchange: FakeExchange,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fx = fake_exchange
    monkeypatch.setenv(ENV_KEY, fx.api_key)
    monkeypatch.setenv(ENV_SECRET, fx.api_secret)
    code, out, err = run(["--env", "local", "--endpoint", fx.url])
    assert code == 0, err
    assert "placed     PostOnly buy 0.001 @ 47999.9" in out  # 20 % under the 59 999.9 bid
    assert "read back  status New" in out and "now Cancelled" in out
    assert "equity 100,000.00" in out and "maker 0.0200%" in out and "smoke-testnet OK" in out
    assert fx.api_secret not in out + err
    (order,) = [o for o in fx.engine.accounts[fx.api_key].orders.values()]
    assert order.order_link_id.startswith("glsmoke-") and order.status == "Cancelled"


def test_a_failed_step_exits_1(fake_exchange: FakeExchange,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    fx = fake_exchange
    monkeypatch.setenv(ENV_KEY, fx.api_key)
    monkeypatch.setenv(ENV_SECRET, fx.api_secret)
    fx.faults.reject_orders(count=1, code=110007)
    code, _, err = run(["--env", "local", "--endpoint", fx.url])
    assert code == 1 and "FAILED" in err and "110007" in err
