"""Record and replay: `vecdash --record FILE` appends each refresh's Topology (activity and alerts
included, no secrets) to a file of gzip members; `vecdash replay FILE` shows it read-only, stepping and
jumping in time, without touching a database. Real pods where a refresh is recorded; never mocks."""

from __future__ import annotations

import gzip
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from vecdash.cli import main
from vecdash.cli.replay import replay_config
from vecdash.errors import UserError
from vecdash.model import Topology, View
from vecdash.model_activity import (
    Alert, CollectionActivity, PodActivity, Progress, Rates, Replica, Session, Statement,
)
from vecdash.recording import Recorder, read_recording
from vecdash.service.console_api import ConsoleApi
from vecdash.tui.app import VecdashApp
from vecdash.tui.screens.jump import JumpScreen
from vecdash.tui.widgets.topology import TopologyTree

from .conftest import TEST_PASSWORD
from .hostile_data import HOSTILE
from .test_tui_pilot import SIZE, notes, until, wire_collection  # noqa: F401 (a fixture)
from .tui_data import fixed_config, load_topology

T0 = datetime(2025, 3, 4, 3, 12, 0, tzinfo=timezone.utc)


def with_activity(topo: Topology) -> Topology:
    """`topo` with every pod doing something, in hostile text, and the estate's alert line."""
    pods = []
    for k, pod in enumerate(topo.pods):
        sessions = [Session(pid=1000 + i, user=s, application=s, client="local", state="active",
                            wait_event=f"Lock:{s}", xact_age_s=12.5 + i, query_age_s=1.25,
                            query=f"select * from t order by vec <=> '{s}' limit 5", vector=True,
                            blocked_by=[999, 1000 + i - 1] if i else [], own=i == 0, backend_type="client backend")
                    for i, s in enumerate(HOSTILE)]
        activity = PodActivity(
            name=pod.name, up=True, taken_at=T0,
            sessions=sessions,
            progress=[Progress(pid=77, command="CREATE INDEX CONCURRENTLY", phase="building index: loading tuples",
                               relation=f"vecs.{HOSTILE[1]}", percent=42.5, index=HOSTILE[0])],
            collections=[CollectionActivity(schema="vecs", name=s, seq_scan=3, idx_scan=None, vector_index=s + " ix",
                                            vector_index_scans=7, seq_tup_read=120, n_dead_tup=0,
                                            last_autovacuum=T0 - timedelta(hours=1), index_hit_ratio=0.97)
                         for s in HOSTILE[:4]],
            statements=[Statement(query="select 1 %s {0}", calls=3, total_ms=1.5, mean_ms=0.5, rows=3, queryid=-42)]
            if k % 2 == 0 else None,
            replicas=[Replica(name="standby [x]", client="10.0.0.2", state="streaming", lag_bytes=8192, replay_lag_s=0.2)],
            notes=["pg_stat_statements is not installed [fix]"],
            counters={"seq_scan": 10, "idx_scan": 20},
            rates=Rates(seconds=5.0, vector_qps=2.5, scans_per_s=1.0, tuples_per_s=30.0, seq_scans={HOSTILE[2]: 2}),
        )
        views = [*pod.views, View(schema=HOSTILE[4], name=HOSTILE[5], reads=[HOSTILE[6]],
                                  relations=[(HOSTILE[7], HOSTILE[8])], columns=["id", "vec"])]
        pods.append(replace(pod, activity=activity, views=views))
    alerts = [Alert(pod=topo.pods[1].name, code="seq_scan_indexed", message=f"{HOSTILE[9]} is read by seq scans",
                    subject=HOSTILE[9]),
              Alert(pod=topo.pods[0].name, code="long_transaction", message="pid 1003 open 12 min")]
    return replace(topo, pods=pods, alerts=alerts, taken_at=T0)


def test_a_topology_with_activity_reads_back_equal(tmp_path):
    topo = with_activity(load_topology())
    later = replace(topo, taken_at=T0 + timedelta(seconds=5), alerts=[])
    path = tmp_path / "estate.rec"
    rec = Recorder(path, fixed_config().pods)
    rec.append(topo)
    rec.submit(later)  # the console's path: the writer thread
    rec.close()
    back = read_recording(path)
    assert back.pods == [("primary", "primary"), ("vectors-a", "secondary"), ("vectors-b", "secondary")]
    assert back.times == [T0, T0 + timedelta(seconds=5)] and back.notes == []
    assert back.frame(0) == topo
    assert back.frame(1) == later
    assert isinstance(back.frame(0).pods[0].views[-1].relations[0], tuple)
    assert os.stat(path).st_mode & 0o777 == 0o600


def _record(path, frames: int) -> None:
    rec = Recorder(path, fixed_config().pods)
    topo = load_topology()
    for i in range(frames):
        rec.append(replace(topo, taken_at=T0 + timedelta(seconds=5 * i)))
    rec.close()


def test_a_cut_last_record_is_left_out_and_the_next_recording_goes_on_after_it(tmp_path):
    path = tmp_path / "cut.rec"
    _record(path, 3)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 40)  # a crash in the middle of writing the third frame
    back = read_recording(path)
    assert len(back) == 2 and "cut" in back.notes[0]
    assert back.frame(1).taken_at == T0 + timedelta(seconds=5)
    # recording again to the same file: the cut tail goes, the new session appends after frame 2
    _record(path, 1)
    back = read_recording(path)
    assert len(back) == 3 and back.notes == []


@pytest.mark.parametrize("content", [
    b"pods:\n  - name: primary\n",  # a config file given by mistake
    gzip.compress(b'{"hello": "world"}', mtime=0),  # gzip, not ours
    gzip.compress(b'{"kind": "frame", "topology": {}}', mtime=0),  # frames without a header
    gzip.compress(b'{"format": "vecdash-recording", "version": 99, "kind": "header", "pods": []}', mtime=0),
    b"",
    gzip.compress(b"x" * 100, mtime=0)[:20],
], ids=["config", "other-gzip", "no-header", "version-99", "empty", "cut"])
def test_a_foreign_file_is_refused_with_its_name_exit_2(tmp_path, capsys, content):
    path = tmp_path / "foreign.rec"
    path.write_bytes(content)
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vecdash: error: {path}: ") and err.count("\n") == 1
    # nor is it recorded into (`--record` opens the Recorder before the console): nothing written
    if content:
        with pytest.raises(UserError, match="not a vecdash recording|newer"):
            Recorder(path, fixed_config().pods)
        assert path.read_bytes() == content
    assert main(["replay", str(tmp_path / "missing.rec")]) == 2


def _raw(path) -> bytes:
    """Every record of a recording, decompressed (gzip reads all members)."""
    return gzip.decompress(path.read_bytes())


async def test_no_secret_reaches_the_file(estate, tmp_path, unique):
    """The pods' DSNs hold TEST_PASSWORD; a foreign server on a real pod has a password option; a
    session's query and a pod's error quote passwords: none of them is in the file."""
    server_secret = f"srv-Secret-{unique}"
    estate.sql("vectors-a", f"create foreign data wrapper fdw_{unique}")  # no validator: any option goes
    estate.sql("vectors-a", f"create server s_{unique} foreign data wrapper fdw_{unique} "
                            f"options (host 'h', password '{server_secret}')")
    try:
        config = estate.config()
        api = ConsoleApi(config)
        topo = await api.snapshot()
        await api.close()
        assert any(s.name == f"s_{unique}" for s in topo.pod("vectors-a").foreign_servers)
        pod = topo.pod("vectors-b")
        pod.error = f"could not connect: {estate.dsn('vectors-b')}"
        pod.activity = PodActivity(name=pod.name, up=True, sessions=[
            Session(pid=1, query=f"alter role app password '{server_secret}'"),
            Session(pid=2, query=f"select 1 -- {TEST_PASSWORD}")])
        path = tmp_path / "secrets.rec"
        rec = Recorder(path, config.pods)
        rec.append(topo)
        rec.close()
        raw = _raw(path)
        assert TEST_PASSWORD.encode() not in raw and server_secret.encode() not in raw
        assert b"postgres" in raw and f"s_{unique}".encode() in raw  # the rest is recorded
        assert os.stat(path).st_mode & 0o777 == 0o600
    finally:
        estate.sql("vectors-a", f"drop foreign data wrapper fdw_{unique} cascade")


async def test_the_live_console_records_each_refresh(estate, tmp_path):
    path = tmp_path / "live.rec"
    config = estate.config(refresh_seconds=0.5)
    app = VecdashApp(config, recorder=Recorder(path, config.pods))
    seen: list[datetime] = []
    async with app.run_test(size=SIZE) as pilot:
        async def refreshes() -> int:
            if app.topology is not None and (not seen or seen[-1] != app.topology.taken_at):
                seen.append(app.topology.taken_at)
            return len(seen)
        deadline = datetime.now() + timedelta(seconds=30)
        while await refreshes() < 3 and datetime.now() < deadline:
            await pilot.pause(0.05)
        assert "REC live.rec" in str(app.query_one("#title").render())
        await app.action_quit()
    back = read_recording(path)
    assert len(back) >= 3 and back.times[:3] == seen[:3]
    assert [p.name for p in back.frame(0).pods] == ["primary", "vectors-a", "vectors-b"]
    assert back.frame(len(back) - 1).pod("primary").up


@pytest.fixture
def two_frames(estate, tmp_path, unique):
    """A recording of the real estate: frame 1 at 03:12:00 with table vecs.gone_UNIQUE on vectors-a,
    frame 2 at 03:14:30 after it was dropped."""
    import asyncio

    name = f"gone_{unique}"
    estate.sql("vectors-a", "create schema if not exists vecs")
    estate.sql("vectors-a", f"create table vecs.{name} (id text primary key, vec vector(3), metadata jsonb)")
    config = estate.config()
    path = tmp_path / "two.rec"
    rec = Recorder(path, config.pods)

    async def snap() -> Topology:
        api = ConsoleApi(config)
        try:
            return await api.snapshot()
        finally:
            await api.close()

    rec.append(replace(asyncio.run(snap()), taken_at=T0))
    estate.sql("vectors-a", f"drop table vecs.{name}")
    rec.append(replace(asyncio.run(snap()), taken_at=T0 + timedelta(minutes=2, seconds=30)))
    rec.close()
    return path, name


async def test_replay_never_opens_a_session(two_frames):
    """Even a call no key offers (the workbench's buttons, a modal) is refused before any connection."""
    path, _ = two_frames
    app = VecdashApp(replay_config(read_recording(path)), replay=read_recording(path))
    assert app.read_only and not app.live
    with pytest.raises(UserError, match="opens no session"):
        await app.api.plan_wire("vectors-a", "x")
    with pytest.raises(UserError, match="opens no session"):
        await app.api.snapshot()


async def test_replay_steps_and_jumps_through_the_recorded_states(two_frames):
    path, name = two_frames
    recording = read_recording(path)
    app = VecdashApp(replay_config(recording), replay=recording)
    key = ("collection", "vectors-a", "vecs", name)

    def title() -> str:
        return str(app.query_one("#title").render())

    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        tree = app.query_one(TopologyTree)
        assert title() == f"replay two.rec · frame 1/2 · 03:12:00 UTC"
        assert tree._find(key) is not None
        await pilot.press("full_stop")
        assert title() == "replay two.rec · frame 2/2 · 03:14:30 UTC"
        assert tree._find(key) is None
        await pilot.press("comma")
        assert "frame 1/2" in title() and tree._find(key) is not None
        await pilot.press("greater_than_sign")
        assert "frame 2/2" in title()
        await pilot.press("less_than_sign")
        assert "frame 1/2" in title()
        # jump to a time: the refresh on screen then (the last taken at or before it)
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JumpScreen), what="jump modal")
        await pilot.press(*"03:15", "enter")
        await until(pilot, lambda: "frame 2/2" in title(), what="jump to 03:15")
        await pilot.press("j", *"3:13:59", "enter")
        await until(pilot, lambda: "frame 1/2" in title(), what="jump to 03:13:59")
        await pilot.press("j", *"25:00", "enter")
        await until(pilot, lambda: any("not a time" in n for n in notes(app)), what="a refused time")
        assert "frame 1/2" in title()
        # read-only and offline: dangerous and live keys are absent, and say why
        offered = {a.name for a in app.console_actions}
        assert not offered & {"apply_plan", "unwire", "build_index", "new_collection", "refresh", "wire", "doctor",
                              "run_query", "read_only_view"}
        assert {"replay_step(1)", "replay_jump"} <= offered
        before = len(notes(app))
        for k in ("a", "i", "n", "u", "r", "w", "d", "ctrl+o"):
            await pilot.press(k)
        await pilot.pause()
        said = notes(app)[before:]
        assert len(said) == 8 and all(s.startswith("replay: ") for s in said)
        assert app.screen is app.screen_stack[0] and "frame 1/2" in title()
        assert not app.api.client._idle  # no session was ever opened


def test_live_consoles_offer_no_replay_keys():
    from vecdash.tui import actions

    live = {a.name for a in actions.available(read_only=False, demo=True)}
    assert not any(n.startswith("replay_") for n in live)
    replay = {a.name for a in actions.available(read_only=True, replay=True)}
    assert not any(a.dangerous or a.live for a in actions.ACTIONS if a.name in replay)


def test_record_is_a_console_option(tmp_path):
    from vecdash.cli import build_parser

    argv = ["--refresh", "2", "--record", str(tmp_path / "x.rec")]
    args = build_parser(argv).parse_args(argv)
    assert args.record == str(tmp_path / "x.rec") and args.command is None


async def test_a_replay_names_the_pod_each_foreign_server_reaches(estate, wire_collection, tmp_path):
    """The recording keeps which pod each of the primary's servers reaches (no DSN, no user): the
    replay's tree and Stats name it, where no DSN is left to decide it."""
    from vecdash.service import wiring
    from vecdash.tui.widgets.topology import Ref

    path = tmp_path / "wired.rec"
    config = estate.config(refresh_seconds=60)
    app = VecdashApp(config, recorder=Recorder(path, config.pods))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        await wiring.apply_plan(app.api.client, await wiring.plan_wire(app.api.client, "vectors-b", wire_collection))
        app.refresh_now()
        await until(pilot, lambda: not app.refreshing and app.topology.primary.foreign_servers, what="the wiring")
        server = next(s.name for s in app.topology.primary.foreign_servers if s.fdw == "postgres_fdw")
        await wiring.apply_plan(app.api.client, await wiring.plan_unwire(app.api.client, "vectors-b", wire_collection))
        await app.action_quit()
    raw = _raw(path)
    assert TEST_PASSWORD.encode() not in raw and b"user=" not in raw
    recording = read_recording(path)
    app = VecdashApp(replay_config(recording), replay=recording)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("greater_than_sign")
        tree = app.query_one(TopologyTree)
        assert "→ vectors-b" in str(tree._find(("server", "primary", "", server)).label)
        assert tree.select_ref(Ref("server", "primary", "", server))
        await pilot.pause()
        assert "vectors-b" in str(app.query_one("#stats-body").render()), "Stats: the pod it reaches"
