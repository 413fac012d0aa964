"""The demo's guided tour (`g`, `vecdash demo --tour`) on the app's side: each stop the tour screen
(tui/screens/tour.py) steps to is shown here, in the panes under the tour's note.

A stop may also open one of the data screens (`extra={"open": ...}`: a result's record, the map, browse,
keys) as its keys would. The screen goes UNDER the tour's note: the tour is taken off the stack and put
back at once (Textual removes only a screen no stack holds, so it lives on, at the same stop), and the
screen the last stop opened is closed first. Those screens only read, so the tour stays read-only.

A mixin of `VecdashApp` (vecdash/tui/app.py): it uses the app's tree, panes and selection.
"""

from __future__ import annotations

from textual.screen import Screen

from vecdash.tui.messages import RecordRef
from vecdash.tui.text import notify
from vecdash.tui.widgets.topology import TopologyTree
from vecdash.tui.widgets.wiring import WiringPane
from vecdash.tui.widgets.workbench import WorkbenchPane


class TourCommands:
    """`action_tour`; `show_tour_stop`, which the tour screen calls at every step; `tour_ended`."""

    _tour_opened: Screen | None = None  # the data screen the open stop put under the tour

    def action_tour(self) -> None:
        from vecdash.tui.screens.tour import TourScreen

        self.push_screen(TourScreen())

    def show_tour_stop(self, stop) -> list[str]:
        """Show a tour stop; returns what it set in the workbench form (the tour says so)."""
        self.action_pane(stop.pane)
        bench = self.query_one(WorkbenchPane)
        before = bench.form_values()
        if stop.select is not None:
            tree = self.query_one(TopologyTree)
            if tree.select_ref(stop.select):
                self.selected = stop.select
                self._show_stats()
                if stop.select.kind == "collection" and stop.pane == "workbench":
                    bench.suggest(stop.select, force=True)
        if stop.extra.get("doctor"):
            self.query_one(WiringPane).doctor(self.topology)
        if "filters" in stop.extra:
            bench.set_filters(stop.extra["filters"])
        if stop.extra.get("recall"):
            bench.set_recall(True)
        after = bench.form_values()
        changes = [f"{k} {after[k]} (was {before[k]})" for k in after if after[k] != before[k]]
        if stop.extra.get("run") and self.live:
            bench.run()
            changes.append("ran the query")
        opens = stop.extra.get("open")
        self._under_tour(self._tour_screen(opens) if opens and self.live else None)
        return changes

    def tour_ended(self) -> None:
        """The tour closed (its screen is off the stack now): the screen its last stop opened closes too."""
        opened, self._tour_opened = self._tour_opened, None
        if opened is not None and self.screen is opened:
            self.pop_screen()

    def _tour_screen(self, kind: str) -> Screen | None:
        """The data screen a stop opens, as its key would open it; None (and a warning) when it cannot."""
        if kind == "map":
            return self.map_screen()
        if kind == "record":
            result = self.query_one(WorkbenchPane).last_result
            if result is None or not result.rows:
                notify(self, "no result row to open: the query has not answered (or found nothing)",
                       severity="warning", timeout=6)
                return None
            from vecdash.tui.screens.record import RecordScreen

            r, spec = result.rows[0], result.spec
            return RecordScreen(self.api, RecordRef(r.pod or spec.pod, spec.schema, spec.collection, r.id,
                                                    r.metadata or {}, r.distance))
        target = self._data_target(workbench_first=kind == "keys")
        if target is None:
            return None
        pod, schema, name = target
        if kind == "browse":
            from vecdash.tui.screens.browse import BrowseScreen

            return BrowseScreen(self.api, pod, name, schema=schema, topology=self.topology)
        from vecdash.tui.screens.keys import KeysScreen

        return KeysScreen(self.api, pod, name, schema=schema, topology=self.topology)

    def _under_tour(self, screen: Screen | None) -> None:
        """Put `screen` (None: nothing) under the tour, in place of what the last stop opened."""
        opened = self._tour_opened
        if opened is None and screen is None:
            return
        tour = self.screen
        self.pop_screen()  # pushed back below, before Textual would remove it
        if opened is not None and self.screen is opened:
            self.pop_screen()
        self._tour_opened = screen
        if screen is not None:
            self.push_screen(screen)
        self.push_screen(tour)
