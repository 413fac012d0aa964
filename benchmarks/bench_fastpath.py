"""The fast path (issue 17): k-NN through the primary over dblink vs postgres_fdw vs the pods themselves.

`fpdocs` on pod-a, pod-b, pod-c (ctx.rows x 384 each, clustered, HNSW cosine m=16 ef_construction=64;
100,000 rows, 20,000 with --quick) is wired into the primary by `service.wiring` with `fast_path=True`
(a view per pod and its `<view>_knn`; with the three, `fpdocs_knn_all`). Every variant is the statement
an application sends, on its own session with the statement_timeout vecdash's own sessions carry (the
dblink connections stay open in the primary's session, as the functions keep them), k=10, timed
round-robin in a shuffled order on the same held-out vectors, pods prewarmed; medians and ratios:

- `<view>_knn` / direct on the pod                         target <= 1.5x
- the floor: the same k-NN statement by one dblink() call from the primary, no PL/pgSQL, / direct
- `<view>_knn` on a session without statement_timeout (the function polls instead of blocking) / direct
- `<view>_knn` / the postgres_fdw view
- `fpdocs_knn_all` over 3 pods / client fanout (3 sessions, concurrently)   target <= 1.2x
- `fpdocs_knn_all` / postgres_fdw UNION ALL (async foreign scans)
- ids differing from direct (and `_knn_all` from the fanout) over every timed query   target 0
"""

from __future__ import annotations

import asyncio
import os
import time

import numpy as np
import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import sql

from benchmarks.common import BenchContext, Figure, Ratio, interleaved, log
from vecdash import datagen
from vecdash.db.pods import PodClient
from vecdash.service import wiring
from vecdash.service.catalog import snapshot
from vecdash.service.query import Branch, federated_statement, knn_statement
from vecdash.service.query.routes import wired_table
from vecdash.service.wiring import pod_ident

NAME = "fpdocs"
PODS = ["pod-a", "pod-b", "pod-c"]
SEEDS = {"pod-a": 7, "pod-b": 8, "pod-c": 9}
N_QUERIES = int(os.environ.get("VECDASH_BENCH_FASTPATH_N", "100"))


def view_of(pod: str) -> str:
    return f"{NAME}_{pod_ident(pod).removeprefix('pod_')}"


async def _wire(ctx: BenchContext) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Unwire, then wire each pod with the fast path; the foreign table of each pod (for the UNION ALL)
    and its foreign server (for the dblink floor)."""
    client = PodClient(ctx.config(["primary", *PODS]))
    try:
        for pod in PODS:
            await wiring.apply_plan(client, await wiring.plan_unwire(client, pod, NAME))
        for pod in PODS:
            plan = await wiring.plan_wire(client, pod, NAME, view=f"public.{view_of(pod)}", fast_path=True)
            await wiring.apply_plan(client, plan)
        topo = await snapshot(client)
        tables, servers = [], {}
        for pod in PODS:
            ft, server = wired_table(topo, client.config, pod, "vecs", NAME)
            tables.append((ft.schema, ft.name))
            servers[pod] = server.name
        fns = {f.qualified for f in topo.primary.knn_functions}
        want = {f"public.{view_of(p)}_knn" for p in PODS} | {f"public.{NAME}_knn_all"}
        if not want <= fns:
            raise RuntimeError(f"the fast path was not made: {sorted(want - fns)} missing (have {sorted(fns)})")
        return tables, servers
    finally:
        await client.close()


def _queries(ctx: BenchContext) -> list[np.ndarray]:
    """Held-out vectors from pod-a's distribution (same seed, rows past the table's end)."""
    extra = datagen.clustered_vectors(ctx.rows + N_QUERIES, ctx.dim, seed=SEEDS["pod-a"])[ctx.rows:]
    return [np.asarray(v, dtype=np.float32) for v in extra]


def run(ctx: BenchContext) -> list:
    for i, pod in enumerate(PODS):
        ctx.ensure_collection(pod, NAME, seed=SEEDS[pod], start=i * ctx.rows)
        ctx.prewarm(pod, NAME)
    tables, servers = asyncio.run(_wire(ctx))
    queries = _queries(ctx)
    loop = asyncio.new_event_loop()

    timeout_ms = ctx.config().settings.statement_timeout_ms

    def connect(pod: str, timeout: bool = True) -> psycopg.AsyncConnection:
        """A session as vecdash's service opens one: with a statement_timeout (`timeout=False`: without)."""
        conn = loop.run_until_complete(psycopg.AsyncConnection.connect(ctx.dsn(pod), autocommit=True))
        loop.run_until_complete(register_vector_async(conn))
        if timeout:
            loop.run_until_complete(conn.execute(sql.SQL("set statement_timeout = {}").format(sql.Literal(timeout_ms))))
        return conn

    direct = knn_statement(("vecs", NAME), "vec", "vector", "cosine", sql.SQL("true"), timed=False)
    view = knn_statement(("public", view_of("pod-a")), "vec", "vector", "cosine", sql.SQL("true"), timed=False)
    fast = sql.SQL("select id, distance, metadata from {}(%s, %s)").format(sql.Identifier("public", f"{view_of('pod-a')}_knn"))
    fast_all = sql.SQL("select id, distance, metadata, pod from {}(%s, %s)").format(sql.Identifier("public", f"{NAME}_knn_all"))
    branches = [Branch(t, "vec", "vector", True, p) for t, p in zip(tables, PODS)]
    conns = {k: connect("primary") for k in ("view", "fast", "all", "union", "dblink")}
    conns["fast_poll"] = connect("primary", timeout=False)
    loop.run_until_complete(conns["dblink"].execute("select dblink_connect('bench', %s)", [servers["pod-a"]]))
    pods = {p: connect(p) for p in PODS}
    direct_a = connect("pod-a")  # its own session: the fanout's pod-a session is not the single query's
    loop.run_until_complete(conns["union"].execute("set enable_sort = off"))  # as the service's FDW sessions

    async def one(conn, stmt, params):
        cur = await conn.execute(stmt, params)
        return await cur.fetchall()

    def floor_sql(q) -> str:
        """The k-NN statement `_knn` sends, after the same settings, as one dblink() call would send it."""
        text = "[" + ",".join(repr(float(x)) for x in q) + "]"
        return sql.SQL("set local transaction_read_only = on; set local statement_timeout = {}; "
                       "select id::text, vec operator(public.<=>) {}::public.vector as distance, metadata "
                       "from vecs.{} where true order by distance limit 10").format(
            sql.Literal(timeout_ms), sql.Literal(text), sql.Identifier(NAME)).as_string(None)

    floor = "select * from dblink('bench', %s) as t(id text, distance float8, metadata jsonb)"
    floor_text = {id(q): floor_sql(q) for q in queries}  # made before timing, as the function makes it on the primary

    async def fanout(q):
        parts = await asyncio.gather(*(one(pods[p], direct, [q, 10]) for p in PODS))
        return sorted((r for rows in parts for r in rows), key=lambda r: r[1])[:10]

    variants = {
        "direct": lambda q: one(direct_a, direct, [q, 10]),
        "view": lambda q: one(conns["view"], view, [q, 10]),
        "fast": lambda q: one(conns["fast"], fast, [q, 10]),
        "fast_poll": lambda q: one(conns["fast_poll"], fast, [q, 10]),
        "dblink": lambda q: one(conns["dblink"], floor, [floor_text[id(q)]]),
        "fanout": fanout,
        "knn_all": lambda q: one(conns["all"], fast_all, [q, 10]),
        "union": lambda q: one(conns["union"], *federated_statement(branches, "cosine", "true", [], lambda _t: q, 10)),
    }
    answers: dict[str, dict[int, list]] = {k: {} for k in variants}

    def make(key: str, offset: int):
        state = {"i": offset}

        def call():
            i = state["i"] % len(queries)
            state["i"] += 1
            answers[key][i] = loop.run_until_complete(variants[key](queries[i]))
        return call

    try:
        t = time.perf_counter()
        n = (3 if ctx.quick else 5) * len(queries)  # whole passes: every variant runs every query alike
        load = os.getloadavg()[0]
        s = interleaved({k: make(k, 7 * j + 1) for j, k in enumerate(variants)}, n, warmup=5, shuffle=True)
        load = f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}"
        log(f"  {load}")
        log(f"  {n} rounds of {len(variants)} variants in {time.perf_counter() - t:.0f} s")
    finally:
        for c in [*conns.values(), *pods.values(), direct_a]:
            loop.run_until_complete(c.close())
        loop.close()

    def ids(key: str, i: int) -> list[str]:
        return [r[0] for r in answers[key][i]]

    sampled = sorted(answers["direct"])
    fast_diff = sum(ids("fast", i) != ids("direct", i) for i in sampled)
    view_diff = sum(ids("view", i) != ids("direct", i) for i in sampled)
    all_diff = sum(ids("knn_all", i) != ids("fanout", i) for i in sampled)
    floor_diff = sum(ids("dblink", i) != ids("direct", i) or ids("fast_poll", i) != ids("direct", i) for i in sampled)
    union_diff = sum(ids("union", i) != ids("fanout", i) for i in sampled)
    return [
        Ratio("fastpath: _knn / direct", s["fast"], s["direct"], 1.5, "<="),
        Figure("fastpath: dblink() floor / direct", s["dblink"].median / s["direct"].median, "x",
               detail=f"the same statement by one dblink() call, no PL/pgSQL: {s['dblink'].median:.2f} ms vs "
                      f"direct {s['direct'].median:.2f} ms; _knn / floor {s['fast'].median / s['dblink'].median:.2f}x; "
                      f"{load}"),
        Figure("fastpath: _knn without a caller statement_timeout / direct", s["fast_poll"].median / s["direct"].median, "x",
               detail=f"polling dblink_is_busy instead of a blocking wait: {s['fast_poll'].median:.2f} ms vs "
                      f"_knn {s['fast'].median:.2f} ms"),
        Figure("fastpath: _knn / postgres_fdw view", s["fast"].median / s["view"].median, "x",
               detail=f"_knn {s['fast'].median:.2f} ms vs view {s['view'].median:.2f} ms "
                      f"(view / direct {s['view'].median / s['direct'].median:.2f}x)"),
        Ratio("fastpath: _knn_all 3 pods / client fanout", s["knn_all"], s["fanout"], 1.2, "<="),
        Figure("fastpath: _knn_all / postgres_fdw UNION ALL", s["knn_all"].median / s["union"].median, "x",
               detail=f"_knn_all {s['knn_all'].median:.2f} ms vs UNION ALL {s['union'].median:.2f} ms "
                      f"(UNION ALL / fanout {s['union'].median / s['fanout'].median:.2f}x)"),
        Figure("fastpath: queries whose ids differ from direct", float(fast_diff + all_diff), "", 0.0, "<=",
               detail=f"over {len(sampled)} queries: _knn vs direct {fast_diff}, _knn_all vs fanout {all_diff} "
                      f"(view vs direct {view_diff}, UNION ALL vs fanout {union_diff}, floor or polling {floor_diff})"),
    ]


if __name__ == "__main__":
    from benchmarks.common import run_alone

    run_alone(run)
