"""Show a spinner only for work that takes longer than ~200 ms (no flicker on fast calls)."""

from __future__ import annotations

from textual.timer import Timer
from textual.widget import Widget

SPINNER_AFTER_S = 0.2  # the one delay before any spinner of the console shows (panes, modals, refresh)


class Busy:
    """`with Busy(spinner): await ...` shows `spinner` if the block is still running after 200 ms."""

    def __init__(self, spinner: Widget) -> None:
        self.spinner = spinner
        self._timer: Timer | None = None

    def __enter__(self) -> "Busy":
        self._timer = self.spinner.set_timer(SPINNER_AFTER_S, self._show)
        return self

    def _show(self) -> None:
        self.spinner.display = True

    def __exit__(self, *exc) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.spinner.display = False
