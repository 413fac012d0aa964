"""Tables whose columns share the table's width by their content (browse's rows, the workbench's
results): a long value takes the room the short ones leave instead of every cell being cut at one
fixed width, and the table is fitted again when it is resized (the pane or the terminal).

Cells are one-line texts (vecdash/tui/text.py `cell`), cut to their column with an ellipsis; the
whole value is in the record detail (enter).
"""

from __future__ import annotations

from textual import events
from textual.widgets import DataTable

from vecdash.lines import one_line, width
from vecdash.tui.text import cell

MIN_CELL = 8  # the narrowest a shared column gets


def share_widths(natural: list[int], room: int, least: int = MIN_CELL) -> list[int]:
    """Column widths in `room` terminal columns: each its content's width (`natural`) when all fit; else
    the narrow columns whole and the wide ones share what is left alike, none under `least` (or its
    content, when narrower): a long value no longer cuts its short neighbours."""
    widths = list(natural)
    if sum(natural) <= room:
        return widths
    left = room
    by_size = sorted(range(len(natural)), key=lambda i: natural[i])
    for done, i in enumerate(by_size):
        share = left // (len(natural) - done)
        widths[i] = min(natural[i], max(share, least))
        left -= widths[i]
    return widths


class FittedTable(DataTable):
    """A DataTable filled with `fill(labels, rows)`: column widths from share_widths over the table's
    width, given to the table (not measured by it: a table refilled on screen kept its old widths'
    lines), and worked out again when its width changes (the cursor stays on its row)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._labels: list[str] = []
        self._texts: list[list[str]] = []
        self._fitted_to: int | None = None  # the width the columns were shared for

    def fill(self, labels: list[str], rows: list[list[str]]) -> None:
        """Show `rows` (cells as one-line texts) under `labels`."""
        self._labels = [one_line(label) for label in labels]
        self._texts = [[one_line(t) for t in row] for row in rows]
        self._fit(row=0)

    def _room(self) -> int:
        """The terminal columns the cells may take: the table's width (its container's while it is not
        laid out yet), less a vertical scrollbar and each cell's padding."""
        outer = self.size.width or (self.parent.size.width if self.parent is not None else 0) or self.app.size.width
        return outer - self.styles.scrollbar_size_vertical - 2 * self.cell_padding * len(self._labels)

    def _fit(self, row: int) -> None:
        """Columns and rows again for the table's width; the cursor on `row`."""
        self.clear(columns=True)
        self._fitted_to = self.size.width
        if not self._labels:
            return
        natural = [max([width(label), *(width(r[i]) for r in self._texts)]) for i, label in enumerate(self._labels)]
        widths = share_widths(natural, self._room())
        for label, w in zip(self._labels, widths):
            self.add_column(cell(label, w), width=w)
        self.add_rows([[cell(t, w) for t, w in zip(r, widths)] for r in self._texts])
        if 0 < row < len(self._texts):
            self.move_cursor(row=row, animate=False)

    def on_resize(self, event: events.Resize) -> None:
        if self._labels and event.size.width != self._fitted_to:
            self._fit(row=self.cursor_row)
