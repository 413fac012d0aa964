"""Collections pane (`5`): every collection on every pod in one table, from the last Topology only (no
database access here): pod, schema, name, dimension, rows, size, index, the pod's latency, warnings.

`o` cycles the sort column and a click on a header sorts by it (again: the other way); `/` filters;
`enter` on a row shows that collection in the tree (its group and pod opened) with its Stats. The
table is filled when the pane is on screen: a refresh of a pane nobody looks at costs nothing.
"""

from __future__ import annotations

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Label, Static

from vecdash.model import Topology
from vecdash.tui import actions as registry
from vecdash.tui.screens.modal import focus_now
from vecdash.tui.widgets.filter_box import FilterBox
from vecdash.tui.text import NL, cell, styled, theme_style
from vecdash.tui.widgets.collections_rows import SORTS, CollectionRow, matches, sort_rows, table_rows
from vecdash.tui.widgets.topology import Ref
from vecdash.units import human_bytes, human_count, ms

NAME_WIDTH = 28  # characters of a pod, schema or collection name in a cell (the detail line has it whole)
PANE_KEYS = ("sort", "filter")


class CollectionsPane(Vertical):
    COMPONENT_CLASSES = {"collections--dim", "collections--ok", "collections--warn", "collections--error",
                         "collections--accent"}

    class ShowInTree(Message):
        """`enter` on a row: select `ref` in the tree and show its Stats."""

        def __init__(self, ref: Ref) -> None:
            super().__init__()
            self.ref = ref

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.topology: Topology | None = None
        self.sort = SORTS.index(next(s for s in SORTS if s[0] == "rows"))
        self.flipped = False  # the sort column the other way round (a second click on its header)
        self.filter_text = ""
        self.rows: dict[str, CollectionRow] = {}
        self._drawn: tuple | None = None  # what the table shows now: redrawn only when it changes
        self._order: tuple | None = None  # the sort and filter it was drawn with

    def compose(self) -> ComposeResult:
        with Horizontal(id="coll-bar"):
            yield FilterBox(placeholder="filter collections…", id="coll-filter", compact=True, then="#coll-table")
            yield Label("", id="coll-status")
        yield DataTable(id="coll-table", zebra_stripes=True, cursor_type="row")
        yield Static(id="coll-detail")
        yield Static(id="coll-keys")

    def on_mount(self) -> None:
        self._keys_hint()
        self.redraw()

    def _st(self, name: str):
        return theme_style(self, f"collections--{name}")

    def _c(self, value: object, style: str | None = None, width: int | None = None) -> Text:
        text = cell(value, width)
        if style:
            text.stylize(self._st(style))
        return text

    # --- the app's calls -----------------------------------------------------------------------

    def show(self, topo: Topology | None) -> None:
        self.topology = topo
        if self.is_mounted and self.parent is not None and self.parent.display:
            self.redraw()

    def cycle_sort(self) -> None:
        self.sort, self.flipped = (self.sort + 1) % len(SORTS), False
        self.redraw()

    def focus_filter(self) -> None:
        focus_now(self.query_one("#coll-filter", Input))

    def focus_table(self) -> None:
        """The arrows then move the selected row (`enter` jumps to it in the tree); esc goes back to the tree."""
        self.query_one("#coll-table", DataTable).focus(scroll_visible=False)

    def selected(self) -> CollectionRow | None:
        table = self.query_one("#coll-table", DataTable)
        if not table.row_count:
            return None
        return self.rows.get(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    # --- the table -----------------------------------------------------------------------------

    def redraw(self) -> None:
        table = self.query_one("#coll-table", DataTable)
        every = table_rows(self.topology)
        needle = self.filter_text.strip().lower()
        rows = sort_rows([r for r in every if matches(r, needle)] if needle else every, self.sort, self.flipped)
        drawn = (self.sort, self.flipped, self.app.current_theme.name,
                 tuple((r.key, r.c.dimension, r.c.rows_estimate, r.c.total_bytes, r.index, r.pod.latency_ms, r.warnings)
                       for r in rows))
        if drawn != self._drawn:
            before = self.selected()
            self.rows = {r.key: r for r in rows}
            name, _, desc = SORTS[self.sort]
            arrow = " ↓" if desc != self.flipped else " ↑"
            table.clear(columns=True)
            for label, _, _ in SORTS:
                table.add_column(styled(label, arrow if label == name else ""), key=label)
            for r in rows:
                table.add_row(*self._cells(r), key=r.key)
            order = (self.sort, self.flipped, needle)
            if order == self._order and before is not None and before.key in self.rows:  # a refresh: stay put
                table.move_cursor(row=table.get_row_index(before.key), animate=False)
            elif rows:  # another order or filter: its top row
                table.move_cursor(row=0, animate=False)
                table.scroll_home(animate=False)
            self._drawn, self._order = drawn, order
        self._status(rows, every)
        self._detail()

    def _cells(self, r: CollectionRow) -> list[Text]:
        c = r.c
        index_style = "error" if any(not i.valid for i in c.indexes) else "dim" if r.index == "-" else "ok"
        return [
            self._c(r.pod.name, "accent", NAME_WIDTH),
            self._c(c.schema, None, NAME_WIDTH),
            self._c(c.name, None, NAME_WIDTH),
            self._c(c.dimension if c.dimension else c.type),
            self._c(human_count(c.rows_estimate) if c.rows_estimate is not None else "?"),
            self._c(human_bytes(c.total_bytes)),
            self._c(r.index, index_style, 24),
            self._c(", ".join(r.words), "warn", 32),
            self._c(ms(r.pod.latency_ms), "dim"),
        ]

    def _status(self, rows: list[CollectionRow], every: list[CollectionRow]) -> None:
        topo = self.topology
        down = sum(not p.up for p in topo.pods) if topo else 0
        name, _, desc = SORTS[self.sort]
        status = styled(("by ", self._st("dim")), (name, None), (" ↓" if desc != self.flipped else " ↑", None),
                        (" · ", self._st("dim")), (len(rows), None), ("/", self._st("dim")), (len(every), None),
                        (" collections · ", self._st("dim")), (len(topo.pods) - down if topo else 0, None),
                        (" pods up", self._st("dim")),
                        *(((", ", self._st("dim")), (down, self._st("error")), (" down", self._st("dim")))
                          if down else ()))
        status.no_wrap, status.overflow = True, "ellipsis"
        self.query_one("#coll-status", Label).update(status)

    def _detail(self) -> None:
        """The highlighted collection named whole, with its warnings in full."""
        row = self.selected()
        box = self.query_one("#coll-detail", Static)
        box.display = row is not None
        if row is None:
            return
        text = styled((row.pod.name, self._st("accent")), (" · ", self._st("dim")), (row.c.schema, None),
                      (".", self._st("dim")), (row.c.name, None))
        for _, message in row.warnings:
            text.append_text(styled(NL, ("⚠ ", self._st("warn")), message))
        box.update(text)

    def _keys_hint(self) -> None:
        offered = {a.name: a for a in registry.ACTIONS}
        parts: list = []
        for name in PANE_KEYS:
            a = offered[name]
            parts += [(" · " if parts else "", self._st("dim")), (a.key_display, self._st("accent")), " ",
                      (a.description, self._st("dim"))]
        parts += [(" · ", self._st("dim")), ("enter", self._st("accent")), (" show in the tree", self._st("dim")),
                  (" · ", self._st("dim")), ("click a header", self._st("accent")), (" sorts by it", self._st("dim"))]
        self.query_one("#coll-keys", Static).update(styled(*parts))

    # --- events --------------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#coll-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    @on(DataTable.RowSelected, "#coll-table")
    def _chosen(self, event: DataTable.RowSelected) -> None:
        row = self.rows.get(event.row_key.value)
        if row is not None:
            self.post_message(self.ShowInTree(Ref("collection", row.pod.name, row.c.schema, row.c.name)))

    @on(DataTable.HeaderSelected, "#coll-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        column = next(n for n, s in enumerate(SORTS) if s[0] == event.column_key.value)
        self.sort, self.flipped = column, (not self.flipped if column == self.sort else False)
        self.redraw()

    @on(Input.Changed, "#coll-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.redraw()

    def on_key(self, event: events.Key) -> None:
        box = self.query_one("#coll-filter", Input)
        if event.key == "escape" and box.has_focus:  # like the tree's filter: esc clears it (the app refocuses)
            box.value = ""
