"""Printing for the CLI: JSON (masked, stable keys) and compact human tables."""

from __future__ import annotations

import json
import sys
from typing import Any

from vecdash.lines import shown  # noqa: F401 - the CLI's commands import it from here
from vecdash.model import to_jsonable


def print_json(obj: Any) -> None:
    json.dump(to_jsonable(obj), sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Plain aligned columns (no colour, safe for pipes and cron mail)."""
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))
    fmt = lambda r: "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip()  # noqa: E731
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])
