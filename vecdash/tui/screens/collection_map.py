"""The map of a collection (`m`): a sample of its rows on their first two principal axes, coloured by a
metadata key, with the workbench's last query (◆) and its neighbours (o) when it ran on this collection.

The projection is the service's (service/projection.py, through ConsoleApi), read by a worker of this
screen. The plotting widget (textual-plot) is imported when a map opens, not with the console. It
gets numbers, marker characters and theme styles only: the legend, keys and ids are this screen's own
text (vecdash/tui/text.py), never the widget's markup legend.

Open with `MapScreen(api, pod, schema, name, query=LastQuery(...))`, or with `cmap=` a map already
made (screenshots: no database).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Select, Static

from vecdash.lines import key_name
from vecdash.service.console_api import ConsoleApi
from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import NL, cell, line, styled, theme_style
from vecdash.tui.workers import worker
from vecdash.units import human_count

if TYPE_CHECKING:
    from vecdash.service.projection import CollectionMap, Colouring

COLOURS = 8  # `map--c0` .. `map--c7` in styles/map.tcss; the service's legend holds as many values
LABEL_WIDTH = 18
SOURCE_WIDTH = 24  # where the query vector came from ("like <id>"), cut: the line holds the colour key too
NONE = -1  # the key Select's value for "no colouring"
QUERY_MARK, NEIGHBOUR_MARK, KEY_MARK = "◆", "o", "■"
PAD = 0.04  # of the points' range, on each side
HELP = "esc close · c colour key · +/- zoom · arrows pan · r reset"


@dataclass
class LastQuery:
    """The workbench's last query on this collection: its vector, its rows' ids (nearest first) and where
    the vector came from."""

    vector: list[float] | None
    ids: list[Any] = field(default_factory=list)
    source: str = ""
    elsewhere: int = 0  # rows the query found on other pods (fanout, federated): not on this map


class MapScreen(Modal[None]):
    """A 2D map of one collection's sample; `c` colours it by the next metadata key."""

    BINDINGS = [Binding("c", "next_key", "colour by")]
    COMPONENT_CLASSES = Modal.COMPONENT_CLASSES | {f"map--c{i}" for i in range(COLOURS)} | {
        "map--other", "map--absent", "map--query", "map--neighbour"}

    def __init__(self, api: ConsoleApi, pod: str, schema: str, name: str, *, query: LastQuery | None = None,
                 cmap: CollectionMap | None = None, topology=None):
        super().__init__()
        self.api = api
        self.pod, self.schema, self.collection = pod, schema, name
        self.last_query = query
        self.topology = topology
        self.cmap: CollectionMap | None = cmap
        self.colouring: Colouring | None = None
        self.keys: list[str] = []

    def compose(self) -> ComposeResult:
        from textual_plot import PlotWidget  # the plotting library loads with the first map, not the console

        with Vertical(id="map-box"):
            yield Static(styled(("Map", "bold"), " · ", self.pod, ": ", self.schema, ".", self.collection), id="map-title")
            with Horizontal(id="map-controls"):
                yield Label("colour", id="map-key-label")
                yield Select([(line("none"), NONE)], value=NONE, id="map-key", compact=True, allow_blank=False)
                yield Static("", id="map-query")
            yield Static(line("reading a sample…", self.tone("dim")), id="map-status")
            yield PlotWidget(id="map-plot")
            yield Static("", id="map-legend")
            yield Static(line(HELP, self.tone("dim")), id="map-help")

    def on_mount(self) -> None:
        plot = self.query_one("#map-plot")
        plot.margin_top, plot.margin_bottom, plot.margin_left = 0, 0, 1  # no tick labels: the axes have no units
        plot.set_xticks([])
        plot.set_yticks([])
        self.query_one("#map-key").display = False
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._recolour())
        if self.cmap is not None:
            self.show(self.cmap)
        else:
            self.load()
        plot.focus()

    @worker(group="map", what="map")
    async def load(self) -> None:
        q = self.last_query
        cmap = await self.api.collection_map(self.pod, self.collection, schema=self.schema, topology=self.topology,
                                             query_vector=q.vector if q else None, neighbour_ids=q.ids if q else None)
        self.show(cmap)

    def show_failure(self, what: str, message: str) -> None:
        self.query_one("#map-status", Static).update(line(message, self.tone("error")))

    # --- what is shown -----------------------------------------------------------------------------

    def show(self, cmap: CollectionMap) -> None:
        self.cmap = cmap
        self.keys = cmap.keys()
        dim = self.tone("dim")
        rows = f"{len(cmap.ids):,} of ~{human_count(cmap.rows_estimate)} rows" if cmap.rows_estimate else f"{len(cmap.ids):,} rows"
        e1, e2 = cmap.explained
        self.query_one("#map-title", Static).update(styled(
            ("Map", "bold"), " · ", cmap.pod, ": ", cmap.schema, ".", cmap.name, f" · {rows}",
            (f" · PCA x {e1:.0%} y {e2:.0%}", dim)))
        self.query_one("#map-status").display = False
        self.query_one("#map-help", Static).update(styled(
            (HELP, dim), (f" · {cmap.sampled}" + (", unit vectors (cosine)" if cmap.normalised else ""), dim)))
        select = self.query_one("#map-key", Select)
        select.set_options([(line(key_name(k)), i) for i, k in enumerate(self.keys)] + [(line("none", dim), NONE)])
        default = cmap.default_key()
        select.value = self.keys.index(default) if default is not None else NONE
        select.display = True
        self._frame(cmap)
        self._say_query()
        self.colour(default)

    def _frame(self, cmap: CollectionMap) -> None:
        """Limits a little wider than every point: none is drawn on the plot's frame."""
        xy = cmap.xy
        extra = [(n.x, n.y) for n in cmap.neighbours] + ([cmap.query] if cmap.query is not None else [])
        if extra:
            xy = np.vstack([xy, np.array(extra)])
        plot = self.query_one("#map-plot")
        for (lo, hi), limits in zip(zip(xy.min(axis=0), xy.max(axis=0)), (plot.set_xlimits, plot.set_ylimits)):
            pad = (hi - lo) * PAD or 1.0
            limits(float(lo - pad), float(hi + pad))

    def _say_query(self) -> None:
        box = self.query_one("#map-query", Static)
        cmap, q = self.cmap, self.last_query
        dim = self.tone("dim")
        if cmap is None or q is None or cmap.query is None:
            box.update(line("  no query on this collection yet (workbench: ctrl+r)", dim))
            return
        parts: list = [("  ", None), (QUERY_MARK, self._mark("query")), " query ", cell(q.source, SOURCE_WIDTH),
                       " · ", (NEIGHBOUR_MARK, self._mark("neighbour")), f" {len(cmap.neighbours)} nearest"]
        away = cmap.neighbours_missing + q.elsewhere
        if away:
            parts.append((f" ({away} not on this pod)", dim))
        box.update(styled(*parts))

    def colour(self, key: str | None) -> None:
        """Draw the sample coloured by `key` (None: one colour), then the neighbours and the query on top."""
        from textual_plot import HiResMode

        cmap = self.cmap
        if cmap is None:
            return
        colouring = self.colouring = self.api.colour_map(cmap, key)
        plot = self.query_one("#map-plot")
        plot.clear()
        styles = [self._category_style(i, c.kind) for i, c in enumerate(colouring.categories)]
        # the most common first: a rarer value's dots are drawn last, over them
        order = [i for i, c in enumerate(colouring.categories) if c.kind != "value"]
        order += [i for i, c in enumerate(colouring.categories) if c.kind == "value"]
        for i in order:
            mask = colouring.index == i
            plot.scatter(cmap.xy[mask, 0], cmap.xy[mask, 1], marker_style=styles[i], hires_mode=HiResMode.BRAILLE)
        if cmap.neighbours:
            plot.scatter([n.x for n in cmap.neighbours], [n.y for n in cmap.neighbours], marker=NEIGHBOUR_MARK,
                         marker_style=self._plot_style("neighbour"))
        if cmap.query is not None:
            plot.scatter([cmap.query[0]], [cmap.query[1]], marker=QUERY_MARK, marker_style=self._plot_style("query"))
        self.query_one("#map-legend", Static).update(self._legend(colouring, styles))

    def _category_style(self, i: int, kind: str) -> str:
        return self._plot_style("other" if kind == "other" else "absent" if kind == "absent" else f"c{i % COLOURS}")

    def _recolour(self) -> None:
        """Another theme: the dots were drawn in the old one's colours."""
        if self.colouring is not None:
            self.call_after_refresh(self.colour, self.colouring.key)

    def _mark(self, name: str) -> Style:
        return theme_style(self, f"map--{name}")

    def _plot_style(self, name: str) -> str:
        """A theme colour as the style string the plotting widget takes."""
        return str(self._mark(name))

    def _legend(self, colouring: Colouring, styles: list[str]) -> Text:
        """One entry per category (mark, value, rows), packed into lines: an entry is never split."""
        dim = self.tone("dim")
        width = max(20, self.query_one("#map-legend").size.width or self.size.width - 4)
        out, row = Text(), Text()
        for c, style in zip(colouring.categories, styles):
            label = {"absent": "(no key)", "other": "other" if colouring.key is not None else "every row"}.get(c.kind)
            entry = styled((KEY_MARK, Style.parse(style)), " ",
                           cell(c.label, LABEL_WIDTH) if label is None else (label, dim), (f" {c.count:,}", dim))
            if row.plain and len(row.plain) + 2 + len(entry.plain) > width:
                out = styled(out, NL, row) if out.plain else row
                row = Text()
            row = styled(row, "  ", entry) if row.plain else entry
        return styled(out, NL, row) if out.plain else row

    # --- keys --------------------------------------------------------------------------------------

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "map-key" or self.cmap is None:
            return
        value = event.value
        key = self.keys[value] if isinstance(value, int) and 0 <= value < len(self.keys) else None
        if self.colouring is None or key != self.colouring.key:
            self.colour(key)

    def action_next_key(self) -> None:
        """Colour by the next metadata key (then none, then the first again)."""
        if self.cmap is None:
            return
        select = self.query_one("#map-key", Select)
        value = select.value if isinstance(select.value, int) else NONE
        select.value = value + 1 if value + 1 < len(self.keys) else NONE if value != NONE else 0
