"""The collection modal: create a vecs collection (previewed plan, then apply) and load a .npy / JSONL
file into it with a live bar. Both changes are confirmed first, with the full statements (ConfirmPlan).

Mount from the app with `CollectionLoadScreen(api, pod, collection=None, schema="vecs")`; with
`collection` given the name is prefilled (load into an existing collection). Dismisses with the last
LoadResult (or None).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, Static

from vecdash.errors import UserError
from vecdash.model_indexes import LoadProgress, LoadResult
from vecdash.service.console_api import ConsoleApi
from vecdash.tui.messages import ConfirmPlan
from vecdash.tui.screens.modal import Modal, focus_now
from vecdash.tui.text import block, line, notify, styled
from vecdash.tui.workers import worker


class CollectionLoadScreen(Modal[LoadResult | None]):
    """Create a vecs collection (previewed plan, then apply) and load a file into it with a live bar."""

    def __init__(self, api: ConsoleApi, pod: str, *, collection: str | None = None, schema: str = "vecs"):
        super().__init__()
        self.api = api
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
        focus_now(self.query_one("#load-file" if self.collection else "#col-name", Input))

    def _value(self, widget_id: str) -> str:
        return self.query_one(widget_id, Input).value.strip()

    def _say(self, widget_id: str, text: str, tone: str | None = None) -> None:
        self.query_one(widget_id, Static).update(block(text, self.tone(tone) if tone else None))

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "col-preview":
            self.preview_create()
        elif event.button.id == "col-apply":
            self.apply_create()
        elif event.button.id == "load-start":
            self.start_load()

    @worker(group="collection-plan", what="create preview")
    async def preview_create(self) -> None:
        self.plan = None
        self.query_one("#col-apply", Button).disabled = True
        dim = self._value("#col-dim")
        try:
            if not dim.isdigit():
                raise UserError(f"dimension: a positive integer, got {dim!r}")
            self.plan = await self.api.plan_create_collection(self.pod, self._value("#col-name"), int(dim), self.schema)
        except UserError as exc:
            self._say("#col-plan", str(exc), "error")
            return
        note = "\n(read-only: cannot apply)" if self.api.read_only else ""
        self._say("#col-plan", self.plan.preview_sql() + note)
        self.query_one("#col-apply", Button).disabled = self.api.read_only

    @worker(group="collection-plan", what="create")
    async def apply_create(self) -> None:
        if self.plan is None:
            return
        request = ConfirmPlan(self.plan)
        self.post_message(request)
        if not await request.answer:
            self._say("#col-plan", self.plan.preview_sql() + "\n-- cancelled: nothing created", "warn")
            return
        try:
            await self.api.apply_plan(self.plan)
        except UserError as exc:
            self._say("#col-plan", str(exc), "error")
            return
        self.created = True
        self.query_one("#col-apply", Button).disabled = True
        self._say("#col-plan", self.plan.preview_sql() + "\n-- applied", None)
        focus_now(self.query_one("#load-file", Input))  # next step: the file to load

    def show_failure(self, what: str, message: str) -> None:
        if what == "load":
            self.error = message
        self.query_one("#load-status" if what == "load" else "#col-plan", Static).update(line(message, self.tone("error")))

    def start_load(self) -> None:
        if self.loading:
            return
        if self.api.read_only:
            notify(self, "refused: vecdash is in read-only mode", severity="error")
            return
        self.loading = True
        self.error = None
        self.result = None
        self.run_load()

    def _load_options(self) -> dict:
        return {"schema": self.schema, "ids": self._value("#load-ids") or None,
                "metadata": self._value("#load-meta") or None, "upsert": self.query_one("#load-upsert", Checkbox).value}

    @worker(group="collection-load", what="load")
    async def run_load(self) -> None:
        bar = self.query_one("#load-progress", ProgressBar)
        try:
            plan = await self.api.plan_load(self.pod, self._value("#col-name"), self._value("#load-file"),
                                            **self._load_options())
            request = ConfirmPlan(plan)  # what will be loaded where, in full, behind a y / n
            self.post_message(request)
            yes = await request.answer
        except UserError as exc:
            self.error = str(exc)
            self._say("#load-status", self.error, "error")
            self.loading = False
            return
        except BaseException:
            self.loading = False
            raise
        if not yes:
            self._say("#load-status", "cancelled: nothing loaded", "warn")
            self.loading = False
            return

        def progress(p: LoadProgress) -> None:
            bar.update(progress=round(p.fraction * 100, 1))
            state = "committed" if p.committed else "copied, not yet committed"
            self._say("#load-status", f"{p.rows_done} rows {state} · {p.elapsed_s:.1f} s")

        try:
            self.result = await self.api.load_file(self.pod, self._value("#col-name"), self._value("#load-file"),
                                                   on_progress=progress, **self._load_options())
        except UserError as exc:
            self.error = str(exc)
            self._say("#load-status", self.error, "error")
            return
        finally:
            self.loading = False
        r = self.result
        self._say("#load-status", f"loaded {r.rows} rows into {r.schema}.{r.collection} in {r.seconds:.2f} s "
                                  f"({r.rows_per_s:,.0f} rows/s, {r.mode})", "ok")

    def action_close(self) -> None:
        if self.loading:
            notify(self, "a load is running (one transaction): wait for it to finish", severity="warning")
            return
        self.dismiss(self.result)
