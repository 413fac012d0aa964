"""Query service figures (issue 4), measured side by side in one run.

- service overhead: `run_query` (direct route) vs raw psycopg running the identical SELECT;
- fanout over 3 pods vs the slowest single pod (concurrency, not a sum);
- federated (one UNION ALL on the primary, async foreign scans) vs fanout;
- recall@10 at the default hnsw.ef_search (40) on held-out query vectors: on the demo's `docs` collection
  (the issue's target) and on the large collection;
- CPU per query (client + server backends): the floor the fanout and federated ratios have on this
  machine's cores.

Data: `qdocs` on pod-a, pod-b, pod-c (ctx.rows x 384 each, clustered, HNSW cosine m=16
ef_construction=64), wired to the primary with postgres_fdw (`extensions 'vector'`, `async_capable`).
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import psycopg
from pgvector.psycopg import register_vector, register_vector_async
from psycopg import sql

from benchmarks.common import BenchContext, Figure, Ratio, Sample, cpu_per_call, interleaved, log
from vecdash import datagen
from vecdash.demo import DEMO_COLLECTIONS, seed_collection
from vecdash.db.pods import PodClient
from vecdash.service.catalog import snapshot
from vecdash.service.query import (Branch, QuerySpec, federated_statement, knn_params, knn_statement, knn_text,
                                   run_query)

NAME = "qdocs"
PODS = ["pod-a", "pod-b", "pod-c"]
SEEDS = {"pod-a": 7, "pod-b": 8, "pod-c": 9}
N_QUERIES = 50


def _wire(ctx: BenchContext) -> None:
    with psycopg.connect(ctx.dsn("primary"), autocommit=True) as conn:
        conn.execute("create extension if not exists vector")
        conn.execute("create extension if not exists postgres_fdw")
        for pod in PODS:
            srv = "qb_" + pod.replace("-", "_")
            p = ctx.pods[pod]
            conn.execute(sql.SQL("drop server if exists {} cascade").format(sql.Identifier(srv)))
            conn.execute(sql.SQL("create server {} foreign data wrapper postgres_fdw options (host '127.0.0.1', "
                                 "port {}, dbname 'postgres', extensions 'vector', async_capable 'true', parallel_commit 'true', "
                                 "fetch_size '100')").format(sql.Identifier(srv), sql.Literal(str(p.port))))
            conn.execute(sql.SQL("create user mapping for current_user server {} options (user 'postgres', password {})")
                         .format(sql.Identifier(srv), sql.Literal(p.password)))
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(srv)))
            conn.execute(sql.SQL("create foreign table {} (id character varying not null, vec vector({}) not null, "
                                 "metadata jsonb not null) server {} options (schema_name 'vecs', table_name {})").format(
                sql.Identifier(srv, NAME), sql.Literal(ctx.dim), sql.Identifier(srv), sql.Literal(NAME)))


def _queries(ctx: BenchContext) -> list[list[float]]:
    """Held-out vectors from pod-a's distribution (same seed, rows past the table's end)."""
    extra = datagen.clustered_vectors(ctx.rows + N_QUERIES, ctx.dim, seed=SEEDS["pod-a"])[ctx.rows:]
    return [[float(x) for x in v] for v in extra]


DEMO = replace(DEMO_COLLECTIONS[0], pod="pod-b")  # the demo estate's `docs`: 20,000 x 384, seed 1


def _ensure_demo_docs(ctx: BenchContext) -> None:
    """The demo's `docs` collection, seeded exactly as `vecdash demo` seeds it (kept between runs)."""
    with psycopg.connect(ctx.dsn(DEMO.pod), autocommit=True) as conn:
        n = conn.execute("select count(*) from pg_indexes where schemaname = 'vecs' and tablename = %s "
                         "and indexdef ilike '%%hnsw%%'", (DEMO.name,)).fetchone()[0]
    if not n:
        seed_collection(ctx.dsn(DEMO.pod), DEMO)
        log(f"  seeded {DEMO.pod}/vecs.{DEMO.name} as the demo does ({DEMO.rows} x {DEMO.dimension})")


def run(ctx: BenchContext) -> list:
    for i, pod in enumerate(PODS):
        ctx.ensure_collection(pod, NAME, seed=SEEDS[pod], start=i * ctx.rows)
        ctx.prewarm(pod, NAME)
    _ensure_demo_docs(ctx)
    _wire(ctx)
    queries = _queries(ctx)
    n = len(queries) if ctx.quick else 2 * len(queries)  # a whole number of passes: every variant runs each query alike
    loop = asyncio.new_event_loop()
    client = PodClient(ctx.config())
    try:
        topo = loop.run_until_complete(snapshot(client))
        missing = [p for p in PODS if topo.pod(p).collection("vecs", NAME) is None]
        if missing:
            raise RuntimeError(f"collection {NAME} missing on {missing}")
        walkers = iter(range(1, 1000))

        def walker() -> Callable[[], list[float]]:
            """Each timed variant walks the whole query list on its own cursor, from its own offset: every
            variant runs the same queries (a shared cursor gave each of two variants the other's half), and
            in one round no variant runs the vector the previous one just warmed."""
            state = {"i": next(walkers) * 7}

            def nextq() -> list[float]:
                state["i"] += 1
                return queries[state["i"] % len(queries)]
            return nextq

        def service(route: str, pod: str = "pod-a"):
            nextq = walker()

            def call():
                return loop.run_until_complete(run_query(client, QuerySpec(pod=pod, collection=NAME, vector=nextq(),
                                                                           limit=10, route=route), topo))
            return call

        # 1. overhead: raw psycopg runs the very statement text the service sends (it carries the
        # server_ms column), the vector passed as pgvector-python passes it (numpy, binary format, as
        # vecdash does); a SELECT without that column, on a sync connection, is measured as a floor.
        stmt = knn_text(("vecs", NAME), "vec", "vector", "cosine", "true")
        bare = knn_statement(("vecs", NAME), "vec", "vector", "cosine", sql.SQL("true"), timed=False).as_string(None)
        raw_conn = psycopg.connect(ctx.dsn("pod-a"), autocommit=True)
        register_vector(raw_conn)
        araw = loop.run_until_complete(psycopg.AsyncConnection.connect(ctx.dsn("pod-a"), autocommit=True))
        loop.run_until_complete(register_vector_async(araw))

        same_q, bare_q = walker(), walker()

        async def same_statement():
            cur = await araw.execute(stmt, knn_params(np.asarray(same_q(), dtype=np.float32), [], 10))
            return await cur.fetchall()

        def raw_same():
            return loop.run_until_complete(same_statement())

        def raw_bare():
            return raw_conn.execute(bare, knn_params(np.asarray(bare_q(), dtype=np.float32), [], 10)).fetchall()

        log("   timing: service vs raw psycopg")
        s1 = interleaved({"vecdash run_query": service("direct"), "raw psycopg": raw_same, "bare select": raw_bare}, n)
        raw_conn.close()
        loop.run_until_complete(araw.close())

        # Raw psycopg + pgvector sessions (no vecdash): the same statements, to tell what the machine
        # and postgres_fdw allow any client from what vecdash's own path adds.
        raw_pods = {p: loop.run_until_complete(psycopg.AsyncConnection.connect(ctx.dsn(p), autocommit=True))
                    for p in PODS + ["primary"]}
        for c in raw_pods.values():
            loop.run_until_complete(register_vector_async(c))
        loop.run_until_complete(raw_pods["primary"].execute("set enable_sort = off"))  # as the service's FDW sessions
        fed_branches = [Branch(("qb_" + p.replace("-", "_"), NAME), "vec", "vector", True, p) for p in PODS]

        async def raw_one(p: str, q):
            cur = await raw_pods[p].execute(stmt, knn_params(q, [], 10))
            return await cur.fetchall()

        def raw_single(p: str):
            nextq = walker()
            return lambda: loop.run_until_complete(raw_one(p, np.asarray(nextq(), dtype=np.float32)))

        async def raw_fanout_q(q: np.ndarray):
            parts = await asyncio.gather(*(raw_one(p, q) for p in PODS))
            return sorted((r for rows in parts for r in rows), key=lambda r: r[1])[:10]

        async def raw_federated_q(q: np.ndarray):
            text, params = federated_statement(fed_branches, "cosine", "true", [], lambda _type: q, 10)
            cur = await raw_pods["primary"].execute(text, params)
            return await cur.fetchall()

        def raw(fn):
            nextq = walker()
            return lambda: loop.run_until_complete(fn(np.asarray(nextq(), dtype=np.float32)))

        log("   timing: fanout vs single pods")
        fns = {"fanout 3 pods": service("fanout")}
        fns.update({f"direct {p}": service("direct", p) for p in PODS})
        fns["raw fanout"] = raw(raw_fanout_q)
        fns.update({f"raw {p}": raw_single(p) for p in PODS})
        s2 = interleaved(fns, n)
        slowest = max((s2[f"direct {p}"] for p in PODS), key=lambda s: s.median)
        slowest = Sample(f"slowest single ({slowest.label.split()[-1]})", slowest.ms)
        raw_slowest = max((s2[f"raw {p}"] for p in PODS), key=lambda s: s.median)
        raw_slowest = Sample(f"raw slowest single ({raw_slowest.label.split()[-1]})", raw_slowest.ms)
        summed = sum(s2[f"direct {p}"].median for p in PODS)

        log("   timing: federated vs fanout")
        s3 = interleaved({"federated": service("federated"), "fanout": service("fanout"),
                          "raw federated": raw(raw_federated_q), "raw fanout": raw(raw_fanout_q)}, n)
        for c in raw_pods.values():
            loop.run_until_complete(c.close())

        log("   CPU per query: the floor these ratios have on this machine's cores")

        async def backend_pid(pod: str) -> int:
            async def q(conn):
                return (await (await conn.execute("select pg_backend_pid()")).fetchone())[0]
            return await client.run(pod, q)

        async def fdw_pids(pod: str) -> list[int]:
            async def q(conn):
                cur = await conn.execute("select pid from pg_stat_activity where application_name = 'postgres_fdw'")
                return [r[0] for r in await cur.fetchall()]
            return await client.run(pod, q)

        pod_pids = [loop.run_until_complete(backend_pid(p)) for p in PODS]
        fed_pids = [loop.run_until_complete(backend_pid("primary"))]
        for p in PODS:
            fed_pids += loop.run_until_complete(fdw_pids(p))
        m = 150 if ctx.quick else 300
        fan_cpu, fan_wall = cpu_per_call(service("fanout"), m, pod_pids)
        fed_cpu, fed_wall = cpu_per_call(service("federated"), m, fed_pids)
        cores = os.cpu_count() or 1

        log("   recall@10 at default ef_search")
        recalls = []
        for q in queries:
            r = loop.run_until_complete(run_query(client, QuerySpec(pod="pod-a", collection=NAME, vector=q, limit=10,
                                                                    recall=True), topo))
            recalls.append(r.recall)
        demo_queries = datagen.clustered_vectors(DEMO.rows + N_QUERIES, DEMO.dimension, seed=DEMO.seed)[DEMO.rows:]
        demo_recalls = [loop.run_until_complete(run_query(client, QuerySpec(
            pod=DEMO.pod, collection=DEMO.name, vector=[float(x) for x in q], limit=10, recall=True), topo)).recall
            for q in demo_queries]
        fed_check = loop.run_until_complete(run_query(client, QuerySpec(pod="pod-a", collection=NAME, vector=queries[0],
                                                                        limit=10, route="federated", explain=True), topo))
        async_ok = fed_check.plan.count("Async Foreign Scan") == len(PODS)
    finally:
        loop.run_until_complete(client.close())
        loop.close()
    return [
        Ratio("query: service overhead vs raw psycopg", s1["vecdash run_query"], s1["raw psycopg"], 1.10),
        Figure("query: service vs bare sync SELECT", s1["vecdash run_query"].median / s1["bare select"].median,
               unit="x", detail=f"sync psycopg, SELECT without the server_ms column {s1['bare select'].median:.2f} ms: "
                                f"asyncio + timing column, no target"),
        Ratio("query: fanout 3 pods vs slowest single pod", s2["fanout 3 pods"], slowest, 1.3),
        Figure("query: fanout 3 pods vs sum of single pods", s2["fanout 3 pods"].median / summed, unit="x",
               detail=f"sum of the three direct medians {summed:.2f} ms: below 1 means the pods ran concurrently "
                      f"(on 2 cores three HNSW scans compete for CPU)"),
        Figure("query: fanout CPU floor vs slowest single pod", fan_cpu / cores / slowest.median, unit="x",
               detail=f"client + 3 pod backends use {fan_cpu:.2f} ms CPU per fanout query (wall {fan_wall:.2f} ms): "
                      f"on {cores} cores no fanout beats {fan_cpu / cores:.2f} ms even with perfect sharing; that "
                      f"CPU alone needs {math.ceil(fan_cpu / (1.3 * slowest.median))} cores for 1.3x"),
        Figure("query: raw psycopg fanout vs its slowest single pod", s2["raw fanout"].median / raw_slowest.median,
               unit="x", detail=f"no vecdash: asyncio.gather over 3 psycopg sessions, same statement "
                                f"({s2['raw fanout'].median:.2f} vs {raw_slowest.median:.2f} ms): what this machine "
                                f"allows any client"),
        Ratio("query: federated vs fanout", s3["federated"], s3["fanout"], 1.5),
        Figure("query: raw psycopg federated vs raw fanout", s3["raw federated"].median / s3["raw fanout"].median,
               unit="x", detail=f"no vecdash: the same UNION ALL on the primary vs gather over the pods "
                                f"({s3['raw federated'].median:.2f} vs {s3['raw fanout'].median:.2f} ms): what "
                                f"postgres_fdw allows any client"),
        Figure("query: federated CPU floor vs fanout", fed_cpu / cores / s3["fanout"].median, unit="x",
               detail=f"client + primary + 3 postgres_fdw backends use {fed_cpu:.2f} ms CPU per federated query "
                      f"(wall {fed_wall:.2f} ms) vs {fan_cpu:.2f} ms for fanout"),
        Figure("query: recall@10, demo docs (ef_search 40)", statistics.mean(demo_recalls), target=0.9,
               detail=f"the demo's docs collection ({DEMO.rows:,} x {DEMO.dimension}, seeded as `vecdash demo` does), "
                      f"mean of {len(demo_recalls)} held-out queries, min {min(demo_recalls):.2f}"),
        Figure(f"query: recall@10, {ctx.rows:,} rows (ef_search 40)", statistics.mean(recalls),
               detail=f"qdocs on pod-a, no target (the issue's is on the demo data): mean of {len(recalls)} held-out "
                      f"queries, min {min(recalls):.2f}; federated plan async: {async_ok}"),
    ]
