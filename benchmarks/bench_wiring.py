"""FDW wiring: k-NN through vecdash's wiring vs directly on the pod vs the common hand-made wiring.

One collection on pod-a (100,000 x 384, HNSW cosine; 20,000 with --quick) is wired into the primary by
`service.wiring` (plan + apply, with a view exposing url:text,year:int), and again by hand the common
way (a server without `extensions 'vector'`, postgres_fdw's default fetch_size, a foreign table never
analyzed). vecdash's wiring differs from that in three settings; each also gets a hand-made wiring of
its own that differs from the common one in that setting alone, so each figure says what one setting
buys. Every variant runs the same k=10 queries, round-robin on its own connection; medians and ratios:

- vecdash view / direct on the pod        target <= 1.5x
- hand-made wiring / vecdash wiring       target >= 50x
- hand-made + one setting (extensions 'vector', fetch_size, ANALYZE) / hand-made, each alone
- filtered k-NN, containment (`metadata @> ...`) through the view / direct   (the filter ships)
- filtered k-NN through the view, `metadata->>'year' = '2012'` (the filter does not ship), for scale
"""

from __future__ import annotations

import asyncio
import os
import time

import numpy as np
import psycopg
from psycopg import sql

from benchmarks.common import BenchContext, Figure, Ratio, cpu_per_call, interleaved, log
from vecdash import datagen
from vecdash.db.pods import PodClient
from vecdash.service import wiring
from vecdash.service.wiring import FETCH_SIZE

POD = "pod-a"
NAME = "wire_bench"
# The common hand-made wiring, and the same with exactly one of vecdash's three settings:
# key -> (server and schema name, server options added, ANALYZE the foreign table)
HAND = {
    "legacy": ("legacy_pod_a", [], False),
    "legacy_ext": ("legacy_ext_pod_a", [("extensions", "vector")], False),
    "legacy_fetch": ("legacy_fetch_pod_a", [("fetch_size", FETCH_SIZE)], False),
    "legacy_analyze": ("legacy_analyze_pod_a", [], True),
}
N = int(os.environ.get("VECDASH_BENCH_WIRING_N", "50"))  # hand-made wiring: ~1 s (20k) to ~9 s (100k) each
N_FAST = max(N, 200)


def _queries(ctx: BenchContext, n: int) -> list[np.ndarray]:
    base = datagen.clustered_vectors(ctx.rows, ctx.dim, seed=7)
    rng = np.random.default_rng(11)
    picks = rng.choice(ctx.rows, size=n, replace=False)
    out = []
    for i in picks:
        v = base[i] + rng.standard_normal(ctx.dim).astype(np.float32) * 0.05
        out.append(v / np.linalg.norm(v))
    return out


async def _wire(ctx: BenchContext) -> tuple:
    client = PodClient(ctx.config(["primary", POD]))
    try:
        un = await wiring.plan_unwire(client, POD, NAME)
        await wiring.apply_plan(client, un)
        t = time.perf_counter()
        plan = await wiring.plan_wire(client, POD, NAME, expose=[("url", "text"), ("year", "int")])
        await wiring.apply_plan(client, plan)
        took = (time.perf_counter() - t) * 1000
        ver = await wiring.verify(client, POD, NAME)
        fver = await wiring.verify(client, POD, NAME, where=CONTAINMENT)
        sver = await wiring.verify(client, POD, NAME, where=TEXT_EQUALS)
        return took, ver, fver, sver
    finally:
        await client.close()


def _drop_hand_wiring(ctx: BenchContext) -> None:
    """Before vecdash wires: `wire` reuses a server that already reaches the pod (and would then fix the
    hand-made one too), and dropping that server later would cascade to vecdash's foreign table."""
    with psycopg.connect(ctx.dsn("primary"), autocommit=True) as conn:
        for server, _, _ in HAND.values():
            conn.execute(sql.SQL("drop server if exists {} cascade").format(sql.Identifier(server)))
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(server)))


def _hand_wire(ctx: BenchContext) -> None:
    pod = ctx.pods[POD]
    with psycopg.connect(ctx.dsn("primary"), autocommit=True) as conn:
        for server, extra, analyze in HAND.values():
            opts = [("host", "127.0.0.1"), ("port", str(pod.port)), ("dbname", "postgres"), *extra]
            conn.execute(sql.SQL("create server {} foreign data wrapper postgres_fdw options ({})").format(
                sql.Identifier(server), sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(k), sql.Literal(v))
                                                           for k, v in opts)))
            conn.execute(sql.SQL("create user mapping for current_user server {} options (user 'postgres', password {})")
                         .format(sql.Identifier(server), sql.Literal(pod.password)))
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(server)))
            conn.execute(sql.SQL("create foreign table {} (id character varying not null, vec vector({}) not null, "
                                 "metadata jsonb not null) server {} options (schema_name 'vecs', table_name {})").format(
                sql.Identifier(server, NAME), sql.Literal(ctx.dim), sql.Identifier(server), sql.Literal(NAME)))
            if analyze:  # as vecdash's plan does it (wiring.analyze_sql: a small sample)
                with conn.transaction():
                    conn.execute(wiring.analyze_sql(server, NAME))


def _knn(relation: tuple[str, str], where: sql.Composable | None = None) -> sql.Composed:
    """`select id from R [where ...] order by vec <=> %s limit 10`."""
    q = sql.SQL("select id from {}").format(sql.Identifier(*relation))
    if where is not None:
        q = sql.SQL("{} where {}").format(q, where)
    return sql.SQL("{} order by vec <=> %s limit 10").format(q)


CONTAINMENT = """metadata @> '{"year": 2012}'"""  # ships to the pod
TEXT_EQUALS = "metadata->>'year' = '2012'"  # postgres_fdw keeps it on the primary


def _avg(xs: list[int]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def run(ctx: BenchContext) -> list:
    from pgvector.psycopg import register_vector

    ctx.ensure_collection(POD, NAME)
    ctx.prewarm(POD, NAME)
    _drop_hand_wiring(ctx)
    apply_ms, ver, fver, sver = asyncio.run(_wire(ctx))
    log(f"  wired {POD}/vecs.{NAME} in {apply_ms:.0f} ms; pushdown: {ver.pushdown} ({ver.reason})")
    _hand_wire(ctx)
    qs = _queries(ctx, N + 3)
    stmts = {
        "direct": _knn(("vecs", NAME)),
        "view": _knn(("public", NAME)),
        "view2": _knn(("public", NAME)),
        **{k: _knn((server, NAME)) for k, (server, _, _) in HAND.items()},
        "direct_f": _knn(("vecs", NAME), sql.SQL(CONTAINMENT)),
        "view_f": _knn(("public", NAME), sql.SQL(CONTAINMENT)),
        "view_slow_f": _knn(("public", NAME), sql.SQL(TEXT_EQUALS)),
    }
    conns = {k: psycopg.connect(ctx.dsn(POD if k.startswith("direct") else "primary"), autocommit=True) for k in stmts}
    for c in conns.values():
        register_vector(c)
    # Each variant walks the query list from its own offset: in one round no variant runs the vector the
    # previous one just ran, which would hand it pages that query warmed (it made the view look faster
    # than the direct query it wraps).
    counter = {k: i * 11 for i, k in enumerate(stmts)}
    rows = {k: [] for k in stmts}
    same = {"n": 0, "agree": 0}

    def make(key: str):
        def fn():
            q = qs[counter[key] % len(qs)]
            counter[key] += 1
            out = conns[key].execute(stmts[key], (q,)).fetchall()
            rows[key].append(len(out))
            return out
        return fn

    try:
        # sanity: the view returns what the pod returns
        for q in qs[:5]:
            a = conns["direct"].execute(stmts["direct"], (q,)).fetchall()
            b = conns["view"].execute(stmts["view"], (q,)).fetchall()
            same["n"] += 1
            same["agree"] += a == b
        # phase 1: the fast forms side by side (a legacy query between them would evict the HNSW pages)
        t = time.perf_counter()
        fast = ("direct", "view", "direct_f", "view_f", "view_slow_f")
        samples = interleaved({k: make(k) for k in fast}, n=N_FAST, warmup=10)
        log(f"  {N_FAST} rounds of {len(fast)} fast queries in {time.perf_counter() - t:.0f} s")
        # where the view's extra time goes: CPU of client + primary + pod per query. The chain is serial
        # (each waits for the other), so the sum is a floor for the wall time.
        pid = {k: conns[k].execute("select pg_backend_pid()").fetchone()[0] for k in ("direct", "view")}
        with psycopg.connect(ctx.dsn(POD), autocommit=True) as c:
            fdw = [r[0] for r in c.execute("select pid from pg_stat_activity where application_name = 'postgres_fdw'")]
        m = 200 if ctx.quick else 400
        cpu_direct, _ = cpu_per_call(make("direct"), m, [pid["direct"]])
        cpu_view, _ = cpu_per_call(make("view"), m, [pid["view"]] + fdw)
        cpu_primary, _ = cpu_per_call(make("view"), m, [pid["view"]])
        # phase 2: the hand-made wirings (common, and with each of vecdash's settings alone) against vecdash's
        t = time.perf_counter()
        samples.update(interleaved({k: make(k) for k in (*HAND, "view2")}, n=N, warmup=1))
        log(f"  {N} rounds of {len(HAND)} hand-made wirings vs vecdash's in {time.perf_counter() - t:.0f} s")
    finally:
        for c in conns.values():
            c.close()
    s = samples
    return [
        Ratio("wiring: k-NN via vecdash view / direct", s["view"], s["direct"], 1.5, "<="),
        Ratio("wiring: hand-made (no ext) / vecdash", s["legacy"], s["view2"], 50, ">="),
        *[Figure(f"wiring: hand-made / hand-made + {label} alone", s["legacy"].median / s[key].median, "x",
                 detail=f"{s['legacy'].median:.2f} vs {s[key].median:.2f} ms; rows/query {_avg(rows[key]):.1f}")
          for key, label in (("legacy_ext", "extensions 'vector'"), ("legacy_fetch", f"fetch_size {FETCH_SIZE}"),
                             ("legacy_analyze", "ANALYZE"))],
        Figure("wiring: hand-made + extensions 'vector' / vecdash", s["legacy_ext"].median / s["view2"].median, "x",
               detail=f"what fetch_size and ANALYZE add on top ({s['legacy_ext'].median:.2f} vs "
                      f"{s['view2'].median:.2f} ms)"),
        Figure("wiring: verify says @> filter ships", 1.0 if fver.filter_pushdown else 0.0, "", 1.0, ">=",
               detail=(fver.filter_reason or "")[:60]),
        Figure("wiring: verify says ->> filter ships", 1.0 if sver.filter_pushdown else 0.0, "", None,
               detail="expected 0: postgres_fdw keeps it on the primary"),
        Figure("wiring: filtered (@>) view / direct", s["view_f"].median / s["direct_f"].median, "x",
               detail=f"view {s['view_f'].median:.2f} ms vs direct {s['direct_f'].median:.2f} ms; "
                      f"rows/query {_avg(rows['view_f']):.1f} vs {_avg(rows['direct_f']):.1f}"),
        Figure("wiring: filtered ->> (unshipped) / @> (shipped)", s["view_slow_f"].median / s["view_f"].median, "x",
               detail=f"->> {s['view_slow_f'].median:.2f} ms, rows/query {_avg(rows['view_slow_f']):.1f}"),
        Figure("wiring: view CPU floor / direct wall time", cpu_view / s["direct"].median, "x",
               detail=f"a view query uses {cpu_view:.2f} ms CPU in a serial chain (client, primary {cpu_primary:.2f} ms "
                      f"with the client, pod): no view query can beat that; direct uses {cpu_direct:.2f} ms CPU, "
                      f"{s['direct'].median:.2f} ms wall. postgres_fdw fetches the 10 vectors as text and the "
                      f"primary parses them to recompute the distance"),
        Figure("wiring: plan + apply (one transaction)", apply_ms, "ms", detail="incl. ANALYZE of the foreign table"),
        Figure("wiring: verify says pushdown", 1.0 if ver.pushdown else 0.0, "", 1.0, ">=", detail=ver.reason[:60]),
        Figure("wiring: view == direct results", same["agree"] / max(1, same["n"]), "", 1.0, ">=",
               detail=f"{same['agree']}/{same['n']} queries identical"),
    ]
