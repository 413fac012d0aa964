"""The "why not the index" modal: a statement EXPLAINed on its pod (never run), whether a vector index
serves it, and each reason with its rewrite.

Open with `WhyScreen(api, pod, sql)` (the Activity pane does, on a session's or a statement's text).
Dismisses with the WhyReport (or None when the analysis failed or is still running).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from vecdash.errors import UserError
from vecdash.model_why import REASON_TITLES, WhyReport
from vecdash.service.console_api import ConsoleApi
from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import NL, block, line, styled
from vecdash.tui.workers import worker


class WhyScreen(Modal[WhyReport | None]):
    """Does this statement use its vector index on `pod`? Reasons and rewrites when it does not."""

    def __init__(self, api: ConsoleApi, pod: str, sql: str):
        super().__init__()
        self.api = api
        self.pod = pod
        self.sql = sql
        self.result: WhyReport | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(styled(("Why not the index", "bold"), " · pod ", self.pod, (" · EXPLAIN only, never run", "dim")),
                         id="why-title")
            yield Static(block(self.sql), id="why-sql")
            yield Static(line("explaining…"), id="why-status")
            yield Vertical(id="why-reasons")
            yield Static("", id="why-plan")
            yield Static(line("esc close", "dim"), id="why-help")

    def on_mount(self) -> None:
        self.explain()

    @worker(group="why", what="why")
    async def explain(self) -> None:
        try:
            report = await self.api.why(self.pod, self.sql)
        except UserError as exc:
            self.show_failure("why", str(exc))
            return
        self.result = report
        self.show(report)

    def show(self, report: WhyReport) -> None:
        status = self.query_one("#why-status", Static)
        if report.uses_index:
            status.update(styled(("uses vector index ", self.tone("ok")), (report.index, self.tone("ok"))))
        elif report.index:
            status.update(styled(("does not use vector index ", self.tone("warn")), (report.index, self.tone("warn"))))
        else:
            status.update(line("uses no vector index", self.tone("warn")))
        box = self.query_one("#why-reasons", Vertical)
        for r in report.reasons:
            tone = self.tone("warn")
            box.mount(Static(styled((r.code, tone), " · ", (REASON_TITLES.get(r.code, r.code), "bold"), ": ", r.message),
                             classes="why-reason"))
            if r.rewrite:
                checked = {True: "rewrite (EXPLAINed: uses the index)",
                           False: "rewrite (EXPLAINed: still no index)"}.get(r.verified, "rewrite")
                box.mount(Static(styled((checked, self.tone("dim")), NL, block(r.rewrite)), classes="why-rewrite"))
        plan_title = "plan (generic, for $n parameters)" if report.generic else "plan"
        self.query_one("#why-plan", Static).update(styled((plan_title, "bold"), NL, block("\n".join(report.plan))))

    def show_failure(self, what: str, message: str) -> None:
        self.query_one("#why-status", Static).update(line(message, self.tone("error")))
