"""Writing rows out: table, json, jsonl, csv. The one home of the export formats, for the CLI (`query`,
`browse`) and the console alike. Plain code: no database, no terminal.

A writer takes rows one at a time (`row`), so memory holds one row whatever the export's size: JSON is an
array written element by element, never built in memory. A row is any object with the column names as
attributes (ResultRow, BrowseRow) or a mapping. CSV (the csv module, so ids with commas, quotes and
newlines round-trip) writes a JSON value (metadata, a vector) as its JSON text in one column; JSONL one
object per line; table the CLI's aligned columns, control characters escaped and long cells cut.
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

from vecdash.errors import UserError
from vecdash.lines import aligned, column_widths, cut, one_line, shown, table

FORMATS = ("table", "json", "jsonl", "csv")
# rows between two progress calls (and one at the end)
PROGRESS_EVERY = 1_000
# table: the rows whose cells set the column widths (later rows keep them; a longer cell is cut), and the
# widest a cell may be: a table is for reading, the other formats keep every character
TABLE_SIZING_ROWS = 200
TABLE_CELL = {"id": 40, "metadata": 70, "vector": 40, "pod": 20}


def browse_columns(include_vector: bool = False) -> tuple[str, ...]:
    """The columns of browsed rows (BrowseRow)."""
    return ("id", "metadata") + (("vector",) if include_vector else ())


def query_columns(multi_pod: bool = False, include_vector: bool = False) -> tuple[str, ...]:
    """The columns of query results (ResultRow); `multi_pod`: a fanout or federated route (which pod)."""
    return ("id", "distance") + (("pod",) if multi_pod else ()) + ("metadata",) + (("vector",) if include_vector else ())


def check_format(fmt: str) -> str:
    """`fmt` if it is one of FORMATS, else UserError (exit 2, before anything runs)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    return fmt


def _value(r: Any, column: str) -> Any:
    return r.get(column) if isinstance(r, Mapping) else getattr(r, column, None)


# one encoder for every value: json.dumps with options would build a new one per call
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def _json(value: Any) -> str:
    return _ENCODER.encode(value)


class Writer:
    """Rows to `out` in one format: `row(r)` for each, then `close()` (it ends the JSON array or the
    table). Nothing is written before the first row or close: an export that fails first writes nothing. `on_progress(n)`: rows written so far, every PROGRESS_EVERY rows and once at close.
    `escape` (csv): control characters in values written escaped (`\\x1b`), for a terminal to show, not
    obey; the bytes then no longer round-trip, so it is never set for a file or a pipe."""

    def __init__(self, fmt: str, out: TextIO, columns: Sequence[str], *,
                 on_progress: Callable[[int], None] | None = None, escape: bool = False) -> None:
        self.fmt = check_format(fmt)
        self.escape = escape
        self.out = out
        self.columns = tuple(columns)
        self.on_progress = on_progress
        self.written = 0
        self._csv = None
        self._table: list[list[str]] | None = [] if fmt == "table" else None
        self._widths: list[int] | None = None
        if fmt == "csv":
            self._csv = csv.writer(out)

    def row(self, r: Any) -> None:
        values = [_value(r, c) for c in self.columns]
        if self.fmt == "csv":
            if not self.written:  # the header with the first row: an export failing before it writes nothing
                self._csv.writerow(self.columns)
            cells = ["" if v is None else v if isinstance(v, str) else _json(v) for v in values]
            self._csv.writerow([one_line(c) for c in cells] if self.escape else cells)
        elif self.fmt == "jsonl":
            self.out.write(_json(dict(zip(self.columns, values))) + "\n")
        elif self.fmt == "json":
            self.out.write(("[\n" if not self.written else ",\n") + _json(dict(zip(self.columns, values))))
        else:
            self._table_row(values)
        self.written += 1
        if self.on_progress is not None and self.written % PROGRESS_EVERY == 0:
            self.on_progress(self.written)

    def close(self) -> int:
        """End the output; the number of rows written."""
        if self.fmt == "json":
            self.out.write("[]\n" if not self.written else "\n]\n")
        elif self.fmt == "csv" and not self.written:
            self._csv.writerow(self.columns)
        elif self.fmt == "table":
            self._table_flush()
        if self.on_progress is not None:
            self.on_progress(self.written)
        return self.written

    # --- table: the first TABLE_SIZING_ROWS rows set the widths, then each row is written at once ---

    def _table_row(self, values: list[Any]) -> None:
        cells = [_cell(c, v) for c, v in zip(self.columns, values)]
        if self._widths is None:
            self._table.append(cells)
            if len(self._table) >= TABLE_SIZING_ROWS:
                self._table_flush()
        else:
            self.out.write(aligned([cut(c, w) for c, w in zip(cells, self._widths)], self._widths) + "\n")

    def _table_flush(self) -> None:
        if self._widths is not None:
            return
        headers = [c.upper() for c in self.columns]
        self._widths = column_widths(headers, self._table)
        self.out.write(table(self._table, headers, self._widths) + "\n")
        self._table = []


def _cell(column: str, value: Any) -> str:
    if column == "distance" and isinstance(value, float):
        return f"{value:.6f}"
    text = value if isinstance(value, str) else _json(value) if value is not None else None
    return shown(text, TABLE_CELL.get(column, 40))


def write_rows(fmt: str, rows: Iterable[Any], out: TextIO, columns: Sequence[str], *,
               on_progress: Callable[[int], None] | None = None, escape: bool = False) -> int:
    """Every row of `rows` to `out` in `fmt`; the number written."""
    w = Writer(fmt, out, columns, on_progress=on_progress, escape=escape)
    for r in rows:
        w.row(r)
    return w.close()


async def write_rows_async(fmt: str, rows: AsyncIterable[Any], out: TextIO, columns: Sequence[str], *,
                           on_progress: Callable[[int], None] | None = None) -> int:
    """`write_rows` for an async iterator (service.browse.stream_rows); the number written."""
    w = Writer(fmt, out, columns, on_progress=on_progress)
    async for r in rows:
        w.row(r)
    return w.close()

