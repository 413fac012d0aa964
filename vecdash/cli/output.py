"""Printing for the CLI: JSON (masked, stable keys) and compact human tables."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from vecdash.lines import shown, table  # noqa: F401 - the CLI's commands import them from here
from vecdash.model import to_jsonable


def print_json(obj: Any, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    json.dump(to_jsonable(obj), out, indent=2, default=str)
    out.write("\n")


def add_export_options(p: argparse.ArgumentParser, json_is: str = "an array") -> None:
    """--format and --output, as every command that writes rows has them (vecdash/export.py); `json_is`
    says what --format json writes (query: its whole result object)."""
    from vecdash.export import FORMATS

    p.add_argument("--format", choices=FORMATS, default=None,
                   help=f"table (default, for reading), json ({json_is}), jsonl (one object a line) or csv "
                        "(metadata as JSON text)")
    p.add_argument("--output", metavar="FILE",
                   help="write to FILE instead of standard output (replaced only when every row is written)")


@contextlib.contextmanager
def output_to(path: str | None) -> Iterator[TextIO]:
    """Standard output, or the file at `path`: written beside it and renamed over it (an existing file
    is replaced, as a shell redirection does) only when every row is written; UserError when it cannot
    be created, before any pod is asked."""
    if path is None:
        yield sys.stdout
        return
    from pathlib import Path

    from vecdash.files import replacing

    with replacing(Path(path), overwrite=True) as f:
        yield f


def escape_on_terminal(fmt: str, out: TextIO) -> bool:
    """Whether rows in `fmt` to `out` are written with control characters escaped: CSV (its values are
    written raw, unlike JSON's) to a terminal, which would obey an ESC in an id, with a note on stderr.
    To a file or a pipe CSV is data and keeps every byte."""
    if fmt != "csv" or not out.isatty():
        return False
    print("vecdash: standard output is a terminal: control characters in the CSV are shown escaped (\\x1b); "
          "--output FILE or a pipe writes them as they are", file=sys.stderr)
    return True
