"""The local exchange's margin figures and liquidations come from the backtest's margin kernels:
`liqPrice` / `bustPrice` / `positionMM` equal `strategy.margin_nb` on the same tiers (long and
short, isolated and cross, two tiers), a crossed liquidation price takes the position over at
the bankruptcy price without a fee, cancels the symbol's orders and reports it as Bybit does,
and with margin off nothing is ever liquidated."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gridlab.fakex.engine import Engine
from gridlab.strategy.margin import snapshot_tiers
from gridlab.strategy.margin_nb import bankruptcy_price_nb, liq_price_nb, maintenance_margin_nb

SYM = "BTCUSDT"
KEY = "k"
TIERS = snapshot_tiers(SYM)  # tier 1 up to 2,000,000 USDT at 0.5 %, tier 2 up to 4,000,000 at 1 %


def engine(margin: str, balance: float = 1_000_000.0, price: float = 60_000.0) -> Engine:
    eng = Engine(margin=margin, funding_rate=0.0)
    eng.add_instrument(SYM, price=price, tick_size=0.1, qty_step=0.001, min_qty=0.001,
                       min_notional=5.0, max_qty=1_000.0, max_leverage=100.0)
    eng.add_account(KEY, "s", balance=balance)
    return eng


class Tap:
    """A stream listener keeping the private messages."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []

    def wants(self, channel: str, topic: str, key: str | None) -> bool:
        return channel == "private" and "." not in topic

    def push(self, channel: str, topic: str, key: str | None, msg: dict[str, Any]) -> None:
        self.got.append((topic, msg))


def market(eng: Engine, side: str, qty: float) -> None:
    eng.create_order(KEY, {"category": "linear", "symbol": SYM, "side": side,
                           "orderType": "Market", "qty": f"{qty:.3f}"})


def position(eng: Engine) -> dict[str, Any]:
    return eng.positions(KEY, {"category": "linear", "symbol": SYM})["list"][0]


def on_tick(px: float, side: int) -> float:
    """The kernel's price as a position shows it: on the tick, towards the entry."""
    n = math.ceil(px / 0.1 - 1e-9) if side > 0 else math.floor(px / 0.1 + 1e-9)
    return round(n * 0.1, 12)


@pytest.mark.parametrize("margin", ["isolated", "cross", "off"])
@pytest.mark.parametrize("side", [1, -1], ids=["long", "short"])
@pytest.mark.parametrize("qty", [5.0, 50.0], ids=["tier1", "tier2"])
def test_liq_price_is_the_kernels(margin: str, side: int, qty: float) -> None:
    eng = engine(margin, balance=qty * 60_000.0 * 0.2)  # cross: the wallet is 5x the IM
    eng.set_leverage(KEY, {"category": "linear", "symbol": SYM, "buyLeverage": "20",
                           "sellLeverage": "20"})
    market(eng, "Buy" if side > 0 else "Sell", qty)
    pos = position(eng)
    entry = float(pos["avgPrice"])
    wallet = eng.accounts[KEY].coins["USDT"]
    backing = wallet if margin == "cross" else qty * entry / 20.0
    lp = float(liq_price_nb(side, qty, entry, backing, *TIERS.arrays))
    bp = float(bankruptcy_price_nb(side, qty, entry, backing))
    mm = float(maintenance_margin_nb(qty * entry, *TIERS.arrays))
    assert float(pos["liqPrice"]) == pytest.approx(on_tick(lp, side), abs=1e-9)
    assert float(pos["bustPrice"]) == pytest.approx(on_tick(bp, side), abs=1e-9)
    assert float(pos["positionMM"]) == pytest.approx(mm, abs=1e-8)
    tier = 2 if qty * entry > 2_000_000 else 1
    assert pos["riskId"] == tier and float(pos["riskLimitValue"]) == TIERS.limit[tier - 1]
    if tier == 2:  # the second tier's rate and deduction are in use
        assert mm == pytest.approx(qty * entry * 0.01 - 2_000_000 * 0.005)
    # the raw kernel value is what the engine compares the mark against
    acct = eng.accounts[KEY]
    pm = eng.position_margin(acct, eng.instruments[("linear", SYM)], acct.positions[SYM])
    assert pm is not None and pm.liq == lp and pm.bust == bp


def test_liquidation_takes_over_at_the_bankruptcy_price() -> None:
    eng = engine("isolated", balance=10_000.0)
    eng.set_leverage(KEY, {"category": "linear", "symbol": SYM, "buyLeverage": "20",
                           "sellLeverage": "20"})
    market(eng, "Buy", 1.0)
    for px in (55_000.0, 50_000.0):  # resting buys: cancelled by the liquidation
        eng.create_order(KEY, {"category": "linear", "symbol": SYM, "side": "Buy",
                               "orderType": "Limit", "qty": "0.010", "price": f"{px}",
                               "orderLinkId": f"b{px:.0f}"})
    acct = eng.accounts[KEY]
    pm = eng.position_margin(acct, eng.instruments[("linear", SYM)], acct.positions[SYM])
    assert pm is not None
    entry, wallet = acct.positions[SYM].avg_price, acct.coins["USDT"]
    tap = Tap()
    eng.listeners.append(tap)
    eng.trade(SYM, pm.liq + 0.1, side=-1, ts=1_700_000_000_000)  # above: nothing
    assert acct.positions[SYM].size == 1.0
    eng.trade(SYM, on_tick(pm.liq, -1), side=-1, ts=1_700_000_001_000)  # at or below: taken
    assert acct.positions[SYM].size == 0.0
    ex = acct.executions[-1]
    assert ex["execType"] == "BustTrade" and ex["side"] == "Sell" and ex["execFee"] == "0"
    assert float(ex["execPrice"]) == pytest.approx(pm.bust, abs=1e-9)
    assert ex["createType"] == "CreateByTakeOverPassThrough" and ex["orderLinkId"] == ""
    assert ex["execTime"] == "1700000001000"
    # the margin backing it is lost, no more: wallet - IM
    assert acct.coins["USDT"] == pytest.approx(wallet - entry / 20.0, abs=1e-6)
    cancelled = [o for o in acct.orders.values() if o.order_link_id.startswith("b")]
    assert len(cancelled) == 2
    assert all(o.status == "Cancelled" and o.cancel_type == "CancelByLiq" for o in cancelled)
    assert eng.open[KEY] == {} and eng.stats["liquidations"] == 1
    assert position(eng)["liqPrice"] == ""
    # the streams, as Bybit sends them: the cancels, the take-over order, its execution,
    # the flat position and the wallet
    topics = [t for t, _ in tap.got]
    assert topics == ["order", "order", "order", "execution", "position", "wallet"], topics
    orders = [m["data"][0] for t, m in tap.got if t == "order"]
    assert [o["cancelType"] for o in orders[:2]] == ["CancelByLiq"] * 2
    assert orders[2]["createType"] == "CreateByTakeOverPassThrough"
    assert orders[2]["orderStatus"] == "Filled" and orders[2]["orderType"] == "Market"
    pos_msg = tap.got[4][1]["data"][0]
    assert pos_msg["size"] == "0.000" and pos_msg["liqPrice"] == ""
    usdt = next(c for c in tap.got[5][1]["data"][0]["coin"] if c["coin"] == "USDT")
    assert float(usdt["walletBalance"]) == pytest.approx(acct.coins["USDT"], abs=1e-6)


def test_short_liquidated_when_the_mark_rises() -> None:
    eng = engine("cross", balance=4_000.0)
    eng.set_leverage(KEY, {"category": "linear", "symbol": SYM, "buyLeverage": "20",
                           "sellLeverage": "20"})
    market(eng, "Sell", 1.0)
    acct = eng.accounts[KEY]
    pm = eng.position_margin(acct, eng.instruments[("linear", SYM)], acct.positions[SYM])
    assert pm is not None and pm.margin == acct.coins["USDT"]  # cross: the wallet backs it
    eng.trade(SYM, on_tick(pm.liq, -1), side=1)
    assert acct.positions[SYM].size == -1.0
    eng.trade(SYM, on_tick(pm.liq, 1), side=1)
    assert acct.positions[SYM].size == 0.0
    assert acct.coins["USDT"] == pytest.approx(0.0, abs=1e-6)  # cross: the wallet is lost


def test_margin_off_never_liquidates() -> None:
    eng = engine("off", balance=10_000.0)
    eng.set_leverage(KEY, {"category": "linear", "symbol": SYM, "buyLeverage": "20",
                           "sellLeverage": "20"})
    market(eng, "Buy", 1.0)
    lp = float(position(eng)["liqPrice"])
    eng.trade(SYM, lp - 5_000.0, side=-1)
    assert eng.accounts[KEY].positions[SYM].size == 1.0
    assert "liquidations" not in eng.stats


def test_margin_mode_survives_a_snapshot_and_is_checked() -> None:
    eng = engine("cross")
    eng.set_risk_tiers(SYM, TIERS.rows()[:2])
    again = Engine.from_snapshot(eng.snapshot())
    assert again.margin == "cross" and len(again.risk_tiers(
        again.instruments[("linear", SYM)]).limit) == 2
    with pytest.raises(ValueError, match="margin 'both'"):
        Engine(margin="both")


def test_a_print_beyond_the_liquidation_price_liquidates_before_the_book() -> None:
    """As the backtest's step (liquidation before the book): a print that crosses both the
    liquidation price and a resting buy below it liquidates; the buy is cancelled, not filled."""
    eng = engine("isolated", balance=10_000.0)
    eng.set_leverage(KEY, {"category": "linear", "symbol": SYM, "buyLeverage": "20",
                           "sellLeverage": "20"})
    market(eng, "Buy", 1.0)
    acct = eng.accounts[KEY]
    pm = eng.position_margin(acct, eng.instruments[("linear", SYM)], acct.positions[SYM])
    assert pm is not None
    below = round(pm.liq - 300.0)
    eng.create_order(KEY, {"category": "linear", "symbol": SYM, "side": "Buy",
                           "orderType": "Limit", "qty": "0.500", "price": f"{below}",
                           "orderLinkId": "deep"})
    eng.trade(SYM, below - 500.0, side=-1)
    deep = next(o for o in acct.orders.values() if o.order_link_id == "deep")
    assert deep.status == "Cancelled" and deep.cum_qty == 0.0
    assert [e["execType"] for e in acct.executions] == ["Trade", "BustTrade"]
    assert float(acct.executions[-1]["execQty"]) == 1.0


def test_the_server_handle_takes_the_margin_mode_and_a_resume_keeps_it(tmp_path) -> None:
    from gridlab.fakex.handle import FakeExchange

    state = tmp_path / "state.json"
    fx = FakeExchange(state_path=state, margin="isolated")
    assert fx.engine.margin == "isolated"
    fx.engine.save(state)
    assert FakeExchange(state_path=state).engine.margin == "isolated"  # resumed
    assert FakeExchange(state_path=state, margin="cross").engine.margin == "cross"
    assert FakeExchange(state_path=tmp_path / "other.json").engine.margin == "off"
    with pytest.raises(ValueError, match="margin"):
        FakeExchange(state_path=tmp_path / "x.json", margin="both")


def test_a_mark_moved_without_a_print_liquidates_too() -> None:
    eng = engine("isolated", balance=10_000.0)
    eng.set_leverage(KEY, {"category": "linear", "symbol": SYM, "buyLeverage": "20",
                           "sellLeverage": "20"})
    market(eng, "Sell", 1.0)
    acct = eng.accounts[KEY]
    pm = eng.position_margin(acct, eng.instruments[("linear", SYM)], acct.positions[SYM])
    assert pm is not None
    eng.set_price(SYM, pm.liq + 1.0)
    assert acct.positions[SYM].size == 0.0 and acct.executions[-1]["execType"] == "BustTrade"


def test_a_store_replay_uses_the_stored_tiers_as_the_backtest(tmp_path) -> None:
    """`gridlab fake-exchange --db ... --margin isolated` takes a symbol's tiers where the
    backtest does (`gridlab.data.risk_limits.risk_tiers`: the store, then the snapshot)."""
    import threading

    import pandas as pd

    from gridlab.data.synth import write_synthetic_market
    from gridlab.fakex.handle import run_local_exchange
    from gridlab.store.core import Store
    from gridlab.store.risk_limits import replace_risk_limits

    db = tmp_path / "m.duckdb"
    stored = [{"tier": 1, "risk_limit_value": 1_000_000.0, "mmr": 0.007, "imr": 0.014,
               "max_leverage": 70.0, "mm_deduction": 0.0},
              {"tier": 2, "risk_limit_value": 3_000_000.0, "mmr": 0.012, "imr": 0.02,
               "max_leverage": 50.0, "mm_deduction": 5_000.0}]
    with Store.open(db) as store:
        write_synthetic_market(store, SYM, "linear", days=0.05, seed=1, trades_per_day=2000)
        replace_risk_limits(store, SYM, "linear", pd.DataFrame(stored).assign(fetched_at=1))
    stop = threading.Event()
    stop.set()
    fx = run_local_exchange(symbols=[SYM], db=db, source="trades", port=0, speed=None,
                            state_path=tmp_path / "s.json", echo=lambda *_: None, stop=stop,
                            margin="isolated")
    tiers = fx.engine.risk_tiers(fx.engine.instruments[("linear", SYM)])
    assert list(tiers.mmr) == [0.007, 0.012] and list(tiers.mmd) == [0.0, 5_000.0]
