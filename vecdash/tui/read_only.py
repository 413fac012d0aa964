"""Read-only mode in the console: the banner and badge, the keys it takes away (and why they do nothing),
and the switch (`ctrl+o`): on at once, off only after asking, never off when the console started read-only.

Switching reopens the sessions (`ConsoleApi.reopen`), so the server refuses changes too, then installs the
registry's bindings again: what read-only takes away leaves the keys, the footer and the palette together.

A mixin of `VecdashApp` (vecdash/tui/app.py): it uses the app's api, config and `_install_bindings`.
"""

from __future__ import annotations

from vecdash.tui import actions as registry
from vecdash.tui.text import notify
from vecdash.tui.widgets.activity import ActivityPane
from vecdash.tui.widgets.wiring import WiringPane
from vecdash.tui.widgets.workbench import WorkbenchPane
from vecdash.tui.workers import worker


class ReadOnlyCommands:
    """`action_read_only_view`, `action_refused`, and showing which mode the console is in."""

    def _show_read_only(self) -> None:
        ro = self.read_only
        self.query_one("#read-only-banner").display = ro
        self.query_one("#read-only-badge").display = ro
        self.set_class(ro, "-read-only")
        for pane in (self.query_one(WiringPane), self.query_one(WorkbenchPane), self.query_one(ActivityPane)):
            pane.set_read_only(ro)

    def refused_read_only(self, what: str) -> bool:
        """The last guard of a change, True (and said) when read-only: keys and the palette never reach
        it there (read-only removes them), a path that did would still change nothing."""
        if self.read_only:
            notify(self, "read-only: ", what, severity="warning")
        return self.read_only

    def action_refused(self, name: str) -> None:
        """A key read-only mode took away: say why nothing happens."""
        a = registry.by_name(name)
        what = a.description if a is not None else name
        if self.replay is not None:
            notify(self, "replay: ", what, " is not offered, a recording touches no database", severity="warning",
                   timeout=5)
            return
        how = ("started read-only (--read-only or config)" if self.started_read_only
               else "ctrl+o switches back to read-write")
        notify(self, "read-only: ", what, " is refused, it changes a database; ", how, severity="warning", timeout=5)

    def action_read_only_view(self) -> None:
        if self.started_read_only:
            notify(self, "started read-only (--read-only or config): stays read-only", severity="warning")
            return
        if not self.read_only:
            self._switch_read_only(True)
            return
        from vecdash.tui.screens.ask import AskScreen

        keys = ", ".join(f"{a.key_display} {a.description}" for a in registry.refused(read_only=True, demo=self.demo))
        ask = AskScreen("Leave read-only?", f"Sessions reopen read-write, and the keys that change databases "
                        f"come back: {keys.rstrip('.')}.", "Read-write")  # a label may end in "." (coll.)
        self.push_screen(ask, self._leave_read_only)

    def _leave_read_only(self, yes: bool | None) -> None:
        if yes:
            self._switch_read_only(False)
        else:
            notify(self, "still read-only", timeout=3)

    @worker(group="read-only", what="switching read-only")
    async def _switch_read_only(self, turn_on: bool) -> None:
        await self.api.reopen(read_only=turn_on)
        self.config = self.api.config
        self._install_bindings()
        self.refresh_bindings()
        self._show_read_only()
        notify(self, "read-only: sessions reopen read-only" if turn_on else "read-write again", timeout=3)
