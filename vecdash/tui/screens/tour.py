"""Demo walkthrough (`vecdash demo --tour`, or `g` in demo mode): one short note per stop.

Each stop tells the console which pane to show and what to select; the note box sits at the bottom
over a see-through screen, so the audience sees the real pane behind it. n / → next, p / ← back, esc ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, Static

from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import line
from vecdash.tui.widgets.topology import Ref


@dataclass(frozen=True)
class TourStop:
    title: str
    note: str
    pane: str = "stats"
    select: Ref | None = None
    extra: dict[str, Any] = field(default_factory=dict)


DEMO_TOUR: tuple[TourStop, ...] = (
    TourStop("Three pods",
             "The primary is the application database; vectors-a and vectors-b hold the vectors. "
             "Each pod shows up/down, latency and its pgvector version. A pod that stops answering "
             "stays in the tree, marked ✖, with its error.",
             select=Ref("pod", "primary")),
    TourStop("A collection",
             "vecs.docs on vectors-a: 10,000 rows of 384-d vectors with an HNSW cosine index; the other "
             "10,000 are on vectors-b (the fanout and federated routes merge both). "
             "Stats shows sizes, index parameters, the view that exposes it on the primary, and "
             "sparklines of rows and latency across refreshes.",
             select=Ref("collection", "vectors-a", "vecs", "docs")),
    TourStop("A healthy wiring",
             "Server vectors_a lists `vector` in its extensions, so ORDER BY distance … LIMIT k runs "
             "on vectors-a and only k rows cross the wire (pushdown).",
             select=Ref("server", "primary", "", "vectors_a")),
    TourStop("A slow wiring, found by the doctor",
             "legacy_b lacks `extensions 'vector'`: every search through public.posts pulls all rows "
             "to the primary. The doctor flags it; f shows the fix plan, a applies it after a confirmation.",
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
            yield Label("", id="tour-hint")

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        stop = self.stops[self.index]
        self.query_one("#tour-title", Label).update(line(f"Tour {self.index + 1}/{len(self.stops)} · {stop.title}"))
        self.query_one("#tour-note", Static).update(stop.note)
        last = self.index == len(self.stops) - 1
        self.query_one("#tour-hint", Label).update("n / esc ends · p back" if last else "n next · p back · esc ends")
        show = getattr(self.app, "show_tour_stop", None)
        if show is not None:
            show(stop)

    def action_step(self, delta: int) -> None:
        new = self.index + delta
        if new >= len(self.stops):
            self.dismiss(None)
            return
        self.index = max(0, new)
        self._show()

    def action_end(self) -> None:
        self.dismiss(None)
