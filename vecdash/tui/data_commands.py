"""The console's commands on the data itself: browse a collection (`p`), its metadata keys (`K`, the pick
goes into the workbench filter), export (`E`: the workbench's results), and the record detail that
enter on a result row asks for. The browse screen asks the same (record, keys) with messages, which
land here: the app owns the screen stack. Its export of every row it matches it opens itself, at
once, so that keys typed right after E reach the export screen.

All of them read only (sessions are read-only in read-only mode, and export writes a local file, not
a database): they stay in read-only mode. A replay touches no database: they are absent there.

A mixin of `VecdashApp` (vecdash/tui/app.py); its message handlers go by their `on_...` names.
"""

from __future__ import annotations

from vecdash.tui.messages import ExportSource, OpenRecord, PickKey
from vecdash.tui.text import notify
from vecdash.tui.widgets.topology import Ref
from vecdash.tui.widgets.workbench import WorkbenchPane


class DataCommands:
    """The `action_*` commands on rows and keys (names come from vecdash.tui.actions)."""

    def _data_target(self, *, workbench_first: bool) -> tuple[str, str, str] | None:
        """(pod, schema, collection): the tree's collection (or the one a selected view or foreign table
        reads) or the workbench's, in the order asked; None (and a warning) when neither names one."""
        ref = self._selected_collection() or self._collection_read_by_selection()
        tree = (ref.pod, ref.schema, ref.name) if ref is not None else None
        bench = self.query_one(WorkbenchPane).target()
        found = (bench or tree) if workbench_first else (tree or bench)
        if found is None:
            notify(self, "select a collection in the tree (or the workbench) first", severity="warning")
        return found

    def action_browse(self) -> None:
        if (target := self._data_target(workbench_first=False)) is None:
            return
        from vecdash.tui.screens.browse import BrowseScreen

        pod, schema, name = target
        self.push_screen(BrowseScreen(self.api, pod, name, schema=schema, topology=self.topology))

    def action_metadata_keys(self) -> None:
        """The keys of the workbench's collection (else the tree's); a pick goes into the workbench filter."""
        if (target := self._data_target(workbench_first=True)) is None:
            return
        bench = self.query_one(WorkbenchPane)
        if bench.target() is None:
            bench.suggest(Ref("collection", target[0], target[1], target[2]), force=True)
        self.on_pick_key(PickKey(*target, reply=self._key_into_workbench))

    def _key_into_workbench(self, key: str, value) -> None:
        self.action_pane("workbench")
        try:
            text = self.query_one(WorkbenchPane).add_filter_clause(key, value)
        except Exception as exc:  # noqa: BLE001 - the filter box holds a bad filter: it stays as typed
            notify(self, "filter not changed: ", str(exc), severity="warning", timeout=8)
            return
        notify(self, "workbench filter: ", text, " · ctrl+r runs", timeout=6)

    def action_export(self) -> None:
        """Export the workbench's results (from the browse screen, `E` exports every row it matches)."""
        result = self.query_one(WorkbenchPane).last_result
        if result is None:
            notify(self, "no query results to export: run a query (ctrl+r), or browse (p) and press E there",
                   severity="warning", timeout=6)
            return
        spec = result.spec
        pods = {r.pod for r in result.rows if r.pod}
        from vecdash.tui.screens.export import ExportScreen

        self.push_screen(ExportScreen(self.api, ExportSource(
            what=f"the {len(result.rows)} result row(s) of the query on {spec.pod}: {spec.schema}.{spec.collection}",
            kind="query", pod=spec.pod, rows=list(result.rows), total=len(result.rows), multi_pod=len(pods) > 1),
            topology=self.topology))

    # --- what panes and screens ask for --------------------------------------------------------

    def on_open_record(self, request: OpenRecord) -> None:
        from vecdash.tui.screens.record import RecordScreen

        self.push_screen(RecordScreen(self.api, request.row))

    def on_pick_key(self, request: PickKey) -> None:
        from vecdash.tui.screens.keys import KeysScreen

        def picked(choice) -> None:
            if choice is not None:
                request.reply(*choice)

        self.push_screen(KeysScreen(self.api, request.pod, request.collection, schema=request.schema,
                                    topology=self.topology), picked)
