"""Verify and doctor for the fast path: does each function reach the right pod and answer like it?"""

from __future__ import annotations

import psycopg
from psycopg import sql

from vecdash.db.pods import PodClient
from vecdash.errors import PodUnavailable
from vecdash.lines import error_line
from vecdash.model import MEASURES, Plan
from vecdash.secrets import mask_text
from vecdash.service.endpoints import Reach
from vecdash.service.wiring import fast_path
from vecdash.service.wiring.fast_path import FastPath, Member
from vecdash.service.wiring.state import PrimaryState, RemoteCollection

SAMPLES = 3  # query vectors taken from the pod's own rows
K = 10


def _direct_knn(m: Member) -> sql.Composable:
    op = sql.SQL("operator({}.{})").format(sql.Identifier(m.vector_schema), sql.SQL(MEASURES[m.measure].replace("%", "%%")))
    vt = sql.Identifier(m.vector_schema, m.vector_type)
    return sql.SQL("select {}::text, {} {} %(q)s::{} from {} order by {} {} %(q)s::{} limit %(k)s").format(
        sql.Identifier(m.id_column), sql.Identifier(m.vector_column), op, vt, sql.Identifier(m.schema, m.table),
        sql.Identifier(m.vector_column), op, vt)


async def same_rows(client: PodClient, primary, fp: FastPath, secrets: list[str]) -> tuple[bool, str]:
    """Sample query vectors from the pod, run k-NN there directly and through `fp`: same ids and distances?"""
    m = fp.members[0]

    async def direct(conn: psycopg.AsyncConnection):
        cur = await conn.execute(sql.SQL("select {}::text from {} limit %s").format(
            sql.Identifier(m.vector_column), sql.Identifier(m.schema, m.table)), [SAMPLES])
        qs = [r[0] for r in await cur.fetchall()]
        out = []
        for q in qs:
            cur = await conn.execute(_direct_knn(m), {"q": q, "k": K})
            out.append((q, [(r[0], r[1]) for r in await cur.fetchall()]))
        return out

    async def through(conn: psycopg.AsyncConnection, q: str):
        cur = await conn.execute(sql.SQL("select id, distance from {}(%s::{}, %s)").format(
            sql.Identifier(fp.schema, fp.name), sql.Identifier(fp.local_vector_schema, m.vector_type)), [q, K])
        return [(r[0], r[1]) for r in await cur.fetchall()]

    try:
        expected = await client.run(client.pod(m.pod), direct)
        for q, rows in expected:
            got = await client.run(primary, lambda conn, q=q: through(conn, q))
            if got != rows:
                return False, f"differs from the pod on a sampled query: {len(got)} rows, ids {[g[0] for g in got][:3]}... " \
                              f"vs {[r[0] for r in rows][:3]}..."
        return True, f"same ids and distances as k-NN on pod {m.pod} for {len(expected)} sampled queries"
    except (psycopg.Error, PodUnavailable) as exc:
        return False, mask_text(error_line(exc), secrets)


def broken(fp: FastPath, state: PrimaryState, reaches: dict[str, Reach],
           remotes: dict[tuple[str, str, str], RemoteCollection]) -> str | None:
    """Why `fp` no longer works (server gone, reaching another pod, remote table gone, dimension changed)."""
    for m in fp.members:
        if state.server(m.server) is None:
            return f"its server {m.server} (pod {m.pod}) is gone"
        r = reaches.get(m.server)
        if r is not None and r.decided and r.pod != m.pod:
            return f"its server {m.server} reaches {r.label()}, not pod {m.pod}"
        remote = remotes.get((m.pod, m.schema, m.table))
        if remote is None:  # the pod was not read (down, or not configured): nothing to tell
            continue
        if not remote.exists:
            return f"{m.schema}.{m.table} is gone from pod {m.pod}"
        col = next((c for c in remote.columns if c.name == m.vector_column), None)
        if col is None:
            return f"{m.schema}.{m.table}.{m.vector_column} is gone from pod {m.pod}"
        if col.typmod != m.dimension or col.typname != m.vector_type:
            return f"{m.schema}.{m.table}.{m.vector_column} is {col.typname}({col.typmod}) on pod {m.pod}, " \
                   f"the function expects {m.vector_type}({m.dimension})"
    return None


def fix_plan(fp: FastPath, why: str, primary: str, state: PrimaryState,
             remotes: dict[tuple[str, str, str], RemoteCollection]) -> Plan:
    """Drop `fp`; a `_knn` whose table is still there (another dimension) is made again from the pod's shape."""
    from vecdash.service.wiring.fast_plan import member

    plan = Plan(title=f"repair fast path {fp.qualified}", pod=primary, steps=[fast_path.drop_step(fp, why)])
    if fp.kind != "knn":
        return plan
    m = fp.members[0]
    remote = remotes.get((m.pod, m.schema, m.table))
    if remote is None or not remote.exists or state.server(m.server) is None:
        return plan
    again, _ = member(m.pod, m.server, remote)
    if again is None:
        return plan
    plan.title = f"recreate fast path {fp.qualified} for the pod's collection as it is now"
    plan.steps += fast_path.create_steps(fast_path.FastPath(
        schema=fp.schema, name=fp.name, kind="knn", views=fp.views, members=[again], timeout_ms=fp.timeout_ms,
        local_vector_schema=fp.local_vector_schema, dblink_schema=fp.dblink_schema))
    return plan
