"""The demo's background workload: an application's sessions on the pods, so live activity has
something true to show (`vecdash demo --workload`, the demo console's `l` and `b` keys).

- per pod, k-NN queries over its vector collections (a query per collection per second by default);
- one slow query at a time, estate-wide: an exact k-NN (ORDER BY an expression no index serves, so
  "why not the index" has an answer) behind a pg_sleep, several seconds, repeated;
- now and then a transaction left open (idle in transaction) just past the long-transaction alert;
- on request one CREATE INDEX CONCURRENTLY on the largest collection, slow on purpose (a small
  maintenance_work_mem, no parallel workers) so its phases can be watched, dropped again afterwards
  or on stop: the estate returns to its state.

Sessions: the workload owns a PodClient of its own, built from the estate's config: every call is
bounded like the console's (a hung or dead pod costs one call's timeout; the loops on that pod pause
and retry, nothing else waits), its sessions are pooled apart from vecdash's and all closed by
`stop()`. They name themselves APPLICATION_NAME (not `vecdash...`), as an application's would, and
ask the server to notice a client that went away mid-statement (client_connection_check_interval):
a query abandoned at stop ends within a second, even inside pg_sleep, and leaves no session behind.
The index build reuses service/indexes (its session, progress, cancel and leftover cleanup), so it
shows as vecdash's own session, which it is: the user asked for it.

Read-only: the queries only read, on sessions the server keeps read-only; the index build writes and
is refused before any I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import psycopg
from psycopg import sql

from vecdash.config import Config, PodConfig
from vecdash.db.long_session import long_session
from vecdash.db.pods import PodClient
from vecdash.db.vector_param import BinaryVector
from vecdash.errors import PodError, ReadOnlyError, UserError
from vecdash.lines import first_line
from vecdash.model import OPCLASS_MEASURE, Collection

T = TypeVar("T")
APPLICATION_NAME = "demo-app"
# pooled apart from vecdash's sessions; the server ends a backend whose client left within a second
SESSION = (("client_connection_check_interval", "1000"),)
BUILD_INDEX = "ix_demo_app_build"
BUILD_WHAT = "the demo index build"


@dataclass(frozen=True)
class Shape:
    """How much the workload does; the defaults suit a walkthrough, tests pass shorter ones."""

    per_collection_qps: float = 1.0
    k: int = 10
    slow_sleep_s: float = 6.0  # the slow query's pg_sleep
    slow_pause_s: float = 3.0  # between two slow queries
    open_after_s: float = 5.0  # the first open transaction
    open_hold_s: float | None = None  # None: 15 s past the long-transaction alert (settings), at least 90 s
    open_pause_s: float = 60.0  # between two open transactions
    build_m: int = 16
    build_ef_construction: int = 40  # not the demo's 64: an identical index is refused
    build_memory: str = "1MB"  # maintenance_work_mem: the graph spills to disk, the build is slow to watch
    build_keep_s: float = 10.0  # the built index stays this long (a refresh shows it), then is dropped
    retry_s: float = 2.0  # first pause after a failure; doubles up to retry_max_s
    retry_max_s: float = 15.0
    rediscover_s: float = 30.0  # a pod without collections is read again after this


@dataclass
class Target:
    """One collection the workload queries."""

    pod: str
    schema: str
    name: str
    column: str
    dimension: int
    measure: str
    rows: int = 0
    has_metadata: bool = True

    @property
    def label(self) -> str:
        return f"{self.pod}/{self.schema}.{self.name}"


@dataclass
class PodLoad:
    """What the workload does on one pod; `paused` says why it waits (the pod's error), None when running."""

    name: str
    collections: int | None = None  # None until the pod answered once
    queries: int = 0
    slow_queries: int = 0
    paused: str | None = None


@dataclass
class Status:
    running: bool
    pods: list[PodLoad] = field(default_factory=list)
    build: str | None = None  # what the index build is doing, else how the last one ended

    def line(self) -> str:
        """One line for a terminal: queries per pod, pauses, the build."""
        parts = []
        for p in self.pods:
            if p.paused:
                parts.append(f"{p.name} paused ({p.paused})")
            elif p.collections == 0:
                parts.append(f"{p.name}: no vector collection")
            else:
                parts.append(f"{p.name}: {p.queries} queries, {p.slow_queries} slow")
        return "; ".join(parts) + (f"; {self.build}" if self.build else "")


def targets_of(collections: list[Collection]) -> list[Target]:
    """The tables among `collections` the workload can query: `vector` columns of known dimension, with the
    measure of their first vector index (l2 without one)."""
    out = []
    for c in collections:
        if c.kind != "table" or c.type != "vector" or not c.dimension:
            continue
        measure = next((i.measure for i in c.indexes if i.measure and i.valid), None) or "l2"
        out.append(Target(c.pod, c.schema, c.name, c.column, c.dimension, measure, c.rows_estimate or 0,
                          c.has_metadata))
    return out


def _vector(dim: int) -> BinaryVector:
    return BinaryVector([random.gauss(0.0, 1.0) for _ in range(dim)])


def knn(t: Target, *, slow: bool = False) -> sql.Composed:
    """The k-NN an application sends; `slow`: exact (ORDER BY an expression) behind a pg_sleep.
    Parameters: vector, [sleep seconds, vector], k."""
    from vecdash.service.query.statements import knn_statement

    where = sql.SQL("(select pg_sleep(%s)) is not null") if slow else sql.SQL("true")
    return knn_statement((t.schema, t.name), t.column, "vector", t.measure, where, exact_in_sql=slow,
                         has_metadata=t.has_metadata, timed=False)


class Workload:
    """The background workload of one estate; `start()` and `stop()` from the event loop that runs it."""

    def __init__(self, config: Config, shape: Shape | None = None) -> None:
        self.config = config
        self.shape = shape or Shape()
        self.client = PodClient(config)
        self.pods = {p.name: PodLoad(p.name) for p in config.pods}
        self.targets: dict[str, list[Target]] = {}
        self._tasks: list[asyncio.Task] = []
        self._build: asyncio.Task | None = None
        self.build_state: str | None = None
        self.last_build: str | None = None  # how the last build ended

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def status(self) -> Status:
        return Status(self.running, [PodLoad(**vars(p)) for p in self.pods.values()], self.build_state or self.last_build)

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loops (no I/O here: each loop reads its pod's collections itself, so a pod down at
        start only pauses its own loop)."""
        if self._tasks:
            return
        loops = [self._pod_loop(p) for p in self.config.pods] + [self._slow_loop(), self._open_loop()]
        self._tasks = [asyncio.ensure_future(c) for c in loops]

    async def stop(self) -> None:
        """Stop everything: the loops, a build (cancelled, its index dropped); every session closed.
        Bounded: a hung pod costs at most a call's timeout."""
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._build is not None and not self._build.done():
            self._build.cancel()
            await asyncio.gather(self._build, return_exceptions=True)
        await self.client.close()
        self.client = PodClient(self.config)  # a stopped workload may start again

    # --- calls --------------------------------------------------------------------------------------

    async def _call(self, pod: str, fn: Callable[[psycopg.AsyncConnection], Awaitable[T]], *,
                    timeout: float | None = None) -> T:
        """`fn` on one of the workload's sessions to `pod`, named APPLICATION_NAME (set once per session)."""
        async def named(conn: psycopg.AsyncConnection) -> T:
            if conn.info.parameter_status("application_name") != APPLICATION_NAME.encode():
                await conn.execute("select set_config('application_name', %s, false)", (APPLICATION_NAME,))
            return await fn(conn)

        return await self.client.run(pod, named, timeout=timeout, session=SESSION)

    async def _discover(self, pod: PodConfig) -> list[Target]:
        from vecdash.service.catalog import read_pod

        status = await read_pod(self.client, pod)
        if not status.up:
            raise _Paused(status.error or "down")
        found = targets_of(status.collections)
        self.targets[pod.name] = found
        self.pods[pod.name].collections = len(found)
        return found

    async def _query(self, t: Target) -> None:
        async def work(conn: psycopg.AsyncConnection) -> None:
            await conn.execute(knn(t), (_vector(t.dimension), self.shape.k))

        await self._call(t.pod, work)

    async def _slow_query(self, t: Target) -> None:
        s = self.shape
        limit_ms = int((s.slow_sleep_s + 30) * 1000)

        async def work(conn: psycopg.AsyncConnection) -> None:
            async with conn.transaction():
                await conn.execute("select set_config('statement_timeout', %s, true)", (str(limit_ms),))
                v = _vector(t.dimension)
                await conn.execute(knn(t, slow=True), (v, s.slow_sleep_s, v, s.k))

        await self._call(t.pod, work, timeout=s.slow_sleep_s + 30 + self.config.settings.call_timeout_s)

    async def _open_transaction(self, t: Target, hold: float) -> None:
        async def work(conn: psycopg.AsyncConnection) -> None:
            async with conn.transaction():
                await conn.execute(knn(t), (_vector(t.dimension), self.shape.k))
                await asyncio.sleep(hold)  # idle in transaction, as an application that forgot to commit

        await self._call(t.pod, work, timeout=hold + self.config.settings.call_timeout_s)

    # --- loops --------------------------------------------------------------------------------------

    async def _pod_loop(self, pod: PodConfig) -> None:
        """k-NN queries on one pod's collections, round robin; on failure the loop pauses and retries."""
        load = self.pods[pod.name]
        targets: list[Target] | None = None
        retry = self.shape.retry_s
        turn = 0
        while True:
            try:
                if targets is None:
                    targets = await self._discover(pod)
                    load.paused = None
                if not targets:
                    await asyncio.sleep(self.shape.rediscover_s)
                    targets = None
                    continue
                await self._query(targets[turn % len(targets)])
                turn += 1
                load.queries += 1
                load.paused = None
                retry = self.shape.retry_s
                await asyncio.sleep(1.0 / (self.shape.per_collection_qps * len(targets)))
            except (PodError, psycopg.Error, _Paused) as exc:
                load.paused = _why(exc)
                if not isinstance(exc, PodError) or not load.collections:
                    targets = None  # a table dropped or a pod down from the start: read its collections again
                await asyncio.sleep(retry)
                retry = min(retry * 2, self.shape.retry_max_s)

    def _ready(self, *, spare_build_target: bool = False) -> list[Target]:
        """Targets on pods whose loop is not paused, pods in config order. `spare_build_target`: not the
        collection the index build uses (while another remains), whose DROP INDEX CONCURRENTLY waits for
        every transaction holding its table."""
        ready = [t for p in self.config.pods if not self.pods[p.name].paused for t in self.targets.get(p.name, [])]
        if spare_build_target and len(ready) > 1:
            build = self._build_candidate()
            ready = [t for t in ready if t is not build]
        return ready

    async def _slow_loop(self) -> None:
        turn = 0
        while True:
            ready = self._ready()
            if not ready:
                await asyncio.sleep(1.0)
                continue
            t = ready[turn % len(ready)]
            turn += 1
            with contextlib.suppress(PodError, psycopg.Error):  # the pod's own loop says why it pauses
                await self._slow_query(t)
                self.pods[t.pod].slow_queries += 1
            await asyncio.sleep(self.shape.slow_pause_s)

    async def _open_loop(self) -> None:
        s = self.shape
        await asyncio.sleep(s.open_after_s)
        turn = 0
        while True:
            ready = self._ready(spare_build_target=True)
            if ready:
                with contextlib.suppress(PodError, psycopg.Error):
                    await self._open_transaction(ready[turn % len(ready)], self.open_hold_s())
                turn += 1
            await asyncio.sleep(s.open_pause_s if ready else 1.0)

    def open_hold_s(self) -> float:
        if self.shape.open_hold_s is not None:
            return self.shape.open_hold_s
        return max(90.0, self.config.settings.long_transaction_s + 15.0)  # held past the alert's threshold

    # --- the index build on request -------------------------------------------------------------------

    def _build_candidate(self) -> Target | None:
        """The largest collection any pod answered with, among those shaped like vecs' (column `vec`)."""
        found = [t for ts in self.targets.values() for t in ts if t.column == "vec"]
        return max(found, key=lambda t: (t.rows, t.label)) if found else None

    async def request_build(self) -> Target:
        """Start the demo index build; returns its collection. Refused read-only (before any I/O) and while
        one runs."""
        if self.client.read_only:
            raise ReadOnlyError(BUILD_WHAT)
        if self._build is not None and not self._build.done():
            raise UserError(f"{BUILD_WHAT} is already running ({self.build_state})")
        if not any(self.targets.values()):
            await asyncio.gather(*(self._discover(p) for p in self.config.pods), return_exceptions=True)
        t = self._build_candidate()
        if t is None:
            raise UserError("no vector collection known yet to build an index on (is a pod up?)")
        self.build_state = f"building {BUILD_INDEX} on {t.label}"
        self._build = asyncio.ensure_future(self._run_build(t))
        self._build.add_done_callback(self._build_ended)
        return t

    def _build_ended(self, task: asyncio.Task) -> None:
        """Keep how the build ended for status(), whether or not anyone awaits it."""
        if task.cancelled():
            self.last_build = f"{BUILD_WHAT} was cancelled"
        elif task.exception() is not None:
            self.last_build = f"{BUILD_WHAT} failed: {_why(task.exception())}"
        else:
            self.last_build = task.result()

    async def wait_build(self) -> str:
        """Wait for the running build (not cancelling it when the waiter is): one line on how it ended."""
        if self._build is None:
            raise UserError(f"{BUILD_WHAT} was not started")
        return await asyncio.shield(self._build)

    async def _run_build(self, t: Target) -> str:
        from vecdash.service.indexes import build_index

        s = self.shape
        try:
            await _drop_build_index(self.client, t)  # a leftover of a run that died
            result = await build_index(self.client, t.pod, t.name, schema=t.schema, name=BUILD_INDEX,
                                       measure=_buildable(t.measure), m=s.build_m,
                                       ef_construction=s.build_ef_construction,
                                       maintenance_work_mem=s.build_memory, parallel_workers=0)
            if result.status != "built":
                return f"{BUILD_INDEX} on {t.label}: {result.status}"
            self.build_state = f"built {BUILD_INDEX} on {t.label} in {result.seconds:.0f} s; dropped in {s.build_keep_s:.0f} s"
            await asyncio.sleep(s.build_keep_s)
            return f"built {BUILD_INDEX} on {t.label} in {result.seconds:.0f} s, then dropped it"
        finally:
            self.build_state = None
            with contextlib.suppress(Exception):  # bounded by the call timeout, also when cancelled (stop)
                await asyncio.shield(_drop_build_index(self.client, t))


class _Paused(Exception):
    """A pod the catalog read says is down."""


def _why(exc: BaseException) -> str:
    return first_line(str(exc)) or type(exc).__name__


def _buildable(measure: str) -> str:
    """A measure pgvector can build an HNSW index for on a `vector` column (l2 when unknown)."""
    return measure if f"vector_{measure}_ops" in OPCLASS_MEASURE else "l2"


async def _drop_build_index(client: PodClient, t: Target) -> None:
    """DROP INDEX CONCURRENTLY IF EXISTS the workload's index on `t`, built or left invalid."""
    async with long_session(client, t.pod, what=BUILD_WHAT) as conn:
        await asyncio.wait_for(conn.execute(sql.SQL("drop index concurrently if exists {}").format(
            sql.Identifier(t.schema, BUILD_INDEX))), client.config.settings.call_timeout_s + 30)
