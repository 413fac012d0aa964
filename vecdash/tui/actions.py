"""The one registry of console actions.

Every key binding, footer entry, help-screen line and command-palette command comes from ACTIONS.
Read-only mode drops every `dangerous` action from all of them at once (k9s' `Dangerous` idea): the
action is never bound, the palette never offers it, the help screen never lists it, and the app's
`check_action` refuses it as a last guard. The server refuses too: read-only sessions. Its key is not
left silent: `refused` lists what the app binds instead (hidden) to a line saying why nothing happens.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsoleAction:
    name: str  # the App action: `action_<name>`
    key: str  # Textual key spec, comma separated for alternatives
    description: str  # short: shown in the footer
    help: str  # one line: shown in the help screen and the palette
    dangerous: bool = False  # changes a database: absent in read-only mode
    footer: bool = True  # worth a footer slot at 80 columns
    palette: bool = True
    demo_only: bool = False

    @property
    def key_display(self) -> str:
        first = self.key.split(",")[0]
        return {"question_mark": "?", "slash": "/", "escape": "esc"}.get(first, first)


ACTIONS: tuple[ConsoleAction, ...] = (
    ConsoleAction("refresh", "r,f5", "refresh", "Read every pod again now (auto-refresh keeps running)"),
    ConsoleAction("filter", "slash", "filter", "Filter the topology tree as you type (on the Activity pane: its sessions)"),
    ConsoleAction("pane('stats')", "1", "stats", "Show the Stats pane for the selected object", footer=False),
    ConsoleAction("pane('wiring')", "2", "wiring", "Show the FDW wiring editor", footer=False),
    ConsoleAction("pane('workbench')", "3", "workbench", "Show the query workbench", footer=False),
    ConsoleAction("pane('activity')", "4", "activity", "Show the Activity pane: sessions, progress and alerts of every pod",
                  footer=False),
    ConsoleAction("wire", "w", "wire", "Plan the wiring of the selected collection into the primary"),
    ConsoleAction("apply_plan", "a", "apply", "Apply the plan shown in the wiring editor (asks first)", dangerous=True),
    ConsoleAction("unwire", "u", "unwire", "Plan removing the wiring of the selected collection", dangerous=True, footer=False),
    ConsoleAction("verify", "v", "verify", "Check that vector search on the wiring is pushed down", footer=False),
    ConsoleAction("doctor", "d", "doctor", "List wiring problems with a fix plan for each"),
    ConsoleAction("show_fix", "f", "fix plan", "Show the fix plan of the selected doctor finding", footer=False),
    ConsoleAction("query", "q", "query", "Open the workbench on the selected collection"),
    ConsoleAction("run_query", "ctrl+r", "run", "Run the workbench query", footer=False),
    ConsoleAction("build_index", "i", "index", "Build an index on the selected collection", dangerous=True, footer=False),
    ConsoleAction("new_collection", "n", "new", "Create a vecs collection on the selected pod and load a file into it "
                  "(or load into the selected collection)", dangerous=True, footer=False),
    ConsoleAction("recall_sweep", "s", "sweep", "Recall@k and latency per ef_search / probes on the selected collection", footer=False),
    ConsoleAction("activity_sort", "o", "sort", "Activity pane: sort the sessions by the next column", footer=False),
    ConsoleAction("activity_idle", "h", "idle", "Activity pane: show or hide idle sessions", footer=False),
    ConsoleAction("why_not_index", "e", "why", "Activity pane: why the selected query does not use its vector index",
                  footer=False),
    ConsoleAction("cancel_backend", "c", "cancel", "Activity pane: cancel the selected session's query (asks first)",
                  dangerous=True, footer=False),
    ConsoleAction("terminate_backend", "k", "terminate", "Activity pane: terminate the selected session (asks first)",
                  dangerous=True, footer=False),
    ConsoleAction("toggle_dark", "t", "theme", "Switch between the light and the dark theme", footer=False),
    ConsoleAction("read_only_view", "ctrl+o", "read-only", "Switch the console to read-only (sessions reopen read-only)", footer=False),
    ConsoleAction("tour", "g", "tour", "Guided walkthrough of the demo estate", demo_only=True),
    ConsoleAction("workload", "l", "workload", "Start or stop the demo's background workload (queries, a slow one, "
                  "an open transaction)", footer=False, demo_only=True),
    ConsoleAction("workload_index", "b", "build", "Start the demo workload's one index build (dropped again when done)",
                  dangerous=True, footer=False, demo_only=True),
    ConsoleAction("help", "question_mark,f1", "help", "Every key and what it does"),
    ConsoleAction("quit", "ctrl+q", "quit", "Leave vecdash", palette=False),
)


def available(*, read_only: bool, demo: bool = False) -> list[ConsoleAction]:
    """The actions this console offers: dangerous ones gone in read-only mode."""
    return [a for a in ACTIONS if not (read_only and a.dangerous) and (demo or not a.demo_only)]


def refused(*, read_only: bool, demo: bool = False) -> list[ConsoleAction]:
    """The actions read-only mode took away: their keys say why they do nothing."""
    return [a for a in ACTIONS if read_only and a.dangerous and (demo or not a.demo_only)]


def by_name(name: str) -> ConsoleAction | None:
    return next((a for a in ACTIONS if a.name == name or a.name.split("(")[0] == name), None)


def is_dangerous(action: str) -> bool:
    """`action` as Textual passes it to check_action (no parameters)."""
    return any(a.dangerous and a.name.split("(")[0] == action for a in ACTIONS)
