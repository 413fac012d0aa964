"""Progress bars on stderr for long commands (load, index build, recall sweep).

On a terminal the bar redraws in place; into a pipe or log it prints a line when the phase changes
or at most every 2 seconds, so cron mail stays short. stdout stays clean for --json.
"""

from __future__ import annotations

import sys
import time


class StderrBar:
    def __init__(self, title: str, *, width: int = 30, stream=None, quiet: bool = False):
        self.title = title
        self.width = width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.quiet = quiet
        self._last_line = 0.0
        self._last_label = None
        self._shown = False

    def update(self, fraction: float, label: str = "") -> None:
        if self.quiet:
            return
        fraction = max(0.0, min(1.0, fraction))
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        text = f"{self.title} [{bar}] {fraction * 100:5.1f}% {label}"
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r\x1b[K" + text[:200])
            self.stream.flush()
            self._shown = True
        elif label.split(" (")[0] != self._last_label or now - self._last_line >= 2.0:
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last_line = now
        self._last_label = label.split(" (")[0]

    def message(self, text: str) -> None:
        """A line that must not be overwritten (a NOTICE, a warning)."""
        if self.tty and self._shown:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._shown and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
