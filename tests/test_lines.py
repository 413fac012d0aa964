"""The one rule for a line of text (vecdash/lines.py): the first line of an error, and a value escaped
for a one-line place. The CLI, the console and the services all say a failure this way. No database."""

from __future__ import annotations

import unicodedata

import pytest

from vecdash.lines import error_line, first_line, one_line

from .hostile_data import HOSTILE


@pytest.mark.parametrize("text, first", [
    ("", ""), ("   \n  \n", ""), ("relation \"x\" does not exist", "relation \"x\" does not exist"),
    ("\n  connection failed: refused  \nDETAIL: more\nHINT: even more", "connection failed: refused"),
    ("one\r\ntwo", "one"),
])
def test_first_line_is_the_first_non_blank_line_stripped(text, first):
    assert first_line(text) == first


def test_error_line_names_the_type_when_the_message_is_empty():
    assert error_line(ValueError("bad value\nDETAIL: x")) == "bad value"
    assert error_line(TimeoutError()) == "TimeoutError"
    assert error_line(RuntimeError("  \n ")) == "RuntimeError"


@pytest.mark.parametrize("value, shown", [
    ("plain name", "plain name"), ("a\nb", "a\\nb"), ("a\r\nb", "a\\r\\nb"), ("tab\there", "tab\\there"),
    ("\x1b[31mred", "\\x1b[31mred"), ("del\x7f", "del\\x7f"), ("c1\x85", "c1\\x85"), ("é ü 名", "é ü 名"), (42, "42"),
])
def test_one_line_escapes_every_control_character(value, shown):
    assert one_line(value) == shown
    assert "\n" not in one_line(value) and "\r" not in one_line(value)


def test_a_cli_error_escapes_a_terminal_escape_in_a_name(capsys, tmp_path):
    """A name in an error line is data: an ESC or a tab is shown escaped, never sent to the terminal."""
    from vecdash.cli import main

    missing = tmp_path / "no\x1b[31mpe\tx.yaml"
    assert main(["--config", str(missing), "status"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\t" not in err and err.count("\n") == 1, err
    assert "no\\x1b[31mpe\\tx.yaml" in err


def test_a_console_failure_is_one_escaped_line():
    from vecdash.errors import UserError
    from vecdash.tui.workers import failure_text

    assert failure_text(UserError("no collection vecs.a\nb\x1b[31m")) == "no collection vecs.a\\nb\\x1b[31m"
    assert failure_text(ValueError("first\nDETAIL: second")) == "ValueError: first"


def test_table_columns_count_terminal_columns_not_characters():
    """A wide character takes two columns: the CLI's tables (cli.output.table and the export writer's
    table) pad and cut by columns, so a column after `日本` stays aligned."""
    import io

    from vecdash.cli.output import table
    from vecdash.export import Writer
    from vecdash.lines import shown

    rows = table([["naïve ✓ 日本", "string"], ["ascii", "number"]], ["KEY", "TYPES"]).splitlines()
    assert {line.index("TYPES") if i == 0 else _column(line, 1) for i, line in enumerate(rows) if i != 1} == {14}
    out = io.StringIO()
    w = Writer("table", out, ["id", "metadata"])
    for i, key in enumerate(("日本語のキー", "k")):
        w.row({"id": f"{key}-{i}", "metadata": {"x": 1}})
    w.close()
    lines = out.getvalue().splitlines()
    assert len({_column(line, 1) for line in [lines[0], *lines[2:]]}) == 1, lines
    assert shown("日本語" * 10, 9) == "日本語日…"  # 8 columns and the ellipsis


def _column(line: str, n: int) -> int:
    """The terminal column where the n-th field (0-based, fields split by two spaces or more) starts."""
    import re
    import unicodedata

    starts = [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", line)]
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line[: starts[n]])


CUT_CASES = (*HOSTILE, "日本語のキー" * 5, "e\u0301te\u0301 cafe\u0301", "กิน ข้าว", "a\u200bb\u20ddc", "😀✓😀")


def test_console_cells_cut_by_terminal_columns_never_inside_a_character():
    """`cell` (every console table cell and option) cuts by the columns Rich draws: a wide character
    that would straddle the edge goes whole (no `日` half, no overflow), combining marks stay on their
    letter, and the CLI's `width` agrees with what Rich counts."""
    from rich.cells import cell_len

    from vecdash.lines import key_name, width
    from vecdash.tui.text import cell

    for text in CUT_CASES:
        whole = one_line(text)
        assert width(whole) == cell_len(whole), text
        for limit in range(1, width(whole) + 2):
            got = cell(text, limit).plain
            assert limit - 1 <= cell_len(got) <= limit or got == whole, (text, limit)
            kept = got.removesuffix("…")
            assert whole.startswith(kept) and "\ufffd" not in got, (text, limit)
            assert not (kept and len(kept) < len(whole) and unicodedata.combining(whole[len(kept)])), (text, limit)
    assert key_name("") == '""' and key_name("k") == "k"
