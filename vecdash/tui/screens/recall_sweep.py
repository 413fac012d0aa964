"""The recall sweep modal: recall@k and latency per ef_search / probes as a curve and a table.

Mount from the app with `RecallSweepScreen(api, pod, "docs", schema="vecs", target=0.95)`; it takes
sweep's keyword arguments (index, k, samples, values, target) plus scope="database"|"role" and role= for
the ALTER ... SET plan that `a` applies after a confirmation. Read-only: `a` is not offered, and
pressed it says why. Dismisses with the Sweep (or None).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, ProgressBar, Sparkline, Static

from vecdash.errors import UserError
from vecdash.model_indexes import Sweep
from vecdash.service.console_api import ConsoleApi
from vecdash.tui.messages import ConfirmPlan
from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import NL, block, cell, line, notify, styled
from vecdash.tui.workers import worker


class RecallSweepScreen(Modal[Sweep | None]):
    """Recall@k and latency per ef_search/probes as a curve and a table; `a` applies the recommendation."""

    BINDINGS = [Binding("a", "apply", "apply recommendation")]

    def __init__(self, api: ConsoleApi, pod: str, collection: str, *, schema: str = "vecs", scope: str = "database",
                 role: str | None = None, **sweep_options: Any):
        super().__init__()
        self.role = role
        self.api = api
        self.pod = pod
        self.collection = collection
        self.schema = schema
        self.scope = scope
        self.sweep_options = sweep_options
        self.result: Sweep | None = None
        self.plan = None
        self.recommendation = None
        self.applied = False
        self.error: str | None = None
        if api.read_only:  # the key stays (it says why it does nothing), the footer does not offer it
            self._bindings.key_to_bindings["a"] = [replace(b, show=False) for b in self._bindings.key_to_bindings["a"]]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(styled(("Recall sweep", "bold"), " on ", self.schema, ".", self.collection, " (pod ", self.pod, ")"),
                         id="recall-title")
            yield ProgressBar(total=100, show_eta=False, id="recall-progress")
            yield Static("sampling queries", id="recall-status")
            yield Sparkline([], summary_function=max, id="recall-curve")
            yield Static("", id="recall-scale")
            yield DataTable(id="recall-table", cursor_type="row")
            yield Static("", id="recall-plan")
            yield Static("esc close" if self.api.read_only else "a apply recommendation · esc close", id="recall-help")

    def on_mount(self) -> None:
        self.query_one("#recall-table", DataTable).add_columns("setting", "recall", "curve", "median ms", "p90 ms", "")
        self.run_sweep()

    @worker(group="recall-sweep", what="recall sweep")
    async def run_sweep(self) -> None:
        def progress(label: str, fraction: float) -> None:
            self.query_one("#recall-progress", ProgressBar).update(progress=round(fraction * 100, 1))
            self.query_one("#recall-status", Static).update(line(label))

        try:
            s = await self.api.recall_sweep(self.pod, self.collection, schema=self.schema, on_progress=progress,
                                            **self.sweep_options)
            self.recommendation = await self.api.recommend_setting(s, scope=self.scope, role=self.role)
            self.plan = self.recommendation.plan
        except UserError as exc:
            self.error = str(exc)
            self.query_one("#recall-status", Static).update(line(self.error, self.tone("error")))
            return
        self.result = s
        self.query_one("#recall-curve", Sparkline).data = [p.recall for p in s.points]
        if s.points:  # the curve spans its own min..max: say so, or 0.95 vs 0.99 looks like 0 vs 1
            lo, hi = min(p.recall for p in s.points), max(p.recall for p in s.points)
            self.query_one("#recall-scale", Static).update(line(
                f"curve: {s.setting} {s.points[0].value} → {s.points[-1].value}, recall {lo:.3f} (lowest bar) "
                f"to {hi:.3f} (highest); the table's bars start at 0", "dim"))
        table = self.query_one("#recall-table", DataTable)
        for p in s.points:
            bar = "█" * int(round(p.recall * 20))
            table.add_row(cell(f"{s.setting}={p.value}"), cell(f"{p.recall:.3f}"), cell(bar), cell(f"{p.median_ms:.2f}"),
                          cell(f"{p.p90_ms:.2f}"), cell(" ".join(w for w, on in (("◀ recommended", p.value == s.recommended),
                                                                                   ("(current)", p.value == s.current)) if on)))
        rec = (styled(f"smallest {s.setting} reaching recall {s.target}: ", (str(s.recommended), "bold"))
               if s.recommended is not None else line(f"no value reached recall {s.target}"))
        self.query_one("#recall-status", Static).update(
            styled(f"recall@{s.k}, {s.samples} queries, index ", s.index, f" · exact answers {s.exact_ms:.0f} ms · ", rec))
        said = block("\n".join(self.recommendation.lines()), self.tone("warn") if self.recommendation.refused else None)
        if self.plan is not None:
            note = " (read-only: cannot apply)" if self.api.read_only else " · press a to apply"
            self.query_one("#recall-plan", Static).update(said + NL + block(self.plan.preview_sql()) + line(note))
        else:
            self.query_one("#recall-plan", Static).update(said)

    def action_apply(self) -> None:
        if self.api.read_only:
            notify(self, "read-only: the recommendation is shown, not applied", severity="warning", timeout=5)
        elif self.applied:
            notify(self, "already applied", timeout=3)
        elif self.plan is None:
            notify(self, "nothing to apply yet: the sweep is running or recommended nothing", severity="warning")
        else:
            self.apply_recommendation()

    def show_failure(self, what: str, message: str) -> None:
        if what == "recall sweep":
            self.error = message
        self.query_one("#recall-status", Static).update(line(message, self.tone("error")))

    @worker(group="recall-apply", what="apply")
    async def apply_recommendation(self) -> None:
        request = ConfirmPlan(self.plan)  # the ALTER ... SET in full, behind a y / n
        self.post_message(request)
        if not await request.answer:
            notify(self, "cancelled: nothing changed", timeout=3)
            return
        try:
            await self.api.apply_plan(self.plan)
        except UserError as exc:
            notify(self, str(exc), severity="error")
            return
        self.applied = True
        applied = line("applied", self.tone("ok"))
        self.query_one("#recall-plan", Static).update(block(self.plan.preview_sql()) + NL + applied)
