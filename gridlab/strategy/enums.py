"""Int constants, kernel NamedTuples and the slot record dtype of the strategy kernels.

Constants are NamedTuple *instances* (vectorbt style): `Side.BUY` works in Python and,
as a frozen global, inside `@njit` code.

The kernel NamedTuples (`GridParams`, `Filters`, `RecenterParams`, `RiskParams`) have no
defaults on purpose: numba cannot fill NamedTuple defaults inside jitted code. Build them
with every field, positionally or by keyword, both work inside `@njit` / `prange`::

    gp = GridParams(6, 6, 0.0025, SpacingMode.ARITHMETIC, 0.0, 0.0, 0.002,
                    QtyMode.EQUAL_QUOTE, Mode.NEUTRAL, 1.0)

Give floats as floats (`0.0`, not `0`): a field typed int in one call and float in another
compiles a second specialisation of every kernel taking the tuple.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "SLOT_DTYPE",
    "AtrMode",
    "Filters",
    "GridParams",
    "Mode",
    "QtyMode",
    "Reason",
    "RecenterParams",
    "RiskParams",
    "Side",
    "SlotState",
    "SpacingMode",
    "Status",
    "Stop",
    "name_of",
]


class SideT(NamedTuple):
    NONE: int = 0
    BUY: int = 1
    SELL: int = -1


Side = SideT()
"""Order side: BUY = 1, SELL = -1, NONE = 0 (no order)."""


class ModeT(NamedTuple):
    NEUTRAL: int = 0
    LONG: int = 1
    SHORT: int = 2


Mode = ModeT()
"""Grid direction."""


class SpacingModeT(NamedTuple):
    ARITHMETIC: int = 0
    GEOMETRIC: int = 1


SpacingMode = SpacingModeT()


class QtyModeT(NamedTuple):
    EQUAL_QUOTE: int = 0
    EQUAL_BASE: int = 1


QtyMode = QtyModeT()


class AtrModeT(NamedTuple):
    OFF: int = 0
    SIMPLE: int = 1
    WILDER: int = 2


AtrMode = AtrModeT()


class SlotStateT(NamedTuple):
    DISABLED: int = 0
    OPEN_LEG: int = 1
    CLOSE_LEG: int = 2


SlotState = SlotStateT()


class StatusT(NamedTuple):
    OK: int = 0
    DROP_RANGE: int = 1
    DROP_TICK_COLLAPSE: int = 2
    DROP_NONPOSITIVE: int = 3
    DROP_MIN_QTY: int = 4
    DROP_MIN_NOTIONAL: int = 5
    DROP_MAX_QTY: int = 6


Status = StatusT()
"""Level and slot status. Levels use OK..DROP_NONPOSITIVE; a slot carries its first dropped
level's status, else its quantity-filter status."""


class ReasonT(NamedTuple):
    NONE: int = 0
    INITIAL: int = 1
    TRAIL_UP: int = 2
    TRAIL_DOWN: int = 3
    DEVIATION: int = 4
    PUMP_DUMP: int = 5
    DOMINANCE: int = 6
    TIME: int = 7
    MANUAL: int = 8
    KILL: int = 9


Reason = ReasonT()
"""Why a grid was (re)built. The kernel returns TRAIL_UP..TIME; the caller sets the rest."""


class StopT(NamedTuple):
    NONE: int = 0
    KILL_SWITCH: int = 1
    STOP_LOSS_EQUITY: int = 2
    TAKE_PROFIT_EQUITY: int = 3
    STOP_PRICE_LOW: int = 4
    STOP_PRICE_HIGH: int = 5
    LIQUIDATED: int = 6  # the mark crossed the liquidation price (backtest.margin)


Stop = StopT()


def name_of(enum: NamedTuple, code: int) -> str:
    """Name of `code` in an int-constant NamedTuple, e.g. `name_of(Status, 4) == 'DROP_MIN_QTY'`."""
    for name, value in zip(enum._fields, enum, strict=True):
        if value == code:
            return name
    return f"UNKNOWN({code})"


class GridParams(NamedTuple):
    """Grid shape (one parameter set). Ints are codes from the enums above."""

    n_buy: int  # slots below the centre
    n_sell: int  # slots above the centre
    spacing: float  # base spacing (fraction); the kernels take the effective spacing separately
    spacing_mode: int  # SpacingMode
    lower: float  # optional range, 0 = unset (absolute prices)
    upper: float
    profit_target: float  # fraction; 0 = close at the slot's other level
    qty_mode: int  # QtyMode
    mode: int  # Mode
    leverage: float  # 1.0 on spot
    atr_mode: int  # AtrMode
    atr_period: int
    atr_mult: float
    atr_floor: float  # clip of the ATR spacing (fractions)
    atr_ceil: float
    bar_ms: int  # bar length of the ring (ATR, dominance, pump/dump)


class Filters(NamedTuple):
    """Exchange instrument filters. 0 = no constraint (max_qty 0 = no cap, tick 0 = no rounding)."""

    tick: float
    qty_step: float
    min_qty: float
    max_qty: float
    min_notional: float


class RecenterParams(NamedTuple):
    """Recenter triggers; each has an on/off flag. Times in ms, fractions as fractions."""

    dev_enabled: bool
    deviation: float
    time_enabled: bool
    max_age_ms: int
    dom_enabled: bool
    dom_share: float
    dom_window_ms: int
    pd_enabled: bool
    pd_pct: float
    pd_window_ms: int
    trail_up: bool
    trail_up_limit: float  # 0 = no limit
    trail_down: bool
    trail_down_limit: float  # 0 = no limit


class RiskParams(NamedTuple):
    """Risk limits. Every numeric limit uses 0 = off."""

    max_exposure_pct: float  # |worst position| * price <= max_exposure_pct * equity
    max_position: float  # |worst position| <= max_position (base units)
    kill_switch_dd: float  # daily drawdown from the UTC-day max equity that fires the kill switch
    flatten_on_kill: bool
    stop_loss_equity_pct: float  # stop when equity <= initial * (1 - x)
    take_profit_equity_pct: float  # stop when equity >= initial * (1 + x)
    stop_price_low: float  # stop when price <= x
    stop_price_high: float  # stop when price >= x


SLOT_DTYPE = np.dtype(
    [
        ("lo", np.float64),
        ("hi", np.float64),
        ("qty", np.float64),
        ("entry", np.float64),
        ("target", np.float64),
        ("home", np.int64),
        ("state", np.int64),
        ("status", np.int64),
    ],
    align=True,
)
"""One row per slot: levels `lo < hi`, order qty, entry of the open leg, target of the close
leg, home side (opening leg side), SlotState, Status."""
