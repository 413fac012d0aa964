"""Runs one confirmed change (an index drop or rebuild, ANALYZE, VACUUM, a collection drop) and says
what ran: the statement, the time it is taking, then what the server reported.

The statement is the confirmed plan's own (the same text the confirmation showed). A statement on a
session without statement timeout (VACUUM, REINDEX / DROP INDEX CONCURRENTLY) runs until it ends or
`c` cancels it: the worker is cancelled, and psycopg cancels the statement on the server (giving up
after a few seconds when the pod does not answer). esc closes once the statement has ended; closing
hands back True (something may have changed: the app re-reads the estate).
"""

from __future__ import annotations

import time

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from vecdash.model import Plan
from vecdash.service.console_api import ConsoleApi
from vecdash.secrets import mask_text
from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import NL, block, line, notify, styled
from vecdash.tui.workers import worker


class ChangeRunScreen(Modal[bool]):
    """Runs a confirmed `plan`; dismisses with True (the estate may have changed)."""

    BINDINGS = [Binding("c", "cancel_change", "cancel")]

    def __init__(self, api: ConsoleApi, plan: Plan, *, maintain: tuple[str, str, str] | None = None,
                 if_stopped: str = "") -> None:
        """`if_stopped`: what a failed or cancelled run leaves behind (said under the status).
        `maintain` = (schema, collection, analyze | vacuum): the plan is maintain's, which runs it and reports
        the server's messages and the statistics before and after; else the plan goes to apply_plan."""
        super().__init__()
        self.api = api
        self.plan = plan
        self.maintain = maintain
        self.if_stopped = if_stopped
        self.state = "running"  # running | cancelling | done | failed | cancelled
        self.report: list[str] = []
        self.message = ""
        self.started = time.monotonic()
        self.result = True
        self._worker: Worker | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(styled(("Running", "bold"), " ", self.plan.title, " · pod ", self.plan.pod), id="run-title")
            yield Static(block(mask_text(self.plan.preview_sql(include_satisfied=False))), id="run-sql")
            yield Static(line("running…"), id="run-status")
            yield Static("", id="run-report")
            yield Static(line("c cancels it while it runs · esc closes once it has ended", "dim"), id="run-help")

    def on_mount(self) -> None:
        self._worker = self.run_change()
        self.set_interval(0.5, self._tick)

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.0f} s"

    def _status(self, *parts, tone: str | None = None) -> None:
        text = styled(*parts)
        if tone is not None:
            text.stylize(self.tone(tone))
        self.query_one("#run-status", Static).update(text)

    def _tick(self) -> None:
        if self.state == "running":
            self._status("running · ", self._elapsed(), " · c cancels it on the server")

    @worker(group="change-run", what="change")
    async def run_change(self) -> None:
        plan = self.plan
        if self.maintain is not None:
            schema, collection, action = self.maintain
            self.report = (await self.api.maintain(plan.pod, collection, action, schema=schema)).report()
        else:
            await self.api.apply_plan(plan)
            self.report = [f"ran on pod {plan.pod}: {plan.title}"]
        self.state = "done"
        self.message = f"done in {self._elapsed()}"
        self._status(self.message, tone="ok")
        self.query_one("#run-report", Static).update(block("\n".join(self.report)))

    def show_failure(self, what: str, message: str) -> None:
        self.state = "failed"
        self.message = f"{self.plan.title}: {message}"
        self._status(self.message, *((NL, self.if_stopped) if self.if_stopped else ()), tone="error")

    def action_cancel_change(self) -> None:
        if self.state != "running" or self._worker is None:
            notify(self, "c: nothing is running (", self.state, ")", severity="warning", timeout=3)
            return
        self.state = "cancelling"
        self._status("cancelling: the statement is cancelled on the server…", tone="warn")
        self._worker.cancel()

    @on(Worker.StateChanged)
    def _worker_ended(self, event: Worker.StateChanged) -> None:
        if event.worker is self._worker and event.state == WorkerState.CANCELLED:
            self.state = "cancelled"
            self.message = f"cancelled after {self._elapsed()}: the server stopped the statement"
            self._status(self.message, *((NL, self.if_stopped) if self.if_stopped else ()), tone="warn")

    def action_close(self) -> None:
        if self.state in ("running", "cancelling"):
            notify(self, "still running: c cancels it; esc closes once it has ended", severity="warning", timeout=4)
            return
        self.dismiss(True)
