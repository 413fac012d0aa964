"""Writing rows out: table, json, jsonl, csv. The one home of the export formats, for the CLI (`query`,
`browse`) and the console alike. Plain code: no database, no terminal.

A writer takes rows one at a time (`row`), so memory holds one row whatever the export's size: JSON is an
array written element by element, never built in memory. A row is any object with the column names as
attributes (ResultRow, BrowseRow) or a mapping. CSV (the csv module, so ids with commas, quotes and
newlines round-trip) writes a JSON value (metadata, a vector) as its JSON text in one column; JSONL one
object per line; table the CLI's aligned columns, control characters escaped and long cells cut.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from typing import Any, TextIO

FORMATS = ("table", "json", "jsonl", "csv")
# rows between two progress calls (and one at the end)
PROGRESS_EVERY = 1_000


def browse_columns(include_vector: bool = False) -> tuple[str, ...]:
    """The columns of browsed rows (BrowseRow)."""
    return ("id", "metadata") + (("vector",) if include_vector else ())


def query_columns(multi_pod: bool = False, include_vector: bool = False) -> tuple[str, ...]:
    """The columns of query results (ResultRow); `multi_pod`: a fanout or federated route (which pod)."""
    return ("id", "distance") + (("pod",) if multi_pod else ()) + ("metadata",) + (("vector",) if include_vector else ())


def check_format(fmt: str) -> str:
    """`fmt` if it is one of FORMATS, else UserError (exit 2, before anything runs)."""
    raise NotImplementedError


class Writer:
    """Rows to `out` in one format: `row(r)` for each, then `close()` (which flushes nothing it did not
    write; it ends the JSON array or the table). `on_progress(n)`: rows written so far, every
    PROGRESS_EVERY rows and once at close."""

    def __init__(self, fmt: str, out: TextIO, columns: Sequence[str], *,
                 on_progress: Callable[[int], None] | None = None) -> None:
        raise NotImplementedError

    def row(self, r: Any) -> None:
        raise NotImplementedError

    def close(self) -> int:
        """End the output; the number of rows written."""
        raise NotImplementedError


def write_rows(fmt: str, rows: Iterable[Any], out: TextIO, columns: Sequence[str], *,
               on_progress: Callable[[int], None] | None = None) -> int:
    """Every row of `rows` to `out` in `fmt`; the number written."""
    raise NotImplementedError


async def write_rows_async(fmt: str, rows: AsyncIterable[Any], out: TextIO, columns: Sequence[str], *,
                           on_progress: Callable[[int], None] | None = None) -> int:
    """`write_rows` for an async iterator (service.browse.stream_rows); the number written."""
    raise NotImplementedError
