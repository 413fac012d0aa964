"""The demo estate: three embedded pods seeded like the Supabase "Engineering for Scale" guide.

primary    - the application database; reaches the pods through postgres_fdw
vectors-a  - vecs.docs   (384-d, HNSW cosine): the first half of its rows
vectors-b  - vecs.docs   (the second half), vecs.posts (384-d, HNSW cosine), vecs.images (512-d, HNSW l2)

docs is one collection sharded over two pods, so the fanout and federated routes merge real answers.
The primary gets healthy wirings (both shards of docs, with `extensions 'vector'`) and one legacy
wiring (posts, without it) that the doctor flags as slow. Data is kept between runs (fast second start).
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
from vecdash.config import last_demo_pointer
from vecdash.embedded import LocalPod, start_pods, write_private
from vecdash.errors import UserError

POD_NAMES = ["primary", "vectors-a", "vectors-b"]

# Written first when vecdash makes an estate; --reset deletes only a directory that holds it and
# nothing but what vecdash puts there.
ESTATE_MARKER = ".vecdash-demo"
ESTATE_FILES = {ESTATE_MARKER, "pgpass", "vecdash.yaml", "seeded.json", *POD_NAMES}
POD_FILES = {"data", "sock", "server.log", "pod.json", ".pw"}
NO_MARKER = f"no {ESTATE_MARKER} marker: vecdash did not make it"


@dataclass(frozen=True)
class DemoCollection:
    pod: str
    name: str
    dimension: int
    rows: int
    measure: str  # opclass suffix
    seed: int
    first: int = 0  # a shard holds rows first .. first+rows-1 of the collection (same vectors, ids, metadata)


DEMO_COLLECTIONS = [
    DemoCollection("vectors-a", "docs", 384, 10_000, "cosine", 1),
    DemoCollection("vectors-b", "docs", 384, 10_000, "cosine", 1, first=10_000),
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
    write_private(pgpass, "".join(f"127.0.0.1:{p.port}:*:postgres:{p.password}\n" for p in pods))
    lines = ["# written by `vecdash demo`: the local demo estate", "pods:"]
    for p in pods:
        role = "primary" if p.name == "primary" else "secondary"
        lines += [f"  - name: {p.name}", f"    role: {role}",
                  f"    dsn: postgresql://postgres@127.0.0.1:{p.port}/postgres?passfile={pgpass}"]
    lines += ["settings:", "  refresh_seconds: 5", "  statement_timeout_ms: 5000", "  connect_timeout_s: 3",
              "  read_only: false",
              "  # the demo workload's open transaction raises the alert within a walkthrough",
              "  long_transaction_s: 60"]
    path = root / "vecdash.yaml"
    write_private(path, "\n".join(lines) + "\n")
    return path


def _estate_problem(root: Path) -> str | None:
    """Why `root` is not a demo estate vecdash made and may delete, or None."""
    if root.is_symlink() or not root.is_dir():
        return "not a directory"
    st = root.lstat()
    if st.st_uid != os.geteuid():
        return "owned by another user"
    if st.st_mode & 0o022:
        return "writable by group or others"
    names = {p.name for p in root.iterdir()}
    if ESTATE_MARKER not in names:
        return NO_MARKER
    stray = sorted(names - ESTATE_FILES)
    for pod in POD_NAMES:
        sub = root / pod
        if sub.is_symlink() or (sub.exists() and not sub.is_dir()):
            stray.append(pod)
        elif sub.is_dir():
            stray += [f"{pod}/{n.name}" for n in sub.iterdir() if n.name not in POD_FILES]
    if stray:
        return "holds what vecdash did not put there: " + ", ".join(stray[:5]) + (" ..." if len(stray) > 5 else "")
    return None


def claim_estate(root: Path) -> None:
    """Make `root` an estate (new or empty), or check that it is one; UserError (exit 2) otherwise.

    The default <tmp>/vecdash-demo is a guessable path: another local user could have made it first,
    or planted links in it, so an existing directory is used only if it is ours and marked."""
    if root.exists() or root.is_symlink():
        if _estate_problem(root) == NO_MARKER and not any(root.iterdir()):
            write_private(root / ESTATE_MARKER, "vecdash demo estate\n")  # an empty directory of ours
        problem = _estate_problem(root)
        if problem:
            raise UserError(f"{root} is not a vecdash demo estate ({problem}); choose another --dir")
        return
    root.mkdir(mode=0o700, parents=True)
    write_private(root / ESTATE_MARKER, "vecdash demo estate\n")


def reset_estate(root: Path) -> None:
    """Delete a demo estate: only one vecdash made and holding nothing else (UserError otherwise)."""
    if not root.exists() and not root.is_symlink():
        return
    problem = _estate_problem(root)
    if problem:
        raise UserError(f"refusing to delete {root}: not a vecdash demo estate ({problem})")
    for p in demo_pods(root):
        p.destroy()
    import shutil

    shutil.rmtree(root)


def bring_up(root: Path | None = None, *, reset: bool = False, progress: Progress | None = None,
             scale: float = 1.0) -> tuple[Path, list[LocalPod]]:
    """Start (and on first run seed) the estate. Returns the config path and the running pods.

    `scale` shrinks the row counts (tests use a small estate of the same shape).
    """
    root = Path(root) if root else default_demo_dir()
    if reset:
        reset_estate(root)
    claim_estate(root)
    pods = start_pods(root, POD_NAMES)
    config_path = write_config(root, pods)
    marker = root / "seeded.json"
    shape = [f"{c.pod}/{c.name}" for c in DEMO_COLLECTIONS]
    if not marker.exists():
        seed_estate({p.name: p for p in pods}, config_path, progress=progress, scale=scale)
        write_private(marker, json.dumps({"collections": shape}))
    elif json.loads(marker.read_text()).get("collections") != shape:
        stop(pods)
        raise UserError(f"{root} was seeded by another version of the demo; `vecdash demo --reset` re-seeds it")
    return config_path, pods


def remember(config_path: Path) -> None:
    """Record the estate's config as the last demo's, the config lookup's last fallback (config.py):
    `vecdash status` after `vecdash demo` finds this estate from any directory."""
    pointer = last_demo_pointer()
    pointer.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(pointer, f"{Path(config_path).resolve()}\n")


def stop(pods: list[LocalPod]) -> None:
    for p in pods:
        p.stop()


def seed_estate(pods: dict[str, LocalPod], config_path: Path, progress: Progress | None = None,
                scale: float = 1.0) -> None:
    from dataclasses import replace

    for c in DEMO_COLLECTIONS:
        if scale != 1.0:
            c = replace(c, rows=max(100, int(c.rows * scale)), first=int(c.first * scale))
        seed_collection(pods[c.pod].dsn(), c, progress=progress)
    wire_docs(config_path)  # first: vecdash would otherwise reuse (and fix) legacy_b for the vectors-b shard
    wire_legacy(pods)


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
        vectors = datagen.clustered_vectors(c.first + c.rows, c.dimension, seed=c.seed)[c.first:]
        prefix = c.name[:-1]
        label = f"{c.pod}/{c.name}: loading"
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(sql.SQL("copy {} (id, vec, metadata) from stdin with (format binary)").format(table)) as cp:
                cp.set_types(["character varying", "vector", "jsonb"])
                for i in range(c.rows):
                    n = c.first + i
                    cp.write_row((f"{prefix}-{n}", vectors[i], psycopg.types.json.Jsonb(datagen.metadata_for(n, c.name, c.seed))))
                    if (i + 1) % batch == 0 and i + 1 < c.rows:  # 100% only once committed, below
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
    """docs is wired the way vecdash wires: its own plan per shard, each applied in one transaction. The
    view public.docs reads the vectors-a shard; the federated route reads both foreign tables."""
    import asyncio

    from vecdash.config import load_config
    from vecdash.db.pods import PodClient
    from vecdash.service import wiring

    async def go() -> None:
        client = PodClient(load_config(str(config_path)))
        try:
            plan = await wiring.plan_wire(client, "vectors-a", "docs", expose=[("url", "text"), ("year", "int")])
            await wiring.apply_plan(client, plan)
            plan = await wiring.plan_wire(client, "vectors-b", "docs", create_view=False)
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
