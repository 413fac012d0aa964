"""Why not the index (`vecdash why`, ConsoleApi.why, WhyScreen) on a real pod.

One statement per reason code, asserting the code and that the rewrite given, EXPLAINed by the test on
its own connection, uses the index; statements that use the index; $n parameters (GENERIC_PLAN);
several statements, EXPLAIN ANALYZE, syntax errors (exit 2); statements with side effects that must not
run (the pod is compared before and after); hostile names; the modal in a pilot.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql

from vecdash.config import Config, PodConfig
from vecdash.db.pods import PodClient
from vecdash.errors import UserError
from vecdash.service.why import why

from .hostile_data import HOSTILE
from .test_security import in_process

POD = "vectors-a"
ROWS = 3000


@pytest.fixture(scope="module")
def why_db(estate):
    """Schema `why_<n>`: docs (3,000 rows, HNSW cosine, GIN on metadata, btree on metadata->>'k'), small
    (20 rows, HNSW), plain (no vector index), broken (an INVALID HNSW index left by a failed concurrent
    build), victim + log (for statements that must never run)."""
    import uuid

    s = f"why_{uuid.uuid4().hex[:6]}"
    estate.sql(POD, f"""
        create schema {s};
        create table {s}.docs (id text primary key, vec vector(8) not null, metadata jsonb not null default '{{}}');
        insert into {s}.docs select 'r' || i, (select array_agg(random())::vector(8) from generate_series(1, 8)
                                               where i > 0), jsonb_build_object('k', i % 100)
            from generate_series(1, {ROWS}) i;
        create index docs_vec on {s}.docs using hnsw (vec vector_cosine_ops);
        create index docs_meta on {s}.docs using gin (metadata jsonb_path_ops);
        create table {s}.small (id int, vec vector(3));
        insert into {s}.small select i, array[i, 1, 1]::vector from generate_series(1, 20) i;
        create index small_vec on {s}.small using hnsw (vec vector_cosine_ops);
        create table {s}.plain (id int, vec vector(3));
        insert into {s}.plain select i, array[i, 1, 1]::vector from generate_series(1, 2000) i;
        create table {s}.broken (id int, vec vector(3));
        insert into {s}.broken select i, array[i, 1, 1]::vector from generate_series(1, 2000) i;
        create function {s}.boom(v vector) returns vector immutable language plpgsql as
            $$ begin if v = '[7,1,1]'::vector then raise exception 'boom'; end if; return v; end $$;
        create table {s}.victim (i int); insert into {s}.victim values (42);
        create table {s}.log (t text);
        create function {s}.side_effect() returns int volatile language plpgsql as
            $$ begin insert into {s}.log values ('ran'); return 1; end $$;
        analyze {s}.docs; analyze {s}.small; analyze {s}.plain;
    """)
    with pytest.raises(psycopg.Error):  # a failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind
        estate.sql(POD, f"create index concurrently broken_vec on {s}.broken using hnsw (({s}.boom(vec)) vector_cosine_ops)")
    yield s
    estate.sql(POD, f"drop schema {s} cascade")


def fingerprint(estate, s: str):
    return estate.sql(POD, f"select (select array_agg(i order by i) from {s}.victim), (select count(*) from {s}.log), "
                           f"(select count(*) from {s}.docs), (select count(*) from pg_class c join pg_namespace n "
                           f"on n.oid = c.relnamespace where n.nspname = %s)", (s,))


def run(config: Config, statement: str, pod: str = POD):
    async def go():
        client = PodClient(config)
        try:
            return await why(client, pod, statement)
        finally:
            await client.close()

    return asyncio.run(go())


def uses_index_on_its_own(dsn: str, rewrite: str, index: str) -> bool:
    """EXPLAIN a rewrite as a user would run it, on the test's own connection: SET lines run, the
    statement is EXPLAINed (GENERIC_PLAN), BEGIN/COMMIT become a transaction rolled back."""
    rest = rewrite.removeprefix("BEGIN;\n").removesuffix("\nCOMMIT;")
    sets = []
    while rest.startswith("SET "):  # the settings come first, one a line; the statement may hold newlines
        first, rest = rest.split("\n", 1)
        sets.append(first)
    statement = rest.rstrip(";")
    with psycopg.connect(dsn) as conn:
        for x in sets:
            conn.execute(x.replace("SET ", "SET LOCAL ", 1) if "LOCAL" not in x else x)
        generic = "generic_plan, " if "$" in statement else ""
        plan = conn.execute(sql.SQL("explain (" + generic + "format json) ") + sql.SQL(statement)).fetchone()[0]
        conn.rollback()
    nodes, stack = [], [plan[0]["Plan"]]
    while stack:
        nodes.append(stack.pop())
        stack.extend(nodes[-1].get("Plans", []))
    return any(n["Node Type"] == "Index Scan" and n.get("Index Name") == index for n in nodes)


# (code, statement, the index a rewrite must use or None when no rewrite can be EXPLAINed)
CAUSES = [
    ("order_by_expression", "select id, 1 - (vec <=> $1) as score from {s}.docs order by score desc limit 5", "docs_vec"),
    ("order_by_expression", "select id from {s}.docs order by (vec <=> $1) * 2 limit 5", "docs_vec"),
    ("order_desc", "select id from {s}.docs d order by d.vec <=> $1 desc limit 5", "docs_vec"),
    ("operator_mismatch", "select id from {s}.docs order by vec <-> $1 limit 5", "docs_vec"),
    ("cast_mismatch", "select id from {s}.docs order by vec::halfvec(8) <=> $1 limit 5", "docs_vec"),
    ("cast_mismatch", "select id from {s}.docs order by vec <=> $1::halfvec limit 5", "docs_vec"),
    ("no_limit", "select id from {s}.docs order by vec <=> $1", "docs_vec"),
    ("filter_plan", "select id from {s}.docs where metadata @> $2 order by vec <=> $1 limit 5", "docs_vec"),
    ("filter_plan", "select id from {s}.docs where metadata->>'k' = '3' order by vec <=> $1 limit 5", "docs_vec"),
    ("planner_cost", "select id from {s}.small order by vec <=> '[1,2,3]' limit 5", "small_vec"),
    ("index_invalid", "select id from {s}.broken order by {s}.boom(vec) <=> $1 limit 5", None),
    ("no_index", "select id from {s}.plain order by vec <-> $1 limit 5", None),
]


@pytest.mark.parametrize("code,statement,index", CAUSES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CAUSES)])
def test_each_cause_is_named_with_a_rewrite_that_uses_the_index(estate, why_db, code, statement, index):
    before = fingerprint(estate, why_db)
    report = run(estate.config(names=[POD]), statement.format(s=why_db))
    assert not report.uses_index
    reason = next((r for r in report.reasons if r.code == code), None)
    assert reason is not None, [(r.code, r.message) for r in report.reasons]
    assert reason.message and reason.rewrite
    if index is not None:
        assert report.index == index
        assert reason.verified is True, reason
        assert uses_index_on_its_own(estate.dsn(POD), reason.rewrite, index), reason.rewrite
    assert fingerprint(estate, why_db) == before


def test_invalid_and_missing_index_rewrites_name_the_objects(estate, why_db):
    invalid = run(estate.config(names=[POD]), CAUSES[-2][1].format(s=why_db))
    assert invalid.index == "broken_vec"
    assert invalid.reasons[0].rewrite == f'REINDEX INDEX CONCURRENTLY "{why_db}"."broken_vec";'
    missing = run(estate.config(names=[POD]), CAUSES[-1][1].format(s=why_db))
    assert missing.index is None
    assert missing.reasons[0].rewrite == f'CREATE INDEX CONCURRENTLY ON "{why_db}"."plain" USING hnsw ("vec" "vector_l2_ops");'


def test_setting_off_names_the_setting_and_turning_it_on_uses_the_index(estate, why_db):
    cfg = estate.config(names=[POD])
    off = replace(cfg, pods=(PodConfig(name=POD, dsn=estate.dsn(POD) + "?options=-c%20enable_indexscan%3Doff"),))
    report = run(off, f"select id from {why_db}.docs order by vec <=> $1 limit 5")
    assert not report.uses_index and report.index == "docs_vec"
    reason = next(r for r in report.reasons if r.code == "setting_off")
    assert "enable_indexscan is off" in reason.message and reason.verified is True
    assert reason.rewrite.startswith("SET enable_indexscan = on;")
    assert uses_index_on_its_own(estate.dsn(POD), reason.rewrite, "docs_vec")


def test_a_statement_that_uses_the_index_exits_0_with_the_issue_json(estate, why_db, tmp_path, capsys):
    cfg = estate.write_config(tmp_path / "c.yaml", names=[POD])
    out = in_process(capsys, "why", "--config", str(cfg), POD, f"select id from {why_db}.docs order by vec <=> $1 limit 5",
                     "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["uses_index"] is True and data["index"] == "docs_vec" and data["reasons"] == []
    assert data["generic_plan"] is True
    # not used: exit 1, every reason with code, message, rewrite
    out = in_process(capsys, "why", "--config", str(cfg), POD,
                     f"select id from {why_db}.docs order by vec <=> $1 desc limit 5", "--json")
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert data["uses_index"] is False and data["index"] == "docs_vec"
    assert [set(r) >= {"code", "message", "rewrite"} for r in data["reasons"]] == [True]
    # text output, and the statement from stdin
    out = in_process(capsys, "why", "--config", str(cfg), POD, f"select id from {why_db}.docs order by vec <=> '[1,2,3,4,5,6,7,8]' limit 3")
    assert out.returncode == 0 and "uses vector index docs_vec" in out.stdout and "Index Scan" in out.stdout


def test_limit_above_ef_search_warns_while_the_index_is_used(estate, why_db):
    report = run(estate.config(names=[POD]), f"select id from {why_db}.docs order by vec <=> $1 limit 100")
    assert report.uses_index and report.index == "docs_vec"
    reason = next(r for r in report.reasons if r.code == "limit_above_ef_search")
    assert reason.warning and "LIMIT 100 is above hnsw.ef_search (40)" in reason.message
    assert "SET LOCAL hnsw.ef_search = 100;" in reason.rewrite and reason.verified


BAD = [
    ("", "empty"),
    ("   \n", "empty"),
    ("select 1; drop table {s}.victim", "several"),
    ("select 1; select {s}.side_effect()", "several"),
    ("explain analyze select {s}.side_effect()", "without EXPLAIN"),
    ("drop table {s}.victim", "not a statement EXPLAIN can plan"),
    ("select from from where", "syntax error"),
    ("select * from {s}.nothere order by 1", "does not exist"),
]


@pytest.mark.parametrize("statement,said", BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_bad_input_is_exit_2_and_changes_nothing(estate, why_db, tmp_path, capsys, statement, said):
    cfg = estate.write_config(tmp_path / "c.yaml", names=[POD])
    before = fingerprint(estate, why_db)
    out = in_process(capsys, "why", "--config", str(cfg), POD, statement.format(s=why_db))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert said in out.stderr and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert fingerprint(estate, why_db) == before
    out = in_process(capsys, "why", "--config", str(cfg), "no-such-pod", "select 1")
    assert out.returncode == 2 and "unknown pod" in out.stderr


NEVER_RUN = [
    "insert into {s}.victim values (1)",
    "delete from {s}.victim",
    "update {s}.victim set i = 0",
    "with d as (delete from {s}.victim returning i) select * from d",
    "select {s}.side_effect(), id from {s}.docs order by vec <=> $1 limit 5",
    "select pg_sleep(5), id from {s}.docs order by vec <=> $1 limit 5",
    "select pg_sleep(5)",
    "insert into {s}.log select 'ran' from pg_sleep(5)",
]


@pytest.mark.parametrize("statement", NEVER_RUN, ids=[f"never-run-{i}" for i in range(len(NEVER_RUN))])
def test_the_statement_is_never_executed(estate, why_db, statement):
    before = fingerprint(estate, why_db)
    started = time.monotonic()
    report = run(estate.config(names=[POD]), statement.format(s=why_db))
    assert time.monotonic() - started < 4  # pg_sleep(5) was not run
    assert report.plan
    assert fingerprint(estate, why_db) == before


def test_percent_and_braces_in_the_statement_are_not_placeholders(estate, why_db):
    text = (f"select id, '50%off %s %(x)s {{}} {{0}}' as note from {why_db}.docs "
            f"where metadata->>'k' <> '%s' order by vec <=> $1 limit 5")
    report = run(estate.config(names=[POD]), text)
    assert report.uses_index and report.statement == text


@pytest.fixture(scope="module")
def hostile_db(estate):
    """One table per hostile string: schema, table, vector column and index all named by it."""
    created = []
    with psycopg.connect(estate.dsn(POD), autocommit=True) as conn:
        for i, name in enumerate(HOSTILE):
            schema = f"why h{i} {name}"
            q = sql.Identifier
            conn.execute(sql.SQL("create schema {}").format(q(schema)))
            conn.execute(sql.SQL("create table {} (id int, {} vector(3))").format(q(schema, name), q(name)))
            conn.execute(sql.SQL("insert into {} select i, array[i, 1, 1]::vector from generate_series(1, 3000) i")
                         .format(q(schema, name)))
            conn.execute(sql.SQL("create index {} on {} using hnsw ({} vector_cosine_ops)").format(
                q(name + " ix"), q(schema, name), q(name)))
            conn.execute(sql.SQL("analyze {}").format(q(schema, name)))
            created.append((schema, name))
    yield created
    with psycopg.connect(estate.dsn(POD), autocommit=True) as conn:
        for schema, _ in created:
            conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))


def test_hostile_names_come_through_literally(estate, hostile_db):
    cfg = estate.config(names=[POD])
    for schema, name in hostile_db:
        table = sql.Identifier(schema, name).as_string(None)
        col = sql.Identifier(name).as_string(None)
        used = run(cfg, f"select id from {table} order by {col} <=> $1 limit 5")
        assert used.uses_index and used.index == name + " ix", (name, used.plan)
        desc = run(cfg, f"select id from {table} t order by t.{col} <=> $1 desc limit 5")
        assert not desc.uses_index and desc.index == name + " ix"
        reason = desc.reasons[0]
        assert reason.code == "order_desc" and reason.verified, (name, reason)
        assert uses_index_on_its_own(estate.dsn(POD), reason.rewrite, name + " ix")
        assert any(i.name == name + " ix" and i.table == name and i.schema == schema for i in desc.indexes)


def test_several_statements_are_refused_by_the_server_too(estate, why_db):
    """The one place the text becomes SQL PREPAREs it over the extended protocol first: even past the
    first-word check, `select 1; ...` never reaches the simple protocol."""
    with pytest.raises(UserError, match="several"):
        run(estate.config(names=[POD]), f"select $1::int; select {why_db}.side_effect()")
    assert fingerprint(estate, why_db)[0][1] == 0


async def test_why_screen_shows_reasons_and_rewrites(estate, why_db):
    from textual.app import App

    from vecdash.service.console_api import ConsoleApi
    from vecdash.tui.screens.why import WhyScreen

    api = ConsoleApi(estate.config(names=[POD]))
    statement = f"select id, 1 - (vec <=> $1) as score from {why_db}.docs order by score desc limit 5"
    app = App()
    try:
        async with app.run_test(size=(110, 40)) as pilot:
            screen = WhyScreen(api, POD, statement)
            app.push_screen(screen)
            deadline = time.monotonic() + 20
            while screen.result is None:
                assert time.monotonic() < deadline, str(screen.query_one("#why-status").render())
                await pilot.pause(0.05)
            await pilot.pause(0.1)
            status = str(screen.query_one("#why-status").render())
            assert "does not use vector index docs_vec" in status
            shown = "\n".join(str(w.render()) for w in screen.query(".why-reason, .why-rewrite"))
            assert "order_by_expression" in shown and "ORDER BY vec <=> $1" in shown and "uses the index" in shown
            assert statement in str(screen.query_one("#why-sql").render())
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is not screen
    finally:
        await api.close()


async def test_why_screen_shows_bad_input_and_hostile_text_literally(estate, why_db):
    from textual.app import App

    from vecdash.service.console_api import ConsoleApi
    from vecdash.tui.screens.why import WhyScreen

    api = ConsoleApi(estate.config(names=[POD]))
    statement = "select '[bold]x m[/] 50%off {0}' from nowhere_[fix]"
    app = App()
    try:
        async with app.run_test(size=(110, 40)) as pilot:
            screen = WhyScreen(api, POD, statement)
            app.push_screen(screen)
            await pilot.pause()
            deadline = time.monotonic() + 20
            while "explaining" in str(screen.query_one("#why-status").render()):
                assert time.monotonic() < deadline
                await pilot.pause(0.05)
            assert statement in str(screen.query_one("#why-sql").render())
            assert "cannot be planned" in str(screen.query_one("#why-status").render())
            assert app.screen is screen
    finally:
        await api.close()
