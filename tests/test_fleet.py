"""A fleet of pods (many databases on three servers): progressive refresh and connection economy.

A hung server (SIGSTOP) serving a third of the pods, first in the config, must not delay the others on
screen (a hung pod holds a connect slot at most SLOT_HOLD_S); sessions stay
at one idle per pod and are closed after the idle limit; connects in flight stay within the bound; a
call queued for a connect slot is not timed out as if its pod hung.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql

from tests.conftest import TEST_PASSWORD
from vecdash.config import Config, PodConfig, Settings
from vecdash.db.pods import SLOT_HOLD_S, PodClient
from vecdash.embedded import default_root, start_pods
from vecdash.service.catalog import snapshot

SERVERS, PER_SERVER = 3, 10


@pytest.fixture(scope="module")
def fleet():
    """30 pods: ten databases on each of three servers, one small vecs-shaped collection each."""
    root = default_root("vdf-")
    servers = start_pods(root, [f"f{i}" for i in range(SERVERS)], password=TEST_PASSWORD)
    try:
        pods = []
        for s in servers:
            with psycopg.connect(s.dsn(), autocommit=True) as conn:
                conn.execute("create database fleet_tpl")
            with psycopg.connect(s.dsn("fleet_tpl"), autocommit=True) as conn:
                conn.execute("create extension vector")
                conn.execute("create schema vecs")
                conn.execute("create table vecs.docs (id varchar primary key, vec vector(3) not null, "
                             "metadata jsonb not null default '{}')")
                conn.execute("insert into vecs.docs select 'r' || g, array[g, 1, 2]::vector(3) from generate_series(1, 5) g")
            with psycopg.connect(s.dsn(), autocommit=True) as conn:
                for j in range(PER_SERVER):
                    db = f"fleet_{j}"
                    conn.execute(sql.SQL("create database {} template fleet_tpl").format(sql.Identifier(db)))
                    pods.append((s, db))
        yield servers, pods
    finally:
        for s in servers:
            s.resume()
            s.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def fleet_config(pods, **settings) -> Config:
    base = dict(statement_timeout_ms=2000, connect_timeout_s=2, refresh_seconds=3600)
    base.update(settings)
    return Config(pods=tuple(PodConfig(name=f"{s.name}-{db}", role="secondary", dsn=s.dsn(db)) for s, db in pods),
                  settings=Settings(**base), path="<test>")


def vecdash_sessions(servers) -> dict[str, int]:
    """vecdash's sessions per database, from each server's pg_stat_activity."""
    out: dict[str, int] = {}
    for s in servers:
        with psycopg.connect(s.dsn(), autocommit=True) as conn:
            for db, n in conn.execute("select datname, count(*) from pg_stat_activity "
                                      "where application_name = 'vecdash' group by datname"):
                out[f"{s.name}-{db}"] = n
    return out


async def test_a_hung_server_delays_no_other_pod_on_screen(fleet):
    from vecdash.history import HistoryFile
    from vecdash.tui.app import VecdashApp

    servers, pods = fleet
    hung = servers[0]
    # the hung pods come first in the config: they are asked first and take the connect slots first, so
    # a healthy pod's connect starts before they time out only because each slot is held at most
    # SLOT_HOLD_S (10 hung pods, slots opening 1, 2, 4, 8: about 1.5 s of holds before the first)
    pods = [p for p in pods if p[0] is hung] + [p for p in pods if p[0] is not hung]
    cfg = fleet_config(pods, connect_timeout_s=4)
    healthy = len(pods) - PER_SERVER
    timeout = cfg.settings.abandon_after_s
    app = VecdashApp(cfg, history=HistoryFile(None, ""))
    hung.pause()
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            t0 = time.monotonic()
            while app.pods_shown < healthy and time.monotonic() - t0 < timeout:
                await asyncio.sleep(0.01)
            took = time.monotonic() - t0
            title = str(app.query_one("#title").render())
            # every healthy pod on screen before the first hung connect times out: none waited for one
            assert app.pods_shown >= healthy and took < cfg.settings.connect_timeout_s, (took, app.pods_shown)
            assert app.refreshing and f"answered {healthy}/{len(pods)}" in title, title
            shown = {p.name for p in app.partial.pods if p.up}  # the refresh still runs: its pods so far
            assert len(shown) == healthy and not any(n.startswith(hung.name) for n in shown)
            while app.refreshing and time.monotonic() - t0 < timeout + 5:
                await asyncio.sleep(0.05)
            title = str(app.query_one("#title").render())
            assert not app.refreshing and f"{healthy}/{len(pods)} up" in title and "+7 more" in title, title
            await pilot.pause()  # the tree's selection moved as the down pods came in: let it land before closing
    finally:
        hung.resume()


async def test_at_most_one_pooled_session_per_pod(fleet):
    servers, pods = fleet
    client = PodClient(fleet_config(pods))

    async def work(conn):
        await conn.execute("select pg_sleep(0.2)")

    try:
        # two calls at once to every pod open two sessions to each; one is kept
        await asyncio.gather(*(client.run(p, work) for p in client.config.pods for _ in range(2)))
        for _ in range(2):
            assert (await snapshot(client)).all_up
        await asyncio.sleep(0.5)  # the extra sessions close in the background
        counts = vecdash_sessions(servers)
        assert len(counts) == len(pods) and set(counts.values()) == {1}, counts
    finally:
        await client.close()


async def test_idle_sessions_are_closed_after_the_idle_limit(fleet):
    servers, pods = fleet
    client = PodClient(fleet_config(pods), idle_close_s=4.0)
    try:
        topo = await snapshot(client)
        assert topo.elapsed_ms < 3000, "the refresh took most of the idle limit: nothing to tell"
        assert len(vecdash_sessions(servers)) == len(pods)
        await asyncio.sleep(4.5)
        assert vecdash_sessions(servers) == {}
        topo = await snapshot(client)  # and the next refresh opens them again
        assert topo.all_up and len(vecdash_sessions(servers)) == len(pods)
    finally:
        await client.close()


async def test_connects_in_flight_stay_within_the_bound(fleet):
    servers, pods = fleet
    client = PodClient(fleet_config(pods), connect_slots=3)
    client.slot_hold_s = 30.0  # healthy pods: every slot is held until its connect is done
    try:
        topo = await snapshot(client)
        assert topo.all_up
        assert 1 <= client.most_connects_in_flight <= 3, client.most_connects_in_flight
    finally:
        await client.close()


class CountingClient(PodClient):
    """Notes how many connects are in flight as each one starts, and when each pod's connect started."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight_at_start: list[int] = []
        self.started_at: dict[str, float] = {}

    async def _connect(self, pod, session):
        self.in_flight_at_start.append(self.connects_in_flight + 1)
        self.started_at.setdefault(pod.name, time.monotonic())
        return await super()._connect(pod, session)


async def test_a_hung_connect_holds_its_slot_for_slot_hold_s_then_gives_it_back(fleet):
    """The default hold, as db/pods.py documents it: one slot, a pod that never answers takes it, and the
    next pod's connect starts SLOT_HOLD_S later, not when the hung connect times out."""
    servers, pods = fleet
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts connects; nothing answers
        hung = PodConfig(name="silent", dsn=f"postgresql://postgres:{TEST_PASSWORD}@127.0.0.1:"
                                            f"{silent.getsockname()[1]}/postgres")
        cfg = fleet_config(pods[:1], connect_timeout_s=4)
        client = CountingClient(replace(cfg, pods=(hung,) + cfg.pods), connect_slots=1)
        assert client.slot_hold_s == SLOT_HOLD_S
        stuck = asyncio.ensure_future(client.run("silent", lambda conn: asyncio.sleep(0)))
        try:
            while "silent" not in client.started_at:
                await asyncio.sleep(0.01)
            healthy = client.config.pods[1].name
            assert await client.run(healthy, lambda conn: asyncio.sleep(0, True))
            waited = client.started_at[healthy] - client.started_at["silent"]
            assert SLOT_HOLD_S - 0.05 <= waited < SLOT_HOLD_S + 0.4, waited
            assert not stuck.done()  # the hung connect itself goes on, without the slot
        finally:
            stuck.cancel()
            await asyncio.gather(stuck, return_exceptions=True)
            await client.close()


async def test_the_first_connect_runs_alone_then_the_slots_open(fleet):
    """Slow start: the first pod answers about as soon as a lone pod would, then up to the bound."""
    servers, pods = fleet
    client = CountingClient(fleet_config(pods), connect_slots=4)
    client.slot_hold_s = 30.0
    try:
        assert (await snapshot(client)).all_up
        starts = client.in_flight_at_start
        assert starts[:2] == [1, 1], starts  # the second connect waited for the first
        assert 2 <= max(starts) <= 4 and client.most_connects_in_flight <= 4, starts
    finally:
        await client.close()


async def test_a_call_queued_for_a_connect_slot_is_not_timed_out(fleet):
    """One slot, 30 cold pods: together they take far longer than one call's timeout, and a call's
    deadline starts when its turn comes, so none is reported down."""
    servers, pods = fleet
    client = PodClient(fleet_config(pods), connect_slots=1)
    client.slot_hold_s = 30.0

    async def work(conn):
        await conn.execute("select pg_sleep(0.1)")
        return True

    try:
        t0 = time.monotonic()
        results = await asyncio.gather(*(client.run(p, work, timeout=1.0, paced=True) for p in client.config.pods),
                                       return_exceptions=True)
        assert time.monotonic() - t0 > 2.0, "too fast to show anything"
        assert results == [True] * len(pods), [r for r in results if r is not True][:2]
    finally:
        await client.close()
