"""A yes / no question that changes no database but the console's own safety (leaving read-only)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label

from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import line


class AskScreen(Modal[bool]):
    """Dismisses with True only on an explicit yes (y or the yes button); n, esc or the no button: False."""

    BINDINGS = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]
    result = False

    def __init__(self, title: str, detail: str, yes: str) -> None:
        super().__init__()
        self.title_text = title
        self.detail = detail
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-box"):
            yield Label(line(self.title_text), id="ask-title")
            yield Label(line(self.detail), id="ask-detail")
            yield Label("y confirms · n or esc cancels", id="ask-question")
            with Horizontal(id="ask-buttons"):
                yield Button(line(self.yes + " (y)"), variant="warning", id="ask-yes")
                yield Button("Cancel (n)", variant="primary", id="ask-no")

    def on_mount(self) -> None:
        self.query_one("#ask-no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "ask-yes")
