"""numba kernel of the synthetic market: the latent log-price path (see gridlab.data.synth)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["latent_path_nb", "latent_state"]


def latent_state(x0: float) -> np.ndarray:
    """The path's state at its start: [x, anchor, trend sign] = [x0, x0, +1]."""
    return np.array([x0, x0, 1.0])


@njit(cache=True)
def latent_path_nb(x0: float, state: np.ndarray, sigma: np.ndarray, z: np.ndarray,
                   jumps: np.ndarray, drift_abs: np.ndarray, kappa: np.ndarray,
                   phase_start: np.ndarray, phase_u: np.ndarray, pull: float,
                   out: np.ndarray) -> None:
    """Latent log price at the n + 1 step boundaries of one stretch, written into `out`
    (length n + 1, out[0] = the current x); `state` ([x, anchor, sign], see `latent_state`)
    is carried in place, so a path built stretch by stretch equals the path built at once.

    Step i: x += sign * drift_abs[i] + sigma[i] * z[i] + jumps[i] - kappa[i] * (x - anchor).
    At a step with phase_start[i], the anchor resets to the current x and the trend sign is
    drawn: up with probability 1 / (1 + exp(pull * (x - x0))) (using phase_u[i]), which keeps
    long runs near the starting price x0. drift_abs is zero in ranging phases, kappa zero in
    trending ones.
    """
    n = sigma.shape[0]
    x = state[0]
    anchor = state[1]
    sign = state[2]
    out[0] = x
    for i in range(n):
        if phase_start[i]:
            anchor = x
            p_up = 1.0 / (1.0 + math.exp(pull * (x - x0)))
            sign = 1.0 if phase_u[i] < p_up else -1.0
        x = x + sign * drift_abs[i] + sigma[i] * z[i] + jumps[i] - kappa[i] * (x - anchor)
        out[i + 1] = x
    state[0] = x
    state[1] = anchor
    state[2] = sign
