"""Deterministic orderLinkIds: `<prefix><tag>-<gen>-<slot><leg><cycle>-<attempt>` (hex numbers).

The same (grid generation, slot, leg, cycle, attempt) always gives the same id, so a runner
restarted after a crash re-derives the id of every order it meant to place and never places
one twice (Bybit refuses a second order with the same orderLinkId, and the client then
adopts the existing one). `tag` is a hash of the live store's name: it tells this runner's
orders apart from any other order on the account.
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple

__all__ = ["LEGS", "LinkKey", "make_link", "parse_link", "runner_tag"]

LEGS = {"o": "open", "c": "close", "s": "seed", "f": "flatten"}
_MAX = 36


class LinkKey(NamedTuple):
    """What an orderLinkId encodes. `slot` is -1 for market orders (seed, flatten)."""

    gen: int
    slot: int
    leg: str
    cycle: int
    attempt: int


def runner_tag(name: str) -> str:
    """Five hex characters identifying a runner (its live store name)."""
    return hashlib.sha256(name.encode()).hexdigest()[:5]


def _prefix(prefix: str, tag: str) -> str:
    return f"{prefix}{tag}-"


def make_link(prefix: str, tag: str, key: LinkKey) -> str:
    """The orderLinkId of `key` (<= 36 characters)."""
    if key.leg not in LEGS:
        raise ValueError(f"leg must be one of {sorted(LEGS)}, got {key.leg!r}")
    if min(key.gen, key.cycle, key.attempt) < 0 or key.slot < -1:
        raise ValueError(f"negative field in {key}")
    slot = "x" if key.slot < 0 else f"{key.slot:x}"
    link = (f"{_prefix(prefix, tag)}{key.gen:x}-{slot}{key.leg}{key.cycle:x}-"
            f"{key.attempt:x}")
    if len(link) > _MAX:
        raise ValueError(f"orderLinkId {link!r} is longer than {_MAX} characters")
    return link


def parse_link(link: str, prefix: str, tag: str) -> LinkKey | None:
    """The key of one of this runner's orderLinkIds; None for anyone else's."""
    head = _prefix(prefix, tag)
    if not link.startswith(head):
        return None
    m = re.fullmatch(r"([0-9a-f]+)-(x|[0-9a-f]+)([ocsf])([0-9a-f]+)-([0-9a-f]+)",
                     link[len(head):])
    if m is None:
        return None
    slot = -1 if m.group(2) == "x" else int(m.group(2), 16)
    return LinkKey(int(m.group(1), 16), slot, m.group(3), int(m.group(4), 16),
                   int(m.group(5), 16))
