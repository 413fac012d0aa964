"""The one registry of console actions.

Every key binding, footer entry, help-screen line and command-palette command comes from ACTIONS.
Read-only mode drops every `dangerous` action from all of them at once (k9s' `Dangerous` idea): the
action is never bound, the palette never offers it, the help screen never lists it, and the app's
`check_action` refuses it as a last guard. The server refuses too: read-only sessions. Its key is not
left silent: `refused` lists what the app binds instead (hidden) to a line saying why nothing happens.

A replay (`vecdash replay FILE`) shows a recording and touches no database: it is read-only, drops
the `live` actions too (they read a database), and adds the `replay_only` ones (step and jump in time).
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
    live: bool = False  # reads a database: absent from a replay
    replay_only: bool = False

    @property
    def key_display(self) -> str:
        first = self.key.split(",")[0]
        return KEY_DISPLAY.get(first, first)


KEY_DISPLAY = {"question_mark": "?", "slash": "/", "escape": "esc", "comma": ",", "full_stop": ".",
               "less_than_sign": "<", "greater_than_sign": ">"}


ACTIONS: tuple[ConsoleAction, ...] = (
    ConsoleAction("refresh", "r,f5", "refresh", "Read every pod again now (auto-refresh keeps running)", live=True),
    ConsoleAction("filter", "slash", "filter", "Filter the topology tree as you type (on the Activity or Collections "
                  "pane: its table)"),
    ConsoleAction("pane('stats')", "1", "stats", "Show the Stats pane for the selected object", footer=False),
    ConsoleAction("pane('wiring')", "2", "wiring", "Show the FDW wiring editor", footer=False),
    ConsoleAction("pane('workbench')", "3", "workbench", "Show the query workbench", footer=False),
    ConsoleAction("pane('activity')", "4", "activity", "Show the Activity pane: sessions, progress and alerts of every pod",
                  footer=False),
    ConsoleAction("pane('collections')", "5", "collections", "Show the Collections pane: every collection of every pod, "
                  "sortable and searchable; enter shows one in the tree", footer=False),
    ConsoleAction("wire", "w", "wire", "Plan the wiring of the selected collection into the primary", live=True),
    ConsoleAction("apply_plan", "a", "apply", "Apply the plan shown in the wiring editor (asks first)", dangerous=True),
    ConsoleAction("unwire", "u", "unwire", "Plan removing the wiring of the selected collection", dangerous=True, footer=False),
    ConsoleAction("verify", "v", "verify", "Check that vector search on the wiring is pushed down", footer=False, live=True),
    ConsoleAction("doctor", "d", "doctor", "List wiring problems with a fix plan for each", live=True),
    ConsoleAction("show_fix", "f", "fix plan", "Show the fix plan of the selected doctor finding", footer=False, live=True),
    ConsoleAction("query", "q", "query", "Open the workbench on the selected collection", live=True),
    ConsoleAction("run_query", "ctrl+r", "run", "Run the workbench query", footer=False, live=True),
    ConsoleAction("build_index", "i", "index", "Build an index on the selected collection", dangerous=True, footer=False),
    ConsoleAction("across", "x", "across", "Run ANALYZE, VACUUM, an index build or a wiring on every pod holding "
                  "the selected collection (lists every pod, asks first)", dangerous=True, footer=False),
    ConsoleAction("new_collection", "n", "new", "Create a vecs collection on the selected pod and load a file into it "
                  "(or load into the selected collection)", dangerous=True, footer=False),
    ConsoleAction("recall_sweep", "s", "sweep", "Recall@k and latency per ef_search / probes on the selected collection", footer=False, live=True),
    ConsoleAction("sort", "o", "sort", "Activity or Collections pane: sort its table by the next column", footer=False),
    ConsoleAction("activity_idle", "h", "idle", "Activity pane: show or hide idle sessions", footer=False),
    ConsoleAction("why_not_index", "e", "why", "Activity pane: why the selected query does not use its vector index",
                  footer=False, live=True),
    ConsoleAction("cancel_backend", "c", "cancel", "Activity pane: cancel the selected session's query (asks first)",
                  dangerous=True, footer=False),
    ConsoleAction("terminate_backend", "k", "terminate", "Activity pane: terminate the selected session (asks first)",
                  dangerous=True, footer=False),
    ConsoleAction("toggle_dark", "t", "theme", "Switch between the light and the dark theme", footer=False),
    ConsoleAction("read_only_view", "ctrl+o", "read-only", "Switch the console to read-only (sessions reopen read-only)", footer=False, live=True),
    ConsoleAction("tour", "g", "tour", "Guided walkthrough of the demo estate", demo_only=True, live=True),
    ConsoleAction("workload", "l", "workload", "Start or stop the demo's background workload (queries, a slow one, "
                  "an open transaction)", footer=False, demo_only=True, live=True),
    ConsoleAction("workload_index", "b", "build", "Start the demo workload's one index build (dropped again when done)",
                  dangerous=True, footer=False, demo_only=True),
    ConsoleAction("replay_step(-1)", "comma", "earlier", "Replay: the refresh before this one", replay_only=True),
    ConsoleAction("replay_step(1)", "full_stop", "later", "Replay: the refresh after this one", replay_only=True),
    ConsoleAction("replay_first", "less_than_sign", "first", "Replay: the first refresh recorded", replay_only=True,
                  footer=False),
    ConsoleAction("replay_last", "greater_than_sign", "last", "Replay: the last refresh recorded", replay_only=True,
                  footer=False),
    ConsoleAction("replay_jump", "j", "jump", "Replay: the refresh on screen at a time (HH:MM[:SS] UTC)",
                  replay_only=True),
    # the data itself (vecdash/tui/data_commands.py): reads only, so kept in read-only mode
    ConsoleAction("browse", "p", "browse", "Browse the selected collection's rows in id order, paged, with a filter; "
                  "enter shows a row whole", footer=False, live=True),
    ConsoleAction("metadata_keys", "K", "keys", "Metadata keys of the workbench's collection (types, presence, common "
                  "values); a picked value goes into the workbench filter", footer=False, live=True),
    ConsoleAction("export", "E", "export", "Export the workbench's results to a file (csv, jsonl, json, table); "
                  "in browse, E exports every matching row", footer=False, live=True),
    # what the CLI's maintain / index drop|fix / collection drop do, on the tree's selected collection
    ConsoleAction("analyze", "Z", "analyze", "ANALYZE the selected collection (shows the statement, asks first)",
                  dangerous=True, footer=False),
    ConsoleAction("vacuum", "V", "vacuum", "VACUUM the selected collection (shows the statement, asks first; "
                  "c cancels it while it runs)", dangerous=True, footer=False),
    ConsoleAction("reindex", "R", "reindex", "Rebuild an index of the selected collection (REINDEX CONCURRENTLY; "
                  "picks or asks which, asks first)", dangerous=True, footer=False),
    ConsoleAction("fix_index", "F", "fix index", "Fix an invalid index of the selected collection: drop it or "
                  "rebuild it (asks which, then asks first)", dangerous=True, footer=False),
    ConsoleAction("drop_index", "D", "drop index", "Drop an index of the selected collection (DROP INDEX "
                  "CONCURRENTLY; picks or asks which, asks first)", dangerous=True, footer=False),
    ConsoleAction("drop_collection", "X", "drop coll.", "Drop the selected collection, its rows and indexes "
                  "(shows the statement, asks first)", dangerous=True, footer=False),
    ConsoleAction("collection_map", "m", "map", "2D map of the collection (PCA of a sample), the last query marked",
                  footer=False, live=True),
    ConsoleAction("help", "question_mark,f1", "help", "Every key and what it does"),
    ConsoleAction("quit", "ctrl+q", "quit", "Leave vecdash", palette=False),
)


def _taken(a: ConsoleAction, read_only: bool, replay: bool) -> bool:
    return (read_only or replay) and a.dangerous or replay and a.live


def available(*, read_only: bool, demo: bool = False, replay: bool = False) -> list[ConsoleAction]:
    """The actions this console offers: dangerous ones gone in read-only mode, live ones in a replay."""
    return [a for a in ACTIONS if not _taken(a, read_only, replay) and (demo or not a.demo_only)
            and (replay or not a.replay_only)]


def refused(*, read_only: bool, demo: bool = False, replay: bool = False) -> list[ConsoleAction]:
    """The actions read-only mode (or a replay) took away: their keys say why they do nothing."""
    return [a for a in ACTIONS if _taken(a, read_only, replay) and (demo or not a.demo_only)]


def by_name(name: str) -> ConsoleAction | None:
    return next((a for a in ACTIONS if a.name == name or a.name.split("(")[0] == name), None)


def is_dangerous(action: str) -> bool:
    """`action` as Textual passes it to check_action (no parameters)."""
    return any(a.dangerous and a.name.split("(")[0] == action for a in ACTIONS)


def is_live(action: str) -> bool:
    """Whether `action` (as check_action gets it) reads or changes a database: refused in a replay."""
    return any((a.live or a.dangerous) and a.name.split("(")[0] == action for a in ACTIONS)
