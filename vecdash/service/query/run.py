"""Running a query: its statements on the pods (one round trip each), the answer merged, and the checks
that follow it (under-filled results, recall)."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable

import psycopg
from psycopg import sql

from vecdash.db.connect import pod_error
from vecdash.db.placeholders import params_text
from vecdash.db.pods import PodClient
from vecdash.errors import PodError
from vecdash.inputs import InputError, check_vector
from vecdash.lines import short_vectors
from vecdash.model import MEASURE_TYPES, Collection, Topology
from vecdash.service.cache_fit import cache_warning
from vecdash.service.catalog import find_collection, pod_config, read_pod, snapshot
from vecdash.service.filters import FilterError, compile_and_lint
from vecdash.service.query.advice import fdw_knob_note, index_warning, pushdown_warnings
from vecdash.service.query.fast import FDW_PATH, FAST_PATH, FastCall, fast_call, fast_detail, fast_params, fast_text, pod_labels
from vecdash.service.query.routes import Target, route_detail, route_targets, rows_home
from vecdash.service.query.spec import (DEFAULT_EF_SEARCH, QueryError, QueryResult, QuerySpec, ResultRow, check_spec,
                                        knob_settings)
from vecdash.service.query.statements import (EXPLAIN, FDW_SESSION, Branch, federated_statement, knn_params, knn_text,
                                              knob_statement, render_preview)
from vecdash.service.query.vectors import QueryVector, parse_vector_value, vector_dims


@dataclass
class PodRun:
    """One statement's answer from one pod."""

    rows: list[ResultRow]
    client_ms: float
    server_ms: float | None
    plan: str | None


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
                await conn.execute(*knob_statement(knobs))
            c1 = await conn.execute(stmt, params)
            c3 = await conn.execute(EXPLAIN + (sql.SQL(stmt) if isinstance(stmt, str) else stmt), params) if explain else None
        # leaving the block synced once and collected every result
        rows = await c1.fetchall()
        # the query vector appears in the plan as a literal: cut, or a 384-d plan is pages of numbers
        plan = short_vectors("\n".join(r[0] for r in await c3.fetchall())) if c3 is not None else None
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


# --- the service ------------------------------------------------------------------------------------


async def run_query(client: PodClient, spec: QuerySpec, topology: Topology | None = None) -> QueryResult:
    check_spec(spec)
    pod_config(client, spec.pod, QueryError)
    where, fparams, warnings = compile_and_lint(spec.filters)
    if topology is None:
        if spec.route == "direct":
            pod_status = await read_pod(client, client.pod(spec.pod))
            topology = Topology(pods=[pod_status], taken_at=datetime.now(timezone.utc))
        else:
            topology = await snapshot(client)
    home = await find_collection(client, spec.pod, spec.schema, spec.collection, topology, QueryError)
    if spec.filters and not home.has_metadata:
        raise FilterError("filters", f"{home.qualified} on {spec.pod} has no jsonb `metadata` column to filter on")

    qv, source, ndim = await _query_vector(client, spec, home)
    if home.dimension is not None and ndim != home.dimension:
        raise QueryError(f"dimension mismatch: the query vector has {ndim} dimensions but {home.qualified} on "
                         f"{spec.pod} is {home.type}({home.dimension})")

    targets = route_targets(client.config, topology, spec, home, warnings)
    measure_note = None
    if spec.measure is None:
        spec, measure_note = _measure_from_data(spec, home, targets)
    if spec.measure not in MEASURE_TYPES or home.type not in MEASURE_TYPES[spec.measure]:
        raise QueryError(f"measure {spec.measure} does not apply to {home.type} column {home.qualified}.{home.column} "
                         f"(use {', '.join(m for m, t in MEASURE_TYPES.items() if home.type in t)})")
    for t in targets:
        if not (spec.exact):
            w = index_warning(t.collection, spec.measure) or cache_warning(topology.pod(t.holder), t.collection,
                                                                           spec.measure)
            if w and w not in warnings:
                warnings.append(w)
        if t.collection.dimension is not None and t.collection.dimension != ndim:
            raise QueryError(f"dimension mismatch: the query vector has {ndim} dimensions but "
                             f"{t.collection.qualified} on {t.holder} is {t.collection.type}({t.collection.dimension})")
        qv.for_type(t.collection.type)  # packed per type here: a value out of range fails before anything runs

    knobs = knob_settings(spec)
    fast, not_fast = fast_call(spec, targets, topology)
    if not_fast:
        warnings.append(not_fast)
    if fast is not None:
        knobs = []  # the function's parameters: applied in the pod's own transaction
    elif spec.route in ("primary", "federated"):
        remote_knobs = [(k, v) for k, v in knobs if k != "enable_indexscan"]
        if remote_knobs:
            warnings.append(fdw_knob_note(targets, remote_knobs))
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
    if fast is not None:
        runs, preview = await _fast(client, spec, fast, targets, qv)
    elif spec.route == "federated":
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
            warnings.extend(pushdown_warnings(plan))

    result = QueryResult(
        spec=spec, rows=rows, route=spec.route, client_ms=client_ms,
        server_ms=max(server_times) if server_times else None, limit=spec.limit, underfilled=False,
        warnings=warnings, plan=plan, recall=None, preview=preview,
        per_pod_ms={label: run.client_ms for label, run in runs.items()}, source=source,
        route_detail=fast_detail(fast, targets) if fast else route_detail(spec, targets, topology),
        knobs=dict(knob_settings(spec)), measure_note=measure_note,
        vector_used=qv.values if qv.values is not None else functools.partial(parse_vector_value, qv.text, home.type),
        path=FAST_PATH if fast else FDW_PATH if spec.route in ("primary", "federated") else "",
    )
    if len(rows) < spec.limit and not spec.exact:
        await _check_underfill(client, spec, targets, where, fparams, result)
    if spec.recall:
        result.recall = await _recall(client, spec, targets, where, fparams, qv, rows)
    return result


def _measure_from_data(spec: QuerySpec, home: Collection, targets: list[Target]) -> tuple[QuerySpec, str]:
    """The spec with the measure its collection's valid vector index serves (the scanned collections'
    first index; a foreign table has none, so the pods' are asked), and a line saying so."""
    scanned = [home] + [t.collection for t in targets if t.collection is not home]
    indexed = next((c for c in scanned if c.measures_indexed()), home)
    measure, why = indexed.default_measure()
    where = "" if indexed is home else f" on {indexed.pod} {indexed.qualified}"
    return replace(spec, measure=measure), f"measure {measure}: {why}{where} (none was chosen)"


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
            vector_dims(row[1], home.type))


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
    preview = functools.partial(render_preview, stmt_for(first),
                                knn_params(qv.for_type(first.collection.type), fparams, spec.limit,
                                           exact_in_sql=spec.exact and first.remote),
                                knobs, where_ran, session)
    return runs, preview


async def _federated(client: PodClient, spec: QuerySpec, targets: list[Target], where: sql.Composable,
                     fparams: list[Any], qv: QueryVector, warnings: list[str]) -> tuple[dict[str, PodRun], Callable[[], str]]:
    stmt, params = federated_statement(
        [Branch(t.relation, t.collection.column, t.collection.type, t.collection.has_metadata, t.holder, t.remote)
         for t in targets], spec.measure, params_text(where), fparams, qv.for_type, spec.limit,
        include_vector=spec.include_vector, exact=spec.exact)
    primary = targets[0].run_on
    run = await run_statement(client, primary, stmt, params, session=FDW_SESSION, explain=spec.explain,
                              include_vector=spec.include_vector, vtype=targets[0].collection.type, label="column")
    preview = functools.partial(render_preview, stmt, params, [], f"on {primary}, {len(targets)} branches", FDW_SESSION)
    return {primary: run}, preview


async def _fast(client: PodClient, spec: QuerySpec, call: FastCall, targets: list[Target],
                qv: QueryVector) -> tuple[dict[str, PodRun], Callable[[], str]]:
    """One statement on the primary: the fast-path function, the knobs among its parameters."""
    fn = call.function
    stmt = fast_text(fn.schema, fn.name, fn.all_pods, fn.query_type)
    params = fast_params(call, spec, qv.for_type(fn.query_type))
    primary = targets[0].run_on
    run = await run_statement(client, primary, stmt, params, vtype=fn.query_type,
                              label="column" if call.all_pods else targets[0].holder)
    if call.all_pods:
        labels = pod_labels(targets)
        for r in run.rows:
            r.pod = labels.get(r.pod, r.pod)
    preview = functools.partial(render_preview, stmt, params, [], f"on {primary}, {FAST_PATH}")
    return {primary: run}, preview


async def _check_underfill(client: PodClient, spec: QuerySpec, targets: list[Target], where: sql.Composable,
                           fparams: list[Any], result: QueryResult) -> None:
    """Fewer rows than asked: count (up to k) the rows that match, on the pods holding them."""

    async def count(t: Target) -> int:
        pod, relation, _ = rows_home(client, t)
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
                    f"most of them: set iterative to relaxed_order (hnsw.iterative_scan) or raise ef_search")
        else:
            hint = ("even the iterative scan gave up (hnsw.max_scan_tuples / ivfflat.max_probes reached): "
                    "raise those, or search exact")
        if spec.route in ("primary", "federated") and result.path != FAST_PATH:
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
        pod, relation, via_fdw = rows_home(client, t)
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


