"""`pods_from_primary` in the console: the primary's foreign servers become pods after the first frame.

Discovery asks the primary, which may be slow or hung: the console paints and refreshes its configured
pods meanwhile, and a worker adds the discovered pods when the primary answers (the next refresh reads
them at once). A primary that does not answer within its timeout is one note; the configured pods stay.
"""

from __future__ import annotations

from textual.widgets import Static

from vecdash.tui.text import notify
from vecdash.tui.widgets.topology import TopologyTree
from vecdash.tui.workers import worker


class PodDiscovery:
    """Mixin of VecdashApp: `start_discovery` once the console is mounted."""

    _pods_added = False  # discovery answered while a refresh ran: the next one starts when it ends

    def start_discovery(self) -> None:
        if self.live and self.config.from_primary and self.config.primary is not None:
            self._discovery_worker()

    @worker(group="discovery", what="discovering pods (pods_from_primary)")
    async def _discovery_worker(self) -> None:
        before = self.config
        self.config = config = await self.api.discover_pods()
        for note in config.notes:
            if note not in before.notes:
                notify(self, note, severity="warning", timeout=10)
        known = {p.name for p in before.pods}
        added = [p for p in config.pods if p.name not in known]
        if not added:
            return
        if self.recorder is not None:
            self.recorder.add_pods(added)
        self.endpoints = None  # read again (from the warmed resolver) with the new pods
        self.query_one(TopologyTree).set_pods({p.name: p.tags for p in config.pods})
        self.query_one("#title", Static).update(self._title_text())
        if self.refreshing:
            self._pods_added = True
        else:
            self.refresh_now()
