"""The console's commands on the tree selection: plan wiring, verify, doctor, query, build an index,
create or load a collection, sweep recall; each shows its pane or opens its modal.

A mixin of `VecdashApp` (vecdash/tui/app.py): its methods use the app's selection, topology, api and panes.
Message handlers (`@on`) stay on the app itself: Textual collects them only from its own classes.
"""

from __future__ import annotations

from vecdash.service.stats import collection_read_by
from vecdash.tui.messages import EstateChanged, OpenRecallSweep
from vecdash.tui.text import notify
from vecdash.tui.widgets.topology import Ref, TopologyTree
from vecdash.tui.widgets.wiring import WiringPane
from vecdash.tui.widgets.workbench import WorkbenchPane


class SelectionCommands:
    """The `action_*` commands that act on what the tree has selected (names come from vecdash.tui.actions)."""

    def _selection(self) -> Ref | None:
        """What the tree's cursor is on now. `selected` follows it by message (TopologyTree.Selected),
        one step behind a key typed at once with a filter (`/images⏎m`), which acts on the cursor."""
        ref = self.query_one(TopologyTree).selected_ref
        return ref if ref is not None else self.selected

    def _selected_collection(self) -> Ref | None:
        ref = self._selection()
        return ref if ref is not None and ref.kind == "collection" else None

    def _collection_read_by_selection(self) -> Ref | None:
        """The collection a selected foreign table or view on the primary reads (one only), else None.
        Read in what the tree shows: while a refresh runs, its answers so far (a view it just found)."""
        s = self._selection()
        topo = self.partial if self.refreshing and self.partial is not None else self.topology
        if s is None or topo is None:
            return None
        hit = collection_read_by(s.kind, s.pod, s.schema, s.name, topo, self.endpoints)
        return None if hit is None else Ref("collection", hit[0], hit[1].schema, hit[1].name)

    def _plan_wiring(self, *, unwire: bool) -> None:
        """w / u plan what the tree selection names: its collection, the collection a view or foreign table
        reads, or (a secondary's pod or schema node) a collection of that pod, never one of another pod."""
        self.action_pane("wiring")
        pane = self.query_one(WiringPane)
        ref = self._selected_collection() or self._collection_read_by_selection()
        if ref is not None:
            pane.suggest(ref, force=True)
        elif (s := self._selection()) is not None and self.topology is not None:
            pod = self.topology.pod(s.pod)
            if pod is not None and not pod.is_primary:
                pane.follow_pod(pod.name)
        pane.plan(unwire=unwire)

    def action_wire(self) -> None:
        self._plan_wiring(unwire=False)

    def action_unwire(self) -> None:
        self._plan_wiring(unwire=True)

    def action_apply_plan(self) -> None:
        if self.read_only:  # unreachable through keys/palette; kept as the last guard
            notify(self, "read-only: nothing can be applied", severity="warning")
            return
        self.action_pane("wiring")
        self.query_one(WiringPane).apply()

    def action_verify(self) -> None:
        self.action_pane("wiring")
        self.query_one(WiringPane).verify()

    def action_doctor(self) -> None:
        self.action_pane("wiring")
        self.query_one(WiringPane).doctor(self.topology)

    def action_show_fix(self) -> None:
        self.action_pane("wiring")
        self.query_one(WiringPane).show_fix()

    def action_query(self) -> None:
        self.action_pane("workbench")
        pane = self.query_one(WorkbenchPane)
        ref = self._selected_collection()
        if ref is not None:
            pane.suggest(ref, force=True)
        elif (read := self._collection_read_by_selection()) is not None:
            # a foreign table or view on the primary: query the collection it reads, through the primary
            s = self._selection()
            pane.suggest(read, force=True)
            pane.set_route("primary")
            notify(self, s.schema, ".", s.name, " reads ", read.schema, ".", read.name, " on ", read.pod,
                   ": route primary")
        pane.focus_form()

    def action_run_query(self) -> None:
        self.action_pane("workbench")
        self.query_one(WorkbenchPane).run()

    def _collection_or_warn(self) -> Ref | None:
        ref = self._selected_collection()
        if ref is None:
            notify(self, "select a collection in the tree first", severity="warning")
        return ref

    def action_build_index(self) -> None:
        if (ref := self._collection_or_warn()) is None:
            return
        from vecdash.tui.screens.index_build import IndexBuildScreen

        screen = IndexBuildScreen(self.api, ref.pod, ref.name, schema=ref.schema)
        self.push_screen(screen, lambda result: self._modal_closed(
            f"index build on {ref.pod}: {ref.schema}.{ref.name}", result is not None or screen.error is not None))

    def action_across(self) -> None:
        if (ref := self._collection_or_warn()) is None or self.topology is None:
            return
        from vecdash.tui.screens.across import AcrossScreen

        pod = self.topology.pod(ref.pod)
        c = pod.collection(ref.schema, ref.name) if pod is not None else None
        measure = c.default_measure()[0] if c is not None else "cosine"
        # the screen posts EstateChanged itself when a run ends: closing it changes nothing more
        self.push_screen(AcrossScreen(self.api, self.topology, ref.name, schema=ref.schema, measure=measure))

    def action_new_collection(self) -> None:
        ref = self._selection()
        if ref is None or not ref.pod:
            notify(self, "select a pod or a collection in the tree first", severity="warning")
            return
        from vecdash.tui.screens.collection_load import CollectionLoadScreen

        collection = ref.name if ref.kind == "collection" else None
        schema = ref.schema if ref.kind in ("collection", "schema") and ref.schema else "vecs"
        screen = CollectionLoadScreen(self.api, ref.pod, collection=collection, schema=schema)
        self.push_screen(screen, lambda result: self._modal_closed(
            f"create/load on {ref.pod}", screen.created or result is not None or screen.error is not None))

    def _modal_closed(self, what: str, changed: bool) -> None:
        """A modal that may have changed the estate closed: a change is re-read like any other (a failed
        build or load may have left something behind too); else a plain refresh."""
        if changed:
            self.estate_changed(EstateChanged(what))
        elif not self.refreshing:
            self.refresh_now()

    def action_recall_sweep(self) -> None:
        if (ref := self._collection_or_warn()) is None:
            return
        self._open_recall_sweep(OpenRecallSweep(ref.pod, ref.name, schema=ref.schema))

    def action_collection_map(self) -> None:
        if (screen := self.map_screen()) is not None:
            self.push_screen(screen)

    def map_screen(self):
        """The map of the collection the workbench last queried (while the workbench is shown, or when no
        collection is selected), else of the selected one; the query and its neighbours are marked when
        it ran on the mapped collection. None (and a warning) when there is nothing to map."""
        from vecdash.tui.screens.collection_map import LastQuery, MapScreen

        result = self.query_one(WorkbenchPane).last_result
        ran_on = (result.spec.pod, result.spec.schema, result.spec.collection) if result is not None else None
        ref = self._selected_collection()
        if ran_on is not None and (self.active_pane == "workbench" or ref is None):
            target = ran_on
        elif ref is not None:
            target = (ref.pod, ref.schema, ref.name)
        else:
            notify(self, "select a collection in the tree first (or run a query in the workbench)", severity="warning")
            return None
        query = None
        if result is not None and ran_on == target:
            near = [r.id for r in result.rows if r.pod in (None, target[0])]
            query = LastQuery(result.query_vector, near, result.source, elsewhere=len(result.rows) - len(near))
        return MapScreen(self.api, *target, query=query, topology=self.topology)
