"""The console's refresh, progressive: each pod on screen as soon as it answers, in batches the UI loop
can afford.

The refresh worker hands `_pod_answered` to the snapshot (ConsoleApi.snapshot(on_pod=...)): each pod
that answered is queued, and the queue is put in the tree and the title at most every FLUSH_S (the
first pod at once). Pods yet to answer keep what the last refresh read; the other panes get the whole
estate when the refresh ends (app._apply_topology).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timezone

from textual.widgets import Static

from vecdash.model import PodStatus, Topology
from vecdash.secrets import mask_text
from vecdash.service.stats import pod_endpoints
from vecdash.tui.busy import SPINNER_AFTER_S
from vecdash.tui.text import notify, styled
from vecdash.tui.workers import worker
from vecdash.tui.widgets.topology import TopologyTree

# Answers are put on screen together at most this often (from the end of the last batch): 200 pods
# answering is a handful of tree updates, not 200, and the loop keeps frames (~16 ms) in between.
FLUSH_S = 0.08


def _later(delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
    """`callback` after `delay` s on the loop itself. Not Textual's set_timer: a one-shot Timer whose task
    starts later than its delay skips its only tick (and a delay of 0 divides by zero), so under load a
    flush a few milliseconds away could be lost, leaving answered pods off screen until the refresh ends."""
    return asyncio.get_running_loop().call_later(delay, callback)


class ProgressiveRefresh:
    """Mixed into VecdashApp (the refresh: start, worker, answers as they come); the app's `answered`,
    `partial`, `pods_shown`, `_pending`, `_flush_timer`, `_last_flush` are its state. `app.topology`
    stays the last whole refresh (what the panes and commands work on); `partial` is what the tree and
    the title show while one runs.

    The timers and the worker can outlive the screens: a console closing mid-refresh prunes its widgets
    while they are pending (Textual stops the app's timers last, cancels the worker after). Each checks
    `is_running` (false from the first step of closing) before it touches a widget or starts anything."""

    def refresh_now(self) -> None:
        if not self.live or not self.is_running:  # (its timer may fire as the console closes)
            return
        if self.refreshing:
            notify(self, "a refresh is already running", timeout=2)
            return
        if self._refresh_timer is not None:
            self._refresh_timer.cancel()
            self._refresh_timer = None
        self.refreshing = True
        self.collector.refresh_started()
        self.answered, self._pending, self.pods_shown, self.partial = {}, [], 0, None
        self._spinner_timer = self.set_timer(SPINNER_AFTER_S, self._show_spinner)
        self._refresh_worker()

    def _show_spinner(self) -> None:
        if self.refreshing and self.is_running:
            self.query_one("#refresh-spinner").display = True
            if self.topology is None:
                self.query_one(TopologyTree).loading = True

    @worker(group="refresh", what="refresh")
    async def _refresh_worker(self) -> None:
        changes, self._changes = self._changes, []  # what this refresh reads: changes made before it began
        try:
            topo = await self.api.snapshot(on_pod=self._pod_answered)
        except Exception as exc:  # never kill the console over a refresh; say it and retry later
            self._changes = changes + self._changes  # the next refresh reads them
            if self.is_running:
                notify(self, "refresh failed: ", mask_text(str(exc)), severity="error", timeout=6)
        else:
            if not self.is_running:  # the console closed while the pods answered: nowhere to show them
                return
            try:
                self._apply_topology(topo)
                if changes:
                    self._after_change(topo, changes)
            except Exception as exc:  # a rendering bug must not stop the refresh loop
                self.log.error(styled("rendering the topology failed: ", mask_text(repr(exc))))
                notify(self, "display error: ", mask_text(str(exc)), severity="error", timeout=6)
        finally:
            self.refreshing = False
            self.collector.refresh_ended(self.call_after_refresh)
            self._pending = []
            self._stop_timers()
            # the console closing (the worker cancelled, or the pods answered as the screens went): its
            # widgets are gone or going and no refresh follows; a query_one here raised NoMatches
            if self.is_running:
                # re-arm first: whatever happened above, auto-refresh must go on; a change made while this
                # refresh ran is read by another one right away
                wait = 0.0 if self._changes or self._pods_added else max(0.5, self.config.settings.refresh_seconds)
                self._pods_added = False  # pods discovery added while this refresh ran: read them now
                self._refresh_timer = _later(wait, self.refresh_now)
                self.query_one("#refresh-spinner").display = False
                self.query_one(TopologyTree).loading = False

    def _stop_timers(self, *, closing: bool = False) -> None:
        """Cancel the running refresh's pending callbacks (its next batch of answers, its spinner); when
        the console is `closing` (app.on_unmount), the next refresh's timer too."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._spinner_timer is not None:
            self._spinner_timer.stop()
        if closing and self._refresh_timer is not None:
            self._refresh_timer.cancel()
            self._refresh_timer = None

    def _pod_answered(self, pod: PodStatus) -> None:
        """A pod of the running refresh answered: on screen at once if nothing was shown within FLUSH_S,
        else with the others that answer until then."""
        self._pending.append(pod)
        if self._flush_timer is None:
            wait = self._last_flush + FLUSH_S - time.monotonic()
            if wait <= 0:
                self._show_answered()
            else:
                self._flush_timer = _later(wait, self._show_answered)

    def _show_answered(self) -> None:
        """Put the pods answered since the last call in the tree and the title (the other panes get the
        whole estate when the refresh ends); pods yet to answer keep what the last refresh read."""
        self._flush_timer = None
        batch, self._pending = self._pending, []
        if not batch or not self.refreshing or not self.is_running:
            return
        try:
            self.answered.update((p.name, p) for p in batch)
            self.pods_shown = len(self.answered)
            base = self.topology  # the last whole refresh: what the pods yet to answer showed
            last = {p.name: p for p in base.pods} if base is not None else {}
            pods = [self.answered.get(c.name) or last.get(c.name) for c in self.config.pods]
            self.partial = Topology(pods=[p for p in pods if p is not None],
                                    taken_at=base.taken_at if base is not None else datetime.now(timezone.utc),
                                    elapsed_ms=base.elapsed_ms if base is not None else 0.0)
            if self.endpoints is None:
                self.endpoints = pod_endpoints(self.config)
            # the title bar is one line across the screen (base.tcss): a new title needs no layout
            self.query_one("#title", Static).update(self._title_text(), layout=False)
            self.query_one(TopologyTree).show(self.partial, self.endpoints)
        except Exception as exc:  # a rendering bug must not stop the refresh
            self.log.error(styled("showing answered pods failed: ", mask_text(repr(exc))))
        finally:
            self._last_flush = time.monotonic()  # from its end: a slow batch leaves the loop a breath
