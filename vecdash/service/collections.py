"""vecs-compatible collections: create and drop as previewed Plans, plus the facts other services need.

Layout exactly as the vecs client creates it: schema `vecs`, `id character varying primary key`,
`vec vector(N) not null`, `metadata jsonb not null default '{}'` and a GIN index on metadata
(`ix_meta_*`), so vecs (and vecdash) see the table as a collection.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import psycopg
from psycopg import sql

from vecdash.db.pods import PodClient
from vecdash.errors import UserError, no_collection
from vecdash.inputs import check_integer
from vecdash.model import MAX_DIMENSION, Plan, PlanStep

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")


class CollectionError(UserError):
    pass


@dataclass
class CollectionFacts:
    """What index/load/recall work needs to know about one collection (read in one round trip)."""

    schema: str
    name: str
    exists: bool
    type: str | None = None  # vector | halfvec | bit | sparsevec
    dimension: int | None = None
    rows_estimate: int = -1  # pg_class.reltuples (-1: never analyzed)
    relpages: int = 0
    database: str = ""
    user: str = ""

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


_FACTS_SQL = """
select c.oid is not null,
       t.typname,
       case when t.typname in ('vector', 'halfvec', 'sparsevec', 'bit') and a.atttypmod > 0 then a.atttypmod end,
       coalesce(c.reltuples, -1)::bigint, coalesce(c.relpages, 0), current_database(), current_user
from (select to_regclass(%(qualified)s) as oid) r
left join pg_class c on c.oid = r.oid
left join pg_attribute a on a.attrelid = c.oid and a.attname = 'vec' and not a.attisdropped
left join pg_type t on t.oid = a.atttypid
"""


def qualified_literal(schema: str, name: str) -> str:
    """`"schema"."name"` as text for to_regclass(%s) (a parameter, not SQL text)."""
    return '"' + schema.replace('"', '""') + '"."' + name.replace('"', '""') + '"'


async def facts(client: PodClient, pod: str, name: str, schema: str = "vecs") -> CollectionFacts:
    async def work(conn: psycopg.AsyncConnection) -> CollectionFacts:
        cur = await conn.execute(_FACTS_SQL, {"qualified": qualified_literal(schema, name)})
        exists, typ, dim, reltuples, relpages, db, user = await cur.fetchone()
        return CollectionFacts(schema, name, bool(exists), typ, dim, int(reltuples), int(relpages), db, user)

    return await client.run(pod, work)


async def require(client: PodClient, pod: str, name: str, schema: str = "vecs") -> CollectionFacts:
    f = await facts(client, pod, name, schema)
    if not f.exists:
        raise no_collection(schema, name, pod, error=CollectionError)
    if f.type is None:
        raise CollectionError(f"{schema}.{name} on pod {pod} has no vector column named vec")
    return f


def validate_name(name: str) -> None:
    if not _NAME_RE.match(name or ""):
        raise CollectionError(
            f"bad collection name {name!r}: use 1-48 letters, digits, '_' or '-', not starting with '_' "
            "(vecs hides names starting with '_')"
        )


def _step(purpose: str, statement: sql.Composable, satisfied: bool = False) -> PlanStep:
    return PlanStep(purpose=purpose, sql=statement, preview=statement.as_string(None), satisfied=satisfied)


async def plan_create_collection(client: PodClient, pod: str, name: str, dimension: int, schema: str = "vecs") -> Plan:
    validate_name(name)
    check_integer("dimension", dimension, 1, MAX_DIMENSION["vector"], CollectionError)

    async def state(conn: psycopg.AsyncConnection) -> tuple[bool, bool, bool]:
        cur = await conn.execute(
            "select exists(select from pg_extension where extname = 'vector'),"
            " exists(select from pg_namespace where nspname = %s), to_regclass(%s) is not null",
            (schema, qualified_literal(schema, name)),
        )
        return await cur.fetchone()

    has_ext, has_schema, has_table = await client.run(pod, state)
    if has_table:
        raise CollectionError(f"collection {schema}.{name} already exists on pod {pod}")
    table = sql.Identifier(schema, name)
    meta_ix = sql.Identifier(f"ix_meta_{uuid.uuid4().hex[:7]}")
    return Plan(
        title=f"create collection {schema}.{name} vector({dimension})",
        pod=pod,
        steps=[
            _step("pgvector extension", sql.SQL("create extension if not exists vector"), has_ext),
            _step(f"schema {schema}", sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)), has_schema),
            _step(
                "the collection table (vecs layout)",
                sql.SQL(
                    "create table {} (\n  id character varying not null primary key,\n"
                    "  vec vector({}) not null,\n  metadata jsonb not null default '{{}}'::jsonb\n)"
                ).format(table, sql.Literal(dimension)),
            ),
            _step("metadata index (as vecs creates it)",
                  sql.SQL("create index {} on {} using gin (metadata jsonb_path_ops)").format(meta_ix, table)),
        ],
    )


async def plan_drop_collection(client: PodClient, pod: str, name: str, schema: str = "vecs") -> Plan:
    f = await facts(client, pod, name, schema)
    if not f.exists:
        raise no_collection(schema, name, pod, error=CollectionError)
    rows = "unknown number of" if f.rows_estimate < 0 else f"~{f.rows_estimate}"
    return Plan(
        title=f"drop collection {schema}.{name}",
        pod=pod,
        steps=[_step(f"drop the table, its {rows} rows and its indexes",
                     sql.SQL("drop table {}").format(sql.Identifier(schema, name)))],
        notes=["this deletes the data; views or foreign tables reading it elsewhere will fail"],
    )
