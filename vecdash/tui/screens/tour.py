"""Demo walkthrough (`vecdash demo --tour`, or `g` in demo mode): one short note per stop.

Each stop tells the console which pane to show and what to select; the note box sits at the bottom
over a see-through screen, so the audience sees the real pane behind it (or the data screen a stop opens:
a record, the map, browse, keys). n / → next, p / ← back, esc ends.

A note describes the estate as the console last read it, not as the demo seeded it: a stop's note may be
a function of the Topology, and the open stop is written again after every refresh (a fix applied during
the tour changes what stop 4 says). What a stop sets in the workbench form is said under its note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, Static

from vecdash.model import Topology
from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import block, line
from vecdash.tui.widgets.topology import Ref

Note = str | Callable[[Topology | None], str]


@dataclass(frozen=True)
class TourStop:
    title: str
    note: Note
    pane: str = "stats"
    select: Ref | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def text(self, topology: Topology | None) -> str:
        return self.note(topology) if callable(self.note) else self.note


def _pods_note(topo: Topology | None) -> str:
    if topo is None or topo.primary is None:
        return ("The primary is the application database; the other pods hold the vectors. Each pod shows "
                "up/down, latency and its pgvector version.")
    others = [p.name for p in topo.pods if not p.is_primary]
    down = [p.name for p in topo.pods if not p.up]
    now = f" Down now: {', '.join(down)}." if down else ""
    return (f"The {topo.primary.name} is the application database; {' and '.join(others) or 'no other pod'} "
            f"hold the vectors. Each pod shows up/down, latency and its pgvector version. A pod that stops "
            f"answering stays in the tree, marked ✖, with its error.{now}")


def _docs_note(topo: Topology | None) -> str:
    pod = topo.pod("vectors-a") if topo else None
    docs = pod.collection("vecs", "docs") if pod else None
    if docs is None:
        return "vecs.docs on vectors-a is not there now (dropped, or its pod is down)."
    ann = [i for i in docs.indexes if i.method in ("hnsw", "ivfflat") and i.valid]
    index = (" with " + " and ".join(f"an {i.method.upper()} {i.measure or ''}".rstrip() for i in ann)
             + (" index" if len(ann) == 1 else " indexes")) if ann else ", with no vector index"
    rows = f"{docs.rows_estimate:,} rows" if docs.rows_estimate is not None else "rows not counted yet"
    other = topo.pod("vectors-b") if topo else None
    shard = (" The rest of docs is on vectors-b: the fanout and federated routes merge both."
             if other is not None and other.collection("vecs", "docs") is not None else "")
    return (f"vecs.docs on vectors-a: {rows} of {docs.dimension}-d vectors{index}.{shard} Stats shows sizes, "
            f"index parameters, the view that exposes it on the primary, and sparklines of rows and latency "
            f"across refreshes.")


def _server(topo: Topology | None, name: str):
    primary = topo.primary if topo else None
    return next((s for s in (primary.foreign_servers if primary else []) if s.name == name), None)


def _views_through(topo: Topology, server: str) -> str:
    primary = topo.primary
    tables = {ft.qualified for ft in primary.foreign_tables if ft.server == server}
    views = [v.qualified for v in primary.views if tables & set(v.reads)]
    return ", ".join(views) or ", ".join(sorted(tables)) or "its foreign tables"


def _healthy_note(topo: Topology | None) -> str:
    server = _server(topo, "vectors_a")
    if server is None:
        return "Server vectors_a is not on the primary now (unwired?): nothing reads vectors-a through it."
    if not server.pushdown_vector:
        return ("Server vectors_a does not list `vector` in its extensions now: searches through "
                f"{_views_through(topo, 'vectors_a')} fetch every row to the primary. The doctor (d) flags it.")
    return ("Server vectors_a lists `vector` in its extensions, so ORDER BY distance … LIMIT k runs "
            "on vectors-a and only k rows cross the wire (pushdown).")


def _legacy_note(topo: Topology | None) -> str:
    server = _server(topo, "legacy_b")
    if server is None:
        return "Server legacy_b is not on the primary now (unwired?). The doctor's list shows what is left."
    through = _views_through(topo, "legacy_b")
    if server.pushdown_vector:
        return (f"legacy_b lists `extensions 'vector'` now (fixed): searches through {through} run on "
                "vectors-b and only k rows cross the wire. The doctor's list shows what is left.")
    return (f"legacy_b lacks `extensions 'vector'`: every search through {through} pulls all rows "
            "to the primary. The doctor flags it; f shows the fix plan, a applies it after a confirmation.")


DEMO_TOUR: tuple[TourStop, ...] = (
    TourStop("The pods", _pods_note, select=Ref("pod", "primary")),
    TourStop("A collection", _docs_note, select=Ref("collection", "vectors-a", "vecs", "docs")),
    TourStop("A healthy wiring", _healthy_note, select=Ref("server", "primary", "", "vectors_a")),
    TourStop("A wiring the doctor checks", _legacy_note,
             pane="wiring", select=Ref("server", "primary", "", "legacy_b"), extra={"doctor": True}),
    TourStop("A query with a filter",
             "The workbench searches vecs.docs with a metadata filter ({\"year\": {\"$gte\": 2020}}). "
             "It runs as you arrive (ctrl+r runs it again): results, timings, rows vs limit; tick plan for the Remote SQL.",
             pane="workbench", select=Ref("collection", "vectors-a", "vecs", "docs"),
             extra={"filters": '{"year": {"$gte": 2020}}', "run": True}),
    TourStop("Recall",
             "Tick recall to compare the index's answer with an exact scan: recall@k says how many of "
             "the true nearest neighbours the HNSW search found. ef_search trades speed for recall.",
             pane="workbench", select=Ref("collection", "vectors-a", "vecs", "docs"),
             extra={"recall": True, "run": True}),
    # the data itself: each stop opens a screen as its key would, under the note (tui/tour_commands.py)
    TourStop("A result, whole",
             "enter on a result row opens the whole record: id, distance, every metadata key as JSON (never "
             "cut), the vector's dimension, norm and first values. i copies the id, j the JSON.",
             pane="workbench", extra={"open": "record"}),
    TourStop("Where did the query land?",
             "m maps the collection: a sample on its first two principal axes (PCA), the query ◆ and its "
             "neighbours o. Are the embeddings clustered, and where did this query land? c colours by a key.",
             pane="workbench", extra={"open": "map"}),
    TourStop("Browse the rows",
             "p pages through a collection in id order (keyset: id > the last one shown), with the "
             "workbench's filter language and a bounded count; enter shows a row, E exports what matches.",
             select=Ref("collection", "vectors-a", "vecs", "docs"), extra={"open": "browse"}),
    TourStop("Which metadata keys?",
             "K reads a sample: every key with its JSON types, how often it is present and its commonest "
             "values. Outside the tour, enter on a value puts that clause into the workbench's filter.",
             select=Ref("collection", "vectors-a", "vecs", "docs"), extra={"open": "keys"}),
)


class TourScreen(Modal[None]):
    BINDINGS = [
        Binding("n,right,space", "step(1)", "next"),
        Binding("p,left", "step(-1)", "back"),
        Binding("escape,q", "end", "end tour"),
    ]

    def __init__(self, stops: tuple[TourStop, ...] = DEMO_TOUR) -> None:
        super().__init__()
        self.stops = stops
        self.index = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="tour-box"):
            yield Label("", id="tour-title")
            yield Static("", id="tour-note")
            yield Label("", id="tour-changes")
            yield Label("", id="tour-hint")

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        stop = self.stops[self.index]
        self.query_one("#tour-title", Label).update(line(f"Tour {self.index + 1}/{len(self.stops)} · {stop.title}"))
        last = self.index == len(self.stops) - 1
        self.query_one("#tour-hint", Label).update("n / esc ends · p back" if last else "n next · p back · esc ends")
        show = getattr(self.app, "show_tour_stop", None)
        changes = show(stop) if show is not None else None
        said = self.query_one("#tour-changes", Label)
        said.update(line("The tour set in the workbench: " + "; ".join(changes)) if changes else "")
        said.display = bool(changes)
        self.estate_read(getattr(self.app, "topology", None))

    def estate_read(self, topology: Topology | None) -> None:
        """Write the open stop's note for the estate as just read (the app calls this after each refresh)."""
        self.query_one("#tour-note", Static).update(block(self.stops[self.index].text(topology)))

    def action_step(self, delta: int) -> None:
        new = self.index + delta
        if new >= len(self.stops):
            self.action_end()
            return
        self.index = max(0, new)
        self._show()

    def action_end(self) -> None:
        self.dismiss(None)
        ended = getattr(self.app, "tour_ended", None)  # the screen a stop opened under the note closes too
        if ended is not None:
            ended()
