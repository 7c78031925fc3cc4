"""The liquidation prices `gridlab grid preview` shows: a grid's worst cases, by hand."""

from __future__ import annotations

import pytest

from gridlab.cli import main
from gridlab.strategy.margin import grid_liquidation, liquidation_price, snapshot_tiers

TIERS = snapshot_tiers("BTCUSDT")


def test_every_buy_filled_is_the_long_worst_case() -> None:
    buys = [(1, 99.0, 2.0), (1, 98.0, 2.0)]
    sells = [(-1, 101.0, 1.0)]
    rows = grid_liquidation(buys + sells, 0.0, 100.0, 1000.0, 20.0, TIERS, "isolated")
    long_ = next(r for r in rows if r["side"] == 1)
    assert long_["size"] == 4.0 and long_["entry"] == 98.5
    im, mm = 4.0 * 98.5 / 20.0, 4.0 * 98.5 * 0.005  # tier 1 of BTCUSDT: MMR 0.5 %
    assert long_["liq_price"] == pytest.approx(98.5 - (im - mm) / 4.0, rel=1e-12)
    assert long_["bankruptcy_price"] == pytest.approx(98.5 - im / 4.0, rel=1e-12)
    short = next(r for r in rows if r["side"] == -1)
    assert short == {"side": -1, "size": 1.0, "entry": 101.0,
                     **liquidation_price(-1, 1.0, 101.0, 20.0, TIERS),
                     "distance": short["liq_price"] / 100.0 - 1.0}


def test_a_long_seed_adds_to_the_long_and_is_sold_before_a_short() -> None:
    orders = [(1, 99.0, 1.0), (-1, 101.0, 1.0), (-1, 102.0, 1.0)]
    rows = grid_liquidation(orders, 2.0, 100.0, 100.0, 10.0, TIERS, "cross")
    assert [(r["side"], r["size"]) for r in rows] == [(1, 3.0)]  # the sells only close it
    r = rows[0]
    assert r["entry"] == pytest.approx((2 * 100.0 + 99.0) / 3.0)
    mm = 3.0 * r["entry"] * 0.005
    assert r["liq_price"] == pytest.approx(r["entry"] - (100.0 - mm) / 3.0)  # cross: capital


def test_preview_prints_the_liquidation_prices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["grid", "preview", "--price", "100000", "--leverage", "20", "--capital", "1000",
              "--margin", "cross"])
    assert ex.value.code in (0, None)
    out = capsys.readouterr().out
    assert "liquidation (cross margin, 20x, BTCUSDT" in out
    assert "every buy filled: long" in out and "every sell filled: short" in out
