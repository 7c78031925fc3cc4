"""The margin model's cost (issue 14: at most 15 % of the single-run and sweep speed).

Same market as bench_backtest (30 days of 1m klines, random walk), one run and a 100-set
sweep with `backtest.margin` off and isolated (5x: the walk never liquidates, so every event
is replayed). Run: `python -m benchmarks.bench_margin` (or through benchmarks.run).
"""

from __future__ import annotations

from benchmarks.bench_backtest import _best_of, _grid, _klines
from benchmarks.common import Result

__all__ = ["run"]

_ON = {"margin": "isolated", "risk_limits_symbol": "BTCUSDT", "leverage": 5,
       "max_exposure_pct": 6.0}
_OFF = {"leverage": 5, "max_exposure_pct": 6.0}


def _one_run_ms(bars, overrides: dict) -> tuple[float, int]:
    """Best of 20 in-process runs (metrics only), ms; and the run's liquidations."""
    from gridlab.backtest.engine import run_arrays
    from gridlab.backtest.enums import Sum
    from gridlab.backtest.params import effective_config, margin_tiers, run_params

    cfg = effective_config(None, None, {"capital": 10_000.0, **overrides})
    rp = run_params(cfg, bars.filters, bars.category, trades=False, record=False,
                    tiers=margin_tiers(cfg, bars.symbol))
    out = run_arrays(bars, rp)
    return _best_of(lambda: run_arrays(bars, rp), 20) * 1e3, int(out.summary[Sum.N_LIQUIDATIONS])


def run() -> list[Result]:
    """Rows with the margin model off and on, and its cost in percent."""
    from gridlab.backtest.sweep import sweep

    bars = _klines(43_200)
    off_ms, _ = _one_run_ms(bars, _OFF)
    on_ms, n_liq = _one_run_ms(bars, _ON)
    out = [Result("1 run x 43,200 1m bars, metrics only, margin off (5x)", off_ms, "ms", None,
                  False),
           Result(f"  same, margin isolated ({n_liq} liquidations)", on_ms, "ms", None, False),
           Result("  margin cost, single run", (on_ms / off_ms - 1.0) * 100, "%", 15.0, False)]
    sweep(bars.slice(bars.start_ms, bars.start_ms + 3_600_000), {"grid.spacing": [0.002]},
          capital=10_000.0, **_ON)  # compile
    s_off = _best_of(lambda: sweep(bars, _grid(100), capital=10_000.0, **_OFF), repeat=2)
    s_on = _best_of(lambda: sweep(bars, _grid(100), capital=10_000.0, **_ON), repeat=2)
    out += [Result("sweep 100 sets x 43,200 1m bars, margin off (5x)", s_off, "s", None, False),
            Result("  same, margin isolated", s_on, "s", None, False),
            Result("  margin cost, sweep", (s_on / s_off - 1.0) * 100, "%", 15.0, False)]
    return out


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: {r.value:,.3f} {r.unit}")
