"""Vector index builds (HNSW, IVFFlat) with live progress, NOTICE capture, cancel and cleanup.

The build runs on a dedicated autocommit session (CREATE INDEX CONCURRENTLY cannot run in a
transaction) while a SECOND session polls pg_stat_progress_create_index for the builder's pid.
NOTICEs of the builder (pgvector's "hnsw graph no longer fits into maintenance_work_mem after N
tuples") reach `on_notice` as they are raised. Cancelling the awaiting task (or `cancel_build`
from anywhere) sends pg_cancel_backend; a concurrent build that dies leaves an INVALID index, which
is dropped, so no invalid index is left behind. What to build and its statement (parameters,
vecs-style names, the duplicate rule, estimates, the plans) are decided without I/O in
vecdash.service.index_plans; its public names are importable from here too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from vecdash.db.long_session import long_session
from vecdash.db.connect import pod_error
from vecdash.db.pods import PodClient
from vecdash.errors import PodUnavailable, ReadOnlyError, no_collection
from vecdash.model import OPCLASS_MEASURE, Plan
from vecdash.model_indexes import PHASE_SPAN, BuildProgress, BuildResult, IndexInfo
from vecdash.service.collections import CollectionError, CollectionFacts, facts, qualified_literal, require
# the planning half; everything public is re-exported, callers import these names from here
from vecdash.service.index_plans import (  # noqa: F401
    DEFAULT_EF_CONSTRUCTION, DEFAULT_M, HNSW_ELEMENT_OVERHEAD, HNSW_NEIGHBOR_BYTES, METHODS, MIN_INDEX_ROWS,
    PGVECTOR_DEFAULTS, DuplicateIndex, IndexBuildError, default_lists, estimate_hnsw_disk, estimate_hnsw_memory,
    fix_plans, identical_index, index_advised, index_name, normal_params, opclass_for, plan_advised_index,
    plan_build_index, plan_drop_index, plan_reindex,
)
from vecdash.units import human_bytes

POLL_INTERVAL_S = 0.5


# Share of the "building index" span taken by loading tuples. The rest is what an in-memory HNSW
# build does after the heap scan, with no progress counters: write the graph into the index file
# (followed by the file's size) and WAL-log every page (followed by WAL written since the scan ended).
LOAD_SHARE = 0.85


def fraction_for(phase: str, blocks_done: int, blocks_total: int, tuples_done: int, tuples_total: int,
                 index_bytes: int = 0, expected_index_bytes: int = 0, wal_bytes: int = 0) -> float:
    key = next((k for k in PHASE_SPAN if phase.startswith(k)), None)
    if key is None:
        return 0.0
    lo, hi = PHASE_SPAN[key]
    part = 0.0
    if blocks_total:
        part = blocks_done / blocks_total
    elif tuples_total:
        part = tuples_done / tuples_total
    part = max(0.0, min(1.0, part))
    if key == "building index" and expected_index_bytes:
        expected = max(expected_index_bytes, index_bytes)
        tail = (min(index_bytes, expected) + min(max(0, wal_bytes), expected)) / (2 * expected) if part >= 1.0 else 0.0
        part = LOAD_SHARE * part + (1 - LOAD_SHARE) * tail
    return lo + (hi - lo) * part


def build_warning(notice: str, mwm_bytes: int, estimate: int | None) -> str | None:
    if "no longer fits into maintenance_work_mem" in notice:
        need = f" (estimated graph: {human_bytes(estimate)})" if estimate else ""
        return (f"{notice.strip()}: the rest of the build works on disk and is much slower. "
                f"Raise maintenance_work_mem above {human_bytes(mwm_bytes)}{need} for the session, "
                "within free RAM, and rebuild.")
    return None


async def _progress(client: PodClient, pod: str, pid: int) -> tuple | None:
    async def work(conn: psycopg.AsyncConnection):
        # the index file's size too: while pgvector writes its in-memory graph out there are no counters,
        # but the file grows (a concurrent build's index is committed, so other sessions can size it)
        cur = await conn.execute(
            "select phase, blocks_done, blocks_total, tuples_done, tuples_total,"
            " case when index_relid <> 0 then pg_relation_size(index_relid) end,"
            " pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint"
            " from pg_stat_progress_create_index where pid = %s", (pid,))
        return await cur.fetchone()

    return await client.run(pod, work, timeout=5.0)


async def _drop_leftover(client: PodClient, pod: str, schema: str, name: str) -> bool:
    """Drop `schema.name` if it exists and is invalid (what a failed concurrent build leaves)."""
    async with long_session(client, pod, what="dropping an invalid index") as conn:
        cur = await conn.execute(
            "select not i.indisvalid from pg_index i where i.indexrelid = to_regclass(%s)",
            (qualified_literal(schema, name),))
        row = await cur.fetchone()
        if not row or not row[0]:
            return False
        await conn.execute(sql.SQL("drop index concurrently if exists {}").format(sql.Identifier(schema, name)))
        return True


async def cancel_backend(client: PodClient, pod: str, pid: int) -> bool:
    """pg_cancel_backend(pid): the build fails with QueryCanceled and its builder cleans up."""
    async def work(conn: psycopg.AsyncConnection) -> bool:
        cur = await conn.execute("select pg_cancel_backend(%s)", (pid,))
        return bool((await cur.fetchone())[0])

    return await client.run(pod, work, timeout=5.0, write=True, what="cancelling an index build")


async def row_count(client: PodClient, pod: str, f: CollectionFacts) -> int:
    """reltuples when the table was ever analyzed, else count(*) (stored back into `f`)."""
    if f.rows_estimate < 0:
        async def count(conn):
            cur = await conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(f.schema, f.name)))
            return (await cur.fetchone())[0]

        f.rows_estimate = int(await client.run(pod, count, timeout=max(30.0, client.config.settings.call_timeout_s)))
    return f.rows_estimate


async def _refuse_identical(client: PodClient, pod: str, f: CollectionFacts, method: str, measure: str,
                            params: dict) -> None:
    """DuplicateIndex (exit 2) naming the existing index when the build would make a copy of it."""
    opclass = opclass_for(f.type, measure)
    same = identical_index(await list_indexes(client, pod, f.name, f.schema), method, opclass, params)
    if same is not None:
        shown = ", ".join(f"{k}={v}" for k, v in normal_params(method, params).items())
        raise DuplicateIndex(f"{f.qualified} on {pod} already has {same.name}, a valid {method} index with {opclass} "
                             f"({shown}): an identical one would only double the writes; drop it first to rebuild")


@dataclass
class BuildPreview:
    """What a build will do, shown before it starts: the statement, the graph estimate, the memory it gets."""

    plan: Plan
    index: str
    params: dict
    rows: int
    dimension: int
    estimate_bytes: int | None
    maintenance_work_mem_bytes: int
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        est = (f"estimated HNSW graph {human_bytes(self.estimate_bytes)} for {self.rows} rows x {self.dimension}"
               if self.estimate_bytes is not None else f"{self.rows} rows x {self.dimension}")
        return f"{est}; maintenance_work_mem {human_bytes(self.maintenance_work_mem_bytes)}"


async def preview_build(client: PodClient, pod: str, collection: str, *, schema: str = "vecs", method: str = "hnsw",
                        measure: str = "cosine", m: int = DEFAULT_M, ef_construction: int = DEFAULT_EF_CONSTRUCTION,
                        lists: int | None = None, concurrently: bool = True, maintenance_work_mem: str | None = None, name: str | None = None,
                        **_ignored) -> BuildPreview:
    """The plan and memory estimate of a build, without building (read-only safe).

    Pass the preview's `index` as `build_index(name=...)` so the index built is the one previewed.
    """
    f = await require(client, pod, collection, schema)
    rows = await row_count(client, pod, f)
    plan, name, params = plan_build_index(f, pod, method=method, measure=measure, m=m, ef_construction=ef_construction,
                                          lists=lists, concurrently=concurrently, name=name)
    await _refuse_identical(client, pod, f, method, measure, params)

    async def mem(conn: psycopg.AsyncConnection) -> int:
        cur = await conn.execute("select pg_size_bytes(coalesce(%s, current_setting('maintenance_work_mem')))",
                                 (maintenance_work_mem,))
        return int((await cur.fetchone())[0])

    try:
        mwm = await client.run(pod, mem)
    except psycopg.Error as exc:
        raise IndexBuildError(f"bad maintenance_work_mem {maintenance_work_mem!r}: {exc.diag.message_primary or exc}") from None
    estimate = estimate_hnsw_memory(rows, f.dimension or 0, m) if method == "hnsw" and f.type == "vector" else None
    warnings = []
    if estimate and estimate > mwm:
        warnings.append(f"estimated HNSW graph {human_bytes(estimate)} exceeds maintenance_work_mem {human_bytes(mwm)}: the build "
                        f"will spill to disk and slow down; consider maintenance_work_mem "
                        f"{human_bytes(int(estimate * 1.2)).replace(' ', '')}")
    return BuildPreview(plan=plan, index=name, params=params, rows=rows, dimension=f.dimension or 0,
                        estimate_bytes=estimate, maintenance_work_mem_bytes=mwm, warnings=warnings)


async def build_index(
    client: PodClient,
    pod: str,
    collection: str,
    *,
    schema: str = "vecs",
    method: str = "hnsw",
    measure: str = "cosine",
    m: int = DEFAULT_M,
    ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    lists: int | None = None,
    concurrently: bool = True,
    maintenance_work_mem: str | None = None,
    parallel_workers: int | None = None,
    on_progress: Callable[[BuildProgress], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
    poll_interval: float = POLL_INTERVAL_S,
    name: str | None = None,
) -> BuildResult:
    """Build a vector index, reporting progress; CancelledError cancels the build server-side too.

    `maintenance_work_mem` is a PostgreSQL size ("2GB"), set for the build session only.
    Returns status "built", or "cancelled" when the backend was cancelled from elsewhere
    (`cancel_build`, pg_cancel_backend); raises IndexBuildError for any other failure.
    """
    what = f"building an index on {schema}.{collection}"
    if client.read_only:
        raise ReadOnlyError(what)
    f = await require(client, pod, collection, schema)
    rows = await row_count(client, pod, f)
    plan, name, params = plan_build_index(f, pod, method=method, measure=measure, m=m, ef_construction=ef_construction,
                                          lists=lists, concurrently=concurrently, name=name)
    await _refuse_identical(client, pod, f, method, measure, params)
    if parallel_workers is not None and not 0 <= parallel_workers <= 1024:
        raise IndexBuildError(f"bad parallel workers {parallel_workers}: 0 to 1024")
    estimate = estimate_hnsw_memory(rows, f.dimension or 0, m) if method == "hnsw" and f.type == "vector" else None
    disk_estimate = estimate_hnsw_disk(rows, f.dimension or 0, m) if estimate else 0
    notices: list[str] = []
    warnings: list[str] = []
    t0 = time.monotonic()
    updates = 0
    last_update = t0
    max_gap = 0.0

    def progress(p: BuildProgress) -> None:
        nonlocal updates, last_update, max_gap
        now = time.monotonic()
        max_gap = max(max_gap, now - last_update)
        last_update = now
        updates += 1
        if on_progress:
            on_progress(p)

    async with long_session(client, pod, what=what) as conn:
        try:
            if maintenance_work_mem is not None:
                await conn.execute("select set_config('maintenance_work_mem', %s, false)", (str(maintenance_work_mem),))
            if parallel_workers is not None:
                await conn.execute("select set_config('max_parallel_maintenance_workers', %s, false)", (str(parallel_workers),))
        except psycopg.Error as exc:
            raise IndexBuildError(f"bad session setting: {exc.diag.message_primary or exc}") from None
        cur = await conn.execute("select pg_size_bytes(current_setting('maintenance_work_mem'))")
        mwm = int((await cur.fetchone())[0])
        if estimate and estimate > mwm:
            warn = (f"estimated HNSW graph {human_bytes(estimate)} exceeds maintenance_work_mem {human_bytes(mwm)}: "
                    f"the build will spill to disk and slow down; consider maintenance_work_mem {human_bytes(int(estimate * 1.2)).replace(' ', '')}")
            warnings.append(warn)
            if on_notice:
                on_notice("WARNING (vecdash estimate): " + warn)

        def handler(diag: psycopg.errors.Diagnostic) -> None:
            text = (diag.message_primary or "").strip()
            severity = diag.severity or "NOTICE"
            line = f"{severity}: {text}" + (f" ({diag.message_detail.strip()})" if diag.message_detail else "")
            notices.append(line)
            advice = build_warning(text, mwm, estimate)
            if advice:
                warnings.append(advice)
            if on_notice:
                on_notice(line)
                if advice:
                    on_notice("WARNING: " + advice)

        conn.add_notice_handler(handler)
        pid = conn.info.backend_pid
        progress(BuildProgress(pid=pid, phase="starting", fraction=0.0, index=name))
        task = asyncio.ensure_future(conn.execute(plan.steps[0].sql))
        status = "built"
        load_done_lsn: int | None = None
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=poll_interval)
                if done:
                    break
                try:
                    row = await _progress(client, pod, pid)
                except (PodUnavailable, psycopg.Error):
                    row = None
                if row and not task.done():
                    phase, bd, bt, td, tt, size, lsn = row
                    phase = phase or "building index"
                    if load_done_lsn is None and bt and bd >= bt and phase.startswith("building index"):
                        load_done_lsn = lsn
                    wal = lsn - load_done_lsn if load_done_lsn is not None and lsn is not None else 0
                    progress(BuildProgress(pid, phase, fraction_for(phase, bd or 0, bt or 0, td or 0, tt or 0,
                                                                    size or 0, disk_estimate, wal),
                                           bd or 0, bt or 0, td or 0, tt or 0, time.monotonic() - t0, name, size or 0))
            task.result()
        except asyncio.CancelledError:
            await _stop_build(client, pod, pid, task, schema, name, concurrently)
            raise
        except psycopg.errors.QueryCanceled:
            status = "cancelled"
        except psycopg.Error as exc:
            if concurrently:
                await _drop_leftover(client, pod, schema, name)
            raise pod_error(exc, client.pod(pod), f"index build on {schema}.{collection}") from None
    if status == "cancelled" and concurrently:
        await _drop_leftover(client, pod, schema, name)
    elapsed = time.monotonic() - t0
    index_bytes, valid = 0, False
    if status == "built":
        async def size(c):
            cur = await c.execute("select pg_relation_size(i.indexrelid), i.indisvalid from pg_index i "
                                  "where i.indexrelid = to_regclass(%s)", (qualified_literal(schema, name),))
            return await cur.fetchone()

        got = await client.run(pod, size)
        if got:
            index_bytes, valid = int(got[0]), bool(got[1])
    progress(BuildProgress(pid, "done" if status == "built" else "cancelled", 1.0 if status == "built" else 0.0,
                           elapsed_s=elapsed, index=name))
    return BuildResult(pod=pod, schema=schema, collection=collection, index=name, method=method, measure=measure,
                       params=params, status=status, seconds=elapsed, pid=pid, concurrently=concurrently, rows=rows,
                       estimate_bytes=estimate, maintenance_work_mem_bytes=mwm, notices=notices, warnings=warnings,
                       index_bytes=index_bytes, valid=valid, progress_updates=updates, max_progress_gap_s=max_gap,
                       sql_preview=plan.steps[0].preview)


async def _stop_build(client: PodClient, pod: str, pid: int, task: asyncio.Future, schema: str, name: str,
                      concurrently: bool) -> None:
    """Cancel the backend, wait for the statement to end, drop what a concurrent build left."""
    try:
        await cancel_backend(client, pod, pid)
    except Exception:
        pass
    try:
        await asyncio.wait_for(asyncio.shield(task), 30.0)
    except BaseException:
        pass
    if concurrently:
        try:
            await _drop_leftover(client, pod, schema, name)
        except Exception:
            pass


async def running_builds(client: PodClient, pod: str) -> list[dict]:
    """Index builds in progress on a pod (any client), from pg_stat_progress_create_index."""
    async def work(conn: psycopg.AsyncConnection) -> list[dict]:
        cur = await conn.execute(
            "select p.pid, n.nspname, c.relname, coalesce(ic.relname, ''), p.command, p.phase,"
            " p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total,"
            " extract(epoch from now() - a.query_start)::float8"
            " from pg_stat_progress_create_index p join pg_class c on c.oid = p.relid"
            " join pg_namespace n on n.oid = c.relnamespace left join pg_class ic on ic.oid = p.index_relid"
            " left join pg_stat_activity a on a.pid = p.pid order by p.pid")
        keys = ["pid", "schema", "table", "index", "command", "phase", "blocks_done", "blocks_total",
                "tuples_done", "tuples_total", "running_s"]
        return [dict(zip(keys, r)) for r in await cur.fetchall()]

    return await client.run(pod, work)


async def cancel_build(client: PodClient, pod: str, *, pid: int | None = None, collection: str | None = None,
                       schema: str = "vecs", wait_s: float = 30.0) -> list[str]:
    """Cancel running builds (by pid, or every build on a collection); drop the invalid indexes they leave.

    Returns one line per cancelled build. Works on builds started by any client (psql too).
    """
    if client.read_only:
        raise ReadOnlyError("cancelling an index build")
    if pid is None and collection is None:
        raise IndexBuildError("say which build to cancel: a pid or a collection")
    builds = [b for b in await running_builds(client, pod)
              if (pid is None or b["pid"] == pid) and (collection is None or (b["schema"], b["table"]) == (schema, collection))]
    if not builds:
        what = f"pid {pid}" if pid is not None else f"{schema}.{collection}"
        raise IndexBuildError(f"no index build running on pod {pod} for {what}")
    out = []
    for b in builds:
        await cancel_backend(client, pod, b["pid"])
    deadline = time.monotonic() + wait_s
    pids = {b["pid"] for b in builds}
    while time.monotonic() < deadline:
        left = {b["pid"] for b in await running_builds(client, pod)} & pids
        if not left:
            break
        await asyncio.sleep(0.2)
    for b in builds:
        dropped = False
        if b["index"] and "CONCURRENTLY" in (b["command"] or ""):
            dropped = await _drop_leftover(client, pod, b["schema"], b["index"])
        out.append(f"cancelled pid {b['pid']} ({b['command']} {b['index'] or ''} on {b['schema']}.{b['table']})"
                   + ("; dropped the invalid index it left" if dropped else ""))
    return out


_INDEXES_SQL = """
select n.nspname, t.relname, ic.relname, am.amname, oc.opcname, coalesce(ic.reloptions, '{}'),
       pg_relation_size(ic.oid), i.indisvalid, i.indisready, pg_get_indexdef(ic.oid)
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
join pg_class t on t.oid = i.indrelid
join pg_namespace n on n.oid = t.relnamespace
join pg_am am on am.oid = ic.relam
left join pg_opclass oc on oc.oid = i.indclass[0]
where n.nspname = %(schema)s and (%(table)s::text is null or t.relname = %(table)s)
  and (am.amname in ('hnsw', 'ivfflat') or not i.indisvalid)
order by t.relname, ic.relname
"""


async def list_indexes(client: PodClient, pod: str, collection: str | None = None, schema: str = "vecs") -> list[IndexInfo]:
    """Vector indexes (and any invalid index) of a collection or of every table in `schema`."""
    async def work(conn: psycopg.AsyncConnection):
        cur = await conn.execute(_INDEXES_SQL, {"schema": schema, "table": collection})
        return await cur.fetchall()

    out = []
    for sch, table, name, am, opc, opts, size, valid, ready, definition in await client.run(pod, work):
        params = {}
        for o in opts:
            k, _, v = o.partition("=")
            params[k] = int(v) if v.isdigit() else v
        out.append(IndexInfo(pod=pod, schema=sch, table=table, name=name, method=am, opclass=opc,
                             measure=OPCLASS_MEASURE.get(opc or ""), params=params, bytes=int(size), valid=bool(valid),
                             ready=bool(ready), definition=definition,
                             vecs_recognised=name.lower().startswith("ix_vector") and bool(opc) and opc in name))
    if collection is not None and not out and not (await facts(client, pod, collection, schema)).exists:
        # a name that does not exist is the user's input (exit 2), not an empty answer
        raise no_collection(schema, collection, pod, error=CollectionError)
    return out


async def require_index(client: PodClient, pod: str, schema: str, name: str) -> None:
    """CollectionError (exit 2) unless schema.name is an index on pod: checked before a plan names it."""
    async def work(conn: psycopg.AsyncConnection) -> bool:
        cur = await conn.execute("select exists (select from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                                 "where n.nspname = %s and c.relname = %s and c.relkind in ('i', 'I'))", (schema, name))
        return bool((await cur.fetchone())[0])

    if not await client.run(pod, work):
        raise CollectionError(f"index {schema}.{name} does not exist on pod {pod}")


async def plan_index_change(client: PodClient, pod: str, schema: str, name: str, how: str) -> Plan:
    """`how` = "drop" (DROP INDEX CONCURRENTLY) or "reindex" (REINDEX INDEX CONCURRENTLY) of an index that
    exists (checked first): the plan `index drop`, `index fix` and the console confirm and then apply."""
    if how not in ("drop", "reindex"):
        raise IndexBuildError(f"unknown index change {how!r} (drop or reindex)")
    await require_index(client, pod, schema, name)
    return plan_drop_index(pod, schema, name) if how == "drop" else plan_reindex(pod, schema, name)


async def collection_indexes(client: PodClient, pod: str, collection: str, schema: str = "vecs") -> list[IndexInfo]:
    """The collection's vector (and invalid) indexes no build is working on now: what may be dropped,
    rebuilt or fixed (an index a running build owns is the build's: `index cancel` ends it)."""
    return await _no_build_on(client, pod, await list_indexes(client, pod, collection, schema))


async def _no_build_on(client: PodClient, pod: str, infos: list[IndexInfo]) -> list[IndexInfo]:
    building = {(b["schema"], b["index"]) for b in await running_builds(client, pod)}
    return [i for i in infos if (i.schema, i.name) not in building]


async def invalid_indexes(client: PodClient, pod: str, schema: str = "vecs") -> list[IndexInfo]:
    """Invalid indexes (left by failed or killed concurrent builds) that no build is working on now."""
    return [i for i in await _no_build_on(client, pod, await list_indexes(client, pod, None, schema)) if not i.valid]
