"""Asks which one when an action on the selection could mean several things (which index to drop,
drop or rebuild an invalid one): a list to pick from with the arrows and enter; esc picks nothing."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import Part, line, styled


class PickScreen(Modal[str]):
    """Dismisses with the id of the option picked (enter), or None (esc). Options: (id, label parts)."""

    def __init__(self, title: str, options: list[tuple[str, tuple[Part, ...]]]) -> None:
        super().__init__()
        self.title_text = title
        self.options = options

    def compose(self) -> ComposeResult:
        with Vertical(id="pick-box"):
            yield Label(line(self.title_text), id="pick-title")
            yield OptionList(*(Option(styled(*parts), id=key) for key, parts in self.options), id="pick-options")
            yield Label("↑ ↓ choose · enter picks · esc cancels (nothing changes)", id="pick-keys")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected, "#pick-options")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
