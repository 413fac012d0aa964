"""Planning the removal of a wiring: views, foreign table, and the pod's schema and server when nothing
else uses them (and vecdash made them)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from vecdash.db.pods import PodClient
from vecdash.db.wiring_sql import SCHEMA_CONTENTS_SQL
from vecdash.model import Plan
from vecdash.service.plans import step
from vecdash.service.wiring import fast_path
from vecdash.service.wiring.fast_plan import knn_all_after
from vecdash.service.wiring.names import pod_ident
from vecdash.service.wiring.state import locate
from vecdash.service.wiring.statements import drop_server_steps, drop_table_steps, made_by_vecdash


async def plan_unwire(client: PodClient, pod: str, name: str, *, schema: str = "vecs") -> Plan:
    """The reverse of plan_wire: fast-path functions, views, foreign table, the pod's schema and server when nothing else uses them."""
    loc = await locate(client, pod, schema, name)
    loc.refuse_doubtful(pod, "nothing planned, nothing dropped")
    state = loc.state
    plan = Plan(title=f"unwire {schema}.{name} of pod {pod} from {loc.primary.name}", pod=loc.primary.name)
    for ft in loc.doubtful:
        plan.notes.append(f"{ft.qualified} stays: vecdash cannot tell whether server {ft.server} "
                          f"reaches pod {pod} ({loc.reaches[ft.server].why})")
    if not loc.tables:
        plan.notes.append(f"nothing to unwire: no foreign table on {loc.primary.name} reads {schema}.{name} of pod {pod}")
        return plan
    knn = [f for f in state.fast_paths_of(pod, (schema, name)) if f.kind == "knn"]
    plan.steps += [fast_path.drop_step(f, f"the fast path of pod {pod}") for f in knn]
    plan.steps += knn_all_after(state, (schema, name), {(f.schema, f.name) for f in knn})
    dropped: set[tuple[str, str]] = set()  # foreign tables
    gone: set[tuple[str, str]] = set()  # every relation the plan drops (tables and the views reading them)
    for ft in loc.tables:
        plan.steps += drop_table_steps(state, ft)
        dropped.add((ft.schema, ft.name))
        gone |= {(ft.schema, ft.name)} | {(v.schema, v.name) for v in state.readers(ft.schema, ft.name)}
    for sch in sorted({s for s, _ in dropped}):
        if sch != pod_ident(pod):
            continue  # only the schema wire created is ours to drop

        async def contents(conn: psycopg.AsyncConnection, sch: str = sch):
            cur = await conn.execute(SCHEMA_CONTENTS_SQL, {"schema": sch})
            return await cur.fetchone()

        row = await client.run(loc.primary, contents)
        if row is not None:
            rels = [r for r in row[0] if (sch, r) not in gone]
            if not rels and not row[1]:
                plan.steps.append(step(f"drop schema {sch} (now empty)", sql.SQL("drop schema {}").format(sql.Identifier(sch))))
    for server in sorted({ft.server for ft in loc.tables}):
        left = [f for f in state.tables_on(server) if (f.schema, f.name) not in dropped]
        if left:
            plan.notes.append(f"server {server} stays: {len(left)} other foreign table(s) use it")
        elif not made_by_vecdash(state.server(server)):
            plan.notes.append(f"server {server} stays, with its user mappings: vecdash reused it but did not create "
                              f"it (drop it yourself once nothing needs it)")
        else:
            plan.steps += drop_server_steps(state, server)
    return plan
