"""A Select's options, made and set again only when its values changed: every refresh hands the panes the
whole estate, and 1,000 collections styled into a Select each time cost a 200-pod refresh tens of
milliseconds of the UI loop for the same list."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from rich.text import Text
from textual.widgets import Select

V = TypeVar("V")


def refill(select: Select, values: Sequence[V], label: Callable[[V], Text]) -> bool:
    """Options `(label(v), v)` for `values`, keeping the selected value when it is still offered;
    nothing is done when `values` are those set last time (labels follow from the values). True when set."""
    values = tuple(values)
    if getattr(select, "_vecdash_values", None) == values:
        return False
    current = select.value
    select.set_options([(label(v), v) for v in values])
    select._vecdash_values = values
    if current in values:
        select.value = current
    return True
