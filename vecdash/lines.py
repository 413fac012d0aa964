"""One line of text, the way vecdash says it everywhere: the first line of an error, and a value
escaped for a one-line place (a CLI error on stderr, a console tree row, cell or status line); and
lines of such cells aligned in columns (`table`: the CLI's tables and the export's table format).

Server and libpq messages run to several lines (DETAIL, HINT, CONTEXT, one "connection to server
... failed" per address); a report of a failure says its first line. A name from a database can hold a
newline or a terminal escape; in a one-line place it is shown escaped (`\\n`, `\\x1b`), never obeyed.
Pure functions, standard library only: the CLI, the console and the services import it.
"""

from __future__ import annotations

import re
import unicodedata

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# every C0 and C1 control character (newline included) and DEL, as str.translate wants it
ONE_LINE = {c: _ESCAPES.get(chr(c), f"\\x{c:02x}") for c in (*range(0x20), *range(0x7f, 0xa0))}


def one_line(value: object) -> str:
    """`value` as text for a one-line place: control characters (newline included) escaped."""
    return str(value).translate(ONE_LINE)


def first_line(text: str) -> str:
    """The first line of a message, stripped; '' when it has none."""
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def error_line(exc: BaseException) -> str:
    """The first line of an exception's message, or the name of its type when it has none."""
    return first_line(str(exc)) or type(exc).__name__


# a vector literal in SQL or a plan: '[1,2,...]' (vector, halfvec) or '{1:0.5,...}/1000' (sparsevec)
_VECTOR_LITERAL = re.compile(r"'\[([^'\]]*)\]'|'\{([^'}]*)\}(/\d+)'")
SHOWN_VALUES = 2


def short_vectors(text: str, *, keep: int = 48) -> str:
    """`text` (SQL, an EXPLAIN plan, a parameter) with each vector literal longer than `keep`
    characters cut to its first values and its length: `'[0.01, 0.02, … 384 values]'`. A plan of a
    384-d query is otherwise pages of numbers; the CLI, the console and verify all cut it here."""

    def cut(m: re.Match) -> str:
        if len(m.group(0)) <= keep:
            return m.group(0)
        dense = m.group(1) is not None
        items = [v.strip() for v in (m.group(1) if dense else m.group(2)).split(",") if v.strip()]
        head = ", ".join(items[:SHOWN_VALUES])
        if dense:
            return f"'[{head}, … {len(items)} values]'"
        return f"'{{{head}, … {len(items)} entries}}{m.group(3)}'"

    return _VECTOR_LITERAL.sub(cut, text)


def width(text: str) -> int:
    """Terminal columns `text` takes: an East Asian wide or full-width character two, a combining mark
    none. Aligned columns count these, not characters: `日本` is four columns wide. It agrees with what
    Rich (so the console) draws on the text vecdash shows: marks and zero-width formats (a joiner) count 0."""
    return sum(_char_width(c) for c in text)


def _char_width(c: str) -> int:
    if unicodedata.combining(c) or unicodedata.category(c) in _ZERO_WIDTH and c != "\xad":  # a soft hyphen shows
        return 0
    return 2 if unicodedata.east_asian_width(c) in "WF" else 1


_ZERO_WIDTH = ("Mn", "Me", "Cf")


def pad(text: str, columns: int) -> str:
    """`text` padded with spaces to `columns` terminal columns (str.ljust counts characters)."""
    return text + " " * max(0, columns - width(text))


def cut(text: str, limit: int) -> str:
    """`text` in at most `limit` terminal columns: cut with `…` when longer, never inside a character (a
    wide one that would straddle the edge goes whole; combining marks stay with their letter)."""
    if width(text) <= limit:
        return text
    room, kept = max(0, limit - 1), []
    for c in text:
        room -= width(c)
        if room < 0:
            break
        kept.append(c)
    return "".join(kept) + "…" if limit > 0 else ""


def shown(value: object, limit: int | None = None) -> str:
    """Text from a database for one table cell or line: control characters escaped (a newline in query
    text reads `\\n`), vector literals cut short, at most `limit` terminal columns (then `…`); None is `-`."""
    if value is None:
        return "-"
    text = one_line(short_vectors(str(value)))
    return text if limit is None else cut(text, limit)


def key_name(key: str) -> str:
    """A metadata key as shown (CLI tables, console lists and column headers): the empty key is `""`,
    which would otherwise show as nothing. JSON output keeps it as it is."""
    return '""' if key == "" else key


def column_widths(headers: list[str], rows: list[list[str]]) -> list[int]:
    """Each column's width in terminal columns: its widest cell, header included."""
    widths = [width(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], width(cell))
    return widths


def aligned(cells: list[str], widths: list[int]) -> str:
    """One row of a table: each cell padded to its column's width (terminal columns), two spaces apart."""
    return "  ".join(pad(c, w) for c, w in zip(cells, widths)).rstrip()


def table(rows: list[list[str]], headers: list[str], widths: list[int] | None = None) -> str:
    """Plain aligned columns under a header and a rule (no colour, safe for pipes and cron mail), no
    final newline; `widths` None: those of these rows (`column_widths`)."""
    widths = widths if widths is not None else column_widths(headers, rows)
    return "\n".join(aligned(r, widths) for r in [headers, ["-" * w for w in widths], *rows])
