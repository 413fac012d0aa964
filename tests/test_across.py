"""Operations across pods (vecdash.service.across, `vecdash across`, the console's modal) and the doctor
grouped at fleet scale, on real pods: several databases on one embedded server, each holding the same
vecs-shaped collection made with plain SQL."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from tests.conftest import TEST_PASSWORD
from tests.test_tui_pilot import until
from vecdash.config import Config, PodConfig, Settings
from vecdash.db.pods import PodClient
from vecdash.embedded import default_root, free_port, start_pods
from vecdash.errors import ReadOnlyError, UserError
from vecdash.service.across import plan_across, run_across
from vecdash.service.catalog import snapshot

PODS = [f"pod{i}" for i in range(5)]


class Fleet:
    def __init__(self, server):
        self.server = server

    def dsn(self, db: str) -> str:
        return self.server.dsn(db)

    def config(self, pods: list[str] | None = None, *, read_only: bool = False, primary: bool = True) -> Config:
        chosen = [PodConfig(name="hub", role="primary", dsn=self.dsn("postgres"))] if primary else []
        chosen += [PodConfig(name=p, dsn=self.dsn(p)) for p in (pods or PODS)]
        return Config(pods=tuple(chosen), settings=Settings(read_only=read_only, statement_timeout_ms=5000,
                                                            connect_timeout_s=3), path="<fleet>")

    def write_config(self, path, **kwargs) -> str:
        cfg = self.config(**kwargs)
        lines = ["pods:"]
        for p in cfg.pods:
            lines += [f"  - name: {p.name}", f"    role: {p.role}", f"    dsn: {p.dsn}"]
        lines += ["settings:", "  statement_timeout_ms: 5000", "  connect_timeout_s: 3",
                  f"  read_only: {str(cfg.settings.read_only).lower()}"]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return str(path)

    def sql(self, db: str, statement: str, params=None):
        with psycopg.connect(self.dsn(db), autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else None

    def make(self, name: str, pods: list[str] | None = None, rows: int = 300, dim: int = 8) -> None:
        """vecs.NAME on each pod, the shape vecs makes, filled with generate_series."""
        for db in pods or PODS:
            self.sql(db, f"create table vecs.{name} (id varchar primary key, vec vector({dim}) not null, "
                         f"metadata jsonb not null default '{{}}'); "
                         f"insert into vecs.{name} select 'r' || i, (select array_agg(sin(i * j))::vector({dim}) "
                         f"from generate_series(1, {dim}) j), jsonb_build_object('i', i) "
                         f"from generate_series(1, {rows}) i")

    def last_analyze(self, db: str, name: str):
        return self.sql(db, "select last_analyze from pg_stat_user_tables where schemaname = 'vecs' and relname = %s",
                        (name,))[0][0]


@pytest.fixture(scope="module")
def fleet():
    root = default_root("vdx-")
    (server,) = start_pods(root, ["fleet"], password=TEST_PASSWORD)
    try:
        server.psql("create extension if not exists vector; create schema vecs")
        server.psql("create database tmpl")
        server.psql("create extension vector; create schema vecs", dbname="tmpl")
        for p in PODS:
            server.psql(f"create database {p} template tmpl")
        yield Fleet(server)
    finally:
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def go(config: Config, **kwargs):
    """run_across on a fresh client; (summary, events)."""
    events = []

    async def run():
        client = PodClient(config)
        try:
            return await run_across(client, on_event=events.append, **kwargs)
        finally:
            await client.close()

    return asyncio.run(run()), events


def cli(capsys, *args):
    from vecdash.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_analyze_across_pods_sets_last_analyze_everywhere_with_progress_in_order(fleet, unique):
    name = f"an_{unique}"
    fleet.make(name)
    assert all(fleet.last_analyze(p, name) is None for p in PODS)
    summary, events = go(fleet.config(), collection=name, operation="analyze")
    assert summary.ok and summary.pods("done") == PODS
    assert all(fleet.last_analyze(p, name) is not None for p in PODS)
    # one pod at a time, in config order: started, step, done, then the next pod
    assert [(e.pod, e.kind) for e in events] == [(p, k) for p in PODS for k in ("started", "step", "done")]
    assert all(e.text and "\n" not in e.text for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_index_build_across_pods_with_progress_then_nothing_to_do(fleet, unique, capsys, tmp_path):
    name = f"ix_{unique}"
    fleet.make(name, PODS[:3], rows=1500)
    path = fleet.write_config(tmp_path / "c.yaml", pods=PODS[:3])
    code, out, err = cli(capsys, "--config", path, "across", "index", name, "--measure", "l2", "--m", "8",
                         "--ef-construction", "32")
    assert code == 0, (out, err)
    for p in PODS[:3]:
        assert f"{p}: started: hnsw index for l2 distance" in err
        assert f"{p}: done: built ix_vector_l2_ops_hnsw_m8_efc32_" in err
        got = fleet.sql(p, "select i.indisvalid, pg_get_indexdef(i.indexrelid) from pg_index i "
                           "where i.indrelid = %s::regclass and i.indexrelid <> %s::regclass",
                        (f"vecs.{name}", f"vecs.{name}_pkey"))
        assert len(got) == 1 and got[0][0] and "hnsw" in got[0][1] and "m='8'" in got[0][1]
    # one pod after the other, in config order, each pod's lines naming it: started, the build's phases, done
    lines = [progress_line(line) for line in err.splitlines() if line.startswith("[")]
    runs = [(pod, [kind for _, kind in group]) for pod, group in itertools.groupby(lines, key=lambda pk: pk[0])]
    assert [pod for pod, _ in runs] == PODS[:3], runs
    for pod, kinds in runs:
        assert kinds[0] == "started" and kinds[-1] == "done" and set(kinds[1:-1]) == {"step"}, (pod, kinds)
    assert "3 done, 0 skipped, 0 failed, 0 not run" in out
    # again: every pod has that index already
    code, out, err = cli(capsys, "--config", path, "across", "index", name, "--measure", "l2", "--m", "8",
                         "--ef-construction", "32", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["counts"]["skipped"] == 3 and not err.strip()
    assert all(p["state"] == "skipped" and "identical valid index" in p["detail"] for p in doc["pods"])


def progress_line(line: str) -> tuple[str, str]:
    """(pod, kind) of one progress line of `vecdash across`: `[   0.1s] POD: KIND: text`."""
    pod, kind, _ = line.split("] ", 1)[1].split(": ", 2)
    return pod, kind


def index_defs(fleet, db: str, name: str) -> list[tuple[bool, str]]:
    """(valid, definition) of every index of vecs.NAME on db but its primary key."""
    return fleet.sql(db, "select i.indisvalid, pg_get_indexdef(i.indexrelid) from pg_index i "
                         "where i.indrelid = %s::regclass and i.indexrelid <> %s::regclass",
                     (f"vecs.{name}", f"vecs.{name}_pkey"))


def test_an_index_build_failing_on_one_pod_stops_the_run_or_keeps_going(fleet, unique, capsys, tmp_path):
    """pod1's collection has 2001 dimensions: pgvector's hnsw takes 2000 at most, so the server refuses
    that build (after the concurrent build has made its index entry: none may be left behind)."""
    name = f"if_{unique}"
    pods = PODS[:4]
    fleet.make(name, [p for p in pods if p != "pod1"], rows=300)
    fleet.make(name, ["pod1"], rows=3, dim=2001)
    path = fleet.write_config(tmp_path / "c.yaml", pods=pods)
    build = ["--config", path, "across", "index", name, "--measure", "l2", "--m", "8", "--ef-construction", "32"]
    code, out, err = cli(capsys, *build)
    assert code == 1, (out, err)
    assert "pod1: failed: " in err and "2000 dimensions" in err and "Traceback" not in err
    assert "pod2: started" not in err and "pod2: not run: stopped after the failure on pod pod1" in err
    assert "1 done, 0 skipped, 1 failed, 2 not run" in out and "not run: pod2, pod3" in out
    assert len(index_defs(fleet, "pod0", name)) == 1
    assert all(index_defs(fleet, p, name) == [] for p in ("pod1", "pod2", "pod3"))  # no invalid index on pod1
    # --keep-going: the same failure, the pods after it built; pod0 has that index already
    code, out, err = cli(capsys, *build, "--keep-going", "--json")
    assert code == 1, (out, err)
    doc = json.loads(out)
    assert {p["pod"]: p["state"] for p in doc["pods"]} == \
        {"pod0": "skipped", "pod1": "failed", "pod2": "done", "pod3": "done"}
    assert "2000 dimensions" in doc["pods"][1]["detail"] and doc["ok"] is False
    assert all(len(index_defs(fleet, p, name)) == 1 for p in ("pod0", "pod2", "pod3"))
    assert index_defs(fleet, "pod1", name) == []


async def test_an_index_no_plan_fits_on_one_pod_is_refused_there_and_shown_as_cannot_plan(fleet, unique):
    """pod0's vec is bit(8): pgvector has no l2 index for bit columns, so the plan refuses that pod (and
    not the others); the run reports it failed at its turn and stops there; the console says so."""
    from vecdash.tui.app import VecdashApp
    from vecdash.tui.screens.across import AcrossScreen
    from vecdash.tui.widgets.topology import Ref, TopologyTree
    from textual.widgets import DataTable, Select

    name = f"rf_{unique}"
    fleet.sql("pod0", f"create table vecs.{name} (id varchar primary key, vec bit(8) not null, "
                      f"metadata jsonb not null default '{{}}'); "
                      f"insert into vecs.{name} select 'r' || i, i::bit(8) from generate_series(1, 20) i")
    fleet.make(name, ["pod1"], rows=20)
    cfg = fleet.config(PODS[:2], primary=False)
    client = PodClient(cfg)
    try:
        topo = await snapshot(client)
        plan = plan_across(topo, client, name, "index", index_options={"measure": "l2"})
        assert [(t.pod, t.action) for t in plan.targets] == [("pod0", "refuse"), ("pod1", "run")]
        assert plan.targets[0].detail == "pgvector has no l2 index for bit columns"
        summary = await run_across(client, name, "index", plan=plan)
    finally:
        await client.close()
    assert [(o.pod, o.state) for o in summary.outcomes] == [("pod0", "failed"), ("pod1", "not run")]
    assert summary.outcomes[0].detail == "pgvector has no l2 index for bit columns"
    assert index_defs(fleet, "pod1", name) == []
    app = VecdashApp(cfg, topology=topo, live=False)
    async with app.run_test(size=(100, 24)) as pilot:
        assert app.query_one(TopologyTree).select_ref(Ref("collection", "pod1", "vecs", name))
        await pilot.pause()
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, AcrossScreen), what="the across screen")
        app.screen.measure = "l2"
        app.screen.query_one("#across-op", Select).value = "index"
        table = app.screen.query_one("#across-pods", DataTable)
        await until(pilot, lambda: table.row_count == 2 and "create index" in str(table.get_cell_at((1, 2))),
                    what="the index plan")
        assert str(table.get_cell_at((1, 1))) == "will run"
        assert str(table.get_cell_at((0, 1))) == "cannot plan"
        assert str(table.get_cell_at((0, 2))) == "pgvector has no l2 index for bit columns"


@pytest.fixture
def locked(fleet):
    """lock(db, table): hold an EXCLUSIVE lock on vecs.table of db (reads go on, ANALYZE and CREATE INDEX
    wait), with a 300 ms lock_timeout for that database's new sessions: ANALYZE there fails fast."""
    held = []

    def lock(db: str, table: str) -> None:
        fleet.sql(db, f"alter database {db} set lock_timeout = '300ms'")
        conn = psycopg.connect(fleet.dsn(db))
        conn.execute(f"lock table vecs.{table} in exclusive mode")
        held.append((db, conn))

    yield lock
    for db, conn in held:
        conn.close()
        fleet.sql(db, f"alter database {db} reset lock_timeout")


def test_stop_on_first_failure_leaves_later_pods_not_run(fleet, unique, locked, capsys, tmp_path):
    name = f"st_{unique}"
    fleet.make(name)
    locked("pod1", name)
    path = fleet.write_config(tmp_path / "c.yaml")
    code, out, err = cli(capsys, "--config", path, "across", "analyze", name)
    assert code == 1, (out, err)
    assert "pod1: failed: " in err and "lock timeout" in err and len(err.splitlines()) < 20
    assert "pod2: started" not in err and "pod2: not run: stopped after the failure on pod pod1" in err
    assert "1 done, 0 skipped, 1 failed, 3 not run" in out
    assert "failed: pod1" in out and "not run: pod2, pod3, pod4" in out
    assert fleet.last_analyze("pod0", name) is not None
    assert all(fleet.last_analyze(p, name) is None for p in ("pod1", "pod2", "pod3", "pod4"))
    assert TEST_PASSWORD not in out + err and "Traceback" not in err


def test_keep_going_runs_the_rest_and_exits_1_naming_the_failure(fleet, unique, locked, capsys, tmp_path):
    name = f"kg_{unique}"
    fleet.make(name)
    locked("pod1", name)
    path = fleet.write_config(tmp_path / "c.yaml")
    code, out, err = cli(capsys, "--config", path, "across", "analyze", name, "--keep-going", "--json")
    assert code == 1, (out, err)
    doc = json.loads(out)
    states = {p["pod"]: p["state"] for p in doc["pods"]}
    assert states == {"pod0": "done", "pod1": "failed", "pod2": "done", "pod3": "done", "pod4": "done"}
    failed = next(p for p in doc["pods"] if p["pod"] == "pod1")
    assert "lock timeout" in failed["detail"] and "\n" not in failed["detail"]
    assert doc["ok"] is False and doc["counts"] == {"done": 4, "failed": 1, "skipped": 0, "not run": 0, "interrupted": 0}
    assert all(fleet.last_analyze(p, name) is not None for p in ("pod0", "pod2", "pod3", "pod4"))


def test_ctrl_c_says_what_ran_where_and_cancels_the_running_pod(fleet, unique, tmp_path):
    """pod1's ANALYZE waits on a lock the test holds: SIGINT then (the Ctrl-C of a terminal) cancels it on
    the server, and the summary says pod0 done, pod1 interrupted, the rest not run; exit 130, as any
    interrupt of the CLI."""
    name = f"cc_{unique}"
    fleet.make(name, rows=50)
    path = fleet.write_config(tmp_path / "c.yaml", primary=False)
    holder = psycopg.connect(fleet.dsn("pod1"))
    holder.execute(f"lock table vecs.{name} in exclusive mode")
    proc = subprocess.Popen([sys.executable, "-m", "vecdash", "--config", path, "across", "analyze", name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        while not seen or "pod1: started" not in seen[-1]:
            seen.append(proc.stderr.readline())
            assert seen[-1], seen
        waiting = "select count(*) from pg_stat_activity where application_name = 'vecdash' and wait_event_type = 'Lock'"
        deadline = time.monotonic() + 10
        while fleet.sql("pod1", waiting)[0][0] != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert fleet.sql("pod1", waiting)[0][0] == 0  # the ANALYZE was cancelled, not left waiting
    finally:
        if proc.poll() is None:
            proc.kill()
        holder.close()
    assert proc.returncode == 130, (out, err)
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[2:len(PODS) + 2]}
    assert rows == {"pod0": "done", "pod1": "interrupted", "pod2": "not", "pod3": "not", "pod4": "not"}, out
    assert f"analyze of vecs.{name}: 1 done, 0 skipped, 0 failed, 3 not run, 1 interrupted" in out
    assert "interrupted: pod1" in out and "not run: pod2, pod3, pod4" in out
    assert "vecdash: interrupted: running pods were cancelled" in err and "Traceback" not in err
    assert "cancellation interrupted" not in err  # psycopg's: the cancel ended before the process did
    assert fleet.last_analyze("pod0", name) is not None and fleet.last_analyze("pod1", name) is None


def test_parallel_two_runs_two_pods_at_once_never_three(fleet, unique):
    name = f"pa_{unique}"
    fleet.make(name, rows=3000)
    summary, events = go(fleet.config(), collection=name, operation="vacuum analyze", parallel=2)
    assert summary.ok and summary.parallel == 2
    running, peak = set(), 0
    for e in events:
        if e.kind == "started":
            running.add(e.pod)
        elif e.kind in ("done", "failed"):
            running.discard(e.pod)
        peak = max(peak, len(running))
    assert peak == 2
    first_done = next(i for i, e in enumerate(events) if e.kind == "done")
    assert {e.pod for e in events[:first_done] if e.kind == "started"} == {"pod0", "pod1"}
    # and one at a time by default
    summary, events = go(fleet.config(), collection=name, operation="analyze")
    starts = [i for i, e in enumerate(events) if e.kind == "started"]
    dones = [i for i, e in enumerate(events) if e.kind == "done"]
    assert all(d < s for d, s in zip(dones, starts[1:]))


def test_read_only_refuses_before_any_io_and_changes_nothing(fleet, unique, capsys, tmp_path):
    name = f"ro_{unique}"
    fleet.make(name, PODS[:2])
    path = fleet.write_config(tmp_path / "c.yaml", pods=PODS[:2])
    for args in (["analyze", name], ["vacuum", name], ["index", name], ["wire", name]):
        code, out, err = cli(capsys, "--read-only", "--config", path, "across", *args)
        assert code == 2 and "read-only" in err and len(err.strip().splitlines()) == 1, (args, out, err)
    assert all(fleet.last_analyze(p, name) is None for p in PODS[:2])
    # no I/O at all: the same refusal with pods that do not exist
    nowhere = f"postgresql://postgres:{TEST_PASSWORD}@127.0.0.1:{free_port()}/postgres"
    cfg = Config(pods=(PodConfig(name="p", dsn=nowhere),), settings=Settings(read_only=True, connect_timeout_s=1))
    t = time.monotonic()
    with pytest.raises(ReadOnlyError):
        go(cfg, collection=name, operation="analyze")
    assert time.monotonic() - t < 0.5


def test_bad_input_is_exit_2_and_nothing_runs(fleet, unique, capsys, tmp_path):
    name = f"bi_{unique}"
    fleet.make(name, PODS[:2])
    path = fleet.write_config(tmp_path / "c.yaml", pods=PODS[:2])
    for args, says in ((["analyze", "no_such_collection"], "no pod holds vecs.no_such_collection"),
                       (["analyze", name, "--pods", "zz*"], "no pod matches"),
                       (["analyze", name, "--parallel", "0"], "parallel must be an integer from 1 to 1,000, got 0"),
                       (["index", name, "--m", "1"], "bad m 1")):
        code, out, err = cli(capsys, "--config", path, "across", *args)
        assert code == 2 and says in err and not out, (args, out, err)
    assert all(fleet.last_analyze(p, name) is None for p in PODS[:2])
    # a glob picks the pods
    code, out, err = cli(capsys, "--config", path, "across", "analyze", name, "--pods", "pod1")
    assert code == 0 and "pod0" not in err and fleet.last_analyze("pod0", name) is None
    assert fleet.last_analyze("pod1", name) is not None
    # COLLECTION as schema.name (quoted parts too), as every command takes it; `maintain` the same
    code, out, err = cli(capsys, "--config", path, "across", "analyze", f'"vecs".{name}', "--pods", "pod0")
    assert code == 0 and f"analyze of vecs.{name}: 1 done" in out, (out, err)
    assert fleet.last_analyze("pod0", name) is not None
    code, out, err = cli(capsys, "--config", path, "maintain", "vacuum", "pod1", f"vecs.{name}")
    assert code == 0 and out.startswith(f"vacuum vecs.{name} on pod1: "), (out, err)
    code, out, err = cli(capsys, "--config", path, "across", "analyze", f"vecs.{name}.x")
    assert code == 2 and "expected NAME or SCHEMA.NAME" in err and not out, (out, err)


def test_a_pod_down_when_read_is_reported_not_run(fleet, unique):
    name = f"dn_{unique}"
    fleet.make(name, PODS[:2])
    cfg = fleet.config(PODS[:2])
    gone = PodConfig(name="gone", dsn=f"postgresql://postgres:{TEST_PASSWORD}@127.0.0.1:{free_port()}/postgres")
    cfg = Config(pods=cfg.pods + (gone,), settings=cfg.settings, path=cfg.path)
    summary, events = go(cfg, collection=name, operation="analyze")
    assert not summary.ok and summary.pods("done") == PODS[:2] and summary.pods("not run") == ["gone"]
    assert "down when the estate was read" in summary.outcomes[-1].detail


def test_wire_across_pods_gives_each_pod_its_own_foreign_table_and_skips_the_primary(fleet, unique, capsys,
                                                                                       tmp_path):
    name = f"wi_{unique}"
    fleet.make(name, PODS[:3])
    fleet.make(name, ["postgres"])  # the primary holds one too: nothing to wire
    path = fleet.write_config(tmp_path / "c.yaml", pods=PODS[:3])
    code, out, err = cli(capsys, "--config", path, "across", "wire", name, "--parallel", "3")
    assert code == 0, (out, err)
    assert "hub: skipped: the primary" in err
    assert "note: wiring runs one pod at a time" in out
    for p in PODS[:3]:
        assert f"{p}: done: wired as {p}.{name} via server {p}; k-NN pushed down" in err
        assert fleet.sql("postgres", f"select count(*) from {p}.{name}")[0][0] == 300
    # no view: the same name on three pods would have wanted public.<name> three times
    assert fleet.sql("postgres", "select count(*) from pg_views where viewname = %s", (name,))[0][0] == 0
    code, out, err = cli(capsys, "--config", path, "across", "wire", name)
    assert code == 0 and all(f"{p}: skipped: already wired" in err for p in PODS[:3])
    for p in PODS[:3]:
        assert cli(capsys, "--config", path, "unwire", p, name, "--apply")[0] == 0


def test_plan_across_lists_every_pod_without_io(fleet, unique):
    name = f"pl_{unique}"
    fleet.make(name, PODS[:3])

    async def read():
        client = PodClient(fleet.config())
        try:
            return await snapshot(client), client
        finally:
            await client.close()

    topo, client = asyncio.run(read())
    plan = plan_across(topo, client, name, "index", index_options={"measure": "l2"})
    assert [t.pod for t in plan.targets] == PODS[:3] and all(t.action == "run" for t in plan.targets)
    assert all("create index concurrently" in t.preview for t in plan.targets)
    with pytest.raises(UserError):
        plan_across(topo, client, name, "reindex")


# --- the console ------------------------------------------------------------------------------------------


def _many_pods(n: int, name: str):
    """A fixed estate of n pods each holding vecs.NAME (no database: the screen plans without I/O)."""
    from datetime import datetime, timezone

    from vecdash.model import Collection, PodStatus, Topology

    names = [f"vec-{i:03d}" for i in range(n)]
    pods = [PodStatus(name=p, role="secondary", up=True, collections=[
        Collection(pod=p, schema="vecs", name=name, column="vec", type="vector", dimension=8, rows_estimate=10)])
        for p in names]
    cfg = Config(pods=tuple(PodConfig(name=p, dsn=f"postgresql://u@127.0.0.1:1/{p}") for p in names),
                 settings=Settings(), path="<many>")
    return cfg, Topology(pods=pods, taken_at=datetime.now(timezone.utc)), names


async def test_console_confirmation_lists_every_one_of_200_pods_at_80x24():
    from tests.hostile_data import HOSTILE
    from vecdash.tui.app import VecdashApp
    from vecdash.tui.screens.across import AcrossScreen
    from vecdash.tui.widgets.topology import Ref, TopologyTree
    from textual.widgets import DataTable, Static

    hostile = HOSTILE[1] + HOSTILE[11]  # markup-like with a newline
    cfg, topo, names = _many_pods(200, hostile)
    app = VecdashApp(cfg, topology=topo, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        tree = app.query_one(TopologyTree)
        assert tree.select_ref(Ref("collection", names[0], "vecs", hostile))
        await pilot.pause()
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, AcrossScreen), what="the across screen")
        screen = app.screen
        table = screen.query_one("#across-pods", DataTable)
        await until(pilot, lambda: table.row_count == 200, what="every pod listed")
        assert [str(table.get_cell_at((i, 0))) for i in range(200)] == names
        assert "vecs.[bold]xnew\\nline" in str(screen.query_one("#across-title", Static).render())
        await pilot.press("r")
        assert screen.phase == "confirm"
        assert "200 pod(s)" in str(screen.query_one("#across-status").render())
        # the list scrolls: the last pod can be brought on screen at 80x24
        assert table.max_scroll_y > 0
        assert app.focused is table
        await pilot.press("ctrl+end")
        await pilot.pause()
        view = table.scrollable_content_region.height
        assert view >= 12 and table.cursor_row == 199 and table.scroll_y + view > 199 + 1  # + the header row
        await pilot.press("n")
        assert screen.phase == "choose"


async def test_console_runs_analyze_on_every_pod_with_live_rows_and_a_summary(fleet, unique):
    from vecdash.tui.app import VecdashApp
    from vecdash.tui.screens.across import AcrossScreen
    from vecdash.tui.widgets.topology import Ref, TopologyTree
    from textual.widgets import DataTable

    from dataclasses import replace

    name = f"tu_{unique}"
    fleet.make(name)
    cfg = fleet.config()
    app = VecdashApp(replace(cfg, settings=replace(cfg.settings, refresh_seconds=3600)))  # only a change re-reads
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.topology is not None and app.topology.pod("pod4").collection("vecs", name),
                    what="first refresh")
        assert app.query_one(TopologyTree).select_ref(Ref("collection", "pod2", "vecs", name))
        await pilot.pause()
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, AcrossScreen), what="the across screen")
        screen = app.screen
        table = screen.query_one("#across-pods", DataTable)
        assert [str(table.get_cell_at((i, 0))) for i in range(table.row_count)] == PODS
        assert all(str(table.get_cell_at((i, 1))) == "will run" for i in range(5))
        await pilot.press("r", "y")
        await until(pilot, lambda: screen.phase == "finished" and screen.result is not None, what="the run")
        assert [(e.pod, e.kind) for e in screen.events if e.kind != "step"] == \
            [(p, k) for p in PODS for k in ("started", "done")]
        assert all(str(table.get_cell_at((i, 1))) == "done" for i in range(5))
        status = str(screen.query_one("#across-status").render())
        assert "summary: 5 done, 0 skipped, 0 failed, 0 not run" in status
        assert all(fleet.last_analyze(p, name) is not None for p in PODS)
        # the estate is read again after the change: the tree shows the pods' new statistics
        await until(pilot, lambda: app.topology.pod("pod0").collection("vecs", name).last_analyze is not None,
                    what="the estate re-read")
        await pilot.press("escape")
        assert not isinstance(app.screen, AcrossScreen)


async def test_console_across_is_absent_in_read_only_mode(fleet):
    from vecdash.tui import actions
    from vecdash.tui.app import VecdashApp

    assert "across" in [a.name for a in actions.available(read_only=False)]
    assert "across" not in [a.name for a in actions.available(read_only=True)]
    cfg, topo, names = _many_pods(3, "docs")
    app = VecdashApp(Config(pods=cfg.pods, settings=Settings(read_only=True), path="<ro>"), topology=topo, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x")
        await pilot.pause()
        assert type(app.screen).__name__ != "AcrossScreen"


# --- the doctor at fleet scale ------------------------------------------------------------------------------


def test_doctor_groups_the_same_finding_on_many_pods_by_kind_and_by_pod(fleet, unique, capsys, tmp_path):
    dbs = [f"dr{unique[:4]}_{i:02d}" for i in range(12)]
    for db in dbs:
        fleet.sql("postgres", f"create database {db} template tmpl")
    fleet.make("big_a", dbs, rows=2500)
    fleet.make("big_b", dbs[:10], rows=2500)
    fleet.make("small", dbs, rows=100)
    for db in dbs:
        fleet.sql(db, "analyze")
    cfg = Config(pods=tuple(PodConfig(name=db, dsn=fleet.dsn(db)) for db in dbs), settings=Settings(), path="<d>")
    path = tmp_path / "d.yaml"
    path.write_text("pods:\n" + "".join(f"  - name: {p.name}\n    dsn: {p.dsn}\n" for p in cfg.pods))
    path.chmod(0o600)
    code, out, err = cli(capsys, "--config", str(path), "doctor")
    assert code == 1 and not err.strip(), err
    # 23 findings: grouped, each one's plan left for --details
    assert "WARNING no_vector_index: 22 on 12 pod(s)" in out
    assert f"        {dbs[0]}: vecs.big_a, vecs.big_b" in out and f"        {dbs[11]}" not in out.split("by pod:")[0]
    assert "... and 4 more pod(s) (--json lists every one)" in out
    assert "WARNING no_primary: 1 on no known pod" in out and "(pod unknown): config" in out
    by_pod = out.split("by pod:")[1]
    rows = {r.split()[0]: r.split(None, 3)[1:] for r in by_pod.strip().splitlines()[2:] if r.strip()}
    assert rows[dbs[0]] == ["0", "2", "no_vector_index x2"] and rows[dbs[11]] == ["0", "1", "no_vector_index"]
    assert set(dbs) <= set(rows)
    assert "create index concurrently" not in out
    assert "23 problem(s) (22 on 12 pod(s), 1 on no known pod); `--details` shows each with its fix plan" in out
    code, out, err = cli(capsys, "--config", str(path), "doctor", "--details")
    assert out.count("create index concurrently") == 22 and "by finding:" in out
    code, out, err = cli(capsys, "--config", str(path), "doctor", "--json")
    doc = json.loads(out)
    assert set(doc) == {"clean", "findings", "applied"}
    assert all(set(f) == {"kind", "severity", "subject", "message", "fix", "pod"} for f in doc["findings"])
    assert sorted({f["pod"] for f in doc["findings"] if f["kind"] == "no_vector_index"}) == dbs
