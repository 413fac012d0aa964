"""The console's commands on the Collections pane: `o` sorts the table on screen (this pane's or the
Activity pane's), and `enter` on a row shows that collection in the tree with its Stats.

A mixin of `VecdashApp` (vecdash/tui/app.py), like ActivityCommands; its message handler goes by its
`on_...` name, which Textual finds on a mixin too.
"""

from __future__ import annotations

from vecdash.tui.widgets.collections import CollectionsPane
from vecdash.tui.widgets.topology import TopologyTree


class CollectionsCommands:
    """The `action_*` commands of the Collections pane (names come from vecdash.tui.actions)."""

    def action_sort(self) -> None:
        if self.active_pane == "collections":
            self.query_one(CollectionsPane).cycle_sort()
        else:
            self.action_activity_sort()

    def on_collections_pane_show_in_tree(self, request: CollectionsPane.ShowInTree) -> None:
        """Select the collection in the tree (opening its group and pod; a tree filter that hides it is
        cleared), then show its Stats with the focus on the tree, where the arrows go on from it."""
        tree = self.query_one(TopologyTree)
        if not tree.select_ref(request.ref):
            self.query_one("#tree-filter").value = ""
            tree.set_filter("")
            tree.select_ref(request.ref)
        self.selected = request.ref
        self.action_pane("stats")
        tree.focus()
        self._show_stats()
