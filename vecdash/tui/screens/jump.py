"""Asks a replay for a time to jump to: the refresh on screen at HH:MM[:SS] UTC is shown."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label

from vecdash.tui.screens.modal import Modal, focus_now
from vecdash.tui.text import line, styled


class JumpScreen(Modal[str]):
    """Dismisses with the text typed (enter), or None (esc)."""

    def __init__(self, first: str, last: str) -> None:
        super().__init__()
        self.first = first
        self.last = last

    def compose(self) -> ComposeResult:
        with Vertical(id="jump-box"):
            yield Label(line("Jump to a time (UTC)"), id="jump-title")
            yield Label(styled("recorded from ", self.first, " to ", self.last,
                               "; shown: the last refresh taken at or before the time"), id="jump-detail")
            yield Input(placeholder="HH:MM or HH:MM:SS", id="jump-time")
            yield Label("enter jumps · esc cancels", id="jump-keys")

    def on_mount(self) -> None:
        focus_now(self.query_one(Input))

    @on(Input.Submitted, "#jump-time")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)
