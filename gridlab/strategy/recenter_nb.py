"""Recenter triggers: one reason code per check (numba kernels).

Checked in Reason order: TRAIL_UP, TRAIL_DOWN, DEVIATION, PUMP_DUMP, DOMINANCE, TIME; the
first that fires wins. INITIAL, MANUAL and KILL are set by the caller.

The look-back triggers cost amortised O(1) per check, not a scan of the window, through a
cache `cache` = `new_recenter_cache(capacity)` (f8[CACHE_HEAD + capacity]) preallocated beside
the ring and updated in place:
- PUMP_DUMP remembers the ring row of its last answer: the window start only moves forward
  between recenters, so the next answer is that row or a newer one (a short walk). Otherwise
  (first query, window moved back, row overwritten) a binary search of the ring by open time
  (open times strictly increase, see `bars_nb`), started where contiguous bars would put it.
- DOMINANCE keeps running counts: the closes above / below the centre of the bars in the last
  window, and the side of each counted bar by ring row. A check drops the bars that left the
  window and adds the bars completed since the last check; one scan of the window rebuilds
  the counts when the centre changes (a recenter), when the window start moves back, or when
  the ring no longer holds what was counted (open times of the newest / oldest counted bar
  differ; more than a ring of new bars).
The cache never changes a result: the answers equal a scan of the ring whatever the call
sequence (tests/test_strategy_recenter.py checks it against the scanning references). It is
derived from the ring: reset it (`cache[:] = new_recenter_cache(capacity)`) when the ring's
content is replaced.

The per-check kernels allocate nothing and are compiled with `_nrt=False` (no reference
counting): otherwise each call increfs and decrefs its array arguments with atomic
instructions, which cost more than the triggers themselves (docs/strategy-kernels.md).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gridlab.strategy.bars_nb import B_CLOSE, B_OPEN, B_OPEN_TIME, H_COUNT, H_HEAD, bar_at_nb
from gridlab.strategy.enums import Reason

__all__ = [
    "CACHE_HEAD",
    "QUIET_BARS",
    "arm_quiet_nb",
    "dominance_share_nb",
    "new_recenter_cache",
    "pump_dump_band_nb",
    "pump_dump_fires_nb",
    "pump_dump_ref_nb",
    "recenter_quiet_nb",
    "recenter_reason_nb",
]

# cache f8[CACHE_HEAD + capacity]. Dominance: the centre the counts are for (nan = none), the
# window start of the last query, open times of the oldest counted bar and of the newest bar
# seen, the counts (bars in the window, closes above, closes below the centre). Pump/dump: the
# ring row of the last answer (-1 = none), its open time, the window start of that query.
# The quiet window (`arm_quiet_nb`): checks at times in [Q_FROM, Q_UNTIL) at a price strictly
# inside (Q_LO, Q_HI), on the grid built at Q_RC (centre, lowest, highest level), fire nothing.
# Then one slot per ring row: the side (+1 above, -1 below, 0 at) of the bar counted there.
D_CENTRE, D_SINCE, D_FIRST_OT, D_LAST_OT, D_N, D_ABOVE, D_BELOW = 0, 1, 2, 3, 4, 5, 6
P_ROW, P_OT, P_SINCE = 7, 8, 9
Q_FROM, Q_UNTIL, Q_LO, Q_HI, Q_RC, Q_CENTRE, Q_LOWEST, Q_HIGHEST = 10, 11, 12, 13, 14, 15, 16, 17
CACHE_HEAD = 18
QUIET_BARS = 64
"""Bars of the ring's length one quiet window covers at most (`arm_quiet_nb`)."""


@njit(cache=True)
def new_recenter_cache(capacity):
    """An empty trigger cache for a ring of `capacity` bars (the first queries search)."""
    cache = np.zeros(CACHE_HEAD + capacity, dtype=np.float64)
    cache[D_CENTRE] = np.nan
    cache[P_ROW] = -1.0
    cache[Q_FROM] = np.inf  # no quiet window
    cache[Q_UNTIL] = -np.inf
    return cache


@njit(cache=True, _nrt=False)
def _pump_dump_search_nb(ring, meta, since):
    """Row of the oldest completed bar with open_time >= since; -1 if none.

    Open times decrease with the age index i (0 = newest), so the answer is the last i with
    open_time >= since: a guess assuming contiguous bars (the spacing of the two newest), then
    a binary search on what is left. Rows are computed inline (`bar_at_nb`)."""
    count = meta[H_COUNT]
    head = meta[H_HEAD]
    cap = ring.shape[0]
    out = -1
    r = head - 1
    if r < 0:
        r += cap
    if count > 0 and ring[r, B_OPEN_TIME] >= since:
        t0 = ring[r, B_OPEN_TIME]
        lo = 0  # open_time(lo) >= since
        hi = count  # open_time(hi) < since, or past the oldest bar
        if count > 1:
            r = head - 2
            if r < 0:
                r += cap
            step = t0 - ring[r, B_OPEN_TIME]
            back = (t0 - since) / step
            g = count - 1
            if back < g:
                g = np.int64(back)
            r = head - 1 - g
            if r < 0:
                r += cap
            if ring[r, B_OPEN_TIME] >= since:
                lo = g
                if g + 1 < count:
                    r = head - 2 - g
                    if r < 0:
                        r += cap
                    if ring[r, B_OPEN_TIME] < since:
                        hi = g + 1
                    else:
                        lo = g + 1
            else:
                hi = g
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            r = head - 1 - mid
            if r < 0:
                r += cap
            if ring[r, B_OPEN_TIME] >= since:
                lo = mid
            else:
                hi = mid
        r = head - 1 - lo
        if r < 0:
            r += cap
        out = r
    return out


@njit(cache=True, _nrt=False, inline="always")
def pump_dump_ref_nb(ring, meta, cache, since):
    """Open of the oldest completed bar with open_time >= since; nan if there is none.

    With the row of the last answer in `cache` and `since` not before the last one, the answer
    is that row or a newer one: walk forward. Else search (`_pump_dump_search_nb`)."""
    if cache.shape[0] < CACHE_HEAD:
        raise ValueError("the recenter cache is too small: make it with new_recenter_cache")
    count = meta[H_COUNT]
    cap = ring.shape[0]
    row = np.int64(cache[P_ROW])
    if (count > 0 and row >= 0 and row < cap and since >= cache[P_SINCE]
            and ring[row, B_OPEN_TIME] == cache[P_OT]):
        newest = meta[H_HEAD] - 1
        if newest < 0:
            newest += cap
        while ring[row, B_OPEN_TIME] < since:
            if row == newest:
                row = -1
                break
            row += 1
            if row >= cap:
                row -= cap
    else:
        row = _pump_dump_search_nb(ring, meta, since)
    cache[P_ROW] = row
    cache[P_SINCE] = since
    if row < 0:
        return np.nan
    cache[P_OT] = ring[row, B_OPEN_TIME]
    return ring[row, B_OPEN]


@njit(cache=True, _nrt=False)
def _dom_rescan_nb(ring, meta, cache, since, centre):
    """Rebuild the dominance cache by scanning the window (newest back to `since`). A cache
    too small for the ring keeps only the counts (every query then scans)."""
    count = meta[H_COUNT]
    sides = cache.shape[0] >= CACHE_HEAD + ring.shape[0]
    above = 0
    below = 0
    total = 0
    for i in range(count):
        r = bar_at_nb(ring, meta, i)
        if ring[r, B_OPEN_TIME] < since:
            break
        c = ring[r, B_CLOSE]
        sd = 0.0
        if c > centre:
            sd = 1.0
            above += 1
        elif c < centre:
            sd = -1.0
            below += 1
        if sides:
            cache[CACHE_HEAD + r] = sd
        total += 1
    cache[D_CENTRE] = centre
    cache[D_SINCE] = since
    cache[D_N] = total
    cache[D_ABOVE] = above
    cache[D_BELOW] = below
    cache[D_LAST_OT] = ring[bar_at_nb(ring, meta, 0), B_OPEN_TIME] if count > 0 else -np.inf
    if total > 0:
        cache[D_FIRST_OT] = ring[bar_at_nb(ring, meta, total - 1), B_OPEN_TIME]


@njit(cache=True, _nrt=False, inline="always")
def _dom_update_nb(ring, meta, cache, since, centre):
    """Bring the cache to (since, centre): drop the counted bars that left the window, add the
    bars completed since the last query; returns False (nothing changed) when that cannot be
    done exactly and the caller must rescan. Rows are computed inline: this runs at checks."""
    cap = ring.shape[0]
    if (not (cache[D_CENTRE] == centre and since >= cache[D_SINCE])
            or cache.shape[0] < CACHE_HEAD + cap):
        return False
    count = meta[H_COUNT]
    head = meta[H_HEAD]
    last_ot = cache[D_LAST_OT]
    # k = bars completed since the last query: ages 0 .. k-1
    k = 0
    r = head - 1
    while k < count:
        if r < 0:
            r += cap
        if ring[r, B_OPEN_TIME] <= last_ot:
            break
        k += 1
        r -= 1
    n = np.int64(cache[D_N])
    above = np.int64(cache[D_ABOVE])
    below = np.int64(cache[D_BELOW])
    if n > 0:
        # the counted bars are ages k .. k+n-1; the ring must still hold the newest of them
        # (else more than a ring of bars passed: unknown how many); r is the row of age k
        if k == count or ring[r, B_OPEN_TIME] != last_ot:
            return False
        lost = k + n - count  # the oldest counted bars, overwritten in the (full) ring
        if lost <= 0:
            r = head - k - n
            if r < 0:
                r += cap
            if ring[r, B_OPEN_TIME] != cache[D_FIRST_OT]:
                return False
        else:
            # older than the ring's oldest bar: out of the window only if that bar is
            r = head  # age count - 1 of a full ring
            if r >= cap:
                r -= cap
            if count < cap or ring[r, B_OPEN_TIME] >= since:
                return False
            # their sides are still cached: their rows hold new bars not yet added
            for j in range(count, k + n):
                r = (head - 1 - j) % cap
                sd = cache[CACHE_HEAD + r]
                if sd > 0.0:
                    above -= 1
                elif sd < 0.0:
                    below -= 1
            n -= lost
    # evict the oldest counted bars that left the window
    r = head - k - n  # row of age k + n - 1
    if r < 0:
        r += cap
    while n > 0:
        if ring[r, B_OPEN_TIME] >= since:
            break
        sd = cache[CACHE_HEAD + r]
        if sd > 0.0:
            above -= 1
        elif sd < 0.0:
            below -= 1
        n -= 1
        r += 1
        if r >= cap:
            r -= cap
    # add the new bars, oldest first (all newer than every counted bar)
    r = head - k  # row of age k - 1
    if r < 0:
        r += cap
    for _ in range(k):
        if ring[r, B_OPEN_TIME] >= since:  # else every counted bar left: the window starts later
            c = ring[r, B_CLOSE]
            sd = 0.0
            if c > centre:
                sd = 1.0
                above += 1
            elif c < centre:
                sd = -1.0
                below += 1
            cache[CACHE_HEAD + r] = sd
            n += 1
        r += 1
        if r >= cap:
            r -= cap
    # the window is now ages 0 .. n-1
    cache[D_SINCE] = since
    cache[D_N] = n
    cache[D_ABOVE] = above
    cache[D_BELOW] = below
    if count > 0:
        r = head - 1
        if r < 0:
            r += cap
        cache[D_LAST_OT] = ring[r, B_OPEN_TIME]
    if n > 0:
        r = head - n
        if r < 0:
            r += cap
        cache[D_FIRST_OT] = ring[r, B_OPEN_TIME]
    return True


@njit(cache=True, _nrt=False, inline="always")
def dominance_share_nb(ring, meta, cache, since, centre):
    """(share of closes above centre, share below, n bars) over completed bars opened >= since.

    `cache` is the trigger cache (`new_recenter_cache(capacity)`), updated in place; reset it
    (`cache[:] = new_recenter_cache(capacity)`) when the ring's content is replaced (restore)."""
    if cache.shape[0] < CACHE_HEAD:
        raise ValueError("the recenter cache is too small: make it with new_recenter_cache")
    if not _dom_update_nb(ring, meta, cache, since, centre):
        _dom_rescan_nb(ring, meta, cache, since, centre)
    total = np.int64(cache[D_N])
    if total == 0:
        return 0.0, 0.0, 0
    return np.int64(cache[D_ABOVE]) / total, np.int64(cache[D_BELOW]) / total, total


@njit(cache=True, inline="always")
def pump_dump_band_nb(ref, pd_pct):
    """(lo, hi): a price strictly between them is well inside the pump/dump band of `ref`
    (`pump_dump_fires_nb`; for 0 < pd_pct < 0.5 and ref in 1e-290..1e290). Both ends are
    non-decreasing in `ref` (products by positive constants, correctly rounded)."""
    return ref * (1.0 - pd_pct) * (1.0 + 1e-12), ref * (1.0 + pd_pct) * (1.0 - 1e-12)


@njit(cache=True, inline="always")
def pump_dump_fires_nb(price, ref, pd_pct):
    """The pump/dump rule `|price / ref - 1| >= pd_pct` (ref > 0). A price well inside the
    band `ref * (1 -+ pd_pct)` (a relative margin of 1e-12, far above the rounding of the
    quotient; used for 0 < pd_pct < 0.5, price > 0 and ref in 1e-290..1e290) answers False
    without dividing."""
    if 0.0 < pd_pct < 0.5 and price > 0.0 and 1e-290 < ref < 1e290:
        lo, hi = pump_dump_band_nb(ref, pd_pct)
        if lo < price < hi:
            return False
    return abs(price / ref - 1.0) >= pd_pct


@njit(cache=True, _nrt=False, inline="always")
def recenter_reason_nb(ts, price, centre, lowest_level, highest_level, last_recenter_ts,
                       ring, meta, cache, rp):
    """Reason code of the first recenter trigger that fires at (ts, price); 0 = none.

    `lowest_level` / `highest_level` are the outer levels of the enabled slots (see
    `grid_bounds_nb`); nan (no enabled slot) disables the trailing and deviation triggers.
    `cache` is the trigger cache kept beside the ring (`new_recenter_cache(capacity)`).
    """
    up_ok = rp.trail_up_limit <= 0.0 or price <= rp.trail_up_limit
    if rp.trail_up and price > highest_level and up_ok:
        return Reason.TRAIL_UP
    down_ok = rp.trail_down_limit <= 0.0 or price >= rp.trail_down_limit
    if rp.trail_down and price < lowest_level and down_ok:
        return Reason.TRAIL_DOWN
    above = price > highest_level * (1.0 + rp.deviation)
    below = price < lowest_level * (1.0 - rp.deviation)
    if rp.dev_enabled and (above or below):
        return Reason.DEVIATION
    if rp.pd_enabled:
        ref = pump_dump_ref_nb(ring, meta, cache, max(ts - rp.pd_window_ms, last_recenter_ts))
        if not np.isnan(ref) and ref > 0.0 and pump_dump_fires_nb(price, ref, rp.pd_pct):
            return Reason.PUMP_DUMP
    if rp.dom_enabled and ts - last_recenter_ts >= rp.dom_window_ms:
        up, down, total = dominance_share_nb(ring, meta, cache, ts - rp.dom_window_ms, centre)
        if total > 0 and (up >= rp.dom_share or down >= rp.dom_share):
            return Reason.DOMINANCE
    if rp.time_enabled and ts - last_recenter_ts >= rp.max_age_ms:
        return Reason.TIME
    return Reason.NONE


# ---- the quiet window: checks that provably fire nothing, answered in O(1) -----------------


@njit(cache=True, inline="always")
def recenter_quiet_nb(cache, ts, price, centre, lowest_level, highest_level, last_recenter_ts):
    """True when (ts, price) is inside the quiet window armed by `arm_quiet_nb` for this grid:
    `recenter_reason_nb` would answer Reason.NONE there (same ring, fed in time order)."""
    return (cache[Q_FROM] <= ts < cache[Q_UNTIL] and cache[Q_LO] < price < cache[Q_HI]
            and cache[Q_RC] == last_recenter_ts and cache[Q_CENTRE] == centre
            and cache[Q_LOWEST] == lowest_level and cache[Q_HIGHEST] == highest_level)


@njit(cache=True, _nrt=False)
def arm_quiet_nb(ring, meta, cache, ts, centre, lowest_level, highest_level, last_recenter_ts,
                 rp, bar_ms):
    """After `recenter_reason_nb` answered Reason.NONE at time `ts` (with this cache, nothing
    in between), write the quiet window of the checks that follow: times ts .. ts +
    QUIET_BARS bars (less when a trigger's time comes first) and the prices strictly inside
    (Q_LO, Q_HI) at which no trigger can fire, whatever bars complete meanwhile (bars are fed
    in time order: open times at least `bar_ms` apart, the ring holds every window), n
    bars long:

    - trailing / deviation: the outer levels (and their deviation bounds) as computed by the
      rule; TIME and the start of DOMINANCE: their times;
    - PUMP_DUMP: the reference of a later check is the open of a bar from this check's
      reference up to the first bar opened at or after the window start at the end of the
      quiet window (when no bar that late exists yet, the window ends where one would be
      needed); the price must be well inside the band of every one of them
      (`pump_dump_band_nb`: the band of the highest open from below, of the lowest from
      above);
    - DOMINANCE (counted at `ts`: n bars, a above, b below the centre): within k bars at
      most k counted bars leave the window and k + 1 new ones complete, so the share on one
      side is at most (a + k + 2) / (n + 2): the window is as many bars (up to QUIET_BARS)
      as keep that below the share with a margin (1e-9, far above the rounding).

    Writes an empty window when a precondition of these bounds does not hold."""
    cache[Q_FROM] = np.inf
    cache[Q_UNTIL] = -np.inf
    n_bars = QUIET_BARS
    if rp.dom_enabled and ts - last_recenter_ts >= rp.dom_window_ms:
        if not (cache[D_CENTRE] == centre and cache[D_SINCE] == ts - rp.dom_window_ms):
            return
        # within n_bars bars: share <= (a + n_bars + 2) / (n + 2) < dom_share needs
        # n_bars < lim - a - 2 (and the same for b)
        lim = rp.dom_share * (cache[D_N] + 2.0) * (1.0 - 1e-9)
        most = max(cache[D_ABOVE], cache[D_BELOW]) + 2.0
        room = lim - most
        if room <= n_bars:
            n_bars = np.int64(np.ceil(room)) - 1 if room > 1.0 else 0
        while n_bars > 0 and not most + n_bars < lim:  # the rule itself (integers exact)
            n_bars -= 1
        if n_bars < 1:
            return
    until = ts + n_bars * bar_ms
    lo = -np.inf
    hi = np.inf
    if rp.trail_up and not np.isnan(highest_level):
        hi = min(hi, np.nextafter(highest_level, np.inf))  # fires at price > highest
    if rp.trail_down and not np.isnan(lowest_level):
        lo = max(lo, np.nextafter(lowest_level, -np.inf))
    if rp.dev_enabled:
        up = highest_level * (1.0 + rp.deviation)
        down = lowest_level * (1.0 - rp.deviation)
        if not np.isnan(up):
            hi = min(hi, np.nextafter(up, np.inf))
        if not np.isnan(down):
            lo = max(lo, np.nextafter(down, -np.inf))
    if rp.pd_enabled:
        if not 0.0 < rp.pd_pct < 0.5:
            return
        row = np.int64(cache[P_ROW])
        cap = ring.shape[0]
        if meta[H_COUNT] == 0 or row < 0 or row >= cap or cache[P_SINCE] != max(
                ts - rp.pd_window_ms, last_recenter_ts):
            return
        end_since = max(until - rp.pd_window_ms, last_recenter_ts)
        newest = meta[H_HEAD] - 1
        if newest < 0:
            newest += cap
        rmin = np.inf
        rmax = -np.inf
        while True:
            o = ring[row, B_OPEN]
            rmin = min(rmin, o)
            rmax = max(rmax, o)
            if ring[row, B_OPEN_TIME] >= end_since:
                break
            if row == newest:  # later checks may need a bar not yet completed
                until = min(until, ring[row, B_OPEN_TIME] + rp.pd_window_ms + 1)
                break
            row += 1
            if row >= cap:
                row -= cap
        if not (rmin > 1e-290 and rmax < 1e290):
            return
        lo = max(lo, pump_dump_band_nb(rmax, rp.pd_pct)[0])
        hi = min(hi, pump_dump_band_nb(rmin, rp.pd_pct)[1])
    if rp.dom_enabled and ts - last_recenter_ts < rp.dom_window_ms:
        until = min(until, last_recenter_ts + rp.dom_window_ms)  # its first count
    if rp.time_enabled:
        until = min(until, last_recenter_ts + rp.max_age_ms)
    if not (lo < hi and ts < until):
        return
    cache[Q_FROM] = ts
    cache[Q_UNTIL] = until
    cache[Q_LO] = lo
    cache[Q_HI] = hi
    cache[Q_RC] = last_recenter_ts
    cache[Q_CENTRE] = centre
    cache[Q_LOWEST] = lowest_level
    cache[Q_HIGHEST] = highest_level
