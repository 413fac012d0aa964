"""Planning a wiring: the DDL that makes a pod's collection readable on the primary (reads only).

Steps that already hold are marked satisfied, so applying a plan twice changes nothing.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from vecdash.config import PodConfig
from vecdash.db import secret_statement
from vecdash.db.pods import PodClient
from vecdash.db.wiring_sql import MAPPING_CREDENTIALS_SQL, RELATION_KIND_SQL
from vecdash.errors import no_collection
from vecdash.model import Plan, PlanStep, SecretStep
from vecdash.secrets import MASK
from vecdash.service.endpoints import IdentityUnknown, Reach
from vecdash.service.plans import secret_step, step
from vecdash.service.wiring.fast_plan import check_view_for_fast_path, plan_fast_path
from vecdash.service.wiring.names import EXPOSE_TYPES, WiringError, pod_ident, split_collection, validate_expose
from vecdash.service.wiring.state import (
    PrimaryState,
    Target,
    drift,
    primary_of,
    read_primary,
    read_remote,
    server_reaches,
)
from vecdash.service.wiring.statements import (
    ANALYZE_SAMPLE_ROWS,
    FETCH_SIZE,
    SERVER_MARK,
    alter_server_sql,
    analyze_sql,
    create_foreign_table,
    local_type,
    mapping_create_step,
    option_list,
    vector_extension_change,
    view_select,
)

FAST_FILTERS_NOTE = (
    "filters that run on the pod (fast): containment `metadata @> '{\"year\": 2012}'` and jsonpath "
    "`metadata @@ '$.year == 2012'`; filters that postgres_fdw keeps on the primary, so the pod sends rows "
    "with no LIMIT and the primary filters them (slow): `metadata->>'year' = '2012'` and comparisons on "
    "exposed columns (e.g. `url = '/x'`)"
)


def _server_steps(state: PrimaryState, target: Target, pod: str, reaches: dict[str, Reach]) -> tuple[str, list[PlanStep]]:
    existing = next((s for s in state.fdw_servers() if reaches[s.name].pod == pod), None)
    if existing is None:
        name = pod_ident(pod)
        other = state.server(name)
        if other is not None and name in reaches and reaches[name].unknown:
            raise IdentityUnknown(f"foreign server {name} exists and vecdash cannot tell whether it reaches pod {pod} "
                                  f"({reaches[name].why}): refusing to reuse it; drop or rename it, or give it a "
                                  f"user mapping the pod accepts")
        if other is not None:
            where = f"{other.options.get('host', '?')}:{other.options.get('port', '5432')}/{other.options.get('dbname', '?')}"
            raise WiringError(f"foreign server {name} exists but reaches {where}, not pod {pod} ({target.describe()}); "
                              f"run `vecdash doctor` or drop it first")
        opts = target.server_options() + [("extensions", "vector"), ("fetch_size", FETCH_SIZE), ("async_capable", "true")]
        q = sql.SQL("create server {} foreign data wrapper postgres_fdw options ({})").format(sql.Identifier(name), option_list(opts))
        # COMMENT takes no parameters: a literal, of vecdash's own text and the pod's configured name
        mark = sql.SQL("comment on server {} is {}").format(sql.Identifier(name), sql.Literal(f"{SERVER_MARK} {pod}"))
        return name, [step(f"foreign server {name} for pod {pod}, shipping pgvector operators (extensions 'vector')", q),
                      step(f"mark {name} as made by vecdash: unwire drops only servers vecdash created", mark)]
    name, opts = existing.name, existing.options
    changes: list[tuple[str, str, str]] = []  # (verb, key, value)
    vector_change = vector_extension_change(existing)
    if vector_change:
        changes.append(vector_change)
    if "fetch_size" not in opts:
        changes.append(("add", "fetch_size", FETCH_SIZE))
    if not changes:
        q = sql.SQL("create server {} foreign data wrapper postgres_fdw options ({})").format(
            sql.Identifier(name), option_list(sorted(opts.items())))
        return name, [step(f"foreign server {name} already reaches pod {pod} with extensions 'vector'", q, satisfied=True)]
    return name, [step(f"reuse foreign server {name} for pod {pod}: add extensions 'vector' so k-NN ships",
                        alter_server_sql(name, changes))]


def _mapping_pairs(target: Target, secret: bool) -> list[tuple[str, str]]:
    pairs = [("user", target.user)]
    if target.password:
        pairs.append(("password", target.password if secret else MASK))
    return pairs


async def _mapping_step(client: PodClient, primary: PodConfig, state: PrimaryState, server: str, target: Target,
                        server_is_new: bool) -> PlanStep:
    who = f"role {state.current_user}"
    mine = any(m.server == server and m.user == state.current_user and not m.public for m in state.mappings)
    if server_is_new or not mine:
        return mapping_create_step(server, target, f"user mapping for {who} on {server} (user {target.user})")

    async def work(conn: psycopg.AsyncConnection):
        cur = await conn.execute(MAPPING_CREDENTIALS_SQL, {"server": server, "user": target.user,
                                                           "password": target.password or ""})
        return await cur.fetchone()

    row = await client.run(primary, work)
    shown_pairs = _mapping_pairs(target, False)
    if row is None or not row[0] or (row[2] and (not target.password or row[4])):
        q = sql.SQL("create user mapping for current_user server {} options ({})").format(sql.Identifier(server), option_list(shown_pairs))
        return PlanStep(purpose=f"user mapping for {who} on {server} exists", sql=q, preview=q.as_string(), satisfied=True)
    readable, has_user, _, has_pw, _ = row

    def render(password: sql.Composable | None) -> sql.Composable:
        opts = [sql.SQL("set {}" if has_user else "add {}").format(sql.SQL("user {}").format(sql.Literal(target.user)))]
        if password is not None:
            opts.append(sql.SQL("set {}" if has_pw else "add {}").format(sql.SQL("password {}").format(password)))
        return sql.SQL("alter user mapping for current_user server {} options ({})").format(
            sql.Identifier(server), sql.SQL(", ").join(opts))

    return secret_step(f"update the credentials of {who}'s mapping on {server}", render, target.password)


async def _relkind(client: PodClient, primary: PodConfig, schema: str, name: str) -> str | None:
    async def work(conn: psycopg.AsyncConnection):
        cur = await conn.execute(RELATION_KIND_SQL, {"schema": schema, "name": name})
        row = await cur.fetchone()
        return row[0] if row else None

    return await client.run(primary, work)


async def plan_wire(client: PodClient, pod: str, name: str, *, schema: str = "vecs", view: str | None = None,
                    expose: list[tuple[str, str]] | None = None, create_view: bool = True,
                    fast_path: bool = False) -> Plan:
    """The DDL that makes table `schema.name` on `pod` readable on the primary (reads only; nothing runs);
    with `fast_path`, also dblink and the `<view>_knn` (and `_knn_all`) functions (service.wiring.fast_plan).
    `name` is the table's own name, never split here (the CLI splits COLLECTION: cli.collection_arg)."""
    if fast_path:
        check_view_for_fast_path(create_view)
    expose = list(expose or [])
    validate_expose(expose)
    primary = primary_of(client)
    podcfg = client.pod(pod)
    if podcfg.name == primary.name:
        raise WiringError(f"pod {pod} is the primary: its collections need no wiring")
    target, remote = await read_remote(client, podcfg, schema, name)
    if not remote.exists:
        raise no_collection(schema, name, pod, error=WiringError)
    if not remote.vector_columns():
        raise WiringError(f"{schema}.{name} on pod {pod} has no vector column (vector, halfvec, sparsevec or bit)")
    state = await read_primary(client, primary)
    plan = Plan(title=f"wire {schema}.{name} from pod {pod} into {primary.name}", pod=primary.name)

    # 1. extensions
    fdw_there = "postgres_fdw" in state.extensions
    plan.steps.append(step("postgres_fdw on the primary", sql.SQL("create extension if not exists postgres_fdw"),
                            satisfied=fdw_there))
    remote_vs = remote.vector_schema or "public"
    local_vs = state.extensions.get("vector")
    if local_vs is None:
        if remote_vs not in state.schemas:
            plan.steps.append(step(f"schema {remote_vs} for pgvector (the schema it has on pod {pod})",
                                    sql.SQL("create schema if not exists {}").format(sql.Identifier(remote_vs))))
        plan.steps.append(step(f"pgvector on the primary, in schema {remote_vs} like on pod {pod}",
                                sql.SQL("create extension if not exists vector with schema {}").format(sql.Identifier(remote_vs))))
        local_vs = remote_vs
    else:
        plan.steps.append(step("pgvector on the primary", sql.SQL("create extension if not exists vector"), satisfied=True))
        if remote.vector_schema and local_vs != remote.vector_schema:
            plan.notes.append(f"pgvector lives in schema {local_vs} on the primary but {remote.vector_schema} on pod {pod}: "
                              f"postgres_fdw sends OPERATOR({local_vs}.<=>), which the pod cannot resolve")

    # 2. server and user mapping
    reaches = await server_reaches(client, primary, state, podcfg, target)
    server, steps = _server_steps(state, target, podcfg.name, reaches)
    plan.steps += steps
    server_is_new = state.server(server) is None
    mapping = await _mapping_step(client, primary, state, server, target, server_is_new)
    plan.steps.append(mapping)
    if isinstance(mapping, SecretStep) and not await client.run(primary, secret_statement.can_quiet_logging):
        plan.notes.append(secret_statement.NOT_QUIET_NOTE)
    if not target.password:
        plan.notes.append(f"pod {pod} accepted vecdash without a password: postgres_fdw asks non-superusers for one")

    # 3. foreign table (reuse one that already reads this collection through this server)
    existing = next((f for f in state.tables_on(server) if f.remote == (schema, name)), None) if not server_is_new else None
    cols: list[tuple[str, sql.Composable, bool]] = []
    for col in remote.columns:
        typ = local_type(col, local_vs)
        if typ is None:
            plan.notes.append(f"column {col.name} ({col.type}) left out: its type is not built in")
            continue
        cols.append((col.name, typ, col.notnull))
    if existing is not None:
        ft_schema, ft_name = existing.schema, existing.name
        drifted = drift(existing, remote)
        if drifted:
            raise WiringError(f"foreign table {ft_schema}.{ft_name} no longer matches the pod ({drifted}); "
                              f"the doctor's fix repairs it")
        q = create_foreign_table(ft_schema, ft_name, cols, server, schema, name)
        plan.steps.append(step(f"foreign table {ft_schema}.{ft_name} already reads {schema}.{name}", q, satisfied=True))
    else:
        ft_schema, ft_name = pod_ident(podcfg.name), name
        plan.steps.append(step(f"schema {ft_schema} for pod {pod}'s tables",
                                sql.SQL("create schema if not exists {}").format(sql.Identifier(ft_schema)),
                                satisfied=ft_schema in state.schemas))
        kind = await _relkind(client, primary, ft_schema, ft_name) if ft_schema in state.schemas else None
        if kind is not None:
            raise WiringError(f"{ft_schema}.{ft_name} already exists on the primary and does not read "
                              f"{schema}.{name} on pod {pod}; unwire or drop it first")
        vec = remote.main_vector()
        plan.steps.append(step(f"foreign table {ft_schema}.{ft_name}: {len(cols)} columns as on the pod "
                                f"({vec.name} {vec.type.split('.')[-1]})",
                                create_foreign_table(ft_schema, ft_name, cols, server, schema, name)))
    analyzed = existing is not None and existing.analyzed
    plan.steps.append(step(f"statistics for {ft_schema}.{ft_name} (a {ANALYZE_SAMPLE_ROWS:,}-row sample taken on the "
                            f"pod), so filtered k-NN also ships ORDER BY ... LIMIT", analyze_sql(ft_schema, ft_name),
                            satisfied=bool(analyzed), kind="analyze"))

    # 4. view
    if create_view:
        vschema, vname = split_collection(view, "public") if view else ("public", name)
        metadata = next((c.name for c in remote.columns if c.name == "metadata" and c.typname == "jsonb"), None)
        if expose and metadata is None:
            raise WiringError(f"expose needs a jsonb `metadata` column; {schema}.{name} has none")
        colnames = [c[0] for c in cols]
        clash = [f for f, _ in expose if f in colnames]
        if clash:
            raise WiringError(f"expose {clash[0]}: the table already has a column of that name")
        select = view_select(ft_schema, ft_name, colnames, expose, metadata)
        create = sql.SQL("create view {} as {}").format(sql.Identifier(vschema, vname), select)
        wanted = colnames + [f for f, _ in expose]
        mine = next((v for v in state.views if (v.schema, v.name) == (vschema, vname)), None)
        kind = await _relkind(client, primary, vschema, vname) if vschema in state.schemas else None
        if mine is not None and mine.reads_relation(ft_schema, ft_name):
            if mine.columns == wanted:
                plan.steps.append(step(f"view {vschema}.{vname} already reads {ft_schema}.{ft_name}", create, satisfied=True))
            else:
                plan.steps.append(step(f"replace view {vschema}.{vname} (its columns differ)",
                                        sql.SQL("drop view {}").format(sql.Identifier(vschema, vname))))
                plan.steps.append(step(f"view {vschema}.{vname} for applications", create))
        elif kind is not None:
            raise WiringError(f"{vschema}.{vname} already exists on the primary and does not read {ft_schema}.{ft_name}; "
                              f"choose another view name")
        else:
            if vschema not in state.schemas:
                plan.steps.append(step(f"schema {vschema}", sql.SQL("create schema if not exists {}").format(sql.Identifier(vschema))))
            shown = ", ".join([*colnames, *(f"{f} {EXPOSE_TYPES[t]}" for f, t in expose)])
            plan.steps.append(step(f"view {vschema}.{vname} for applications ({shown})", create))
        plan.notes.append(FAST_FILTERS_NOTE)
        if fast_path:
            await plan_fast_path(client, plan, state, primary, podcfg, server, remote, (vschema, vname), local_vs)
    return plan
