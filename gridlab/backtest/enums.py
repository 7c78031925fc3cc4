"""Backtest constants and record layouts shared by the kernels and the Python API.

Int constants are NamedTuple instances (vectorbt style) so numba folds them; record layouts
are aligned numpy dtypes written by the kernels into caller-allocated arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "ACC",
    "EQUITY_DTYPE",
    "FILL_DTYPE",
    "LEVEL_DTYPE",
    "N_ACC",
    "N_SUMMARY",
    "ORDER_DTYPE",
    "RECENTER_DTYPE",
    "SUMMARY_FIELDS",
    "EngineParams",
    "FillKind",
    "FillModel",
    "MarginMode",
    "Sum",
    "fill_model_code",
    "margin_mode_code",
]


class _FillModel(NamedTuple):
    CROSS: int = 0
    TOUCH: int = 1
    QUEUE: int = 2


FillModel = _FillModel()
"""Fill model codes. The assumptions are documented in `gridlab.backtest.fills_nb`."""

_FILL_MODEL_NAMES = {"cross": FillModel.CROSS, "touch": FillModel.TOUCH, "queue": FillModel.QUEUE}


def fill_model_code(name: str) -> int:
    """Map a fill model name ('cross', 'touch', 'queue') to its code."""
    try:
        return _FILL_MODEL_NAMES[name.lower()]
    except KeyError:
        from gridlab.errors import ConfigError

        raise ConfigError(f"unknown fill model {name!r}",
                          "use one of: " + ", ".join(_FILL_MODEL_NAMES)) from None


class _MarginMode(NamedTuple):
    OFF: int = 0       # no margin model (equity may go below zero)
    ISOLATED: int = 1  # the position is backed by its initial margin
    CROSS: int = 2     # the position is backed by the wallet balance


MarginMode = _MarginMode()
"""Margin models of `backtest.margin` (gridlab.backtest.liquidation_nb)."""

_MARGIN_NAMES = {"off": MarginMode.OFF, "isolated": MarginMode.ISOLATED,
                 "cross": MarginMode.CROSS}


def margin_mode_code(name: str) -> int:
    """Map a margin mode name ('off', 'isolated', 'cross') to its code."""
    try:
        return _MARGIN_NAMES[name.lower()]
    except KeyError:
        from gridlab.errors import ConfigError

        raise ConfigError(f"unknown backtest.margin {name!r}",
                          "use one of: " + ", ".join(_MARGIN_NAMES)) from None


_NO_TIERS = np.zeros(1, np.float64)
"""The tier arrays of a run without a margin model (never read)."""
_NO_MARK = np.zeros(0, np.float64)
"""No mark-price series: the margin model marks with the event price."""


class _FillKind(NamedTuple):
    LIMIT: int = 0    # a grid slot's resting limit order (maker)
    LATE: int = 1     # an order filled while its cancel was in flight (maker, no slot update)
    SEED: int = 2     # market order buying/selling the LONG/SHORT seed inventory (taker)
    FLATTEN: int = 3  # market order closing the position after a stop / kill switch (taker)
    LIQUIDATION: int = 4  # the position taken over at its bankruptcy price (no fee)


FillKind = _FillKind()


class _Acc(NamedTuple):
    """Indices into the accounting state vector `acc` (float64)."""

    POS: int = 0        # signed position, base units
    AVG: int = 1        # average entry price of the open position (0 when flat)
    REALIZED: int = 2   # realized PnL before fees (avg-cost method)
    FEES: int = 3       # fees paid (maker + taker), quote
    FUNDING: int = 4    # funding paid (>0 = paid, <0 = received), quote
    CASH: int = 5       # quote balance: initial - buys + sells - fees - funding
    TURNOVER: int = 6   # sum of |qty| * price over fills, quote
    GRID: int = 7       # grid profit: completed slot round trips, before fees


ACC = _Acc()
N_ACC = 8

FILL_DTYPE = np.dtype(
    [
        ("ts", np.int64),          # event time of the fill, epoch ms
        ("side", np.int64),        # 1 buy, -1 sell
        ("price", np.float64),     # fill price (limit price; market price +- slippage)
        ("qty", np.float64),       # filled quantity, base units
        ("fee", np.float64),       # fee paid, quote
        ("kind", np.int64),        # FillKind
        ("slot", np.int64),        # slot index (-1 for market orders)
        ("position", np.float64),  # position after the fill
        ("grid_profit", np.float64),  # round-trip profit booked by this fill (0 if none)
    ],
    align=True,
)

EQUITY_DTYPE = np.dtype(
    [
        ("ts", np.int64),
        ("price", np.float64),
        ("equity", np.float64),
        ("position", np.float64),
        ("realized", np.float64),
        ("unrealized", np.float64),
        ("fees", np.float64),
        ("funding", np.float64),
        ("grid_profit", np.float64),
        ("cash", np.float64),
    ],
    align=True,
)

RECENTER_DTYPE = np.dtype(
    [
        ("ts", np.int64),          # event time of the (re)build, epoch ms
        ("reason", np.int64),      # Reason code (INITIAL for the first build)
        ("price", np.float64),     # event price the grid was built at (the unrounded centre)
        ("centre", np.float64),    # the centre level: price rounded to the tick
        ("spacing", np.float64),   # effective spacing (ATR-adjusted when ATR is on)
        ("lowest", np.float64),    # lowest level of the enabled slots (nan: none)
        ("highest", np.float64),   # highest level of the enabled slots (nan: none)
        ("n_slots", np.int64),     # enabled slots
    ],
    align=True,
)

LEVEL_DTYPE = np.dtype(
    [
        ("ts", np.int64),          # event time of the (re)build that placed the level
        ("price", np.float64),     # level price (a lo or hi of an enabled slot)
        ("side", np.int64),        # 1 below the centre level (buy side), -1 above, 0 the centre
    ],
    align=True,
)

ORDER_DTYPE = np.dtype(
    [
        ("side", np.int64),       # 0 = no order
        ("price", np.float64),
        ("qty", np.float64),      # original quantity
        ("rem", np.float64),      # remaining quantity
        ("active_ts", np.int64),  # decision ts + latency: reaches the exchange
        ("cancel_ts", np.int64),  # cancel takes effect (INT64 max = not cancelled)
        ("live", np.int64),       # 0 in flight, 1 resting on the book
        ("queue", np.float64),    # queue model: volume still ahead of the order
    ],
    align=True,
)

class _Sum(NamedTuple):
    """Column indices of the per-run summary vector (float64), e.g. `Sum.N_FILLS`."""

    FINAL_EQUITY: int = 0
    REALIZED: int = 1
    UNREALIZED: int = 2
    FEES: int = 3
    FUNDING: int = 4
    GRID_PROFIT: int = 5
    POSITION: int = 6
    TURNOVER: int = 7
    N_FILLS: int = 8
    N_LIMIT_FILLS: int = 9
    N_ROUND_TRIPS: int = 10
    N_LATE_FILLS: int = 11
    N_REJECTED_POST_ONLY: int = 12
    N_BLOCKED: int = 13
    N_EMPTY_BUILDS: int = 14
    N_KILL_SWITCH: int = 15
    STOP_CODE: int = 16
    STOP_TS: int = 17
    MAX_DRAWDOWN: int = 18
    MAX_DD_DURATION_MS: int = 19
    TIME_AT_MAX_MS: int = 20
    FIRST_TS: int = 21
    LAST_TS: int = 22
    N_EVENTS: int = 23
    N_DAYS: int = 24
    PEAK_EQUITY: int = 25
    RC_NONE: int = 26
    RC_INITIAL: int = 27
    RC_TRAIL_UP: int = 28
    RC_TRAIL_DOWN: int = 29
    RC_DEVIATION: int = 30
    RC_PUMP_DUMP: int = 31
    RC_DOMINANCE: int = 32
    RC_TIME: int = 33
    RC_MANUAL: int = 34
    RC_KILL: int = 35
    N_LIQUIDATIONS: int = 36
    LIQ_TS: int = 37            # time of the (last) liquidation, 0 = none
    LIQ_LOSS: int = 38          # margin lost to liquidations (quote)
    N_MARGIN_REFUSED: int = 39  # orders the margin could not carry (Bybit 110007)


Sum = _Sum()
SUMMARY_FIELDS: tuple[str, ...] = tuple(f.lower() for f in _Sum._fields)
N_SUMMARY = len(SUMMARY_FIELDS)


class EngineParams(NamedTuple):
    """Backtest assumptions of one run, as the kernels see them (build with every field)."""

    capital: float      # the grid's budget (quote): sizes the orders; the grid's own risk
    #                     checks see capital + the grid's PnL
    spot: bool          # spot: no borrowing (spot_order_allowed_nb), no funding
    fill_model: int     # FillModel
    latency_ms: int     # order placement and cancel latency
    queue_ahead: float  # queue model: base units ahead of a new order
    queue_mult: float   # queue model: + this multiple of the order qty
    maker_fee: float    # fraction of notional
    taker_fee: float
    slippage: float     # market orders: fraction of price against the order
    post_only: bool     # grid orders are PostOnly (rejected when they would take)
    check_ms: int       # interval of stop / kill switch / recenter checks
    equity_ms: int      # equity curve resolution
    record: bool        # write fills and equity points (single runs) or only the summary
    account: float = 0.0  # equity of the account the grid trades in (>= capital; 0 = capital):
    #                       the equity curve, daily closes, drawdown and summary equity start
    #                       from it
    margin: int = 0     # MarginMode (0 off: no margin refusals, no liquidation)
    leverage: float = 1.0  # margin leverage: initial margin = position value / leverage
    tier_limit: np.ndarray = _NO_TIERS  # risk-limit tiers (margin_nb): risk limit value,
    tier_mmr: np.ndarray = _NO_TIERS    # maintenance margin rate,
    tier_mmd: np.ndarray = _NO_TIERS    # maintenance margin deduction
    mark_ts: np.ndarray = _NO_MARK  # mark-price series (margin): time each mark is known
    mark_px: np.ndarray = _NO_MARK  # (float epoch ms, ascending) and the mark; empty: trades
