"""The index build modal: options form, statement + memory estimate, live progress, NOTICEs, cancel.

Mount from the app with `IndexBuildScreen(api, pod, "docs", schema="vecs", method="hnsw", m=16)`. It first
shows the statement and the graph-memory estimate; `b` (from any field) asks to confirm the statement,
then builds (`autostart=True` skips both steps), `c` cancels it (pg_cancel_backend; no invalid index is left), `r` asks the app for the recall
sweep of the new index. Build options are build_index's keyword arguments (method, measure, m,
ef_construction, lists, concurrently, maintenance_work_mem, parallel_workers). Dismisses with the
BuildResult (or None).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, RichLog, Select, Static

from vecdash.errors import UserError
from vecdash.model_indexes import BuildProgress, BuildResult
from vecdash.service.console_api import ConsoleApi
from vecdash.tui.messages import ConfirmPlan, OpenRecallSweep
from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import NL, block, line, notify, styled
from vecdash.tui.workers import worker
from vecdash.units import human_bytes

if TYPE_CHECKING:
    from vecdash.service.indexes import BuildPreview


class _Field(Input):
    """A form field that leaves `b` to the screen (build): no build option's value holds a lowercase b
    (numbers, and memory units such as 64MB or 512kB)."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return key != "b" and super().check_consume_key(key, character)


class IndexBuildScreen(Modal[BuildResult | None]):
    """Build an index: options form, statement + memory estimate, live bar, NOTICEs, cancel (c)."""

    BINDINGS = [
        Binding("b", "start_build", "build", priority=True),  # from any field: no field takes a `b`
        Binding("c", "cancel_build", "cancel build"),
        Binding("r", "recall", "recall sweep"),
    ]

    def __init__(self, api: ConsoleApi, pod: str, collection: str, *, schema: str = "vecs", autostart: bool = False,
                 **build_options: Any):
        super().__init__()
        self.api = api
        self.autostart = autostart
        self.preview: BuildPreview | None = None
        self.preview_error: str | None = None
        self.started = False
        self.pod = pod
        self.collection = collection
        self.schema = schema
        self.build_options = build_options
        self.pid: int | None = None
        self.phase = "starting"
        self.result: BuildResult | None = None
        self.error: str | None = None
        self.notices: list[str] = []
        self.cancel_requested = False
        self.confirming = False

    def _field(self, label: str, widget) -> Vertical:
        return Vertical(Label(label), widget)

    def compose(self) -> ComposeResult:
        o = self.build_options
        with VerticalScroll():
            yield Static(styled(("Index build", "bold"), " on ", self.schema, ".", self.collection, " (pod ", self.pod, ")"),
                         id="build-title")
            with Container(id="build-form"):
                yield self._field("method", Select([(m, m) for m in self.api.index_methods()], value=o.get("method", "hnsw"),
                                                   allow_blank=False, id="opt-method"))
                yield self._field("measure", Select([(m, m) for m in ("cosine", "l2", "ip", "l1")],
                                                    value=o.get("measure", "cosine"), allow_blank=False, id="opt-measure"))
                yield self._field("m", _Field(str(o.get("m", 16)), type="integer", id="opt-m"))
                yield self._field("ef_construction", _Field(str(o.get("ef_construction", 64)), type="integer", id="opt-efc"))
                yield self._field("lists (ivfflat)", _Field(str(o.get("lists") or ""), placeholder="rows/1000",
                                                           type="integer", id="opt-lists"))
                yield self._field("maint. work_mem", _Field(str(o.get("maintenance_work_mem") or ""),
                                                                placeholder="session", id="opt-mwm"))
                yield self._field("", Checkbox("concurrently", value=o.get("concurrently", True), id="opt-conc"))
            yield Static("", id="build-estimate")
            with Horizontal(id="build-buttons"):
                yield Button("Build (b)", id="build-start", variant="primary")
                yield Button("Cancel build (c)", id="build-cancel", variant="error")
            yield ProgressBar(total=100, show_eta=False, id="build-progress")
            yield Static("", id="build-phase")
            yield RichLog(id="build-notices", wrap=True, markup=False, highlight=False)
            yield Static("b build · c cancel build · r recall sweep (after the build) · esc close", id="build-help")

    def on_mount(self) -> None:
        self.query_one("#build-start", Button).focus()
        self.load_preview()

    def _read_form(self) -> dict[str, Any]:
        def number(widget_id: str) -> int | None:
            text = self.query_one(widget_id, Input).value.strip()
            return int(text) if text.lstrip("-").isdigit() else None

        opts = dict(self.build_options)
        opts["method"] = self.query_one("#opt-method", Select).value
        opts["measure"] = self.query_one("#opt-measure", Select).value
        opts["m"] = number("#opt-m") or 16
        opts["ef_construction"] = number("#opt-efc") or 64
        opts["lists"] = number("#opt-lists")
        opts["maintenance_work_mem"] = self.query_one("#opt-mwm", Input).value.strip() or None
        opts["concurrently"] = self.query_one("#opt-conc", Checkbox).value
        return opts

    def _options_changed(self) -> None:
        if self.started or not self.is_mounted:
            return
        self.build_options = self._read_form()
        self.load_preview()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._options_changed()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._options_changed()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._options_changed()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "build-start":
            self.action_start_build()
        elif event.button.id == "build-cancel":
            self.action_cancel_build()

    @worker(group="index-build-preview", what="preview")
    async def load_preview(self) -> None:
        """Statement and graph-memory estimate, shown before anything is built (and on every option change)."""
        self.preview = None
        try:
            preview = await self.api.preview_index_build(self.pod, self.collection, schema=self.schema,
                                                         **self.build_options)
        except UserError as exc:  # bad options, or an index identical to a valid one (DuplicateIndex): no build
            self.preview_error = str(exc)
            self.query_one("#build-estimate", Static).update(line(self.preview_error, self.tone("error")))
            self.query_one("#build-phase", Static).update(line("nothing to build: change the options above",
                                                               self.tone("warn")))
            return
        self.preview, self.preview_error = preview, None
        text = block(preview.plan.steps[0].preview) + NL + block(preview.describe())
        for w in preview.warnings:
            text += NL + line(w, self.tone("warn"))
        self.query_one("#build-estimate", Static).update(text)
        if self.api.read_only:
            self.query_one("#build-phase", Static).update(line("read-only: building is refused", self.tone("error")))
        elif self.autostart:
            self._build_now()
        else:
            self.query_one("#build-phase", Static).update("press b to build")

    def _why_not(self) -> str | None:
        """Why `b` builds nothing now, or None when it may."""
        if self.result is not None and self.result.status == "built":
            return f"already built: {self.result.index}; r runs the recall sweep, esc closes"
        if self.result is not None:
            return "the build was cancelled; esc closes, i on the collection starts another"
        if self.error is not None:
            return "the build failed (see above); esc closes, i on the collection starts another"
        if self.started:
            return "a build is running: c cancels it"
        if self.confirming:
            return "answer the confirmation first"
        if self.preview is None:
            return self.preview_error or "the preview is still loading"
        if self.api.read_only:
            return "refused: vecdash is in read-only mode"
        return None

    def action_start_build(self) -> None:
        why = self._why_not()
        if why is not None:
            notify(self, "b: ", why, severity="warning", timeout=5)
            return
        self.confirm_build()

    @worker(group="index-build-confirm", what="confirmation")
    async def confirm_build(self) -> None:
        """The statement, in full, behind a y / n as every change is (the app shows the ConfirmScreen)."""
        self.confirming = True
        try:
            request = ConfirmPlan(self.preview.plan)
            self.post_message(request)
            yes = await request.answer
        finally:
            self.confirming = False
        if not yes:
            self.query_one("#build-phase", Static).update(line("cancelled: nothing built; b asks again", self.tone("warn")))
            return
        if self._why_not() is None:  # nothing changed while the question was open
            self._build_now()

    def _build_now(self) -> None:
        self.started = True
        self.query_one("#build-form").disabled = True
        self.query_one("#build-start", Button).disabled = True
        self.query_one("#build-help", Static).scroll_visible()
        self.run_build()

    @worker(group="index-build", what="index build")
    async def run_build(self) -> None:
        try:
            result = await self.api.build_index(self.pod, self.collection, schema=self.schema,
                                               on_progress=self._on_progress, on_notice=self._on_notice,
                                               name=self.preview.index,  # the index the preview showed
                                               **self.build_options)
        except UserError as exc:
            self.error = str(exc)
            self.query_one("#build-phase", Static).update(line(self.error, self.tone("error")))
            return
        self.result = result
        if result.status == "built":
            self.query_one("#build-phase", Static).update(
                styled(("built", self.tone("ok")), " ", result.index,
                       f" in {result.seconds:.1f} s ({human_bytes(result.index_bytes)})"))
        else:
            self.query_one("#build-phase", Static).update(
                styled(("cancelled", self.tone("warn")), ": ", result.index, " stopped; no invalid index left behind"))

    def show_failure(self, what: str, message: str) -> None:
        if what == "preview":
            self.preview_error = message
            self.query_one("#build-estimate", Static).update(line(message, self.tone("error")))
            return
        if what == "index build":
            self.error = message  # the build is over: esc closes
        self.query_one("#build-phase", Static).update(line(message, self.tone("error")))

    def _on_progress(self, p: BuildProgress) -> None:
        self.pid = p.pid
        self.phase = p.phase
        self.query_one("#build-progress", ProgressBar).update(progress=round(p.fraction * 100, 1))
        self.query_one("#build-phase", Static).update(styled(p.label, f" · pid {p.pid} · {p.elapsed_s:.0f} s"))

    def _on_notice(self, text: str) -> None:
        self.notices.append(text)
        self.query_one("#build-notices", RichLog).write(block(text))
        if text.startswith("WARNING"):
            notify(self, text[:300], title="index build", severity="warning", timeout=10)

    def action_cancel_build(self) -> None:
        if self.result is not None or self.pid is None or self.cancel_requested:
            return
        self.cancel_requested = True
        self.cancel_build()

    @worker(group="index-build-cancel", what="cancel")
    async def cancel_build(self) -> None:
        self.query_one("#build-notices", RichLog).write(line(f"cancelling pid {self.pid} (pg_cancel_backend) ..."))
        await self.api.cancel_build(self.pod, self.pid)

    def action_recall(self) -> None:
        if self.result is None or self.result.status != "built":
            notify(self, "the recall sweep runs once the index is built", severity="warning")
            return
        self.post_message(OpenRecallSweep(self.pod, self.collection, schema=self.schema, index=self.result.index))

    def action_close(self) -> None:
        if self.result is None and self.error is None and self.pid is not None:
            notify(self, "a build is running: press c to cancel it first", severity="warning")
            return
        self.dismiss(self.result)
