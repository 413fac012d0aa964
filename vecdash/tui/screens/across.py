"""Run one operation on every pod holding a collection: pick it, confirm it on the full pod list, watch
each pod's row change as it runs, read the summary.

The pod table is the confirmation: every pod the run will touch (and those it skips or cannot reach) is
a row, scrollable at any size; `r` asks, `y` runs, `n` goes back. While it runs each row shows its pod's
last step; `s` stops starting pods (those running finish). With "keep going" off the run stops itself
at the first failure. When it ends the estate is re-read (EstateChanged). Dismisses with the summary.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, DataTable, Input, Label, Select, Static

from vecdash.errors import UserError
from vecdash.model import Topology
from vecdash.service.console_api import ConsoleApi
from vecdash.tui.messages import EstateChanged
from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import cell, line, notify, styled
from vecdash.tui.workers import worker

if TYPE_CHECKING:
    from vecdash.service.across import AcrossEvent, AcrossPlan, AcrossSummary

PLANNED_STATE = {"run": "will run", "skip": "skip", "refuse": "cannot plan", "unreached": "not run"}
DETAIL_WIDTH = 200


class AcrossScreen(Modal["AcrossSummary | None"]):
    """Operation, parallelism and keep-going; the pod table; r asks, y runs, s stops, esc closes."""

    BINDINGS = [
        Binding("r", "ask", "run…", priority=True),
        Binding("y", "answer(True)", "yes, run", priority=True),
        Binding("n", "answer(False)", "no", priority=True),
        Binding("s", "stop", "stop", priority=True),
    ]

    def __init__(self, api: ConsoleApi, topology: Topology, collection: str, *, schema: str = "vecs",
                 measure: str = "cosine") -> None:
        super().__init__()
        self.api = api
        self.topology = topology
        self.collection = collection
        self.schema = schema
        self.measure = measure  # an index build's: the measure the collection is queried with
        self.plan: AcrossPlan | None = None
        self.phase = "choose"  # choose -> confirm -> running -> finished
        self.stop_event: asyncio.Event | None = None
        self.events: list[AcrossEvent] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="across-box"):
            yield Static(styled(("Run on every pod holding ", "bold"), (self.schema, "bold"), ".",
                                (self.collection, "bold")), id="across-title")
            with Horizontal(id="across-form"):
                yield Select([(text, op) for op, text in self.api.across_operations().items()], value="analyze",
                             allow_blank=False, id="across-op")
                yield Input("1", type="integer", id="across-parallel", tooltip="pods at a time")
                yield Checkbox("keep going", value=False, id="across-keep")
            yield Label("", id="across-status")
            table = DataTable(id="across-pods", cursor_type="row", zebra_stripes=True)
            table.add_column("pod", key="pod")
            table.add_column("state", key="state", width=9)
            table.add_column("detail", key="detail")
            yield table
            yield Label("r run… · y yes · n no · s stop · ↑↓ PgUp PgDn ctrl+end scroll · esc close", id="across-keys")

    def on_mount(self) -> None:
        self.query_one("#across-op", Select).focus()
        self._plan()

    def _form(self) -> tuple[str, int, bool]:
        text = self.query_one("#across-parallel", Input).value.strip()
        parallel = int(text) if text.isdigit() else 0
        return self.query_one("#across-op", Select).value, parallel, self.query_one("#across-keep", Checkbox).value

    def _say(self, *parts: Any, tone: str | None = None) -> None:
        text = styled(*parts)
        if tone:
            text.stylize(self.tone(tone))
        self.query_one("#across-status", Label).update(text)

    def _plan(self) -> None:
        """Which pods and what on each, from the estate as last read (no I/O): the table lists them all."""
        if self.phase != "choose":
            return
        op, parallel, _ = self._form()
        options = {"measure": self.measure} if op == "index" else None
        try:
            self.plan = self.api.plan_across(self.topology, self.collection, op, schema=self.schema,
                                             parallel=parallel, index_options=options)
        except UserError as exc:
            self.plan = None
            self.query_one("#across-pods", DataTable).clear()
            self._say(str(exc), tone="error")
            return
        table = self.query_one("#across-pods", DataTable)
        table.clear()
        for t in self.plan.targets:
            table.add_row(cell(t.pod), cell(PLANNED_STATE[t.action]), cell(t.preview or t.detail, DETAIL_WIDTH),
                          key=t.pod)
        runs = len(self.plan.runs)
        self._say(f"{runs} of {len(self.plan.targets)} pod(s) will run, {self.plan.parallel} at a time",
                  *(f" · {n}" for n in self.plan.notes), " · r asks before anything runs")

    def on_select_changed(self, event: Select.Changed) -> None:
        self._plan()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.is_mounted:
            self._plan()

    def action_ask(self) -> None:
        if self.phase != "choose":
            return
        if self.api.read_only:
            self._say("read-only: nothing can run", tone="error")
            return
        if self.plan is None or not self.plan.runs:
            notify(self, "nothing to run: ", "no pod has anything to do" if self.plan else "see above",
                   severity="warning", timeout=5)
            return
        self.phase = "confirm"
        self.query_one("#across-form").disabled = True
        _, _, keep = self._form()
        skipped = len(self.plan.targets) - len(self.plan.runs)
        self._say((self.plan.title, "bold"), f" (every row marked will run; {skipped} other row(s) untouched) · ",
                  "keeps going after a failure" if keep else "stops at the first failure",
                  (" · y runs · n goes back", "bold"), tone="warn")
        self.query_one("#across-pods", DataTable).focus()

    def action_answer(self, yes: bool) -> None:
        if self.phase != "confirm":
            return
        if not yes:
            self.phase = "choose"
            self.query_one("#across-form").disabled = False
            self._plan()
            return
        self.phase = "running"
        self.stop_event = asyncio.Event()
        _, _, keep = self._form()
        self._say(f"running on {len(self.plan.runs)} pod(s) · s stops starting pods")
        self.run_plan(keep)

    def action_stop(self) -> None:
        if self.phase == "running" and self.stop_event is not None and not self.stop_event.is_set():
            self.stop_event.set()
            self._say("stopping: pods running now finish, no other starts", tone="warn")

    @worker(group="across-run", what="run across pods")
    async def run_plan(self, keep_going: bool) -> None:
        try:
            summary = await self.api.run_across(self.plan, keep_going=keep_going, stop=self.stop_event,
                                                on_event=self._on_event)
        finally:
            self.phase = "finished"
            self.post_message(EstateChanged(f"{self.plan.title}"))
        self.result = summary
        counts = ", ".join(f"{len(summary.pods(s))} {s}" for s in ("done", "skipped", "failed", "not run"))
        parts: list[Any] = [("summary: ", "bold"), counts]
        for state in ("failed", "not run"):
            if summary.pods(state):
                parts += [f" · {state}: ", ", ".join(summary.pods(state))]
        parts += [f" · {n}" for n in summary.notes]
        self._say(*parts, tone="ok" if summary.ok else "error")

    def _on_event(self, e: AcrossEvent) -> None:
        self.events.append(e)
        table = self.query_one("#across-pods", DataTable)
        state = "running" if e.kind in ("started", "step") else e.kind
        if e.fraction is not None:
            state = f"{e.fraction * 100:.0f}%"
        table.update_cell(e.pod, "state", cell(state))
        table.update_cell(e.pod, "detail", cell(e.text, DETAIL_WIDTH), update_width=False)
        if e.kind == "started":
            table.move_cursor(row=table.get_row_index(e.pod), animate=False)

    def show_failure(self, what: str, message: str) -> None:
        self._say(message, tone="error")

    def action_close(self) -> None:
        if self.phase == "running":
            notify(self, "pods are running: s stops starting more; esc closes once they end", severity="warning")
            return
        self.dismiss(self.result)
