"""Index build, recall-sweep and collection/load modals: live progress, NOTICE warnings, cancel, recall curve.

Self-contained: each screen gets the PodClient and the target injected and talks only to the
services (vecdash.service.indexes / recall / plans). Mount from the app with

    self.push_screen(IndexBuildScreen(client, pod, "docs", schema="vecs", method="hnsw", m=16), callback)
    self.push_screen(RecallSweepScreen(client, pod, "docs", schema="vecs", target=0.95))

IndexBuildScreen first shows the statement and the graph-memory estimate; `b` starts the build
(`autostart=True` skips that step), `c` cancels it (pg_cancel_backend; no invalid index is left),
`r` opens the recall sweep for the new index. Build options are build_index's keyword arguments
(method, measure, m, ef_construction, lists, concurrently, maintenance_work_mem, parallel_workers).
RecallSweepScreen takes sweep's keyword arguments (index, k, samples, values, target) plus
scope="database"|"role" and role= for the ALTER ... SET plan that `a` applies.
IndexBuildScreen dismisses with the BuildResult (or None); RecallSweepScreen with the Sweep (or None).
CollectionLoadScreen(client, pod, collection=None) creates a collection (previewed plan, then apply)
and loads a .npy/JSONL file with a progress bar; it dismisses with the LoadResult (or None).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, DataTable, Input, Label, ProgressBar, RichLog, Select, Sparkline, Static

from vecdash.db.pods import PodClient
from vecdash.errors import UserError
from vecdash.model_indexes import BuildProgress, BuildResult, LoadProgress, LoadResult, Sweep
from vecdash.service import indexes as ix
from vecdash.service.plans import apply_plan
from vecdash.service.recall import plan_search_setting, sweep
from vecdash.tui.text import NL, block, cell, line, notify, styled
from vecdash.tui.workers import worker


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    f = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if f < 1024 or unit == "TB":
            return f"{f:.1f} {unit}"
        f /= 1024
    return f"{n} B"


class IndexBuildScreen(ModalScreen[BuildResult | None]):
    """Build an index: options form, statement + memory estimate, live bar, NOTICEs, cancel (c)."""

    DEFAULT_CSS = """
    IndexBuildScreen { align: center middle; }
    IndexBuildScreen > VerticalScroll { width: 94%; height: auto; max-height: 96%; border: thick $accent; padding: 0 1; background: $surface; }
    IndexBuildScreen #build-form { layout: grid; grid-size: 4; grid-columns: 1fr 1fr 1fr 1fr; grid-gutter: 0 1; height: auto; }
    IndexBuildScreen #build-form > Vertical { height: auto; }
    IndexBuildScreen #build-form Input, IndexBuildScreen #build-form Select { width: 100%; }
    IndexBuildScreen #build-form Label { width: 100%; }
    IndexBuildScreen #build-buttons { height: auto; }
    IndexBuildScreen #build-notices { height: 6; }
    IndexBuildScreen #build-progress { width: 100%; }
    """
    BINDINGS = [
        Binding("b", "start_build", "build"),
        Binding("c", "cancel_build", "cancel build"),
        Binding("r", "recall", "recall sweep"),
        Binding("escape", "close", "close"),
    ]

    def __init__(self, client: PodClient, pod: str, collection: str, *, schema: str = "vecs", autostart: bool = False,
                 **build_options: Any):
        super().__init__()
        self.client = client
        self.autostart = autostart
        self.preview: ix.BuildPreview | None = None
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

    def _field(self, label: str, widget) -> Vertical:
        return Vertical(Label(label), widget)

    def compose(self) -> ComposeResult:
        o = self.build_options
        with VerticalScroll():
            yield Static(styled(("Index build", "bold"), " on ", self.schema, ".", self.collection, " (pod ", self.pod, ")"),
                         id="build-title")
            with Container(id="build-form"):
                yield self._field("method", Select([(m, m) for m in ix.METHODS], value=o.get("method", "hnsw"),
                                                   allow_blank=False, id="opt-method"))
                yield self._field("measure", Select([(m, m) for m in ("cosine", "l2", "ip", "l1")],
                                                    value=o.get("measure", "cosine"), allow_blank=False, id="opt-measure"))
                yield self._field("m", Input(str(o.get("m", 16)), type="integer", id="opt-m"))
                yield self._field("ef_construction", Input(str(o.get("ef_construction", 64)), type="integer", id="opt-efc"))
                yield self._field("lists (ivfflat)", Input(str(o.get("lists") or ""), placeholder="rows/1000",
                                                           type="integer", id="opt-lists"))
                yield self._field("maint. work_mem", Input(str(o.get("maintenance_work_mem") or ""),
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
            preview = await ix.preview_build(self.client, self.pod, self.collection, schema=self.schema,
                                             **self.build_options)
        except UserError as exc:
            self.preview_error = str(exc)
            self.query_one("#build-estimate", Static).update(line(self.preview_error, "red"))
            return
        self.preview, self.preview_error = preview, None
        text = block(preview.plan.steps[0].preview) + NL + block(preview.describe())
        for w in preview.warnings:
            text += NL + line(w, "yellow")
        self.query_one("#build-estimate", Static).update(text)
        if self.client.read_only:
            self.query_one("#build-phase", Static).update(line("read-only: building is refused", "red"))
        elif self.autostart:
            self.action_start_build()
        else:
            self.query_one("#build-phase", Static).update("press b to build")

    def action_start_build(self) -> None:
        if self.started:
            return
        if self.preview is None:
            notify(self, self.preview_error or "the preview is still loading", severity="warning")
            return
        if self.client.read_only:
            notify(self, "refused: vecdash is in read-only mode", severity="error")
            return
        self.started = True
        self.query_one("#build-form").disabled = True
        self.query_one("#build-start", Button).disabled = True
        self.query_one("#build-help", Static).scroll_visible()
        self.run_build()

    @worker(group="index-build", what="index build")
    async def run_build(self) -> None:
        try:
            result = await ix.build_index(self.client, self.pod, self.collection, schema=self.schema,
                                          on_progress=self._on_progress, on_notice=self._on_notice,
                                          name=self.preview.index,  # the index the preview showed
                                          **self.build_options)
        except UserError as exc:
            self.error = str(exc)
            self.query_one("#build-phase", Static).update(line(self.error, "red"))
            return
        self.result = result
        if result.status == "built":
            self.query_one("#build-phase", Static).update(
                styled(("built", "green"), " ", result.index, f" in {result.seconds:.1f} s ({_size(result.index_bytes)})"))
        else:
            self.query_one("#build-phase", Static).update(
                styled(("cancelled", "yellow"), ": ", result.index, " stopped; no invalid index left behind"))

    def show_failure(self, what: str, message: str) -> None:
        if what == "preview":
            self.preview_error = message
            self.query_one("#build-estimate", Static).update(Text(message, style="red"))
            return
        if what == "index build":
            self.error = message  # the build is over: esc closes
        self.query_one("#build-phase", Static).update(Text(message, style="red"))

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
        await ix.cancel_backend(self.client, self.pod, self.pid)

    def action_recall(self) -> None:
        if self.result is None or self.result.status != "built":
            notify(self, "the recall sweep runs once the index is built", severity="warning")
            return
        self.app.push_screen(RecallSweepScreen(self.client, self.pod, self.collection, schema=self.schema,
                                               index=self.result.index))

    def action_close(self) -> None:
        if self.result is None and self.error is None and self.pid is not None:
            notify(self, "a build is running: press c to cancel it first", severity="warning")
            return
        self.dismiss(self.result)


class RecallSweepScreen(ModalScreen[Sweep | None]):
    """Recall@k and latency per ef_search/probes as a curve and a table; `a` applies the recommendation."""

    DEFAULT_CSS = """
    RecallSweepScreen { align: center middle; }
    RecallSweepScreen > Vertical { width: 90%; height: auto; max-height: 90%; border: thick $accent; padding: 0 1; background: $surface; }
    RecallSweepScreen #recall-curve { height: 4; }
    RecallSweepScreen #recall-table { height: auto; max-height: 12; }
    """
    BINDINGS = [
        Binding("a", "apply", "apply recommendation"),
        Binding("escape", "close", "close"),
    ]

    def __init__(self, client: PodClient, pod: str, collection: str, *, schema: str = "vecs", scope: str = "database",
                 role: str | None = None, **sweep_options: Any):
        super().__init__()
        self.role = role
        self.client = client
        self.pod = pod
        self.collection = collection
        self.schema = schema
        self.scope = scope
        self.sweep_options = sweep_options
        self.result: Sweep | None = None
        self.plan = None
        self.applied = False
        self.error: str | None = None

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
            yield Static("a apply recommendation · esc close", id="recall-help")

    def on_mount(self) -> None:
        self.query_one("#recall-table", DataTable).add_columns("setting", "recall", "curve", "median ms", "p90 ms", "")
        self.run_sweep()

    @worker(group="recall-sweep", what="recall sweep")
    async def run_sweep(self) -> None:
        def progress(label: str, fraction: float) -> None:
            self.query_one("#recall-progress", ProgressBar).update(progress=round(fraction * 100, 1))
            self.query_one("#recall-status", Static).update(line(label))

        try:
            s = await sweep(self.client, self.pod, self.collection, schema=self.schema, on_progress=progress,
                            **self.sweep_options)
            self.plan = (await plan_search_setting(self.client, self.pod, s.setting, s.recommended, scope=self.scope,
                                                   role=self.role)
                         if s.recommended is not None else None)
        except UserError as exc:
            self.error = str(exc)
            self.query_one("#recall-status", Static).update(line(self.error, "red"))
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
                          cell(f"{p.p90_ms:.2f}"), cell("◀ recommended" if p.value == s.recommended else ""))
        rec = (styled(f"smallest {s.setting} reaching recall {s.target}: ", (str(s.recommended), "bold"))
               if s.recommended is not None else line(f"no value reached recall {s.target}"))
        self.query_one("#recall-status", Static).update(
            styled(f"recall@{s.k}, {s.samples} queries, index ", s.index, f" · exact answers {s.exact_ms:.0f} ms · ", rec))
        if self.plan is not None:
            note = " (read-only: cannot apply)" if self.client.read_only else " · press a to apply"
            self.query_one("#recall-plan", Static).update(block(self.plan.preview_sql()) + line(note))

    def action_apply(self) -> None:
        if self.plan is None or self.applied:
            return
        self.apply_recommendation()

    def show_failure(self, what: str, message: str) -> None:
        if what == "recall sweep":
            self.error = message
        self.query_one("#recall-status", Static).update(Text(message, style="red"))

    @worker(group="recall-apply", what="apply")
    async def apply_recommendation(self) -> None:
        try:
            await apply_plan(self.client, self.plan)
        except UserError as exc:
            notify(self, str(exc), severity="error")
            return
        self.applied = True
        self.query_one("#recall-plan", Static).update(block(self.plan.preview_sql()) + NL + line("applied", "green"))

    def action_close(self) -> None:
        self.dismiss(self.result)


class CollectionLoadScreen(ModalScreen[LoadResult | None]):
    """Create a vecs collection (previewed plan, then apply) and load a file into it with a live bar.

    Mount: `self.push_screen(CollectionLoadScreen(client, pod, collection=None, schema="vecs"))`;
    with `collection` given the name is prefilled (load into an existing collection).
    Dismisses with the last LoadResult (or None).
    """

    DEFAULT_CSS = """
    CollectionLoadScreen { align: center middle; }
    CollectionLoadScreen > VerticalScroll { width: 94%; height: auto; max-height: 96%; border: thick $accent; padding: 0 1; background: $surface; }
    CollectionLoadScreen .form { layout: grid; grid-size: 4; grid-columns: 1fr 1fr 1fr 1fr; grid-gutter: 0 1; height: auto; }
    CollectionLoadScreen .form > Vertical { height: auto; }
    CollectionLoadScreen .form Input { width: 100%; }
    CollectionLoadScreen .form Label { width: 100%; }
    CollectionLoadScreen .buttons { height: auto; }
    CollectionLoadScreen #load-progress { width: 100%; }
    """
    BINDINGS = [Binding("escape", "close", "close")]

    def __init__(self, client: PodClient, pod: str, *, collection: str | None = None, schema: str = "vecs"):
        super().__init__()
        self.client = client
        self.pod = pod
        self.schema = schema
        self.collection = collection or ""
        self.plan = None
        self.created = False
        self.loading = False
        self.result: LoadResult | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(styled(("Collection", "bold"), " on pod ", self.pod, " (schema ", self.schema, ")"))
            with Container(classes="form"):
                yield Vertical(Label("name"), Input(self.collection, id="col-name"))
                yield Vertical(Label("dimension"), Input("", type="integer", placeholder="e.g. 384", id="col-dim"))
            with Horizontal(classes="buttons"):
                yield Button("Preview create", id="col-preview")
                yield Button("Apply create", id="col-apply", variant="warning", disabled=True)
            yield Static("", id="col-plan")
            with Container(classes="form"):
                yield Vertical(Label("file .npy / JSONL"), Input("", id="load-file"))
                yield Vertical(Label("ids file (.npy)"), Input("", placeholder="row numbers", id="load-ids"))
                yield Vertical(Label("metadata .jsonl"), Input("", placeholder="none", id="load-meta"))
                yield Vertical(Label(""), Checkbox("upsert", value=False, id="load-upsert"))
            with Horizontal(classes="buttons"):
                yield Button("Load", id="load-start", variant="primary")
            yield ProgressBar(total=100, show_eta=False, id="load-progress")
            yield Static("", id="load-status")
            yield Static("esc close", id="load-help")

    def on_mount(self) -> None:
        # keyboard-first: typing goes straight into the name (or, loading into a known collection, the file)
        self.query_one("#load-file" if self.collection else "#col-name", Input).focus()

    def _value(self, widget_id: str) -> str:
        return self.query_one(widget_id, Input).value.strip()

    def _say(self, widget_id: str, text: str, style: str | None = None) -> None:
        self.query_one(widget_id, Static).update(block(text, style))

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "col-preview":
            self.preview_create()
        elif event.button.id == "col-apply":
            self.apply_create()
        elif event.button.id == "load-start":
            self.start_load()

    @worker(group="collection-plan", what="create preview")
    async def preview_create(self) -> None:
        from vecdash.service.collections import plan_create_collection

        self.plan = None
        self.query_one("#col-apply", Button).disabled = True
        dim = self._value("#col-dim")
        try:
            if not dim.isdigit():
                raise UserError(f"dimension: a positive integer, got {dim!r}")
            self.plan = await plan_create_collection(self.client, self.pod, self._value("#col-name"), int(dim), self.schema)
        except UserError as exc:
            self._say("#col-plan", str(exc), "red")
            return
        note = "\n(read-only: cannot apply)" if self.client.read_only else ""
        self._say("#col-plan", self.plan.preview_sql() + note)
        self.query_one("#col-apply", Button).disabled = self.client.read_only

    @worker(group="collection-plan", what="create")
    async def apply_create(self) -> None:
        if self.plan is None:
            return
        try:
            await apply_plan(self.client, self.plan)
        except UserError as exc:
            self._say("#col-plan", str(exc), "red")
            return
        self.created = True
        self.query_one("#col-apply", Button).disabled = True
        self._say("#col-plan", self.plan.preview_sql() + "\n-- applied", None)
        self.query_one("#load-file", Input).focus()  # next step: the file to load

    def show_failure(self, what: str, message: str) -> None:
        if what == "load":
            self.error = message
        self.query_one("#load-status" if what == "load" else "#col-plan", Static).update(Text(message, style="red"))

    def start_load(self) -> None:
        if self.loading:
            return
        if self.client.read_only:
            notify(self, "refused: vecdash is in read-only mode", severity="error")
            return
        self.loading = True
        self.error = None
        self.result = None
        self.run_load()

    @worker(group="collection-load", what="load")
    async def run_load(self) -> None:
        from vecdash.service.loader import load_file

        bar = self.query_one("#load-progress", ProgressBar)

        def progress(p: LoadProgress) -> None:
            bar.update(progress=round(p.fraction * 100, 1))
            self._say("#load-status", f"{p.rows_done} rows · {p.elapsed_s:.1f} s")

        try:
            self.result = await load_file(
                self.client, self.pod, self._value("#col-name"), self._value("#load-file"), schema=self.schema,
                ids=self._value("#load-ids") or None, metadata=self._value("#load-meta") or None,
                upsert=self.query_one("#load-upsert", Checkbox).value, on_progress=progress)
        except UserError as exc:
            self.error = str(exc)
            self._say("#load-status", self.error, "red")
            return
        finally:
            self.loading = False
        r = self.result
        self._say("#load-status", f"loaded {r.rows} rows into {r.schema}.{r.collection} in {r.seconds:.2f} s "
                                  f"({r.rows_per_s:,.0f} rows/s, {r.mode})", "green")

    def action_close(self) -> None:
        if self.loading:
            notify(self, "a load is running (one transaction): wait for it to finish", severity="warning")
            return
        self.dismiss(self.result)
