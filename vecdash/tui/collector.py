"""When the console's garbage collector may pause the UI loop: for a process that runs one console
(run_console; tests run many apps in one process and leave the collector alone).

CPython's full (generation-2) collection walks every object the young collections have kept, about a
microsecond each: during a 200-pod refresh (50,000 such objects, most of them Textual's render caches)
one paused the loop 45-60 ms of CPU, two or three times per refresh. So the objects alive once the
console is up are frozen (`gc.freeze`: never walked again), no full collection starts while a refresh
runs (the young generations still do: cheap), and the one deferred runs once the refresh is on screen,
when the loop is idle: at least AFTER_PAINT_S after the last paint, at a moment its timer fires on time
(a timer that fires late means the loop was busy, a paint say, and the collection would add to that
stall), so the paint and the collection are two short stalls, not one long one. Freezing what each
refresh leaves alive instead would skip that collection too, but strips and tree nodes that Textual
drops later are cyclic garbage: frozen, they would never be freed.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable

# A gen-2 threshold no refresh reaches: the full collection waits for the refresh's end.
NO_FULL = 1_000_000
# From the paint that ends a refresh to the deferred collection: a few of the loop's turns (a frame is
# ~16 ms), so whatever came in meanwhile is served before the collection takes the loop.
AFTER_PAINT_S = 0.03
# The collection's timer counts as on time (the loop was idle when it came due) within this; a later
# one tries again after RETRY_S, at most TRIES times, then collects anyway.
ON_TIME_S = 0.002
RETRY_S = 0.01
TRIES = 20


class Collector:
    def __init__(self) -> None:
        self.enabled = False
        self.deferred = 0  # full collections run after a refresh
        self.last: tuple[float, float] | None = None  # the last one's perf_counter() start and end (benchmark)
        self.refreshing = False
        self._threshold: tuple[int, int, int] | None = None

    def enable(self) -> None:
        self.enabled = True

    def freeze(self) -> None:
        """The console is up: what it is made of (modules, widgets) is out of the collector's sight."""
        if self.enabled:
            gc.freeze()

    def refresh_started(self) -> None:
        self.refreshing = True
        if self.enabled and self._threshold is None:
            self._threshold = gc.get_threshold()
            gc.set_threshold(self._threshold[0], self._threshold[1], NO_FULL)

    def refresh_ended(self, when_painted: Callable[[Callable[[], None]], object]) -> None:
        """The refresh ended: the full collection it deferred runs AFTER_PAINT_S after `when_painted`
        calls back (after the next paint), unless another refresh has started by then."""
        self.refreshing = False
        if self._threshold is not None:
            when_painted(self._soon)

    def _soon(self) -> None:
        self._at(AFTER_PAINT_S, TRIES)

    def _at(self, delay: float, tries: int) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(delay, self._if_idle, loop.time() + delay, tries)

    def _if_idle(self, due: float, tries: int) -> None:
        if asyncio.get_running_loop().time() - due > ON_TIME_S and tries > 0:
            self._at(RETRY_S, tries - 1)
        else:
            self._collect()

    def _collect(self) -> None:
        if self.refreshing or self._threshold is None:
            return
        t = time.perf_counter()
        gc.collect()  # first: with the threshold back, the next young collection would start a full one
        self.last = (t, time.perf_counter())
        gc.set_threshold(*self._threshold)
        self._threshold = None
        self.deferred += 1
