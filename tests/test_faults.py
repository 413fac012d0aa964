"""Fault injection with real server processes: killed, hung (SIGSTOP), restarted, refused, primary down.

Every case checks the same three things: the state vecdash reports is true, nothing is left
half-applied, and no traceback reaches the user. Time bounds are derived from the settings
(connect_timeout_s + statement_timeout_ms + margin = Settings.call_timeout_s) - they are correctness
bounds ("a hung pod cannot freeze a refresh"), not performance targets.

The pods that get killed are this module's own (`victim`); the shared estate is never touched.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from vecdash.config import Config, PodConfig, Settings
from vecdash.db.pods import PodClient
from vecdash.embedded import LocalPod, default_root, free_port, start_pods
from vecdash.errors import PodUnavailable, UserError
from vecdash.service.catalog import snapshot

from .conftest import TEST_PASSWORD

FAST = Settings(connect_timeout_s=1, statement_timeout_ms=1000, refresh_seconds=5)
BOUND = FAST.call_timeout_s  # what one call to a dead or hung pod may cost at most
MARGIN = 1.5  # scheduling slack on a loaded 2-core machine
VICTIM_COLLECTION = "victim_docs"


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def victim_pod():
    """One pod of this module's own, killed and restarted by the tests (cheaper than initdb per test)."""
    root = default_root("vdf-")
    [pod] = start_pods(root, ["victim"], password=TEST_PASSWORD)
    pod.psql("create extension if not exists vector; create extension if not exists postgres_fdw; "
             "create schema if not exists vecs")
    pod.psql(f"create table vecs.{VICTIM_COLLECTION} (id varchar primary key, vec vector(3) not null, "
             "metadata jsonb not null default '{}'::jsonb); "
             f"insert into vecs.{VICTIM_COLLECTION} select 'r' || i, array[i, 1, 0]::vector, "
             "jsonb_build_object('i', i) from generate_series(1, 50) i")
    # embedded pods run with synchronous_commit=off: make the setup survive the crashes below
    pod.psql("checkpoint")
    try:
        yield pod
    finally:
        pod.resume()
        pod.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def victim(victim_pod):
    """The module's pod, running and not paused, before and after each test."""
    _revive(victim_pod)
    yield victim_pod
    _revive(victim_pod)


def _revive(pod: LocalPod) -> None:
    pod.resume()
    if not pod.is_running():
        (pod.data / "postmaster.pid").unlink(missing_ok=True)
        pod.start()


def hard_kill(pod: LocalPod) -> None:
    """SIGKILL the server and every backend as they are (even while SIGSTOPped): a crash."""
    for pid in pod._processes():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pod.kill()  # waits for the processes to go and removes postmaster.pid


def config(pods: list[tuple[str, str, str]], settings: Settings = FAST) -> Config:
    return Config(pods=tuple(PodConfig(name=n, role=r, dsn=d) for n, r, d in pods), settings=settings, path="<faults>")


def write_config(path: Path, pods: list[tuple[str, str, str]], settings: Settings = FAST) -> Path:
    lines = ["pods:"]
    for n, r, d in pods:
        lines += [f"  - name: {n}", f"    role: {r}", f"    dsn: {d}"]
    lines += ["settings:", f"  connect_timeout_s: {settings.connect_timeout_s}",
              f"  statement_timeout_ms: {settings.statement_timeout_ms}"]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def vecdash_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vecdash", *args], capture_output=True, text=True, timeout=timeout)


def assert_clean_failure_text(text: str) -> None:
    """What a user may see about a failure: one line, no traceback, no password."""
    assert text and "\n" not in text.strip(), text
    assert "Traceback" not in text
    assert TEST_PASSWORD not in text


async def watched(coro):
    """Await `coro` while a ticker measures the longest stall of the event loop (= console frozen)."""
    gaps: list[float] = []

    async def ticker():
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.ensure_future(ticker())
    t0 = time.monotonic()
    try:
        result = await coro
    finally:
        tick.cancel()
    return result, time.monotonic() - t0, max(gaps, default=0.0)


async def when_sleeping(pod: LocalPod, timeout: float = 10.0) -> None:
    """Wait until some backend of `pod` is inside pg_sleep (seen from an independent session)."""
    deadline = time.monotonic() + timeout
    async with await psycopg.AsyncConnection.connect(pod.dsn(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            cur = await conn.execute("select count(*) from pg_stat_activity where wait_event = 'PgSleep' "
                                     "and pid <> pg_backend_pid()")
            if (await cur.fetchone())[0]:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("no backend reached pg_sleep")


def relation_exists(pod: LocalPod, qualified: str) -> bool:
    with psycopg.connect(pod.dsn(), autocommit=True) as conn:
        return conn.execute("select to_regclass(%s) is not null", (qualified,)).fetchone()[0]


# --- killed ---------------------------------------------------------------------------------------


def test_pod_killed_during_refresh_is_reported_down_and_recovers(estate, victim):
    cfg = config([("vectors-a", "secondary", estate.dsn("vectors-a")), ("victim", "secondary", victim.dsn())])

    async def go():
        client = PodClient(cfg)
        try:
            first = await snapshot(client)
            assert first.all_up and first.pod("victim").collection("vecs", VICTIM_COLLECTION)
            # freeze the victim so the next refresh is certainly in flight on it, then crash it
            victim.pause()
            refresh = asyncio.ensure_future(watched(snapshot(client)))
            await asyncio.sleep(0.3)
            assert not refresh.done()
            await asyncio.to_thread(hard_kill, victim)
            topo, elapsed, stall = await refresh
            down = topo.pod("victim")
            assert down.up is False and down.collections == []
            assert_clean_failure_text(down.error)
            assert topo.pod("vectors-a").up, "a dead pod must not take the others down"
            assert elapsed < BOUND + MARGIN, elapsed
            assert stall < 0.5, f"event loop stalled {stall:.2f}s"
            # while it is dead, every refresh says so quickly and truthfully
            again = await snapshot(client)
            assert again.pod("victim").up is False and "refused" in again.pod("victim").error.lower()
            # restarted: the very same client sees it up again on the first refresh
            await asyncio.to_thread(victim.start)
            back = await snapshot(client)
            assert back.all_up, back.pod("victim").error
            assert back.pod("victim").collection("vecs", VICTIM_COLLECTION) is not None
        finally:
            await client.close()

    asyncio.run(go())


def test_pod_killed_during_a_query_raises_pod_unavailable_in_bounded_time(victim):
    cfg = config([("victim", "secondary", victim.dsn())])

    async def nearest(conn):
        cur = await conn.execute(
            sql.SQL("select id from {} order by vec <-> %s::vector limit 5").format(sql.Identifier("vecs", VICTIM_COLLECTION)),
            ("[1,1,0]",))
        return [r[0] for r in await cur.fetchall()]

    async def go():
        client = PodClient(cfg)
        try:
            assert await client.run("victim", nearest) == ["r1", "r2", "r3", "r4", "r5"]
            victim.pause()
            query = asyncio.ensure_future(watched(client.run("victim", nearest)))
            await asyncio.sleep(0.3)
            assert not query.done()
            await asyncio.to_thread(hard_kill, victim)
            t = time.monotonic()
            with pytest.raises(PodUnavailable) as info:
                await query
            assert time.monotonic() - t < BOUND + MARGIN
            assert info.value.pod == "victim"
            assert_clean_failure_text(str(info.value))
            await asyncio.to_thread(victim.start)
            assert await client.run("victim", nearest) == ["r1", "r2", "r3", "r4", "r5"]
        finally:
            await client.close()

    asyncio.run(go())


def test_pod_killed_mid_ddl_transaction_leaves_nothing_behind(victim, unique):
    """The pattern every plan apply uses (one transaction on one pod), crashed between two steps."""
    cfg = config([("victim", "primary", victim.dsn())], Settings(connect_timeout_s=1, statement_timeout_ms=5000))
    schema = f"half_{unique}"

    async def apply(conn):
        async with conn.transaction():
            await conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
            await conn.execute(sql.SQL("create table {} (id int)").format(sql.Identifier(schema, "t")))
            await conn.execute("select pg_sleep(4)")  # the crash lands here, after two DDL steps ran
            await conn.execute(sql.SQL("create view {} as select * from {}").format(
                sql.Identifier(schema, "v"), sql.Identifier(schema, "t")))

    async def go():
        client = PodClient(cfg)
        try:
            task = asyncio.ensure_future(client.run("victim", apply, write=True, what="test plan"))
            await when_sleeping(victim)
            await asyncio.to_thread(hard_kill, victim)
            with pytest.raises(PodUnavailable) as info:
                await task
            assert_clean_failure_text(str(info.value))
        finally:
            await client.close()

    asyncio.run(go())
    victim.start()
    assert not relation_exists(victim, f"{schema}.t")
    assert victim.psql(f"select count(*) from pg_namespace where nspname = '{schema}'").strip() == "0"


# --- hung (SIGSTOP) -------------------------------------------------------------------------------


def test_hung_pod_bounds_connect_statement_and_refresh(estate, victim):
    cfg = config([("vectors-b", "secondary", estate.dsn("vectors-b")), ("victim", "secondary", victim.dsn())])

    async def go():
        # 1. no session yet: the connect itself hangs (TCP accepted by the kernel, no answer)
        client = PodClient(cfg)
        try:
            victim.pause()
            topo, elapsed, stall = await watched(snapshot(client))
            assert topo.pod("victim").up is False and "timed out" in topo.pod("victim").error
            assert_clean_failure_text(topo.pod("victim").error)
            assert topo.pod("vectors-b").up
            assert elapsed < BOUND + MARGIN, elapsed
            assert stall < 0.5, f"event loop stalled {stall:.2f}s"
            victim.resume()
            # 2. a pooled session, then the server hangs mid-conversation: the statement is bounded
            assert (await snapshot(client)).all_up
            victim.pause()
            t = time.monotonic()
            with pytest.raises(PodUnavailable) as info:
                await client.run("victim", lambda c: c.execute("select 1"))
            assert time.monotonic() - t < BOUND + MARGIN
            assert "timed out" in info.value.reason
            # 3. an explicit, shorter timeout is honoured too
            t = time.monotonic()
            with pytest.raises(PodUnavailable):
                await client.run("victim", lambda c: c.execute("select 1"), timeout=0.5)
            assert time.monotonic() - t < 0.5 + MARGIN
            # 4. resumed: the same client works again (abandoned sessions were discarded, not reused)
            victim.resume()
            topo = await snapshot(client)
            assert topo.all_up, topo.pod("victim").error
        finally:
            victim.resume()
            await client.close()

    asyncio.run(go())


def test_hung_pod_does_not_delay_concurrent_calls_to_other_pods(estate, victim):
    cfg = config([("vectors-b", "secondary", estate.dsn("vectors-b")), ("victim", "secondary", victim.dsn())])

    async def go():
        client = PodClient(cfg)
        try:
            victim.pause()
            hung = asyncio.ensure_future(client.run("victim", lambda c: c.execute("select 1")))
            t = time.monotonic()
            for _ in range(5):
                await client.run("vectors-b", lambda c: c.execute("select 1"))
            healthy = time.monotonic() - t
            assert not hung.done(), "the hung call should still be pending"
            assert healthy < BOUND / 2, healthy
            with pytest.raises(PodUnavailable):
                await hung
        finally:
            victim.resume()
            await client.close()

    asyncio.run(go())


# --- restarted ------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["restart", "crash", "terminate_backend"])
def test_same_client_recovers_after_restart_on_first_call(victim, how):
    """Pooled sessions to a restarted server are dead; the next call must not report the pod down."""
    cfg = config([("victim", "secondary", victim.dsn())])

    async def go():
        client = PodClient(cfg)
        try:
            assert (await snapshot(client)).all_up
            if how == "restart":
                await asyncio.to_thread(victim.stop)
                await asyncio.to_thread(victim.start)
            elif how == "crash":
                await asyncio.to_thread(hard_kill, victim)
                await asyncio.to_thread(victim.start)
            else:  # a DBA kills vecdash's sessions
                victim.psql("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'vecdash'")
                await asyncio.sleep(0.2)
            topo = await snapshot(client)
            assert topo.all_up, topo.pod("victim").error
            assert await client.run("victim", lambda c: c.execute("select 1")) is not None
        finally:
            await client.close()

    asyncio.run(go())


# --- refused / unreachable --------------------------------------------------------------------------


def test_nothing_listening_is_reported_refused_quickly(estate, tmp_path):
    port = free_port()  # bound then released: nothing listens there
    dead = f"postgresql://postgres:{TEST_PASSWORD}@127.0.0.1:{port}/postgres"
    pods = [("vectors-a", "secondary", estate.dsn("vectors-a")), ("nowhere", "secondary", dead)]

    async def go():
        client = PodClient(config(pods))
        try:
            topo, elapsed, _ = await watched(snapshot(client))
            assert topo.pod("nowhere").up is False and "refused" in topo.pod("nowhere").error.lower()
            assert_clean_failure_text(topo.pod("nowhere").error)
            assert topo.pod("vectors-a").up
            assert elapsed < FAST.connect_timeout_s + MARGIN, elapsed
            with pytest.raises(PodUnavailable) as info:
                await client.run("nowhere", lambda c: c.execute("select 1"))
            assert_clean_failure_text(str(info.value))
        finally:
            await client.close()

    asyncio.run(go())
    path = write_config(tmp_path / "refused.yaml", pods)
    res = vecdash_cli("status", "--config", str(path))
    assert res.returncode == 1, res.stderr
    assert "DOWN" in res.stdout and "refused" in res.stdout.lower()
    assert "Traceback" not in res.stderr and TEST_PASSWORD not in res.stdout + res.stderr


# --- primary down -----------------------------------------------------------------------------------


def test_primary_down_secondaries_still_reported(estate, victim, tmp_path):
    pods = [("victim", "primary", victim.dsn()), ("vectors-a", "secondary", estate.dsn("vectors-a")),
            ("vectors-b", "secondary", estate.dsn("vectors-b"))]
    victim.stop()

    async def go():
        client = PodClient(config(pods))
        try:
            topo = await snapshot(client)
        finally:
            await client.close()
        assert topo.primary is not None and topo.primary.name == "victim" and topo.primary.up is False
        assert [p.up for p in topo.pods] == [False, True, True]
        assert not topo.all_up

    asyncio.run(go())
    path = write_config(tmp_path / "primary-down.yaml", pods)
    res = vecdash_cli("status", "--json", "--config", str(path))
    assert res.returncode == 1, res.stderr
    import json

    doc = json.loads(res.stdout)
    assert [(p["name"], p["role"], p["up"]) for p in doc["pods"]] == [
        ("victim", "primary", False), ("vectors-a", "secondary", True), ("vectors-b", "secondary", True)]
    assert doc["pods"][0]["error"] and "Traceback" not in res.stderr
    assert TEST_PASSWORD not in res.stdout + res.stderr
