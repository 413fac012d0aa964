"""FDW wiring against real pods and real postgres_fdw: plan / apply / verify / unwire, and the doctor.

Round trips use the shared estate (objects named with `unique`). The doctor and CLI exit-code tests
use a module-private pair of pods ("hub" primary, "leaf" secondary) so findings from other test
modules' objects on the shared primary cannot blur them.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys

import numpy as np
import psycopg
import pytest

from vecdash.config import Config, PodConfig, Settings
from vecdash.embedded import free_port
from vecdash.errors import ReadOnlyError
from vecdash.service import doctor, wiring
from tests.service_helpers import run

from .conftest import TEST_PASSWORD, _new_pods

DIM = 8


def make_table(dsn: str, schema: str, name: str, rows: int = 300, dim: int = DIM, index: bool = True,
               vec_col: str = "vec") -> np.ndarray:
    """A vecs-layout table (id varchar, vector, metadata jsonb) with clustered-ish vectors and metadata."""
    from pgvector.psycopg import register_vector

    rng = np.random.default_rng(len(name))
    vecs_ = rng.standard_normal((rows, dim)).astype(np.float32)
    with psycopg.connect(dsn, autocommit=True) as conn:
        register_vector(conn)
        conn.execute(psycopg.sql.SQL("create schema if not exists {}").format(psycopg.sql.Identifier(schema)))
        t = psycopg.sql.Identifier(schema, name)
        conn.execute(psycopg.sql.SQL("create table {} (id varchar primary key, {} vector({}) not null, "
                                     "metadata jsonb not null default '{{}}'::jsonb)").format(
            t, psycopg.sql.Identifier(vec_col), psycopg.sql.Literal(dim)))
        with conn.cursor() as cur, cur.copy(psycopg.sql.SQL("copy {} from stdin (format binary)").format(t)) as cp:
            cp.set_types(["varchar", "vector", "jsonb"])
            for i in range(rows):
                cp.write_row((f"r{i}", vecs_[i], psycopg.types.json.Jsonb({"url": f"/d/{i}", "year": 2000 + i % 20})))
        if index:
            conn.execute(psycopg.sql.SQL("create index on {} using hnsw ({} vector_cosine_ops)").format(
                t, psycopg.sql.Identifier(vec_col)))
        conn.execute(psycopg.sql.SQL("analyze {}").format(t))
    return vecs_


def knn_ids(dsn: str, relation: str, q: np.ndarray, where: str = "") -> list[str]:
    from pgvector.psycopg import register_vector

    with psycopg.connect(dsn) as conn:
        register_vector(conn)
        conn.execute("set enable_indexscan = off")  # exact order on both sides, so results must agree
        rows = conn.execute(f"select id from {relation} {where} order by vec <=> %s limit 10", (q,)).fetchall()
    return [r[0] for r in rows]


def relation_exists(dsn: str, schema: str, name: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select to_regclass(format('%%I.%%I', %s::text, %s::text)) is not null",
                            (schema, name)).fetchone()[0]


def server_exists(dsn: str, name: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select count(*) from pg_foreign_server where srvname = %s", (name,)).fetchone()[0] == 1


# --- round trip on the shared estate ---------------------------------------------------------------


def test_wire_apply_verify_unwire_round_trip(estate, unique):
    name = f"wr_{unique}"
    vecs_ = make_table(estate.dsn("vectors-a"), "vecs", name)
    cfg = estate.config()

    plan = run(lambda c: wiring.plan_wire(c, "vectors-a", name, expose=[("url", "text"), ("year", "int")]), cfg)
    preview = plan.preview_sql()
    assert f'create foreign table "vectors_a"."{name}"' in preview
    assert '"vec" "public"."vector"(8) not null' in preview  # type and dimension read from the pod
    assert "options (schema_name 'vecs', table_name" in preview
    assert f'create view "public"."{name}"' in preview and '::integer as "year"' in preview
    assert "password '********'" in preview or any(s.satisfied for s in plan.steps if "mapping" in s.purpose)
    assert TEST_PASSWORD not in preview and TEST_PASSWORD not in json.dumps(plan.to_json())
    assert any("@>" in n for n in plan.notes)  # the preview says which filter forms stay fast

    run(lambda c: wiring.apply_plan(c, plan), cfg)
    primary = estate.dsn("primary")
    assert relation_exists(primary, "vectors_a", name) and relation_exists(primary, "public", name)
    # same neighbours through the view as on the pod itself
    q = vecs_[7]
    assert knn_ids(primary, f"public.{name}", q) == knn_ids(estate.dsn("vectors-a"), f"vecs.{name}", q)
    with psycopg.connect(primary) as conn:
        url, year = conn.execute(f"select url, year from public.{name} where id = 'r3'").fetchone()
    assert (url, year) == ("/d/3", 2003)

    v = run(lambda c: wiring.verify(c, "vectors-a", name), cfg)
    assert v.pushdown and v.ok, v.to_json()
    assert "ORDER BY" in v.remote_sql and "LIMIT" in v.remote_sql and "<=>" in v.remote_sql
    assert v.view == f"public.{name}" and v.foreign_table == f"vectors_a.{name}"

    # idempotent: planning again finds everything in place, applying again changes nothing
    again = run(lambda c: wiring.plan_wire(c, "vectors-a", name, expose=[("url", "text"), ("year", "int")]), cfg)
    assert again.is_noop, again.preview_sql()
    run(lambda c: wiring.apply_plan(c, again), cfg)

    un = run(lambda c: wiring.plan_unwire(c, "vectors-a", name, schema="vecs"), cfg)
    assert [s.purpose.split(" (")[0] for s in un.steps][:2] == [f"drop view public.{name}", f"drop foreign table vectors_a.{name}"]
    run(lambda c: wiring.apply_plan(c, un), cfg)
    assert not relation_exists(primary, "vectors_a", name) and not relation_exists(primary, "public", name)
    gone = run(lambda c: wiring.verify(c, "vectors-a", name), cfg)
    assert not gone.pushdown and gone.reason.startswith("not wired")
    assert run(lambda c: wiring.plan_unwire(c, "vectors-a", name), cfg).is_noop


def test_verify_says_which_filters_ship(estate, unique):
    name = f"wf_{unique}"
    make_table(estate.dsn("vectors-a"), "vecs", name, rows=3000)  # enough rows that sorting on the pod pays
    cfg = estate.config()
    plan = run(lambda c: wiring.plan_wire(c, "vectors-a", name, expose=[("url", "text")]), cfg)
    run(lambda c: wiring.apply_plan(c, plan), cfg)
    try:
        fast = run(lambda c: wiring.verify(c, "vectors-a", name, where="""metadata @> '{"year": 2012}'"""), cfg)
        assert fast.filter_pushdown is True and "WHERE" in fast.filter_remote_sql
        assert "ORDER BY" in fast.filter_remote_sql  # analyzed at wiring time: k-NN ships with the filter too
        path = run(lambda c: wiring.verify(c, "vectors-a", name, where="metadata @@ '$.year == 2012'"), cfg)
        assert path.filter_pushdown is True
        slow = run(lambda c: wiring.verify(c, "vectors-a", name, where="url = '/d/1'"), cfg)
        assert slow.filter_pushdown is False and "primary" in slow.filter_reason
        arrow = run(lambda c: wiring.verify(c, "vectors-a", name, where="metadata->>'year' = '2012'"), cfg)
        assert arrow.filter_pushdown is False
        js = run(lambda c: wiring.verify(c, "vectors-a", name, filters={"year": {"$eq": 2012}}), cfg)
        assert js.filter_pushdown is True, js.to_json()
    finally:
        run(lambda c: _unwire(c, "vectors-a", name), cfg)


async def _unwire(client, pod, name, schema="vecs"):
    plan = await wiring.plan_unwire(client, pod, name, schema=schema)
    await wiring.apply_plan(client, plan)


def test_odd_identifiers_wire_correctly(estate, unique):
    schema, name = f'Odd Sch"ema {unique}', f'My "Docs" {unique}'
    vecs_ = make_table(estate.dsn("vectors-b"), schema, name, rows=120, vec_col="vec")
    cfg = estate.config()
    view = f'public."View {unique}"'
    plan = run(lambda c: wiring.plan_wire(c, "vectors-b", name, schema=schema, view=view, expose=[("year", "int")]), cfg)
    run(lambda c: wiring.apply_plan(c, plan), cfg)
    try:
        primary = estate.dsn("primary")
        assert relation_exists(primary, "vectors_b", name) and relation_exists(primary, "public", f"View {unique}")
        q = vecs_[5]
        quoted_view = f'public."View {unique}"'
        quoted_remote = psycopg.sql.Identifier(schema, name).as_string()
        assert knn_ids(primary, quoted_view, q) == knn_ids(estate.dsn("vectors-b"), quoted_remote, q)
        v = run(lambda c: wiring.verify(c, "vectors-b", name, schema=schema), cfg)
        assert v.pushdown and v.ok, v.to_json()
    finally:
        run(lambda c: _unwire(c, "vectors-b", name, schema), cfg)
    assert not relation_exists(estate.dsn("primary"), "vectors_b", name)


def test_unwire_drops_views_on_views_at_any_depth(estate, unique):
    name = f"wdeep_{unique}"
    make_table(estate.dsn("vectors-a"), "vecs", name, rows=20, index=False)
    cfg = estate.config()
    run(lambda c: _wire(c, "vectors-a", name), cfg)
    views = [f"{name}_v1", f"{name}_v2", f"{name}_v3"]
    with psycopg.connect(estate.dsn("primary"), autocommit=True) as conn:
        for reads, view in zip([name] + views, views):
            conn.execute(psycopg.sql.SQL("create view {} as select * from {}").format(
                psycopg.sql.Identifier("public", view), psycopg.sql.Identifier("public", reads)))
    plan = run(lambda c: wiring.plan_unwire(c, "vectors-a", name), cfg)
    assert [s.purpose.split(" (")[0] for s in plan.steps][:4] == [f"drop view public.{v}" for v in reversed([name] + views)]
    run(lambda c: wiring.apply_plan(c, plan), cfg)
    assert not any(relation_exists(estate.dsn("primary"), "public", v) for v in [name] + views)


def test_bit_collection_with_jaccard_index_verifies(estate, unique):
    """`<%>` holds a percent sign: verify must still build its probe and see k-NN shipped."""
    name = f"wbit_{unique}"
    with psycopg.connect(estate.dsn("vectors-b"), autocommit=True) as conn:
        t = psycopg.sql.Identifier("vecs", name)
        conn.execute("create schema if not exists vecs")
        conn.execute(psycopg.sql.SQL("create table {} (id varchar primary key, vec bit(16) not null, "
                                     "metadata jsonb not null default '{{}}')").format(t))
        conn.execute(psycopg.sql.SQL("insert into {} select 'r' || i, (i * 2654435761 % 65536)::bit(16), '{{}}' "
                                     "from generate_series(1, 200) i").format(t))
        conn.execute(psycopg.sql.SQL("create index on {} using hnsw (vec bit_jaccard_ops)").format(t))
    cfg = estate.config()
    run(lambda c: _wire(c, "vectors-b", name, create_view=False), cfg)
    try:
        v = run(lambda c: wiring.verify(c, "vectors-b", name), cfg)  # measure from the index: jaccard
        assert v.pushdown and v.ok and "<%>" in v.remote_sql, v.to_json()
    finally:
        run(lambda c: _unwire(c, "vectors-b", name), cfg)
        estate.sql("vectors-b", psycopg.sql.SQL("drop table {}").format(psycopg.sql.Identifier("vecs", name)).as_string(None))


def test_read_only_refuses_apply(estate, unique, tmp_path):
    name = f"wro_{unique}"
    make_table(estate.dsn("vectors-a"), "vecs", name, rows=20, index=False)
    cfg = estate.config(read_only=True)
    plan = run(lambda c: wiring.plan_wire(c, "vectors-a", name), cfg)  # planning only reads: allowed
    assert plan.pending
    with pytest.raises(ReadOnlyError, match="read-only"):
        run(lambda c: wiring.apply_plan(c, plan), cfg)
    assert not relation_exists(estate.dsn("primary"), "vectors_a", name)
    path = estate.write_config(tmp_path / "ro.yaml")
    res = subprocess.run([sys.executable, "-m", "vecdash", "--config", str(path), "--read-only", "wire", "vectors-a",
                          name, "--apply"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "read-only" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_bad_input_is_one_line(estate, unique, tmp_path):
    path = estate.write_config(tmp_path / "c.yaml")
    for args, expect in [
        (["wire", "vectors-a", f"nope_{unique}"], f"no collection vecs.nope_{unique} on pod vectors-a"),
        (["wire", "nopod", "docs"], "unknown pod"),
        (["wire", "primary", "docs"], "is the primary"),
        (["wire", "vectors-a", "docs", "--expose", "year:integerish"], "unknown type"),
        (["wire", "vectors-a", "docs", "--expose", "year"], "FIELD:TYPE"),
        (["wire", "vectors-a", 'a.b.c'], "SCHEMA.NAME"),
        (["verify", "vectors-a", "docs", "--filter", "{oops"], "--filter: bad JSON"),
    ]:
        res = subprocess.run([sys.executable, "-m", "vecdash", "--config", str(path), *args],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert expect in res.stderr and len(res.stderr.strip().splitlines()) == 1, (args, res.stderr)


# --- a private hub/leaf estate: failure injection, secrets, doctor, CLI -------------------------------


@pytest.fixture(scope="module")
def hub():
    root, pods = _new_pods(["hub", "leaf"])
    try:
        yield {p.name: p for p in pods}
    finally:
        for p in pods:
            p.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def hub_config(hub, read_only: bool = False) -> Config:
    return Config(pods=(PodConfig(name="hub", role="primary", dsn=hub["hub"].dsn()),
                        PodConfig(name="leaf", role="secondary", dsn=hub["leaf"].dsn())),
                  settings=Settings(read_only=read_only, statement_timeout_ms=10000, connect_timeout_s=3), path="<hub>")


def write_hub_config(hub, path) -> str:
    cfg = hub_config(hub)
    lines = ["pods:"] + [f"  - name: {p.name}\n    role: {p.role}\n    dsn: {p.dsn}" for p in cfg.pods]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return str(path)


def hub_reset(hub) -> None:
    """Drop every wiring on the hub (each doctor test starts from a clean primary)."""
    with psycopg.connect(hub["hub"].dsn(), autocommit=True) as conn:
        conn.execute("create extension if not exists postgres_fdw")
        for (srv,) in conn.execute("select srvname from pg_foreign_server").fetchall():
            conn.execute(psycopg.sql.SQL("drop server {} cascade").format(psycopg.sql.Identifier(srv)))
        for (sch,) in conn.execute("select nspname from pg_namespace where nspname in ('leaf', 'legacy')").fetchall():
            conn.execute(psycopg.sql.SQL("drop schema {} cascade").format(psycopg.sql.Identifier(sch)))


def hand_wire_legacy(hub, name: str, *, analyze: bool = False) -> None:
    """The common hand recipe: a server WITHOUT extensions 'vector', a mapping, a foreign table, a view."""
    leaf = hub["leaf"]
    with psycopg.connect(hub["hub"].dsn(), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("create server legacy foreign data wrapper postgres_fdw options "
                                     "(host '127.0.0.1', port {}, dbname 'postgres')").format(psycopg.sql.Literal(str(leaf.port))))
        conn.execute(psycopg.sql.SQL("create user mapping for current_user server legacy options (user 'postgres', "
                                     "password {})").format(psycopg.sql.Literal(leaf.password)))
        conn.execute("create schema legacy")
        conn.execute(psycopg.sql.SQL("create foreign table legacy.{} (id varchar not null, vec vector(8) not null, "
                                     "metadata jsonb not null) server legacy options (schema_name 'vecs', table_name {})"
                                     ).format(psycopg.sql.Identifier(name), psycopg.sql.Literal(name)))
        conn.execute(psycopg.sql.SQL("create view public.{} as select id, vec, metadata from legacy.{}").format(
            psycopg.sql.Identifier(f"v_{name}"), psycopg.sql.Identifier(name)))
        if analyze:
            conn.execute(psycopg.sql.SQL("analyze legacy.{}").format(psycopg.sql.Identifier(name)))


def kinds(findings, subject_part: str = "") -> set[str]:
    return {f.kind for f in findings if subject_part in f.subject or subject_part in f.message}


def test_failure_mid_plan_leaves_nothing_behind(hub, unique):
    hub_reset(hub)
    name = f"fail_{unique}"
    make_table(hub["leaf"].dsn(), "vecs", name, rows=50)
    cfg = hub_config(hub)
    plan = run(lambda c: wiring.plan_wire(c, "leaf", name), cfg)
    assert len(plan.pending) >= 5
    # someone takes the view's name between preview and apply: the last step fails
    with psycopg.connect(hub["hub"].dsn(), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("create table public.{} (x int)").format(psycopg.sql.Identifier(name)))
    with pytest.raises(wiring.PlanFailed) as err:
        run(lambda c: wiring.apply_plan(c, plan), cfg)
    text = str(err.value)
    assert "rolled back" in text and f"view public.{name}" in text and TEST_PASSWORD not in text
    dsn = hub["hub"].dsn()
    assert not server_exists(dsn, "leaf") and not relation_exists(dsn, "leaf", name)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from pg_namespace where nspname = 'leaf'").fetchone()[0] == 0
        assert conn.execute("select count(*) from pg_user_mappings where srvname = 'leaf'").fetchone()[0] == 0
    # planned now, the taken name is refused up front, in one line
    with pytest.raises(wiring.WiringError, match="already exists on the primary.*another view name"):
        run(lambda c: wiring.plan_wire(c, "leaf", name), cfg)
    # a step that fails while holding the password still never shows it
    plan2 = run(lambda c: wiring.plan_wire(c, "leaf", name, create_view=False), cfg)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"create server leaf foreign data wrapper postgres_fdw options (host '127.0.0.1', port '{hub['leaf'].port}')")
        conn.execute("create user mapping for current_user server leaf options (user 'postgres')")
    with pytest.raises(wiring.PlanFailed) as err2:
        run(lambda c: wiring.apply_plan(c, plan2), cfg)
    assert "already exists" in str(err2.value) and TEST_PASSWORD not in str(err2.value)
    assert TEST_PASSWORD not in repr(plan2) and TEST_PASSWORD not in repr(plan2.steps)
    target, _ = run(lambda c: wiring.read_remote(c, c.pod("leaf"), "vecs", name), cfg)
    assert target.password == TEST_PASSWORD and TEST_PASSWORD not in repr(target)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("drop server leaf cascade")
        conn.execute(psycopg.sql.SQL("drop table public.{}").format(psycopg.sql.Identifier(name)))


def test_existing_mapping_with_stale_password_is_updated(hub, unique):
    hub_reset(hub)
    name = f"pw_{unique}"
    make_table(hub["leaf"].dsn(), "vecs", name, rows=30)
    cfg = hub_config(hub)
    run(lambda c: _wire(c, "leaf", name), cfg)
    with psycopg.connect(hub["hub"].dsn(), autocommit=True) as conn:
        conn.execute("alter user mapping for current_user server leaf options (set password 'stale-one')")
    broken = run(lambda c: wiring.verify(c, "leaf", name), cfg)
    assert not broken.ok and any(c.name == "read through the mapping" and not c.ok for c in broken.checks)
    plan = run(lambda c: wiring.plan_wire(c, "leaf", name), cfg)
    [step] = plan.pending
    assert "alter user mapping" in step.preview and "set password '********'" in step.preview
    assert TEST_PASSWORD not in step.preview and "stale-one" not in json.dumps(plan.to_json())
    run(lambda c: wiring.apply_plan(c, plan), cfg)
    assert run(lambda c: wiring.verify(c, "leaf", name), cfg).ok


async def _wire(client, pod, name, **kw):
    plan = await wiring.plan_wire(client, pod, name, **kw)
    await wiring.apply_plan(client, plan)
    return plan


def test_doctor_fixes_a_hand_made_wiring_without_vector_extension(hub, unique, tmp_path):
    hub_reset(hub)
    name = f"leg_{unique}"
    make_table(hub["leaf"].dsn(), "vecs", name, rows=200)
    hand_wire_legacy(hub, name, analyze=True)
    cfg = hub_config(hub)
    v = run(lambda c: wiring.verify(c, "leaf", name), cfg)
    assert not v.pushdown and "extensions 'vector'" in v.reason and "ORDER BY" not in (v.remote_sql or "")
    # wire reuses the hand-made server for the same pod and adds the option
    plan = run(lambda c: wiring.plan_wire(c, "leaf", name, create_view=False), cfg)
    assert any("alter server \"legacy\" options (add extensions 'vector'" in s.preview for s in plan.pending)

    config_path = write_hub_config(hub, tmp_path / "hub.yaml")
    res = subprocess.run([sys.executable, "-m", "vecdash", "--config", config_path, "doctor"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 1 and "no_vector_pushdown" in res.stdout
    assert "alter server \"legacy\" options (add extensions 'vector')" in res.stdout
    res = subprocess.run([sys.executable, "-m", "vecdash", "--config", config_path, "doctor", "--fix", "--json"],
                         capture_output=True, text=True, timeout=60)
    out = json.loads(res.stdout)
    assert res.returncode == 0 and out["clean"], res.stdout
    assert TEST_PASSWORD not in res.stdout + res.stderr
    v = run(lambda c: wiring.verify(c, "leaf", name), cfg)
    assert v.pushdown and v.ok, v.to_json()
    res = subprocess.run([sys.executable, "-m", "vecdash", "--config", config_path, "doctor"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and "no problems" in res.stdout


def test_hand_made_server_on_localhost_is_recognised_as_the_pod(hub, unique):
    """The config says 127.0.0.1, the hand-made server says localhost: the same pod, reused, not doubled."""
    hub_reset(hub)
    name = f"lh_{unique}"
    make_table(hub["leaf"].dsn(), "vecs", name, rows=20)
    with psycopg.connect(hub["hub"].dsn(), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("create server legacy foreign data wrapper postgres_fdw options "
                                     "(host 'localhost', port {}, dbname 'postgres')").format(
            psycopg.sql.Literal(str(hub["leaf"].port))))
    plan = run(lambda c: wiring.plan_wire(c, "leaf", name, create_view=False), hub_config(hub))
    assert any('alter server "legacy"' in s.preview for s in plan.pending), plan.preview_sql()
    assert not any("create server" in s.preview for s in plan.steps), plan.preview_sql()


def test_unwire_drops_servers_vecdash_made_and_keeps_reused_hand_made_ones(hub, unique):
    hub_reset(hub)
    made, reused = f"um_{unique}", f"ur_{unique}"
    for n in (made, reused):
        make_table(hub["leaf"].dsn(), "vecs", n, rows=20)
    cfg = hub_config(hub)
    plan = run(lambda c: wiring.plan_wire(c, "leaf", made), cfg)
    run(lambda c: wiring.apply_plan(c, plan), cfg)
    with psycopg.connect(hub["hub"].dsn(), autocommit=True) as conn:
        [(srv, comment)] = conn.execute("select srvname, obj_description(oid, 'pg_foreign_server') "
                                        "from pg_foreign_server").fetchall()
    assert comment == "created by vecdash for pod leaf"
    un = run(lambda c: wiring.plan_unwire(c, "leaf", made), cfg)
    assert any(s.purpose.startswith(f"drop foreign server {srv}") for s in un.steps), un.preview_sql()
    run(lambda c: wiring.apply_plan(c, un), cfg)
    assert not server_exists(hub["hub"].dsn(), srv)

    with psycopg.connect(hub["hub"].dsn(), autocommit=True) as conn:  # a DBA's own server for the same pod
        conn.execute(psycopg.sql.SQL("create server legacy foreign data wrapper postgres_fdw options "
                                     "(host 'localhost', port {}, dbname 'postgres')").format(
            psycopg.sql.Literal(str(hub["leaf"].port))))
    plan = run(lambda c: wiring.plan_wire(c, "leaf", reused), cfg)
    run(lambda c: wiring.apply_plan(c, plan), cfg)
    un = run(lambda c: wiring.plan_unwire(c, "leaf", reused), cfg)
    assert not any("drop foreign server" in s.purpose or "drop user mapping" in s.purpose for s in un.steps)
    assert any("legacy stays" in n and "did not create" in n for n in un.notes), un.notes
    run(lambda c: wiring.apply_plan(c, un), cfg)
    assert server_exists(hub["hub"].dsn(), "legacy") and not relation_exists(hub["hub"].dsn(), "public", reused)


def test_doctor_remote_table_gone_and_view_reading_it(hub, unique):
    hub_reset(hub)
    name = f"gone_{unique}"
    make_table(hub["leaf"].dsn(), "vecs", name, rows=30)
    cfg = hub_config(hub)
    run(lambda c: _wire(c, "leaf", name), cfg)
    hub["leaf"].psql(f"drop table vecs.{name}")
    findings = run(lambda c: doctor.diagnose(c), cfg)
    assert {"remote_table_gone", "view_reads_dropped_table"} <= kinds(findings, name)
    gone = next(f for f in findings if f.kind == "remote_table_gone")
    assert f"drop view \"public\".\"{name}\"" in gone.fix.preview_sql()
    run(lambda c: wiring.apply_plan(c, gone.fix), cfg)
    assert not relation_exists(hub["hub"].dsn(), "public", name) and not relation_exists(hub["hub"].dsn(), "leaf", name)
    assert not kinds(run(lambda c: doctor.diagnose(c), cfg), name)


def test_doctor_dimension_drift_is_repaired_and_views_kept(hub, unique):
    hub_reset(hub)
    name = f"drift_{unique}"
    make_table(hub["leaf"].dsn(), "vecs", name, rows=30)
    cfg = hub_config(hub)
    run(lambda c: _wire(c, "leaf", name, expose=[("year", "int")]), cfg)
    make_table(hub["leaf"].dsn(), "vecs", f"{name}_ok", rows=10)  # a second table on the same server, in step
    run(lambda c: _wire(c, "leaf", f"{name}_ok", create_view=False), cfg)
    reader = f"Reader {unique}"  # an odd role name: the grant is rebuilt from identifiers
    with psycopg.connect(hub["hub"].dsn(), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("create role {}").format(psycopg.sql.Identifier(reader)))
        conn.execute(psycopg.sql.SQL("grant select on {} to {} with grant option").format(
            psycopg.sql.Identifier("public", name), psycopg.sql.Identifier(reader)))
    hub["leaf"].psql(f"drop table vecs.{name}")
    vecs_ = make_table(hub["leaf"].dsn(), "vecs", name, rows=40, dim=12)
    v = run(lambda c: wiring.verify(c, "leaf", name), cfg)
    assert not v.ok and any(c.name == "columns and dimensions" and not c.ok and "vector(12)" in c.detail for c in v.checks)
    findings = run(lambda c: doctor.diagnose(c), cfg)
    drift = next(f for f in findings if f.kind == "dimension_drift")
    assert [f.subject for f in findings if f.kind == "dimension_drift"] == [f"leaf.{name}"]  # one read, right table
    preview = drift.fix.preview_sql()
    assert "alter foreign table" in preview and '"public"."vector"(12)' in preview and "create view" in preview
    run(lambda c: wiring.apply_plan(c, drift.fix), cfg)
    assert run(lambda c: wiring.verify(c, "leaf", name), cfg).ok
    assert f"give SELECT on public.{name} back to {reader}" in [s.purpose for s in drift.fix.steps]
    with psycopg.connect(hub["hub"].dsn()) as conn:  # the view is back, with its exposed column and its grant
        assert conn.execute(f"select count(*), min(year) from public.{name}").fetchone() == (40, 2000)
        assert conn.execute("select has_table_privilege(%s, %s, 'select with grant option')",
                            (reader, f"public.{name}")).fetchone()[0]
    assert knn_ids(hub["hub"].dsn(), f"public.{name}", vecs_[1]) == knn_ids(hub["leaf"].dsn(), f"vecs.{name}", vecs_[1])
    with psycopg.connect(hub["hub"].dsn(), autocommit=True) as conn:  # roles outlive the database reset
        conn.execute(f"drop view public.{name}")
        conn.execute(psycopg.sql.SQL("drop role {}").format(psycopg.sql.Identifier(reader)))


def test_doctor_missing_mapping_and_unanalyzed_table(hub, unique):
    hub_reset(hub)
    name = f"map_{unique}"
    make_table(hub["leaf"].dsn(), "vecs", name, rows=30)
    cfg = hub_config(hub)
    run(lambda c: _wire(c, "leaf", name), cfg)
    with psycopg.connect(hub["hub"].dsn(), autocommit=True) as conn:
        conn.execute("drop user mapping for current_user server leaf")
    findings = run(lambda c: doctor.diagnose(c), cfg)
    missing = next(f for f in findings if f.kind == "missing_user_mapping")
    assert "password '********'" in missing.fix.preview_sql() and TEST_PASSWORD not in json.dumps(missing.to_json())
    run(lambda c: wiring.apply_plan(c, missing.fix), cfg)
    assert run(lambda c: wiring.verify(c, "leaf", name), cfg).ok
    # a foreign table made by hand and never analyzed
    with psycopg.connect(hub["hub"].dsn(), autocommit=True) as conn:
        conn.execute(f"create foreign table leaf.{name}_raw (id varchar, vec vector(8), metadata jsonb) server leaf "
                     f"options (schema_name 'vecs', table_name '{name}')")
    findings = run(lambda c: doctor.diagnose(c), cfg)
    na = next(f for f in findings if f.kind == "not_analyzed")
    assert na.subject == f"leaf.{name}_raw"
    run(lambda c: wiring.apply_plan(c, na.fix), cfg)
    assert "not_analyzed" not in kinds(run(lambda c: doctor.diagnose(c), cfg))


def test_doctor_unreachable_server_after_pod_moved(hub, unique):
    hub_reset(hub)
    name = f"mv_{unique}"
    leaf = hub["leaf"]
    make_table(leaf.dsn(), "vecs", name, rows=30)
    run(lambda c: _wire(c, "leaf", name), hub_config(hub))
    leaf.stop()
    leaf.port = free_port()
    leaf._write_state()
    leaf.start()
    cfg = hub_config(hub)  # the config follows the pod; the primary's server does not
    findings = run(lambda c: doctor.diagnose(c), cfg)
    un = next(f for f in findings if f.kind == "unreachable_server")
    assert un.subject == "server leaf" and f"set port '{leaf.port}'" in un.fix.preview_sql()
    assert TEST_PASSWORD not in un.message
    run(lambda c: wiring.apply_plan(c, un.fix), cfg)
    assert run(lambda c: wiring.verify(c, "leaf", name), cfg).ok
    assert "unreachable_server" not in kinds(run(lambda c: doctor.diagnose(c), cfg))


def test_doctor_collection_without_vector_index(hub, unique):
    """The fix is the plan `index build` makes (vecs name, same options); small collections get no advice."""
    from vecdash.service import indexes

    hub_reset(hub)
    name, small = f"noix_{unique}", f"small_{unique}"
    make_table(hub["leaf"].dsn(), "vecs", name, rows=indexes.MIN_INDEX_ROWS, index=False)
    make_table(hub["leaf"].dsn(), "vecs", small, rows=200, index=False)
    cfg = hub_config(hub)
    findings = run(lambda c: doctor.diagnose(c), cfg)
    assert not [f for f in findings if small in f.subject]  # an exact scan of 200 rows is as fast
    f = next(f for f in findings if f.kind == "no_vector_index" and name in f.subject)
    assert f.fix.pod == "leaf" and not f.fix.transactional
    sql = f.fix.steps[0].preview
    assert sql.startswith(f'create index concurrently "ix_vector_cosine_ops_hnsw_m16_efc64_') and \
        sql.endswith(f'on "vecs"."{name}" using hnsw ("vec" "vector_cosine_ops") with ("m" = 16, '
                     f'"ef_construction" = 64)'), sql
    run(lambda c: wiring.apply_plan(c, f.fix), cfg)
    assert not [f for f in run(lambda c: doctor.diagnose(c), cfg) if name in f.subject]
    listed = run(lambda c: indexes.list_indexes(c, "leaf", name), cfg)
    assert [i.vecs_recognised for i in listed] == [True]
    with pytest.raises(indexes.DuplicateIndex):  # `index build` with its defaults sees the same index
        run(lambda c: indexes.preview_build(c, "leaf", name), cfg)


def test_cli_wire_apply_verifies_pushdown_and_masks(hub, unique, tmp_path, caplog, make_vecs_client):
    """A collection made by the real vecs client, wired by the CLI: the view answers like vecs itself."""
    from vecs import IndexMeasure, IndexMethod

    hub_reset(hub)
    name = f"cli_{unique}"
    rng = np.random.default_rng(3)
    data = rng.standard_normal((400, DIM)).astype(np.float32)
    col = make_vecs_client(hub["leaf"]).get_or_create_collection(name=name, dimension=DIM)
    col.upsert(records=[(f"r{i}", data[i], {"url": f"/d/{i}", "year": 2000 + i % 20}) for i in range(len(data))])
    col.create_index(method=IndexMethod.hnsw, measure=IndexMeasure.cosine_distance)
    config_path = write_hub_config(hub, tmp_path / "hub.yaml")
    base = [sys.executable, "-m", "vecdash", "--config", config_path]
    dry = subprocess.run(base + ["wire", "leaf", name, "--expose", "url:text,year:int"], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0 and "password '********'" in dry.stdout and "--apply" in dry.stderr
    assert not relation_exists(hub["hub"].dsn(), "leaf", name)
    res = subprocess.run(base + ["wire", "leaf", name, "--expose", "url:text,year:int", "--apply"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "pushdown: yes" in res.stdout and "ORDER BY" in res.stdout
    q = data[11] + 0.01
    expected = col.query(data=q, limit=10, measure="cosine_distance", ef_search=400)
    assert knn_ids(hub["hub"].dsn(), f"public.{name}", q) == expected
    js = subprocess.run(base + ["wire", "leaf", name, "--expose", "url:text,year:int", "--json"], capture_output=True, text=True, timeout=60)
    doc = json.loads(js.stdout)
    assert all(s["satisfied"] for s in doc["plan"]["steps"])
    ver = subprocess.run(base + ["verify", "leaf", name, "--where", "url = '/d/1'", "--json"], capture_output=True,
                         text=True, timeout=60)
    vdoc = json.loads(ver.stdout)
    assert ver.returncode == 1 and vdoc["pushdown"] and vdoc["filter_pushdown"] is False
    un = subprocess.run(base + ["unwire", "leaf", name, "--apply"], capture_output=True, text=True, timeout=60)
    assert un.returncode == 0 and "drop server" in un.stdout
    assert not server_exists(hub["hub"].dsn(), "leaf")
    for out in (dry, res, js, ver, un):
        assert TEST_PASSWORD not in out.stdout + out.stderr
    # the service layer logs nothing secret either (psycopg's own loggers included)
    with caplog.at_level(logging.DEBUG):
        cfg = hub_config(hub)
        run(lambda c: _wire(c, "leaf", name), cfg)
        run(lambda c: _unwire(c, "leaf", name), cfg)
    assert TEST_PASSWORD not in caplog.text


def test_credentials_from_pgpass_and_socket_addresses(hub, unique, tmp_path):
    """The mapping gets what libpq used: a .pgpass password over TCP; no password over a trusted socket."""
    hub_reset(hub)
    name = f"pgp_{unique}"
    leaf = hub["leaf"]
    make_table(leaf.dsn(), "vecs", name, rows=40)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{leaf.port}:*:postgres:{leaf.password}\n")
    pgpass.chmod(0o600)
    via_pgpass = Config(pods=(PodConfig(name="hub", role="primary", dsn=hub["hub"].dsn()),
                              PodConfig(name="leaf", dsn=f"postgresql://postgres@127.0.0.1:{leaf.port}/postgres?passfile={pgpass}")),
                        settings=Settings(statement_timeout_ms=10000), path="<pgpass>")
    plan = run(lambda c: wiring.plan_wire(c, "leaf", name, create_view=False), via_pgpass)
    mapping = next(s for s in plan.pending if "user mapping" in s.purpose)
    assert "password '********'" in mapping.preview and TEST_PASSWORD not in mapping.preview
    run(lambda c: wiring.apply_plan(c, plan), via_pgpass)
    assert run(lambda c: wiring.verify(c, "leaf", name), via_pgpass).ok
    run(lambda c: _unwire(c, "leaf", name), via_pgpass)

    via_socket = Config(pods=(PodConfig(name="hub", role="primary", dsn=hub["hub"].dsn()),
                              PodConfig(name="leaf", dsn=f"host={leaf.socket_dir} port={leaf.port} dbname=postgres user=postgres")),
                        settings=Settings(statement_timeout_ms=10000), path="<socket>")
    plan = run(lambda c: wiring.plan_wire(c, "leaf", name, create_view=False), via_socket)
    assert f"host '{leaf.socket_dir}'" in plan.preview_sql() and "password" not in next(
        s for s in plan.pending if "user mapping" in s.purpose).preview
    assert any("without a password" in n for n in plan.notes)
    run(lambda c: wiring.apply_plan(c, plan), via_socket)
    v = run(lambda c: wiring.verify(c, "leaf", name), via_socket)
    assert v.ok and v.pushdown, v.to_json()
    run(lambda c: _unwire(c, "leaf", name), via_socket)


def test_columns_of_types_the_primary_lacks_are_left_out_with_a_note(hub, unique):
    hub_reset(hub)
    name = f"enum_{unique}"
    make_table(hub["leaf"].dsn(), "vecs", name, rows=20)
    hub["leaf"].psql(f"create type mood_{unique} as enum ('ok', 'meh'); "
                     f"alter table vecs.{name} add column mood mood_{unique} default 'ok'")
    cfg = hub_config(hub)
    plan = run(lambda c: wiring.plan_wire(c, "leaf", name), cfg)
    assert any("column mood" in n and "left out" in n for n in plan.notes)
    assert '"mood"' not in plan.preview_sql()
    run(lambda c: wiring.apply_plan(c, plan), cfg)
    v = run(lambda c: wiring.verify(c, "leaf", name), cfg)
    assert v.ok and v.pushdown, v.to_json()


@pytest.mark.parametrize("shape", ['quote "q" {u}', 'dot.in {u}', "[bold]x 50% {u}"])
async def test_the_console_plans_wire_unwire_verify_for_any_catalog_name(estate, unique, shape):
    """The console holds exact names from the catalog, not typed `schema.name` text: a name holding a
    double quote or a dot must reach the service as that one name (ConsoleApi quotes it)."""
    from psycopg import sql

    from vecdash.service.console_api import ConsoleApi

    name = shape.format(u=unique)
    estate.sql("vectors-b", "create schema if not exists vecs")
    estate.sql("vectors-b", sql.SQL("create table vecs.{} (id text primary key, vec vector(3) not null, "
                                    "metadata jsonb not null default '{{}}')").format(sql.Identifier(name)).as_string())
    api = ConsoleApi(estate.config())
    try:
        plan = await api.plan_wire("vectors-b", name, schema="vecs")
        assert name.replace('"', '""') in plan.preview_sql()
        unwire = await api.plan_unwire("vectors-b", name, schema="vecs")
        assert unwire.steps == [] and "nothing to unwire" in unwire.notes[0]
        assert not (await api.verify("vectors-b", name, schema="vecs")).ok  # not wired: says so, no error
    finally:
        await api.close()
        estate.sql("vectors-b", sql.SQL("drop table vecs.{}").format(sql.Identifier(name)).as_string())
