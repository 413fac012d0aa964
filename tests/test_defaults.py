"""Defaults from the data (issue 14, part 2) against real pods: the query measure follows the collection's
index, an identical index is refused before it is built, a database / role setting from a recall sweep
is checked on every collection it reaches and shows its cost."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vecdash import datagen
from vecdash.cli import main as cli_main
from vecdash.config import Config, PodConfig, Settings
from vecdash.db.pods import PodClient
from vecdash.service import collections as colls
from vecdash.service import indexes as ix
from vecdash.service.loader import load_file
from vecdash.service.maintenance import maintain
from vecdash.service.plans import apply_plan
from vecdash.service.query import QuerySpec, run_query
from vecdash.service.recall import recommend, sweep

from .test_indexes import client  # noqa: F401  (the fixture: a PodClient on the shared estate)

POD = "vectors-b"
pytestmark = pytest.mark.timeout(180)


async def make(client, root, pod, name, rows, dim, *, seed=1, **index):
    await apply_plan(client, await colls.plan_create_collection(client, pod, name, dim))
    path = root / f"{name}.npy"
    np.save(path, datagen.clustered_vectors(rows, dim, seed=seed))
    await load_file(client, pod, name, path)
    await maintain(client, pod, name, action="analyze")
    if index:
        await ix.build_index(client, pod, name, concurrently=False, **index)
    return name


@pytest.fixture
async def l2_collection(estate, client, unique):
    """A collection whose only index serves l2 (like the demo's `images`)."""
    name = await make(client, estate.root, POD, f"l2_{unique}", 300, 8, measure="l2")
    yield name
    await apply_plan(client, await colls.plan_drop_collection(client, POD, name))


# --- the query measure -------------------------------------------------------------------------------


async def test_query_measure_defaults_to_what_the_index_serves(client, l2_collection):
    index = (await ix.list_indexes(client, POD, l2_collection))[0].name
    r = await run_query(client, QuerySpec(pod=POD, collection=l2_collection, random=True, limit=5))
    assert r.spec.measure == "l2" and index in r.measure_note, r.measure_note
    assert not any("scans every row" in w for w in r.warnings), r.warnings
    assert r.to_json()["measure_note"] == r.measure_note
    # a measure the user names is kept, with the warning that it scans every row
    r = await run_query(client, QuerySpec(pod=POD, collection=l2_collection, random=True, limit=5, measure="cosine"))
    assert r.spec.measure == "cosine" and r.measure_note is None
    assert any("serves cosine" in w and "scans every row" in w for w in r.warnings), r.warnings


def test_cli_query_says_which_measure_it_took(estate, l2_collection, tmp_path, capsys):
    cfg = str(estate.write_config(tmp_path / "vd.yaml"))
    assert cli_main(["--config", cfg, "query", POD, l2_collection, "--random", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "measure l2: served by hnsw index ix_vector_l2_ops_hnsw_m16_efc64_" in out, out
    assert "scans every row" not in out
    assert cli_main(["--config", cfg, "query", POD, l2_collection, "--random", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["spec"]["measure"] == "l2" and got["measure_note"].startswith("measure l2: ")


async def test_workbench_measure_follows_the_selected_collection(estate, client, l2_collection):
    from textual.widgets import Label, Select

    from vecdash.tui.app import VecdashApp
    from vecdash.tui.widgets.topology import Ref
    from vecdash.tui.widgets.workbench import WorkbenchPane

    from .test_tui_pilot import select_collection, until

    cosine = await make(client, estate.root, POD, f"{l2_collection}_c", 300, 8, measure="cosine")
    app = VecdashApp(estate.config())
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(WorkbenchPane)
        measure = pane.query_one("#wb-measure", Select)
        why = pane.query_one("#wb-measure-why", Label)
        await select_collection(pilot, app, l2_collection)
        await pilot.press("q")
        await until(pilot, lambda: measure.value == "l2", what="measure l2")
        assert why.display and "hnsw index ix_vector_l2_ops_hnsw_m16_efc64_" in str(why.render())
        await pilot.press("ctrl+r")
        await until(pilot, lambda: pane.last_result is not None, what="query result")
        assert pane.last_result.spec.measure == "l2"
        assert not any("scans every row" in w for w in pane.last_result.warnings)
        # the user's choice survives a refresh of the tree, and the line says what it costs
        measure.value = "cosine"
        await pilot.pause()
        assert "chosen" in str(why.render()) and "l2" in str(why.render())
        pane.show_topology(await app.api.snapshot())
        await pilot.pause()
        assert measure.value == "cosine"
        # another collection: its own index decides again
        pane.suggest(Ref("collection", POD, "vecs", cosine), force=True)
        await until(pilot, lambda: measure.value == "cosine" and "vector_cosine_ops" in str(why.render()),
                    what="measure cosine")
    await apply_plan(client, await colls.plan_drop_collection(client, POD, cosine))


# --- an identical index ------------------------------------------------------------------------------


def test_cli_index_build_refuses_an_identical_index(estate, l2_collection, tmp_path, capsys):
    cfg = str(estate.write_config(tmp_path / "vd.yaml"))
    vector_indexes = ("select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid "
                      "where i.indrelid = %s::regclass and c.relname like 'ix_vector%%'")
    existing = estate.sql(POD, vector_indexes, (f'vecs."{l2_collection}"',))
    assert cli_main(["--config", cfg, "index", "build", POD, l2_collection, "--measure", "l2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and existing[0][0] in err[0] and "already has" in err[0], err
    # with its parameters spelled out (m 16, ef_construction 64 are pgvector's defaults too): the same
    assert cli_main(["--config", cfg, "index", "build", POD, l2_collection, "--measure", "l2", "--m", "16",
                     "--dry-run"]) == 2
    capsys.readouterr()
    assert estate.sql(POD, vector_indexes, (f'vecs."{l2_collection}"',)) == existing
    # another measure (or other parameters) is a different index
    assert cli_main(["--config", cfg, "index", "build", POD, l2_collection, "--measure", "l2", "--m", "8",
                     "--dry-run"]) == 0


def test_an_index_built_without_parameters_counts_as_pgvector_defaults(estate, unique):
    infos = [ix.IndexInfo(pod=POD, schema="vecs", table="t", name="plain", method="hnsw", opclass="vector_cosine_ops",
                          measure="cosine", params={}, bytes=0, valid=True, ready=True, definition="",
                          vecs_recognised=False)]
    assert ix.identical_index(infos, "hnsw", "vector_cosine_ops", {"m": 16, "ef_construction": 64}) is infos[0]
    assert ix.identical_index(infos, "hnsw", "vector_cosine_ops", {"m": 16, "ef_construction": 32}) is None
    assert ix.identical_index(infos, "hnsw", "vector_l2_ops", {"m": 16, "ef_construction": 64}) is None
    infos[0].valid = False  # an invalid index is no reason to refuse a build
    assert ix.identical_index(infos, "hnsw", "vector_cosine_ops", {"m": 16, "ef_construction": 64}) is None


async def test_console_build_screen_refuses_an_identical_index(estate, client, l2_collection):
    from textual.widgets import Select, Static

    from vecdash.service.console_api import ConsoleApi

    from .test_indexes import modal_host
    from .test_tui_pilot import until

    api = ConsoleApi(estate.config())
    try:
        from vecdash.tui.screens.index_build import IndexBuildScreen

        app = modal_host()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = IndexBuildScreen(api, POD, l2_collection, measure="l2")
            await app.push_screen(screen)
            await until(pilot, lambda: screen.preview_error is not None or screen.preview is not None, what="preview")
            assert screen.preview is None and "already has ix_vector_l2_ops_hnsw_m16_efc64_" in screen.preview_error
            assert "already has" in str(screen.query_one("#build-estimate", Static).render())
            assert "nothing to build" in str(screen.query_one("#build-phase", Static).render())
            await pilot.press("b")
            await pilot.pause(0.3)
            assert not screen.started and screen.result is None
            # cosine is another index: previewed, buildable
            screen.query_one("#opt-measure", Select).value = "cosine"
            await until(pilot, lambda: screen.preview is not None, what="cosine preview")
        assert len(await ix.list_indexes(client, POD, l2_collection)) == 1
    finally:
        await api.close()


# --- where a recall recommendation is set --------------------------------------------------------------


@pytest.fixture
async def own_database(estate, unique):
    """A database of its own on vectors-b: the collections a database setting reaches are this test's only."""
    db = f"rc_{unique}"
    estate.sql(POD, f'create database "{db}"')
    dsn = estate.dsn(POD).rsplit("/", 1)[0] + f"/{db}"
    cfg = Config(pods=(PodConfig(name="rc", role="secondary", dsn=dsn),),
                 settings=Settings(statement_timeout_ms=20000, connect_timeout_s=3), path="<test>")
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create extension vector")
    c = PodClient(cfg)
    yield c, db
    await c.close()
    estate.sql(POD, f'drop database "{db}" with (force)')


async def test_database_scope_is_refused_when_it_lowers_another_collections_recall(estate, own_database, unique):
    client, db = own_database
    easy = await make(client, estate.root, "rc", "easy", 1000, 8, seed=3, measure="cosine")  # m16/efc64: easy
    hard = await make(client, estate.root, "rc", "hard", 3000, 64, seed=7, m=4, ef_construction=10)
    s = await sweep(client, "rc", easy, values=[10, 20], samples=40, target=0.9)
    assert s.current == 40 and [p.value for p in s.points] == [10, 20, 40] and s.recommended == 10
    assert s.cost().startswith("hnsw.ef_search 40 -> 10: recall@10 ")  # what it costs against the current
    rec = await recommend(client, s, scope="database")
    check = next(c for c in rec.checks if c.collection == f"vecs.{hard}")
    assert not check.holds and check.recall_new < min(0.9, check.recall_now), check
    assert rec.plan is None and f"vecs.{hard}" in rec.refused and "role scope" in rec.refused
    assert "ef_search 10 on the query" in rec.per_query
    # a role that reads only `easy` is a scope that holds: planned, in this database only
    role = f"rc_app_{unique}"
    estate.sql(POD, f'create role "{role}"')
    try:
        import psycopg

        with psycopg.connect(client.pod("rc").dsn, autocommit=True) as conn:
            conn.execute(f'grant usage on schema vecs to "{role}"')
            conn.execute(f'grant select on vecs."{easy}" to "{role}"')
        rec = await recommend(client, s, scope="role", role=role)
        assert rec.refused is None and rec.checks == [] and rec.plan is not None
        assert f'alter role "{role}" in database "{db}" set hnsw.ef_search = 10;' in rec.plan.preview_sql()
    finally:
        with psycopg.connect(client.pod("rc").dsn, autocommit=True) as conn:
            conn.execute(f'drop owned by "{role}"')
        estate.sql(POD, f'drop role "{role}"')


def test_cli_recall_apply_refuses_a_database_scope_that_does_not_hold(estate, own_database, tmp_path, capsys):
    client, db = own_database
    import asyncio

    async def setup():
        c = PodClient(client.config)
        try:
            await make(c, estate.root, "rc", "easy", 1000, 8, seed=3, measure="cosine")
            await make(c, estate.root, "rc", "hard", 3000, 32, seed=7, m=4, ef_construction=10)
        finally:
            await c.close()

    asyncio.run(setup())
    path = tmp_path / "rc.yaml"
    path.write_text(f"pods:\n  - name: rc\n    role: secondary\n    dsn: {client.config.pods[0].dsn}\n"
                    "settings:\n  statement_timeout_ms: 20000\n")
    path.chmod(0o600)
    args = ["--config", str(path), "recall", "rc", "easy", "--values", "10,20", "--samples", "40", "--target", "0.9"]
    assert cli_main(args + ["--quiet"]) == 0
    out = capsys.readouterr().out
    assert "(current)" in out and "hnsw.ef_search 40 -> 10: recall@10" in out and "refused: database scope" in out
    assert "alter database" not in out
    assert cli_main(args + ["--quiet", "--apply"]) == 2
    assert "not applied: database scope" in capsys.readouterr().err
    got = estate.sql(POD, "select count(*) from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase "
                          "where d.datname = %s", (db,))
    assert got[0][0] == 0  # nothing was set
