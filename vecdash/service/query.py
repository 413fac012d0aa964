"""Nearest-neighbour queries on a collection: measures, vecs filters, knobs, routes, recall, plans.

Routes:
- `direct`    the pod that holds the collection runs the scan;
- `primary`   the primary runs it through its foreign table for the collection (postgres_fdw ships
              WHERE / ORDER BY / LIMIT to the pod when the server has `extensions 'vector'`);
- `fanout`    every pod holding a same-named collection, concurrently; top-k merged here;
- `federated` one UNION ALL statement on the primary, one branch per wired pod, each branch with
              its own ORDER BY / LIMIT so each is pushed to its pod; the branches run concurrently
              when the servers are `async_capable`.

Each pod call is one network round trip: the query alone, or, with knobs or EXPLAIN, a psycopg
pipeline of `set_config(name, value, true)` (== SET LOCAL, with parameters), the query and EXPLAIN
in one implicit transaction. The server execution time comes back in the query's own last column.
Knobs set on the primary do not reach the pod's session through postgres_fdw: the primary route
says so and offers the server-level `options '-c ...'` or a per-role setting on the pod instead.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import psycopg
from psycopg import sql

from vecdash.config import Config
from vecdash.db.connect import pod_error
from vecdash.db.placeholders import params_text, preview_text
from vecdash.db.pods import PodClient
from vecdash.db.vector_param import ELEMENT, BinaryVector, VectorParamError
from vecdash.errors import PodError, PodUnavailable, UserError
from vecdash.inputs import InputError, check_vector, parse_vector_text  # their home; named here for callers
from vecdash.model import ITERATIVE, MEASURE_TYPES, MEASURES, Collection, ForeignServer, ForeignTable, Plan, PlanStep, PodStatus, Topology
from vecdash.secrets import mask_text
from vecdash.service.cache_fit import cache_warning
from vecdash.service.catalog import read_pod, snapshot
from vecdash.service.endpoints import pod_of_server
from vecdash.service.filters import FilterError, compile_and_lint

ROUTES = ("direct", "primary", "fanout", "federated")
MAX_LIMIT = 10_000
DEFAULT_EF_SEARCH = 40


class QueryError(UserError):
    """A query that cannot run as asked (unknown collection, bad vector, dimension mismatch...)."""


@dataclass
class QuerySpec:
    pod: str
    collection: str
    schema: str = "vecs"
    vector: list[float] | None = None
    like_id: str | None = None
    random: bool = False
    limit: int = 10
    filters: dict | None = None
    measure: str = "cosine"
    route: str = "direct"
    ef_search: int | None = None
    iterative: str | None = None
    probes: int | None = None
    exact: bool = False
    recall: bool = False
    explain: bool = False
    include_vector: bool = False


@dataclass
class ResultRow:
    id: str
    distance: float
    metadata: dict
    pod: str | None = None
    vector: list[float] | None = None


@dataclass
class QueryResult:
    spec: QuerySpec
    rows: list[ResultRow]
    route: str
    client_ms: float
    server_ms: float | None
    limit: int
    underfilled: bool
    warnings: list[str]
    plan: str | None
    recall: float | None
    # the SQL as it ran, masked: built on first read (a query in a loop never pays for the text)
    preview: str | Callable[[], str]
    per_pod_ms: dict[str, float]
    # additive: where the query vector came from, and the path the route took
    source: str = ""
    route_detail: str = ""
    knobs: dict[str, str] = field(default_factory=dict)
    matching_rows: int | None = None  # rows matching the filter, counted up to `limit`, when under-filled

    @property
    def sql_preview(self) -> str:
        if callable(self.preview):
            self.preview = self.preview()
        return self.preview

    def to_json(self) -> dict[str, Any]:
        from vecdash.model import to_jsonable

        return {
            "spec": to_jsonable(self.spec), "route": self.route, "route_detail": self.route_detail,
            "source": self.source, "limit": self.limit, "returned": len(self.rows),
            "underfilled": self.underfilled, "matching_rows": self.matching_rows,
            "client_ms": round(self.client_ms, 3),
            "server_ms": None if self.server_ms is None else round(self.server_ms, 3),
            "per_pod_ms": {k: round(v, 3) for k, v in self.per_pod_ms.items()},
            "recall": self.recall, "knobs": self.knobs, "warnings": [mask_text(w) for w in self.warnings],
            "sql": mask_text(self.sql_preview), "plan": self.plan,
            "rows": [to_jsonable(r) for r in self.rows],
        }


# --- one target = one relation scanned on one pod ------------------------------------------------


@dataclass
class Target:
    run_on: str  # pod whose session executes the statement
    relation: tuple[str, str]  # schema, name as seen from run_on
    holder: str  # pod that holds the rows
    collection: Collection  # the holder's collection (type, dimension, indexes)
    server: ForeignServer | None = None  # set when the relation is a foreign table

    @property
    def via_fdw(self) -> bool:
        return self.server is not None

    @property
    def remote(self) -> bool:
        """The scan happens in another server's session: SET LOCAL does not reach it."""
        return self.via_fdw or self.collection.kind == "foreign"


@dataclass
class PodRun:
    rows: list[ResultRow]
    client_ms: float
    server_ms: float | None
    plan: str | None


# --- validation -----------------------------------------------------------------------------------


def check_spec(spec: QuerySpec) -> None:
    sources = sum([spec.vector is not None, spec.like_id is not None, bool(spec.random)])
    if sources != 1:
        raise QueryError("give exactly one query vector source: a vector (JSON array), like ID, or random")
    if not isinstance(spec.limit, int) or isinstance(spec.limit, bool) or not 1 <= spec.limit <= MAX_LIMIT:
        raise QueryError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {spec.limit!r}")
    if spec.measure not in MEASURES:
        raise QueryError(f"unknown measure {spec.measure!r} (expected one of {', '.join(MEASURES)})")
    if spec.route not in ROUTES:
        raise QueryError(f"unknown route {spec.route!r} (expected one of {', '.join(ROUTES)})")
    if spec.ef_search is not None and (not isinstance(spec.ef_search, int) or isinstance(spec.ef_search, bool)
                                       or not 1 <= spec.ef_search <= 1000):
        raise QueryError(f"ef_search must be an integer from 1 to 1000, got {spec.ef_search!r}")
    if spec.probes is not None and (not isinstance(spec.probes, int) or isinstance(spec.probes, bool)
                                    or not 1 <= spec.probes <= 32768):
        raise QueryError(f"probes must be an integer from 1 to 32768, got {spec.probes!r}")
    if spec.iterative is not None and spec.iterative not in ITERATIVE:
        raise QueryError(f"iterative must be off, relaxed or strict, got {spec.iterative!r}")
    if spec.exact and (spec.ef_search or spec.probes or (spec.iterative and ITERATIVE[spec.iterative] != "off")):
        raise QueryError("exact search uses no index: drop --ef-search/--probes/--iterative or --exact")
    if not spec.collection:
        raise QueryError("collection name is empty")



# --- the query vector as a parameter (binary for vector / halfvec) and in pgvector's text format -----


def vector_param(values: list[float], vtype: str) -> str | BinaryVector:
    """The query vector as a statement parameter: pgvector's binary form for `vector` and `halfvec`
    (see db/vector_param.py), the text form for `sparsevec` and `bit`."""
    if vtype not in ELEMENT:
        return vector_text(values, vtype)
    try:
        return BinaryVector(values, vtype)
    except VectorParamError as exc:
        raise QueryError(str(exc)) from None


class QueryVector:
    """The query vector as a parameter for each column type it meets: pods holding a same-named
    collection may mix `vector` and `halfvec`, whose binary forms differ (a given vector is packed once
    per type; a vector read from a pod as text is sent back as that text to every type)."""

    __slots__ = ("values", "text", "_by_type")

    def __init__(self, values: list[float] | None = None, text: str | None = None):
        self.values = values
        self.text = text
        self._by_type: dict[str, str | BinaryVector] = {}

    def for_type(self, vtype: str) -> str | BinaryVector:
        param = self._by_type.get(vtype)
        if param is None:
            param = vector_param(self.values, vtype) if self.values is not None else self.text
            self._by_type[vtype] = param
        return param


def vector_text(values: list[float], vtype: str) -> str:
    if vtype == "bit":
        bad = [v for v in values if v not in (0.0, 1.0)]
        if bad:
            raise QueryError(f"a bit vector takes 0/1 values, got {bad[0]!r}")
        return "".join("1" if v else "0" for v in values)
    if vtype == "sparsevec":
        nz = ",".join(f"{i + 1}:{float(v)!r}" for i, v in enumerate(values) if v != 0)
        return f"{{{nz}}}/{len(values)}"
    return json.dumps(values, separators=(",", ":"))  # floats as repr (round-trip exact), C-accelerated


def parse_vector_value(text: str, vtype: str) -> list[float]:
    if vtype == "bit":
        return [1.0 if ch == "1" else 0.0 for ch in text]
    if vtype == "sparsevec":
        body, _, dim = text.rpartition("/")
        out = [0.0] * int(dim)
        inner = body.strip("{}")
        for item in filter(None, inner.split(",")):
            i, _, v = item.partition(":")
            out[int(i) - 1] = float(v)
        return out
    return [float(x) for x in json.loads(text)]


def _dims(text: str, vtype: str) -> int:
    if vtype == "bit":
        return len(text)
    if vtype == "sparsevec":
        return int(text.rpartition("/")[2])
    return text.count(",") + 1


# --- SQL ------------------------------------------------------------------------------------------


SERVER_MS = sql.SQL("(1000 * extract(epoch from clock_timestamp() - statement_timestamp()))::float8 as server_ms")


def knn_statement(relation: tuple[str, str], column: str, vtype: str, measure: str, where: sql.Composable, *,
                  include_vector: bool = False, exact_in_sql: bool = False, pod_label: bool = False,
                  has_metadata: bool = True, timed: bool = True) -> sql.Composed:
    """`select id, distance, metadata[, vec][, pod] ... order by distance limit k`.

    Placeholders in order: query vector, [pod label], filter params..., [query vector], limit.
    `timed` adds a last column `server_ms`: the server's time from receiving the statement to producing
    that row (volatile, so evaluated after any sort and never shipped through FDW); the last row's
    value is the server execution time, at no extra statement or round trip.
    ORDER BY names the output column (`distance`): the same expression with the same parameter, so
    HNSW serves it and, in a UNION ALL branch, the foreign scan sits right under the Append (async).
    `exact_in_sql` orders by `(vec <=> q) + 0` instead (the vector is passed a second time), which no
    index serves but postgres_fdw still ships: an exact search on the pod even through a foreign
    table, where SET LOCAL cannot reach.
    """
    col = sql.Identifier(column)
    qv = sql.SQL("%s::{}").format(sql.Identifier(vtype))
    # `<%>` (jaccard) holds a percent sign: doubled, as every literal % in a statement with parameters
    dist = sql.SQL("{} {} {}").format(col, sql.SQL(MEASURES[measure].replace("%", "%%")), qv)
    cols = [sql.SQL("id"), sql.SQL("{} as distance").format(dist),
            sql.SQL("metadata") if has_metadata else sql.SQL("'{}'::jsonb as metadata")]
    if include_vector:
        cols.append(sql.SQL("{}::text as vec_text").format(col))
    if pod_label:
        cols.append(sql.SQL("%s::text as pod"))
    if timed:
        cols.append(SERVER_MS)
    order = sql.SQL("({}) + 0").format(dist) if exact_in_sql else sql.SQL("distance")
    return sql.SQL("select {cols} from {rel} where {where} order by {order} limit %s").format(
        cols=sql.SQL(", ").join(cols), rel=sql.Identifier(*relation), where=where, order=order)


@functools.lru_cache(maxsize=512)
def knn_text(relation: tuple[str, str], column: str, vtype: str, measure: str, where_text: str,
             include_vector: bool = False, exact_in_sql: bool = False, pod_label: bool = False,
             has_metadata: bool = True) -> str:
    """`knn_statement` rendered once per shape, ready for its parameters (`params_text`: a `%` in a name
    is doubled). Safe to cache and reuse: every part of the text comes from identifiers, whitelisted
    operators and the filter's template (`where_text`, itself from `params_text`; values are parameters)."""
    return params_text(knn_statement(relation, column, vtype, measure, sql.SQL(where_text), include_vector=include_vector,
                                     exact_in_sql=exact_in_sql, pod_label=pod_label, has_metadata=has_metadata,
                                     timed=not pod_label))


def knn_params(qtext: Any, fparams: list[Any], limit: int, pod: str | None = None, *, exact_in_sql: bool = False) -> list[Any]:
    return [qtext] + ([pod] if pod is not None else []) + list(fparams) + ([qtext] if exact_in_sql else []) + [limit]


def knob_settings(spec: QuerySpec) -> list[tuple[str, str]]:
    """(GUC, value) pairs for set_config(..., true) == SET LOCAL in the query's transaction."""
    out: list[tuple[str, str]] = []
    if spec.ef_search is not None:
        out.append(("hnsw.ef_search", str(spec.ef_search)))
    if spec.probes is not None:
        out.append(("ivfflat.probes", str(spec.probes)))
    if spec.iterative is not None:
        mode = ITERATIVE[spec.iterative]
        out.append(("hnsw.iterative_scan", mode))
        if mode != "strict_order":  # ivfflat has off / relaxed_order only
            out.append(("ivfflat.iterative_scan", mode))
    if spec.exact:
        out.append(("enable_indexscan", "off"))
    return out


def _knob_statement(knobs: list[tuple[str, str]]) -> tuple[sql.Composable, list[str]]:
    parts = [sql.SQL("set_config(%s, %s, true)") for _ in knobs]
    return sql.SQL("select {}").format(sql.SQL(", ").join(parts)), [x for kv in knobs for x in kv]


EXPLAIN = sql.SQL("explain (analyze, verbose, buffers) ")
# The primary's sessions for the postgres_fdw routes. postgres_fdw's ORDER BY/LIMIT pushdown is a cost
# decision, and with a selective filter the estimate is so small that a local sort of "all" matching
# rows looks cheaper; enable_sort=off makes the pushed-down sort win whenever the server can ship it.
# Set when such a session opens (pooled apart from the others), not per statement: no SET LOCAL
# pipeline on every query.
FDW_SESSION = (("enable_sort", "off"),)


async def run_statement(client: PodClient, pod: str, stmt: str | sql.Composable, params: list[Any], *,
                        knobs: list[tuple[str, str]] | None = None, explain: bool = False,
                        include_vector: bool = False, vtype: str = "vector", label: str | None = None,
                        session: tuple[tuple[str, str], ...] = ()) -> PodRun:
    """One round trip. `stmt` ends with the `server_ms` column (see knn_statement). Without knobs or
    EXPLAIN it is a single statement; otherwise a pipeline [SET LOCAL knobs], the query, [EXPLAIN] in
    one implicit transaction (the knobs end with it; the pooled session stays clean)."""

    async def work(conn: psycopg.AsyncConnection):
        if not knobs and not explain:
            cur = await conn.execute(stmt, params)
            return await cur.fetchall(), None
        async with conn.pipeline():
            if knobs:
                await conn.execute(*_knob_statement(knobs))
            c1 = await conn.execute(stmt, params)
            c3 = await conn.execute(EXPLAIN + (sql.SQL(stmt) if isinstance(stmt, str) else stmt), params) if explain else None
        # leaving the block synced once and collected every result
        rows = await c1.fetchall()
        plan = "\n".join(r[0] for r in await c3.fetchall()) if c3 is not None else None
        return rows, plan

    t = time.perf_counter()
    try:
        raw, plan = await client.run(pod, work, session=session)
    except psycopg.Error as exc:
        raise pod_error(exc, client.pod(pod)) from None
    client_ms = (time.perf_counter() - t) * 1000
    server_ms = max((r[-1] for r in raw), default=None)
    out = []
    for r in raw:
        vec = parse_vector_value(r[3], vtype) if include_vector else None
        pod_of = r[-2] if label == "column" else label
        out.append(ResultRow(id=r[0], distance=float(r[1]), metadata=r[2] if r[2] is not None else {}, pod=pod_of,
                             vector=vec))
    return PodRun(rows=out, client_ms=client_ms, server_ms=server_ms, plan=plan)


# --- topology helpers -----------------------------------------------------------------------------


def _holders(topology: Topology, schema: str, name: str) -> list[tuple[PodStatus, Collection]]:
    out = []
    for p in topology.pods:
        if not p.up:
            continue
        c = p.collection(schema, name)
        if c is not None and c.kind != "foreign":
            out.append((p, c))
    return out


def _wired(topology: Topology, config: Config, holder: str, schema: str, name: str) -> tuple[ForeignTable, ForeignServer] | None:
    """The primary's foreign table that reads `schema.name` on pod `holder`."""
    primary = topology.primary
    if primary is None:
        return None
    servers = {s.name: s for s in primary.foreign_servers}
    candidates = [f for f in primary.foreign_tables if f.remote_schema == schema and f.remote_table == name]
    resolved = [(f, servers.get(f.server)) for f in candidates if f.server in servers]
    # only a server decided to reach the holder (`service.endpoints`); one of unknown reach is never taken
    exact = [(f, s) for f, s in resolved if pod_of_server(config, s).pod == holder]
    return exact[0] if exact else None


def _views_reading(primary: PodStatus, ft: ForeignTable) -> list[str]:
    return [v.qualified for v in primary.views if ft.qualified in v.reads]


def _index_warning(c: Collection, measure: str) -> str | None:
    if measure in c.measures_indexed():
        return None
    ops = f"{c.type}_{measure}_ops"
    return (f"no valid hnsw/ivfflat index on {c.pod} {c.qualified} serves {measure} ({ops}): "
            f"the query scans every row (exact)")


# --- the service ------------------------------------------------------------------------------------


async def run_query(client: PodClient, spec: QuerySpec, topology: Topology | None = None) -> QueryResult:
    check_spec(spec)
    try:
        client.pod(spec.pod)
    except Exception:
        raise QueryError(f"unknown pod {spec.pod!r} (configured: {', '.join(p.name for p in client.config.pods)})") from None
    where, fparams, warnings = compile_and_lint(spec.filters)
    if topology is None:
        if spec.route == "direct":
            pod_status = await read_pod(client, client.pod(spec.pod))
            topology = Topology(pods=[pod_status], taken_at=datetime.now(timezone.utc))
        else:
            topology = await snapshot(client)
    home_pod = topology.pod(spec.pod)
    if home_pod is None or not home_pod.up:
        reason = home_pod.error if home_pod is not None else "not in the topology"
        raise PodUnavailable(spec.pod, f"not available: {reason}")
    home = home_pod.collection(spec.schema, spec.collection)
    if home is None:
        names = ", ".join(c.qualified for c in home_pod.collections) or "none"
        raise QueryError(f"no collection {spec.schema}.{spec.collection} on pod {spec.pod} (collections: {names})")
    if spec.measure not in MEASURE_TYPES or home.type not in MEASURE_TYPES[spec.measure]:
        raise QueryError(f"measure {spec.measure} does not apply to {home.type} column {home.qualified}.{home.column} "
                         f"(use {', '.join(m for m, t in MEASURE_TYPES.items() if home.type in t)})")
    if spec.filters and not home.has_metadata:
        raise FilterError("filters", f"{home.qualified} on {spec.pod} has no jsonb `metadata` column to filter on")

    qv, source, ndim = await _query_vector(client, spec, home)
    if home.dimension is not None and ndim != home.dimension:
        raise QueryError(f"dimension mismatch: the query vector has {ndim} dimensions but {home.qualified} on "
                         f"{spec.pod} is {home.type}({home.dimension})")

    targets = _targets(client.config, topology, spec, home, warnings)
    for t in targets:
        if not (spec.exact):
            w = _index_warning(t.collection, spec.measure) or cache_warning(topology.pod(t.holder), t.collection,
                                                                            spec.measure)
            if w and w not in warnings:
                warnings.append(w)
        if t.collection.dimension is not None and t.collection.dimension != ndim:
            raise QueryError(f"dimension mismatch: the query vector has {ndim} dimensions but "
                             f"{t.collection.qualified} on {t.holder} is {t.collection.type}({t.collection.dimension})")
        qv.for_type(t.collection.type)  # packed per type here: a value out of range fails before anything runs

    knobs = knob_settings(spec)
    if spec.route in ("primary", "federated"):
        remote_knobs = [(k, v) for k, v in knobs if k != "enable_indexscan"]
        if remote_knobs:
            warnings.append(_fdw_knob_note(targets, remote_knobs))
        # Nothing set on the primary reaches the pods (exact goes into the SQL instead). What the primary
        # does own is its planner: see FDW_SESSION.
        knobs = []
        if spec.exact:
            warnings.append("exact search through postgres_fdw: ORDER BY distance + 0 (shipped to the pod, "
                            "served by no index) instead of SET LOCAL enable_indexscan, which stays on the primary")
    elif spec.iterative in ("strict", "strict_order") and any(
            i.method == "ivfflat" and i.measure == spec.measure for t in targets for i in t.collection.indexes):
        warnings.append("ivfflat.iterative_scan has no strict_order: only hnsw.iterative_scan was set")

    t0 = time.perf_counter()
    if spec.route == "federated":
        runs, preview = await _federated(client, spec, targets, where, fparams, qv, warnings)
    else:
        runs, preview = await _per_target(client, spec, targets, where, fparams, qv, knobs, warnings)
    client_ms = (time.perf_counter() - t0) * 1000

    if len(runs) == 1:  # one statement: already ordered by distance, at most `limit` rows
        rows = next(iter(runs.values())).rows
    else:
        rows = sorted((r for run in runs.values() for r in run.rows), key=lambda r: r.distance)[: spec.limit]
    server_times = [r.server_ms for r in runs.values() if r.server_ms is not None]
    plan = None
    if spec.explain:
        plan = "\n\n".join((f"-- {label}\n{run.plan}" if len(runs) > 1 else run.plan)
                           for label, run in runs.items() if run.plan)
        if any(t.via_fdw for t in targets) and plan:
            warnings.extend(_pushdown_warnings(plan))

    result = QueryResult(
        spec=spec, rows=rows, route=spec.route, client_ms=client_ms,
        server_ms=max(server_times) if server_times else None, limit=spec.limit, underfilled=False,
        warnings=warnings, plan=plan, recall=None, preview=preview,
        per_pod_ms={label: run.client_ms for label, run in runs.items()}, source=source,
        route_detail=_route_detail(spec, targets, topology), knobs=dict(knob_settings(spec)),
    )
    if len(rows) < spec.limit and not spec.exact:
        await _check_underfill(client, spec, targets, where, fparams, result)
    if spec.recall:
        result.recall = await _recall(client, spec, targets, where, fparams, qv, rows)
    return result


async def _query_vector(client: PodClient, spec: QuerySpec, home: Collection) -> tuple[QueryVector, str, int]:
    """(the vector, where it came from, its dimension)."""
    if spec.vector is not None:
        try:
            values = check_vector(list(spec.vector) if not isinstance(spec.vector, list) else spec.vector)
        except InputError as exc:  # the same line, as this query's own error
            raise QueryError(str(exc)) from None
        return QueryVector(values=values), f"vector ({len(values)} values)", len(values)
    rel = sql.Identifier(home.schema, home.name)
    col = sql.Identifier(home.column)

    async def by_id(conn: psycopg.AsyncConnection):
        cur = await conn.execute(sql.SQL("select id, {}::text from {} where id = %s").format(col, rel), [spec.like_id])
        return await cur.fetchone()

    async def pick(conn: psycopg.AsyncConnection):
        rows = home.rows_estimate or 0
        if rows > 0 and home.kind != "foreign":  # TABLESAMPLE is not supported on foreign tables
            pct = min(100.0, max(0.0001, 100.0 * 200 / rows))
            cur = await conn.execute(
                sql.SQL("select id, {}::text from {} tablesample system (%s) order by random() limit 1").format(col, rel),
                [pct])
            row = await cur.fetchone()
            if row:
                return row
        cur = await conn.execute(sql.SQL("select id, {}::text from {} order by random() limit 1").format(col, rel))
        return await cur.fetchone()

    try:
        row = await client.run(spec.pod, by_id if spec.like_id is not None else pick)
    except psycopg.Error as exc:
        raise pod_error(exc, client.pod(spec.pod)) from None
    if row is None:
        if spec.like_id is not None:
            raise QueryError(f"like: no row with id {spec.like_id!r} in {home.qualified} on {spec.pod}")
        raise QueryError(f"random: {home.qualified} on {spec.pod} is empty")
    return (QueryVector(text=row[1]), f"like {row[0]}" if spec.like_id is not None else f"random row {row[0]}",
            _dims(row[1], home.type))


def _targets(config: Config, topology: Topology, spec: QuerySpec, home: Collection, warnings: list[str]) -> list[Target]:
    if spec.route == "direct":
        return [Target(run_on=spec.pod, relation=(home.schema, home.name), holder=spec.pod, collection=home)]
    primary = topology.primary
    if spec.route == "primary":
        if primary is None:  # the config names none: the route asked for cannot exist (exit 2)
            raise QueryError("route primary: no primary pod in the configuration")
        if not primary.up:  # configured but down: the pod's state (exit 1)
            raise PodUnavailable(primary.name, f"route primary: {primary.error or 'down'}")
        holder, coll = spec.pod, home
        if home.kind == "foreign" and spec.pod == primary.name:
            ft = next((f for f in primary.foreign_tables if (f.schema, f.name) == (home.schema, home.name)), None)
            server = next((s for s in primary.foreign_servers if ft and s.name == ft.server), None)
            if ft is None or server is None:
                raise QueryError(f"route primary: {home.qualified} on {primary.name} is not a postgres_fdw foreign table")
            holder = pod_of_server(config, server).pod or server.name
            return [Target(run_on=primary.name, relation=(ft.schema, ft.name), holder=holder, collection=home, server=server)]
        wired = _wired(topology, config, holder, spec.schema, spec.collection)
        if wired is None:
            raise QueryError(f"route primary: the primary has no foreign table for {spec.schema}.{spec.collection} "
                             f"on {spec.pod} (wire it first: vecdash wire {spec.pod} {spec.collection})")
        ft, server = wired
        if not server.pushdown_vector:
            warnings.append(f"server {server.name} lacks extensions 'vector': ORDER BY distance LIMIT k is not "
                            f"shipped, every matching row crosses the wire and is sorted on the primary")
        return [Target(run_on=primary.name, relation=(ft.schema, ft.name), holder=holder, collection=coll, server=server)]
    holders = _holders(topology, spec.schema, spec.collection)
    down = [p.name for p in topology.pods if not p.up]
    if down:
        warnings.append(f"pods down, not queried: {', '.join(down)}")
    if spec.route == "fanout":
        return [Target(run_on=p.name, relation=(c.schema, c.name), holder=p.name, collection=c) for p, c in holders]
    # federated
    if primary is None:
        raise QueryError("route federated: no primary pod in the configuration")
    if not primary.up:
        raise PodUnavailable(primary.name, f"route federated: {primary.error or 'down'}")
    out = []
    for p, c in holders:
        if p.name == primary.name:
            out.append(Target(run_on=primary.name, relation=(c.schema, c.name), holder=p.name, collection=c))
            continue
        wired = _wired(topology, config, p.name, spec.schema, spec.collection)
        if wired is None:
            warnings.append(f"{p.name} holds {c.qualified} but the primary has no foreign table for it: "
                            f"left out of the federated answer (use --route fanout, or wire it)")
            continue
        ft, server = wired
        if not server.pushdown_vector:
            warnings.append(f"server {server.name} lacks extensions 'vector': its branch sorts every row on the primary")
        out.append(Target(run_on=primary.name, relation=(ft.schema, ft.name), holder=p.name, collection=c, server=server))
    if not out:
        raise QueryError(f"route federated: no pod's {spec.schema}.{spec.collection} is reachable from the primary")
    serial = sorted({t.server.name for t in out if t.server and t.server.options.get("async_capable", "").lower() != "true"})
    if len(out) > 1 and serial:
        warnings.append(f"servers not async_capable ({', '.join(serial)}): their branches run one after another; "
                        f"ALTER SERVER ... OPTIONS (ADD async_capable 'true') lets the primary run them concurrently "
                        f"(and parallel_commit 'true' ends the remote transactions together)")
    return out


async def _per_target(client: PodClient, spec: QuerySpec, targets: list[Target], where: sql.Composable,
                      fparams: list[Any], qv: QueryVector, knobs: list[tuple[str, str]],
                      warnings: list[str]) -> tuple[dict[str, PodRun], Callable[[], str]]:
    where_text = params_text(where)
    session = FDW_SESSION if spec.route == "primary" else ()

    def stmt_for(t: Target) -> str:
        return knn_text(t.relation, t.collection.column, t.collection.type, spec.measure, where_text,
                        spec.include_vector, spec.exact and t.remote, False, t.collection.has_metadata)

    async def one(t: Target) -> PodRun:
        return await run_statement(client, t.run_on, stmt_for(t), knn_params(qv.for_type(t.collection.type), fparams, spec.limit,
                                                                                exact_in_sql=spec.exact and t.remote),
                                   knobs=knobs, explain=spec.explain, include_vector=spec.include_vector,
                                   vtype=t.collection.type, label=t.holder, session=session)

    if not targets:
        raise QueryError(f"no pod holds {spec.schema}.{spec.collection}")
    if len(targets) == 1:  # the common case: no gather (one task and loop turn less per query)
        outcomes: list[Any] = [await one(targets[0])]
    else:
        outcomes = await asyncio.gather(*(one(t) for t in targets), return_exceptions=True)
    runs: dict[str, PodRun] = {}
    failed = []
    for t, o in zip(targets, outcomes):
        if isinstance(o, BaseException):
            if len(targets) == 1 or not isinstance(o, (PodError, QueryError)):
                raise o
            failed.append((t, o))
        else:
            runs[t.holder] = o
    if not runs:
        raise failed[0][1]
    for t, exc in failed:  # fanout degrades: the pods that answered still give an answer
        warnings.append(f"left out of the answer: {exc}")
        targets.remove(t)
    first = targets[0]
    where_ran = f"on {first.run_on}" if len(targets) == 1 else "on each of " + ", ".join(t.run_on for t in targets)
    preview = functools.partial(_preview, stmt_for(first), knn_params(qv.for_type(first.collection.type), fparams, spec.limit,
                                                                       exact_in_sql=spec.exact and first.remote),
                                knobs, where_ran, session)
    return runs, preview


@dataclass(frozen=True)
class Branch:
    """One pod's part of a federated statement: the relation the primary reads it through."""

    relation: tuple[str, str]
    column: str
    vtype: str
    has_metadata: bool
    label: str
    remote: bool = True


def federated_statement(branches: list[Branch], measure: str, where_text: str, fparams: list[Any],
                        vector_for: Callable[[str], Any], limit: int, *, include_vector: bool = False,
                        exact: bool = False) -> tuple[str, list[Any]]:
    """`(branch order by distance limit k) union all ... order by distance limit k`, with its params.
    `vector_for(column_type)` gives the query vector parameter for a branch (QueryVector.for_type)."""
    params = []
    for b in branches:
        params += knn_params(vector_for(b.vtype), fparams, limit, pod=b.label, exact_in_sql=exact and b.remote)
    return _federated_text(tuple(branches), measure, where_text, include_vector, exact), params + [limit]


@functools.lru_cache(maxsize=256)
def _federated_text(branches: tuple[Branch, ...], measure: str, where_text: str, include_vector: bool,
                    exact: bool) -> str:
    parts = [sql.SQL("({})").format(sql.SQL(knn_text(b.relation, b.column, b.vtype, measure, where_text, include_vector,
                                                      exact and b.remote, True, b.has_metadata)))
             for b in branches]
    # OFFSET 0 fences the UNION ALL: the primary sorts the k-per-branch rows itself, so the branches
    # sit under an Append (async when the servers allow it), not a Merge Append that starts them in turn.
    return params_text(sql.SQL("select *, {} from ({} offset 0) u order by distance limit %s").format(
        SERVER_MS, sql.SQL(" union all ").join(parts)))


async def _federated(client: PodClient, spec: QuerySpec, targets: list[Target], where: sql.Composable,
                     fparams: list[Any], qv: QueryVector, warnings: list[str]) -> tuple[dict[str, PodRun], Callable[[], str]]:
    stmt, params = federated_statement(
        [Branch(t.relation, t.collection.column, t.collection.type, t.collection.has_metadata, t.holder, t.remote)
         for t in targets], spec.measure, params_text(where), fparams, qv.for_type, spec.limit,
        include_vector=spec.include_vector, exact=spec.exact)
    primary = targets[0].run_on
    run = await run_statement(client, primary, stmt, params, session=FDW_SESSION, explain=spec.explain,
                              include_vector=spec.include_vector, vtype=targets[0].collection.type, label="column")
    preview = functools.partial(_preview, stmt, params, [], f"on {primary}, {len(targets)} branches", FDW_SESSION)
    return {primary: run}, preview


async def _check_underfill(client: PodClient, spec: QuerySpec, targets: list[Target], where: sql.Composable,
                           fparams: list[Any], result: QueryResult) -> None:
    """Fewer rows than asked: count (up to k) the rows that match, on the pods holding them."""

    async def count(t: Target) -> int:
        pod, relation, _ = _rows_home(client, t)
        rel = sql.Identifier(*relation)
        stmt = sql.SQL("select count(*) from (select 1 from {} where {} limit %s) s").format(rel, where)

        async def work(conn: psycopg.AsyncConnection) -> int:
            cur = await conn.execute(stmt, list(fparams) + [spec.limit])
            return (await cur.fetchone())[0]

        try:
            return await client.run(pod, work)
        except psycopg.Error as exc:
            raise pod_error(exc, client.pod(pod)) from None

    holders = {t.holder: t for t in targets}
    counts = await asyncio.gather(*(count(t) for t in holders.values()))
    matching = min(spec.limit, sum(counts))
    result.matching_rows = matching
    if matching > len(result.rows):
        result.underfilled = True
        ef = spec.ef_search or DEFAULT_EF_SEARCH
        if spec.iterative in (None, "off"):
            hint = (f"the index scan stopped after its candidates (hnsw.ef_search={ef}) and the filter removed "
                    f"most of them: use --iterative relaxed (hnsw.iterative_scan) or raise --ef-search")
        else:
            hint = ("even the iterative scan gave up (hnsw.max_scan_tuples / ivfflat.max_probes reached): "
                    "raise those, or use --exact")
        if spec.route in ("primary", "federated"):
            hint += "; on this route the setting must be made on the pod (see the note on knobs)"
        result.warnings.append(f"under-filled: {len(result.rows)} of {spec.limit} rows returned but at least "
                               f"{matching} match the filter; {hint}")
    elif matching < spec.limit:
        result.warnings.append(f"only {matching} rows match the filter (fewer than limit {spec.limit})")


async def _recall(client: PodClient, spec: QuerySpec, targets: list[Target], where: sql.Composable,
                  fparams: list[Any], qv: QueryVector, rows: list[ResultRow]) -> float:
    """recall@k: the share of the exact top-k (exact scan on the pods holding the rows) returned."""
    holders = {t.holder: t for t in targets}

    async def exact(t: Target) -> PodRun:
        pod, relation, via_fdw = _rows_home(client, t)
        stmt = knn_text(relation, t.collection.column, t.collection.type, spec.measure, params_text(where),
                        False, via_fdw, False, t.collection.has_metadata)
        return await run_statement(client, pod, stmt, knn_params(qv.for_type(t.collection.type), fparams, spec.limit,
                                                                 exact_in_sql=via_fdw),
                                   knobs=[("enable_indexscan", "off")], vtype=t.collection.type, label=t.holder)

    runs = await asyncio.gather(*(exact(t) for t in holders.values()))
    truth = sorted((r for run in runs for r in run.rows), key=lambda r: r.distance)[: spec.limit]
    if not truth:
        return 1.0
    want = {(r.pod, r.id) for r in truth}
    got = {(r.pod, r.id) for r in rows}
    return len(want & got) / len(want)


def _rows_home(client: PodClient, t: Target) -> tuple[str, tuple[str, str], bool]:
    """Where to count / scan exactly: the pod holding the rows, or the route's own relation when that
    pod is not in the configuration (a foreign server vecdash cannot map to a pod)."""
    if any(p.name == t.holder for p in client.config.pods):
        return t.holder, (t.collection.schema, t.collection.name), t.collection.kind == "foreign"
    return t.run_on, t.relation, t.remote


def _fdw_knob_note(targets: list[Target], knobs: list[tuple[str, str]]) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in knobs)
    flags = " ".join(f"-c {k}={v}" for k, v in knobs)
    servers = sorted({t.server.name for t in targets if t.server})
    srv = servers[0] if servers else "SERVER"
    alter = sql.SQL("ALTER SERVER {} OPTIONS (ADD options {})").format(sql.Identifier(srv), sql.Literal(flags))
    role = "; ".join(f"ALTER ROLE <mapped user> SET {k} = {v}" for k, v in knobs)
    return (f"not applied: {settings}. Settings made on the primary do not travel through postgres_fdw (the "
            f"pod's session keeps its defaults). Set them for the wiring: {alter.as_string(None)} (new FDW "
            f"sessions only; SELECT postgres_fdw_disconnect_all() on the primary), or per role on the pod: {role}")


def plan_remote_settings(topology: Topology, server: str, settings: dict[str, str]) -> Plan:
    """DDL that makes the pod's FDW sessions start with `settings` (libpq `options` on the server)."""
    primary = topology.primary
    if primary is None:
        raise QueryError("no primary pod in the topology")
    srv = next((s for s in primary.foreign_servers if s.name == server), None)
    if srv is None:
        raise QueryError(f"no foreign server {server!r} on {primary.name}")
    for k, v in settings.items():
        if k not in ("hnsw.ef_search", "hnsw.iterative_scan", "ivfflat.probes", "ivfflat.iterative_scan",
                     "hnsw.max_scan_tuples", "ivfflat.max_probes") or not str(v).replace("_", "").isalnum():
            raise QueryError(f"setting {k}={v!r} cannot be put in server options")
    existing = srv.options.get("options", "")
    flags = " ".join(([existing] if existing else []) + [f"-c {k}={v}" for k, v in settings.items()])
    verb = sql.SQL("SET") if existing else sql.SQL("ADD")
    stmt = sql.SQL("ALTER SERVER {} OPTIONS ({} options {})").format(sql.Identifier(server), verb, sql.Literal(flags))
    text = stmt.as_string(None)
    return Plan(title=f"pod sessions of server {server} start with {', '.join(f'{k}={v}' for k, v in settings.items())}",
                pod=primary.name, steps=[PlanStep(purpose="libpq options for new FDW sessions", sql=stmt, preview=text)],
                notes=["takes effect for new FDW sessions: SELECT postgres_fdw_disconnect_all() on the primary"])


def _pushdown_warnings(plan: str) -> list[str]:
    out = []
    for line in plan.splitlines():
        s = line.strip()
        if s.startswith("Remote SQL:") and " LIMIT " not in s:
            out.append("a Remote SQL has no ORDER BY ... LIMIT: the pod sends every matching row to the primary")
            break
    return out


def _route_detail(spec: QuerySpec, targets: list[Target], topology: Topology) -> str:
    if spec.route == "direct":
        return f"{spec.pod}: {targets[0].relation[0]}.{targets[0].relation[1]}"
    if spec.route == "fanout":
        return "concurrently on " + ", ".join(f"{t.holder}" for t in targets) + "; top-k merged client side"
    parts = []
    for t in targets:
        if t.via_fdw:
            views = _views_reading(topology.primary, ForeignTable(t.relation[0], t.relation[1], "", "", "")) \
                if topology.primary else []
            seen = f" (read by view {', '.join(views)})" if views else ""
            parts.append(f"{t.run_on}: foreign table {t.relation[0]}.{t.relation[1]}{seen} -> server {t.server.name} "
                         f"-> {t.holder} {t.collection.qualified}")
        else:
            parts.append(f"{t.run_on}: {t.relation[0]}.{t.relation[1]} (local)")
    return "; ".join(parts)


@functools.lru_cache(maxsize=256)
def _preview_sql(stmt: str) -> str:
    return preview_text(stmt)


def _preview(stmt: str | sql.Composable, params: list[Any], knobs: list[tuple[str, str]], where: str,
             session: tuple[tuple[str, str], ...] = ()) -> str:
    lines = [f"-- {where}"]
    for k, v in session:
        lines.append(f"SET {k} = {v};  -- the session was opened with -c {k}={v}")
    for k, v in knobs:
        lines.append(f"SET LOCAL {k} = {v};  -- as set_config(%s, %s, true)")
    lines.append(_preview_sql(stmt if isinstance(stmt, str) else params_text(stmt)) + ";")
    shown = []
    for p in params:
        text = p if isinstance(p, str) else str(p) if isinstance(p, BinaryVector) else \
            json.dumps(getattr(p, "obj", p), default=str)
        if len(text) > 60:
            text = text[:40] + f"... ({len(text)} chars)"
        shown.append(text)
    # the SQL is ours (identifiers, placeholders); only the parameters come from the user
    lines.append(mask_text("-- params: " + " | ".join(shown)))
    return "\n".join(lines)
