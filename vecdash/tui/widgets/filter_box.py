"""A filter's text box whose enter hands the keyboard on at once.

Keys typed right after enter (`/images⏎m`, or keys that queued while a refresh kept the loop busy)
reach the box before enter's binding has moved the focus: a binding runs once its key has bubbled up
to the app, and the box handles each key as it comes. So they were typed into the filter. Here enter
moves the focus itself, to the widget the keys are for (`then`: the tree, or the pane's table), and
says Submitted; a printable key that reaches the box once it has lost the focus goes to the widget
that has it (tui/screens/modal.py is the one home of keys typed ahead).
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from vecdash.tui.screens.modal import focus_now, pass_on


class FilterBox(Input):
    def __init__(self, *, then: str, **kwargs) -> None:
        """`then`: the selector (on this screen) of the widget enter gives the focus to."""
        super().__init__(**kwargs)
        self.then = then

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            focus_now(self.screen.query_one(self.then), scroll_visible=False)
            self.post_message(self.Submitted(self, self.value))  # as Input's own submit (no validators here)
            return
        focused = self.screen.focused
        if event.is_printable and focused is not None and focused is not self:
            pass_on(event, focused)  # (the widget it goes to never passes it back: see `misrouted`)
            return
        await super()._on_key(event)
