"""Shared benchmark machinery: embedded pods, cached data sets, timing, ratio reporting.

Every figure is measured side by side in one run and reported as medians with spread, then as a
ratio against its target. No figure is ever asserted in a unit test: these machines are noisy.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from vecdash import datagen
from vecdash.config import Config, PodConfig, Settings
from vecdash.embedded import LocalPod, start_pods

POD_NAMES = ["primary", "pod-a", "pod-b", "pod-c"]
# Sized as pgvector advises for a serving pod: its HNSW indexes fit in shared_buffers (a 100k x 384
# index is ~195 MB; the embedded default of 128 MB would make every query copy index pages in from
# the OS cache, which is most of its CPU). Pods already running with other settings are restarted.
SERVER_SETTINGS = {"shared_buffers": "1GB"}


@dataclass
class Sample:
    label: str
    ms: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.ms)

    def spread(self) -> str:
        if len(self.ms) < 4:
            return f"n={len(self.ms)}"
        q = statistics.quantiles(self.ms, n=10)
        return f"p10 {q[0]:.2f} / p90 {q[-1]:.2f} ms, n={len(self.ms)}"


@dataclass
class Ratio:
    """numerator / denominator of medians, checked against `target` (`<=` or `>=`)."""

    name: str
    numerator: Sample
    denominator: Sample
    target: float
    op: str = "<="

    @property
    def value(self) -> float:
        return self.numerator.median / self.denominator.median

    @property
    def ok(self) -> bool:
        return self.value <= self.target if self.op == "<=" else self.value >= self.target


@dataclass
class Figure:
    """A plain measured value with an optional target (e.g. recall@10 >= 0.9)."""

    name: str
    value: float
    unit: str = ""
    target: float | None = None
    op: str = ">="
    detail: str = ""

    @property
    def ok(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.op == ">=" else self.value <= self.target


@dataclass
class BenchContext:
    root: Path
    quick: bool
    pods: dict[str, LocalPod] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return 20_000 if self.quick else 100_000

    dim: int = 384

    def dsn(self, pod: str) -> str:
        return self.pods[pod].dsn()

    def config(self, names: list[str] | None = None, read_only: bool = False) -> Config:
        chosen = names or list(self.pods)
        return Config(
            pods=tuple(PodConfig(name=n, role="primary" if n == "primary" else "secondary", dsn=self.dsn(n)) for n in chosen),
            settings=Settings(statement_timeout_ms=60_000, connect_timeout_s=5, read_only=read_only),
            path="<bench>",
        )

    def ensure_collection(self, pod: str, name: str, rows: int | None = None, dim: int | None = None, *,
                          seed: int = 7, start: int = 0, measure: str = "cosine", index: bool = True) -> None:
        """A vecs-layout collection with clustered data (+ HNSW), built once and kept between runs."""
        rows = rows or self.rows
        dim = dim or self.dim
        from pgvector.psycopg import register_vector

        with psycopg.connect(self.dsn(pod), autocommit=True) as conn:
            conn.execute("create extension if not exists vector")
            conn.execute("create schema if not exists vecs")
            table = sql.Identifier("vecs", name)
            exists = conn.execute("select to_regclass(%s) is not null", (f'vecs."{name}"',)).fetchone()[0]
            if exists:
                n = conn.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()[0]
                has_ix = conn.execute("select count(*) from pg_indexes where schemaname='vecs' and tablename=%s and indexdef ilike '%%hnsw%%'", (name,)).fetchone()[0]
                if n == rows and (has_ix > 0) == index:
                    return
                conn.execute(sql.SQL("drop table {}").format(table))
            register_vector(conn)
            conn.execute(sql.SQL("create table {} (id character varying primary key, vec vector({}) not null, "
                                 "metadata jsonb not null default '{{}}'::jsonb)").format(table, sql.Literal(dim)))
            vecs = datagen.clustered_vectors(rows, dim, seed=seed)
            t = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(sql.SQL("copy {} (id, vec, metadata) from stdin with (format binary)").format(table)) as cp:
                    cp.set_types(["character varying", "vector", "jsonb"])
                    for i in range(rows):
                        cp.write_row((f"{name}-{start + i}", vecs[i],
                                      psycopg.types.json.Jsonb(datagen.metadata_for(start + i, "docs", seed))))
            log(f"  loaded {pod}/vecs.{name}: {rows} x {dim} in {time.perf_counter() - t:.1f}s")
            if index:
                t = time.perf_counter()
                conn.execute("set maintenance_work_mem = '1GB'")
                conn.execute("set max_parallel_maintenance_workers = 1")
                ops = sql.Identifier(f"vector_{measure}_ops")  # an opclass name is an identifier
                conn.execute(sql.SQL("create index {} on {} using hnsw (vec {}) with (m = 16, ef_construction = 64)").format(
                    sql.Identifier(f"ix_vector_{measure}_ops_hnsw_m16_efc64_{name[:20]}"), table, ops))
                conn.execute(sql.SQL("create index {} on {} using gin (metadata jsonb_path_ops)").format(
                    sql.Identifier(f"ix_meta_{name[:40]}"), table))
                log(f"  indexed {pod}/vecs.{name} (hnsw) in {time.perf_counter() - t:.1f}s")
            conn.execute(sql.SQL("vacuum analyze {}").format(table))


    def prewarm(self, pod: str, name: str) -> None:
        """Load a collection's table and indexes into shared_buffers (pg_prewarm), as a DBA does after a
        restart, so every variant is timed on a warm pod whatever ran before it."""
        with psycopg.connect(self.dsn(pod), autocommit=True) as conn:
            conn.execute("create extension if not exists pg_prewarm")
            conn.execute("select pg_prewarm(c.oid) from pg_class c where c.oid = %s::regclass "
                         "or c.oid in (select indexrelid from pg_index where indrelid = %s::regclass)",
                         (f'vecs."{name}"', f'vecs."{name}"'))


def log(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr, flush=True)


def timed(fn: Callable[[], object], n: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def interleaved(fns: dict[str, Callable[[], object]], n: int, warmup: int = 3, shuffle: bool = False) -> dict[str, Sample]:
    """Time several variants round-robin so drift on a noisy machine hits all of them alike. `shuffle`
    runs each round in another order (seeded), so no variant always follows the same other one."""
    import random

    for fn in fns.values():
        for _ in range(warmup):
            fn()
    ms: dict[str, list[float]] = {k: [] for k in fns}
    order, rng = list(fns), random.Random(7)
    for _ in range(n):
        if shuffle:
            rng.shuffle(order)
        for k in order:
            t = time.perf_counter()
            fns[k]()
            ms[k].append((time.perf_counter() - t) * 1000)
    return {k: Sample(k, v) for k, v in ms.items()}


def bench_root() -> Path:
    import os

    return Path(os.environ.get("VECDASH_BENCH_DIR") or Path(tempfile.gettempdir()) / "vecdash-bench")


def start(quick: bool, fresh: bool = False) -> BenchContext:
    root = bench_root() / ("quick" if quick else "full")
    if fresh and root.exists():
        for n in POD_NAMES:
            LocalPod(name=n, root=root / n).destroy()
    root.mkdir(parents=True, exist_ok=True)
    pods = start_pods(root, POD_NAMES, settings=SERVER_SETTINGS)
    for p in pods:
        if any(p.psql(f"show {k}").strip() != v for k, v in SERVER_SETTINGS.items()):
            log(f"  restarting {p.name} with {SERVER_SETTINGS}")
            p.stop()
            p.start()
    return BenchContext(root=root, quick=quick, pods={p.name: p for p in pods})


def runqueue_wait_s() -> float:
    """How long the calling thread has waited for a core so far (Linux schedstat; 0 where it is not
    available). A loop's tick late by this much was late because the machine gave it no core, not
    because anything ran on the loop: what an event-loop stall figure subtracts to be the loop's own."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc (a pod's backend included:
    readable by root or by the user the pods run as). Clock-tick resolution: measure batches."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_call(fn: Callable[[], object], n: int, server_pids: list[int]) -> tuple[float, float]:
    """(CPU ms per call summed over this client and the given server backends, wall ms per call).

    The CPU sum is a floor for the wall time on this machine: on C cores a call cannot finish in less
    than cpu / C, whatever runs concurrently."""
    c0 = time.process_time()
    s0 = sum(process_cpu_s(p) for p in server_pids)
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    wall = (time.perf_counter() - t0) * 1000 / n
    cpu = (time.process_time() - c0 + sum(process_cpu_s(p) for p in server_pids) - s0) * 1000 / n
    return cpu, wall


def run_alone(run) -> None:
    """`python -m benchmarks.bench_X [--quick]`: one module's figures, its pods stopped after."""
    import os
    import sys

    ctx = start(quick="--quick" in sys.argv)
    try:
        for r in run(ctx):
            print(r.name, round(r.value, 3), getattr(r, "detail", ""))
    finally:
        for p in ctx.pods.values():
            p.stop()
    os._exit(0)
