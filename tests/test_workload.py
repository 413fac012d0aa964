"""The demo workload (service/workload.py, the demo console's `l` and `b`) on real pods: its sessions are
an application's (`demo-app`) running vector queries, one slow, one left idle in transaction; the index
build shows its phases and leaves nothing behind; stop leaves no session; a hung or killed pod pauses
only its own loop, never the others or the console; read-only refuses the build before any I/O.
"""

from __future__ import annotations

import asyncio
import shutil
import time

import psycopg
import pytest

from vecdash.config import Config, PodConfig, Settings
from vecdash.embedded import LocalPod, default_root, start_pods
from vecdash.errors import ReadOnlyError
from vecdash.service.workload import APPLICATION_NAME, BUILD_INDEX, Shape, Workload

from .conftest import TEST_PASSWORD
from .test_faults import watched

SETTINGS = Settings(connect_timeout_s=1, statement_timeout_ms=1000, refresh_seconds=600)
QUICK = Shape(slow_sleep_s=4, slow_pause_s=0.5, open_after_s=0.5, open_hold_s=6, open_pause_s=60,
              build_keep_s=1, retry_s=0.5, retry_max_s=1)
ACTIVITY = ("select application_name, state, query, extract(epoch from now() - query_start)::float8 "
            "from pg_stat_activity where pid <> pg_backend_pid() and backend_type = 'client backend' "
            "and application_name in ('demo-app', 'vecdash')")


def seed(pod: LocalPod, name: str, dim: int, rows: int, ops: str = "vector_cosine_ops") -> None:
    from psycopg import sql

    table = sql.Identifier("vecs", name)
    with psycopg.connect(pod.dsn(), autocommit=True) as c:
        c.execute("create extension if not exists vector; create schema if not exists vecs")
        c.execute(sql.SQL("drop table if exists {}").format(table))
        c.execute(sql.SQL("create table {} (id varchar primary key, vec vector({}) not null, "
                          "metadata jsonb not null default '{{}}')").format(table, sql.Literal(dim)))
        c.execute(sql.SQL("insert into {} select 'r' || i, (select array_agg(random())::vector({}) "
                          "from generate_series(1, {}) where i > 0), '{{}}' from generate_series(1, {}) i").format(
                              table, sql.Literal(dim), sql.Literal(dim), sql.Literal(rows)))
        c.execute(sql.SQL("create index on {} using hnsw (vec {})").format(table, sql.Identifier(ops)))
        c.execute(sql.SQL("analyze {}").format(table))
        c.execute("checkpoint")


@pytest.fixture(scope="module")
def pods():
    root = default_root("vwl-")
    a, b = start_pods(root, ["wl-a", "wl-b"], password=TEST_PASSWORD)
    try:
        seed(a, "docs", 384, 500)
        seed(b, "docs", 384, 500)
        seed(b, "images", 16, 300, "vector_l2_ops")
        seed(b, "posts", 384, 3000)  # the largest: the build's
        yield {"wl-a": a, "wl-b": b}
    finally:
        for p in (a, b):
            p.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def config_of(*pods: LocalPod, read_only: bool = False) -> Config:
    from dataclasses import replace

    return Config(pods=tuple(PodConfig(p.name, "primary" if i == 0 else "secondary", p.dsn()) for i, p in enumerate(pods)),
                  settings=replace(SETTINGS, read_only=read_only), path="<workload>")


def activity(pod: LocalPod) -> list[tuple]:
    with psycopg.connect(pod.dsn(), autocommit=True) as c:
        return c.execute(ACTIVITY).fetchall()


def indexes(pod: LocalPod, table: str) -> list[tuple]:
    with psycopg.connect(pod.dsn(), autocommit=True) as c:
        return c.execute("select indexrelid::regclass::text, indisvalid from pg_index where indrelid = %s::regclass "
                         "order by 1", (table,)).fetchall()


async def until(cond, what: str, limit: float = 20.0, step: float = 0.1):
    deadline = time.monotonic() + limit
    while True:
        got = await asyncio.to_thread(cond)
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(step)


async def no_sessions_left(*pods: LocalPod) -> None:
    """The workload's sessions end within a moment of stop (the server reaps a closed client's backend)."""
    await until(lambda: not any(activity(p) for p in pods), "the workload's sessions to end", limit=3.0)


# --- the workload's sessions -------------------------------------------------------------------------


async def test_sessions_look_like_an_application_with_vector_queries_a_slow_one_and_an_open_transaction(pods):
    a, b = pods["wl-a"], pods["wl-b"]
    w = Workload(config_of(a, b), QUICK)
    w.start()
    seen: dict[str, set] = {"vector": set(), "slow": set(), "open": set()}

    def look() -> bool:
        for p in (a, b):
            for app, state, query, age in activity(p):
                if app != APPLICATION_NAME or not query:
                    continue
                if "<=>" in query or "<->" in query:
                    seen["vector"].add(p.name)
                if state == "active" and "pg_sleep" in query and age >= 2.0:
                    seen["slow"].add(p.name)
                if state == "idle in transaction" and "<=>" in query:
                    seen["open"].add(p.name)
        return seen["vector"] == {"wl-a", "wl-b"} and seen["slow"] and seen["open"]

    try:
        await until(look, f"vector queries on both pods, a slow one active for 2 s, an open transaction: {seen}")
        status = w.status()
        assert status.running and all(p.queries > 0 and p.paused is None for p in status.pods), status
        assert {p.name: p.collections for p in status.pods} == {"wl-a": 1, "wl-b": 3}
    finally:
        t0 = time.monotonic()
        await w.stop()
        assert time.monotonic() - t0 < 2.0, "stop waited on the queries instead of ending them"
    await no_sessions_left(a, b)  # the slow query was cut short inside pg_sleep, the transaction rolled back


# --- the index build on request --------------------------------------------------------------------


async def test_index_build_shows_its_phases_then_is_dropped(pods):
    b = pods["wl-b"]
    before = indexes(b, "vecs.posts")
    w = Workload(config_of(b), QUICK)
    phases: set[tuple[str, str]] = set()

    def progress() -> bool:
        with psycopg.connect(b.dsn(), autocommit=True) as c:
            for row in c.execute("select command, phase from pg_stat_progress_create_index "
                                 "where relid = 'vecs.posts'::regclass").fetchall():
                phases.add(row)
        return False

    try:
        target = await w.request_build()
        assert target.label == "wl-b/vecs.posts"
        watcher = asyncio.ensure_future(until(progress, "never", limit=120, step=0.05))
        line = await asyncio.wait_for(w.wait_build(), 120)
        watcher.cancel()
        assert "built ix_demo_app_build on wl-b/vecs.posts" in line and "dropped" in line, line
        assert {c for c, _ in phases} == {"CREATE INDEX CONCURRENTLY"}, phases
        assert any(p.startswith("building index") for _, p in phases), phases
        assert indexes(b, "vecs.posts") == before  # dropped again: the estate is as it was
    finally:
        await w.stop()
    await no_sessions_left(b)


async def test_stop_during_the_build_cancels_it_and_drops_its_index(pods):
    b = pods["wl-b"]
    before = indexes(b, "vecs.posts")
    w = Workload(config_of(b), QUICK)
    w.start()
    await w.request_build()

    def building() -> bool:
        with psycopg.connect(b.dsn(), autocommit=True) as c:
            return bool(c.execute("select 1 from pg_stat_progress_create_index where relid = 'vecs.posts'::regclass "
                                  "and phase like 'building index%'").fetchall())

    await until(building, "the build to load tuples")
    assert any(BUILD_INDEX in str(i) for i in indexes(b, "vecs.posts"))
    await asyncio.wait_for(w.stop(), 40)
    assert indexes(b, "vecs.posts") == before  # no invalid leftover either
    await no_sessions_left(b)


# --- read-only ------------------------------------------------------------------------------------------


async def test_read_only_refuses_the_build_before_any_io_and_reads_on_read_only_sessions(pods):
    from vecdash.service.console_api import ConsoleApi

    b = pods["wl-b"]
    config = config_of(b, read_only=True)
    w = Workload(config, QUICK)
    with pytest.raises(ReadOnlyError):
        await w.request_build()
    api = ConsoleApi(config)
    with pytest.raises(ReadOnlyError):
        await api.start_index_build()
    assert not activity(b), "a refused build opened a session"
    await api.close()

    w.start()
    try:
        await until(lambda: w.status().pods[0].queries > 0, "read-only queries")

        async def setting(conn):
            return (await (await conn.execute("show default_transaction_read_only")).fetchone())[0]

        assert await w._call("wl-b", setting) == "on"  # the server refuses any write on these sessions
    finally:
        await w.stop()
    await no_sessions_left(b)


# --- a hung or killed pod, in the console ----------------------------------------------------------------


@pytest.fixture
def victim(spare_pod):
    seed(spare_pod, "docs", 8, 200, "vector_l2_ops")
    yield spare_pod
    spare_pod.resume()
    if not spare_pod.is_running():
        (spare_pod.data / "postmaster.pid").unlink(missing_ok=True)
        spare_pod.start()


@pytest.mark.parametrize("how", ["hung", "killed"])
async def test_a_hung_or_killed_pod_pauses_only_its_own_load_and_never_the_console(pods, victim, how):
    from vecdash.tui.app import VecdashApp

    a = pods["wl-a"]
    app = VecdashApp(config_of(a, victim), demo=True)
    app.api._the_workload().shape = QUICK

    def loads():
        return {p.name: p for p in app.api.workload_status().pods}

    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.press("l")
        await until(lambda: app.api.workload_running and loads()["spare"].queries > 0, "queries on the victim")
        await pilot.press("2", "1")  # the wiring pane's first showing (its layout) falls outside the measure
        await pilot.pause(0.2)

        async def hang_and_recover():  # signals and pg_ctl in threads: only the console's own waits are measured
            await asyncio.to_thread(victim.pause if how == "hung" else victim.kill)
            await until(lambda: loads()["spare"].paused, "the victim's load to pause", limit=3 * SETTINGS.call_timeout_s)
            before = loads()["wl-a"].queries
            await pilot.press("2")
            await pilot.pause(0.2)
            assert app.active_pane == "wiring"  # keys still work
            await until(lambda: loads()["wl-a"].queries >= before + 3, "queries on the healthy pod")
            if how == "hung":
                await asyncio.to_thread(victim.resume)
            else:
                (victim.data / "postmaster.pid").unlink(missing_ok=True)
                await asyncio.to_thread(victim.start)
            resumed = loads()["spare"].queries
            await until(lambda: loads()["spare"].queries > resumed, "the victim's load to resume", limit=15)

        _, _, stall = await watched(hang_and_recover())
        assert stall < 0.5, f"the event loop stalled {stall:.2f} s"
        await pilot.press("l")
        await until(lambda: not app.api.workload_running, "l to stop the workload")
    await no_sessions_left(a, victim)


# --- the demo console's keys -----------------------------------------------------------------------------


async def test_demo_console_keys_start_stop_and_build_and_exit_leaves_no_session(pods):
    from vecdash.tui.app import VecdashApp

    a, b = pods["wl-a"], pods["wl-b"]
    before = indexes(b, "vecs.posts")
    app = VecdashApp(config_of(a, b), demo=True)
    app.api._the_workload().shape = QUICK
    demo_app = lambda p: any(r[0] == APPLICATION_NAME for r in activity(p))  # noqa: E731
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.press("l")
        await until(lambda: demo_app(a) and demo_app(b), "the workload's sessions on both pods")
        await pilot.press("l")
        await until(lambda: not app.api.workload_running, "l to stop it")
        await until(lambda: not demo_app(a) and not demo_app(b), "its sessions to end", limit=3)
        await pilot.press("l")
        await pilot.press("b")
        await until(lambda: any(BUILD_INDEX in str(i) for i in indexes(b, "vecs.posts")), "b to start the build")
    # the console closed mid-build: the build was cancelled, its index dropped, every session closed
    assert indexes(b, "vecs.posts") == before
    await no_sessions_left(a, b)


def test_workload_keys_exist_only_in_the_demo_and_build_not_read_only(pods):
    from vecdash.tui.app import VecdashApp

    config = config_of(pods["wl-a"])
    offered = lambda app: {a.name for a in app.console_actions}  # noqa: E731
    assert not {"workload", "workload_index"} & offered(VecdashApp(config, live=False))
    assert {"workload", "workload_index"} <= offered(VecdashApp(config, demo=True, live=False))
    read_only = VecdashApp(config_of(pods["wl-a"], read_only=True), demo=True, live=False)
    assert "workload" in offered(read_only) and "workload_index" not in offered(read_only)
    assert not read_only.check_action("workload_index", ())


# --- `vecdash demo --workload --no-tui`: in the foreground until Ctrl-C --------------------------------


async def test_cli_workload_runs_until_ctrl_c_then_leaves_no_session(pods, tmp_path):
    import signal
    import subprocess
    import sys

    a = pods["wl-a"]
    path = tmp_path / "estate.yaml"
    path.write_text(f"pods:\n  - name: wl-a\n    role: primary\n    dsn: {a.dsn()}\n")
    path.chmod(0o600)
    code = ("import argparse, sys; from vecdash.cli.demo import run_workload; "  # what --workload --no-tui runs
            f"sys.exit(run_workload(argparse.Namespace(config={str(path)!r}, read_only=False, build_index=False)))")
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    try:
        await until(lambda: any(r[0] == APPLICATION_NAME for r in activity(a)), "the workload's sessions")
    finally:
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=30)[1]
    assert proc.returncode == 0 and "workload stopped" in err and "Traceback" not in err, err
    await no_sessions_left(a)
