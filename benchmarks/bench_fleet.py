"""A fleet of pods: `vecdash status` and the console over N pods against one pod and the machine's floor.

N pods (200; 40 with --quick) are N databases on FLEET_SERVERS local servers of their own (kept
between runs under the bench root), each with COLLECTIONS small vecs-shaped collections, cloned from
one template database. Side by side in one run:
- `vecdash status` over N pods / over 1 pod, whole processes (target <= 4x), and the floor: the same N
  connects + catalog reads done by plain psycopg concurrently in one process, with vecdash's own
  in-process snapshot of the N pods against it;
- the console (Textual's pilot, in a fresh process per run): first pod on screen against the one-pod
  console's time to data (target <= 1.5x), all N pods on screen, the longest event-loop stall during
  its refreshes (a 5 ms ticker's lag; target <= 50 ms) and the process's RSS (target <= 150 MB);
- the connect bound: the N-pod snapshot for a few bounds, which db/pods.py's CONNECT_SLOTS is chosen from.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.bench_catalog import create_vecs_table
from benchmarks.common import BenchContext, Figure, Ratio, Sample, interleaved, log
from vecdash.config import Config, PodConfig, Settings
from vecdash.embedded import LocalPod, start_pods

FLEET_SERVERS = 4
COLLECTIONS = 5
ROWS = 20
DIM = 384
TEMPLATE = "fleet_template"
# room for N pods' sessions on each server, plus the bench's own
SERVER_SETTINGS = {"max_connections": "300"}
BOUNDS = (4, 8, 16, 32, None)


def _bound(slots: int | None) -> str:
    return f"snapshot, connect bound {slots or 'none'}"


def fleet_size(quick: bool) -> int:
    return 40 if quick else 200


def _db(i: int) -> str:
    return f"fleet_{i:03d}"


def start_fleet(root: Path) -> list[LocalPod]:
    servers = start_pods(root / "fleet", [f"fleet-{i}" for i in range(FLEET_SERVERS)], settings=SERVER_SETTINGS)
    for s in servers:
        if any(s.psql(f"show {k}").strip() != v for k, v in SERVER_SETTINGS.items()):
            s.stop()
            s.start()
    return servers


def _template(server: LocalPod) -> None:
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (TEMPLATE,)).fetchone():
            return
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(TEMPLATE)))
    with psycopg.connect(server.dsn(TEMPLATE), autocommit=True) as conn:
        conn.execute("create extension if not exists vector")
        conn.execute("create schema if not exists vecs")
        for i in range(COLLECTIONS):
            t = sql.Identifier("vecs", f"docs_{i}")
            create_vecs_table(conn, t, DIM, ROWS)
            if i % 2 == 0:  # some indexed, some not, as an estate has
                conn.execute(sql.SQL("create index on {} using hnsw (vec vector_cosine_ops)").format(t))
        conn.execute("analyze")


def ensure_fleet(servers: list[LocalPod], n: int) -> list[tuple[LocalPod, str]]:
    """(server, database) of each of n pods, created from the template database when missing."""
    pods = [(servers[i % len(servers)], _db(i)) for i in range(n)]
    for s in servers:
        _template(s)
        with psycopg.connect(s.dsn(), autocommit=True) as conn:
            have = {r[0] for r in conn.execute("select datname from pg_database where datname like 'fleet\\_%'")}
            missing = [db for srv, db in pods if srv is s and db not in have]
            for db in missing:
                conn.execute(sql.SQL("create database {} template {} strategy file_copy").format(
                    sql.Identifier(db), sql.Identifier(TEMPLATE)))
            if missing:
                log(f"  {s.name}: {len(missing)} fleet databases created")
    return pods


def fleet_config(pods: list[tuple[LocalPod, str]], path: str = "<bench>") -> Config:
    return Config(pods=tuple(PodConfig(name=f"pod-{i:03d}", role="secondary", dsn=srv.dsn(db))
                             for i, (srv, db) in enumerate(pods)),
                  settings=Settings(statement_timeout_ms=30_000, connect_timeout_s=10, refresh_seconds=3600), path=path)


def write_config(cfg: Config, path: Path) -> Path:
    lines = ["pods:"]
    for p in cfg.pods:
        lines += [f"  - name: {p.name}", f"    role: {p.role}", f"    dsn: {p.dsn}"]
    s = cfg.settings
    lines += ["settings:", f"  statement_timeout_ms: {s.statement_timeout_ms}", f"  connect_timeout_s: {s.connect_timeout_s}",
              f"  refresh_seconds: {s.refresh_seconds}"]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


async def floor_read(cfg: Config) -> None:
    """The machine's floor: every pod's connect + catalog statement by plain psycopg, all at once."""
    from vecdash.db.catalog_sql import CATALOG_SQL

    async def one(pod: PodConfig) -> None:
        async with await psycopg.AsyncConnection.connect(pod.dsn, autocommit=True) as conn:
            await (await conn.execute(CATALOG_SQL)).fetchone()

    await asyncio.gather(*(one(p) for p in cfg.pods))


async def vecdash_read(cfg: Config, slots: int | None = -1) -> None:
    from vecdash.db.pods import PodClient
    from vecdash.service.catalog import snapshot

    client = PodClient(cfg) if slots == -1 else PodClient(cfg, connect_slots=slots)
    try:
        topo = await snapshot(client)
    finally:
        await client.close()
    assert topo.all_up, [p.error for p in topo.pods if not p.up][:3]


# --- the console, in a process of its own (python -m benchmarks.bench_fleet console CONFIG) -----------


async def console_figures(config_path: str) -> dict:
    """Start the console on the config; time to the first pod and to every pod on screen, the longest
    event-loop stall during its first refresh and a second one, and this process's RSS after them."""
    import psutil

    from vecdash.config import load_config
    from vecdash.history import HistoryFile
    from vecdash.tui.app import VecdashApp

    cfg = load_config(config_path)
    n = len(cfg.pods)
    app = VecdashApp(cfg, history=HistoryFile(None, ""))
    app.freeze_after_start = True  # as run_console does: this process runs one console
    t0 = time.perf_counter()
    worst = [0.0]
    ticking = [True]

    async def ticker() -> None:
        while ticking[0]:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            worst[0] = max(worst[0], time.perf_counter() - t - 0.005)

    async def until(cond, limit: float = 120.0) -> float:
        end = time.perf_counter() + limit
        while not cond():
            if time.perf_counter() > end:
                raise TimeoutError("the console did not get there in time")
            await asyncio.sleep(0.001)
        return (time.perf_counter() - t0) * 1000

    async with app.run_test(size=(160, 50)):
        tick = asyncio.ensure_future(ticker())
        first = await until(lambda: app.pods_shown >= 1)
        every = await until(lambda: app.pods_shown >= n)
        await until(lambda: not app.refreshing)
        stall_first = worst[0] * 1000
        worst[0] = 0.0
        app.refresh_now()
        await until(lambda: not app.refreshing)
        stall_second = worst[0] * 1000
        ticking[0] = False
        await tick
        rss = psutil.Process().memory_info().rss / 2**20
        up = sum(p.up for p in app.topology.pods)
    return {"first_ms": first, "all_ms": every, "stall_first_ms": stall_first, "stall_ms": stall_second,
            "rss_mb": rss, "up": up, "pods": n}


def _console_run(config: Path, env: dict) -> dict:
    res = subprocess.run([sys.executable, "-m", "benchmarks.bench_fleet", "console", str(config)], env=env,
                         capture_output=True, timeout=300, cwd=str(Path(__file__).resolve().parent.parent))
    if res.returncode != 0:
        raise RuntimeError(f"console run exited {res.returncode}: {res.stderr.decode()[-400:]}")
    return json.loads(res.stdout.decode().strip().splitlines()[-1])


def run(ctx: BenchContext) -> list:
    servers = start_fleet(ctx.root)
    try:
        return _measure(ctx, servers)
    finally:  # the run's own pods stop with it (run.py); these servers are this module's, data kept
        for server in servers:
            server.stop()


def _measure(ctx: BenchContext, servers: list[LocalPod]) -> list:
    n = fleet_size(ctx.quick)
    pods = ensure_fleet(servers, n)
    many, one = fleet_config(pods), fleet_config(pods[:1])
    rounds = 5 if ctx.quick else 9
    out: list = []
    with tempfile.TemporaryDirectory(prefix="vdfleet-") as tmp:
        cfg_n, cfg_1 = write_config(many, Path(tmp) / "fleet.yaml"), write_config(one, Path(tmp) / "one.yaml")
        env = {**os.environ, "HOME": tmp}

        def status(cfg: Path):
            def go() -> None:
                res = subprocess.run([sys.executable, "-m", "vecdash", "--config", str(cfg), "status"], env=env,
                                     capture_output=True, timeout=300)
                if res.returncode != 0:
                    raise RuntimeError(f"status exited {res.returncode}: {res.stderr.decode()[-300:]}")
            return go

        loop = asyncio.new_event_loop()
        try:
            bounds = {_bound(b): (lambda b=b: loop.run_until_complete(vecdash_read(many, b))) for b in BOUNDS}
            samples = interleaved({
                f"vecdash status, {n} pods": status(cfg_n),
                "vecdash status, 1 pod": status(cfg_1),
                f"plain psycopg floor, {n} pods": lambda: loop.run_until_complete(floor_read(many)),
                f"vecdash snapshot, {n} pods": lambda: loop.run_until_complete(vecdash_read(many)),
                **bounds,
            }, rounds, warmup=1)
        finally:
            loop.close()
        s_n, s_1 = samples[f"vecdash status, {n} pods"], samples["vecdash status, 1 pod"]
        floor, snap = samples[f"plain psycopg floor, {n} pods"], samples[f"vecdash snapshot, {n} pods"]
        out += [
            Ratio(f"fleet: vecdash status {n} pods vs 1 pod", s_n, s_1, target=4.0),
            Figure(f"fleet: floor, {n} connects + catalog reads", round(floor.median, 1), "ms",
                   detail=f"plain psycopg, all at once, one process ({floor.spread()}); "
                          f"{len(servers)} servers on {os.cpu_count()} cores"),
            Ratio(f"fleet: vecdash snapshot {n} pods vs the floor", snap, floor, target=1.5),
            Figure("fleet: fastest connect bound (snapshot median)", float(min(BOUNDS[:-1], key=lambda b: samples[
                _bound(b)].median)), "connects",
                detail="; ".join(f"{b or 'unbounded'}: {samples[_bound(b)].median:.0f} ms" for b in BOUNDS)),
        ]

        runs: dict[str, list[dict]] = {"n": [], "1": []}
        for _ in range(max(3, rounds // 2)):
            runs["1"].append(_console_run(cfg_1, env))
            runs["n"].append(_console_run(cfg_n, env))
    assert all(r["up"] == r["pods"] for rs in runs.values() for r in rs), "a pod was down during the console runs"
    pick = lambda key, which: Sample(f"{key} ({which})", [r[key] for r in runs[which]])  # noqa: E731
    first, to_data = pick("first_ms", "n"), pick("first_ms", "1")
    every, stall = pick("all_ms", "n"), Sample("stall", [max(r["stall_first_ms"], r["stall_ms"]) for r in runs["n"]])
    rss = pick("rss_mb", "n")
    out += [
        Ratio(f"fleet console: first pod on screen ({n} pods) vs 1-pod console", first, to_data, target=1.5),
        Figure(f"fleet console: all {n} pods on screen", round(every.median, 1), "ms", detail=every.spread()),
        Figure("fleet console: longest event-loop stall in a refresh", round(max(stall.ms), 1), "ms", target=50,
               op="<=", detail=f"worst of {len(stall.ms)} runs (first refresh and a second); median {stall.median:.1f} ms"),
        Figure(f"fleet console: client RSS with {n} pods", round(max(rss.ms), 1), "MB", target=150, op="<=",
               detail=f"after two refreshes; 1-pod console {pick('rss_mb', '1').median:.1f} MB"),
    ]
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["console"]:  # one console run, its figures as one JSON line
        print(json.dumps(asyncio.run(console_figures(sys.argv[2]))))
        os._exit(0)
    from benchmarks.common import run_alone

    run_alone(run)
