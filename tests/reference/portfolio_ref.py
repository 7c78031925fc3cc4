"""Slow, obvious plain-Python reference of the portfolio backtest, independent of `gridlab`.

Several grids (`engine_ref.Grid`, each on its own ledger, capital, bars and kill state) trade
from one account on one merged clock (docs/strategy-kernels.md "Account-level risk"):
- events of every symbol merged by time, ties in symbol order; an event of grid k runs that
  grid's step: bars, fills, then (at the account's check times, multiples of its check
  interval on the merged clock) the account kill switch on total equity, then the grid's own
  check, then funding and equity;
- every order a grid's own gate allows must also pass the account gate
  (`account_ref.account_order_allowed`, marks = each grid's last price, total equity =
  `account_equity` at those marks); a refusal counts in the grid's n_blocked and in its
  n_blocked_account;
- the account kill switch stops every grid still trading (Stop KILL_SWITCH: cancel all,
  flatten at its last price if its flatten_on_kill).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.reference import account_ref as A
from tests.reference.engine_ref import DAY_MS, STOP_KILL, Grid, RefResult

__all__ = ["PortfolioRef", "run_portfolio_ref"]


@dataclass
class PortfolioRef:
    grids: list[RefResult]                                # per grid (daily on the merged days)
    blocked_account: list[int]
    account_rows: list[tuple] = field(default_factory=list)  # (ts, equity, exposure, worst)
    total_daily: list[float] = field(default_factory=list)
    stop_code: int = 0
    stop_ts: int = 0
    final_equity: float = 0.0


def merge(ts_lists: list[list[int]]) -> list[tuple[int, int]]:
    """(grid, index in its stream) of every event: by time, ties in grid order."""
    events = [(t, k, i) for k, ts in enumerate(ts_lists) for i, t in enumerate(ts)]
    events.sort()
    return [(k, i) for _, k, i in events]


def run_portfolio_ref(markets: list[dict], cfgs: list[dict], account: dict) -> PortfolioRef:
    """`markets[k]`, `cfgs[k]` as for `engine_ref.run_plain` (engine.capital = the grid's
    capital); `account`: capital, max_total_exposure_pct, max_symbol_share, kill_switch_dd,
    check_ms (0 = off for the three limits)."""
    ts = [[int(x) for x in m["ts"]] for m in markets]
    price = [[float(x) for x in m["price"]] for m in markets]
    size = [[float(x) for x in m["size"]] for m in markets]
    grids = [Grid(c, t[0], p[0], m["fund_ts"], m["fund_rate"])
             for c, t, p, m in zip(cfgs, ts, price, markets, strict=True)]
    caps = [g.ep.capital for g in grids]
    capital = account["capital"]
    blocked = [0] * len(grids)
    out = PortfolioRef([g.res for g in grids], blocked)
    for r in out.grids:
        r.daily = []
    kill_state = [-1.0, 0.0]
    next_acheck = [-1]
    next_check = [-1] * len(grids)
    first = min(t[0] for t in ts)
    next_day = (first // DAY_MS + 1) * DAY_MS

    def arrays(t: int, use_prev: bool = False):
        pos, rb, rs, marks, eqs = [], [], [], [], []
        for g in grids:
            b, s, _ = g.resting(t)
            pos.append(g.acc.pos)
            rb.append(b)
            rs.append(s)
            marks.append(g.mark)
            eqs.append(g.acc.equity(g.prev_p if use_prev else g.mark))
        return pos, rb, rs, marks, eqs

    def gate(k: int, t: int):
        def ok(side: int, qty: float, px: float) -> bool:
            if account["max_total_exposure_pct"] <= 0 and account["max_symbol_share"] <= 0:
                return True
            pos, rb, rs, marks, eqs = arrays(t)
            tot = A.account_equity(capital, eqs, caps)
            allowed = A.account_order_allowed(k, side, qty, px, pos, rb, rs, marks, tot,
                                              account["max_total_exposure_pct"],
                                              account["max_symbol_share"])
            blocked[k] += not allowed
            return allowed
        return ok

    for k, i in merge(ts):
        g = grids[k]
        t, p, sz = ts[k][i], price[k][i], size[k][i]
        if t >= next_day:
            eqs = [h.acc.equity(h.prev_p) for h in grids]
            tot = A.account_equity(capital, eqs, caps)
            while t >= next_day:
                for h, e in zip(grids, eqs, strict=True):
                    h.res.daily.append(e)
                out.total_daily.append(tot)
                next_day += DAY_MS
        g.mark = p
        g.bars.update(t, p)
        g.on_fills(i, t, p, sz, gate(k, t))
        if t >= next_acheck[0]:
            next_acheck[0] = (t // account["check_ms"] + 1) * account["check_ms"]
            pos, rb, rs, marks, eqs = arrays(t)
            fire = A.account_kill_switch(t, capital, eqs, caps, kill_state,
                                         account["kill_switch_dd"])
            if fire and not out.stop_code:
                out.stop_code, out.stop_ts = STOP_KILL, t
                for h in grids:
                    if not h.stopped:
                        h.stop(t, h.mark, STOP_KILL)
                pos, rb, rs, marks, eqs = arrays(t)
            out.account_rows.append((
                t, A.account_equity(capital, eqs, caps),
                sum_in_order([abs(x) * m for x, m in zip(pos, marks, strict=True)]),
                A.total_worst_notional(pos, rb, rs, marks)))
        if t >= next_check[k]:
            next_check[k] = (t // g.ep.check_ms + 1) * g.ep.check_ms
            g.check(i, t, p, gate(k, t))
        g.after_event(t, p)
    n_days = (max(t[-1] for t in ts)) // DAY_MS - first // DAY_MS + 1
    finals = []
    for g, t, p in zip(grids, ts, price, strict=True):
        g.finish(t[-1], p[-1], len(t), t[-1] // DAY_MS - t[0] // DAY_MS + 1)
        finals.append(g.acc.equity(p[-1]))
    tot = A.account_equity(capital, finals, caps)
    while len(out.total_daily) < n_days:
        for g, e in zip(grids, finals, strict=True):
            g.res.daily.append(e)
        out.total_daily.append(tot)
    out.final_equity = tot
    return out


def sum_in_order(xs: list[float]) -> float:
    total = 0.0
    for x in xs:
        total += x
    return total
