"""Live activity against real pods: sessions, blocking, cancel/terminate, index build progress, least
privilege, pg_stat_statements, rates, alerts, the --json shape and the CLI's exit codes.

One server started with pg_stat_statements preloaded; each test works in a database of its own on it
(a pod is a database: activity reads only the pod's own database), so tests never see each other.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time

import psycopg
import pytest
from psycopg import sql

from .hostile_data import HOSTILE
from .test_bad_input import cli
from vecdash.config import Config, PodConfig, Settings
from vecdash.embedded import default_root, start_pods
from vecdash.errors import PodError, ReadOnlyError, UserError
from vecdash.model_activity import PodActivity
from vecdash.service import activity as live
from vecdash.service.catalog import snapshot
from vecdash.service.console_api import ConsoleApi
from vecdash.service.index_plans import MIN_INDEX_ROWS

PASSWORD = "act-Pw-7"


@pytest.fixture(scope="module")
def server():
    root = default_root("vdact-")
    [pod] = start_pods(root, ["activity"], password=PASSWORD, settings={"shared_preload_libraries": "pg_stat_statements"})
    try:
        yield pod
    finally:
        pod.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def db(server, unique):
    """A fresh database (with pgvector) on the server: the pod of one test."""
    name = f"act_{unique}"
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    with psycopg.connect(server.dsn(name), autocommit=True) as conn:
        conn.execute("create extension vector")
        conn.execute("create schema vecs")
    yield name
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))


def config(server, dbname: str, *, read_only: bool = False, user: str | None = None, **settings) -> Config:
    dsn = server.dsn(dbname)
    if user:
        dsn = dsn.replace(f"postgres:{PASSWORD}@", f"{user}:{PASSWORD}@")
    base = dict(statement_timeout_ms=5000, connect_timeout_s=3)
    base.update(settings)
    return Config(pods=(PodConfig(name="pod-x", role="secondary", dsn=dsn),),
                  settings=Settings(read_only=read_only, **base), path="<activity>")


def write_config(path, cfg: Config):
    lines = ["pods:"] + [f"  - name: {p.name}\n    dsn: {p.dsn}" for p in cfg.pods]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def make_collection(server, dbname: str, name: str = "items", rows: int = 50, *, schema: str = "vecs",
                    index: bool = False) -> None:
    with psycopg.connect(server.dsn(dbname), autocommit=True) as conn:
        t = sql.Identifier(schema, name)
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("create table {} (id text primary key, vec vector(3) not null)").format(t))
        # no parameters: a hostile name may hold a % (psycopg would read it as a placeholder)
        conn.execute(sql.SQL("insert into {} select 'r' || g, array[g % 7, g % 11, g % 13]::vector(3) "
                             "from generate_series(1, {}) g").format(t, sql.Literal(rows)))
        if index:
            conn.execute(sql.SQL("create index {} on {} using hnsw (vec vector_l2_ops)").format(
                sql.Identifier(f"{name} hnsw"), t))
        conn.execute(sql.SQL("analyze {}").format(t))


def take(cfg: Config, previous=None):
    from vecdash.db.pods import PodClient

    async def go():
        client = PodClient(cfg)
        try:
            return await snapshot(client, activity=True, previous=previous)
        finally:
            await client.close()

    return asyncio.run(go())


def activity_of(cfg: Config) -> PodActivity:
    topo = take(cfg)
    act = topo.pods[0].activity
    assert act is not None and act.up, topo.pods[0].error
    return act


def wait_for(cfg: Config, found, timeout: float = 20.0):
    """Snapshots until `found(activity)` returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        act = activity_of(cfg)
        hit = found(act)
        if hit:
            return hit
        time.sleep(0.2)
    raise AssertionError(f"not seen within {timeout} s: {act}")


class Background:
    """A statement running in a thread on its own session; `pid` known before it starts."""

    def __init__(self, dsn: str, statement, params=None, application: str = "activity-test"):
        self.conn = psycopg.connect(dsn, autocommit=True, application_name=application)
        self.pid = self.conn.info.backend_pid
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(statement, params), daemon=True)
        self.thread.start()

    def _run(self, statement, params):
        try:
            self.conn.execute(statement, params)
        except BaseException as exc:  # noqa: BLE001 - kept for the test to look at
            self.error = exc

    def join(self, timeout: float = 30.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive()

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass


SLOW_KNN = "select id from vecs.items, (select pg_sleep(%s)) s order by vec <-> '[1,2,3]' limit 3"


# --- sessions, blocking, cancel and terminate --------------------------------------------------------


def test_a_long_vector_query_shows_with_its_pod_age_and_vector_flag_and_cancel_ends_it(server, db):
    make_collection(server, db)
    cfg = config(server, db)
    knn = Background(server.dsn(db), SLOW_KNN, (30,))
    try:
        s = wait_for(cfg, lambda a: next((s for s in a.sessions if s.pid == knn.pid and (s.query_age_s or 0) > 0.5), None))
        assert s.vector is True and "<->" in s.query and s.state == "active"
        assert s.application == "activity-test" and s.own is False
        assert s.client and s.client.startswith("127.0.0.1:")
        assert s.wait_event == "Timeout:PgSleep"
        assert s.xact_age_s >= s.query_age_s > 0.5
        topo = take(cfg)
        assert topo.pods[0].name == "pod-x" and any(x.pid == knn.pid for x in topo.pods[0].activity.sessions)
        # cancel: the statement ends with QueryCanceled, the session stays
        assert asyncio.run(_signal(cfg, knn.pid, "cancel")) is True
        knn.join()
        assert isinstance(knn.error, psycopg.errors.QueryCanceled)
        assert knn.conn.execute("select 1").fetchone() == (1,)
    finally:
        knn.close()


async def _signal(cfg: Config, pid: int, how: str) -> bool:
    api = ConsoleApi(cfg)
    try:
        return await api.signal_backend("pod-x", pid, how)
    finally:
        await api.close()


def test_blocked_session_names_its_blocker_and_a_long_transaction_is_an_alert(server, db):
    make_collection(server, db)
    cfg = config(server, db, long_transaction_s=1)
    holder = psycopg.connect(server.dsn(db), application_name="holder")
    try:
        holder.execute("update vecs.items set vec = vec where id = 'r1'")  # transaction left open
        waiter = Background(server.dsn(db), "update vecs.items set vec = vec where id = 'r1'", application="waiter")
        try:
            s = wait_for(cfg, lambda a: next((s for s in a.sessions if s.pid == waiter.pid and s.blocked_by), None))
            assert s.blocked_by == [holder.info.backend_pid]
            assert s.wait_event.startswith("Lock:")
            time.sleep(1.2)
            topo = take(cfg)
            idle = next(x for x in topo.pods[0].activity.sessions if x.pid == holder.info.backend_pid)
            assert idle.state == "idle in transaction" and idle.blocked_by == []
            long = [a for a in topo.alerts if a.code == "long_transaction"]
            assert {a.subject for a in long} >= {str(holder.info.backend_pid)}, topo.alerts
            holder.rollback()
            waiter.join()
            assert waiter.error is None
        finally:
            waiter.close()
    finally:
        holder.close()


def test_terminate_ends_the_session(server, db):
    cfg = config(server, db)
    victim = psycopg.connect(server.dsn(db), autocommit=True, application_name="victim")
    pid = victim.info.backend_pid
    try:
        assert asyncio.run(_signal(cfg, pid, "terminate")) is True
        deadline = time.monotonic() + 10
        while any(s.pid == pid for s in activity_of(config(server, db)).sessions) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(s.pid == pid for s in activity_of(cfg).sessions)
        with pytest.raises(psycopg.OperationalError):
            victim.execute("select 1")
    finally:
        victim.close()


def test_signals_are_refused_read_only_before_any_io_and_the_server_is_unchanged(server, db, tmp_path, capsys):
    cfg = config(server, db, read_only=True)
    victim = psycopg.connect(server.dsn(db), autocommit=True, application_name="victim")
    pid = victim.info.backend_pid
    try:
        for how in ("cancel", "terminate"):
            with pytest.raises(ReadOnlyError) as info:
                asyncio.run(_signal(cfg, pid, how))
            assert info.value.exit_code == 2
        # before any I/O: a read-only config whose pod does not even answer is refused the same way
        gone = Config(pods=(PodConfig(name="pod-x", dsn="postgresql://postgres@127.0.0.1:1/postgres"),),
                      settings=Settings(read_only=True, connect_timeout_s=1), path="<gone>")
        with pytest.raises(ReadOnlyError):
            asyncio.run(_signal(gone, pid, "terminate"))
        path = write_config(tmp_path / "c.yaml", config(server, db))
        for how in ("cancel", "terminate"):
            res = cli(capsys, "activity", how, "pod-x", str(pid), "--config", str(path), "--read-only")
            assert res[0] == 2 and "read-only" in res[2], res
        assert victim.execute("select 1").fetchone() == (1,)  # the backend is still there
        assert any(s.pid == pid for s in activity_of(cfg).sessions)
    finally:
        victim.close()


def test_a_pid_of_another_database_is_refused(server, db):
    other = psycopg.connect(server.dsn(), autocommit=True)  # the postgres database: not this pod's
    try:
        with pytest.raises(UserError, match="not a session of pod pod-x"):
            asyncio.run(_signal(config(server, db), other.info.backend_pid, "terminate"))
        assert other.execute("select 1").fetchone() == (1,)
    finally:
        other.close()


# --- index build progress and invalid indexes --------------------------------------------------------


def test_a_concurrent_index_build_shows_its_phase_and_percent_and_a_cancelled_one_is_an_invalid_index(server, db):
    make_collection(server, db)
    cfg = config(server, db)
    writer = psycopg.connect(server.dsn(db))  # an open write transaction: the build waits for it
    try:
        writer.execute("insert into vecs.items values ('w1', '[1,1,1]')")
        build = Background(server.dsn(db), "create index concurrently items_hnsw on vecs.items using hnsw (vec vector_l2_ops)",
                           application="builder")
        try:
            p = wait_for(cfg, lambda a: next((p for p in a.progress if p.pid == build.pid), None))
            assert p.command == "CREATE INDEX CONCURRENTLY"
            assert p.phase == "waiting for writers before build"
            assert p.percent == 0.0  # lockers: 0 of 1 done
            assert p.relation == "vecs.items" and p.index == "items_hnsw"
            topo = take(cfg)
            assert not [a for a in topo.alerts if a.code == "index_invalid"], "a build in progress is not an invalid index"
            assert asyncio.run(_signal(cfg, build.pid, "cancel")) is True
            build.join()
            assert isinstance(build.error, psycopg.errors.QueryCanceled)
        finally:
            build.close()
        topo = take(cfg)
        invalid = [a for a in topo.alerts if a.code == "index_invalid"]
        assert [a.subject for a in invalid] == ["items_hnsw"], topo.alerts
    finally:
        writer.rollback()
        writer.close()


# --- least privilege ---------------------------------------------------------------------------------


@pytest.mark.parametrize("monitor", [True, False], ids=["pg_monitor", "plain"])
def test_a_role_with_only_pg_monitor_sees_sessions_and_a_plain_role_gets_notes(server, db, unique, monitor):
    role = f"watch_{unique}"
    with psycopg.connect(server.dsn(db), autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(role), sql.Literal(PASSWORD)))
        if monitor:
            conn.execute(sql.SQL("grant pg_monitor to {}").format(sql.Identifier(role)))
    make_collection(server, db)
    knn = Background(server.dsn(db), SLOW_KNN, (30,))
    try:
        cfg = config(server, db, user=role)
        s = wait_for(cfg, lambda a: next((s for s in a.sessions if s.pid == knn.pid), None))
        topo = take(cfg)
        pod = topo.pods[0]
        assert pod.up and pod.error is None
        notes = " | ".join(pod.activity.notes)
        assert "pg_signal_backend" in notes
        assert "pg_stat_statements is not installed" in notes and pod.activity.statements is None
        if monitor:
            assert s.vector is True and "<->" in s.query and s.query_age_s is not None
            assert "pg_read_all_stats" not in notes
        else:
            assert s.query is None and s.vector is False and s.state is None
            assert "not a member of pg_read_all_stats" in notes
        assert [c.qualified for c in pod.activity.collections] == ["vecs.items"]
        with pytest.raises(PodError, match="pg_signal_backend"):
            asyncio.run(_signal(cfg, knn.pid, "cancel"))
        assert knn.thread.is_alive()
    finally:
        with psycopg.connect(server.dsn(db), autocommit=True) as conn:
            conn.execute("select pg_cancel_backend(%s)", (knn.pid,))
        knn.join()
        knn.close()
        with psycopg.connect(server.dsn(db), autocommit=True) as conn:
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


# --- pg_stat_statements, rates, alerts ---------------------------------------------------------------


def test_top_statements_list_vector_statements_first(server, db):
    make_collection(server, db)
    with psycopg.connect(server.dsn(db), autocommit=True) as conn:
        conn.execute('create schema "stats ""x"""')  # the statements query is composed on this schema
        conn.execute('create extension pg_stat_statements schema "stats ""x"""')
        conn.execute("select pg_sleep(0.3)")  # a slow statement that is not a vector one
        for _ in range(3):
            conn.execute("select id from vecs.items order by vec <=> %s::vector limit 2", ("[1,2,3]",))
    act = activity_of(config(server, db))
    assert act.statements, act.notes
    flags = [s.vector for s in act.statements]
    assert flags[0] is True and flags == sorted(flags, reverse=True)
    knn = next(s for s in act.statements if "<=>" in (s.query or ""))
    assert knn.calls == 3 and knn.rows == 6 and knn.mean_ms == pytest.approx(knn.total_ms / 3)
    sleep = next(s for s in act.statements if "pg_sleep" in (s.query or ""))
    assert sleep.total_ms > knn.total_ms and not sleep.vector
    assert not [n for n in act.notes if "pg_stat_statements" in n]
    assert act.counters["vector_calls"] >= 3


def test_pg_stat_statements_absent_is_a_note_and_statements_null(server, db):
    act = activity_of(config(server, db))
    assert act.statements is None
    assert any("pg_stat_statements is not installed" in n and "never installs" in n for n in act.notes)
    doc = live.activity_json(take(config(server, db)))
    assert doc["pods"][0]["statements"] is None
    with psycopg.connect(server.dsn(db)) as conn:  # and it was not installed
        assert conn.execute("select count(*) from pg_extension where extname = 'pg_stat_statements'").fetchone() == (0,)


def test_rates_between_two_snapshots_and_sequential_scans_on_an_indexed_collection(server, db):
    make_collection(server, db, rows=MIN_INDEX_ROWS, index=True)
    with psycopg.connect(server.dsn(db), autocommit=True) as conn:
        conn.execute("create extension pg_stat_statements")
    cfg = config(server, db)

    async def go():
        api = ConsoleApi(cfg)
        try:
            first = await api.snapshot()
            assert first.pods[0].activity.rates is None
            with psycopg.connect(server.dsn(db), autocommit=True) as conn:
                conn.execute("set enable_seqscan = off")
                for _ in range(4):
                    conn.execute("select id from vecs.items order by vec <-> '[1,2,3]' limit 5")
                conn.execute("set enable_seqscan = on")
                for setting in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
                    conn.execute(sql.SQL("set {} = off").format(sql.Identifier(setting)))
                conn.execute("select count(*) from vecs.items")  # a sequential scan
            await asyncio.sleep(0.3)
            return await api.snapshot()
        finally:
            await api.close()

    topo = asyncio.run(go())
    r = topo.pods[0].activity.rates
    assert r is not None and r.seconds > 0.3
    assert r.vector_qps > 0 and r.scans_per_s > 0 and r.tuples_per_s > 0
    assert r.seq_scans == {"vecs.items": 1}
    c = topo.pods[0].activity.collections[0]
    assert c.vector_index == "items hnsw" and c.vector_index_scans >= 4 and c.index_hit_ratio > 0
    flagged = [a for a in topo.alerts if a.code == "seq_scan_indexed"]
    assert [a.subject for a in flagged] == ["vecs.items"], topo.alerts
    # the JSON has the rates too
    doc = live.activity_json(topo)
    assert doc["pods"][0]["rates"]["seq_scans"] == {"vecs.items": 1}


def test_rates_of_two_activities():
    from datetime import datetime, timedelta, timezone

    from vecdash.model_activity import CollectionActivity

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    prev = PodActivity(name="p", up=True, taken_at=t0, counters={"seq_scan": 10, "idx_scan": 5, "seq_tup_read": 100,
                                                                  "idx_tup_fetch": 0, "vector_index_scans": 5},
                       collections=[CollectionActivity("s", "c", seq_scan=10)])
    cur = PodActivity(name="p", up=True, taken_at=t0 + timedelta(seconds=2),
                      counters={"seq_scan": 12, "idx_scan": 9, "seq_tup_read": 300, "idx_tup_fetch": 0,
                                "vector_index_scans": 9}, collections=[CollectionActivity("s", "c", seq_scan=12)])
    r = live.rates(prev, cur)
    assert (r.seconds, r.vector_qps, r.scans_per_s, r.tuples_per_s, r.seq_scans) == (2.0, 2.0, 3.0, 100.0, {"s.c": 2})
    cur.counters["seq_scan"] = 1  # a reset: no rate, never a negative one
    assert live.rates(prev, cur).scans_per_s is None


# --- JSON, CLI, hostile text -------------------------------------------------------------------------

SESSION_KEYS = {"pid", "user", "application", "client", "state", "wait_event", "xact_age_s", "query_age_s", "query",
                "vector", "blocked_by", "own"}
PROGRESS_KEYS = {"pid", "command", "phase", "relation", "percent"}
COLLECTION_KEYS = {"schema", "name", "seq_scan", "idx_scan", "vector_index_scans", "seq_tup_read", "n_dead_tup",
                   "last_autovacuum", "index_hit_ratio"}
POD_KEYS = {"name", "up", "error", "sessions", "progress", "collections", "statements", "notes"}


def test_json_shape_and_hostile_names_and_query_text_come_through_literally(server, db, tmp_path, capsys):
    for i, name in enumerate(HOSTILE[:8]):
        make_collection(server, db, name, rows=3, schema=HOSTILE[-1 - i])
    text = "select /* a\nb */ id from vecs.items /* " + " ".join(HOSTILE) + " */, (select pg_sleep(30)) s order by vec <#> '[1,2,3]' limit 1"
    make_collection(server, db)
    long = Background(server.dsn(db), text, application="[bold]x 50%off {0}")  # the server escapes a newline here itself
    try:
        path = write_config(tmp_path / "c.yaml", config(server, db))
        wait_for(config(server, db), lambda a: any(s.pid == long.pid and s.query for s in a.sessions))
        code, out, err = cli(capsys, "activity", "--json", "--config", str(path))
        assert code == 0, err
        doc = json.loads(out)
        assert set(doc) >= {"taken_at", "pods", "alerts"} and doc["alerts"] == []
        [pod] = doc["pods"]
        assert set(pod) >= POD_KEYS and pod["name"] == "pod-x" and pod["up"] is True and pod["error"] is None
        s = next(s for s in pod["sessions"] if s["pid"] == long.pid)
        assert set(s) >= SESSION_KEYS
        assert s["query"] == text and s["application"] == "[bold]x 50%off {0}" and s["vector"] is True
        assert all(set(c) >= COLLECTION_KEYS for c in pod["collections"])
        names = {(c["schema"], c["name"]) for c in pod["collections"]}
        assert {(HOSTILE[-1 - i], n) for i, n in enumerate(HOSTILE[:8])} <= names
        # the table: one line per session, the newline shown escaped
        code, out, err = cli(capsys, "activity", "--config", str(path))
        assert code == 0, err
        line = next(l for l in out.splitlines() if l.startswith(str(long.pid)))
        assert "[bold]x 50%off {0}" in line and "select /* a\\nb */ id" in line
    finally:
        with psycopg.connect(server.dsn(db), autocommit=True) as conn:
            conn.execute("select pg_cancel_backend(%s)", (long.pid,))
        long.join()
        long.close()


def test_json_progress_keys(server, db):
    make_collection(server, db)
    writer = psycopg.connect(server.dsn(db))
    try:
        writer.execute("insert into vecs.items values ('w1', '[1,1,1]')")
        build = Background(server.dsn(db), "create index concurrently ix on vecs.items using hnsw (vec vector_l2_ops)")
        try:
            wait_for(config(server, db), lambda a: a.progress)
            doc = live.activity_json(take(config(server, db)))
            [p] = doc["pods"][0]["progress"]
            assert set(p) >= PROGRESS_KEYS and p["pid"] == build.pid and p["relation"] == "vecs.items"
        finally:
            with psycopg.connect(server.dsn(db), autocommit=True) as conn:
                conn.execute("select pg_cancel_backend(%s)", (build.pid,))
            build.join()
            build.close()
    finally:
        writer.rollback()
        writer.close()


def test_cli_exit_codes(server, db, tmp_path, capsys):
    make_collection(server, db)
    path = write_config(tmp_path / "c.yaml", config(server, db))
    code, out, err = cli(capsys, "activity", "--config", str(path))
    assert code == 0 and "alerts (0): none" in out, (out, err)
    assert "pg_stat_statements is not installed" in out
    # a pod down: exit 1, the alert line says so
    down = write_config(tmp_path / "d.yaml", Config(
        pods=(*config(server, db).pods, PodConfig(name="gone", dsn="postgresql://postgres@127.0.0.1:1/postgres")),
        settings=Settings(), path="<d>"))
    code, out, err = cli(capsys, "activity", "--config", str(down))
    assert code == 1 and "gone: DOWN" in out and "pod gone is down" in out
    code, out, err = cli(capsys, "activity", "pod-x", "--config", str(down), "--json")  # only the pod asked for
    assert code == 0 and [p["name"] for p in json.loads(out)["pods"]] == ["pod-x"]
    # bad input: exit 2, nothing read
    for args in (["nope"], ["--watch", "0"], ["cancel", "pod-x", "abc"], ["cancel", "pod-x"], ["terminate", "nope", "1"]):
        code, out, err = cli(capsys, "activity", *args, "--config", str(down))
        assert code == 2, (args, out, err)
    # cancel through the CLI
    knn = Background(server.dsn(db), SLOW_KNN, (30,))
    try:
        code, out, err = cli(capsys, "activity", "cancel", "pod-x", str(knn.pid), "--config", str(path))
        assert code == 0 and f"pid {knn.pid}" in out, err
        knn.join()
        assert isinstance(knn.error, psycopg.errors.QueryCanceled)
    finally:
        knn.close()


def test_pg_stat_statements_installed_but_not_loaded_is_a_note(estate, unique):
    name = f"act_{unique}"
    estate.sql("vectors-b", f'create database "{name}"')
    try:
        with psycopg.connect(estate.pods["vectors-b"].dsn(name), autocommit=True) as conn:
            conn.execute("create extension pg_stat_statements")
        cfg = Config(pods=(PodConfig(name="b", dsn=estate.pods["vectors-b"].dsn(name)),), settings=Settings(),
                     path="<b>")
        topo = take(cfg)
        act = topo.pods[0].activity
        assert topo.pods[0].up and act.statements is None
        assert any("not in shared_preload_libraries" in n for n in act.notes), act.notes
    finally:
        estate.sql("vectors-b", f'drop database "{name}" with (force)')


def test_watch_reprints_with_rates_until_ctrl_c(server, db, tmp_path):
    import signal
    import subprocess
    import sys

    path = write_config(tmp_path / "c.yaml", config(server, db))
    proc = subprocess.Popen([sys.executable, "-m", "vecdash", "activity", "--config", str(path), "--watch", "0.3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = []
        while sum("alerts (" in line for line in lines) < 3:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 130
    finally:
        proc.kill()
    headers = [line for line in lines if line.startswith("== pod-x")]
    assert len(headers) >= 3 and "vector q/s" not in headers[0] and "vector q/s" in headers[1]


def test_an_index_build_reading_its_table_is_no_seq_scan_alert():
    """CREATE INDEX reads the table by sequential scan: while it runs, new seq scans are not a query
    missing the index."""
    from datetime import datetime, timezone

    from vecdash.model import Collection, Index, PodStatus, Topology
    from vecdash.model_activity import CollectionActivity, Progress, Rates

    def topo(progress: list[Progress]) -> Topology:
        act = PodActivity(name="p", up=True, taken_at=datetime.now(timezone.utc), progress=progress,
                          collections=[CollectionActivity("vecs", "docs", seq_scan=3, vector_index="ix",
                                                          n_live_tup=MIN_INDEX_ROWS * 2)],
                          rates=Rates(seconds=2.0, seq_scans={"vecs.docs": 1}))
        coll = Collection(pod="p", schema="vecs", name="docs", column="vec", type="vector", dimension=3,
                          rows_estimate=MIN_INDEX_ROWS * 2,
                          indexes=[Index(name="ix", method="hnsw", column="vec", opclass="vector_l2_ops", measure="l2")])
        return Topology(pods=[PodStatus(name="p", role="secondary", up=True, collections=[coll], activity=act)],
                        taken_at=datetime.now(timezone.utc))

    def codes(t: Topology) -> list[str]:
        return [a.code for a in live.alerts(t)]

    assert codes(topo([])) == ["seq_scan_indexed"]
    building = Progress(pid=7, command="CREATE INDEX CONCURRENTLY", phase="building index", relation="vecs.docs")
    assert codes(topo([building])) == []
    other = Progress(pid=7, command="CREATE INDEX CONCURRENTLY", phase="building index", relation="vecs.other")
    assert codes(topo([other])) == ["seq_scan_indexed"]


def test_a_rebuild_or_a_build_that_ended_between_refreshes_is_no_seq_scan_alert():
    """REINDEX [CONCURRENTLY] reads its table like CREATE INDEX does (and the console's `R` runs one);
    a build seen at the previous refresh that has ended since leaves its scans in the counters: neither
    is a query missing the index. The `_ccnew` index a concurrent rebuild is making is no INVALID alert."""
    from datetime import datetime, timedelta, timezone

    from vecdash.model import Collection, Index, PodStatus, Topology
    from vecdash.model_activity import CollectionActivity, Progress

    t0 = datetime.now(timezone.utc)

    def act(seq: int, progress: list[Progress], at) -> PodActivity:
        return PodActivity(name="p", up=True, taken_at=at, progress=progress,
                           collections=[CollectionActivity("vecs", "docs", seq_scan=seq, vector_index="ix",
                                                           n_live_tup=MIN_INDEX_ROWS * 2)])

    def codes(prev: PodActivity, cur: PodActivity) -> list[str]:
        cur.rates = live.rates(prev, cur)
        coll = Collection(pod="p", schema="vecs", name="docs", column="vec", type="vector", dimension=3,
                          rows_estimate=MIN_INDEX_ROWS * 2,
                          indexes=[Index(name="ix", method="hnsw", column="vec", opclass="vector_l2_ops", measure="l2"),
                                   Index(name="ix_ccnew", method="hnsw", column="vec", opclass="vector_l2_ops",
                                         measure="l2", valid=False)])
        return [a.code for a in live.alerts(Topology(pods=[PodStatus(name="p", role="secondary", up=True,
                                                                     collections=[coll], activity=cur)], taken_at=t0))]

    later = t0 + timedelta(seconds=2)
    rebuild = Progress(pid=7, command="REINDEX CONCURRENTLY", phase="building index", relation="vecs.docs", index="ix")
    assert codes(act(3, [], t0), act(4, [rebuild], later)) == []
    assert codes(act(3, [rebuild], t0), act(4, [], later)) == ["index_invalid"]  # ended: the _ccnew one is left
    assert codes(act(3, [], t0), act(4, [], later)) == ["index_invalid", "seq_scan_indexed"]
