"""The base of every console modal: esc closes it with its result, and the colours of its status
lines come from the theme (the `modal--*` component classes in styles/modals.tcss), never by name.

Keys typed at once go to the screen on top. Textual hands each key to the focused widget as it comes
in, and a key's binding runs when the key has bubbled up to the app: keys typed right after one that
opens a screen (`E`, then a path) are then on their way through the screen beneath when it opens,
and were lost, or read as that screen's or the console's own keys (`/` focused the browse filter).
So a screen notes on each key that it was typed there (`pass_to_top`), the app passes a key typed on
a screen no longer on top to the one that is (`misrouted`), and a screen no longer on top passes
on what still reaches it. The console's main screen (`MainScreen`) and every modal do this.

The same holds for a key that opens a text box on the same screen (`/`, then `pod-1`): the keys
typed with it are already on their way through the tree, where `p`, `o`, `d` are commands. So the
box takes the focus at once (`focus_now`; Textual's `focus()` waits for the messages already queued),
and a printable key that reaches the app while a text box has the focus was typed for the box (the box
itself would have taken it) and goes there (`misrouted`).
"""

from __future__ import annotations

from typing import TypeVar

from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Input

from vecdash.tui.text import theme_style

ResultT = TypeVar("ResultT")


def pass_to_top(screen: Screen, event: events.Key) -> bool:
    """When `screen` is on top: note that `event` was typed there, and False. Otherwise `event` goes
    to the top screen's focused widget (or the screen) as if typed there, and True."""
    top = screen.app.screen
    if top is screen:
        event.typed_on = screen
        return False
    pass_on(event, top.focused or top)
    return True


def pass_on(event: events.Key, to: Widget) -> None:
    """`event` goes to `to` instead, as if typed there (once: see `misrouted`)."""
    event.stop()
    event.prevent_default()
    again = events.Key(event.key, event.character)
    again.passed_on = True  # passed on once: should it come back up unused, its bindings run
    to._forward_event(again)


def focus_now(widget: Widget, scroll_visible: bool = True) -> None:
    """Focus `widget` before the next queued key is handled; where it cannot take the focus yet (in a
    pane being shown), as Textual's `focus()` does: after the queued messages."""
    screen = widget.screen
    screen.set_focus(widget, scroll_visible=scroll_visible)
    if screen.focused is not widget:
        widget.focus(scroll_visible=scroll_visible)


def misrouted(app, event: events.Key) -> bool:
    """For the app, before a key's bindings run: True (and the key passed on) when it was typed on a
    screen that is no longer on top (`E` opened one meanwhile), or when it is printable (or enter) and
    a text box of its screen took the focus while it was on its way (`/` opened the filter): the box
    would have taken it, had it had the focus then. (An enter that came through the box goes back to
    it once, unused, and then runs its binding, submit, as before.)"""
    screen = getattr(event, "typed_on", None)
    stack = app.screen_stack  # empty while the console closes: a late key then goes nowhere, no crash
    if screen is None or not stack or getattr(event, "passed_on", False):
        return False
    if screen is not stack[-1]:
        return pass_to_top(screen, event)
    if isinstance(screen.focused, Input) and (event.is_printable or event.key == "enter"):
        pass_on(event, screen.focused)  # enter too: `/images⏎` typed at once submits the filter
        return True
    return False


class MainScreen(Screen):
    """The console's own screen (the app's default): keys on their way through it when a modal opened
    go to the modal."""

    def on_key(self, event: events.Key) -> None:
        pass_to_top(self, event)


class Modal(ModalScreen[ResultT]):
    BINDINGS = [Binding("escape", "close", "close")]
    COMPONENT_CLASSES = {"modal--ok", "modal--warn", "modal--error", "modal--dim"}

    result: ResultT | None = None  # what closing hands back (the app's callback gets it)

    def tone(self, name: str) -> Style:
        """The theme's style for `ok`, `warn`, `error` or `dim` text."""
        return theme_style(self, f"modal--{name}")

    def on_key(self, event: events.Key) -> None:
        pass_to_top(self, event)

    def action_close(self) -> None:
        self.dismiss(self.result)
