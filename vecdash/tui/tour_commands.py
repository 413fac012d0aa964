"""The demo's guided tour (`g`, `vecdash demo --tour`) on the app's side: each stop the tour screen
(tui/screens/tour.py) steps to is shown here, in the panes under the tour's note.

A mixin of `VecdashApp` (vecdash/tui/app.py): it uses the app's tree, panes and selection.
"""

from __future__ import annotations

from vecdash.tui.widgets.topology import TopologyTree
from vecdash.tui.widgets.wiring import WiringPane
from vecdash.tui.widgets.workbench import WorkbenchPane


class TourCommands:
    """`action_tour`, and `show_tour_stop`, which the tour screen calls at every step."""

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
        return changes
