"""The demo console's workload keys: `l` starts or stops the background workload (service/workload.py),
`b` starts its one index build. Both exist only in demo mode (actions.py: demo_only); `b` changes a
database, so read-only mode takes it away like every dangerous action.

A mixin of `VecdashApp` (vecdash/tui/app.py): its methods use the app's api. The workload runs as tasks
of its own beside the console; these workers only start and stop it, so no key waits on a pod.
"""

from __future__ import annotations

from vecdash.tui.text import notify
from vecdash.tui.workers import worker


class DemoWorkloadCommands:
    """`action_workload` and `action_workload_index` (names come from vecdash.tui.actions)."""

    def action_workload(self) -> None:
        self._toggle_workload()

    def action_workload_index(self) -> None:
        self._index_build()

    @worker(group="workload", what="the demo workload")
    async def _toggle_workload(self) -> None:
        if self.api.workload_running:
            await self.api.stop_workload()
            notify(self, "demo workload stopped: its sessions are closed", timeout=4)
            return
        await self.api.start_workload()
        notify(self, "demo workload running: k-NN queries on every pod, one slow query, now and then an open "
               "transaction · l stops it, b builds an index", timeout=6)

    @worker(group="workload-index", what="the demo index build", exclusive=False)
    async def _index_build(self) -> None:
        notify(self, "demo: ", await self.api.start_index_build(), timeout=6)
        notify(self, "demo: ", await self.api.wait_index_build(), timeout=6)
