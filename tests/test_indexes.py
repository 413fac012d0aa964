"""Collections, loading, index builds, recall sweeps and maintenance against real pods (issue 6).

Everything runs on the shared estate's `vectors-b` pod with uniquely named collections; data is
small (<= 5,000 x 64) so the module stays well under a minute of work.
"""

from __future__ import annotations

import asyncio
import json
import warnings

import numpy as np
import pytest

from vecdash import datagen
from vecdash.cli import main as cli_main
from vecdash.db.pods import PodClient
from vecdash.errors import ReadOnlyError
from vecdash.service import collections as colls
from vecdash.service import indexes as ix
from vecdash.service.loader import LoadError, load_file
from vecdash.service.maintenance import maintain
from vecdash.service.plans import apply_plan
from vecdash.service.recall import plan_search_setting, sweep

POD = "vectors-b"
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def client(estate):
    c = PodClient(estate.config())
    yield c
    await c.close()


@pytest.fixture
async def api(estate):
    """What the console's modals talk to (its own sessions, on the same estate)."""
    from vecdash.service.console_api import ConsoleApi

    a = ConsoleApi(estate.config())
    yield a
    await a.close()


def modal_host():
    """A bare Textual app with the console's styles (the modals' layout lives in styles/modals.tcss)."""
    from textual import on
    from textual.app import App

    from vecdash.resources import stylesheets
    from vecdash.tui.messages import ConfirmPlan
    from vecdash.tui.screens.confirm import ConfirmScreen

    class Host(App):
        CSS_PATH = [str(p) for p in stylesheets()]

        @on(ConfirmPlan)
        def _confirm(self, request: ConfirmPlan) -> None:  # as the console does: the modals ask the app
            self.push_screen(ConfirmScreen(request.plan), request.reply)

    return Host()


async def say_yes(app, pilot) -> str:
    """Wait for the confirmation of a change, answer y; returns the SQL it showed."""
    from vecdash.tui.screens.confirm import ConfirmScreen

    for _ in range(200):
        if isinstance(app.screen, ConfirmScreen):
            break
        await pilot.pause(0.05)
    assert isinstance(app.screen, ConfirmScreen), "no confirmation before the change"
    shown = app.screen.plan.preview_sql(include_satisfied=False)
    await pilot.press("y")
    await pilot.pause()
    return shown


async def make_collection(client, estate, name, rows, dim, *, seed=1):
    await apply_plan(client, await colls.plan_create_collection(client, POD, name, dim))
    if rows:
        path = estate.root / f"{name}.npy"
        np.save(path, datagen.clustered_vectors(rows, dim, seed=seed))
        await load_file(client, POD, name, path)
        await maintain(client, POD, name, action="analyze")
    return name


def count(estate, name):
    return estate.sql(POD, f'select count(*) from vecs."{name}"')[0][0]


def invalid_or_named(estate, name, prefix):
    return estate.sql(POD, "select c.relname, i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid "
                           "join pg_class t on t.oid = i.indrelid where t.relname = %s and c.relname like %s",
                      (name, prefix + "%"))


async def drop(client, name):
    await apply_plan(client, await colls.plan_drop_collection(client, POD, name))


async def test_round_trip_create_load_index_vecs_drop(estate, client, unique, tmp_path, make_vecs_client):
    name = f"rt_{unique}"
    plan = await colls.plan_create_collection(client, POD, name, 32)
    text = plan.preview_sql()
    assert "id character varying not null primary key" in text and "vec vector(32) not null" in text
    assert "metadata jsonb not null default '{}'::jsonb" in text
    await apply_plan(client, plan)
    vecs = datagen.clustered_vectors(3000, 32, seed=4)
    np.save(tmp_path / "v.npy", vecs)
    (tmp_path / "ids.txt").write_text("".join(f"doc-{i}\n" for i in range(3000)))
    (tmp_path / "meta.jsonl").write_text("".join(json.dumps({"n": i, "even": i % 2 == 0}) + "\n" for i in range(3000)))
    seen = []
    res = await load_file(client, POD, name, tmp_path / "v.npy", ids=tmp_path / "ids.txt",
                          metadata=tmp_path / "meta.jsonl", batch_rows=700, on_progress=seen.append)
    assert res.rows == 3000 and count(estate, name) == 3000
    assert [p.rows_done for p in seen][:5] == [700, 1400, 2100, 2800, 3000]
    # every row copied is not a load done: the bar (CLI and console, both p.fraction) shows 100% only
    # once the transaction has committed
    assert seen[-2].rows_done == 3000 and not seen[-2].committed and seen[-2].fraction < 1
    assert all(p.fraction < 1 for p in seen if not p.committed)
    assert seen[-1].committed and seen[-1].fraction == 1
    # analyzed after the load: the row estimate is known at once (the console and `status` show it)
    assert res.analyze_seconds is not None
    assert estate.sql(POD, "select reltuples::int from pg_class where oid = %s::regclass", (f'vecs."{name}"',)) == [(3000,)]
    row = estate.sql(POD, f'select metadata, vec::text from vecs."{name}" where id = %s', ("doc-17",))[0]
    assert row[0] == {"n": 17, "even": False}
    assert np.allclose(np.array(json.loads(row[1])), vecs[17], atol=1e-6)

    progress = []
    built = await ix.build_index(client, POD, name, m=8, ef_construction=32, on_progress=progress.append)
    assert built.status == "built" and built.valid and built.concurrently
    assert built.index.startswith("ix_vector_cosine_ops_hnsw_m8_efc32_")
    assert progress[0].phase == "starting" and progress[-1].phase == "done" and progress[-1].fraction == 1.0
    [info] = await ix.list_indexes(client, POD, name)
    assert info.valid and info.vecs_recognised and info.params == {"m": 8, "ef_construction": 32}

    vx = make_vecs_client(estate.pods[POD])
    coll = vx.get_or_create_collection(name=name, dimension=32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = coll.query(data=vecs[5].tolist(), limit=5, measure="cosine_distance")
    assert ids[0] == "doc-5"
    assert not [w for w in caught if "covering index" in str(w.message)], [str(w.message) for w in caught]
    with warnings.catch_warnings(record=True) as caught:  # control: vecs does warn for an unindexed measure
        warnings.simplefilter("always")
        coll.query(data=vecs[5].tolist(), limit=5, measure="l2_distance")
    assert [w for w in caught if "covering index" in str(w.message)]

    await drop(client, name)
    assert not (await colls.facts(client, POD, name)).exists


def test_bulk_vector_encoding_matches_pgvector_adapter():
    from pgvector.psycopg import Vector

    from vecdash.service.loader import Batch, encode_rows

    vecs = np.array([[0.5, -1.25, 3e-8], [1e30, 0.0, -7.0]], dtype=np.float32)
    data = encode_rows(Batch(["a", "bé"], vecs, [b"{}", b'{"k": 1}'], [1, 2], 0))
    for v in vecs:
        assert Vector(v).to_binary() in data  # the same wire bytes pgvector-python's dumper sends
    assert data.startswith(b"\x00\x03\x00\x00\x00\x01a") and data.endswith(b'\x01{"k": 1}')


async def test_bad_rows_leave_collection_unchanged(estate, client, unique, tmp_path):
    name = await make_collection(client, estate, f"bad_{unique}", 100, 8)
    before = estate.sql(POD, f'select md5(string_agg(id || vec::text || metadata::text, \',\' order by id)) from vecs."{name}"')
    good = [{"id": f"n{i}", "vec": [0.1 * (i % 7)] * 8, "metadata": {"i": i}} for i in range(40)]

    def jsonl(lines):
        p = tmp_path / f"f{len(list(tmp_path.iterdir()))}.jsonl"
        p.write_text("\n".join(lines) + "\n")
        return p

    p = jsonl([json.dumps(r) for r in good[:30] + [{"id": "x", "vec": [1.0] * 7}] + good[30:]])
    with pytest.raises(LoadError, match=r"\.jsonl:31: vec has 7 dimensions"):
        await load_file(client, POD, name, p, batch_rows=10)  # 3 batches were already COPYed
    p = jsonl([json.dumps(r) for r in good[:25]] + ['{"id": "y", "vec": [1,2,'] + [json.dumps(r) for r in good[25:]])
    with pytest.raises(LoadError, match=r"\.jsonl:26: bad JSON"):
        await load_file(client, POD, name, p, batch_rows=10)
    p = jsonl([json.dumps(r) for r in good[:12]] + ['{"id": "z", "vec": [1, 2, 3, 4, 5, 6, 7, NaN]}'])
    with pytest.raises(LoadError, match=r"\.jsonl:13: vec contains NaN"):
        await load_file(client, POD, name, p, batch_rows=5)
    arr = np.ones((50, 8), dtype=np.float32)
    arr[44, 3] = np.nan
    np.save(tmp_path / "nan.npy", arr)
    with pytest.raises(LoadError, match=r"nan\.npy: row 45: vector contains NaN"):
        await load_file(client, POD, name, tmp_path / "nan.npy", batch_rows=10)
    np.save(tmp_path / "ok.npy", np.ones((40, 8), dtype=np.float32))
    (tmp_path / "meta.jsonl").write_text("".join('{"i": %d}\n' % i for i in range(32)) + '{"i": 32,}\n' + '{"i": 1}\n' * 7)
    with pytest.raises(LoadError, match=r"meta\.jsonl:33: bad JSON: invalid input syntax for type json"):
        await load_file(client, POD, name, tmp_path / "ok.npy", metadata=tmp_path / "meta.jsonl", batch_rows=10)
    (tmp_path / "meta2.jsonl").write_text('{"i": 1}\n' * 5 + '[1, 2]\n' + '{"i": 1}\n' * 34)
    with pytest.raises(LoadError, match=r"meta2\.jsonl:6: metadata must be a JSON object"):
        await load_file(client, POD, name, tmp_path / "ok.npy", metadata=tmp_path / "meta2.jsonl", batch_rows=10)
    np.save(tmp_path / "dim.npy", np.ones((5, 9), dtype=np.float32))
    with pytest.raises(LoadError, match=r"dim\.npy: vectors have 9 dimensions, the collection has 8"):
        await load_file(client, POD, name, tmp_path / "dim.npy")
    # duplicate id against existing rows: the server's error is mapped back to the input line
    p = jsonl([json.dumps(r) for r in good[:20]] + [json.dumps({"id": "3", "vec": [0.5] * 8})])
    with pytest.raises(LoadError, match=r"\.jsonl:21: duplicate key value .*nothing was loaded"):
        await load_file(client, POD, name, p, batch_rows=7)
    after = estate.sql(POD, f'select md5(string_agg(id || vec::text || metadata::text, \',\' order by id)) from vecs."{name}"')
    assert count(estate, name) == 100 and before == after
    # the same duplicate is fine as an upsert, and replaces the row
    await load_file(client, POD, name, p, upsert=True)
    assert count(estate, name) == 120
    assert estate.sql(POD, f'select vec::text from vecs."{name}" where id = %s', ("3",))[0][0].startswith("[0.5,")
    await drop(client, name)


async def _wait_building(progress, task, timeout=30.0):
    for _ in range(int(timeout / 0.05)):
        if any(p.phase.startswith("building index") and p.blocks_done > 0 for p in progress) or task.done():
            return
        await asyncio.sleep(0.05)


async def test_cancelled_build_leaves_no_invalid_index(estate, client, unique):
    # 5,000 x 64 with m=32 in 1MB of maintenance_work_mem: a build of several seconds, on disk
    name = await make_collection(client, estate, f"cx_{unique}", 5000, 64)
    slow = dict(m=32, ef_construction=200, maintenance_work_mem="1MB")

    # 1) the awaiting task is cancelled (Ctrl-C in the CLI, closing a worker in the console)
    progress = []
    task = asyncio.ensure_future(ix.build_index(client, POD, name, on_progress=progress.append, **slow))
    await _wait_building(progress, task)
    assert not task.done(), "build finished before it could be cancelled: make the data bigger"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert invalid_or_named(estate, name, "ix_vector") == []

    # 2) cancelled from elsewhere (`vecdash index cancel`): the build reports "cancelled"
    progress = []
    task = asyncio.ensure_future(ix.build_index(client, POD, name, on_progress=progress.append, **slow))
    await _wait_building(progress, task)
    other = PodClient(estate.config())
    try:
        running = await ix.running_builds(other, POD)
        assert [b["pid"] for b in running if b["table"] == name] == [progress[0].pid]
        lines = await ix.cancel_build(other, POD, collection=name)
    finally:
        await other.close()
    result = await task
    assert result.status == "cancelled" and lines and f"pid {result.pid}" in lines[0]
    assert invalid_or_named(estate, name, "ix_vector") == []
    assert all(i.table != name for i in await ix.invalid_indexes(client, POD))
    await drop(client, name)


async def test_cli_build_interrupted_by_sigterm_cancels_on_server(estate, client, unique, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    name = await make_collection(client, estate, f"sig_{unique}", 5000, 64)
    cfg = estate.write_config(tmp_path / "vd.yaml")
    proc = subprocess.Popen([sys.executable, "-m", "vecdash", "--config", str(cfg), "index", "build", POD, name,
                             "--m", "32", "--ef-construction", "200", "--maintenance-work-mem", "1MB"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "building index" in line or not line:
                break
        assert proc.poll() is None, "build ended before it could be interrupted"
        running = await ix.running_builds(client, POD)
        assert [b["table"] for b in running if b["table"] == name] == [name]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "cancelled (pg_cancel_backend); no invalid index left behind" in err and "Traceback" not in err
    assert invalid_or_named(estate, name, "ix_vector") == []
    assert not [b for b in await ix.running_builds(client, POD) if b["table"] == name]
    await drop(client, name)


async def test_invalid_index_detected_and_fixed(estate, client, unique):
    name = await make_collection(client, estate, f"inv_{unique}", 200, 8)
    # a unique index that cannot be built concurrently leaves an INVALID index behind, as a failed build does
    estate.sql(POD, f'insert into vecs."{name}" (id, vec, metadata) values (%s, %s, %s)', ("dup", "[1,1,1,1,1,1,1,1]", '{"k": 1}'))
    estate.sql(POD, f'insert into vecs."{name}" (id, vec, metadata) values (%s, %s, %s)', ("dup2", "[1,1,1,1,1,1,1,1]", '{"k": 1}'))
    with pytest.raises(Exception):
        estate.sql(POD, f'create unique index concurrently "ix_broken_{unique}" on vecs."{name}" ((metadata->>\'k\'))')
    bad = [i for i in await ix.invalid_indexes(client, POD) if i.table == name]
    assert [i.name for i in bad] == [f"ix_broken_{unique}"]
    drop_plan, reindex_plan = ix.fix_plans(bad[0])
    assert "drop index concurrently" in drop_plan.preview_sql() and not drop_plan.transactional
    assert "reindex index concurrently" in reindex_plan.preview_sql() and not reindex_plan.transactional
    await apply_plan(client, drop_plan)
    assert [i for i in await ix.invalid_indexes(client, POD) if i.table == name] == []
    await drop(client, name)


async def test_notice_captured_when_graph_exceeds_maintenance_work_mem(estate, client, unique):
    # 2,000 x 32 at m=16 needs ~1.7 MB of graph: pgvector gives up on memory after ~1,250 tuples in 1 MB
    name = await make_collection(client, estate, f"nt_{unique}", 2000, 32)
    seen = []
    r = await ix.build_index(client, POD, name, maintenance_work_mem="1MB", on_notice=seen.append)
    assert r.status == "built" and r.maintenance_work_mem_bytes == 1024 * 1024
    assert any("hnsw graph no longer fits into maintenance_work_mem after" in n for n in r.notices)
    assert any(s.startswith("NOTICE: hnsw graph no longer fits") for s in seen)
    advice = [w for w in r.warnings if "no longer fits" in w]
    assert advice and "Raise maintenance_work_mem" in advice[0]
    assert r.estimate_bytes > r.maintenance_work_mem_bytes  # the estimate shown before the build agreed
    # the same index again is refused, naming the one there; dropped, with enough memory there is no such notice
    with pytest.raises(ix.DuplicateIndex, match=r.index):
        await ix.build_index(client, POD, name, maintenance_work_mem="64MB", concurrently=False)
    await apply_plan(client, ix.plan_drop_index(POD, "vecs", r.index))
    r2 = await ix.build_index(client, POD, name, maintenance_work_mem="64MB", concurrently=False)
    assert r2.status == "built" and not any("no longer fits" in n for n in r2.notices) and not r2.warnings
    await drop(client, name)


async def test_recall_sweep_monotone_and_plan(estate, client, unique):
    name = await make_collection(client, estate, f"rc_{unique}", 3000, 32, seed=7)
    await ix.build_index(client, POD, name, m=4, ef_construction=10, concurrently=False)
    s = await sweep(client, POD, name, values=[1, 2, 4, 8, 16, 32, 64], samples=60, target=0.9)
    recalls = [p.recall for p in s.points]
    # the current setting (pgvector's 40) is measured too, so the recommendation shows its cost against it
    assert [p.value for p in s.points] == [1, 2, 4, 8, 16, 32, 40, 64] and s.current == 40
    assert all(b >= a for a, b in zip(recalls, recalls[1:])), recalls
    assert recalls[-1] > recalls[0] + 0.2, recalls
    assert s.recommended == next((p.value for p in s.points if p.recall >= 0.9), None)
    assert s.setting == "hnsw.ef_search" and s.samples == 60
    # ivfflat: probes sweep reaches exact recall when all lists are probed
    await ix.build_index(client, POD, name, method="ivfflat", measure="l2", concurrently=False)
    infos = {i.method: i for i in await ix.list_indexes(client, POD, name)}
    assert infos["ivfflat"].params == {"lists": 3}  # 3,000 rows / 1000
    s2 = await sweep(client, POD, name, index=infos["ivfflat"].name, samples=30, target=0.99)
    assert s2.setting == "ivfflat.probes" and [p.value for p in s2.points] == [1, 2, 3]
    assert s2.points[-1].recall == 1.0 and s2.recommended is not None  # all lists probed: exact
    role = f"vd_role_{unique}"
    estate.sql(POD, f"create role {role}")
    try:
        plan = await plan_search_setting(client, POD, "hnsw.ef_search", 40, scope="role", role=role)
        assert plan.preview_sql().splitlines()[2] == f'alter role "{role}" in database "postgres" set hnsw.ef_search = 40;'
        await apply_plan(client, plan)
        got = estate.sql(POD, "select setconfig from pg_db_role_setting s join pg_roles r on r.oid = s.setrole "
                              "where r.rolname = %s", (role,))
        assert got == [(["hnsw.ef_search=40"],)]
    finally:
        estate.sql(POD, f"drop role {role}")
    await drop(client, name)


async def test_read_only_refuses_writes(estate, unique, tmp_path):
    rw = PodClient(estate.config())
    ro = PodClient(estate.config(read_only=True))
    try:
        name = await make_collection(rw, estate, f"ro_{unique}", 50, 4)
        np.save(tmp_path / "x.npy", np.ones((3, 4), dtype=np.float32))
        with pytest.raises(ReadOnlyError):
            await load_file(ro, POD, name, tmp_path / "x.npy")
        with pytest.raises(ReadOnlyError):
            await ix.build_index(ro, POD, name)
        with pytest.raises(ReadOnlyError):
            await apply_plan(ro, await colls.plan_drop_collection(ro, POD, name))
        with pytest.raises(ReadOnlyError):
            await maintain(ro, POD, name, action="vacuum")
        assert count(estate, name) == 50
        preview = await ix.preview_build(ro, POD, name)  # previews and reads work read-only
        assert preview.plan.pending and preview.rows == 50
        await ix.build_index(rw, POD, name, m=4, ef_construction=8)
        s = await sweep(ro, POD, name, samples=5, values=[10])
        assert s.points[0].recall > 0
        await drop(rw, name)
    finally:
        await rw.close()
        await ro.close()


def test_cli_commands(estate, unique, tmp_path, capsys):
    cfg = str(estate.write_config(tmp_path / "vd.yaml"))
    name = f"cli_{unique}"
    assert cli_main(["--config", cfg, "collection", "create", POD, name, "--dim", "4", "--apply"]) == 0
    assert "-- applied" in capsys.readouterr().out
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"id": i, "vec": [i, 1, 2, 3]}) + "\n" for i in range(1, 301)))
    assert cli_main(["--config", cfg, "load", POD, name, str(tmp_path / "rows.jsonl"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 300
    (tmp_path / "bad.jsonl").write_text('{"id": 1, "vec": [1, 2]}\n')
    assert cli_main(["--config", cfg, "load", POD, name, str(tmp_path / "bad.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("bad.jsonl:1: vec has 2 dimensions, the collection has 4") and "Traceback" not in "".join(err)
    assert cli_main(["--config", cfg, "index", "build", POD, name, "--method", "ivfflat", "--measure", "l2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "built" and out["index"].startswith("ix_vector_l2_ops_ivfflat_nl1_")
    assert cli_main(["--config", cfg, "index", "list", POD, name, "--json"]) == 0
    assert [i["vecs_recognised"] for i in json.loads(capsys.readouterr().out)["indexes"]] == [True]
    assert cli_main(["--config", cfg, "--read-only", "index", "build", POD, name]) == 2
    assert "read-only" in capsys.readouterr().err
    assert cli_main(["--config", cfg, "index", "build", POD, name, "--m", "1"]) == 2
    assert "bad m 1" in capsys.readouterr().err
    assert cli_main(["--config", cfg, "maintain", "vacuum", POD, name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["after"]["last_vacuum"] is not None
    assert cli_main(["--config", cfg, "recall", POD, name, "--samples", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sweep"]["setting"] == "ivfflat.probes"
    assert cli_main(["--config", cfg, "collection", "drop", POD, name, "--apply"]) == 0
    assert not estate.sql(POD, "select to_regclass(%s)", (f"vecs.{name}",))[0][0]


async def test_tui_build_and_recall_screens(estate, client, api, unique):
    from textual.widgets import DataTable, Input, ProgressBar, RichLog, Sparkline, Static

    from vecdash.tui.screens.index_build import IndexBuildScreen
    from vecdash.tui.screens.recall_sweep import RecallSweepScreen

    name = await make_collection(client, estate, f"tui_{unique}", 2000, 32)
    app = modal_host()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = IndexBuildScreen(api, POD, name, m=16, ef_construction=32, maintenance_work_mem="1MB")
        await app.push_screen(screen)

        async def wait_preview():
            await pilot.pause(0.2)
            for _ in range(100):
                if screen.preview is not None:
                    return screen.preview
                await pilot.pause(0.05)
            raise AssertionError(screen.preview_error)

        preview = await wait_preview()
        assert screen.pid is None and "estimated HNSW graph" in preview.describe()
        assert preview.warnings  # 1 MB is too small for this graph: said before the build
        assert "_hnsw_m16_efc32_" in preview.index
        screen.query_one("#opt-m", Input).value = "1"  # the form re-plans on every change
        await pilot.pause(0.3)
        assert screen.preview is None and "bad m 1" in screen.preview_error
        screen.query_one("#opt-m", Input).value = "8"
        preview = await wait_preview()
        assert "_hnsw_m8_efc32_" in preview.index
        await pilot.press("b")
        assert "create index" in (await say_yes(app, pilot)).lower()
        for _ in range(400):
            if screen.result is not None or screen.error is not None:
                break
            await pilot.pause(0.05)
        assert screen.error is None and screen.result.status == "built" and "_m8_" in screen.result.index
        assert screen.result.index == screen.preview.index  # the index built is the one previewed
        await pilot.pause()
        assert screen.query_one(ProgressBar).progress == 100
        assert any("hnsw graph no longer fits into maintenance_work_mem" in n for n in screen.notices)
        assert len(screen.query_one(RichLog).lines) >= len(screen.notices)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is not screen

        role = f"vd_tui_{unique}"
        estate.sql(POD, f"create role {role}")
        rs = RecallSweepScreen(api, POD, name, values=[5, 10, 20, 40], samples=30, target=0.5, scope="role", role=role)
        await app.push_screen(rs)
        for _ in range(400):
            if rs.result is not None or rs.error is not None:
                break
            await pilot.pause(0.05)
        assert rs.error is None
        await pilot.pause()
        assert list(rs.query_one(Sparkline).data) == [p.recall for p in rs.result.points]
        lo, hi = min(p.recall for p in rs.result.points), max(p.recall for p in rs.result.points)
        scale = str(rs.query_one("#recall-scale", Static).render())
        assert f"hnsw.ef_search 5 → 40, recall {lo:.3f} (lowest bar) to {hi:.3f} (highest)" in scale, scale
        assert rs.query_one(DataTable).row_count == 4
        rec = rs.result.recommended
        assert rec == next(p.value for p in rs.result.points if p.recall >= 0.5) and rs.plan is not None
        await pilot.press("a")
        assert f"set hnsw.ef_search = {rec}" in await say_yes(app, pilot)
        for _ in range(100):
            if rs.applied:
                break
            await pilot.pause(0.05)
        got = estate.sql(POD, "select setconfig from pg_db_role_setting s join pg_roles r on r.oid = s.setrole "
                              "where r.rolname = %s", (role,))
        estate.sql(POD, f"drop role {role}")
        assert got == [([f"hnsw.ef_search={rec}"],)]
        await pilot.press("escape")
    await drop(client, name)


async def test_tui_collection_create_and_load_screen(estate, client, api, unique, tmp_path):
    from textual.widgets import Input, ProgressBar

    from vecdash.tui.screens.collection_load import CollectionLoadScreen

    name = f"tuil_{unique}"
    np.save(tmp_path / "v.npy", datagen.clustered_vectors(1200, 16, seed=3))
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "vec": [1, 2]}\n')
    app = modal_host()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = CollectionLoadScreen(api, POD)
        await app.push_screen(screen)
        screen.query_one("#col-name", Input).value = name
        screen.query_one("#col-dim", Input).value = "16"
        await pilot.click("#col-preview")
        for _ in range(100):
            if screen.plan is not None:
                break
            await pilot.pause(0.05)
        assert "vec vector(16) not null" in screen.plan.preview_sql()
        assert not (await colls.facts(client, POD, name)).exists  # preview only
        await pilot.click("#col-apply")
        assert "create table" in await say_yes(app, pilot)
        for _ in range(100):
            if screen.created:
                break
            await pilot.pause(0.05)
        assert (await colls.facts(client, POD, name)).exists

        screen.query_one("#load-file", Input).value = str(tmp_path / "bad.jsonl")
        await pilot.click("#load-start")
        assert "bad.jsonl" in await say_yes(app, pilot)
        for _ in range(100):
            if screen.error:
                break
            await pilot.pause(0.05)
        assert "bad.jsonl:1: vec has 2 dimensions, the collection has 16" in screen.error
        screen.query_one("#load-file", Input).value = str(tmp_path / "v.npy")
        await pilot.pause(0.3)  # a Button ignores a second click during its 0.2 s press effect
        await pilot.click("#load-start")
        assert "1200 rows from" in await say_yes(app, pilot)
        for _ in range(200):
            if screen.result is not None or (screen.error and "v.npy" in screen.error and not screen.loading):
                break
            await pilot.pause(0.05)
        assert screen.result is not None and screen.result.rows == 1200, screen.error
        assert screen.query_one("#load-progress", ProgressBar).progress == 100
        await pilot.press("escape")
    assert count(estate, name) == 1200
    await drop(client, name)
