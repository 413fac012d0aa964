"""Recall tuning: recall@k and latency across ef_search (HNSW) or probes (IVFFlat) values.

No redundant work: the sample queries are drawn once, their exact answers are computed ONCE by one
streamed binary COPY of the collection (on a second session importing the sweep's snapshot) (fixed-width rows parsed by numpy, top-k merged chunk by
chunk so memory stays flat), and each setting then costs only its `samples` index queries. Rows are
identified by ctid (fixed width, so the COPY parses without a per-row Python loop); the sweep runs
in one REPEATABLE READ snapshot so ctids and answers agree.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

import numpy as np
import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import sql

from vecdash.db.connect import connect_sync, pod_error
from vecdash.db.long_session import long_session
from vecdash.db.pods import PodClient
from vecdash.errors import UserError
from vecdash.model import MEASURE_TYPES, MEASURES, Plan, PlanStep
from vecdash.model_indexes import Recommendation, ScopeCheck, Sweep, SweepPoint
from vecdash.service.collections import require
from vecdash.service.indexes import list_indexes

HNSW_VALUES = [10, 20, 40, 80, 160, 320]
IVFFLAT_VALUES = [1, 2, 4, 8, 16, 32, 64]
SETTINGS = {"hnsw": "hnsw.ef_search", "ivfflat": "ivfflat.probes"}
# the measures of a `vector` column: what _distances computes
VECTOR_MEASURES = tuple(m for m, types in MEASURE_TYPES.items() if "vector" in types)
CHUNK_ROWS = 20_000


class RecallError(UserError):
    pass


def _row_dtype(dim: int) -> np.dtype:
    # binary COPY row of (ctid, vec): nfields, len, tid(block, offset), len, dim, unused, floats
    return np.dtype([("nf", ">i2"), ("l1", ">i4"), ("blk", ">u4"), ("off", ">u2"), ("l2", ">i4"),
                     ("dim", ">i2"), ("unused", ">i2"), ("v", ">f4", (dim,))])


def _distances(q: np.ndarray, x: np.ndarray, measure: str) -> np.ndarray:
    if measure == "cosine":
        qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
        xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
        return 1.0 - qn @ xn.T
    if measure == "l2":
        return (x * x).sum(axis=1)[None, :] - 2.0 * (q @ x.T)
    if measure == "ip":
        return -(q @ x.T)
    return np.stack([np.abs(x - qi).sum(axis=1) for qi in q])


class _TopK:
    """Running top-k (smallest distances) per query over chunks of candidates.

    After the first chunk most candidates are farther than every query's current k-th best, so a
    cheap comparison against that threshold discards them before any partial sort.
    """

    def __init__(self, nq: int, k: int):
        self.k = k
        self.d = np.full((nq, k), np.inf, dtype=np.float32)
        self.ids = np.full((nq, k), -1, dtype=np.int64)

    def add(self, d: np.ndarray, ids: np.ndarray) -> None:
        d = d.astype(np.float32, copy=False)
        worst = self.d.max(axis=1)
        hit = d < worst[:, None]
        rows = np.flatnonzero(hit.any(axis=1))
        for r in rows:
            cols = np.flatnonzero(hit[r])
            cd = np.concatenate([self.d[r], d[r, cols]])
            ci = np.concatenate([self.ids[r], ids[cols]])
            keep = np.argpartition(cd, self.k - 1)[: self.k] if cd.size > self.k else np.arange(cd.size)
            self.d[r], self.ids[r] = cd[keep], ci[keep]


def exact_neighbours(conn: psycopg.Connection, schema: str, name: str, dim: int, queries: np.ndarray,
                     k: int, measure: str) -> list[set[int]]:
    """Exact top-k row codes (block << 16 | offset) for every query, from one streamed COPY.

    Runs on a plain (sync) session in a worker thread: psycopg's sync COPY reader is about a third
    faster than the async one per row. Chunks of CHUNK_ROWS rows are scored by a second thread
    (numpy releases the GIL) while the next chunk streams in; at most two chunks are in memory.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    dtype = _row_dtype(dim)
    top = _TopK(len(queries), k)
    q = queries.astype(np.float64 if measure == "l1" else np.float32)
    if measure == "cosine":
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)

    def consume(blob: bytes) -> None:
        rows = np.frombuffer(blob, dtype=dtype)
        if (rows["nf"] != 2).any() or (rows["dim"] != dim).any():
            raise RecallError("unexpected row layout in COPY stream (mixed dimensions)")
        codes = (rows["blk"].astype(np.int64) << 16) | rows["off"].astype(np.int64)
        x = rows["v"].astype(q.dtype)
        if measure == "cosine":
            d = -(q @ x.T) / np.maximum(np.sqrt(np.einsum("ij,ij->i", x, x)), 1e-30)[None, :]
        else:
            d = _distances(q, x, measure)
        top.add(d, codes)

    parts: list[bytes] = []
    held = 0
    header = True
    chunk_bytes = CHUNK_ROWS * dtype.itemsize
    stmt = sql.SQL("copy (select ctid, vec from {} where vec is not null) to stdout (format binary)").format(
        sql.Identifier(schema, name))
    with ThreadPoolExecutor(1) as pool:
        pending: Future | None = None

        def flush(final: bool) -> None:
            nonlocal parts, held, pending, header
            blob = b"".join(parts)
            if header:
                ext = int.from_bytes(blob[15:19], "big")
                blob = blob[19 + ext:]
                header = False
            usable = (len(blob) // dtype.itemsize) * dtype.itemsize
            if final and len(blob) - usable != 2:  # the trailer is an int16 -1
                usable = ((len(blob) - 2) // dtype.itemsize) * dtype.itemsize
            rest = blob[usable:]
            parts, held = [rest], len(rest)
            if pending is not None:
                pending.result()
                pending = None
            if usable:
                pending = pool.submit(consume, blob[:usable])
            if final and pending is not None:
                pending.result()

        with conn.cursor().copy(stmt) as cp:
            for data in cp:
                parts.append(bytes(data))
                held += len(data)
                if held >= chunk_bytes:
                    flush(False)
        flush(True)
    return [set(int(c) for c in row if c >= 0) for row in top.ids]


def _exact_in_snapshot(client: PodClient, pod: str, snapshot: str, *args) -> list[set[int]]:
    """exact_neighbours on a second session that imports the sweep's snapshot (same rows, same ctids)."""
    cfg = client.pod(pod)
    try:
        conn = connect_sync(cfg, client.config.settings, read_only=client.read_only)
    except (psycopg.OperationalError, OSError) as exc:
        raise pod_error(exc, cfg) from None
    with conn:
        conn.execute("select set_config('statement_timeout', '0', false)")
        with conn.transaction():
            conn.execute("set transaction isolation level repeatable read")
            conn.execute(sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot)))
            return exact_neighbours(conn, *args)


def _tid_code(tid: str) -> int:
    block, offset = tid.strip("()").split(",")
    return (int(block) << 16) | int(offset)


async def sample_queries(conn: psycopg.AsyncConnection, schema: str, name: str, rows_estimate: int, samples: int,
                         seed: int = 42) -> np.ndarray:
    """`samples` vectors drawn from the collection (Bernoulli sample, repeatable for a seed). Needs
    register_vector_async on `conn`."""
    table = sql.Identifier(schema, name)
    pct = min(100.0, 100.0 * 3 * samples / max(1, rows_estimate))
    cur = await conn.execute(
        sql.SQL("select vec from {} tablesample bernoulli (%s) repeatable (%s) where vec is not null limit %s").format(table),
        (pct, seed, samples))
    sample = [r[0] for r in await cur.fetchall()]
    if len(sample) < samples:
        await conn.execute("select setseed(0.42)")
        cur = await conn.execute(
            sql.SQL("select vec from {} where vec is not null order by random() limit %s").format(table), (samples,))
        sample = [r[0] for r in await cur.fetchall()]
    if not sample:
        raise RecallError(f"{schema}.{name} is empty: nothing to sample")
    return np.stack([np.asarray(v, dtype=np.float32) for v in sample])


async def sweep(
    client: PodClient,
    pod: str,
    collection: str,
    *,
    schema: str = "vecs",
    index: str | None = None,
    k: int = 10,
    samples: int = 100,
    values: list[int] | None = None,
    target: float = 0.95,
    seed: int = 42,
    on_progress: Callable[[str, float], None] | None = None,
) -> Sweep:
    """Measure recall@k and median latency per ef_search (or probes) value; recommend the smallest reaching target."""
    if not 1 <= k <= 1000:
        raise RecallError(f"bad k {k}: 1 to 1000")
    if not 1 <= samples <= 10_000:
        raise RecallError(f"bad samples {samples}: 1 to 10000")
    if not 0 < target <= 1:
        raise RecallError(f"bad target {target}: a recall between 0 and 1")
    f = await require(client, pod, collection, schema)
    if f.type != "vector":
        raise RecallError(f"{schema}.{collection} is {f.type}: recall sweeps support vector columns")
    candidates = [i for i in await list_indexes(client, pod, collection, schema)
                  if i.valid and i.method in SETTINGS and i.measure in VECTOR_MEASURES and (index is None or i.name == index)]
    if not candidates:
        raise RecallError(f"no valid hnsw/ivfflat index{' named ' + index if index else ''} on {schema}.{collection} (pod {pod})")
    ix = candidates[0]
    setting = SETTINGS[ix.method]
    if values is None:
        lists = int(ix.params.get("lists", 1))
        values = HNSW_VALUES if ix.method == "hnsw" else [v for v in IVFFLAT_VALUES if v < lists] + [lists]
    values = sorted(set(int(v) for v in values))
    limit_hi = 1000 if ix.method == "hnsw" else 32768
    if not values or values[0] < 1 or values[-1] > limit_hi:
        raise RecallError(f"bad {setting} values {values}: 1 to {limit_hi}")
    current = await current_value(client, pod, setting)
    if current is not None and current not in values:  # measured too: a recommendation shows its cost against it
        values = sorted(values + [current])
    progress = on_progress or (lambda label, frac: None)
    t_start = time.perf_counter()
    table = sql.Identifier(schema, collection)
    op = sql.SQL(MEASURES[ix.measure])
    async with long_session(client, pod, write=False) as conn:
        await register_vector_async(conn)
        async with conn.transaction():
            await conn.execute("set transaction isolation level repeatable read")
            t = time.perf_counter()
            queries = await sample_queries(conn, schema, collection, f.rows_estimate, samples, seed)
            sample_ms = (time.perf_counter() - t) * 1000
            progress("exact answers", 0.0)
            t = time.perf_counter()
            cur = await conn.execute("select pg_export_snapshot()")
            snapshot = (await cur.fetchone())[0]
            exact = await asyncio.to_thread(_exact_in_snapshot, client, pod, snapshot, schema, collection, f.dimension,
                                            queries, k, ix.measure)
            exact_ms = (time.perf_counter() - t) * 1000
            query = sql.SQL("select ctid from {} order by vec {} %s limit %s").format(table, op)
            # warm the index pages once, so the first setting's latencies are not cold-cache outliers
            async with conn.transaction():
                await conn.execute("select set_config(%s, %s, true), set_config('enable_seqscan', 'off', true)",
                                   (setting, str(values[0])))
                for qv in queries[: min(10, len(queries))]:
                    await (await conn.execute(query, (qv, k), prepare=True)).fetchall()
            points = []
            for n, value in enumerate(values):
                progress(f"{setting} = {value}", n / len(values))
                async with conn.transaction():
                    await conn.execute("select set_config(%s, %s, true), set_config('enable_seqscan', 'off', true)",
                                       (setting, str(value)))
                    lat, recalls = [], []
                    for qv, truth in zip(queries, exact):
                        t = time.perf_counter()
                        cur = await conn.execute(query, (qv, k), prepare=True)
                        got = await cur.fetchall()
                        lat.append((time.perf_counter() - t) * 1000)
                        recalls.append(len({_tid_code(r[0]) for r in got} & truth) / max(1, min(k, len(truth))))
                q = statistics.quantiles(lat, n=10) if len(lat) >= 2 else [lat[0]] * 9
                points.append(SweepPoint(value=value, recall=round(float(np.mean(recalls)), 4),
                                         median_ms=statistics.median(lat), p90_ms=q[-1], total_ms=sum(lat)))
            progress("done", 1.0)
    recommended = next((p.value for p in points if p.recall >= target), None)
    return Sweep(pod=pod, schema=schema, collection=collection, index=ix.name, method=ix.method, setting=setting,
                 measure=ix.measure, k=k, samples=len(queries), target=target, points=points, recommended=recommended,
                 exact_ms=exact_ms, sample_ms=sample_ms, total_ms=(time.perf_counter() - t_start) * 1000,
                 current=current)


async def current_value(client: PodClient, pod: str, setting: str) -> int | None:
    """The value of `setting` a new session on the pod starts with (database / role defaults applied)."""
    async def work(conn: psycopg.AsyncConnection) -> str | None:
        cur = await conn.execute("select current_setting(%s, true)", (setting,))
        return (await cur.fetchone())[0]

    got = await client.run(pod, work)
    return int(got) if got and got.isdigit() else None


async def plan_search_setting(client: PodClient, pod: str, setting: str, value: int, *, scope: str = "database",
                              role: str | None = None) -> Plan:
    """`ALTER DATABASE <current> SET hnsw.ef_search = N` (or ALTER ROLE ... IN DATABASE) as a previewed plan,
    unchecked: `recommend` decides whether the scope holds."""
    if setting not in SETTINGS.values():
        raise RecallError(f"unknown setting {setting!r} (hnsw.ef_search or ivfflat.probes)")
    if scope not in ("database", "role"):
        raise RecallError(f"bad scope {scope!r}: database or role")
    if not isinstance(value, int) or value < 1:
        raise RecallError(f"bad value {value!r} for {setting}")

    async def names(conn: psycopg.AsyncConnection):
        cur = await conn.execute("select current_database(), current_user")
        return await cur.fetchone()

    db, user = await client.run(pod, names)
    target = role or user
    if scope == "database":
        stmt = sql.SQL("alter database {} set {} = {}").format(sql.Identifier(db), sql.SQL(setting), sql.Literal(value))
        where = f"every new session on database {db}"
    else:  # in this database only: the collections a role setting reaches are checked here, not elsewhere
        stmt = sql.SQL("alter role {} in database {} set {} = {}").format(
            sql.Identifier(target), sql.Identifier(db), sql.SQL(setting), sql.Literal(value))
        where = f"every new session of role {target} on database {db}"
    return Plan(title=f"set {setting} = {value} for {where}", pod=pod,
                steps=[PlanStep(purpose=f"default {setting} for {where}", sql=stmt, preview=stmt.as_string(None))],
                notes=["sessions already open keep their value; vecs' query() sets its own ef_search per query "
                       "(pass ef_search= there)"])


# At most this many other collections are measured before a database / role setting is allowed.
MAX_SCOPE_CHECKS = 10
SCOPE_SAMPLES = 50

_REACHED_SQL = """
select distinct on (n.nspname, t.relname) n.nspname, t.relname, ic.relname
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
join pg_am am on am.oid = ic.relam
join pg_class t on t.oid = i.indrelid
join pg_namespace n on n.oid = t.relnamespace
where am.amname = %(method)s and i.indisvalid
  and (%(role)s::text is null or has_table_privilege(%(role)s, t.oid, 'SELECT'))
order by n.nspname, t.relname, ic.relname
"""


async def recommend(client: PodClient, s: Sweep, *, scope: str = "database", role: str | None = None) -> Recommendation:
    """Where to set the sweep's recommendation, checked: a database (or role) default reaches every
    collection with an index of the same method in the database (that the role may read), so a value
    lower than the current one must keep each of them at the target (or no worse than now, if it
    already missed it): each is measured at both values, and the scope is refused when one falls short.
    A higher value never lowers recall (it only costs latency). A per-query setting always holds."""
    arg = "ef_search" if s.method == "hnsw" else "probes"
    per_query = (f"per query instead: {arg} {s.recommended} on the query (the workbench's knob, or vecs' "
                 f"collection.query(..., {arg}={s.recommended}))") if s.recommended is not None else ""
    rec = Recommendation(setting=s.setting, value=s.recommended, current=s.current, scope=scope, plan=None,
                         cost=s.cost(), per_query=per_query)
    if s.recommended is None or s.recommended == s.current:
        return rec
    plan = await plan_search_setting(client, s.pod, s.setting, s.recommended, scope=scope, role=role)
    if s.current is not None and s.recommended > s.current:
        plan.notes.append(f"raises {s.setting} from {s.current}: no collection loses recall; queries on every "
                          f"{s.method} collection this reaches do more work")
        rec.plan = plan
        return rec

    who = None
    if scope == "role":
        who = role or (await client.run(s.pod, _current_user))
    others = [r for r in await _reached(client, s, who) if (r[0], r[1]) != (s.schema, s.collection)]
    reach = "the database's" if who is None else f"role {who}'s"
    if len(others) > MAX_SCOPE_CHECKS:
        rec.refused = (f"{scope} scope reaches {len(others)} other {s.method} collections, more than vecdash measures "
                       f"({MAX_SCOPE_CHECKS}): set it per query, or for a role that reads only {s.collection}")
        return rec
    for schema, name, index in others:
        rec.checks.append(await _check_other(client, s, schema, name, index))
    short = [c for c in rec.checks if not c.holds]
    if short:
        c = short[0]
        rec.refused = (f"{scope} scope: {s.setting} = {s.recommended} reaches {reach} {c.collection}, whose recall@{s.k} "
                       f"would be {_fmt(c.recall_new)} (now {_fmt(c.recall_now)}, target {s.target})"
                       + ("; use the role scope for a role that reads only this collection" if scope == "database" else ""))
        return rec
    if rec.checks:
        plan.notes.append(f"measured on the {len(rec.checks)} other {s.method} collection(s) it reaches: each keeps "
                          f"recall@{s.k} >= {s.target} (or its current recall)")
    rec.plan = plan
    return rec


def _fmt(v: float | None) -> str:
    return "unknown" if v is None else f"{v:.3f}"


async def _current_user(conn: psycopg.AsyncConnection) -> str:
    return (await (await conn.execute("select current_user")).fetchone())[0]


async def _reached(client: PodClient, s: Sweep, role: str | None) -> list[tuple[str, str, str]]:
    """(schema, table, first index) of every table with a valid index of the sweep's method in the
    database; with `role`, only those the role may read."""
    async def work(conn: psycopg.AsyncConnection):
        cur = await conn.execute(_REACHED_SQL, {"method": s.method, "role": role})
        return await cur.fetchall()

    return await client.run(s.pod, work)


async def _check_other(client: PodClient, s: Sweep, schema: str, name: str, index: str) -> ScopeCheck:
    """Recall of another collection at the current and the recommended value (sampled like the sweep)."""
    try:
        o = await sweep(client, s.pod, name, schema=schema, index=index, k=s.k, samples=min(s.samples, SCOPE_SAMPLES),
                        values=[v for v in (s.current, s.recommended) if v is not None], target=s.target)
    except UserError as exc:
        return ScopeCheck(f"{schema}.{name}", index, None, None, False, f"cannot be measured: {exc}")
    now, new = o.point(s.current), o.point(s.recommended)
    r_now = now.recall if now else None
    r_new = new.recall if new else None
    holds = r_new is not None and r_new >= min(s.target, r_now if r_now is not None else s.target)
    return ScopeCheck(f"{schema}.{name}", index, r_now, r_new, holds)
