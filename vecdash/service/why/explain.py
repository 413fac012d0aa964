"""EXPLAIN a user's statement without running it, and read the catalog the answer needs.

Everything happens in one READ ONLY transaction with a statement timeout, rolled back. The user's text
becomes SQL in exactly one place, `Explainer.explain`, and only after it is proved to be one statement:
a statement without `$n` parameters is EXPLAINed over the extended protocol, which refuses several
commands; one with `$n` is first PREPAREd over the extended protocol (one statement, parsed and
analysed, never planned nor run), then EXPLAINed with GENERIC_PLAN over the simple protocol (the only
one that accepts `$n` without values, which would be folded into the plan). It is never executed with
parameters, so a `%` in it is never read as a placeholder.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from vecdash.errors import ServerRefused, UserError
from vecdash.lines import error_line
from vecdash.model_why import VectorIndex

GENERIC_PLAN_SINCE = 160000  # EXPLAIN (GENERIC_PLAN) is PostgreSQL 16's
_EXPLAIN = sql.SQL("explain (verbose, settings, format json) ")
_EXPLAIN_GENERIC = sql.SQL("explain (generic_plan, verbose, settings, format json) ")

# The vector indexes and vector columns of the relations a plan scans, and the settings that matter.
CATALOG = sql.SQL("""
with rel as (
    select c.oid, n.nspname, c.relname, c.reltuples
    from unnest(%(schemas)s::text[], %(names)s::text[]) as r(schema, name)
    join pg_catalog.pg_namespace n on n.nspname = r.schema
    join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = r.name
)
select
    (select coalesce(json_agg(json_build_object(
        'schema', rel.nspname, 'table', rel.relname, 'name', i.relname, 'method', am.amname,
        'opclass', opc.opcname, 'valid', x.indisvalid and x.indisready,
        'expression', pg_catalog.pg_get_indexdef(x.indexrelid, 1, true),
        'type', pg_catalog.format_type(ia.atttypid, ia.atttypmod)) order by x.indisvalid desc, i.relname), '[]')
     from rel
     join pg_catalog.pg_index x on x.indrelid = rel.oid
     join pg_catalog.pg_class i on i.oid = x.indexrelid
     join pg_catalog.pg_am am on am.oid = i.relam and am.amname in ('hnsw', 'ivfflat')
     left join pg_catalog.pg_opclass opc on opc.oid = x.indclass[0]
     left join pg_catalog.pg_attribute ia on ia.attrelid = x.indexrelid and ia.attnum = 1),
    (select coalesce(json_agg(json_build_object(
        'schema', rel.nspname, 'table', rel.relname, 'column', a.attname, 'typname', t.typname,
        'type', pg_catalog.format_type(a.atttypid, a.atttypmod), 'rows', rel.reltuples) order by a.attnum), '[]')
     from rel
     join pg_catalog.pg_attribute a on a.attrelid = rel.oid and a.attnum > 0 and not a.attisdropped
     join pg_catalog.pg_type t on t.oid = a.atttypid and t.typname in ('vector', 'halfvec', 'sparsevec', 'bit')),
    (select extversion from pg_catalog.pg_extension where extname = 'vector'),
    current_setting('hnsw.ef_search', true),
    current_setting('hnsw.iterative_scan', true),
    current_setting('server_version_num')::int
""")


@dataclass
class Catalog:
    indexes: list[VectorIndex] = field(default_factory=list)
    columns: list[dict[str, Any]] = field(default_factory=list)  # schema, table, column, typname, type, rows
    pgvector: str | None = None
    ef_search: int | None = None
    iterative_scan: str | None = None


class Explainer:
    """EXPLAINs on one session inside the read-only transaction `why` opened."""

    def __init__(self, conn: psycopg.AsyncConnection, pod: str, server_version: int):
        self.conn = conn
        self.pod = pod
        self.server_version = server_version

    async def explain(self, text: str, settings: tuple[tuple[str, str], ...] = ()) -> tuple[dict[str, Any], bool]:
        """The JSON plan of `text` (with `settings` SET LOCAL for it only) and whether it is a generic plan.

        UserError when `text` is not one statement EXPLAIN can plan, or the server rejects it as input."""
        statement = sql.SQL(text)  # the one place the user's text becomes SQL: proved one statement below
        async with self.conn.transaction():  # a savepoint: settings and errors end with it
            for name, value in settings:
                await self.conn.execute("select pg_catalog.set_config(%s, %s, true)", (name, value))
            try:
                params = await self._one_statement(statement)
                if params and self.server_version < GENERIC_PLAN_SINCE:
                    raise UserError(f"the statement has $n parameters: EXPLAIN (GENERIC_PLAN) needs PostgreSQL 16, "
                                    f"the pod runs {self.server_version // 10000}; give values instead")
                if params:  # simple protocol: the only one where $n needs no values (proved one statement above)
                    cur = await self.conn.execute(_EXPLAIN_GENERIC + statement)
                else:  # extended protocol (binary results): several commands are refused by the server
                    cur = await self.conn.execute(_EXPLAIN + statement, binary=True)
                row = await cur.fetchone()
            except psycopg.Error as exc:
                raise input_or_pod_error(self.pod, exc) from None
        plan = row[0]
        return (plan[0] if isinstance(plan, list) else plan), bool(params)

    async def _one_statement(self, statement: sql.Composable) -> int:
        """PREPARE the statement over the extended protocol (one statement, parsed, not planned, not run),
        read how many $n parameters it has and drop it."""
        name = f"vecdash_why_{uuid.uuid4().hex[:12]}"
        await self.conn.execute(sql.SQL("prepare {} as {}").format(sql.Identifier(name), statement), binary=True)
        try:
            cur = await self.conn.execute(
                "select coalesce(cardinality(parameter_types), 0) from pg_catalog.pg_prepared_statements "
                "where name = %s", (name,))
            return (await cur.fetchone())[0]
        finally:
            await self.conn.execute(sql.SQL("deallocate {}").format(sql.Identifier(name)))

    async def catalog(self, relations: list[tuple[str, str]]) -> Catalog:
        cur = await self.conn.execute(CATALOG, {"schemas": [r[0] for r in relations], "names": [r[1] for r in relations]})
        indexes, columns, pgvector, ef_search, iterative, _ = await cur.fetchone()
        return Catalog(
            indexes=[VectorIndex(schema=i["schema"], table=i["table"], name=i["name"], method=i["method"],
                                 opclass=i["opclass"], valid=bool(i["valid"]), expression=i["expression"],
                                 column_type=i["type"]) for i in indexes],
            columns=list(columns), pgvector=pgvector,
            ef_search=int(ef_search) if ef_search and ef_search.isdigit() else None,
            iterative_scan=iterative or None)


# SQLSTATE classes that mean the statement itself is wrong (the user's input): syntax or name errors
# (42, but not 42501 insufficient_privilege), data exceptions (22: a bad vector literal), feature not
# supported (0A), wrong object type or undefined parameter.
_INPUT_CLASSES = ("42", "22", "0A")


def input_or_pod_error(pod: str, exc: psycopg.Error) -> Exception:
    state = getattr(exc, "sqlstate", None) or ""
    text = error_line(exc)
    if state == "42601" and "multiple commands" in text:
        return UserError("give one statement: several were given (vecdash EXPLAINs exactly one, never runs it)")
    if state[:2] in _INPUT_CLASSES and state != "42501":
        return UserError(f"the statement cannot be planned: {text}")
    return ServerRefused(pod, text)
