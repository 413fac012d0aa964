"""Planning the fast path of a wiring (`wire --fast-path`): dblink on the primary, `<view>_knn` for this
pod, and `<collection>_knn_all` when the same collection is wired with a fast path from other pods too.

Naming: `_knn` lives next to its view and takes the view's name (`public.docs` -> `public.docs_knn`).
`_knn_all` has no single view, so it takes the name the default view would have: `public.<collection>_knn_all`
(the collection's own name, whichever pods and views are wired).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from vecdash.config import PodConfig
from vecdash.db.pods import PodClient
from vecdash.db.wiring_sql import FUNCTION_EXISTS_SQL
from vecdash.model import Collection, Plan, PlanStep
from vecdash.service.plans import step
from vecdash.service.wiring import fast_path
from vecdash.service.wiring.fast_path import FastPath, Member
from vecdash.service.wiring.names import WiringError
from vecdash.service.wiring.state import PrimaryState, RemoteCollection

KNN_ALL_SCHEMA = "public"


def member(pod: str, server: str, remote: RemoteCollection) -> tuple[Member | None, str]:
    """This pod's collection as a fast path reaches it, or (None, why not)."""
    vec = remote.main_vector()
    names = {c.name: c for c in remote.columns}
    if "id" not in names:
        return None, f"{remote.schema}.{remote.name} has no id column"
    if vec is None or vec.typmod <= 0:
        return None, f"{remote.schema}.{remote.name} has no vector column of fixed dimension"
    coll = Collection(pod=pod, schema=remote.schema, name=remote.name, column=vec.name, type=vec.typname,
                      dimension=vec.typmod, indexes=[i for i in remote.indexes if i.column == vec.name])
    measure, _ = coll.default_measure()
    meta = names.get("metadata")
    return Member(pod=pod, server=server, schema=remote.schema, table=remote.name, id_column="id",
                  vector_column=vec.name, vector_schema=remote.vector_schema or "public", vector_type=vec.typname,
                  dimension=vec.typmod, measure=measure,
                  metadata="metadata" if meta is not None and meta.typname == "jsonb" else None), ""


def dblink_schema(plan: Plan, state: PrimaryState) -> str | None:
    """Plan dblink on the primary; None (with a note) where it cannot be installed."""
    there = state.extensions.get("dblink")
    if there is not None:
        plan.steps.append(step("dblink on the primary", sql.SQL("create extension if not exists dblink"), satisfied=True))
        return there
    if not state.dblink_available:
        plan.notes.append("dblink is not available on the primary (pg_available_extensions has no dblink; it ships "
                          "with PostgreSQL's contrib): wired without the fast path")
        return None
    if not state.superuser:
        plan.notes.append(f"dblink is not installed on the primary and role {state.current_user} may not create it "
                          f"(only a superuser can): wired without the fast path; ask a DBA to run "
                          f"`create extension dblink`, then wire it again with the fast path")
        return None
    plan.steps.append(step("dblink on the primary (the fast path's connection to the pods)",
                            sql.SQL("create extension if not exists dblink with schema public")))
    return "public"


async def _taken(client: PodClient, primary: PodConfig, state: PrimaryState, schema: str, name: str) -> None:
    if any((f.schema, f.name) == (schema, name) for f in state.fast_paths):
        return

    async def work(conn: psycopg.AsyncConnection) -> bool:
        cur = await conn.execute(FUNCTION_EXISTS_SQL, {"schema": schema, "name": name})
        return (await cur.fetchone())[0]

    if await client.run(primary, work):
        raise WiringError(f"a function {schema}.{name} exists on the primary and is not vecdash's fast path; "
                          f"choose another view name or drop it")


def steps_for(state: PrimaryState, fp: FastPath) -> list[PlanStep]:
    """The steps that make `fp`, satisfied when the same function (same comment) is there."""
    steps = fast_path.create_steps(fp)
    current = next((f for f in state.fast_paths if (f.schema, f.name) == (fp.schema, fp.name)), None)
    if current is not None and current.comment() == fp.comment():
        for s in steps:
            s.satisfied = True
    return steps


async def plan_fast_path(client: PodClient, plan: Plan, state: PrimaryState, primary: PodConfig, pod: PodConfig,
                         server: str, remote: RemoteCollection, view: tuple[str, str], local_vs: str) -> None:
    """Append the fast-path steps (or notes saying why there is none) to a wiring plan."""
    mine, why = member(pod.name, server, remote)
    if mine is None:
        plan.notes.append(f"no fast path: {why}")
        return
    dbl = dblink_schema(plan, state)
    if dbl is None:
        return
    timeout = client.config.settings.statement_timeout_ms
    vschema, vname = view
    fname = fast_path.function_name(vname, "_knn")
    await _taken(client, primary, state, vschema, fname)
    fp = FastPath(schema=vschema, name=fname, kind="knn", views=[view], members=[mine], timeout_ms=timeout,
                  local_vector_schema=local_vs, dblink_schema=dbl)
    plan.steps += steps_for(state, fp)

    others: dict[str, FastPath] = {}
    for f in state.fast_paths:
        m = f.members[0]
        if f.kind == "knn" and m.remote == mine.remote and m.pod != pod.name and m.pod not in others:
            others[m.pod] = f
    if not others:
        return
    order = [p.name for p in client.config.pods]
    parts = sorted([*others.values(), fp], key=lambda f: order.index(f.members[0].pod)
                   if f.members[0].pod in order else len(order))
    members = [f.members[0] for f in parts]
    shape = {(m.vector_type, m.dimension, m.measure) for m in members}
    if len(shape) > 1:
        plan.notes.append(f"no {mine.table}_knn_all: the pods' {mine.schema}.{mine.table} differ in type, dimension or "
                          f"measure ({'; '.join(f'{m.pod}: {m.vector_type}({m.dimension}) {m.measure}' for m in members)})")
        return
    all_name = fast_path.function_name(mine.table, "_knn_all")
    await _taken(client, primary, state, KNN_ALL_SCHEMA, all_name)
    fp_all = FastPath(schema=KNN_ALL_SCHEMA, name=all_name, kind="knn_all", views=[f.views[0] for f in parts],
                      members=members, timeout_ms=timeout, local_vector_schema=local_vs, dblink_schema=dbl)
    plan.steps += steps_for(state, fp_all)


def knn_all_after(state: PrimaryState, remote: tuple[str, str], gone: set[tuple[str, str]]) -> list[PlanStep]:
    """After the `_knn` functions in `gone` are dropped: replace each `_knn_all` over `remote` with the
    members left (two or more), or drop it."""
    out: list[PlanStep] = []
    left = [f for f in state.fast_paths if f.kind == "knn" and f.members[0].remote == remote
            and (f.schema, f.name) not in gone]
    for f in state.fast_paths:
        if f.kind != "knn_all" or not any(m.remote == remote for m in f.members):
            continue
        keep = [k for k in left if k.members[0].pod in {m.pod for m in f.members}]
        if len(keep) >= 2 and len(keep) < len(f.members):
            out.append(fast_path.drop_step(f, "its pods change"))
            out += fast_path.create_steps(FastPath(schema=f.schema, name=f.name, kind="knn_all",
                                                   views=[k.views[0] for k in keep], members=[k.members[0] for k in keep],
                                                   timeout_ms=f.timeout_ms, local_vector_schema=f.local_vector_schema,
                                                   dblink_schema=f.dblink_schema))
        elif len(keep) < 2:
            out.append(fast_path.drop_step(f, "fewer than two pods left"))
    return out


def check_view_for_fast_path(create_view: bool) -> None:
    if not create_view:
        raise WiringError("the fast path names its function after the view and grants EXECUTE like the view's "
                          "SELECT: it needs the view")
