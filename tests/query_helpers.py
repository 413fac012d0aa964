"""Helpers for the query tests: small collections and hand-written postgres_fdw wiring.

The wiring is plain DDL here (server with `extensions 'vector'`, user mapping, foreign table) so the
query tests do not depend on the wiring service; object names carry a unique suffix.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from vecdash import datagen


def make_collection(dsn: str, name: str, rows: int, dim: int, *, seed: int = 0, index: str | None = "cosine",
                    id_prefix: str = "r", metadata=None) -> None:
    """A vecs-layout table `vecs.<name>` with clustered vectors and datagen metadata (+ HNSW)."""
    from pgvector.psycopg import register_vector

    vecs = datagen.clustered_vectors(rows, dim, seed=seed, clusters=8)
    table = sql.Identifier("vecs", name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create schema if not exists vecs")
        conn.execute(sql.SQL("create table {} (id character varying primary key, vec vector({}) not null, "
                             "metadata jsonb not null default '{{}}'::jsonb)").format(table, sql.Literal(dim)))
        register_vector(conn)
        with conn.cursor() as cur, cur.copy(sql.SQL("copy {} (id, vec, metadata) from stdin with (format binary)").format(table)) as cp:
            cp.set_types(["character varying", "vector", "jsonb"])
            for i in range(rows):
                meta = metadata(i) if metadata else datagen.metadata_for(i, "docs", seed)
                cp.write_row((f"{id_prefix}{i}", vecs[i], Jsonb(meta)))
        if index:
            conn.execute(sql.SQL("create index on {} using hnsw (vec {})").format(table, sql.SQL(f"vector_{index}_ops")))
        conn.execute(sql.SQL("analyze {}").format(table))


def wire(primary_dsn: str, pod, server: str, schema: str, table: str, dim: int, *, async_capable: bool = True,
         vector_ext: bool = True) -> None:
    """postgres_fdw server + user mapping + foreign table `<schema>.<table>` on the primary."""
    with psycopg.connect(primary_dsn, autocommit=True) as conn:
        conn.execute("create extension if not exists vector")
        conn.execute("create extension if not exists postgres_fdw")
        opts = [sql.SQL("host '127.0.0.1'"), sql.SQL("port {}").format(sql.Literal(str(pod.port))),
                sql.SQL("dbname 'postgres'")]
        if vector_ext:
            opts.append(sql.SQL("extensions 'vector'"))
        if async_capable:
            opts.append(sql.SQL("async_capable 'true'"))
        conn.execute(sql.SQL("create server {} foreign data wrapper postgres_fdw options ({})").format(
            sql.Identifier(server), sql.SQL(", ").join(opts)))
        conn.execute(sql.SQL("create user mapping for current_user server {} options (user 'postgres', password {})").format(
            sql.Identifier(server), sql.Literal(pod.password)))
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("create foreign table {} (id character varying not null, vec vector({}) not null, "
                             "metadata jsonb not null) server {} options (schema_name 'vecs', table_name {})").format(
            sql.Identifier(schema, table), sql.Literal(dim), sql.Identifier(server), sql.Literal(table)))


def unwire(primary_dsn: str, server: str, schema: str) -> None:
    with psycopg.connect(primary_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("drop server if exists {} cascade").format(sql.Identifier(server)))


def drop_collection(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier("vecs", name)))
