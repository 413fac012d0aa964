"""The help screen (`?`): every key the console offers right now, straight from the action registry."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static

from vecdash.tui.actions import ConsoleAction
from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import line

PANES = (
    ("Topology", "left, always visible: pods, schemas, collections; the primary's wiring. / filters."),
    ("Stats", "the selected object: sizes, indexes, exposure, warnings, history sparklines."),
    ("Wiring", "plan / apply / verify / unwire an FDW wiring into the primary; doctor findings."),
    ("Workbench", "vector, filter (JSON), measure, route, knobs; ctrl+r runs; history re-runs."),
    ("Activity", "every pod's sessions, builds in progress, rates, collection flags, statements, alerts."),
    ("Collections", "every collection of every pod: sizes, index, latency, warnings; o sorts, / filters, enter shows it."),
)


class HelpScreen(Modal[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "close")]

    def __init__(self, actions: list[ConsoleAction], *, read_only: bool) -> None:
        super().__init__()
        self.actions = actions
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(no_wrap=True)
        keys.add_column()
        for a in self.actions:
            keys.add_row(line(", ".join(_key(k) for k in a.key.split(","))), line(a.help))
        keys.add_row("tab / shift+tab", "move between the tree and the pane widgets")
        keys.add_row("ctrl+p", "command palette: every command above, searchable")
        panes = Table.grid(padding=(0, 2))
        panes.add_column(no_wrap=True)
        panes.add_column()
        for name, note in PANES:
            panes.add_row(line(name), line(note))
        with Vertical(id="help-box"):
            yield Label("vecdash keys", id="help-title")
            if self.read_only:
                yield Label("READ-ONLY: actions that change a database are not available.", id="help-read-only")
            with VerticalScroll(id="help-body"):
                yield Static(keys, id="help-keys")
                yield Label("Panes", classes="help-heading")
                yield Static(panes, id="help-panes")
            yield Label("esc closes", id="help-hint")


def _key(k: str) -> str:
    return {"question_mark": "?", "slash": "/"}.get(k, k)
