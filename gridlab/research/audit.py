"""Live audit: a runner's real fills against the backtest of the tape it saw, fill by fill.

`match_fills` pairs each live fill with a simulated one of the same side and limit price
within `tol_ms` (each used once, in time order); what is left is *missed* (the backtest
filled, live did not) or *extra* (live filled, the backtest did not), except fills inside a
span where the recorded tape is incomplete (stream drop, restart): those are *gap*, because
the replay could not see that market and must not report false misses.

`pnl_attribution` splits the PnL difference exactly: marked to one end price `mark`, a fill
contributes `side x qty x (mark - price) - fee`, so PnL = sum of contributions + funding,
and live - backtest = matched (price, size and timing of the fills both made) + missed +
extra + gap + fees + funding, to the last float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["FILL_COLUMNS", "AuditResult", "match_fills", "pnl_attribution"]

FILL_COLUMNS = ("ts", "side", "price", "qty", "fee")
"""Columns both fill tables need: time (epoch ms), side +1/-1, limit price, qty, fee."""


@dataclass(frozen=True)
class AuditResult:
    """`fills`: one row per matched pair or unmatched fill (status matched/missed/extra/gap,
    the live and simulated time, price, qty, fee, dt_ms = live - sim); `counts` per status."""

    fills: pd.DataFrame
    counts: dict[str, int]

    @property
    def match_rate(self) -> float:
        """matched / (matched + missed + extra); 1.0 with no fill outside gaps."""
        n = self.counts["matched"] + self.counts["missed"] + self.counts["extra"]
        return self.counts["matched"] / n if n else 1.0


def _check(df: pd.DataFrame, what: str) -> pd.DataFrame:
    missing = [c for c in FILL_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{what} fills lack the column(s) {', '.join(missing)}")
    return df.sort_values("ts", kind="stable").reset_index(drop=True)


def _in_gap(ts: int, gaps: list[tuple[int, int]]) -> bool:
    return any(a <= ts <= b for a, b in gaps)


def match_fills(sim: pd.DataFrame, live: pd.DataFrame, *, tol_ms: int = 5_000,
                gaps: list[tuple[int, int]] | None = None, price_tol: float = 1e-9
                ) -> AuditResult:
    """Pair live and simulated fills (see the module docstring)."""
    sim = _check(sim, "simulated")
    live = _check(live, "live")
    gaps = gaps or []
    used = np.zeros(len(sim), dtype=bool)
    rows: list[dict[str, object]] = []
    s_ts = sim["ts"].to_numpy()
    s_side = sim["side"].to_numpy()
    s_px = sim["price"].to_numpy()
    for lv in live.itertuples(index=False):
        best = -1
        best_dt = tol_ms + 1
        lo = np.searchsorted(s_ts, lv.ts - tol_ms, side="left")
        hi = np.searchsorted(s_ts, lv.ts + tol_ms, side="right")
        for j in range(lo, hi):
            if used[j] or s_side[j] != lv.side:
                continue
            if abs(s_px[j] - lv.price) > price_tol * max(1.0, abs(lv.price)):
                continue
            dt = abs(int(lv.ts) - int(s_ts[j]))
            if dt < best_dt:
                best, best_dt = j, dt
        if best >= 0:
            used[best] = True
            s = sim.iloc[best]
            rows.append(_row("matched", lv, s))
        else:
            rows.append(_row("gap" if _in_gap(int(lv.ts), gaps) else "extra", lv, None))
    for j in np.flatnonzero(~used):
        s = sim.iloc[j]
        rows.append(_row("gap" if _in_gap(int(s["ts"]), gaps) else "missed", None, s))
    out = pd.DataFrame(rows, columns=["status", "side", "live_ts", "sim_ts", "live_price",
                                      "sim_price", "live_qty", "sim_qty", "live_fee", "sim_fee",
                                      "dt_ms"])
    out["order_ts"] = out["live_ts"].fillna(out["sim_ts"])
    out = out.sort_values("order_ts", kind="stable").drop(columns="order_ts")
    counts = {k: int((out["status"] == k).sum()) for k in ("matched", "missed", "extra", "gap")}
    return AuditResult(out.reset_index(drop=True), counts)


def _row(status: str, lv: object | None, s: pd.Series | None) -> dict[str, object]:
    nan = float("nan")
    return {
        "status": status,
        "side": int(lv.side if lv is not None else s["side"]),  # type: ignore[union-attr]
        "live_ts": int(lv.ts) if lv is not None else nan,  # type: ignore[union-attr]
        "sim_ts": int(s["ts"]) if s is not None else nan,
        "live_price": float(lv.price) if lv is not None else nan,  # type: ignore[union-attr]
        "sim_price": float(s["price"]) if s is not None else nan,
        "live_qty": float(lv.qty) if lv is not None else nan,  # type: ignore[union-attr]
        "sim_qty": float(s["qty"]) if s is not None else nan,
        "live_fee": float(lv.fee) if lv is not None else nan,  # type: ignore[union-attr]
        "sim_fee": float(s["fee"]) if s is not None else nan,
        "dt_ms": (int(lv.ts) - int(s["ts"])  # type: ignore[union-attr]
                  if lv is not None and s is not None else nan),
    }


def _contrib(side: pd.Series, qty: pd.Series, price: pd.Series, mark: float) -> pd.Series:
    return (side * qty * (mark - price)).fillna(0.0)


def pnl_attribution(audit: AuditResult, mark: float, *, live_funding: float = 0.0,
                    sim_funding: float = 0.0, start_position: float = 0.0,
                    start_price: float = 0.0) -> dict[str, float]:
    """PnL difference live - backtest split into causes (module docstring); keys matched,
    missed, extra, gap, fees, funding, total (their sum) and live_pnl, sim_pnl.

    A span that starts with a position (`start_position` at `start_price`, both sides the
    same) adds its move to `mark` to both PnLs (key `held`): it is in neither cause."""
    f = audit.fills
    live_c = _contrib(f["side"], f["live_qty"], f["live_price"], mark)
    sim_c = _contrib(f["side"], f["sim_qty"], f["sim_price"], mark)
    st = f["status"]
    parts = {
        "matched": float((live_c - sim_c)[st == "matched"].sum()),
        "missed": float(-sim_c[st == "missed"].sum()),
        "extra": float(live_c[st == "extra"].sum()),
        "gap": float((live_c - sim_c)[st == "gap"].sum()),
        "fees": float(-(f["live_fee"].fillna(0.0).sum() - f["sim_fee"].fillna(0.0).sum())),
        "funding": float(live_funding - sim_funding),
    }
    parts["total"] = float(sum(parts.values()))
    held = float(start_position * (mark - start_price)) if start_position != 0.0 else 0.0
    parts["held"] = held
    parts["live_pnl"] = float(live_c.sum() - f["live_fee"].fillna(0.0).sum() + live_funding
                              + held)
    parts["sim_pnl"] = float(sim_c.sum() - f["sim_fee"].fillna(0.0).sum() + sim_funding
                             + held)
    return parts
