"""The fast path (`wire --fast-path`) on real pods: `<view>_knn` and `_knn_all` answer like the pods, values
and names cannot reach the pod as SQL, connections are reopened, down and hung pods are named and bounded;
verify, doctor, unwire and read-only mode handle the functions."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import psycopg
import pytest
from psycopg import sql

from vecdash.config import Config, PodConfig, Settings
from vecdash.model import Plan
from vecdash.service import doctor, wiring
from vecdash.service.wiring import fast_plan
from tests.hostile_data import HOSTILE
from tests.service_helpers import run
from tests.test_wiring import DIM, make_table

from .conftest import TEST_PASSWORD


def vec_text(v) -> str:
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


def direct(dsn: str, relation: sql.Composable, q: str, k: int = 10, where: str = "", params=(), settings=()) -> list:
    """k-NN on a pod itself: the statement the function sends (same columns, so the pod plans it the same)."""
    with psycopg.connect(dsn) as conn:
        for name, value in settings:
            conn.execute("select set_config(%s, %s, false)", (name, value))
        # values composed as literals: a hostile name may hold a %, which psycopg would read as a placeholder
        template = ("select id::text, vec <=> %s::vector, metadata from {rel} " + where +
                    " order by vec <=> %s::vector limit %s").replace("%s", "{}")
        stmt = sql.SQL(template).format(*map(sql.Literal, (q, *params, q, k)), rel=relation)
        return [tuple(r[:2]) for r in conn.execute(stmt).fetchall()]


def on_primary(dsn: str, template, rel=None, params=()) -> list:
    """`template` with `{}` for `rel` and `%s` for `params`, all composed as literals (a name may hold a %)."""
    with psycopg.connect(dsn) as conn:
        if rel is None:
            return [tuple(r) for r in conn.execute(template, params).fetchall()]
        stmt = sql.SQL(template.replace("{}", "{rel}").replace("%s", "{}")).format(*map(sql.Literal, params), rel=rel)
        return [tuple(r) for r in conn.execute(stmt).fetchall()]


def function_exists(dsn: str, schema: str, name: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
                            "where n.nspname = %s and p.proname = %s)", (schema, name)).fetchone()[0]


def wire(cfg, pod, collection, **kw):
    plan = run(lambda c: wiring.plan_wire(c, pod, collection, fast_path=True, **kw), cfg)
    run(lambda c: wiring.apply_plan(c, plan), cfg)
    return plan


def knn_fn(schema: str, name: str) -> sql.Composable:
    return sql.Identifier(schema, name)


def test_knn_answers_like_the_pod_and_the_view(estate, unique):
    name = f"fp_{unique}"
    vecs_ = make_table(estate.dsn("vectors-a"), "vecs", name, rows=3000)  # enough rows that the pod uses HNSW
    cfg = estate.config()
    plan = wire(cfg, "vectors-a", name)
    preview = plan.preview_sql()
    assert "create extension if not exists dblink" in preview and f'"public"."{name}_knn"' in preview
    assert "security invoker" in preview and TEST_PASSWORD not in preview
    primary, pod = estate.dsn("primary"), estate.dsn("vectors-a")
    table, fn = sql.Identifier("vecs", name), knn_fn("public", f"{name}_knn")
    view = sql.Identifier("public", name)
    for i in (3, 77, 150):
        q = vec_text(vecs_[i])
        want = direct(pod, table, q)
        got = on_primary(primary, "select id, distance from {}(%s, 10)", fn, (q,))
        assert got == want
        assert on_primary(primary, "select id, vec <=> %s::vector from {} order by vec <=> %s::vector limit 10", view, (q, q)) == want
        # containment and jsonpath run on the pod, as a direct query there
        f_want = direct(pod, table, q, where="where metadata @> %s::jsonb", params=('{"year": 2003}',))
        assert on_primary(primary, "select id, distance from {}(%s, 10, %s)", fn, (q, '{"year": 2003}')) == f_want
        assert f_want and all(on_primary(pod, "select metadata->>'year' from vecs." + name + " where id = %s", None, (r[0],))[0][0] == "2003"
                              for r in f_want)
        p_want = direct(pod, table, q, where="where metadata @@ %s::jsonpath", params=("$.year > 2015",))
        assert on_primary(primary, "select id, distance from {}(%s, 10, path => %s)", fn,
                          (q, "$.year > 2015")) == p_want
        # knobs reach the pod's transaction: ef_search 1 returns what the pod returns with it
        k_want = direct(pod, table, q, settings=[("hnsw.ef_search", "1")])
        assert len(k_want) < 10  # the pod used the index
        assert on_primary(primary, "select id, distance from {}(%s, 10, ef_search => 1)", fn, (q,)) == k_want
        assert on_primary(primary, "select count(*) from {}(%s, 10, iterative_scan => 'relaxed', probes => 3)", fn, (q,))[0][0] == 10
    # the knobs were local to the remote transaction
    again = on_primary(primary, "select id, distance from {}(%s, 10)", fn, (vec_text(vecs_[3]),))
    assert again == direct(pod, table, vec_text(vecs_[3]))
    v = run(lambda c: wiring.verify(c, "vectors-a", name), cfg)
    fast = [c for c in v.checks if c.name.startswith("fast path")]
    assert len(fast) == 2 and all(c.ok for c in fast), v.to_json()
    assert run(lambda c: wiring.plan_wire(c, "vectors-a", name, fast_path=True), cfg).is_noop
    un = run(lambda c: wiring.plan_unwire(c, "vectors-a", name), cfg)
    run(lambda c: wiring.apply_plan(c, un), cfg)
    assert not function_exists(primary, "public", f"{name}_knn")


def test_hostile_values_change_nothing_on_the_pod(estate, unique):
    name = f"fph_{unique}"
    vecs_ = make_table(estate.dsn("vectors-a"), "vecs", name)
    pod, primary = estate.dsn("vectors-a"), estate.dsn("primary")
    victim = f"victim_{unique}"
    estate.sql("vectors-a", f"create table public.{victim} (x int); insert into public.{victim} values (1)")
    cfg = estate.config()
    wire(cfg, "vectors-a", name)
    fn = knn_fn("public", f"{name}_knn")
    q = vec_text(vecs_[1])
    evil = f"'); drop table public.{victim}; --"
    calls = [
        ("select * from {}(%s, %s)", (q, 2**31 - 1)), ("select * from {}(%s, %s)", (q, -1)), ("select * from {}(%s, %s)", (q, 0)),
        ("select * from {}(%s, 10, %s)", (q, '{"x' + evil + '": "' + evil + '"}')),
        ("select * from {}(%s, 10, path => %s)", (q, '$."' + evil + '" == "' + evil + '"')),
        ("select * from {}(%s, 10, iterative_scan => %s)", (q, evil)),
        ("select * from {}(%s, 10, ef_search => %s)", (q, -5)), ("select * from {}(%s, 10, probes => %s)", (q, 0)),
        ("select * from {}(%s, 10)", ("[1,2,3]",)), ("select * from {}(%s, 10)", (vec_text([1.0] * (DIM + 1)),)),
    ]
    for stmt, params in calls:
        try:
            on_primary(primary, stmt, fn, params)
        except psycopg.Error:
            pass  # refused is fine; what matters is the pod
    assert estate.sql("vectors-a", f"select count(*) from public.{victim}") == [(1,)]
    assert estate.sql("vectors-a", f"select count(*) from vecs.{name}") == [(300,)]
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="k must be from 1 to"):
        on_primary(primary, "select * from {}(%s, %s)", fn, (q, 2**31 - 1))
    with pytest.raises(psycopg.errors.DataException, match="dimensions"):
        on_primary(primary, "select * from {}(%s, 10)", fn, ("[1,2,3]",))
    # a hostile filter is data: it matches nothing, it runs nothing
    assert on_primary(primary, "select * from {}(%s, 10, %s)", fn, (q, '{"x' + evil + '": 1}')) == []


def test_hostile_names(estate, unique):
    pod, primary = estate.dsn("vectors-a"), estate.dsn("primary")
    cfg = estate.config()
    for i, s in enumerate(HOSTILE):
        table, view = f"{s}{unique}{i}", f"{s}v{unique}{i}"
        vecs_ = make_table(pod, "vecs", table, rows=40)
        wire(cfg, "vectors-a", table, view='"' + view.replace('"', '""') + '"')
        q = vec_text(vecs_[5])
        got = on_primary(primary, "select id, distance from {}(%s, 5)", knn_fn("public", f"{view}_knn"), (q,))
        assert got == direct(pod, sql.Identifier("vecs", table), q, k=5), s
        un = run(lambda c, t=table: wiring.plan_unwire(c, "vectors-a", t), cfg)
        run(lambda c, p=un: wiring.apply_plan(c, p), cfg)
        assert not function_exists(primary, "public", f"{view}_knn")


def test_a_broken_connection_is_reopened(estate, unique):
    name = f"fpr_{unique}"
    vecs_ = make_table(estate.dsn("vectors-a"), "vecs", name)
    cfg = estate.config()
    wire(cfg, "vectors-a", name)
    fn = knn_fn("public", f"{name}_knn")
    q = vec_text(vecs_[9])
    want = direct(estate.dsn("vectors-a"), sql.Identifier("vecs", name), q)
    with psycopg.connect(estate.dsn("primary"), autocommit=True) as conn:
        stmt = sql.SQL("select id, distance from {}(%s, 10)").format(fn)
        assert [tuple(r) for r in conn.execute(stmt, (q,)).fetchall()] == want
        # the function's connection, named after whichever server reaches vectors-a (earlier tests may
        # have made that server, under another name)
        opened = conn.execute("select coalesce(dblink_get_connections(), '{}')").fetchone()[0]
        assert len(opened) == 1 and opened[0].startswith("vecdash:"), opened
        ended = estate.sql("vectors-a", "select pg_terminate_backend(pid) from pg_stat_activity "
                           "where query like '%transaction_read_only%' and pid <> pg_backend_pid()")
        assert ended and all(r[0] for r in ended)
        time.sleep(0.2)
        assert [tuple(r) for r in conn.execute(stmt, (q,)).fetchall()] == want
        assert conn.execute("select coalesce(dblink_get_connections(), '{}')").fetchone()[0] == opened  # reopened


def watch_waits(dsn: str, pid: int, cancel_on: str | None = None, seconds: float = 4.0) -> threading.Thread:
    """A thread sampling backend `pid`'s wait events (`.events`) for a few seconds, from its own session;
    it cancels the backend once it is seen waiting on `cancel_on`."""
    def run():
        with psycopg.connect(dsn, autocommit=True) as other:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                row = other.execute("select wait_event, state from pg_stat_activity where pid = %s", (pid,)).fetchone()
                if row and row[1] == "active" and row[0]:
                    watcher.events.add(row[0])
                    if row[0] == cancel_on:
                        other.execute("select pg_cancel_backend(%s)", (pid,))
                        return
                elif watcher.events:
                    return  # it was waiting and is no longer: done
                time.sleep(0.05)

    watcher = threading.Thread(target=run, daemon=True)
    watcher.events = set()
    watcher.start()
    return watcher


def test_knn_all_merges_names_down_and_hung_pods(estate, spare_pod, unique):
    name = f"fpa_{unique}"
    spare_pod.psql("create extension if not exists vector")
    a = make_table(estate.dsn("vectors-a"), "vecs", name, rows=200)
    make_table(spare_pod.dsn(), "vecs", name, rows=200)
    spare_pod.psql(f"update vecs.{name} set vec = vec + '[0.7,-0.3,0.2,0,0,0.1,0,0]'::vector, id = 's' || id")
    pods = (PodConfig(name="primary", role="primary", dsn=estate.dsn("primary")),
            PodConfig(name="vectors-a", role="secondary", dsn=estate.dsn("vectors-a")),
            PodConfig(name="spare", role="secondary", dsn=spare_pod.dsn()))
    cfg = Config(pods=pods, settings=Settings(statement_timeout_ms=2000, connect_timeout_s=2), path="<test>")
    wire(cfg, "vectors-a", name)
    plan = wire(cfg, "spare", name, view=f"{name}_s")
    assert f'"public"."{name}_knn_all"' in plan.preview_sql()
    primary = estate.dsn("primary")
    fn = knn_fn("public", f"{name}_knn_all")
    q = vec_text(a[4])
    both = [("vectors-a", *r) for r in direct(estate.dsn("vectors-a"), sql.Identifier("vecs", name), q, k=7)]
    both += [("spare", *r) for r in direct(spare_pod.dsn(), sql.Identifier("vecs", name), q, k=7)]
    want = sorted(both, key=lambda r: (r[2], r[0], r[1]))[:7]
    assert {r[0] for r in want} == {"vectors-a", "spare"}
    stmt = sql.SQL("select pod, id, distance from {}(%s, 7)").format(fn)
    assert on_primary(primary, "select pod, id, distance from {}(%s, 7)", fn, (q,)) == want
    partial = sql.SQL("select pod, id, distance from {}(%s, 7, partial => true)").format(fn)
    alone = sorted([r for r in both if r[0] == "vectors-a"], key=lambda r: r[2])

    notices = []
    with psycopg.connect(primary, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        assert [tuple(r) for r in conn.execute(stmt, (q,)).fetchall()] == want  # connections open
        spare_pod.pause()
        try:  # no statement_timeout in the session: the function polls, up to the pod's timeout + 1 s
            t0 = time.monotonic()
            with pytest.raises(psycopg.Error, match="pod spare: no answer within 3000 ms"):
                conn.execute(stmt, (q,))
            assert time.monotonic() - t0 < 6
        finally:
            spare_pod.resume()
        assert [tuple(r) for r in conn.execute(stmt, (q,)).fetchall()] == want
        # with a statement_timeout in the session, it waits in dblink_get_result (no polling), which the
        # caller's timeout or a cancel ends; the connections still owed an answer are closed, not left busy
        for how in ("statement_timeout", "cancel"):
            spare_pod.pause()
            try:
                conn.execute("set statement_timeout = %s" % (1500 if how == "statement_timeout" else 20000))
                seen = watch_waits(primary, conn.info.backend_pid, cancel_on="DblinkGetResult" if how == "cancel" else None)
                t0 = time.monotonic()
                with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout" if how == "statement_timeout" else "user request"):
                    conn.execute(stmt, (q,))
                assert time.monotonic() - t0 < 2.9, how  # before the function's own 3000 ms
                seen.join()
                assert "DblinkGetResult" in seen.events and "PgSleep" not in seen.events, (how, seen.events)
                if how == "cancel":
                    # opening a new connection to the hung pod waits in dblink_connect, which only the caller's own
                    # statement_timeout bounds (dblink waits interruptibly; libpq's connect_timeout is not used)
                    conn.execute("set statement_timeout = 3000")
                    t0 = time.monotonic()
                    with pytest.raises(psycopg.errors.QueryCanceled):
                        conn.execute(partial, (q,))
                    assert time.monotonic() - t0 < 8
                conn.execute("set statement_timeout = 0")
            finally:
                spare_pod.resume()
            notices.clear()
            assert [tuple(r) for r in conn.execute(stmt, (q,)).fetchall()] == want
            assert not notices, notices  # no "could not send query: another command is already in progress"
        spare_pod.kill()
        with pytest.raises(psycopg.Error, match="pod spare:"):
            conn.execute(stmt, (q,))
        notices.clear()
        assert [tuple(r) for r in conn.execute(partial, (q,)).fetchall()] == alone
        assert any("pod spare skipped" in n for n in notices)
    spare_pod.start()
    un = run(lambda c: wiring.plan_unwire(c, "spare", name), cfg)
    assert any(f"{name}_knn_all" in s.purpose for s in un.steps)
    run(lambda c: wiring.apply_plan(c, un), cfg)
    assert not function_exists(primary, "public", f"{name}_knn_all") and not function_exists(primary, "public", f"{name}_s_knn")
    assert function_exists(primary, "public", f"{name}_knn")
    un = run(lambda c: wiring.plan_unwire(c, "vectors-a", name), cfg)
    run(lambda c: wiring.apply_plan(c, un), cfg)
    assert not function_exists(primary, "public", f"{name}_knn")


def test_read_only_refuses(estate, unique, tmp_path):
    name = f"fpo_{unique}"
    make_table(estate.dsn("vectors-a"), "vecs", name, rows=20)
    path = estate.write_config(tmp_path / "c.yaml", read_only=True)
    base = [sys.executable, "-m", "vecdash", "--config", str(path), "wire", "vectors-a", name, "--fast-path"]
    dry = subprocess.run(base, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0 and f'"public"."{name}_knn"' in dry.stdout, dry.stderr  # planning is a read
    res = subprocess.run(base + ["--apply"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "read-only" in res.stderr, res.stderr
    assert not function_exists(estate.dsn("primary"), "public", f"{name}_knn")


def test_doctor_finds_a_function_whose_table_went_away(estate, unique):
    name = f"fpd_{unique}"
    make_table(estate.dsn("vectors-a"), "vecs", name, rows=20)
    cfg = estate.config()
    wire(cfg, "vectors-a", name)
    estate.sql("vectors-a", f"drop table vecs.{name}")
    found = [f for f in run(lambda c: doctor.diagnose(c), cfg) if f.kind == "fast_path_broken" and f.subject == f"public.{name}_knn"]
    assert len(found) == 1 and f"vecs.{name} is gone from pod vectors-a" in found[0].message and found[0].fix is not None
    run(lambda c: doctor.apply_fixes(c, found), cfg)
    assert not function_exists(estate.dsn("primary"), "public", f"{name}_knn")


def test_where_dblink_cannot_be_installed_the_plan_says_so(estate):
    state = run(lambda c: wiring.read_primary(c, c.config.primary), estate.config())
    state.extensions.pop("dblink", None)
    state.dblink_available = False
    plan = Plan(title="t", pod="primary")
    assert fast_plan.dblink_schema(plan, state) is None and not plan.steps
    assert "dblink is not available" in plan.notes[0]
    state.dblink_available, state.superuser = True, False
    plan = Plan(title="t", pod="primary")
    assert fast_plan.dblink_schema(plan, state) is None and "only a superuser" in plan.notes[0]
    state.superuser = True
    plan = Plan(title="t", pod="primary")
    assert fast_plan.dblink_schema(plan, state) == "public" and "dblink" in plan.steps[0].preview


def test_execute_follows_the_views_select(estate, unique):
    name = f"fpg_{unique}"
    make_table(estate.dsn("vectors-a"), "vecs", name, rows=20)
    cfg = estate.config()
    reader, other = f"reader_{unique}", f"other_{unique}"
    plan = run(lambda c: wiring.plan_wire(c, "vectors-a", name), cfg)  # first without the fast path
    run(lambda c: wiring.apply_plan(c, plan), cfg)
    estate.sql("primary", f"create role {reader}; create role {other}; grant select on public.{name} to {reader}")
    wire(cfg, "vectors-a", name)
    fn = f"public.{name}_knn(vector, integer, jsonb, jsonpath, integer, text, integer)"
    can = {who: estate.sql("primary", "select has_function_privilege(%s, %s, 'execute')", (who, fn))[0][0]
           for who in (reader, other)}
    assert can == {reader: True, other: False}
    assert estate.sql("primary", "select bool_or(a.grantee = 0) from pg_proc p, aclexplode(p.proacl) a "
                      "where p.oid = %s::regprocedure", (fn,)) == [(False,)]  # PUBLIC may not
    un = run(lambda c: wiring.plan_unwire(c, "vectors-a", name), cfg)
    run(lambda c: wiring.apply_plan(c, un), cfg)
    estate.sql("primary", f"drop role {reader}; drop role {other}")
