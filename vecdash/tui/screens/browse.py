"""A collection's rows in id order, a page at a time, read in a worker (a down or hung pod: the status
line says so, the rows on screen stay and the keys keep working).

Paging is keyset (`id > last`): `n` reads the page after the last id shown and pushes where this page
started onto a stack, `b` pops it (so "previous" is exact however the table changes meanwhile). The
filter is the queries' vecs filter language, checked before anything runs (a bad one: a message, the
page stays). A new filter starts at the first page and counts the matching rows, bounded
(`1,234`, `at least 10,000`). enter on a row: the record detail; `K` ANDs a metadata key's value into
the filter; `E` exports every matching row (streamed, not just this page).
"""

from __future__ import annotations

import json

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, Static

from vecdash.lines import key_name
from vecdash.model_data import DEFAULT_PAGE as PAGE, BrowsePage, MatchCount
from vecdash.service.console_api import ConsoleApi
from vecdash.tui.messages import ExportSource, OpenRecord, PickKey, RecordRef
from vecdash.tui.screens.export import ExportScreen
from vecdash.tui.screens.modal import Modal, focus_now
from vecdash.tui.text import line, styled
from vecdash.tui.workers import worker
from vecdash.tui.widgets.fitted import FittedTable
from vecdash.tui.widgets.workbench import and_into, metadata_columns, parse_filters, value_text

class BrowseScreen(Modal[None]):
    BINDINGS = [
        Binding("n", "page(1)", "next page"),
        Binding("b", "page(-1)", "previous page"),
        Binding("slash", "focus_filter", "filter"),
        Binding("K", "keys", "keys"),
        Binding("E", "export", "export"),
    ]

    def __init__(self, api: ConsoleApi, pod: str, collection: str, *, schema: str = "vecs", filters: str = "",
                 topology=None) -> None:
        super().__init__()
        self.api = api
        self.pod, self.schema, self.collection = pod, schema, collection
        self.topology = topology
        self.filter_text = filters.strip()
        self.filters: dict | None = None  # the filter of the rows shown
        self.starts: list[str | None] = [None]  # where each page up to this one starts (after this id)
        self.page: BrowsePage | None = None
        self.matching: MatchCount | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="browse-box"):
            yield Static(styled(("Browse", "bold"), " · ", self.pod, ": ", self.schema, ".", self.collection,
                                (" · id order", self.tone("dim"))), id="browse-title")
            with Horizontal(id="browse-filter-row"):
                yield Label("filter", id="browse-filter-label")
                yield Input(self.filter_text, placeholder='{"year": {"$gte": 2020}}  (enter applies)',
                            id="browse-filter", compact=True)
            yield Static(line("reading…", self.tone("dim")), id="browse-status")
            yield FittedTable(id="browse-rows", zebra_stripes=True, cursor_type="row")
            yield Static(line("enter record · n next · b previous · / filter · K key → filter · E export all · "
                              "esc close", self.tone("dim")), id="browse-keys")

    def on_mount(self) -> None:
        self.query_one("#browse-rows").focus()  # n / b / enter / K / E act at once; / goes to the filter
        self.apply_filter(self.filter_text)

    # --- the filter ----------------------------------------------------------------------------

    def apply_filter(self, text: str) -> bool:
        """Start over at the first page with the filter `text`; False (a message, nothing runs) when it is bad."""
        try:
            filters = parse_filters(text, self.api.validate_filters)
        except Exception as exc:  # noqa: BLE001 - a UserError or FilterError: said, nothing runs
            self.show_failure("filter", str(exc))
            return False
        self.filter_text = text.strip()
        self.load([None], filters, count=True)
        return True

    @on(Input.Submitted, "#browse-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.apply_filter(event.value):
            self.query_one("#browse-rows").focus()

    def action_focus_filter(self) -> None:
        focus_now(self.query_one("#browse-filter", Input))

    def action_close(self) -> None:
        """esc in the filter box goes back to the rows; esc on the rows closes the screen."""
        box = self.query_one("#browse-filter", Input)
        if box.has_focus:
            box.value = self.filter_text
            self.query_one("#browse-rows").focus()
        else:
            self.dismiss(None)

    # --- pages ---------------------------------------------------------------------------------

    def action_page(self, step: int) -> None:
        if self.page is None:
            return
        if step > 0:
            if not self.page.more:
                self._say_status(line("this is the last page", self.tone("warn")))
                return
            self.load([*self.starts, self.page.last_id], self.filters)
        elif len(self.starts) > 1:
            self.load(self.starts[:-1], self.filters)
        else:
            self._say_status(line("this is the first page", self.tone("warn")))

    @worker(group="browse", what="reading the page")
    async def load(self, starts: list[str | None], filters: dict | None, count: bool = False) -> None:
        spec = self.api.browse_spec(pod=self.pod, collection=self.collection, schema=self.schema, filters=filters,
                                    limit=PAGE, after=starts[-1], count=count)
        self._say_status(line("reading…", self.tone("dim")))
        page = await self.api.browse_page(spec, self.topology)
        self.starts, self.filters, self.page = starts, filters, page
        if count:
            self.matching = page.matching
        self._show(page)

    def _show(self, page: BrowsePage) -> None:
        keys = metadata_columns([r.metadata for r in page.rows], list(self.filters or {}))
        self.query_one("#browse-rows", FittedTable).fill(
            ["id", *map(key_name, keys)],
            [[value_text(v) for v in (r.id, *(r.metadata.get(k, "") if isinstance(r.metadata, dict) else ""
                                             for k in keys))] for r in page.rows])
        first = (len(self.starts) - 1) * PAGE + 1
        dim = self.tone("dim")
        if page.rows:
            where = styled(f"rows {first:,}–{first + len(page.rows) - 1:,}")
        else:
            where = styled("no rows" if len(self.starts) == 1 else "no rows after this point")
        if self.matching is not None and not page.rows and not self.matching.count:  # not "no rows of 0 row(s)"
            where += styled(" match the filter" if self.filters else " in the collection")
        elif self.matching is not None:
            where += styled(" of ", (f"{self.matching} row(s)", "bold"), (" matching" if self.filters else "", dim))
        where += styled((f" · page {len(self.starts)}", dim), ("" if page.more else " (last)", dim))
        for w in page.warnings:
            where += styled((" · ", dim), (w, self.tone("warn")))
        self._say_status(where)

    def _say_status(self, text) -> None:
        self.query_one("#browse-status", Static).update(text)

    def show_failure(self, what: str, message: str) -> None:
        kept = " (the rows below are from before)" if self.page is not None and self.page.rows else ""
        self._say_status(styled((message, self.tone("error")), (kept, self.tone("dim"))))

    # --- what the rows lead to -----------------------------------------------------------------

    @on(DataTable.RowSelected, "#browse-rows")
    def _open_record(self, event: DataTable.RowSelected) -> None:
        event.stop()
        rows = self.page.rows if self.page is not None else []
        if 0 <= event.cursor_row < len(rows):
            r = rows[event.cursor_row]
            self.post_message(OpenRecord(RecordRef(self.pod, self.schema, self.collection, r.id, r.metadata)))

    def action_keys(self) -> None:
        self.post_message(PickKey(self.pod, self.schema, self.collection, self.add_clause))

    def add_clause(self, key: str, value) -> None:
        """The keys screen's pick: ANDed into the filter shown, which then applies."""
        try:
            text = and_into(self.query_one("#browse-filter", Input), self.api, key, value)
        except Exception as exc:  # noqa: BLE001 - the filter box holds a bad filter: said, nothing runs
            self.show_failure("filter", str(exc))
            return
        self.apply_filter(text)

    def action_export(self) -> None:
        spec = self.api.browse_spec(pod=self.pod, collection=self.collection, schema=self.schema,
                                    filters=self.filters, limit=0)
        m = self.matching
        what = "every row" + (" matching the filter" if self.filters else "") + (f" ({m})" if m else "")
        source = ExportSource(what=f"{what} of {self.pod}: {self.schema}.{self.collection}", kind="browse",
                              pod=self.pod, spec=spec, total=None if m is None or m.capped else m.count)
        # pushed now, not asked of the app by a message: keys typed right after E then reach the export
        # screen, where a message's round trip let them land here (`n` turned the page)
        self.app.push_screen(ExportScreen(self.api, source, topology=self.topology))
