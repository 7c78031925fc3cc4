"""Research helpers that need no engine: windows, selection, stitching, stability, plots, HTML."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.errors import ConfigError
from gridlab.research import plots
from gridlab.research.optimize import Param, pareto_front
from gridlab.research.report import external_scripts, report_name
from gridlab.research.stability import neighbour_stats, neighbourhood, stability_at
from gridlab.research.walkforward import (
    Objective,
    make_windows,
    select_best,
    stitch_equity,
)

H = 3_600_000
DAY = 24 * H


# --- windows -------------------------------------------------------------------------------------


def test_rolling_windows_tile_the_test_period() -> None:
    w = make_windows(0, 10 * DAY, 3 * DAY, DAY)
    assert len(w) == 7
    assert [x.fold for x in w] == list(range(7))
    for a, b in itertools.pairwise(w):
        assert b.test_start == a.test_end
        assert b.train_end - b.train_start == 3 * DAY
    assert w[0].train_start == 0 and w[0].test_start == 3 * DAY
    assert w[-1].test_end == 10 * DAY


def test_anchored_windows_grow_from_start() -> None:
    w = make_windows(0, 10 * DAY, 3 * DAY, 2 * DAY, anchored=True)
    assert [x.train_start for x in w] == [0, 0, 0]
    assert [x.train_end for x in w] == [3 * DAY, 5 * DAY, 7 * DAY]
    assert w[-1].test_end == 9 * DAY


def test_windows_reject_short_period_and_bad_durations() -> None:
    with pytest.raises(ConfigError, match="shorter than one train"):
        make_windows(0, DAY, DAY, H)
    with pytest.raises(ConfigError, match="> 0"):
        make_windows(0, DAY, 0, H)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 50), st.integers(1, 20), st.integers(1, 20), st.integers(0, 200),
       st.booleans())
def test_windows_properties(train: int, test: int, step: int, extra: int, anchored: bool) -> None:
    start, end = 1_000, 1_000 + train + test + extra
    ws = make_windows(start, end, train, test, step, anchored)
    assert ws
    for w in ws:
        assert w.train_start <= w.train_end == w.test_start < w.test_end <= end
        assert w.test_end - w.test_start == test
        assert w.train_start == start if anchored else w.train_end - w.train_start == train
    # one more step would not fit
    assert ws[-1].test_end + step > end


# --- selection and stitching ---------------------------------------------------------------------


def _table() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2, 3, 4], "ret": [0.1, 0.5, np.nan, 0.3],
                         "dd": [0.2, 0.1, 0.05, 0.3], "n_round_trips": [10, 2, 50, 10]})


def test_select_best_direction_guard_and_nan() -> None:
    t = _table()
    assert select_best(t, Objective("ret"))["a"] == 2
    assert select_best(t, Objective("ret", min_trades=5))["a"] == 4
    assert select_best(t, Objective("dd", "minimize"))["a"] == 3
    assert select_best(t, Objective("ret", min_trades=1000)) is None
    noted = t.assign(note=["", "no valid grid", "", ""])
    assert select_best(noted, Objective("ret"))["a"] == 4
    with pytest.raises(ConfigError, match="not a sweep column"):
        select_best(t, Objective("sharpe"))
    with pytest.raises(ConfigError):
        Objective("ret", "up")  # type: ignore[arg-type]


def test_objective_gap_sign() -> None:
    assert Objective("ret").gap(0.3, 0.1) == pytest.approx(0.2)
    assert Objective("dd", "minimize").gap(0.1, 0.3) == pytest.approx(0.2)


def test_stitch_equity_compounds() -> None:
    a = pd.DataFrame({"ts": [0, 1, 2], "equity": [100.0, 110.0, 120.0]})
    b = pd.DataFrame({"ts": [3, 4], "equity": [1000.0, 500.0]})
    s = stitch_equity([a, b])
    assert s["equity"].tolist() == pytest.approx([100, 110, 120, 120, 60])
    assert s["fold"].tolist() == [0, 0, 0, 1, 1]
    assert stitch_equity([]).empty


# --- stability -----------------------------------------------------------------------------------


def _grid_table() -> pd.DataFrame:
    rows = []
    for x, y in itertools.product([1, 2, 3, 4], [0.1, 0.2, 0.3]):
        rows.append({"x": x, "y": y, "m": float(x * 10 + y * 10)})
    t = pd.DataFrame(rows)
    t.loc[(t.x == 4) & (t.y == 0.3), "m"] = 100.0  # a spike in a corner
    return t


def test_stability_at_best_spike() -> None:
    t = _grid_table()
    s = stability_at(t, ["x", "y"], "m")
    assert s.params == {"x": 4, "y": 0.3}
    assert s.value == 100.0
    assert s.n_neighbours == 3  # corner: (3,.2) (3,.3) (4,.2)
    assert s.neighbour_mean == pytest.approx((32 + 33 + 42) / 3)
    assert s.neighbour_min == pytest.approx(32)
    assert s.min_ratio == pytest.approx(0.32)
    assert s.mean_drop > 0


def test_stability_minimize_and_neighbour_stats() -> None:
    t = _grid_table()
    s = stability_at(t, ["x", "y"], Objective("m", "minimize"))
    assert s.params == {"x": 1, "y": 0.1}
    assert s.worst_drop == pytest.approx(22 - 11)  # worst neighbour is the highest, 22
    nb = neighbour_stats(t, ["x", "y"], "m")
    centre = nb[(nb.x == 2) & (nb.y == 0.2)].iloc[0]
    assert centre["nb_count"] == 8
    hood = neighbourhood(t, ["x", "y"], {"x": 2, "y": 0.2})
    assert len(hood) == 9 and bool(hood["is_best"].iloc[0])
    with pytest.raises(ConfigError, match="not in the sweep"):
        stability_at(t, ["x", "y"], "m", at={"x": 9, "y": 0.1})


# --- optuna helpers ------------------------------------------------------------------------------


def test_param_spec_parsing() -> None:
    assert Param.of((1, 5)).kind == "int"
    assert Param.of((0.1, 0.5)).kind == "float"
    p = Param.of((0.001, 0.1, "log"))
    assert p.log and p.kind == "float"
    with pytest.raises(ConfigError):
        Param.of((2, 1))


def test_pareto_front_mixed_directions() -> None:
    t = pd.DataFrame({"ret": [0.1, 0.2, 0.15, 0.05], "dd": [0.05, 0.2, 0.1, 0.3]})
    front = pareto_front(t, [Objective("ret"), Objective("dd", "minimize")])
    assert sorted(front.index) == [0, 1, 2]


# --- plots and HTML ------------------------------------------------------------------------------


def test_figures_build() -> None:
    ts = np.arange(0, 100 * 60_000, 60_000, dtype="int64")
    prices = pd.DataFrame({"ts": ts, "price": 100 + np.sin(np.arange(100) / 5)})
    levels = pd.DataFrame({"ts": [0] * 3 + [50 * 60_000] * 3, "price": [99, 100, 101] * 2})
    fills = pd.DataFrame({"ts": [60_000, 120_000], "price": [99.0, 101.0], "side": [1, -1]})
    rec = pd.DataFrame({"ts": [50 * 60_000], "reason": ["DEVIATION"]})
    f = plots.price_grid_figure(prices, levels, fills, rec)
    assert isinstance(f, go.Figure) and len(f.data) == 5
    eq = pd.DataFrame({"ts": ts, "equity": 1000 + np.cumsum(np.sin(np.arange(100)))})
    f = plots.equity_drawdown_figure(eq)
    assert max(f.data[1].y) <= 0
    plots.pnl_decomposition_figure({"grid": 5.0, "inventory": -2.0, "fees": -1.0})
    plots.pnl_decomposition_figure(pd.DataFrame({"ts": ts, "grid": np.arange(100.0)}))
    t = _grid_table().assign(z=1)
    hm = plots.sweep_heatmap(t, "x", "y", "m", "max")
    assert np.asarray(hm.data[0].z).shape == (3, 4)
    pc = plots.parallel_coordinates_figure(t.assign(fm=["cross", "touch"] * 6), ["x", "fm"], "m")
    assert list(pc.data[0].dimensions[1].ticktext) == ["cross", "touch"]
    folds = pd.DataFrame({"fold": [0, 1], "test_start": [0, 50 * 60_000],
                          "is_m": [1.0, 2.0], "oos_m": [0.5, -1.0]})
    plots.walkforward_figure(eq, folds, "m")
    plots.pareto_figure(t, "x", "m", t.head(2))
    plots.metrics_table_figure({"a": 1.0, "b": "x"})
    plots.stability_figure(neighbourhood(t, ["x", "y"], {"x": 2, "y": 0.2}), "m")


def test_offline_renderer_has_no_cdn() -> None:
    import plotly.io as pio

    old = pio.renderers.default
    try:
        name = plots.use_offline_renderer(with_mimetype=False)
        html = pio.renderers[name].to_mimebundle(go.Figure(go.Scatter(y=[1, 2])).to_dict())
        assert "plotly-graph-div" in html["text/html"]
        assert not external_scripts(html["text/html"])
    finally:
        pio.renderers.default = old


def test_external_scripts_detector_and_names() -> None:
    assert external_scripts('<script src="https://cdn.x/y.js"></script>')
    assert external_scripts("<script type='text/javascript' src='//cdn.x/y.js'></script>")
    assert not external_scripts("<script>var a = 'https://x';</script>")
    assert report_name("BTCUSDT", "2024-01-01", "2024-01-08", "Normal") == \
        "report_BTCUSDT_Normal_2024-01-01_2024-01-08"
