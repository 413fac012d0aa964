"""Issue 6 figures: load vs vecs upsert, progress cadence during an HNSW build, recall sweep cost.

- load: `load_file` (binary COPY, one transaction) rows/s vs the vecs client's `upsert` on the same
  rows (384-d + metadata). vecs is timed on at most 20,000 rows (it is slow; rows/s is what is
  compared), vecdash on all of ctx.rows.
- progress: HNSW (m=16, ef_construction=64, CONCURRENTLY) over all rows; the longest wait between
  two moves of the bar (a progress callback whose fraction or phase changed).
- recall sweep: ef_search 10..320, 100 sample queries, k=10, vs 100 plain queries at ef_search=320.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import numpy as np
import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import sql

from benchmarks.common import BenchContext, Figure, Ratio, Sample, log
from vecdash import datagen
from vecdash.db.pods import PodClient
from vecdash.service import collections as colls
from vecdash.service import indexes as ix
from vecdash.service.loader import load_file
from vecdash.service.plans import apply_plan
from vecdash.service.recall import sample_queries, sweep

POD = "pod-a"
NAME = "bench_idx"
VECS_ROWS = 20_000


async def _recreate(client: PodClient, name: str, dim: int) -> None:
    if (await colls.facts(client, POD, name)).exists:
        await apply_plan(client, await colls.plan_drop_collection(client, POD, name))
    await apply_plan(client, await colls.plan_create_collection(client, POD, name, dim))


def _files(ctx: BenchContext) -> tuple:
    npy = ctx.root / f"idx_{ctx.rows}.npy"
    ids = ctx.root / f"idx_{ctx.rows}.ids"
    meta = ctx.root / f"idx_{ctx.rows}.jsonl"
    if not npy.exists():
        vecs = datagen.clustered_vectors(ctx.rows, ctx.dim, seed=11)
        np.save(npy, vecs)
        ids.write_text("".join(f"doc-{i}\n" for i in range(ctx.rows)))
        with open(meta, "w") as fh:
            for i in range(ctx.rows):
                fh.write(json.dumps(datagen.metadata_for(i, "docs", 11)) + "\n")
    return npy, ids, meta


def _vecs_upsert(ctx: BenchContext, npy, n: int) -> float:
    import vecs

    vx = vecs.create_client(ctx.pods[POD].sqlalchemy_url())
    try:
        try:
            vx.delete_collection("bench_vecs")
        except Exception:
            pass
        coll = vx.get_or_create_collection(name="bench_vecs", dimension=ctx.dim)
        arr = np.load(npy, mmap_mode="r")[:n]
        records = [(f"doc-{i}", np.asarray(arr[i]), datagen.metadata_for(i, "docs", 11)) for i in range(n)]
        t = time.perf_counter()
        coll.upsert(records=records)
        ms = (time.perf_counter() - t) * 1000
        vx.delete_collection("bench_vecs")
        return ms
    finally:
        vx.disconnect()


async def _async_part(ctx: BenchContext, client: PodClient) -> list:
    npy, ids, meta = _files(ctx)
    out: list = []
    # --- load -----------------------------------------------------------------------------
    load_ms = []
    for _ in range(3):
        await _recreate(client, NAME, ctx.dim)
        r = await load_file(client, POD, NAME, npy, ids=ids, metadata=meta)
        load_ms.append(r.seconds * 1000)
        log(f"  load {r.rows} rows: {r.seconds:.2f} s ({r.rows_per_s:,.0f} rows/s)")
    n_vecs = min(VECS_ROWS, ctx.rows)
    vecs_ms = await asyncio.to_thread(_vecs_upsert, ctx, npy, n_vecs)
    log(f"  vecs upsert {n_vecs} rows: {vecs_ms / 1000:.2f} s ({n_vecs / vecs_ms * 1000:,.0f} rows/s)")
    per_k_vd = Sample("vecdash load ms/1k rows", [m / ctx.rows * 1000 for m in load_ms])
    per_k_vecs = Sample(f"vecs upsert ms/1k rows ({n_vecs} rows)", [vecs_ms / n_vecs * 1000])
    out.append(Ratio("load rows/s: vecdash COPY / vecs upsert", per_k_vecs, per_k_vd, 10.0, ">="))
    out.append(Figure("load rows/s (vecdash)", round(ctx.rows / (per_k_vd.median * ctx.rows / 1000) * 1000), "rows/s",
                      detail=f"{ctx.rows} x {ctx.dim} + metadata"))
    await client.run(POD, lambda c: c.execute(sql.SQL("vacuum analyze {}").format(sql.Identifier("vecs", NAME))),
                     timeout=600)
    # --- build progress --------------------------------------------------------------------
    moves: list[float] = []
    last: tuple | None = None

    def on_progress(p) -> None:
        nonlocal last
        key = (p.phase, round(p.fraction, 4), p.blocks_done, p.tuples_done)
        if key != last:
            moves.append(time.monotonic())
            last = key

    r = await ix.build_index(client, POD, NAME, m=16, ef_construction=64, maintenance_work_mem="1GB",
                             parallel_workers=1, on_progress=on_progress)
    gaps = [b - a for a, b in zip(moves, moves[1:])]
    log(f"  hnsw build {r.seconds:.1f} s, {len(moves)} bar moves, max gap {max(gaps):.2f} s, notices {r.notices}")
    out.append(Figure("build: max gap between progress bar moves", round(max(gaps), 2), "s", 2.0, "<=",
                      f"HNSW m=16 efc=64 concurrently over {r.rows} rows in {r.seconds:.1f} s, {len(moves)} moves"))
    # --- recall sweep ----------------------------------------------------------------------
    # sweep and the plain 100 queries alternate (3 rounds), so load from other work hits both alike
    stmt = sql.SQL("select ctid from {} order by vec <=> %s limit 10").format(sql.Identifier("vecs", NAME))
    sweep_ms, plain_ms, sweeps = [], [], []
    conn = await psycopg.AsyncConnection.connect(ctx.dsn(POD), autocommit=True)
    try:
        await register_vector_async(conn)
        # the same 100 vectors the sweep samples (same seed), so both sides run the same queries
        facts = await colls.facts(client, POD, NAME)
        queries = await sample_queries(conn, "vecs", NAME, facts.rows_estimate, 100, seed=42)
        for _ in range(3):
            t = time.perf_counter()
            s = await sweep(client, POD, NAME, samples=100, k=10)
            sweep_ms.append((time.perf_counter() - t) * 1000)
            sweeps.append(s)
            await conn.execute("select set_config('hnsw.ef_search', %s, false)", (str(s.points[-1].value),))
            t = time.perf_counter()
            for q in queries:
                await (await conn.execute(stmt, (np.asarray(q),), prepare=True)).fetchall()
            plain_ms.append((time.perf_counter() - t) * 1000)
            log("  sweep: " + ", ".join(f"{p.value}:{p.recall:.3f}/{p.median_ms:.2f}ms" for p in s.points)
                + f"; exact {s.exact_ms:.0f} ms, total {sweep_ms[-1]:.0f} ms, recommended {s.recommended}; "
                  f"plain 100 queries {plain_ms[-1]:.0f} ms")
    finally:
        await conn.close()
    s = sweeps[-1]
    largest = s.points[-1].value
    out.append(Ratio("recall sweep total / 100 queries at largest",
                     Sample(f"sweep {len(s.points)} values x 100 queries + exact", sweep_ms),
                     Sample(f"100 queries at ef_search={largest}", plain_ms), 10.0, "<="))
    out.append(Figure("recall@10 at recommended ef_search", s.points[[p.value for p in s.points].index(s.recommended)].recall
                      if s.recommended else s.points[-1].recall, "", 0.95, ">=",
                      f"recommended ef_search={s.recommended}; exact answers {statistics.median(x.exact_ms for x in sweeps):.0f} ms (median)"))
    return out


def run(ctx: BenchContext) -> list:
    async def go():
        client = PodClient(ctx.config(names=[POD]))
        try:
            return await _async_part(ctx, client)
        finally:
            await client.close()

    return asyncio.run(go())
