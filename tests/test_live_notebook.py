"""notebooks/04_live_dashboard.ipynb: stored clean, and runs on a live mirror while the live
DuckDB file is held open by its writer."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from gridlab.research.report import execute_notebook, notebooks_dir
from gridlab.store.live import FillRow, LiveStore

NB = "04_live_dashboard.ipynb"


def test_notebook_is_stored_clean() -> None:
    nb = nbformat.read(notebooks_dir() / NB, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "mirror_dir" in tagged[0].source


def _mirror(tmp_path: Path, symbols: tuple[str, ...]) -> tuple[LiveStore, Path]:
    """A live store with fills, equity, grids and events of `symbols` (and, with several,
    account snapshots), exported to its mirror."""
    ls = LiveStore.open(tmp_path / "x.duckdb", tmp_path / "mirror")
    t0 = 1_700_000_000_000
    for k, sym in enumerate(symbols):
        for i in range(6):
            ls.insert_fill(FillRow(f"e{k}-{i}", t0 + i * 1000, sym, "gl-x", "o", "Trade",
                                   1 if i % 2 else -1, 100.0 + i, 0.1, 0.002, 0.0002, True),
                           kind="grid", gen=1, slot=i % 3)
            ls.add_equity(ts=t0 + i * 1000, symbol=sym if len(symbols) > 1 else "",
                          price=100.0 + i, equity=1000.0 + i, position=0.1, realized=0.0,
                          unrealized=0.0, fees=0.0, funding=0.0, grid_profit=0.0,
                          exposure=0.01, wallet_equity=None, wallet_available=None)
        ls.add_grid(gen=1, symbol=sym, ts=t0, price=100.0, lowest=99.0, highest=101.0,
                    spacing=0.01, n_buy=2, n_sell=2, reason="INITIAL", profile="Normal",
                    profile_version=1, seed_qty=0.0)
        ls.add_event("grid_built", "hello", symbol=sym)
    if len(symbols) > 1:
        for i in range(6):
            ls.add_account(ts=t0 + i * 1000, capital=3000.0, equity=3000.0 + 2 * i,
                           realized=0.0, unrealized=0.0, fees=0.0, funding=0.0,
                           grid_profit=0.0, notional=20.0, worst_notional=60.0,
                           exposure=0.007, daily_max=3000.0 + 2 * i, drawdown=0.0, stopped=0,
                           n_grids=len(symbols), n_trading=len(symbols), wallet_equity=None,
                           wallet_available=None)
    ls.add_event("start", "hello")
    ls.export()
    return ls, tmp_path / "mirror"


@pytest.mark.parametrize(("symbols", "symbol"), [
    (("BTCUSDT",), ""), (("BTCUSDT", "ETHUSDT", "SOLUSDT"), ""),
    (("BTCUSDT", "ETHUSDT", "SOLUSDT"), "ETHUSDT")], ids=["one-grid", "totals", "one-symbol"])
def test_notebook_runs_on_a_mirror(tmp_path: Path, symbols: tuple[str, ...],
                                   symbol: str) -> None:
    ls, mirror = _mirror(tmp_path, symbols)
    research = _research_with_audit(tmp_path / "research.duckdb")
    try:
        out = execute_notebook(notebooks_dir() / NB, tmp_path / "out.ipynb",
                               {"mirror_dir": str(mirror), "symbol": symbol,
                                "db_path": str(research), "runner": "x"}, timeout=300)
    finally:
        ls.close()
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    text = "\n".join(str(o.get("data", {}).get("text/plain", "")) for c in nb.cells
                     if c.cell_type == "code" for o in c.get("outputs", []))
    shown = {s for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT") if s in text}
    assert shown == ({symbol} if symbol else set(symbols))
    if len(symbols) > 1 and not symbol:
        assert "TOTAL" in text
    # the stored live audit (of BTCUSDT): shown unless another symbol is chosen
    shows_audit = symbol in ("", "BTCUSDT")
    assert ("PnL live - backtest" in text) == shows_audit
    assert ("missed" in text) == shows_audit  # its unmatched fill rows


def _research_with_audit(path: Path) -> Path:
    """A research store holding one live audit of runner `x`, BTCUSDT: two fills matched, one
    missed (made by the audit's own matching)."""
    import pandas as pd

    from gridlab.research.audit import match_fills, pnl_attribution
    from gridlab.research.live_audit import LiveAudit
    from gridlab.store.core import Store
    from gridlab.store.live_audit import save_audit

    t0 = 1_700_000_000_000
    cols = ["ts", "side", "price", "qty", "fee"]
    sim = pd.DataFrame([(t0, 1, 100.0, 0.1, 0.002), (t0 + 9_000, -1, 101.0, 0.1, 0.002),
                        (t0 + 60_000, 1, 99.0, 0.1, 0.002)], columns=cols)
    live = sim.iloc[:2].assign(ts=sim["ts"].iloc[:2] + 20)
    res = match_fills(sim, live)
    audit = LiveAudit("x", "BTCUSDT", t0, t0 + 70_000, "cross", 0, {"grid": {}}, 50, [], res,
                      pnl_attribution(res, 100.0))
    assert res.counts["matched"] == 2 and res.counts["missed"] == 1
    with Store.open(path) as store:
        save_audit(store, audit.summary(), res.fills)
    return path
