"""Activity refresh cost: reading what every pod does must not cost round trips, nor grow with the estate.

20 pods: five databases on each benchmark server (10 vecs-layout collections each, as bench_catalog
builds them), each a pod of its own. A refresh with activity (catalog + activity in one pipeline, as
the console refreshes) of all 20 is compared with one pod's, and one pod's refresh with activity with
its refresh without. Here the 20 pods share 4 servers on this machine's cores with the client, so the
20-pod refresh also pays 20 pods' server CPU; the client's own CPU per refresh is reported apart, as
the part that stays when each pod is a machine of its own. Round trips are counted from libpq's protocol trace, not assumed (bench_catalog).
"""

from __future__ import annotations

import asyncio
import os
import time

import psycopg

from benchmarks.bench_catalog import count_round_trips, ensure_database
from benchmarks.common import BenchContext, Figure, Ratio, interleaved
from vecdash.config import Config, PodConfig, Settings
from vecdash.db.activity_sql import PROBE_SQL, activity_sql
from vecdash.db.catalog_sql import CATALOG_SQL
from vecdash.db.pods import PodClient
from vecdash.service.catalog import snapshot

PODS = 20
COLLECTIONS = 10


def _db(i: int) -> str:
    return f"activity_{i}"


def _config(ctx: BenchContext, pods: list[tuple[str, str]]) -> Config:
    return Config(pods=tuple(PodConfig(name=f"{p}/{db}", role="secondary", dsn=ctx.pods[p].dsn(db)) for p, db in pods),
                  settings=Settings(statement_timeout_ms=30_000, connect_timeout_s=5), path="<bench>")


async def _plain_refresh(conns: list[psycopg.AsyncConnection]) -> None:
    """The floor: plain psycopg on sessions kept open, the same probe + pipeline (catalog, activity) on
    every pod at once, no parsing into the model. What the servers and the wire cost on this machine."""

    async def one(conn: psycopg.AsyncConnection) -> None:
        await (await conn.execute(PROBE_SQL)).fetchone()
        async with conn.pipeline():
            cats = await conn.execute(CATALOG_SQL)
            acts = await conn.execute(activity_sql(conn.info.server_version))
        await cats.fetchone()
        await acts.fetchone()

    await asyncio.gather(*(one(c) for c in conns))


def run(ctx: BenchContext) -> list:
    servers = list(ctx.pods)
    per_server = -(-PODS // len(servers))
    pods = [(servers[i % len(servers)], _db(i // len(servers))) for i in range(PODS)]
    for server in servers:
        for j in range(per_server):
            ensure_database(ctx, server, COLLECTIONS, db=_db(j))

    rounds = 20 if ctx.quick else 60
    loop = asyncio.new_event_loop()
    many = PodClient(_config(ctx, pods))
    one = PodClient(_config(ctx, pods[:1]))
    one_plain = PodClient(_config(ctx, pods[:1]))

    def refresh(client: PodClient, activity: bool = True):
        topo = loop.run_until_complete(snapshot(client, activity=activity))
        assert topo.all_up, [p.error for p in topo.pods if not p.up]

    plain_many = [loop.run_until_complete(psycopg.AsyncConnection.connect(p.conninfo, autocommit=True))
                  for p in _config(ctx, pods).pods]
    plain_one = plain_many[:1]
    try:
        trips = {flag: loop.run_until_complete(count_round_trips(one if flag else one_plain, activity=flag))
                 for flag in (True, False)}
        topo = loop.run_until_complete(snapshot(many, activity=True))
        assert len(topo.pods) == PODS and all(len(p.activity.collections) == COLLECTIONS for p in topo.pods)
        samples = interleaved({
            f"{PODS} pods with activity": lambda: refresh(many),
            "1 pod with activity": lambda: refresh(one),
            "1 pod without activity": lambda: refresh(one_plain, activity=False),
            f"floor {PODS} pods": lambda: loop.run_until_complete(_plain_refresh(plain_many)),
            "floor 1 pod": lambda: loop.run_until_complete(_plain_refresh(plain_one)),
        }, rounds, warmup=3)
        # the client's own CPU for a refresh of all 20: what bounds the 20-pod refresh when each pod is a
        # machine of its own (here every server shares this machine's cores with the client)
        cpu0 = time.process_time()
        for _ in range(rounds):
            refresh(many)
        client_cpu_ms = (time.process_time() - cpu0) / rounds * 1000
    finally:
        for c in (many, one, one_plain):
            loop.run_until_complete(c.close())
        for conn in plain_many:
            loop.run_until_complete(conn.close())
        loop.close()

    s20, s1, plain = (samples[k] for k in (f"{PODS} pods with activity", "1 pod with activity", "1 pod without activity"))
    f20, f1 = samples[f"floor {PODS} pods"], samples["floor 1 pod"]
    return [
        Ratio(f"activity refresh {PODS} pods vs 1 pod", s20, s1, target=2.0),
        Figure(f"floor: plain psycopg, {PODS} pods vs 1 pod", round(f20.median / f1.median, 2), "x",
               detail=f"same statements on sessions kept open: {f20.median:.2f} ms vs {f1.median:.2f} ms; the machine's "
                      f"cores run all {PODS} pods' servers"),
        Ratio(f"activity refresh {PODS} pods: vecdash vs the plain psycopg floor", s20, f20, target=1.5),
        Figure(f"activity refresh {PODS} pods ({len(servers)} servers on {os.cpu_count()} cores)", round(s20.median, 2),
               "ms", detail=f"{s20.spread()}; 1 pod {s1.median:.2f} ms ({s1.spread()})"),
        Figure(f"activity refresh {PODS} pods: client CPU", round(client_cpu_ms, 2), "ms",
               detail=f"per refresh of all {PODS} (parse, psycopg, asyncio); 1 pod's whole refresh {s1.median:.2f} ms"),
        Figure("round trips per pod refresh, with activity", float(trips[True]), "round trips",
               target=float(trips[False]), op="<=", detail=f"without activity: {trips[False]}"),
        Ratio("1 pod refresh with activity vs without", s1, plain, target=1.5),
    ]

