"""A fleet of pods: `vecdash status` and the console over N pods against one pod and the machine's floor.

N pods (200; 40 with --quick) are N databases on FLEET_SERVERS local servers of their own (kept
between runs under the bench root), each with COLLECTIONS small vecs-shaped collections, cloned from
one template database. Side by side in one run:
- `vecdash status` over N pods / over 1 pod, whole processes (target <= 4x), against the floor's own
  N/1 ratio (a bare interpreter with psycopg doing the same connects + catalog reads, whole processes
  too); the floor in one process (all N at once), with vecdash's own in-process snapshot against it;
- the console (Textual's pilot, in a fresh process per run): first pod on screen against the one-pod
  console's time to data (target <= 1.5x), all N pods on screen, the longest event-loop stall during
  its refreshes until painted (a 5 ms ticker's lag less the time the loop's thread waited for a core:
  the loop's own stall, target <= 50 ms), the same on the wall clock beside its floor (an idle loop in
  another process meanwhile: the machine's scheduling alone, here where the N pods' servers share the
  client's cores), the full collection the console defers to after a refresh (tui/collector.py), and
  the process's RSS (target <= 150 MB);
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
from benchmarks.common import BenchContext, Figure, Ratio, Sample, interleaved, log, runqueue_wait_s
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


def _load() -> str:
    """The 1-minute load average now (the machine is shared: a figure without it means little)."""
    try:
        return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:
        return "unknown"


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


# The floor of `status` as a whole process: an interpreter that imports psycopg alone, connects to every
# pod at once and reads the catalog statement (its text and the DSNs from files), nothing else.
FLOOR_PROCESS = """
import asyncio, sys, psycopg
dsns, text = open(sys.argv[1]).read().split(), open(sys.argv[2]).read()
async def one(dsn):
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await (await conn.execute(text)).fetchone()
async def main():
    await asyncio.gather(*(one(d) for d in dsns))
asyncio.run(main())
"""


def write_floor_inputs(cfg: Config, tmp: Path, tag: str) -> list[str]:
    """The floor process's argv for `cfg`: its DSNs and the catalog statement as text."""
    from vecdash.db.catalog_sql import CATALOG_SQL

    dsns, text = tmp / f"dsns-{tag}.txt", tmp / "catalog.sql"
    dsns.write_text("\n".join(p.dsn for p in cfg.pods))
    dsns.chmod(0o600)
    if not text.exists():
        with psycopg.connect(cfg.pods[0].dsn) as conn:
            text.write_text(CATALOG_SQL.as_string(conn))
    return [sys.executable, "-c", FLOOR_PROCESS, str(dsns), str(text)]


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
    event-loop stall during its first refresh and a second one (each until its last answers are painted),
    the full collection the console runs once a refresh is on screen (tui/collector.py), and this
    process's RSS after them."""
    import psutil

    from vecdash.config import load_config
    from vecdash.history import HistoryFile
    from vecdash.tui.app import VecdashApp

    cfg = load_config(config_path)
    n = len(cfg.pods)
    app = VecdashApp(cfg, history=HistoryFile(None, ""))
    app.freeze_after_start = True  # as run_console does: this process runs one console
    t0 = time.perf_counter()
    lags: list[tuple[float, float, float]] = []  # (end, lag, of which waiting for a core) of each late tick
    ticking = [True]

    async def ticker() -> None:
        while ticking[0]:
            t, queued = time.perf_counter(), runqueue_wait_s()
            await asyncio.sleep(0.005)
            end = time.perf_counter()
            if end - t > 0.006:
                lags.append((end, end - t - 0.005, runqueue_wait_s() - queued))

    async def until(cond, limit: float = 120.0) -> float:
        end = time.perf_counter() + limit
        while not cond():
            if time.perf_counter() > end:
                raise TimeoutError("the console did not get there in time")
            await asyncio.sleep(0.001)
        return (time.perf_counter() - t0) * 1000

    async def refresh_window(start: float) -> tuple[float, float, float]:
        """(the loop's own longest stall from `start` until the refresh is painted and its deferred
        collection has run, the longest as the clock on the wall saw it, the longest one the collection
        took part in), ms."""
        done = app.collector.deferred + 1
        await until(lambda: not app.refreshing)
        await until(lambda: app.collector.deferred >= done, limit=10.0)
        await asyncio.sleep(0.05)  # the tick the collection delayed
        gc_start, gc_end = app.collector.last
        during = [(end, lag, queued) for end, lag, queued in lags if end > start]
        own = max((lag - queued for _, lag, queued in during), default=0.0)
        wall = max((lag for _, lag, _ in during), default=0.0)
        collect = max((lag - queued for end, lag, queued in during if end > gc_start and end - lag < gc_end),
                      default=0.0)
        return own * 1000, wall * 1000, collect * 1000

    async with app.run_test(size=(160, 50)):
        tick = asyncio.ensure_future(ticker())
        first = await until(lambda: app.pods_shown >= 1)
        every = await until(lambda: app.pods_shown >= n)
        stall_first, wall_first, gc_first = await refresh_window(t0)
        start = time.perf_counter()
        app.refresh_now()
        stall_second, wall_second, gc_second = await refresh_window(start)
        ticking[0] = False
        await tick
        rss = psutil.Process().memory_info().rss / 2**20
        up = sum(p.up for p in app.topology.pods)
    return {"first_ms": first, "all_ms": every, "stall_ms": max(stall_first, stall_second),
            "wall_stall_ms": max(wall_first, wall_second), "collect_ms": max(gc_first, gc_second), "rss_mb": rss,
            "up": up, "pods": n}


async def idle_loop() -> dict:
    """The scheduling floor for the stall: an asyncio loop with nothing to do, in a process of its own,
    ticking every 5 ms until its stdin closes; its longest lag is what the machine alone costs a loop."""
    import threading

    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    worst = own = 0.0
    while not closed.is_set():
        t, queued = time.perf_counter(), runqueue_wait_s()
        await asyncio.sleep(0.005)
        lag = time.perf_counter() - t - 0.005
        worst, own = max(worst, lag), max(own, lag - (runqueue_wait_s() - queued))
    return {"idle_lag_ms": worst * 1000, "idle_own_ms": own * 1000}


def _console_run(config: Path, env: dict) -> dict:
    """One console run, with the idle loop (the stall's floor) ticking in another process meanwhile."""
    here = str(Path(__file__).resolve().parent.parent)
    idle = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_fleet", "idle"], env=env, cwd=here,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        res = subprocess.run([sys.executable, "-m", "benchmarks.bench_fleet", "console", str(config)], env=env,
                             capture_output=True, timeout=300, cwd=here)
    finally:
        out, _ = idle.communicate(b"", timeout=30)
    if res.returncode != 0:
        raise RuntimeError(f"console run exited {res.returncode}: {res.stderr.decode()[-400:]}")
    return {**json.loads(res.stdout.decode().strip().splitlines()[-1]), **json.loads(out.decode().strip())}


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

        def process(argv: list[str]):
            def go() -> None:
                subprocess.run(argv, env=env, capture_output=True, timeout=300, check=True)
            return go

        floor_n, floor_1 = write_floor_inputs(many, Path(tmp), "n"), write_floor_inputs(one, Path(tmp), "1")
        loads = [_load()]
        loop = asyncio.new_event_loop()
        try:
            bounds = {_bound(b): (lambda b=b: loop.run_until_complete(vecdash_read(many, b))) for b in BOUNDS}
            samples = interleaved({
                f"vecdash status, {n} pods": status(cfg_n),
                "vecdash status, 1 pod": status(cfg_1),
                f"floor process, {n} pods": process(floor_n),
                "floor process, 1 pod": process(floor_1),
                f"plain psycopg floor, {n} pods": lambda: loop.run_until_complete(floor_read(many)),
                f"vecdash snapshot, {n} pods": lambda: loop.run_until_complete(vecdash_read(many)),
                **bounds,
            }, rounds, warmup=1)
        finally:
            loop.close()
        s_n, s_1 = samples[f"vecdash status, {n} pods"], samples["vecdash status, 1 pod"]
        floor, snap = samples[f"plain psycopg floor, {n} pods"], samples[f"vecdash snapshot, {n} pods"]
        pf_n, pf_1 = samples[f"floor process, {n} pods"], samples["floor process, 1 pod"]
        out += [
            Ratio(f"fleet: vecdash status {n} pods vs 1 pod", s_n, s_1, target=4.0),
            Figure(f"fleet: the floor's own {n} pods vs 1 pod", round(pf_n.median / pf_1.median, 2), "x",
                   detail=f"a bare interpreter + psycopg connecting to every pod and reading the catalog: "
                          f"{pf_n.median:.0f} vs {pf_1.median:.0f} ms ({pf_n.spread()}); the status ratio can "
                          f"not go below it here"),
            Figure(f"fleet: floor, {n} connects + catalog reads", round(floor.median, 1), "ms",
                   detail=f"plain psycopg, all at once, one process ({floor.spread()}); "
                          f"{len(servers)} servers on {os.cpu_count()} cores"),
            Ratio(f"fleet: vecdash snapshot {n} pods vs the floor", snap, floor, target=1.5),
            Figure("fleet: fastest connect bound (snapshot median)", float(min(BOUNDS[:-1], key=lambda b: samples[
                _bound(b)].median)), "connects",
                detail="; ".join(f"{b or 'unbounded'}: {samples[_bound(b)].median:.0f} ms" for b in BOUNDS)),
        ]

        loads.append(_load())
        runs: dict[str, list[dict]] = {"n": [], "1": []}
        for _ in range(max(3, rounds // 2)):
            runs["1"].append(_console_run(cfg_1, env))
            runs["n"].append(_console_run(cfg_n, env))
    loads.append(_load())
    log(f"  load average at the start, between and after: {' / '.join(loads)}")
    assert all(r["up"] == r["pods"] for rs in runs.values() for r in rs), "a pod was down during the console runs"
    pick = lambda key, which: Sample(f"{key} ({which})", [r[key] for r in runs[which]])  # noqa: E731
    first, to_data = pick("first_ms", "n"), pick("first_ms", "1")
    every, stall, wall = pick("all_ms", "n"), pick("stall_ms", "n"), pick("wall_stall_ms", "n")
    rss, collect = pick("rss_mb", "n"), pick("collect_ms", "n")
    idle, idle_own = pick("idle_lag_ms", "n"), pick("idle_own_ms", "n")
    runs_of = lambda sample: ", ".join(f"{v:.0f}" for v in sample.ms)  # noqa: E731
    out += [
        Ratio(f"fleet console: first pod on screen ({n} pods) vs 1-pod console", first, to_data, target=1.5),
        Figure(f"fleet console: all {n} pods on screen", round(every.median, 1), "ms", detail=every.spread()),
        Figure("fleet console: longest event-loop stall in a refresh", round(max(stall.ms), 1), "ms", target=50,
               op="<=", detail=f"the loop's own: a tick's delay less the time its thread waited for a core "
                               f"(/proc schedstat); worst of {len(stall.ms)} runs (first refresh and a second, "
                               f"each until painted and collected); median {stall.median:.1f} ms; "
                               f"runs {runs_of(stall)}"),
        Figure("fleet console: the same stall on the wall clock", round(max(wall.ms), 1), "ms",
               detail=f"waiting for a core included: the {n} pods' servers share this machine's cores with the "
                      f"console; median {wall.median:.1f} ms; runs {runs_of(wall)}"),
        Figure("fleet console: the floor, an idle loop's longest lag meanwhile", round(idle.median, 1), "ms",
               detail=f"another process with nothing to do, beside each {n}-pod run (the machine's scheduling "
                      f"alone); runs {runs_of(idle)}; its own part (the measure above) {max(idle_own.ms):.1f} ms "
                      f"at worst; load {' / '.join(loads)}"),
        Figure("fleet console: the full collection after a refresh", round(collect.median, 1), "ms",
               detail=f"the longest stall it took part in, once the refresh is on screen (tui/collector.py; "
                      f"in the stall above too); "
                      f"worst {max(collect.ms):.0f} ms"),
        Figure(f"fleet console: client RSS with {n} pods", round(max(rss.ms), 1), "MB", target=150, op="<=",
               detail=f"after two refreshes; 1-pod console {pick('rss_mb', '1').median:.1f} MB"),
    ]
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["console"]:  # one console run, its figures as one JSON line
        print(json.dumps(asyncio.run(console_figures(sys.argv[2]))))
        os._exit(0)
    if sys.argv[1:2] == ["idle"]:  # the idle loop beside a console run, until stdin closes
        print(json.dumps(asyncio.run(idle_loop())))
        os._exit(0)
    from benchmarks.common import run_alone

    run_alone(run)
