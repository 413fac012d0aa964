"""The console's commands on the Activity pane: sort, idle toggle, why-not-the-index on the selected
session or statement, and cancel / terminate of the selected session after a confirmation.

A mixin of `VecdashApp` (vecdash/tui/app.py), like SelectionCommands: the app owns the screen stack, so
the questions and the why screen are pushed from here; the pane keeps the rows and the signal worker.
"""

from __future__ import annotations

from vecdash.lines import short_vectors
from vecdash.tui.text import notify
from vecdash.tui.widgets.activity import ActivityPane, Row
from vecdash.units import seconds

SIGNALS = {
    "cancel": ("Cancel the query of", "its query stops with an error; the session stays", "Cancel query"),
    "terminate": ("Terminate the session of", "its transaction is rolled back and the client disconnected",
                  "Terminate session"),
}


class ActivityCommands:
    """The `action_*` commands of the Activity pane (names come from vecdash.tui.actions)."""

    def _activity_pane(self) -> ActivityPane:
        return self.query_one(ActivityPane)

    def action_activity_sort(self) -> None:
        self.action_pane("activity")
        self._activity_pane().cycle_sort()

    def action_activity_idle(self) -> None:
        self.action_pane("activity")
        self._activity_pane().toggle_idle()

    def _session_or_say(self, what: str) -> Row | None:
        """The session selected on the Activity pane, when that pane is shown; else say how to pick one."""
        if self.active_pane != "activity":
            notify(self, what, " acts on a session of the Activity pane: press 4, then pick one in its table",
                   severity="warning", timeout=5)
            return None
        row = self._activity_pane().selected_session()
        if row is None:
            notify(self, "no session selected: pick one in the Activity pane's sessions table "
                   "(tab to it, arrows; h shows idle ones)", severity="warning", timeout=5)
        return row

    def action_cancel_backend(self) -> None:
        self._ask_signal("cancel")

    def action_terminate_backend(self) -> None:
        self._ask_signal("terminate")

    def _ask_signal(self, how: str) -> None:
        if self.refused_read_only(f"no session can be {how}ed"):
            return
        row = self._session_or_say(how)
        if row is None:
            return
        from vecdash.tui.screens.ask import AskScreen

        s = row.session
        title, effect, yes = SIGNALS[how]
        started = f"started {seconds(s.query_age_s)} before the refresh" if s.query_age_s is not None else "start unknown"
        query = short_vectors(s.query)[:120] if s.query else "(query not visible to this role)"
        detail = (f"pod {row.pod}, pid {s.pid}, user {s.user or '?'} ({s.application or 'no application'}): "
                  f"{effect}. Query {started}: {query}")
        ask = AskScreen(f"{title} pid {s.pid} on {row.pod}?", detail, yes)
        pane = self._activity_pane()
        self.push_screen(ask, lambda ok: pane.signal(row.pod, s.pid, how) if ok else notify(
            self, "nothing sent to pid ", s.pid, timeout=3))

    def action_why_not_index(self) -> None:
        """Why the selected statement's (statements table focused) or session's query does not use its index."""
        if self.active_pane != "activity":
            notify(self, "why: press 4, then pick a session or a statement of the Activity pane", severity="warning",
                   timeout=5)
            return
        pane = self._activity_pane()
        picked = pane.selected_statement() if pane.statement_focused() else None
        if picked is None:
            row = pane.selected_session()
            picked = (row.pod, row.session) if row is not None else None
        if picked is None:
            notify(self, "why: pick a session or a statement in the Activity pane first", severity="warning", timeout=5)
            return
        pod, item = picked
        if not item.query:
            notify(self, "why: the query text is not visible to this role", severity="warning", timeout=5)
            return
        self.open_why(pod, item.query)

    def open_why(self, pod: str, sql: str) -> None:
        """The why-not-the-index modal on `sql` as seen on `pod`."""
        from vecdash.tui.screens.why import WhyScreen

        self.push_screen(WhyScreen(self.api, pod, sql))
