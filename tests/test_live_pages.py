"""The panel's pages in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): each
renders with data under the panel's Content-Security-Policy, its charts carry the traces a
trader reads (candles, grid levels, working orders, fills, equity), nothing overflows a
1400 px window, nothing loads from outside 127.0.0.1, the control buttons ask first and need
the token. Every page is screenshotted (PNG): into a temporary folder, or into the folder named
by GRIDLAB_PANEL_SHOTS; `GRIDLAB_PANEL_SHOTS=docs/img pytest tests/test_live_pages.py`
refreshes the README's screenshots."""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.test_live_panel import SYM, Panel

pytest_plugins = ["tests.fakex_fixtures"]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
WIDTH = 1400
PAGES = {"/": "dashboard", "/grid": "grid", "/orders": "orders", "/positions": "positions",
         "/history": "history", "/settings": "settings"}
OVERFLOW_JS = """() => ({page: document.documentElement.scrollWidth - window.innerWidth,
  tables: [...document.querySelectorAll('table')].filter(
    (t) => t.offsetParent !== null && t.scrollWidth > t.parentElement.clientWidth + 1)
    .map((t) => t.id)})"""
LIQ_JS = """(id) => document.getElementById(id).data
  .filter((t) => t.name === "liquidation price")[0].y"""
TRACES_JS = """(id) => document.getElementById(id).data.map((t) => ({name: t.name, type: t.type,
  n: (t.x || []).filter((v) => v !== null).length}))"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
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


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Panel]:
    """A runner whose market clock is the wall clock (a few minutes of prints that fill
    orders both ways), with equity snapshots and marks."""
    from tests.fakex_fixtures import make_fake_exchange

    tmp = tmp_path_factory.mktemp("pages")
    fx = make_fake_exchange(tmp)
    mp = pytest.MonkeyPatch()
    t0 = (int(time.time() * 1000) // 60_000 - 5) * 60_000
    p = Panel(fx, tmp, "tok-" + secrets.token_hex(8), mp, t0=t0, snapshot_s=1.0,
              prices=(60_000,))
    try:
        for price in (59_880, 59_750, 59_640, 59_800, 60_010, 60_130, 60_250, 60_090, 59_860):
            p.trade(price, dt=25_000)
            time.sleep(1.0)  # a mark (1 s) between prints: the equity chart shows the path
        p.rt.wait(lambda: len(p.runner.store.equity()) > 1, 10, "equity snapshots")
        yield p
    finally:
        p.rt.stop()
        fx.close()
        mp.undo()


def _open(browser: Any, url: str) -> tuple[Any, list[str], list[str]]:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: outside.append(r.url)
            if urlparse(r.url).hostname not in ("127.0.0.1", None) else None)
    page.goto(url)
    expect(page.locator("#updated")).to_have_text(re.compile("^updated"), timeout=20_000)
    return page, errors, outside


def _exchange_liq(panel: Panel) -> float:
    """The liqPrice of the exchange's position (the runner's latest snapshot of it), > 0."""
    snap = panel.runner.store.positions(1, symbol=SYM).iloc[0]
    assert snap["size"] != 0 and snap["liq_price"] > 0, snap
    fx_pos = panel.fx.engine.positions(panel.fx.api_key, {"category": "linear",
                                                          "symbol": SYM})["list"][0]
    assert float(fx_pos["liqPrice"]) == pytest.approx(float(snap["liq_price"]))
    return float(snap["liq_price"])


def _traces(page: Any, chart: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in page.evaluate(TRACES_JS, chart)}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go (GRIDLAB_PANEL_SHOTS, else a temporary folder)."""
    folder = os.environ.get("GRIDLAB_PANEL_SHOTS")
    return Path(folder) if folder else tmp_path_factory.mktemp("shots")


def _shot(page: Any, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    height = min(1600, int(page.evaluate("document.documentElement.scrollHeight")))
    out = folder / f"panel-{name}.png"
    page.screenshot(path=str(out), full_page=True,
                    clip={"x": 0, "y": 0, "width": WIDTH, "height": height})
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("path", list(PAGES))
def test_page_renders_charts_and_fits_1400px(browser: Any, panel: Panel, shots: Path,
                                             path: str) -> None:
    page, errors, outside = _open(browser, panel.url + path)
    try:
        assert page.locator("#state").text_content() == "running"
        assert page.locator("#clock").text_content().startswith("market 20")
        assert page.locator("#clock-note").is_hidden()  # the market clock is the wall clock
        body = page.locator("main").inner_text()
        assert not re.search(r"\b1[6-9]\d{11}\b", body), "an epoch-ms time is shown"
        assert "{" not in body, "raw JSON is shown"
        if path == "/":
            assert page.locator("#equity").text_content() not in ("", "–")
            for card in ("grid-profit", "unrealized", "fees", "funding", "runtime",
                         "round-trips", "errors"):
                assert page.locator(f"#{card}").text_content() not in ("", "–"), card
            eq = _traces(page, "equity-chart")
            assert eq["strategy equity"]["n"] >= 9 and eq["price"]["n"] >= 9
            assert page.locator("#daily-table tr").count() >= 2
            # the exchange position's liquidation price, as the exchange reports it
            liq = _exchange_liq(panel)
            shown = page.locator("#liq-price").text_content() or ""
            assert float(shown.replace(",", "")) == pytest.approx(liq, abs=0.01), shown
        if path in ("/grid", "/history"):
            tr = _traces(page, "market-chart" if path == "/grid" else "fills-chart")
            assert tr["price"]["type"] == "candlestick" and tr["price"]["n"] >= 3
            assert tr["buy fills"]["n"] >= 1 and tr["sell fills"]["n"] >= 1
            if path == "/grid":
                assert tr["grid levels"]["n"] == 2 * 9  # 8 slots: 9 levels, a line each
                assert tr["liquidation price"]["n"] == 2  # a line across the chart
                ys = page.evaluate(LIQ_JS, "market-chart")
                assert ys == [pytest.approx(_exchange_liq(panel))] * 2
                assert tr["buy orders"]["n"] + tr["sell orders"]["n"] == len(
                    panel.runner.core.slot_link)
                assert tr["buy orders"]["n"] >= 1 and tr["sell orders"]["n"] >= 1
                assert page.locator("#slots-table .tag.resting").count() >= 6
        if path == "/orders":
            assert page.locator("#orders-table button", has_text="Cancel").count() == len(
                panel.runner.core.slot_link)
        if path == "/settings":
            assert page.locator("#settings-table tr",
                                has_text=re.compile(r"grid\.spacing\s*0\.002$")).count() == 1
            page.select_option("#profile-pick", label="Conservative (current definition)")
            page.locator("#diff-table tr.diff", has_text="grid.spacing").wait_for()
        over = page.evaluate(OVERFLOW_JS)
        assert over == {"page": 0, "tables": []}, over
        assert errors == [] and outside == []
        assert panel.token not in page.content()
        _shot(page, shots, PAGES[path])
    finally:
        page.close()


def test_control_asks_first_says_what_happens_and_needs_the_token(browser: Any,
                                                                panel: Panel) -> None:
    from playwright.sync_api import expect

    fx, core = panel.fx, panel.runner.core
    page, errors, _ = _open(browser, panel.url + "/settings")
    try:
        page.click("#btn-stop")
        dialog = page.locator("#confirm")
        expect(dialog).to_be_visible()
        txt = page.locator("#confirm-text").text_content()
        assert f"cancels its {len(core.slot_link)} working order(s)" in txt
        assert "position stays open" in txt and "not closed" in txt
        page.click("#confirm-no")  # cancelled: nothing happens
        expect(dialog).to_be_hidden()
        assert core.trading and len(fx.engine.open[fx.api_key]) == len(core.slot_link)
        page.click("#btn-stop")
        page.click("#confirm-yes")  # no token
        expect(page.locator("#result")).to_contain_text("HTTP 401")
        assert core.trading
        page.fill("#token", panel.token)
        page.click("#btn-stop")
        page.click("#confirm-yes")
        expect(page.locator("#result")).to_contain_text("HTTP 200")
        expect(page.locator("#state")).to_have_text("paused", timeout=20_000)
        assert fx.engine.open[fx.api_key] == {}
        page.click("#btn-start")
        expect(page.locator("#state")).to_have_text("running", timeout=20_000)
        assert len(fx.engine.open[fx.api_key]) > 0
        page.goto(panel.url + "/positions")
        page.click("#btn-close")
        expect(page.locator("#confirm-text")).to_contain_text("reduce-only market order")
        page.click("#confirm-no")  # cancelled: still trading
        assert core.trading and page.locator("#result").text_content() == ""
        page.goto(panel.url + "/orders")  # the token is kept for the session
        page.locator("#orders-table button", has_text="Cancel").first.click()
        expect(page.locator("#confirm-text")).to_contain_text("places this slot's order again")
        n = len(fx.engine.open[fx.api_key])
        page.click("#confirm-yes")
        expect(page.locator("#result")).to_contain_text("HTTP 200")
        assert len(fx.engine.open[fx.api_key]) == n - 1
        assert errors == [] or all("401" in e for e in errors)
    finally:
        page.close()


PF_PRICES = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0}


def test_portfolio_pages_totals_and_symbol_selector(
        browser: Any, fake_exchange_factory: Any, tmp_path: Path, shots: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import expect

    from live.runner import LiveRunner
    from tests.live_helpers import RunnerThread, local_config

    fx = fake_exchange_factory(symbols=tuple(PF_PRICES), price=PF_PRICES)
    monkeypatch.setenv("GRIDLAB_PANEL_TOKEN", "tok-pages")
    pf = {"capital": 3000.0, "symbols": [{"symbol": s, "allocation": 1 / 3} for s in PF_PRICES],
          "max_total_exposure_pct": 0.6}
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
        page, errors, outside = _open(browser, runner.panel_url + "/")
        try:
            assert page.locator("#grids-table tr").count() == 4  # header + 3 symbols
            assert page.locator("#grids-table th", has_text="liq. price").count() == 1
            assert page.locator("#liq-price").text_content() == "see grids"
            assert page.locator("#symbol option").count() == 4  # all + 3 symbols
            assert page.locator("#symbol").input_value() == ""
            assert page.locator("#state").text_content() == "running"
            eq = _traces(page, "equity-chart")
            assert eq["total equity"]["n"] >= 1 and set(PF_PRICES) <= set(eq)
            assert page.locator("#clock-note").is_visible()  # a replayed 2023 market
            assert page.evaluate(OVERFLOW_JS) == {"page": 0, "tables": []}
            assert errors == [] and outside == []
            _shot(page, shots, "portfolio")
        finally:
            page.close()
        page, errors, outside = _open(browser, runner.panel_url + "/grid")
        try:  # the grid page shows one grid: the first symbol unless one is chosen
            assert page.locator("#symbol").input_value() == SYM
            assert page.locator("#grid-gen").text_content().startswith(SYM)
            assert page.locator("#slots-table tr").count() >= 9
            page.select_option("#symbol", "ETHUSDT")
            page.wait_for_url("**/grid?symbol=ETHUSDT")
            expect(page.locator("#grid-gen")).to_contain_text("ETHUSDT")
            assert page.locator("#slots-table tr").count() >= 9
            assert "symbol=ETHUSDT" in page.locator("nav a").first.get_attribute("href")
            # the account's exposure cap (60 % of 3000 over three grids) blocks some slots
            expect(page.locator("#slots-table .tag.blocked").first).to_be_visible()
            assert "account limits" in page.locator("#slots-table").inner_text()
            assert errors == [] and outside == []
        finally:
            page.close()
    finally:
        rt.stop()
