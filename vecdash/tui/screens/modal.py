"""The base of every console modal: esc closes it with its result, and the colours of its status
lines come from the theme (the `modal--*` component classes in styles/modals.tcss), never by name."""

from __future__ import annotations

from typing import TypeVar

from rich.style import Style
from textual.binding import Binding
from textual.screen import ModalScreen

from vecdash.tui.text import theme_style

ResultT = TypeVar("ResultT")


class Modal(ModalScreen[ResultT]):
    BINDINGS = [Binding("escape", "close", "close")]
    COMPONENT_CLASSES = {"modal--ok", "modal--warn", "modal--error", "modal--dim"}

    result: ResultT | None = None  # what closing hands back (the app's callback gets it)

    def tone(self, name: str) -> Style:
        """The theme's style for `ok`, `warn`, `error` or `dim` text."""
        return theme_style(self, f"modal--{name}")

    def action_close(self) -> None:
        self.dismiss(self.result)
