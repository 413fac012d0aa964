"""Reading the whole estate: every pod concurrently, two round trips each (latency probe + catalog).

With activity (service/activity), the catalog, activity and top-statements statements share one
pipeline after the probe: still two round trips.

Also the one home of a collection's lookup (`pod_config`, `find_collection`: one wording for an
unknown pod or collection) and of reading its rows (`read_only`, `read_rows`: SELECTs in one READ ONLY
transaction, one round trip), for browse, keys, the map and queries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg import sql

from vecdash.config import PodConfig
from vecdash.db.catalog_sql import CATALOG_SQL
from vecdash.db.connect import describe_error, pod_error
from vecdash.db.pods import PodClient
from vecdash.errors import PodUnavailable, UserError, no_collection, unknown_pod
from vecdash.lines import error_line
from vecdash.service import activity as live
from vecdash.service import endpoints
from vecdash.model import (
    OPCLASS_MEASURE,
    Collection,
    Column,
    ForeignServer,
    ForeignTable,
    Index,
    KnnFunction,
    PodStatus,
    Topology,
    UserMapping,
    View,
)
from vecdash.secrets import mask_options

RELKINDS = {"r": "table", "m": "matview", "f": "foreign", "p": "partitioned"}


async def snapshot(client: PodClient, *, activity: bool = False, previous: Topology | None = None,
                   on_pod: Callable[[PodStatus], None] | None = None,
                   known_down: Mapping[str, str] | None = None) -> Topology:
    """Read every configured pod concurrently. A down or hung pod costs at most its timeout.

    `activity`: read what each pod is doing too (PodStatus.activity, in the catalog's pipeline: no
    extra round trip) and set the estate's alert line; `previous` (the last snapshot) gives the rates.
    `on_pod(status)` is called with each pod as soon as it has answered (or failed), complete (rates,
    host names resolved): a console shows it then, and the slowest pod delays no other.
    `known_down` (pod -> reason): pods that did not answer a moment ago in this same command (discovery,
    `Config.unanswered`): reported down with that reason, not asked again (not a second timeout).
    """
    t0 = time.perf_counter()
    before = {p.name: p for p in previous.pods} if previous is not None else {}

    async def one(pod: PodConfig) -> PodStatus:
        reason = (known_down or {}).get(pod.name)
        if reason is not None:
            status = down_status(pod, reason, activity)
        else:
            status = await read_pod(client, pod, activity=activity)
        # resolve its host names now, off the UI thread: the console's labels then read endpoints' cache
        hosts = [s.options.get("host", "") for s in status.foreign_servers]
        if hosts:
            await asyncio.to_thread(endpoints.warm, hosts, client.config)
        if activity:
            live.fill_pod_rates(status, before.get(status.name))
        if on_pod is not None:
            on_pod(status)
        return status

    pods = await client.gather(one)
    topo = Topology(pods=pods, taken_at=datetime.now(timezone.utc), elapsed_ms=(time.perf_counter() - t0) * 1000)
    if activity:
        topo.alerts = live.alerts(topo, client.config.settings)
    return topo


def down_status(pod: PodConfig, reason: str, activity: bool = False) -> PodStatus:
    """A pod that did not answer (or refused), with why."""
    status = PodStatus(name=pod.name, role=pod.role, error=reason)
    if activity:
        status.activity = live.down(pod.name, reason)
    return status


async def read_pod(client: PodClient, pod: PodConfig, *, activity: bool = False) -> PodStatus:
    status = PodStatus(name=pod.name, role=pod.role)

    async def work(conn: psycopg.AsyncConnection) -> tuple[float, dict[str, Any], Any]:
        if activity:
            return await live.read_with_catalog(conn, CATALOG_SQL)
        t = time.perf_counter()
        await conn.execute("select 1")
        latency = (time.perf_counter() - t) * 1000
        cur = await conn.execute(CATALOG_SQL)
        row = await cur.fetchone()
        return latency, row[0], None

    try:
        latency, doc, raw = await client.run(pod, work, paced=True)
    except PodUnavailable as exc:
        return down_status(pod, exc.reason, activity)
    except psycopg.Error as exc:
        return down_status(pod, describe_error(exc, pod), activity)
    status.up = True
    status.latency_ms = round(latency, 3)
    fill_pod(status, doc)
    if raw is not None:
        status.activity = live.parse(pod.name, raw)
    return status


def fill_pod(status: PodStatus, doc: dict[str, Any]) -> None:
    status.server_version = doc["server_version"].split()[0] if doc.get("server_version") else None
    status.pgvector_version = doc.get("pgvector_version")
    status.fdw_version = doc.get("fdw_version")
    status.database = doc.get("database")
    status.database_bytes = doc.get("database_bytes")
    status.shared_buffers_bytes = doc.get("shared_buffers_bytes")
    status.current_user = doc.get("current_user")
    status.read_only = doc.get("read_only")
    status.collections = [_collection(status.name, c) for c in doc.get("collections") or []]
    status.foreign_servers = [foreign_server(s) for s in doc.get("foreign_servers") or []]
    status.user_mappings = [user_mapping(m) for m in doc.get("user_mappings") or []]
    status.foreign_tables = [foreign_table(f) for f in doc.get("foreign_tables") or []]
    status.views = [view(v) for v in doc.get("views") or []]
    status.knn_functions = [knn_function(f) for f in doc.get("knn_functions") or []]


# --- one parse of the catalog statements' JSON (CATALOG_SQL, and wiring_sql's) into model types ---------


def options_dict(items: list[str] | None) -> dict[str, str]:
    """Server, table, column or index options as the catalog stores them (`["k=v", ...]`) -> {k: v}."""
    out: dict[str, str] = {}
    for item in items or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def foreign_server(s: dict[str, Any]) -> ForeignServer:
    return ForeignServer(name=s["name"], fdw=s["fdw"], options=mask_options(options_dict(s["options"])),
                         mapping_user=s.get("mapping_user"), comment=s.get("comment"))


def user_mapping(m: dict[str, Any]) -> UserMapping:
    return UserMapping(server=m["server"], user=m["user"], public=bool(m.get("public")))


def column(c: dict[str, Any]) -> Column:
    return Column(name=c["name"], type=c["type"], typname=c["typname"], typmod=c["typmod"], notnull=c["notnull"],
                  typschema=c.get("typschema"), from_vector=bool(c.get("from_vector")),
                  options=options_dict(c.get("options")))


def index(i: dict[str, Any]) -> Index:
    return Index(
        name=i["name"],
        method=i["method"],
        column=i["column"],
        opclass=i.get("opclass"),
        measure=OPCLASS_MEASURE.get(i.get("opclass") or ""),
        params={k: _number(v) for k, v in options_dict(i.get("options")).items()},
        bytes=i.get("bytes") or 0,
        valid=bool(i.get("valid", True)),
    )


def foreign_table(f: dict[str, Any]) -> ForeignTable:
    opts = options_dict(f.get("options"))
    vec = f.get("vector") or {}
    return ForeignTable(
        schema=f["schema"],
        name=f["name"],
        server=f["server"],
        remote_schema=opts.get("schema_name", f["schema"]),
        remote_table=opts.get("table_name", f["name"]),
        vector_column=vec.get("column"),
        vector_type=vec.get("type"),
        dimension=vec.get("dimension"),
        options=opts,
        columns=[column(c) for c in f.get("columns") or []],
        analyzed=f.get("analyzed"),
    )


def knn_function(f: dict[str, Any]) -> KnnFunction:
    """A fast-path function; what it reaches from vecdash's mark on it (none known for one made by hand)."""
    from vecdash.service.wiring.fast_path import parse  # the mark's one reader (imported late: wiring reads the catalog)

    fp = parse(f["schema"], f["name"], f.get("comment"))
    types = f.get("types") or []
    return KnnFunction(schema=f["schema"], name=f["name"], all_pods=len(types) == 8,
                       query_type=types[0] if types else "vector",
                       reaches=[(m.server, m.schema, m.table, m.measure, m.pod) for m in fp.members] if fp else [])


def view(v: dict[str, Any]) -> View:
    """`reads`: qualified names (CATALOG_SQL) or [schema, name] pairs (wiring_sql, kept as `relations`)."""
    reads = v.get("reads") or []
    relations = [(r[0], r[1]) for r in reads if isinstance(r, list)]
    shown = sorted(f"{s}.{n}" for s, n in relations) if relations else sorted(reads)
    return View(schema=v["schema"], name=v["name"], reads=shown, materialized=v.get("materialized", False),
                relations=relations, columns=v.get("columns") or [])


def _parse_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def _collection(pod: str, c: dict[str, Any]) -> Collection:
    columns = c["columns"]
    # the column named like vecs' `vec` wins, else the first vector column
    main = next((col for col in columns if col["column"] == "vec"), columns[0])
    indexes = [index(i) for i in c.get("indexes") or []]
    return Collection(
        pod=pod,
        schema=c["schema"],
        name=c["name"],
        column=main["column"],
        type=main["type"],
        dimension=main.get("dimension"),
        kind=RELKINDS.get(c.get("relkind", "r"), "table"),
        rows_estimate=c.get("rows_estimate"),
        table_bytes=c.get("table_bytes") or 0,
        index_bytes=c.get("index_bytes") or 0,
        has_metadata=bool(c.get("has_metadata")),
        last_analyze=_parse_ts(c.get("last_analyze")),
        last_vacuum=_parse_ts(c.get("last_vacuum")),
        indexes=indexes,
        other_vector_columns=[col["column"] for col in columns if col is not main],
    )


# --- one collection: its lookup and its reads ----------------------------------------------------------


def pod_config(client: PodClient, pod: str, error: type[UserError] = UserError) -> PodConfig:
    """The configured pod named `pod`, else `error` (a UserError: nothing ran) naming the configured ones."""
    try:
        return client.pod(pod)
    except UserError:
        raise unknown_pod(pod, (p.name for p in client.config.pods), client.config.path, error) from None


def collection_in(status: PodStatus, schema: str, name: str, error: type[UserError] = UserError) -> Collection:
    """The collection `schema.name` of a pod that is up, else `error` naming the pod's collections."""
    found = status.collection(schema, name)
    if found is None:
        raise no_collection(schema, name, status.name, (c.qualified for c in status.collections), error)
    return found


async def find_collection(client: PodClient, pod: str, schema: str, name: str, topology: Topology | None = None,
                          error: type[UserError] = UserError) -> Collection:
    """The collection as the catalog has it (`topology`'s, else the pod's read now). `error` (a UserError)
    for an unknown pod or collection (the pod's collections named), PodUnavailable when the pod is down."""
    config = pod_config(client, pod, error)
    status = topology.pod(pod) if topology is not None else None
    if status is None:
        status = await read_pod(client, config)
    if not status.up:
        raise PodUnavailable(pod, f"not available: {status.error}")
    return collection_in(status, schema, name, error)


Statements = list[tuple[sql.Composable, list[Any]]]


async def read_only(client: PodClient, pod: str, statements: Statements, *, binary: bool = False) -> list[list[tuple]]:
    """Each statement's rows, all run in one READ ONLY transaction in one round trip (a pipeline);
    `binary`: on binary cursors (values in the types' send format). psycopg errors propagate (the caller
    says what they mean); a failed one is rolled back, so the pooled session stays usable."""

    async def work(conn: psycopg.AsyncConnection) -> list[list[tuple]]:
        async with conn.pipeline(), conn.transaction():
            await conn.execute("set transaction read only")
            curs = []
            for q, p in statements:
                cur = conn.cursor(binary=binary)
                await cur.execute(q, p)
                curs.append(cur)
        return [await c.fetchall() for c in curs]

    return await client.run(pod, work, what="read rows")


async def read_rows(client: PodClient, coll: Collection, statements: Statements, *, given: Any = None,
                    binary: bool = False) -> list[list[tuple]]:
    """`read_only` on the collection's pod, its failures classified: PodError from the pod, except a
    DataError while `given` (an id the user gave) is among the parameters: that id is not of the id
    column's type, a UserError (nothing ran)."""
    try:
        return await read_only(client, coll.pod, statements, binary=binary)
    except psycopg.errors.DataError as exc:
        if given is None:
            raise pod_error(exc, client.pod(coll.pod)) from None
        raise UserError(f"id {given!r}: not an id of {coll.qualified} ({error_line(exc)})") from None
    except psycopg.Error as exc:
        raise pod_error(exc, client.pod(coll.pod)) from None


def run_snapshot(client_factory) -> Topology:
    """Synchronous helper for scripts: build a client, take one snapshot, close."""

    async def go() -> Topology:
        client = client_factory()
        try:
            return await snapshot(client)
        finally:
            await client.close()

    return asyncio.run(go())
