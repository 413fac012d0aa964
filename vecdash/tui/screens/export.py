"""Export rows to a file path typed here: a query's results (in hand) or every row a browse matches
(streamed from the pod one keyset page at a time, so memory stays flat whatever the size), in one of
the export formats (vecdash/export.py; the file's extension picks it until the format is chosen).

The file is written beside the path and renamed onto it at the end (vecdash.files.replacing): an
export that fails or is stopped (esc) leaves nothing behind, and an existing file is replaced only
with "overwrite" ticked. A bad path (a directory, a missing directory, no permission) is one line and
nothing is read. The progress bar counts rows against the count the browse took (indeterminate when
the count was capped).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, Select, Static

from vecdash.files import replacing
from vecdash.model_data import STREAM_PAGE
from vecdash.service.console_api import ConsoleApi
from vecdash.tui.messages import ExportSource
from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import line, styled
from vecdash.tui.workers import worker
from vecdash.units import human_bytes, human_count

BATCH_ROWS = STREAM_PAGE  # rows encoded and written per trip to a thread: a keyset page of browse
BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".txt": "table"}


class ExportScreen(Modal[Path | None]):
    """Dismisses with the path written (None when nothing was).

    A path typed right after `E` is kept whole: the path box has the focus as the screen opens
    (AUTO_FOCUS, before any key is handed on), and keys already on their way through the screen beneath
    come here (vecdash.tui.screens.modal). The E that opened the screen was its opener's binding: it
    never reaches the box."""

    AUTO_FOCUS = "#export-path"

    def __init__(self, api: ConsoleApi, source: ExportSource, *, topology=None) -> None:
        super().__init__()
        self.api = api
        self.source = source
        self.topology = topology
        self.running = False
        self.written: int | None = None  # rows in the file, once written

    def compose(self) -> ComposeResult:
        s = self.source
        with Vertical(id="export-box"):
            yield Static(styled(("Export", "bold"), " · ", s.what), id="export-title")
            with Horizontal(classes="export-row"):
                yield Label("file", classes="export-label")
                yield Input("export.csv", placeholder="path/to/file.csv", id="export-path", compact=True)
            with Horizontal(classes="export-row"):
                yield Label("format", classes="export-label")
                formats = self.api.export_formats()
                yield Select([(f, f) for f in formats], value="csv" if "csv" in formats else formats[0],
                             allow_blank=False, id="export-format", compact=True)
                yield Checkbox("overwrite", id="export-overwrite", compact=True)
                yield Button("Export", id="export-go", compact=True)
            yield ProgressBar(id="export-progress", show_eta=False)
            yield Static(line(self._expected(), self.tone("dim")), id="export-status")
            yield Static(line("enter exports · esc closes (and stops an export: nothing is left behind)",
                              self.tone("dim")), id="export-keys")

    def _expected(self) -> str:
        s = self.source
        if s.total is None:
            return "rows: as many as match (the count was capped)"
        return f"{human_count(s.total)} row(s)"

    def on_mount(self) -> None:
        self.query_one("#export-progress").display = False

    @on(Input.Changed, "#export-path")
    def _suffix_picks_format(self, event: Input.Changed) -> None:
        fmt = BY_SUFFIX.get(Path(event.value.strip()).suffix.lower())
        if fmt is not None and fmt in self.api.export_formats():
            self.query_one("#export-format", Select).value = fmt

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-go")
    def _go(self, event) -> None:
        event.stop()
        if self.running:
            return
        text = self.query_one("#export-path", Input).value.strip()
        if not text:
            self.show_failure("export", "type a file path first")
            return
        path = Path(text).expanduser().absolute()
        self.export(path, self.query_one("#export-format", Select).value,
                    self.query_one("#export-overwrite", Checkbox).value)

    @worker(group="export", what="export")
    async def export(self, path: Path, fmt: str, overwrite: bool) -> None:
        s = self.source
        bar = self.query_one("#export-progress", ProgressBar)
        status = self.query_one("#export-status", Static)
        self.running, self.written = True, None
        try:
            columns = self.api.export_columns(s.kind, multi_pod=s.multi_pod)
            with replacing(path, overwrite=overwrite) as out:
                bar.update(total=s.total, progress=0)
                bar.display = True
                status.update(line(f"writing {path}…", self.tone("dim")))
                writer = self.api.export_writer(fmt, out, columns)
                rows = self.api.stream_rows(s.spec, self.topology) if s.rows is None else None
                batch: list = list(s.rows or ())
                while batch or rows is not None:
                    if rows is not None:  # the next keyset page's worth, read on the loop (async I/O)
                        async for r in rows:
                            batch.append(r)
                            if len(batch) >= BATCH_ROWS:
                                break
                        else:
                            rows = None
                    # encoding and writing off the UI thread; the bar moves on the loop
                    await asyncio.to_thread(_write, writer, batch)
                    bar.update(progress=writer.written)
                    batch = []
                written = await asyncio.to_thread(writer.close)
        finally:
            self.running = False
        self.written = written
        bar.update(total=written or 1, progress=written or 1)
        self.result = path
        size = human_bytes((await asyncio.to_thread(path.stat)).st_size)
        status.update(styled((f"wrote {human_count(written)} row(s), {size}, {fmt}: ", self.tone("ok")),
                             (str(path), self.tone("ok"))))

    def show_failure(self, what: str, message: str) -> None:
        self.query_one("#export-progress").display = False
        self.query_one("#export-status", Static).update(line(message, self.tone("error")))

    def action_close(self) -> None:
        # closing cancels a running export (the screen's workers end with it): its half file is removed
        self.dismiss(self.result)


def _write(writer, batch: list) -> None:
    for r in batch:
        writer.row(r)
