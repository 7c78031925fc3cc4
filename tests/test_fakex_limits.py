"""Rate limits, unknown paths and the state file of the local exchange: rolling one-second
windows with Bybit's X-Bapi-Limit* headers, batch weights, HTTP 404 with a Bybit-shaped body,
and saving on SIGTERM (through pybit itself and the `gridlab fake-exchange` command)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError

from gridlab.fakex.handle import DEFAULT_API_KEY, DEFAULT_API_SECRET, FakeExchange
from gridlab.fakex.ratelimit import DEFAULT_RATE_LIMITS, RESET_MARGIN_MS, RateLimits

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
Maker = Callable[..., Any]


def item(price: int, link: str) -> dict[str, str]:
    return {"symbol": SYM, "side": "Buy", "orderType": "Limit", "qty": "0.001",
            "price": str(price), "orderLinkId": link}


# ---- rolling windows --------------------------------------------------------------------------

def test_window_rolls_per_millisecond_not_per_calendar_second() -> None:
    rl = RateLimits({"/p": 3})
    for t in (0, 500, 900):
        assert rl.check("k", "/p", now_ms=t).allowed
    over = rl.check("k", "/p", now_ms=999)
    assert not over.allowed and over.headers["X-Bapi-Limit-Status"] == "0"
    assert int(over.headers["X-Bapi-Limit-Reset-Timestamp"]) == 999 + RESET_MARGIN_MS
    assert rl.check("k", "/p", now_ms=1000).allowed  # the print at 0 left the window
    assert not rl.check("k", "/p", now_ms=1001).allowed  # a calendar-second window would allow
    late = rl.check("k", "/p", now_ms=1450)
    assert not late.allowed and int(late.headers["X-Bapi-Limit-Reset-Timestamp"]) == 1550
    assert rl.check("k", "/p", now_ms=1500).allowed
    assert rl.check("other-key", "/p", now_ms=1500).allowed  # per key
    assert rl.check("k", "/unlimited", now_ms=1500).headers == {}


def test_batch_weighs_its_items_and_the_overflow_gets_10006_per_item() -> None:
    rl = RateLimits({"/b": 10})
    v = rl.check("k", "/b", weight=8, now_ms=0)
    assert (v.granted, v.headers["X-Bapi-Limit-Status"]) == (8, "2")
    v = rl.check("k", "/b", weight=5, now_ms=10)
    assert v.allowed and v.granted == 2 and v.headers["X-Bapi-Limit-Status"] == "0"
    v = rl.check("k", "/b", weight=1, now_ms=20)
    assert not v.allowed and int(v.headers["X-Bapi-Limit-Reset-Timestamp"]) == 1000


def test_pybit_sees_the_headers_and_10006(fake_exchange_factory: Maker,
                                          pybit_http: Maker) -> None:
    fx = fake_exchange_factory(rate_limits={"/v5/order/realtime": 3})
    # pybit takes an empty retry_codes for its defaults: {-1} means "retry nothing"
    s = pybit_http(fx, return_response_headers=True, retry_codes={-1})
    statuses = []
    for _ in range(3):
        t0 = int(time.time() * 1000)
        _, _, headers = s.get_open_orders(category="linear", symbol=SYM)
        statuses.append(headers["X-Bapi-Limit-Status"])
        assert headers["X-Bapi-Limit"] == "3"
        assert abs(int(headers["X-Bapi-Limit-Reset-Timestamp"]) - t0) < 1000  # "now"
    assert statuses == ["2", "1", "0"]
    with pytest.raises(InvalidRequestError) as exc:
        s.get_open_orders(category="linear", symbol=SYM)
    assert exc.value.status_code == 10006
    waiting = pybit_http(fx, max_retries=3)  # pybit sleeps until the reset time, then passes
    assert waiting.get_open_orders(category="linear", symbol=SYM)["retCode"] == 0


def test_batches_count_orders_and_have_their_own_window(fake_exchange_factory: Maker,
                                                        pybit_http: Maker) -> None:
    fx = fake_exchange_factory(rate_limits={"/v5/order/create-batch": 10,
                                            "/v5/order/create": 10})
    s = pybit_http(fx, retry_codes={-1})
    body = s.place_batch_order(category="linear", request=[
        item(50000 + i, f"w{i}") for i in range(8)])
    assert {e["code"] for e in body["retExtInfo"]["list"]} == {0}
    body = s.place_batch_order(category="linear", request=[
        item(51000 + i, f"x{i}") for i in range(5)])
    assert [e["code"] for e in body["retExtInfo"]["list"]] == [0, 0, 10006, 10006, 10006]
    assert [bool(r["orderId"]) for r in body["result"]["list"]] == [True] * 2 + [False] * 3
    with pytest.raises(InvalidRequestError) as exc:
        s.place_batch_order(category="linear", request=[item(52000, "y")])
    assert exc.value.status_code == 10006
    s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Limit", qty="0.001",
                  price="53000", orderLinkId="single")  # the single-order window is separate
    assert len(fx.engine.open[fx.api_key]) == 11


def test_default_limits_cover_every_order_endpoint_per_category() -> None:
    for path in ("/v5/order/create", "/v5/order/amend", "/v5/order/cancel",
                 "/v5/order/create-batch", "/v5/order/amend-batch", "/v5/order/cancel-batch"):
        assert DEFAULT_RATE_LIMITS[path] == {"linear": 10, "spot": 20}
    rl = RateLimits(DEFAULT_RATE_LIMITS)
    assert all(rl.check("k", "/v5/order/create", now_ms=0, category="linear").allowed
               for _ in range(10))
    assert not rl.check("k", "/v5/order/create", now_ms=0, category="linear").allowed
    spot = [rl.check("k", "/v5/order/create", now_ms=0, category="spot") for _ in range(21)]
    assert [v.allowed for v in spot] == [True] * 20 + [False]  # its own window, 20/s
    assert spot[0].headers["X-Bapi-Limit"] == "20"


# ---- unknown paths ----------------------------------------------------------------------------

def test_unknown_path_is_a_bybit_shaped_404(fake_exchange: FakeExchange,
                                            pybit_http: Maker) -> None:
    fx = fake_exchange
    for method, path in (("GET", "/v5/no/such/path"), ("GET", "/v5/order/create"),
                         ("POST", "/v5/market/tickers"), ("DELETE", "/nothing")):
        r = requests.request(method, fx.url + path, timeout=5)
        assert r.status_code == 404 and r.headers["content-type"] == "application/json"
        body = r.json()
        assert body["retCode"] == 10017 and body["retMsg"] == "Route not found."
    s = pybit_http(fx)
    with pytest.raises(FailedRequestError) as exc:
        s._submit_request(method="GET", path=f"{fx.url}/v5/market/nope", query={}, auth=False)
    assert exc.value.status_code == 404
    assert requests.get(f"{fx.url}/admin/state", timeout=5).status_code == 200  # still served


# ---- state file on SIGTERM --------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(state: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gridlab.cli import main; main()", "fake-exchange",
         "--port", str(port), "--source", "none", "--state", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "local exchange on" in line, line
    return proc


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    return out


def test_sigterm_saves_the_state_and_a_restart_loads_it(tmp_path: Path,
                                                         pybit_http: Maker) -> None:
    state, port = tmp_path / "state.json", _free_port()
    proc = _serve(state, port)
    try:
        s = pybit_http(SimpleNamespace(url=f"http://127.0.0.1:{port}", api_key=DEFAULT_API_KEY,
                                       api_secret=DEFAULT_API_SECRET))
        s.place_order(category="linear", symbol=SYM, side="Buy", orderType="Limit",
                      qty="0.01", price="59000", orderLinkId="survivor")
        out = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "state saved" in out
    saved = json.loads(state.read_text())
    orders = saved["accounts"][0]["orders"].values()
    assert [o["order_link_id"] for o in orders] == ["survivor"]
    proc = _serve(state, port)
    try:
        o = s.get_open_orders(category="linear", symbol=SYM, orderLinkId="survivor")
        assert o["result"]["list"][0]["orderStatus"] == "New"
        _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
