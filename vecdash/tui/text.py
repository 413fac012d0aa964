"""The console's one rule for text: a string is data, shown as it is, never read as markup.

Names, ids, metadata and error text come from servers vecdash did not design: `x[/b]` is a table name,
not a closing tag, and `[fix]` stays on screen. So panes never hand a widget a markup string built from
data. What they show is a rich `Text` assembled here from (text, style) parts: `styled(...)` for a
line with styles, `line(...)` for one value. Textual widgets take `Text` everywhere (Static, Label,
Select and OptionList options, Tree labels, DataTable cells) and render it literally. Notifications
take a plain string only, so `notify` sends one with markup off.

A name holding a newline or another control character would split or corrupt one-line places (tree
rows, options, cells, status lines): it is shown escaped (`\\n`), as the CLI does. `block(...)` keeps
newlines for multi-line text (plans, SQL, EXPLAIN output).

tests/test_hostile_names.py checks the rule statically over vecdash/tui (no f-string, `%`, `+`,
`.format` or markup escaping reaches a display call; notify only through here) and behaviourally on
an estate full of hostile names.
"""

from __future__ import annotations

from typing import Union

from rich.style import Style, StyleType
from rich.text import Text

from vecdash.lines import ONE_LINE, cut, one_line

Part = Union[str, Text, tuple[object, Union[StyleType, None]]]

NL = Text("\n")  # a line break of the layout (a Text part is kept as it is; a str part's newline is escaped)

_BLOCK = {c: v for c, v in ONE_LINE.items() if chr(c) not in "\n\t"}


def styled(*parts: Part, multiline: bool = False) -> Text:
    """One Text from parts: a str (no style), a Text (kept as it is) or (value, style). Nothing is
    parsed as markup; values are escaped for one line unless `multiline`.

    The spaces that open a part are the gap after the one before, so they take that part's style: a
    run of text then never starts with spaces, which SVG viewers drop ("primary  1.1 ms" read
    "primary1.1 ms" in the snapshots)."""
    table = _BLOCK if multiline else ONE_LINE
    out = Text()
    before: StyleType = ""
    for part in parts:
        if isinstance(part, Text):
            out.append_text(part)
            if part.plain:
                ends = [span.style for span in part.spans if span.start < len(part.plain) <= span.end]
                before = ends[-1] if ends else part.style
            continue
        value, style = part if isinstance(part, tuple) else (part, None)
        value, style = str(value).translate(table), style or ""
        gap = len(value) - len(value.lstrip(" ")) if out.plain else 0
        out.append(value[:gap], before)
        out.append(value[gap:], style)
        if value[gap:]:
            before = style
    return out


def line(value: object, style: StyleType | None = None) -> Text:
    """One value on one line, literally."""
    return styled((value, style))


def block(value: object, style: StyleType | None = None) -> Text:
    """Multi-line text (a plan, SQL, EXPLAIN output), literally: newlines kept, other controls escaped."""
    return styled((value, style), multiline=True)


def cell(value: object, width: int | None = None) -> Text:
    """A table cell or list option: one line, cut to `width` terminal columns with an ellipsis (never
    inside a character: `日本` is four columns; vecdash.lines.cut)."""
    text = one_line(value)
    if width is not None:
        text = cut(text, width)
    return Text(text, end="", no_wrap=True)  # as DataTable renders its own str cells


def theme_style(node, component: str) -> Style:
    """The theme's style of `node`'s component class `component` (its colour and text style, no
    background), for text parts. The colour is the one Textual draws: a translucent theme colour
    (`$text-muted` is `auto 60%`) blended over the node's background. The partial style alone keeps the
    RGB and drops the alpha, so dim text came out as full white (black on a light theme)."""
    partial = node.get_component_rich_style(component, partial=True)
    if partial.color is None:
        return partial
    return partial + Style(color=node.get_component_rich_style(component).color)


def notify(node, *parts: Part, severity: str = "information", timeout: float | None = None, title: str = "") -> None:
    """`node.notify(...)` with markup off: the message is shown exactly as given."""
    message = styled(*parts, multiline=True).plain
    kwargs = {"timeout": timeout} if timeout is not None else {}
    node.notify(message, title=one_line(title), severity=severity, markup=False, **kwargs)
