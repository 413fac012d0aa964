"""An estate vecdash did not design: every kind of name, every id and metadata key/value is a string that
looks like Rich/Textual markup, a psycopg placeholder, a Python format field, SQL punctuation, unicode or
a newline. Two real pods of their own: `primary` (postgres_fdw) and `hostile` (the collections).

Seeded once per module: for each hostile string S (variant i)
- on `hostile`: schema S, table S.S (vecs layout, 12 rows), HNSW index `S ix`; row ids S-0..S-11 and metadata
  {S: S, "n": k}; one table vecs.S too (the default schema of the CLI);
- on `primary`: foreign server S (every other one without extensions 'vector'), user mappings for the current user and for role S, schema S with foreign
  table S.S reading hostile's S.S, view S.S over it, and a role S.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from vecdash.config import Config, PodConfig, Settings
from vecdash.embedded import LocalPod, default_root, start_pods

HOSTILE = (
    "m[/]",
    "[bold]x",
    "see [/docs/x]",
    "x[/b]",
    "50%off",
    "{}",
    "{0}",
    "%s",
    "a'b\"c",
    "semi;colon",
    "naïve ✓ 日本",
    "new\nline",
    "[fix]",
    "%(x)s",
)
ROWS = 12
DIM = 4
PASSWORD = "hostile-Pw-3x"


def index_name(s: str) -> str:
    return s + " ix"  # an index shares the table's namespace


def quoted(name: str) -> str:
    """A name as the CLI reads it: double-quoted, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class HostileEstate:
    root: Path
    primary: LocalPod
    pod: LocalPod

    def config(self, **settings) -> Config:
        base = dict(statement_timeout_ms=5000, connect_timeout_s=3, refresh_seconds=3600)
        base.update(settings)
        pods = (PodConfig(name="primary", role="primary", dsn=self.primary.dsn()),
                PodConfig(name="hostile", role="secondary", dsn=self.pod.dsn()))
        return Config(pods=pods, settings=Settings(**base), path="<hostile>")

    def write_config(self, path: Path) -> Path:
        lines = ["pods:"]
        for p in self.config().pods:
            lines += [f"  - name: {p.name}", f"    role: {p.role}", f"    dsn: {p.dsn}"]
        lines += ["settings:", "  statement_timeout_ms: 5000", "  connect_timeout_s: 3"]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path

    def sql(self, which: str, statement, params=None):
        pod = self.primary if which == "primary" else self.pod
        with psycopg.connect(pod.dsn(), autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else None

    def stop(self) -> None:
        for p in (self.primary, self.pod):
            p.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _seed_pod(pod: LocalPod) -> None:
    from pgvector.psycopg import register_vector

    rng = np.random.default_rng(12)
    with psycopg.connect(pod.dsn(), autocommit=True) as conn:
        conn.execute("create schema if not exists vecs")
        register_vector(conn)
        for s in HOSTILE:
            for schema in (s, "vecs"):
                table = sql.Identifier(schema, s)
                conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
                conn.execute(sql.SQL("create table {} (id character varying primary key, vec vector({}) not null, "
                                     "metadata jsonb not null default '{{}}'::jsonb)").format(table, sql.Literal(DIM)))
                with conn.cursor() as cur, cur.copy(
                        sql.SQL("copy {} (id, vec, metadata) from stdin with (format binary)").format(table)) as cp:
                    cp.set_types(["character varying", "vector", "jsonb"])
                    for k in range(ROWS):
                        cp.write_row((f"{s}-{k}", rng.standard_normal(DIM).astype(np.float32), Jsonb({s: s, "n": k})))
                conn.execute(sql.SQL("create index {} on {} using hnsw (vec vector_cosine_ops)").format(
                    sql.Identifier(index_name(s)), table))
                conn.execute(sql.SQL("analyze {}").format(table))


def _seed_primary(primary: LocalPod, pod: LocalPod) -> None:
    with psycopg.connect(primary.dsn(), autocommit=True) as conn:
        conn.execute("create extension if not exists postgres_fdw")
        for i, s in enumerate(HOSTILE):
            server, ident = sql.Identifier(s), sql.Identifier(s, s)
            conn.execute(sql.SQL("create role {}").format(sql.Identifier(s)))
            # every other server lacks `extensions 'vector'`: a doctor finding (with a fix) about it
            ext = sql.SQL(", extensions 'vector'" if i % 2 == 0 else "")
            conn.execute(sql.SQL("create server {} foreign data wrapper postgres_fdw options "
                                 "(host '127.0.0.1', port {}, dbname 'postgres'{})").format(
                server, sql.Literal(str(pod.port)), ext))
            for who in (sql.SQL("current_user"), sql.Identifier(s)):
                conn.execute(sql.SQL("create user mapping for {} server {} options (user 'postgres', password {})")
                             .format(who, server, sql.Literal(pod.password)))
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(s)))
            conn.execute(sql.SQL("create foreign table {} (id character varying not null, vec vector({}) not null, "
                                 "metadata jsonb not null) server {} options (schema_name {}, table_name {})").format(
                ident, sql.Literal(DIM), server, sql.Literal(s), sql.Literal(s)))
            conn.execute(sql.SQL("create view {} as select id, vec, metadata from {}").format(
                sql.Identifier(s, s + " view"), ident))
            conn.execute(sql.SQL("analyze {}").format(ident))


def start_hostile_estate() -> HostileEstate:
    root = default_root("vdh-")
    primary, pod = start_pods(root, ["primary", "hostile"], password=PASSWORD)
    for p in (primary, pod):
        p.psql("create extension if not exists vector")
    estate = HostileEstate(root=root, primary=primary, pod=pod)
    try:
        _seed_pod(pod)
        _seed_primary(primary, pod)
    except BaseException:
        estate.stop()
        raise
    return estate
