"""Slow, obvious plain-Python reference of the account-level kernels (strategy/account_nb.py).

Written from docs/strategy-kernels.md ("Account-level risk"), with lists instead of arrays; the
same float operations in the same order, so results agree with the kernels exactly.
"""

from __future__ import annotations

from tests.reference.strategy_ref import kill_switch

__all__ = ["account_equity", "account_kill_switch", "account_order_allowed",
           "total_worst_notional", "worst_notional"]

BUY = 1


def account_equity(capital: float, equities: list[float], capitals: list[float]) -> float:
    total = capital
    for e, c in zip(equities, capitals, strict=True):
        total += e - c
    return total


def account_kill_switch(ts: int, capital: float, equities: list[float], capitals: list[float],
                        state: list[float], threshold: float) -> bool:
    return kill_switch(ts, account_equity(capital, equities, capitals), state, threshold)


def worst_notional(position: float, rest_buy: float, rest_sell: float, mark: float) -> float:
    return max(abs(position + rest_buy), abs(position - rest_sell)) * mark


def total_worst_notional(positions: list[float], rest_buy: list[float], rest_sell: list[float],
                         marks: list[float]) -> float:
    total = 0.0
    for p, b, s, m in zip(positions, rest_buy, rest_sell, marks, strict=True):
        total += worst_notional(p, b, s, m)
    return total


def account_order_allowed(k: int, side: int, qty: float, price: float, positions: list[float],
                          rest_buy: list[float], rest_sell: list[float], marks: list[float],
                          equity: float, max_total: float, max_share: float) -> bool:
    pos = positions[k]
    before = pos + rest_buy[k] if side == BUY else pos - rest_sell[k]
    worst = before + qty if side == BUY else before - qty
    if abs(worst) < abs(before):  # shrinks the worst case of its side
        return True
    own = abs(worst) * price
    if max_share > 0 and not own <= max_share * equity:
        return False
    if max_total > 0:
        others = 0.0
        for j in range(len(positions)):
            if j != k:
                others += worst_notional(positions[j], rest_buy[j], rest_sell[j], marks[j])
        if not own + others <= max_total * equity:
            return False
    return True
