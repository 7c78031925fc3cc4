"""gridlab.strategy: the one grid implementation (kernels) and the thin live classes.

Contract: docs/strategy-kernels.md. The names below are imported on first use: importing one
module of the package (e.g. `gridlab.strategy.enums`) does not import the others.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "AtrMode": "gridlab.strategy.enums",
    "DesiredOrder": "gridlab.strategy.classes",
    "GridPreview": "gridlab.strategy.classes",
    "Filters": "gridlab.strategy.enums",
    "GridParams": "gridlab.strategy.enums",
    "Mode": "gridlab.strategy.enums",
    "QtyMode": "gridlab.strategy.enums",
    "Reason": "gridlab.strategy.enums",
    "RecenterParams": "gridlab.strategy.enums",
    "ResolvedParams": "gridlab.strategy.params",
    "RiskParams": "gridlab.strategy.enums",
    "SLOT_DTYPE": "gridlab.strategy.enums",
    "Side": "gridlab.strategy.enums",
    "SlotState": "gridlab.strategy.enums",
    "SlotView": "gridlab.strategy.classes",
    "SpacingMode": "gridlab.strategy.enums",
    "Status": "gridlab.strategy.enums",
    "Stop": "gridlab.strategy.enums",
    "all_profiles": "gridlab.strategy.profiles",
    "atr_nb": "gridlab.strategy.bars_nb",
    "atr_simple_nb": "gridlab.strategy.bars_nb",
    "atr_wilder_nb": "gridlab.strategy.bars_nb",
    "bar_update_nb": "gridlab.strategy.bars_nb",
    "build_slots_nb": "gridlab.strategy.grid_nb",
    "ceil_to_nb": "gridlab.strategy.levels_nb",
    "check_stops_nb": "gridlab.strategy.risk_nb",
    "effective_spacing_nb": "gridlab.strategy.bars_nb",
    "floor_to_nb": "gridlab.strategy.levels_nb",
    "get_profile": "gridlab.strategy.profiles",
    "grid_bounds_nb": "gridlab.strategy.grid_nb",
    "grid_levels_nb": "gridlab.strategy.levels_nb",
    "grid_params": "gridlab.strategy.params",
    "kill_switch_nb": "gridlab.strategy.risk_nb",
    "make_filters": "gridlab.strategy.params",
    "name_of": "gridlab.strategy.enums",
    "new_bar_ring": "gridlab.strategy.bars_nb",
    "new_kill_state": "gridlab.strategy.risk_nb",
    "new_recenter_cache": "gridlab.strategy.recenter_nb",
    "on_slot_fill_nb": "gridlab.strategy.grid_nb",
    "order_allowed_nb": "gridlab.strategy.risk_nb",
    "post_only_ok_nb": "gridlab.strategy.risk_nb",
    "preview_grid": "gridlab.strategy.classes",
    "recenter_params": "gridlab.strategy.params",
    "recenter_reason_nb": "gridlab.strategy.recenter_nb",
    "resolve_profile": "gridlab.strategy.params",
    "ring_capacity_nb": "gridlab.strategy.bars_nb",
    "risk_params": "gridlab.strategy.params",
    "round_to_nb": "gridlab.strategy.levels_nb",
    "shift_range_nb": "gridlab.strategy.levels_nb",
    "slot_order_nb": "gridlab.strategy.grid_nb",
    "spot_order_allowed_nb": "gridlab.strategy.risk_nb",
    "stop_reason_nb": "gridlab.strategy.risk_nb",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """`gridlab.strategy.X` for the public names: import their module on first use."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gridlab.strategy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
