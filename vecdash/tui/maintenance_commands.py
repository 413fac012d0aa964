"""The console's way to what only the CLI did: ANALYZE / VACUUM (`maintain`), index drop / rebuild /
fix (`index drop|fix`) and collection drop (`collection drop`), on the tree's selected collection.

Each goes: the plan from the service the CLI uses (read off the UI thread, so a down or hung pod costs
its timeouts and a message), a pick when the selection could mean several indexes (or, for an invalid
one, drop or rebuild), the ConfirmScreen with exactly that plan's SQL, then ChangeRunScreen, which runs
that plan and says what ran; when it closes the estate is re-read (the pod shows the change). All are
`dangerous` in the registry: absent in read-only mode and in a replay.

A mixin of `VecdashApp` (vecdash/tui/app.py), like SelectionCommands.
"""

from __future__ import annotations

from vecdash.model_indexes import IndexInfo
from vecdash.tui.text import notify
from vecdash.tui.widgets.topology import Ref
from vecdash.tui.workers import worker

MAINTAIN = ("analyze", "vacuum")
INDEX_VERB = {"drop_index": "drop", "reindex": "rebuild", "fix_index": "fix"}
HOW = {"drop_index": "drop", "reindex": "reindex"}  # the service's name for each index change
IF_STOPPED = {  # what a failed or cancelled statement leaves behind (index changes: by drop | reindex)
    "analyze": "what it had done is kept; nothing else changed",
    "vacuum": "what it had done is kept (dead rows removed so far); nothing else changed",
    "drop_collection": "rolled back: nothing was dropped",
    "drop": "a stopped DROP INDEX CONCURRENTLY may leave the index INVALID: F on the collection fixes it",
    "reindex": "a stopped REINDEX CONCURRENTLY may leave an INVALID copy (…_ccnew): F on the collection fixes it",
}


class MaintenanceCommands:
    """`action_*` for the maintenance keys (names and keys come from vecdash.tui.actions)."""

    _change_open = False  # a change is being planned, picked or confirmed: one at a time

    def action_analyze(self) -> None:
        self._start_change("analyze")

    def action_vacuum(self) -> None:
        self._start_change("vacuum")

    def action_reindex(self) -> None:
        self._start_change("reindex")

    def action_fix_index(self) -> None:
        self._start_change("fix_index")

    def action_drop_index(self) -> None:
        self._start_change("drop_index")

    def action_drop_collection(self) -> None:
        self._start_change("drop_collection")

    def _start_change(self, action: str) -> None:
        if self.refused_read_only("nothing can be changed"):
            return
        if self._change_open:
            notify(self, "a change is waiting for an answer: answer it (or esc) first", severity="warning", timeout=4)
            return
        if (ref := self._collection_or_warn()) is None:
            return
        self._change_open = True
        self._prepare_change(ref, action)

    @worker(group="console-change", what="planning the change", exclusive=False)
    async def _prepare_change(self, ref: Ref, action: str) -> None:
        from vecdash.tui.screens.confirm import ConfirmScreen
        from vecdash.tui.screens.pick import PickScreen

        api, pod, schema, name = self.api, ref.pod, ref.schema, ref.name
        try:
            maintain = action if action in MAINTAIN else None
            stopped = action
            if maintain is not None:
                plan = await api.plan_maintain(pod, name, action, schema=schema)
            elif action == "drop_collection":
                plan = await api.plan_drop_collection(pod, name, schema=schema)
            else:
                fits = self._fitting(ref, action, await api.collection_indexes(pod, name, schema=schema))
                if not fits:
                    return
                choice = self._only_choice(action, fits)
                if choice is None:
                    key = await self.push_screen_wait(PickScreen(*self._index_options(ref, action, fits)))
                    if key is None:
                        notify(self, "nothing picked: nothing changed", timeout=3)
                        return
                    how, _, n = key.partition(":")
                    choice = (fits[int(n)].name, how)
                plan = await api.plan_index_change(pod, schema, *choice)
                stopped = choice[1]
            if not await self.push_screen_wait(ConfirmScreen(plan)):
                notify(self, "cancelled: nothing changed (", plan.title, ")", timeout=4)
                return
        finally:
            self._change_open = False
        from vecdash.tui.screens.change_run import ChangeRunScreen

        run = ChangeRunScreen(api, plan, maintain=(schema, name, maintain) if maintain else None,
                              if_stopped=IF_STOPPED[stopped])
        self.push_screen(run, lambda _: self._modal_closed(f"{plan.title} on {plan.pod}", True))

    def _fitting(self, ref: Ref, action: str, indexes: list[IndexInfo]) -> list[IndexInfo]:
        """The indexes `action` may act on; none: says so."""
        fits = [i for i in indexes if not i.valid] if action == "fix_index" else indexes
        if not fits:
            kind = "invalid index" if action == "fix_index" else "vector index"
            notify(self, "no ", kind, " to ", INDEX_VERB[action], " on ", ref.schema, ".", ref.name, " on ", ref.pod,
                   severity="warning", timeout=5)
        return fits

    @staticmethod
    def _only_choice(action: str, fits: list[IndexInfo]) -> tuple[str, str] | None:
        """(index, drop | reindex) when there is nothing to ask: one index to drop or rebuild."""
        if action != "fix_index" and len(fits) == 1:
            return fits[0].name, HOW[action]
        return None

    @staticmethod
    def _index_options(ref: Ref, action: str, fits: list[IndexInfo]) -> tuple[str, list]:
        """The PickScreen's title and options (id "how:n", label parts): which index, or (fix) drop or rebuild."""
        if action == "fix_index":
            options = [(f"{how}:{n}", (verb, i.name, (f"  {i.method or '?'}, INVALID", "dim")))
                       for n, i in enumerate(fits)
                       for how, verb in (("drop", "drop "), ("reindex", "rebuild (REINDEX CONCURRENTLY) "))]
        else:
            options = [(f"{HOW[action]}:{n}", (i.name, (f"  {i.method or '?'} {i.measure or ''}"
                                                        f"{'' if i.valid else ', INVALID'}", "dim")))
                       for n, i in enumerate(fits)]
        return f"{INDEX_VERB[action]} which index of {ref.schema}.{ref.name} on {ref.pod}?", options
