"""How vecdash writes sizes, counts, durations and ages for people: one rule each, used by the
console, the CLI and service messages alike (pure functions, no imports beyond the standard library).

An unknown value (None) is written `?`.
"""

from __future__ import annotations

from datetime import datetime


def human_bytes(n: float | None) -> str:
    """About three significant digits: 512 -> '512 B', 1536 -> '1.5 kB', 200 * 2**20 -> '200 MB'.

    Powers of 1024 with PostgreSQL's unit names (kB, MB, GB, TB): without the space it is a setting
    value (`--maintenance-work-mem 77MB`).
    """
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" or size >= 10 else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def human_count(n: int | None) -> str:
    """Exact below 10,000 (1234 -> '1,234'), then thousands (12345 -> '12k') and millions ('1.2M')."""
    if n is None:
        return "?"
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.1f}M"


def ms(value: float | None) -> str:
    """A duration in milliseconds: one decimal below 100 ms ('4.2 ms'), whole above ('230 ms')."""
    if value is None:
        return "?"
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def ago(ts: datetime | None, now: datetime) -> str:
    """Age of `ts` relative to `now` (the snapshot time, so the same data always reads the same)."""
    if ts is None:
        return "never"
    return _span(max(0.0, (now - ts).total_seconds()), fine=False) + " ago"


def _span(s: float, *, fine: bool) -> str:
    """`s` seconds in the unit a person reads it in; `fine`: tenths below 10 s and for hours."""
    if fine and s < 10:
        return f"{s:.1f} s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 36 * 3600:
        return f"{s / 3600:.1f} h" if fine else f"{s / 3600:.0f} h"
    return f"{s / 86400:.0f} d"


def seconds(value: float | None) -> str:
    """A duration in seconds, as an age is read: '0.4 s', '42 s', '5 min', '3.5 h', '2 d'."""
    return "?" if value is None else _span(max(0.0, value), fine=True)
