"""gridlab.strategy: the one grid implementation (kernels) and the thin live classes.

Contract: docs/strategy-kernels.md.
"""

from gridlab.strategy.bars_nb import (
    atr_nb,
    atr_simple_nb,
    atr_wilder_nb,
    bar_update_nb,
    effective_spacing_nb,
    new_bar_ring,
    ring_capacity_nb,
)
from gridlab.strategy.classes import (
    DesiredOrder,
    GridPreview,
    SlotView,
    preview_grid,
)
from gridlab.strategy.enums import (
    SLOT_DTYPE,
    AtrMode,
    Filters,
    GridParams,
    Mode,
    QtyMode,
    Reason,
    RecenterParams,
    RiskParams,
    Side,
    SlotState,
    SpacingMode,
    Status,
    Stop,
    name_of,
)
from gridlab.strategy.grid_nb import build_slots_nb, grid_bounds_nb, on_slot_fill_nb, slot_order_nb
from gridlab.strategy.levels_nb import (
    ceil_to_nb,
    floor_to_nb,
    grid_levels_nb,
    round_to_nb,
    shift_range_nb,
)
from gridlab.strategy.params import (
    ResolvedParams,
    grid_params,
    make_filters,
    recenter_params,
    resolve_profile,
    risk_params,
)
from gridlab.strategy.profiles import all_profiles, get_profile
from gridlab.strategy.recenter_nb import new_recenter_cache, recenter_reason_nb
from gridlab.strategy.risk_nb import (
    check_stops_nb,
    kill_switch_nb,
    new_kill_state,
    order_allowed_nb,
    post_only_ok_nb,
    spot_order_allowed_nb,
    stop_reason_nb,
)

__all__ = [
    "SLOT_DTYPE",
    "AtrMode",
    "DesiredOrder",
    "Filters",
    "GridParams",
    "GridPreview",
    "Mode",
    "QtyMode",
    "Reason",
    "RecenterParams",
    "ResolvedParams",
    "RiskParams",
    "Side",
    "SlotState",
    "SlotView",
    "SpacingMode",
    "Status",
    "Stop",
    "all_profiles",
    "atr_nb",
    "atr_simple_nb",
    "atr_wilder_nb",
    "bar_update_nb",
    "build_slots_nb",
    "ceil_to_nb",
    "check_stops_nb",
    "effective_spacing_nb",
    "floor_to_nb",
    "get_profile",
    "grid_bounds_nb",
    "grid_levels_nb",
    "grid_params",
    "kill_switch_nb",
    "make_filters",
    "name_of",
    "new_bar_ring",
    "new_kill_state",
    "new_recenter_cache",
    "on_slot_fill_nb",
    "order_allowed_nb",
    "post_only_ok_nb",
    "preview_grid",
    "recenter_params",
    "recenter_reason_nb",
    "resolve_profile",
    "ring_capacity_nb",
    "risk_params",
    "round_to_nb",
    "shift_range_nb",
    "slot_order_nb",
    "spot_order_allowed_nb",
    "stop_reason_nb",
]
