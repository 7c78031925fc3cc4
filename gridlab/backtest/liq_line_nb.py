"""The liquidation price along a run's equity curve (numba), after the run, from its outputs.

The replay kernels keep the liquidation price in the grid state (`st.liq_px`, see
`liquidation_nb`) and do not write it out: the hot loop stays as it is. This kernel rebuilds
it at every equity sample from what the sample holds (position, realized PnL, fees, funding,
and the average entry `price - unrealized / position`), through the very functions the
kernels use: `liquidation_nb.refresh_liq_nb` (isolated: the position's initial margin; cross:
the wallet balance) and `liquidation_nb.mark_at_nb` (the mark-price series' last mark known
at the sample, or the sample's price without a series).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gridlab.backtest.enums import ACC, N_ACC
from gridlab.backtest.liquidation_nb import mark_at_nb, refresh_liq_nb
from gridlab.backtest.state_nb import GRID_STATE_DTYPE

__all__ = ["liquidation_line", "liquidation_line_nb"]


@njit(cache=True)
def liquidation_line_nb(ts, price, position, realized, unrealized, fees, funding, ep, rec,
                        out_liq, out_mark):
    """For each sample i: the liquidation price (nan when flat) into out_liq[i] and the mark
    into out_mark[i]. `rec`: a GRID_STATE_DTYPE[1] scratch record (its liq_px and mark_i are
    used; mark_i must start at 0)."""
    st = rec[0]
    acc = np.zeros(N_ACC)
    marked = ep.mark_ts.shape[0] > 0
    for i in range(ts.shape[0]):
        pos = position[i]
        acc[ACC.POS] = pos
        acc[ACC.AVG] = price[i] - unrealized[i] / pos if pos != 0.0 else 0.0
        acc[ACC.REALIZED] = realized[i]
        acc[ACC.FEES] = fees[i]
        acc[ACC.FUNDING] = funding[i]
        refresh_liq_nb(st, acc, ep)
        out_liq[i] = st["liq_px"]
        out_mark[i] = mark_at_nb(st, ep, ts[i], price[i]) if marked else price[i]


def liquidation_line(equity: np.ndarray, ep: object) -> tuple[np.ndarray, np.ndarray]:
    """(liquidation price, mark) at each row of an EQUITY_DTYPE array of a run with the margin
    model on (`ep`: its EngineParams)."""
    n = len(equity)
    liq = np.full(n, np.nan)
    mark = np.zeros(n)
    if n:
        cols = [np.ascontiguousarray(equity[c], dtype=np.float64)
                for c in ("price", "position", "realized", "unrealized", "fees", "funding")]
        rec = np.zeros(1, GRID_STATE_DTYPE)
        liquidation_line_nb(np.ascontiguousarray(equity["ts"], dtype=np.int64), *cols, ep, rec,
                            liq, mark)
    return liq, mark
