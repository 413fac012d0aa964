"""Catalog refresh cost: must stay flat per pod whatever the number of collections.

Each pod gets three extra databases holding 1, 10 and 100 vecs-layout collections (384-d, a few
rows, HNSW + GIN metadata index each: the catalog reads indexes too). A refresh of one pod is timed
for each, interleaved, through the real `snapshot()` with pooled sessions (as the console refreshes).
Round trips are counted, not assumed: libpq's protocol trace of the pooled session records every
message the client sends, and a round trip is one `Sync` (extended protocol) or `Query` (simple).
Then all pods refreshed together (each with 10 collections) are compared with the same pods one
after another (concurrency, not a sum) and with one pod (on 2 cores, 4 servers cannot beat 2x).
"""

from __future__ import annotations

import asyncio
import os
import tempfile

import psycopg
from psycopg import pq, sql

from benchmarks.common import BenchContext, Figure, Ratio, Sample, interleaved, log
from vecdash.config import Config, PodConfig, Settings
from vecdash.db.pods import PodClient
from vecdash.service.catalog import snapshot

COUNTS = (1, 10, 100)
ROWS_PER_COLLECTION = 20
DIM = 384


def _dbname(n: int) -> str:
    return f"catalog_{n}"


def create_vecs_table(conn: psycopg.Connection, table: sql.Identifier, dim: int, rows: int) -> None:
    """A vecs-layout table (id, vec, metadata) filled with `rows` random vectors, by plain SQL (fast)."""
    conn.execute(sql.SQL("create table {} (id varchar primary key, vec vector({}) not null, "
                         "metadata jsonb not null default '{{}}'::jsonb)").format(table, sql.Literal(dim)))
    conn.execute(sql.SQL("insert into {} select 'r' || g, (select array_agg(random())::vector({}) "
                         "from generate_series(1, {}) where g > 0), jsonb_build_object('g', g) "
                         "from generate_series(1, {}) g").format(
        table, sql.Literal(dim), sql.Literal(dim), sql.Literal(rows)))


def ensure_database(ctx: BenchContext, pod: str, n: int, db: str | None = None) -> None:
    """Database `db` (default catalog_<n>) on `pod` with exactly n collections (kept between runs)."""
    db = db or _dbname(n)
    with psycopg.connect(ctx.dsn(pod), autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (db,)).fetchone():
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(db)))
    with psycopg.connect(ctx.pods[pod].dsn(db), autocommit=True) as conn:
        conn.execute("create extension if not exists vector")
        conn.execute("create schema if not exists vecs")
        have = conn.execute("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                            "where n.nspname = 'vecs' and c.relkind = 'r'").fetchone()[0]
        if have == n:
            return
        conn.execute("drop schema vecs cascade")
        conn.execute("create schema vecs")
        with conn.transaction():
            for i in range(n):
                t = sql.Identifier("vecs", f"coll_{i:03d}")
                create_vecs_table(conn, t, DIM, ROWS_PER_COLLECTION)
                conn.execute(sql.SQL("create index {} on {} using hnsw (vec vector_cosine_ops)").format(
                    sql.Identifier(f"ix_hnsw_{i:03d}"), t))
                conn.execute(sql.SQL("create index {} on {} using gin (metadata jsonb_path_ops)").format(
                    sql.Identifier(f"ix_meta_{i:03d}"), t))
        conn.execute("analyze")
    log(f"  {pod}/{db}: {n} collections")


def _config(ctx: BenchContext, pods: list[tuple[str, str]]) -> Config:
    return Config(pods=tuple(PodConfig(name=f"{p}/{db}", role="secondary", dsn=ctx.pods[p].dsn(db)) for p, db in pods),
                  settings=Settings(statement_timeout_ms=30_000, connect_timeout_s=5), path="<bench>")


async def count_round_trips(client: PodClient, *, activity: bool = False) -> int:
    """Refresh once with a protocol trace on the pooled session; count the client's Sync/Query messages
    (a pipeline of several statements ends with one Sync: one round trip)."""
    await snapshot(client, activity=activity)  # leaves one idle session per pod in the pool
    [name] = [p.name for p in client.config.pods]
    conn = client._idle[(name, ())][-1]  # the pool of plain sessions to that pod
    with tempfile.TemporaryFile(mode="w+") as f:
        conn.pgconn.trace(f.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            topo = await snapshot(client, activity=activity)
        finally:
            conn.pgconn.untrace()
        assert client._idle[(name, ())][-1] is conn, "the refresh did not reuse the traced session"
        f.seek(0)
        lines = [line.split("\t") for line in f.read().splitlines()]
    assert topo.all_up
    return sum(1 for parts in lines if len(parts) > 2 and parts[0] == "F" and parts[2] in ("Sync", "Query"))


def run(ctx: BenchContext) -> list:
    pod_names = list(ctx.pods)
    one = pod_names[-1]
    for n in COUNTS:
        ensure_database(ctx, one, n)
    for p in pod_names[:-1]:
        ensure_database(ctx, p, 10)

    rounds = 20 if ctx.quick else 60
    loop = asyncio.new_event_loop()
    clients = {n: PodClient(_config(ctx, [(one, _dbname(n))])) for n in COUNTS}
    clients["all"] = PodClient(_config(ctx, [(p, _dbname(10)) for p in pod_names]))
    singles = [PodClient(_config(ctx, [(p, _dbname(10))])) for p in pod_names]

    def one_by_one():
        for c in singles:
            loop.run_until_complete(snapshot(c))

    try:
        trips = {n: loop.run_until_complete(count_round_trips(clients[n])) for n in COUNTS}
        collections = {n: len(loop.run_until_complete(snapshot(clients[n])).pods[0].collections) for n in COUNTS}
        assert collections == {n: n for n in COUNTS}, collections
        samples = interleaved(
            {f"{n} collections": (lambda c=clients[n]: loop.run_until_complete(snapshot(c))) for n in COUNTS}
            | {f"{len(pod_names)} pods x 10": lambda: loop.run_until_complete(snapshot(clients["all"])),
               f"{len(pod_names)} pods one by one": one_by_one},
            rounds, warmup=3)
    finally:
        for c in [*clients.values(), *singles]:
            loop.run_until_complete(c.close())
        loop.close()

    s1, s10, s100 = (samples[f"{n} collections"] for n in COUNTS)
    many = samples[f"{len(pod_names)} pods x 10"]
    serial = samples[f"{len(pod_names)} pods one by one"]
    per_pod = Sample(f"{len(pod_names)} pods / pod", [ms / len(pod_names) for ms in many.ms])
    return [
        Figure("catalog round trips per pod (1/10/100 colls)", float(max(trips.values())), "round trips",
               target=2, op="<=", detail=" / ".join(f"{n}: {trips[n]}" for n in COUNTS)),
        Ratio("catalog refresh 10 vs 1 collections", s10, s1, target=2.0),
        Ratio("catalog refresh 100 vs 1 collections", s100, s1, target=10.0),
        # concurrency, not a sum: all pods at once cost clearly less than one after another
        Ratio(f"catalog refresh {len(pod_names)} pods together vs one by one", many, serial, target=0.75),
        Figure(f"catalog refresh {len(pod_names)} pods together vs 1 pod", round(many.median / s10.median, 2), "x",
               detail=f"{many.median:.2f} vs {s10.median:.2f} ms; {len(pod_names)} servers on {os.cpu_count()} cores"),
        Figure("catalog refresh ms per pod at 100 collections", round(s100.median, 2), "ms",
               detail=f"{s100.spread()}; {len(pod_names)} pods concurrently: {per_pod.median:.2f} ms per pod"),
    ]


if __name__ == "__main__":  # python -m benchmarks.bench_catalog [--quick]
    from benchmarks.common import run_alone

    run_alone(run)
