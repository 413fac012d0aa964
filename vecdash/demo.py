"""The demo estate: three embedded pods seeded like the Supabase "Engineering for Scale" guide.

primary    - the application database; reaches the pods through postgres_fdw
vectors-a  - vecs.docs   (384-d, HNSW cosine)
vectors-b  - vecs.posts  (384-d, HNSW cosine) and vecs.images (512-d, HNSW l2)

The primary gets one healthy wiring (docs, with `extensions 'vector'`) and one legacy wiring
(posts, without it) that the doctor flags as slow. Data is kept between runs (fast second start).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from vecdash import datagen
from vecdash.embedded import LocalPod, start_pods

POD_NAMES = ["primary", "vectors-a", "vectors-b"]


@dataclass(frozen=True)
class DemoCollection:
    pod: str
    name: str
    dimension: int
    rows: int
    measure: str  # opclass suffix
    seed: int


DEMO_COLLECTIONS = [
    DemoCollection("vectors-a", "docs", 384, 20_000, "cosine", 1),
    DemoCollection("vectors-b", "posts", 384, 20_000, "cosine", 2),
    DemoCollection("vectors-b", "images", 512, 10_000, "l2", 3),
]

Progress = Callable[[str, int, int], None]  # (label, done, total)


def default_demo_dir() -> Path:
    return Path(tempfile.gettempdir()) / "vecdash-demo"


def demo_pods(root: Path) -> list[LocalPod]:
    return [LocalPod(name=n, root=root / n) for n in POD_NAMES]


def write_config(root: Path, pods: list[LocalPod]) -> Path:
    """Config for the estate. Passwords live in a .pgpass beside it (0600), not in the YAML."""
    pgpass = root / "pgpass"
    pgpass.write_text("".join(f"127.0.0.1:{p.port}:*:postgres:{p.password}\n" for p in pods))
    pgpass.chmod(0o600)
    lines = ["# written by `vecdash demo`: the local demo estate", "pods:"]
    for p in pods:
        role = "primary" if p.name == "primary" else "secondary"
        lines += [f"  - name: {p.name}", f"    role: {role}",
                  f"    dsn: postgresql://postgres@127.0.0.1:{p.port}/postgres?passfile={pgpass}"]
    lines += ["settings:", "  refresh_seconds: 5", "  statement_timeout_ms: 5000", "  connect_timeout_s: 3",
              "  read_only: false"]
    path = root / "vecdash.yaml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def bring_up(root: Path | None = None, *, reset: bool = False, progress: Progress | None = None,
             scale: float = 1.0) -> tuple[Path, list[LocalPod]]:
    """Start (and on first run seed) the estate. Returns the config path and the running pods.

    `scale` shrinks the row counts (tests use a small estate of the same shape).
    """
    root = Path(root) if root else default_demo_dir()
    if reset and root.exists():
        for p in demo_pods(root):
            p.destroy()
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    pods = start_pods(root, POD_NAMES)
    config_path = write_config(root, pods)
    marker = root / "seeded.json"
    if not marker.exists():
        seed_estate({p.name: p for p in pods}, config_path, progress=progress, scale=scale)
        marker.write_text(json.dumps({"collections": [c.name for c in DEMO_COLLECTIONS]}))
    return config_path, pods


def stop(pods: list[LocalPod]) -> None:
    for p in pods:
        p.stop()


def seed_estate(pods: dict[str, LocalPod], config_path: Path, progress: Progress | None = None,
                scale: float = 1.0) -> None:
    from dataclasses import replace

    for c in DEMO_COLLECTIONS:
        if scale != 1.0:
            c = replace(c, rows=max(100, int(c.rows * scale)))
        seed_collection(pods[c.pod].dsn(), c, progress=progress)
    wire_legacy(pods)
    wire_docs(config_path)


def seed_collection(dsn: str, c: DemoCollection, progress: Progress | None = None, batch: int = 2000) -> None:
    from pgvector.psycopg import register_vector

    report = progress or (lambda *_: None)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create extension if not exists vector")
        conn.execute("create schema if not exists vecs")
        register_vector(conn)
        table = sql.Identifier("vecs", c.name)
        conn.execute(sql.SQL("drop table if exists {}").format(table))
        conn.execute(
            sql.SQL("create table {} (id character varying primary key, vec vector({}) not null, "
                    "metadata jsonb not null default '{{}}'::jsonb)").format(table, sql.Literal(c.dimension))
        )
        vectors = datagen.clustered_vectors(c.rows, c.dimension, seed=c.seed)
        prefix = c.name[:-1]
        label = f"{c.pod}/{c.name}: loading"
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(sql.SQL("copy {} (id, vec, metadata) from stdin with (format binary)").format(table)) as cp:
                cp.set_types(["character varying", "vector", "jsonb"])
                for i in range(c.rows):
                    cp.write_row((f"{prefix}-{i}", vectors[i], psycopg.types.json.Jsonb(datagen.metadata_for(i, c.name, c.seed))))
                    if (i + 1) % batch == 0:
                        report(label, i + 1, c.rows)
        report(label, c.rows, c.rows)
        report(f"{c.pod}/{c.name}: indexing", 0, 1)
        ops = f"vector_{c.measure}_ops"
        conn.execute("set maintenance_work_mem = '256MB'")
        conn.execute(
            sql.SQL("create index {} on {} using hnsw (vec {}) with (m = 16, ef_construction = 64)").format(
                sql.Identifier(f"ix_{ops}_hnsw_m16_efc64_demo{c.seed}"), table, sql.Identifier(ops))
        )
        conn.execute(
            sql.SQL("create index {} on {} using gin (metadata jsonb_path_ops)").format(
                sql.Identifier(f"ix_meta_demo{c.seed}"), table)
        )
        conn.execute(sql.SQL("analyze {}").format(table))
        report(f"{c.pod}/{c.name}: indexing", 1, 1)


def wire_docs(config_path: Path) -> None:
    """docs is wired the way vecdash wires: its own plan, applied in one transaction."""
    import asyncio

    from vecdash.config import load_config
    from vecdash.db.pods import PodClient
    from vecdash.service import wiring

    async def go() -> None:
        client = PodClient(load_config(str(config_path)))
        try:
            plan = await wiring.plan_wire(client, "vectors-a", "docs", expose=[("url", "text"), ("year", "int")])
            await wiring.apply_plan(client, plan)
        finally:
            await client.close()

    asyncio.run(go())


def wire_legacy(pods: dict[str, LocalPod]) -> None:
    """posts is wired the way it is often done by hand: no `extensions 'vector'`, never analyzed."""
    primary, pod = pods["primary"], pods["vectors-b"]
    with psycopg.connect(primary.dsn(), autocommit=True) as conn, conn.transaction():
        conn.execute("create extension if not exists vector")
        conn.execute("create extension if not exists postgres_fdw")
        opts = sql.SQL("host '127.0.0.1', port {}, dbname 'postgres', fetch_size '1000'").format(sql.Literal(str(pod.port)))
        conn.execute(sql.SQL("create server legacy_b foreign data wrapper postgres_fdw options ({})").format(opts))
        conn.execute(sql.SQL("create user mapping for current_user server legacy_b options (user 'postgres', password {})").format(
            sql.Literal(pod.password)))
        conn.execute("create schema legacy_b")
        conn.execute("create foreign table legacy_b.posts (id character varying not null, vec vector(384) not null, "
                     "metadata jsonb not null) server legacy_b options (schema_name 'vecs', table_name 'posts')")
        conn.execute("create view public.posts as select id, vec, metadata, (metadata->>'url')::text as url from legacy_b.posts")
