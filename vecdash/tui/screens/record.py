"""One row of a collection, whole: id, distance (from a query), every metadata key as pretty-printed
JSON (scrolls, never cut), and the vector's dimension, norm and first values, read from its pod in a
worker (a down or hung pod: the vector line says so, the rest stays usable). `i` copies the id, `j`
the metadata JSON (vecdash/tui/clipboard.py says whether the terminal can take it).

Open with `RecordScreen(api, RecordRef(...))`: the app does, on the workbench's OpenRecord; the browse
screen does for its rows.
"""

from __future__ import annotations

import json

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from vecdash.model_data import Record
from vecdash.service.console_api import ConsoleApi
from vecdash.tui.clipboard import copy
from vecdash.tui.messages import RecordRef
from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import block, line, styled
from vecdash.tui.workers import worker

def metadata_json(metadata) -> str:
    """The metadata as shown and copied: every key, indented; control characters stay JSON escapes."""
    return json.dumps(metadata, indent=2, ensure_ascii=False, default=str)


class RecordScreen(Modal[None]):
    BINDINGS = [
        Binding("i", "copy_id", "copy id"),
        Binding("j", "copy_json", "copy JSON"),
    ]  # the JSON has the focus: the arrows, PgUp / PgDn, Home / End scroll it

    def __init__(self, api: ConsoleApi, row: RecordRef, *, record: Record | None = None) -> None:
        """`record`: the row as already read (nothing is read then)."""
        super().__init__()
        self.api = api
        self.row = row
        self.metadata = row.metadata  # the jsonb as listed; as the pod holds it once read
        self.record: Record | None = None  # as the pod holds it now, once read
        self._given = record
        self.said = ""  # the last copy message (tests read it)

    def compose(self) -> ComposeResult:
        r = self.row
        with Vertical(id="record-box"):
            yield Static(styled(("Record", "bold"), " · ", r.pod, ": ", r.schema, ".", r.collection), id="record-title")
            yield Static(styled(("id       ", self.tone("dim")), r.id), id="record-id")
            if r.distance is not None:
                yield Static(styled(("distance ", self.tone("dim")), f"{r.distance:.6f}"), id="record-distance")
            yield Static(styled(("vector   ", self.tone("dim")), ("reading…", self.tone("dim"))), id="record-vector")
            yield Static(self._metadata_title(), id="record-meta-title")
            with VerticalScroll(id="record-json"):
                yield Static(block(metadata_json(self.metadata)), id="record-meta")
            yield Static("", id="record-status")
            yield Static(line("i copy id · j copy JSON · ↑ ↓ PgUp PgDn scroll · esc close", self.tone("dim")),
                         id="record-keys")

    def _metadata_title(self):
        m = self.metadata
        what = f"{len(m)} key(s)" if isinstance(m, dict) else "not a JSON object"
        return styled(("metadata ", self.tone("dim")), (what, self.tone("dim")))

    def on_mount(self) -> None:
        self.query_one("#record-json").focus()
        if self._given is not None:
            self.show_record(self._given)
        else:
            self.read_vector()

    @worker(group="record", what="reading the row")
    async def read_vector(self) -> None:
        r = self.row
        self.show_record(await self.api.fetch_record(r.pod, r.collection, r.id, schema=r.schema,
                                                     topology=getattr(self.app, "topology", None)))

    def show_record(self, record: Record) -> None:
        self.record = record
        if record.metadata != self.metadata:  # changed since it was listed: show what the pod holds now
            self.metadata = record.metadata
            self.query_one("#record-meta", Static).update(block(metadata_json(self.metadata)))
            self.query_one("#record-meta-title", Static).update(self._metadata_title())
        self._vector_line(vector_summary(record))

    def _vector_line(self, text) -> None:
        self.query_one("#record-vector", Static).update(styled(("vector   ", self.tone("dim")), text))

    def show_failure(self, what: str, message: str) -> None:
        self._vector_line(line(message, self.tone("error")))

    def _say(self, message: str) -> None:
        self.said = message
        self.query_one("#record-status", Static).update(line(message, self.tone("ok")))

    def action_copy_id(self) -> None:
        self._say(copy(self.app, "the id", self.row.id))

    def action_copy_json(self) -> None:
        self._say(copy(self.app, "the metadata JSON", metadata_json(self.metadata)))


def vector_summary(record: Record):
    """`vector 384 · norm 1.0000 · [0.0123, -0.5, …]`: the type, dimension, norm and first values."""
    first = ", ".join(f"{v:.4g}" for v in record.head)
    more = ", …" if record.dimension > len(record.head) else ""
    return styled(record.vector_type, f" {record.dimension} · norm {record.norm:.4f} · [", first, more, "]")
