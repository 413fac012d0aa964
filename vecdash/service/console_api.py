"""Everything the console asks of the databases: one object, bound to one estate's PodClient.

The console (vecdash.tui) imports no db/ module and no service that takes a client: its panes and
modals hold a ConsoleApi and await its methods, each of which hands over to the service that owns
the job. The services behind it are imported on first use, so the console's first frame does not
wait for numpy, the query engine or the wiring planner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from vecdash.config import Config
from vecdash.db.pods import PodClient
from vecdash.errors import ReadOnlyError
from vecdash.model import Plan, PodStatus, Topology

if TYPE_CHECKING:
    from vecdash.model_why import WhyReport
    from vecdash.service.across import AcrossEvent, AcrossPlan, AcrossSummary
    from vecdash.model_indexes import (BuildProgress, BuildResult, IndexInfo, LoadProgress, LoadResult, MaintenanceResult,
                                       Recommendation, Sweep)
    from vecdash.service.doctor import Finding
    from vecdash.service.indexes import BuildPreview
    from vecdash.service.projection import CollectionMap, Colouring
    from vecdash.service.query import QueryResult, QuerySpec
    from vecdash.model_data import BrowsePage, BrowseRow, BrowseSpec, KeyReport, MatchCount, Record
    from vecdash.export import Writer
    from vecdash.service.wiring import Verification
    from vecdash.service.workload import Status as WorkloadStatus, Workload


class ConsoleApi:
    """One estate's services for the console. `client` is the PodClient every call goes through."""

    def __init__(self, config: Config, *, offline: str | None = None) -> None:
        """`offline`: the console shows a recording; every call that would open a session is refused with it."""
        self.config = config
        self.client = PodClient(config, offline=offline)
        self._previous: Topology | None = None  # the last snapshot: the next one's rates are taken against it
        self._workload: Workload | None = None

    @property
    def read_only(self) -> bool:
        return self.client.read_only

    async def reopen(self, *, read_only: bool) -> None:
        """Sessions from now on read-only (or not): a new client with the setting; the old one's sessions closed."""
        old = self.client
        self.config = replace(self.config, settings=replace(self.config.settings, read_only=read_only))
        self.client = PodClient(self.config, offline=old.offline)
        await old.close()
        await self._reopen_workload()

    async def close(self) -> None:
        await self.stop_workload()
        await self.client.close()

    # --- the estate ------------------------------------------------------------------------------

    async def discover_pods(self) -> Config:
        """Add the pods the primary's foreign servers declare (`pods_from_primary`, service.discovery),
        read through the console's client and bounded like any call: every call knows them from now on.
        Returns the config with them and discovery's notes (a primary down or hung: one note, and the
        configured pods as they are). The host names of the pods are resolved here, off the UI thread."""
        import asyncio

        from vecdash.service import endpoints
        from vecdash.service.discovery import discover

        found = await discover(self.config, self.client)
        # only pods and notes: a switch to read-only made while discovery ran stays in force
        self.config = replace(self.config, pods=found.pods, notes=found.notes)
        self.client.config = self.config
        await asyncio.to_thread(endpoints.warm, (), self.config)
        return self.config

    async def snapshot(self, on_pod: Callable[[PodStatus], None] | None = None) -> Topology:
        """The estate with what each pod is doing (PodStatus.activity) and the alert line; from the second
        refresh on, each pod's activity has its rates since the previous one. `on_pod(status)`: each pod
        as soon as it has answered (service.catalog.snapshot)."""
        from vecdash.service.catalog import snapshot

        topo = await snapshot(self.client, activity=True, previous=self._previous, on_pod=on_pod)
        self._previous = topo
        return topo

    async def signal_backend(self, pod: str, pid: int, how: str) -> bool:
        """`how` = "cancel" (pg_cancel_backend) or "terminate" (pg_terminate_backend) on a session of the
        pod's database; whether the server signalled it. Refused in read-only mode before any I/O."""
        from vecdash.service.activity import signal_backend

        if self.read_only:  # the service refuses too
            raise ReadOnlyError(f"{how} of pid {pid}")
        return await signal_backend(self.client, pod, pid, how)

    # --- wiring ----------------------------------------------------------------------------------

    def parse_expose(self, text: str) -> list[tuple[str, str]] | None:
        """`url:text, year:int` -> [(field, type), ...]; None when nothing is exposed."""
        from vecdash.service.wiring import parse_expose

        return parse_expose(text) or None

    async def plan_wire(self, pod: str, collection: str, *, schema: str = "vecs", view: str | None = None,
                        expose: list[tuple[str, str]] | None = None, fast_path: bool = False) -> Plan:
        from vecdash.service.wiring import plan_wire

        return await plan_wire(self.client, pod, collection, schema=schema, view=view, expose=expose,
                               fast_path=fast_path)

    async def plan_unwire(self, pod: str, collection: str, *, schema: str = "vecs") -> Plan:
        from vecdash.service.wiring import plan_unwire

        return await plan_unwire(self.client, pod, collection, schema=schema)

    async def apply_plan(self, plan: Plan) -> None:
        """Any plan (wiring, doctor fix, index, recall setting, collection) through the one executor:
        in one transaction when the plan allows it, errors masked (PlanFailed)."""
        from vecdash.service.plans import apply_plan

        if self.read_only:  # the service refuses too, and the server after it
            raise ReadOnlyError(plan.title)
        await apply_plan(self.client, plan)

    async def verify(self, pod: str, collection: str, *, schema: str = "vecs") -> Verification:
        from vecdash.service.wiring import verify

        return await verify(self.client, pod, collection, schema=schema)

    async def diagnose(self, topology: Topology | None = None) -> list[Finding]:
        from vecdash.service.doctor import diagnose

        return await diagnose(self.client, topology)

    async def verify_fix(self, finding: Finding, topology: Topology) -> list[tuple[tuple[str, str, str], Verification]]:
        """After `finding`'s fix: a verification of each collection read through what it fixed (a server's
        foreign tables, or the one table), as `topology` (read after the fix) has them; [] when nothing is wired."""
        from vecdash.service.doctor import foreign_tables_of
        from vecdash.service.stats import foreign_table_target, pod_endpoints

        endpoints = pod_endpoints(self.config)
        out: list[tuple[tuple[str, str, str], Verification]] = []
        for ft in foreign_tables_of(finding, topology):
            pod, coll = foreign_table_target(ft, topology, endpoints)
            if pod is None or coll is None or any(key == (pod, coll.schema, coll.name) for key, _ in out):
                continue
            out.append(((pod, coll.schema, coll.name), await self.verify(pod, coll.name, schema=coll.schema)))
        return out

    # --- operations across pods -----------------------------------------------------------------

    def across_operations(self) -> dict[str, str]:
        from vecdash.service.across import OPERATIONS

        return OPERATIONS

    def plan_across(self, topology: Topology, collection: str, operation: str, *, schema: str = "vecs",
                    parallel: int = 1, index_options: dict[str, Any] | None = None) -> AcrossPlan:
        """Every pod holding the collection in `topology` and what `operation` does there (no I/O)."""
        from vecdash.service.across import plan_across

        return plan_across(topology, self.client, collection, operation, schema=schema, parallel=parallel,
                           index_options=index_options)

    async def run_across(self, plan: AcrossPlan, *, keep_going: bool = False, stop: Any = None,
                         on_event: Callable[[AcrossEvent], None] | None = None) -> AcrossSummary:
        """Run a confirmed plan_across, pod by pod (N at a time); refused read-only before any I/O."""
        from vecdash.service.across import run_across

        if self.read_only:  # the service refuses too
            raise ReadOnlyError(plan.title)
        return await run_across(self.client, plan.collection, plan.operation, schema=plan.schema, plan=plan,
                                keep_going=keep_going, stop=stop, on_event=on_event)

    # --- queries ---------------------------------------------------------------------------------

    def query_routes(self) -> tuple[str, ...]:
        from vecdash.service.query import ROUTES

        return ROUTES

    def validate_filters(self, filters: Any) -> None:
        """Raise FilterError (with the offending path) if vecs would reject `filters`."""
        from vecdash.service.filters import validate

        validate(filters)

    def filter_with(self, filters: dict | None, key: str, value: Any) -> dict:
        """`filters` AND `{key: {"$eq": value}}` (the keys picker's clause), checked like any filter."""
        from vecdash.service.filters import with_clause

        return with_clause(filters, key, value)

    def query_spec(self, **fields: Any) -> QuerySpec:
        from vecdash.service.query import QuerySpec

        return QuerySpec(**fields)

    async def run_query(self, spec: QuerySpec, topology: Topology | None = None) -> QueryResult:
        from vecdash.service.query import run_query

        return await run_query(self.client, spec, topology)

    # --- the data itself: records, browsing, metadata keys, export ----------------------------------

    async def fetch_record(self, pod: str, collection: str, id: str, *, schema: str = "vecs",
                           topology: Topology | None = None) -> Record:
        """The row with this id, whole (every metadata key; the vector's dimension, norm, first values).
        UserError: no such collection or id; PodError: the pod failed."""
        from vecdash.service.browse import fetch_record

        return await fetch_record(self.client, pod, collection, id, schema=schema, topology=topology)

    def browse_spec(self, **fields: Any) -> BrowseSpec:
        """BrowseSpec(pod, collection, schema="vecs", filters=None, limit=20, after=None, include_vector=False,
        count=False): checked by browse_page before any I/O."""
        from vecdash.model_data import BrowseSpec

        return BrowseSpec(**fields)

    async def browse_page(self, spec: BrowseSpec, topology: Topology | None = None) -> BrowsePage:
        """One page in id order after `spec.after` (keyset); `page.last_id` is the next page's `after`,
        `page.more` whether it has rows; with `spec.count`, `page.matching` (bounded: "at least N")."""
        from vecdash.service.browse import browse_page

        return await browse_page(self.client, spec, topology)

    async def count_matching(self, spec: BrowseSpec, topology: Topology | None = None) -> MatchCount:
        """Rows matching `spec.filters`, counted up to COUNT_CAP (`capped`: at least that many)."""
        from vecdash.service.browse import count_matching

        return await count_matching(self.client, spec, topology=topology)

    def stream_rows(self, spec: BrowseSpec, topology: Topology | None = None, *, limit: int = 0) -> AsyncIterator[BrowseRow]:
        """Every row matching `spec.filters` after `spec.after` (`limit` > 0: at most that many; spec.limit,
        a page's size, is not used), in id order, one keyset page (STREAM_PAGE) at a time (memory stays flat)."""
        from vecdash.service.browse import stream_rows

        return stream_rows(self.client, spec, limit=limit, topology=topology)

    async def sample_keys(self, pod: str, collection: str, *, schema: str = "vecs", sample: int = 1000,
                          topology: Topology | None = None) -> KeyReport:
        """Every top-level metadata key of a bounded sample: JSON types, presence, most common values
        (`KeyValue.value`, when not truncated, is what a filter clause `{key: {"$eq": value}}` takes)."""
        from vecdash.service.keys import sample_keys

        return await sample_keys(self.client, pod, collection, schema=schema, sample=sample, topology=topology)

    def export_formats(self) -> tuple[str, ...]:
        from vecdash.export import FORMATS

        return FORMATS

    def export_columns(self, kind: str, *, multi_pod: bool = False, include_vector: bool = False) -> tuple[str, ...]:
        """The columns an export writes: kind "browse" (BrowseRow) or "query" (ResultRow)."""
        from vecdash.export import browse_columns, query_columns

        return browse_columns(include_vector) if kind == "browse" else query_columns(multi_pod, include_vector)

    def export_writer(self, fmt: str, out: TextIO, columns: Sequence[str], *,
                      on_progress: Callable[[int], None] | None = None) -> Writer:
        """A writer of rows to the open text file `out` (opened with newline="" for csv): `.row(r)` per
        row, `.close()` at the end (returns the rows written); `on_progress(rows)` every 1,000 rows."""
        from vecdash.export import Writer

        return Writer(fmt, out, columns, on_progress=on_progress)

    # --- the map of a collection (service/projection.py) -------------------------------------------

    async def collection_map(self, pod: str, collection: str, *, schema: str = "vecs",
                             query_vector: list[float] | None = None, neighbour_ids: list[Any] | None = None,
                             topology: Topology | None = None, **options: Any) -> CollectionMap:
        """A sample of the collection on its first two principal axes, with the query and its neighbours
        (ids, nearest first) projected the same way; options: sample, seed, normalise."""
        from vecdash.service.projection import collection_map

        return await collection_map(self.client, pod, collection, schema=schema, query_vector=query_vector,
                                    neighbour_ids=neighbour_ids or (), topology=topology, **options)

    def colour_map(self, cmap: CollectionMap, key: str | None) -> Colouring:
        """The map's points grouped by one metadata key (no I/O)."""
        from vecdash.service.projection import colour_by

        return colour_by(cmap, key)

    # --- index builds and recall -----------------------------------------------------------------

    def index_methods(self) -> tuple[str, ...]:
        from vecdash.service.indexes import METHODS

        return METHODS

    async def preview_index_build(self, pod: str, collection: str, *, schema: str = "vecs",
                                  **options: Any) -> BuildPreview:
        """The statement and memory estimate of a build (options: build_index's), without building."""
        from vecdash.service.indexes import preview_build

        return await preview_build(self.client, pod, collection, schema=schema, **options)

    async def build_index(self, pod: str, collection: str, *, schema: str = "vecs", name: str | None = None,
                          on_progress: Callable[[BuildProgress], None] | None = None,
                          on_notice: Callable[[str], None] | None = None, **options: Any) -> BuildResult:
        """Build the index `name` (a preview's `index`); options: method, measure, m, ef_construction, lists,
        concurrently, maintenance_work_mem, parallel_workers."""
        from vecdash.service.indexes import build_index

        return await build_index(self.client, pod, collection, schema=schema, name=name, on_progress=on_progress,
                                 on_notice=on_notice, **options)

    async def cancel_build(self, pod: str, pid: int) -> bool:
        """pg_cancel_backend on the building session: a cancelled build leaves no invalid index."""
        from vecdash.service.indexes import cancel_backend

        return await cancel_backend(self.client, pod, pid)

    async def why(self, pod: str, sql_text: str) -> WhyReport:
        """Does the statement use a vector index on `pod`, and if not why: EXPLAINed read-only, never run."""
        from vecdash.service.why import why

        return await why(self.client, pod, sql_text)

    async def recall_sweep(self, pod: str, collection: str, *, schema: str = "vecs",
                           on_progress: Callable[[str, float], None] | None = None, **options: Any) -> Sweep:
        """Recall@k and latency per ef_search / probes; options: index, k, samples, values, target, seed."""
        from vecdash.service.recall import sweep

        return await sweep(self.client, pod, collection, schema=schema, on_progress=on_progress, **options)

    async def recommend_setting(self, sweep: Sweep, *, scope: str = "database", role: str | None = None) -> Recommendation:
        """Where to set a sweep's recommendation: the plan when the scope holds for every collection it
        reaches (measured), else the refusal; with its cost against the current setting."""
        from vecdash.service.recall import recommend

        return await recommend(self.client, sweep, scope=scope, role=role)

    async def plan_search_setting(self, pod: str, setting: str, value: int, *, scope: str = "database",
                                  role: str | None = None) -> Plan:
        from vecdash.service.recall import plan_search_setting

        return await plan_search_setting(self.client, pod, setting, value, scope=scope, role=role)

    # --- collections and loads -------------------------------------------------------------------

    async def plan_create_collection(self, pod: str, name: str, dimension: int, schema: str = "vecs") -> Plan:
        from vecdash.service.collections import plan_create_collection

        return await plan_create_collection(self.client, pod, name, dimension, schema)

    async def load_file(self, pod: str, collection: str, path: str | Path, *, schema: str = "vecs",
                        ids: str | Path | None = None, metadata: str | Path | None = None, upsert: bool = False,
                        on_progress: Callable[[LoadProgress], None] | None = None) -> LoadResult:
        from vecdash.service.loader import load_file

        return await load_file(self.client, pod, collection, path, schema=schema, ids=ids, metadata=metadata,
                               upsert=upsert, on_progress=on_progress)

    async def plan_load(self, pod: str, collection: str, path: str | Path, *, schema: str = "vecs",
                        ids: str | Path | None = None, metadata: str | Path | None = None,
                        upsert: bool = False) -> Plan:
        """What load_file with these arguments would change (statements, rows, files), to confirm first."""
        from vecdash.service.loader import plan_load

        return await plan_load(self.client, pod, collection, path, schema=schema, ids=ids, metadata=metadata,
                               upsert=upsert)

    # --- what the CLI's index drop / fix, maintain and collection drop do ---------------------------

    async def collection_indexes(self, pod: str, collection: str, *, schema: str = "vecs") -> list[IndexInfo]:
        """The collection's vector and invalid indexes that no running build owns (read now, not from the tree)."""
        from vecdash.service.indexes import collection_indexes

        return await collection_indexes(self.client, pod, collection, schema)

    async def plan_index_change(self, pod: str, schema: str, index: str, how: str) -> Plan:
        """`how` drop | reindex: the plan `index drop` / `index fix` print, for the confirmation and apply_plan."""
        from vecdash.service.indexes import plan_index_change

        return await plan_index_change(self.client, pod, schema, index, how)

    async def plan_maintain(self, pod: str, collection: str, action: str, *, schema: str = "vecs") -> Plan:
        """The statement `maintain` runs (checked: the collection exists), to confirm first."""
        from vecdash.service.collections import require
        from vecdash.service.maintenance import plan_maintain

        plan = plan_maintain(pod, schema, collection, action)
        await require(self.client, pod, collection, schema)
        return plan

    async def maintain(self, pod: str, collection: str, action: str, *, schema: str = "vecs") -> MaintenanceResult:
        """ANALYZE / VACUUM (VERBOSE) on its own session: unbounded, ends when cancelled (see service.maintenance)."""
        from vecdash.service.maintenance import maintain

        if self.read_only:  # the service refuses too
            raise ReadOnlyError(f"{action} of {schema}.{collection}")
        return await maintain(self.client, pod, collection, action=action, schema=schema)

    async def plan_drop_collection(self, pod: str, name: str, *, schema: str = "vecs") -> Plan:
        from vecdash.service.collections import plan_drop_collection

        return await plan_drop_collection(self.client, pod, name, schema)

    # --- the demo workload (service/workload.py) --------------------------------------------------

    @property
    def workload_running(self) -> bool:
        return self._workload is not None and self._workload.running

    def workload_status(self) -> WorkloadStatus | None:
        return self._workload.status() if self._workload is not None else None

    def _the_workload(self) -> Workload:
        from vecdash.service.workload import Workload

        if self._workload is None:
            self._workload = Workload(self.config)
        return self._workload

    async def start_workload(self) -> None:
        """Start the demo's background queries (reads only: allowed read-only, on read-only sessions)."""
        self._the_workload().start()

    async def stop_workload(self) -> None:
        """Stop the queries and an index build (its index dropped); every workload session closed."""
        if self._workload is not None:
            await self._workload.stop()

    async def start_index_build(self) -> str:
        """Start the demo's one index build (refused read-only before any I/O); what it builds, where."""
        if self.read_only:
            raise ReadOnlyError("the demo index build")
        target = await self._the_workload().request_build()
        return f"building an index on {target.label} (dropped again when done)"

    async def wait_index_build(self) -> str:
        """How the running demo index build ended (awaiting it does not cancel it)."""
        return await self._the_workload().wait_build()

    async def _reopen_workload(self) -> None:
        """After a read-only switch: the workload goes on with sessions opened the new way; a build in
        flight is cancelled and its index dropped (undoing the workload's own change)."""
        was_running = self.workload_running
        await self.stop_workload()
        self._workload = None
        if was_running:
            await self.start_workload()
