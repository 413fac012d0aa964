"""Catalog service against real pods: collections made by vecs and by hand, FDW objects, a down pod."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import numpy as np
import psycopg
import pytest

from vecdash.db.pods import PodClient
from vecdash.service.catalog import snapshot

from .conftest import TEST_PASSWORD


def take(config):
    async def go():
        client = PodClient(config)
        try:
            return await snapshot(client)
        finally:
            await client.close()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def vecs_estate(estate):
    """vecs collections on vectors-a (HNSW cosine, IVFFlat l2, HNSW ip) plus hand-made oddities."""
    import vecs
    from vecs import IndexArgsHNSW, IndexArgsIVFFlat, IndexMeasure, IndexMethod

    client = vecs.create_client(estate.pods["vectors-a"].sqlalchemy_url())
    rng = np.random.default_rng(0)
    made = {}
    for name, dim, rows, method, measure, args in [
        ("cat_hnsw", 16, 3000, IndexMethod.hnsw, IndexMeasure.cosine_distance, IndexArgsHNSW(m=8, ef_construction=32)),
        ("cat_ivf", 8, 2000, IndexMethod.ivfflat, IndexMeasure.l2_distance, IndexArgsIVFFlat(n_lists=20)),
        ("cat_ip", 4, 500, IndexMethod.hnsw, IndexMeasure.max_inner_product, None),
    ]:
        col = client.get_or_create_collection(name=name, dimension=dim)
        vecs_ = rng.standard_normal((rows, dim)).astype(np.float32)
        col.upsert(records=[(f"r{i}", vecs_[i], {"i": i}) for i in range(rows)])
        col.create_index(method=method, measure=measure, index_arguments=args)
        made[name] = rows
    client.disconnect()
    estate.sql("vectors-a", 'create schema if not exists "Odd Schema"; '
                            'create table if not exists "Odd Schema"."My ""Table""" (id int primary key, emb halfvec(12))')
    estate.sql("vectors-a", """
        create table if not exists public.plain_l1 (id int primary key, embedding vector(3), metadata jsonb);
        create index if not exists plain_l1_idx on public.plain_l1 using hnsw (embedding vector_l1_ops);
        create table if not exists public.bits (id int, b bit(64));
        analyze vecs.cat_hnsw; analyze vecs.cat_ivf; analyze vecs.cat_ip;
    """)
    return made


def test_vecs_collections_reported_with_index_details(estate, vecs_estate):
    topo = take(estate.config(names=["vectors-a"]))
    pod = topo.pod("vectors-a")
    assert pod.up and pod.error is None
    assert pod.server_version.startswith("18")
    assert pod.pgvector_version.startswith("0.8")
    h = pod.collection("vecs", "cat_hnsw")
    assert (h.column, h.type, h.dimension, h.has_metadata) == ("vec", "vector", 16, True)
    [ix] = h.indexes
    assert ix.method == "hnsw" and ix.measure == "cosine" and ix.params == {"m": 8, "ef_construction": 32}
    assert ix.valid and ix.bytes > 0
    assert abs(h.rows_estimate - 3000) <= 300
    assert h.table_bytes > 0 and h.index_bytes > 0 and h.last_analyze is not None
    ivf = pod.collection("vecs", "cat_ivf")
    assert [(i.method, i.measure, i.params) for i in ivf.indexes] == [("ivfflat", "l2", {"lists": 20})]
    assert abs(ivf.rows_estimate - 2000) <= 200
    ip = pod.collection("vecs", "cat_ip")
    assert [(i.method, i.measure) for i in ip.indexes] == [("hnsw", "ip")]
    assert ip.indexes[0].params == {"m": 16, "ef_construction": 64}


def test_hand_made_collections_any_schema_and_type(estate, vecs_estate):
    pod = take(estate.config(names=["vectors-a"])).pod("vectors-a")
    odd = pod.collection("Odd Schema", 'My "Table"')
    assert odd is not None and odd.type == "halfvec" and odd.dimension == 12 and odd.column == "emb"
    assert odd.indexes == [] and odd.has_metadata is False
    l1 = pod.collection("public", "plain_l1")
    assert l1.column == "embedding" and l1.indexes[0].measure == "l1"
    # a view over an odd name reads it under the same name as the collection's `.qualified`
    estate.sql("vectors-a", 'create or replace view public."Odd View" as select id, emb from "Odd Schema"."My ""Table"""')
    pod = take(estate.config(names=["vectors-a"])).pod("vectors-a")
    odd = pod.collection("Odd Schema", 'My "Table"')
    view = next(v for v in pod.views if v.name == "Odd View")
    assert view.reads == [odd.qualified] == ['Odd Schema.My "Table"']
    bits = pod.collection("public", "bits")
    assert bits.type == "bit" and bits.dimension == 64
    # vecs schema listed first
    schemas = [c.schema for c in pod.collections]
    assert schemas.index("vecs") < schemas.index("public")


def test_fdw_objects_reported_without_passwords(estate, unique):
    a = estate.pods["vectors-a"]
    srv, fschema = f"srv_{unique}", f"fs_{unique}"
    estate.sql("primary", "create extension if not exists postgres_fdw")
    estate.sql("primary", f"""
        create server {srv} foreign data wrapper postgres_fdw
            options (host '127.0.0.1', port '{a.port}', dbname 'postgres', extensions 'vector');
        create user mapping for current_user server {srv} options (user 'postgres', password '{TEST_PASSWORD}');
        create schema {fschema};
        create foreign table {fschema}.cat_hnsw (id varchar, vec vector(16), metadata jsonb)
            server {srv} options (schema_name 'vecs', table_name 'cat_hnsw');
        create view public.v_{unique} as select id, vec, (metadata->>'i')::int as i from {fschema}.cat_hnsw;
    """)
    topo = take(estate.config(names=["primary"]))
    p = topo.pod("primary")
    s = next(s for s in p.foreign_servers if s.name == srv)
    assert s.pushdown_vector and s.options["port"] == str(a.port)
    assert any(m.server == srv and m.user == "postgres" for m in p.user_mappings)
    ft = next(f for f in p.foreign_tables if f.server == srv)
    assert (ft.remote_schema, ft.remote_table, ft.dimension) == ("vecs", "cat_hnsw", 16)
    v = next(v for v in p.views if v.name == f"v_{unique}")
    assert v.reads == [f"{fschema}.cat_hnsw"]
    # the foreign table is itself a collection seen from the primary
    assert p.collection(fschema, "cat_hnsw").kind == "foreign"
    from vecdash.cli.status import status_json
    from vecdash.model import to_jsonable

    assert TEST_PASSWORD not in json.dumps(to_jsonable(status_json(topo)), default=str)


def test_round_trips_constant_whatever_the_collection_count(estate, unique):
    """Counted from libpq's protocol trace of the pooled session (the benchmark's counter): two round
    trips per pod (latency probe + catalog), whether the database holds 1 collection or 40."""
    from psycopg import sql

    from benchmarks.bench_catalog import count_round_trips
    from vecdash.config import Config, PodConfig, Settings

    pod = estate.pods["vectors-b"]
    counts = {1: f"rt1_{unique}", 40: f"rt40_{unique}"}
    for n, db in counts.items():
        estate.sql("vectors-b", sql.SQL("create database {}").format(sql.Identifier(db)))
        with psycopg.connect(pod.dsn(db), autocommit=True) as conn:
            conn.execute("create extension vector; create schema vecs")
            for i in range(n):
                conn.execute(sql.SQL("create table {} (id varchar primary key, vec vector(3) not null, metadata jsonb "
                                     "not null default '{{}}'::jsonb)").format(sql.Identifier("vecs", f"c{i}")))
                conn.execute(sql.SQL("create index on {} using hnsw (vec vector_cosine_ops)").format(
                    sql.Identifier("vecs", f"c{i}")))

    async def trips(db: str) -> tuple[int, int]:
        cfg = Config(pods=(PodConfig(name=db, dsn=pod.dsn(db)),), settings=Settings(statement_timeout_ms=5000))
        client = PodClient(cfg)
        try:
            collections = len((await snapshot(client)).pods[0].collections)
            return collections, await count_round_trips(client)
        finally:
            await client.close()

    try:
        assert {n: asyncio.run(trips(db)) for n, db in counts.items()} == {1: (1, 2), 40: (40, 2)}
    finally:
        for db in counts.values():
            estate.sql("vectors-b", sql.SQL("drop database {} with (force)").format(sql.Identifier(db)))


def test_stopped_pod_is_down_others_complete(estate, spare_pod, vecs_estate):
    spare_pod.stop()
    cfg = estate.config(names=["vectors-a"])
    from dataclasses import replace

    from vecdash.config import PodConfig

    cfg = replace(cfg, pods=cfg.pods + (PodConfig(name="spare", dsn=spare_pod.dsn()),))
    topo = take(cfg)
    down = topo.pod("spare")
    assert down.up is False and "refused" in down.error.lower()
    assert TEST_PASSWORD not in down.error
    assert topo.pod("vectors-a").up and topo.pod("vectors-a").collection("vecs", "cat_hnsw")
    assert not topo.all_up


def test_hung_pod_costs_at_most_the_timeout(estate, spare_pod):
    spare_pod.pause()
    try:
        from dataclasses import replace

        from vecdash.config import PodConfig

        cfg = estate.config(names=["vectors-b"], connect_timeout_s=1, statement_timeout_ms=1000)
        cfg = replace(cfg, pods=cfg.pods + (PodConfig(name="spare", dsn=spare_pod.dsn()),))
        t = time.monotonic()
        topo = take(cfg)
        elapsed = time.monotonic() - t
        assert topo.pod("spare").up is False and "timed out" in topo.pod("spare").error
        assert topo.pod("vectors-b").up
        assert elapsed < cfg.settings.call_timeout_s + 2.5, elapsed
    finally:
        spare_pod.resume()


def test_status_cli_json_and_exit_codes(estate, spare_pod, tmp_path, vecs_estate):
    path = estate.write_config(tmp_path / "c.yaml", names=["vectors-a"])
    res = subprocess.run([sys.executable, "-m", "vecdash", "status", "--json", "--config", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    [pod] = doc["pods"]
    assert {"name", "role", "up", "error", "server_version", "pgvector_version", "latency_ms", "collections",
            "foreign_servers", "foreign_tables", "views"} <= set(pod)
    coll = next(c for c in pod["collections"] if c["name"] == "cat_hnsw")
    assert coll["indexes"][0]["params"] == {"m": 8, "ef_construction": 32}
    assert TEST_PASSWORD not in res.stdout
    # a down pod: exit 1, output still complete
    spare_pod.stop()
    with path.open("a") as f:
        pass
    text = path.read_text().replace("settings:", f"  - name: spare\n    dsn: {spare_pod.dsn()}\nsettings:")
    path.write_text(text)
    res = subprocess.run([sys.executable, "-m", "vecdash", "--config", str(path), "status", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert [p["up"] for p in doc["pods"]] == [True, False]
    assert doc["pods"][1]["error"] and TEST_PASSWORD not in res.stdout + res.stderr
    res = subprocess.run([sys.executable, "-m", "vecdash", "--config", str(path), "status"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "DOWN" in res.stdout and "cat_hnsw" in res.stdout


def test_read_only_sessions_refused_by_server(estate):
    import psycopg

    from vecdash.errors import ReadOnlyError

    client = PodClient(estate.config(names=["vectors-b"], read_only=True))

    async def go():
        try:
            with pytest.raises(ReadOnlyError):
                await client.run("vectors-b", lambda c: c.execute("select 1"), write=True)
            # even if a write slipped past the UI, the server refuses it
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                await client.run("vectors-b", lambda c: c.execute("create table ro_should_fail (i int)"))
            topo = await snapshot(client)
            assert topo.pod("vectors-b").read_only is True
        finally:
            await client.close()

    asyncio.run(go())


def test_pgpass_and_pg_env_supply_the_password(estate, tmp_path, monkeypatch):
    """DSNs without a password work through .pgpass and PG* variables, as in psql."""
    from vecdash.config import Config, PodConfig, Settings

    pod = estate.pods["vectors-b"]
    bare = pod.dsn(with_password=False)
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{pod.port}:*:postgres:{TEST_PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    cfg = Config(pods=(PodConfig(name="b", dsn=bare),), settings=Settings(), path="<t>")
    assert take(cfg).pod("b").up
    monkeypatch.delenv("PGPASSFILE")
    monkeypatch.setenv("PGPASSWORD", TEST_PASSWORD)
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(pod.port))
    cfg = Config(pods=(PodConfig(name="b", dsn="dbname=postgres user=postgres"),), settings=Settings(), path="<t>")
    assert take(cfg).pod("b").up
    monkeypatch.delenv("PGPASSWORD")
    down = take(cfg).pod("b")
    assert not down.up and "password" in down.error.lower()
