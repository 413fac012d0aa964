"""The DDL of a wiring, composed from identifiers and literals: servers, user mappings, foreign tables,
views, ANALYZE, and the drops that undo them. Each builder returns a statement or a PlanStep; none runs."""

from __future__ import annotations

import re

from psycopg import sql

from vecdash.model import Column, ForeignServer, ForeignTable, PlanStep
from vecdash.service.plans import secret_step, step
from vecdash.service.wiring.names import EXPOSE_TYPES
from vecdash.service.wiring.state import PrimaryState, Target

FETCH_SIZE = "1000"
SERVER_MARK = "created by vecdash for pod"  # the comment wire puts on a server it creates
ANALYZE_SAMPLE_ROWS = 3000  # ANALYZE samples 300 x default_statistics_target rows
_PLAIN_TYPE = re.compile(r"^[a-z0-9 _(),\[\]]+$")


def option_list(pairs: list[tuple[str, str]], verb: str = "") -> sql.Composable:
    """`k 'v', ...` of FDW options (`verb`: '' or 'add '/'set ')."""
    return sql.SQL(", ").join(sql.SQL(verb + "{} {}").format(sql.SQL(k), sql.Literal(v)) for k, v in pairs)


def vector_extension_change(server: ForeignServer) -> tuple[str, str, str] | None:
    """The (verb, option, value) that adds `vector` to a server's `extensions`; None when it is there."""
    exts = server.extensions
    if "vector" in exts:
        return None
    return ("set" if "extensions" in server.options else "add", "extensions", ",".join(exts + ["vector"]))


def alter_server_sql(server: str, changes: list[tuple[str, str, str]]) -> sql.Composable:
    """`alter server S options (add|set k 'v', ...)`: verbs and option names are ours, values literals."""
    return sql.SQL("alter server {} options ({})").format(sql.Identifier(server), sql.SQL(", ").join(
        sql.SQL("{} {} {}").format(sql.SQL(verb), sql.SQL(k), sql.Literal(v)) for verb, k, v in changes))


def mapping_create_step(server: str, target: Target, purpose: str) -> PlanStep:
    """`create user mapping for current_user` with the pod's credentials; the preview masks the password."""
    def render(password: sql.Composable | None) -> sql.Composable:
        opts = [sql.SQL("user {}").format(sql.Literal(target.user))]
        if password is not None:
            opts.append(sql.SQL("password {}").format(password))
        return sql.SQL("create user mapping for current_user server {} options ({})").format(
            sql.Identifier(server), sql.SQL(", ").join(opts))

    return secret_step(purpose, render, target.password)


def local_type(col: Column, vector_schema: str) -> sql.Composable | None:
    """The column type on the primary, from the remote catalog (never guessed)."""
    if col.from_vector:
        base = sql.Identifier(vector_schema, col.typname)
        return sql.SQL("{}({})").format(base, sql.Literal(int(col.typmod))) if col.typmod > 0 else base
    if col.typschema == "pg_catalog" and _PLAIN_TYPE.match(col.type):
        return sql.SQL(col.type)  # format_type() text of a built-in type, checked against a strict pattern
    return None


def create_foreign_table(ft_schema: str, ft_name: str, cols: list[tuple[str, sql.Composable, bool]], server: str,
                         rschema: str, rname: str) -> sql.Composable:
    coldefs = sql.SQL(",\n    ").join(
        sql.SQL("{} {}{}").format(sql.Identifier(n), t, sql.SQL(" not null") if nn else sql.SQL("")) for n, t, nn in cols)
    return sql.SQL("create foreign table {} (\n    {}\n) server {} options (schema_name {}, table_name {})").format(
        sql.Identifier(ft_schema, ft_name), coldefs, sql.Identifier(server), sql.Literal(rschema), sql.Literal(rname))


def analyze_sql(schema: str, name: str) -> sql.Composable:
    """ANALYZE with a small sample: the planner needs the row count, not fine histograms, and every sampled
    row (vector included) crosses the wire; 300 x 10 = 3,000 rows instead of 30,000 keeps it well inside
    statement_timeout whatever the table's size."""
    return sql.SQL("set local default_statistics_target = {}; analyze {}").format(
        sql.Literal(ANALYZE_SAMPLE_ROWS // 300), sql.Identifier(schema, name))


def view_select(ft_schema: str, ft_name: str, columns: list[str], expose: list[tuple[str, str]],
                metadata: str | None) -> sql.Composable:
    items: list[sql.Composable] = [sql.Identifier(c) for c in columns]
    for fname, ftype in expose:
        if ftype == "jsonb":
            expr = sql.SQL("({} -> {})").format(sql.Identifier(metadata), sql.Literal(fname))
        elif ftype == "text":
            expr = sql.SQL("({} ->> {})").format(sql.Identifier(metadata), sql.Literal(fname))
        else:
            expr = sql.SQL("(({} ->> {}))::{}").format(sql.Identifier(metadata), sql.Literal(fname), sql.SQL(EXPOSE_TYPES[ftype]))
        items.append(sql.SQL("{} as {}").format(expr, sql.Identifier(fname)))
    return sql.SQL("select {} from {}").format(sql.SQL(", ").join(items), sql.Identifier(ft_schema, ft_name))


def drop_table_steps(state: PrimaryState, ft: ForeignTable) -> list[PlanStep]:
    """Drop the views that read a foreign table (deepest first), then the table: no CASCADE, all listed."""
    steps = []
    for v in state.readers(ft.schema, ft.name):
        kind = sql.SQL("materialized view" if v.materialized else "view")
        steps.append(step(f"drop {'materialized ' if v.materialized else ''}view {v.schema}.{v.name} "
                          f"(reads {ft.schema}.{ft.name})",
                          sql.SQL("drop {} {}").format(kind, sql.Identifier(v.schema, v.name))))
    steps.append(step(f"drop foreign table {ft.schema}.{ft.name}",
                      sql.SQL("drop foreign table {}").format(sql.Identifier(ft.schema, ft.name))))
    return steps


def made_by_vecdash(server: ForeignServer | None) -> bool:
    return bool(server) and str(server.comment or "").startswith(SERVER_MARK)


def drop_server_steps(state: PrimaryState, server: str) -> list[PlanStep]:
    steps = []
    for m in state.mappings:
        if m.server != server:
            continue
        if m.public:
            who: sql.Composable = sql.SQL("public")
        elif m.user == state.current_user:
            who = sql.SQL("current_user")
        else:
            who = sql.Identifier(m.user)
        steps.append(step(f"drop user mapping for {m.user} on {server}",
                          sql.SQL("drop user mapping for {} server {}").format(who, sql.Identifier(server))))
    steps.append(step(f"drop foreign server {server} (no foreign table uses it any more)",
                      sql.SQL("drop server {}").format(sql.Identifier(server))))
    return steps
