"""One progress bar for every long CLI job (sweep, synth, report, walkforward).

Usage::

    from gridlab.progress import progress_bar

    with progress_bar(total=n_days, desc="synth", unit="day", enabled=progress) as bar:
        for day in days:
            ...
            bar.update(1)

The bar is `tqdm.auto`'s: in a terminal a text bar on stderr (as `gridlab sweep` draws it), so
stdout stays clean for `--json`/`--csv` output; in Jupyter an ipywidgets bar. With
`enabled=False` (or `total == 0`) the same object is returned but draws nothing, so callers
never branch on whether a bar exists.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Progress", "progress_bar"]


class Progress:
    """A bar that may be silent: `update(n)`, `set_postfix_str(text)`, `set_description(text)`."""

    def __init__(self, bar: Any | None) -> None:
        self._bar = bar
        self.n = 0

    @property
    def enabled(self) -> bool:
        """True when something is drawn."""
        return self._bar is not None

    def update(self, n: float = 1) -> None:
        """Advance by `n` units."""
        self.n += n
        if self._bar is not None:
            self._bar.update(n)

    def set_postfix_str(self, text: str) -> None:
        """Short status after the bar (e.g. the current fold or day)."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)

    def set_description(self, text: str) -> None:
        """Replace the label before the bar."""
        if self._bar is not None:
            self._bar.set_description(text)


@contextmanager
def progress_bar(total: float | None, desc: str, unit: str = "it", enabled: bool = True,
                 leave: bool = True) -> Iterator[Progress]:
    """A `Progress` over `total` units labelled `desc`, closed on exit (also on error)."""
    bar = None
    if enabled and total != 0:
        from tqdm.auto import tqdm  # a widget in Jupyter (ipywidgets), text elsewhere

        bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=leave,
                   dynamic_ncols=True)
    try:
        yield Progress(bar)
    finally:
        if bar is not None:
            bar.close()
