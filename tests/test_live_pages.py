"""The panel's pages in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): they
render with data and charts, load nothing from outside 127.0.0.1, and the control buttons work
with the token."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from gridlab.fakex.handle import FakeExchange
from tests.test_live_panel import Panel

pytest_plugins = ["tests.fakex_fixtures"]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test`, which installs Debian's chromium "
                    "(apt-get install chromium fonts-liberation)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def panel(fake_exchange: FakeExchange, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Panel]:
    p = Panel(fake_exchange, tmp_path, "tok-" + secrets.token_hex(8), monkeypatch)
    p.rt.wait(lambda: len(p.runner.store.equity()) > 0, 10, "an equity snapshot")
    yield p
    p.rt.stop()


def _open(browser: object, panel: Panel, path: str) -> tuple[object, list[str], list[str]]:
    page = browser.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: outside.append(r.url)
            if urlparse(r.url).hostname not in ("127.0.0.1", None) else None)
    page.goto(panel.url + path)
    page.wait_for_function("document.getElementById('updated').textContent.startsWith('updated')",
                           timeout=20_000)
    return page, errors, outside


@pytest.mark.parametrize(("path", "selector", "min_rows"), [
    ("/", "#status-table tr", 5), ("/grid", "#slots-table tr", 9),
    ("/positions", "#ledger-table tr", 3), ("/history", "#trades-table tr", 6),
    ("/settings", "#settings-table tr", 4)])
def test_pages_render_with_data(browser: object, panel: Panel, path: str, selector: str,
                                min_rows: int) -> None:
    page, errors, outside = _open(browser, panel, path)
    try:
        assert page.locator(selector).count() >= min_rows
        badge = page.locator("#state").text_content()
        assert badge and badge.startswith("running")
        if path in ("/", "/grid", "/history"):
            assert page.locator(".js-plotly-plot").count() >= 1  # plotly drew a chart
        if path == "/":
            assert page.locator("#equity").text_content() not in ("", "–")
        assert errors == [] and outside == []
        assert panel.token not in page.content()
    finally:
        page.close()


def test_settings_buttons_use_the_token(browser: object, panel: Panel) -> None:
    page, errors, _ = _open(browser, panel, "/settings")
    try:
        page.click("#btn-stop")
        page.wait_for_function("document.getElementById('result').textContent.length > 0")
        assert "HTTP 401" in page.locator("#result").text_content()
        page.fill("#token", panel.token)
        page.click("#btn-stop")
        page.wait_for_function(
            "document.getElementById('result').textContent.startsWith('HTTP 200')")
        page.wait_for_function("document.getElementById('state').textContent === 'paused'")
        assert panel.fx.engine.open[panel.fx.api_key] == {}
        page.click("#btn-start")
        page.wait_for_function("document.getElementById('state').textContent === 'running'",
                               timeout=20_000)
        assert len(panel.fx.engine.open[panel.fx.api_key]) > 0
        assert errors == [] or all("401" in e for e in errors)
    finally:
        page.close()


PF_PRICES = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0}


def test_portfolio_pages_totals_and_symbol_selector(
        browser: object, fake_exchange_factory: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from live.runner import LiveRunner
    from tests.live_helpers import RunnerThread, local_config

    fx = fake_exchange_factory(symbols=tuple(PF_PRICES), price=PF_PRICES)
    monkeypatch.setenv("GRIDLAB_PANEL_TOKEN", "tok-pages")
    pf = {"capital": 3000.0, "symbols": [{"symbol": s, "allocation": 1 / 3} for s in PF_PRICES]}
    cfg = local_config(fx, tmp_path / "live", portfolio=pf,
                       live={"panel": {"enabled": True, "port": 0}, "snapshot_s": 0.2})
    runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
    rt = RunnerThread(runner).start()
    try:
        ts = 1_700_000_040_000
        for move in (0.0, -0.0025, 0.0015):
            ts += 1000
            for sym, p in PF_PRICES.items():
                fx.engine.trade(sym, round(p * (1 + move), 2), ts=ts)
            rt.settle(fx, ts)
        rt.wait(lambda: len(runner.store.account()) > 0, 10, "an account snapshot")
        panel = SimpleNamespace(url=runner.panel_url, token="tok-pages")
        page, errors, outside = _open(browser, panel, "/")
        try:
            assert page.locator("#grids-table tr").count() == 4  # header + 3 symbols
            assert page.locator("#symbol option").count() == 4  # all + 3 symbols
            assert page.locator("#symbol").input_value() == ""
            assert page.locator("#state").text_content() == "running"
            assert page.locator(".js-plotly-plot").count() >= 1
            assert errors == [] and outside == []
        finally:
            page.close()
        page, errors, outside = _open(browser, panel, "/grid")
        try:  # the grid page shows one grid: the first symbol unless one is chosen
            assert page.locator("#symbol").input_value() == "BTCUSDT"
            assert page.locator("#grid-gen").text_content().startswith("BTCUSDT")
            assert page.locator("#slots-table tr").count() >= 9
            page.select_option("#symbol", "ETHUSDT")
            page.wait_for_url("**/grid?symbol=ETHUSDT")
            page.wait_for_function(
                "document.getElementById('grid-gen').textContent.startsWith('ETHUSDT')")
            assert page.locator("#slots-table tr").count() >= 9
            assert "symbol=ETHUSDT" in page.locator("nav a").first.get_attribute("href")
            assert errors == [] and outside == []
        finally:
            page.close()
    finally:
        rt.stop()
