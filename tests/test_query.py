"""The query service on real pods: routes, knobs, under-filled results, recall, plans, CLI.

A same-named collection on vectors-a and vectors-b (HNSW cosine), both reached from the primary
through hand-written postgres_fdw wiring (`extensions 'vector'`, `async_capable`).
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.query_helpers import drop_collection, make_collection, unwire, wire
from vecdash.cli import main as cli_main
from vecdash.db.pods import PodClient
from vecdash.service.catalog import snapshot
from vecdash.service.filters import FilterError
from vecdash.db.vector_param import BinaryVector
from vecdash.service.query import QueryError, QuerySpec, plan_remote_settings, run_query, vector_param

DIM = 16
ROWS = 1500


@pytest.fixture(scope="module")
def estate_coll(estate):
    name = f"qry_{uuid.uuid4().hex[:8]}"
    make_collection(estate.dsn("vectors-a"), name, ROWS, DIM, seed=1, id_prefix="a")
    make_collection(estate.dsn("vectors-b"), name, ROWS, DIM, seed=2, id_prefix="b")
    suffix = uuid.uuid4().hex[:8]
    wiring = [(f"qa_{suffix}", f"qa_{suffix}", "vectors-a"), (f"qb_{suffix}", f"qb_{suffix}", "vectors-b")]
    for server, schema, pod in wiring:
        wire(estate.dsn("primary"), estate.pods[pod], server, schema, name, DIM)
    yield name
    for server, schema, _ in wiring:
        unwire(estate.dsn("primary"), server, schema)
    drop_collection(estate.dsn("vectors-a"), name)
    drop_collection(estate.dsn("vectors-b"), name)


@pytest.fixture
async def client(estate):
    c = PodClient(estate.config())
    yield c
    await c.close()


@pytest.fixture
async def topo(client, estate_coll):
    return await snapshot(client)


def spec(name, **kw) -> QuerySpec:
    kw.setdefault("pod", "vectors-a")
    kw.setdefault("like_id", "a7")
    return QuerySpec(collection=name, **kw)


def key(rows):
    return [(r.pod, r.id) for r in rows]


async def _mixed_vector(client, topo, name) -> list[float]:
    """Half way between a row of vectors-a and a row of vectors-b: neighbours come from both pods."""
    a = await run_query(client, spec(name, limit=1, include_vector=True), topo)
    b = await run_query(client, spec(name, pod="vectors-b", like_id="b7", limit=1, include_vector=True), topo)
    assert a.rows[0].id == "a7" and b.rows[0].id == "b7"
    return [(x + y) / 2 for x, y in zip(a.rows[0].vector, b.rows[0].vector)]


async def test_routes_agree_on_exact_search(client, topo, estate_coll):
    q = await _mixed_vector(client, topo, estate_coll)
    f = {"year": {"$gte": 2012}}

    def s(**kw):
        return spec(estate_coll, like_id=None, vector=q, exact=True, limit=15, filters=f, **kw)

    direct = await run_query(client, s(), topo)
    primary = await run_query(client, s(route="primary"), topo)
    assert len(direct.rows) == 15
    assert key(primary.rows) == key(direct.rows)
    assert [round(r.distance, 5) for r in primary.rows] == [round(r.distance, 5) for r in direct.rows]
    direct_b = await run_query(client, s(pod="vectors-b"), topo)
    merged = sorted(direct.rows + direct_b.rows, key=lambda r: r.distance)[:15]
    fanout = await run_query(client, s(route="fanout"), topo)
    federated = await run_query(client, s(route="federated"), topo)
    assert key(fanout.rows) == key(merged)
    assert key(federated.rows) == key(merged)
    assert {r.pod for r in fanout.rows} == {"vectors-a", "vectors-b"}
    assert set(fanout.per_pod_ms) == {"vectors-a", "vectors-b"}


async def test_fanout_and_federated_merge_top_k(client, topo, estate_coll):
    fan = await run_query(client, spec(estate_coll, route="fanout", limit=20, ef_search=100), topo)
    fed = await run_query(client, spec(estate_coll, route="federated", limit=20, explain=True), topo)
    for res in (fan, fed):
        d = [r.distance for r in res.rows]
        assert d == sorted(d) and len(d) == 20
        assert res.rows[0].id == "a7" and res.rows[0].distance == pytest.approx(0, abs=1e-6)
    assert len(fan.per_pod_ms) == 2 and fan.server_ms is not None and fan.client_ms >= fan.server_ms
    remote = [l for l in fed.plan.splitlines() if "Remote SQL:" in l]
    assert len(remote) == 2 and all("ORDER BY" in l and " LIMIT " in l for l in remote), fed.plan
    assert "Async Foreign Scan" in fed.plan, fed.plan
    assert "union all" in fed.sql_preview


async def test_underfilled_filtered_hnsw_scan_is_detected(client, topo, estate_coll):
    # ~1 row in 7 has this language: a filtered HNSW scan with 10 candidates runs dry long before 20 matches.
    f = {"lang": {"$eq": "de"}}
    res = await run_query(client, spec(estate_coll, limit=20, filters=f, ef_search=10, explain=True), topo)
    assert "Index Scan using" in res.plan
    assert len(res.rows) < 20
    assert res.underfilled and res.matching_rows == 20
    assert any("under-filled" in w and "set iterative to relaxed_order" in w for w in res.warnings)
    full = await run_query(client, spec(estate_coll, limit=20, filters=f, ef_search=10, iterative="relaxed"), topo)
    assert len(full.rows) == 20 and not full.underfilled
    exact = await run_query(client, spec(estate_coll, limit=20, filters=f, exact=True), topo)
    assert len(exact.rows) == 20 and not exact.underfilled


async def test_only_few_matching_rows_is_not_underfilled(client, topo, estate_coll):
    res = await run_query(client, spec(estate_coll, limit=10, filters={"url": {"$in": ["/docs/postgres/0", "/docs/fdw/2"]}},
                                       ef_search=40, iterative="relaxed"), topo)
    assert len(res.rows) == 2 and not res.underfilled and res.matching_rows == 2


async def test_knobs_apply_on_the_pod_but_do_not_travel_through_fdw(client, topo, estate_coll):
    # hnsw returns at most ef_search rows (no iterative scan): the knob visibly took effect
    direct = await run_query(client, spec(estate_coll, limit=10, ef_search=5), topo)
    assert len(direct.rows) == 5 and direct.underfilled
    assert "SET LOCAL hnsw.ef_search = 5" in direct.sql_preview
    primary = await run_query(client, spec(estate_coll, limit=10, ef_search=5, route="primary"), topo)
    assert len(primary.rows) == 10  # the pod used its default ef_search
    note = next(w for w in primary.warnings if "do not travel through postgres_fdw" in w)
    assert "options '-c hnsw.ef_search=5'" in note and "ALTER ROLE" in note
    # the session on the pod is clean afterwards (SET LOCAL ended with the transaction)
    again = await run_query(client, spec(estate_coll, limit=10), topo)
    assert len(again.rows) == 10


async def test_plan_remote_settings_is_ddl_for_the_server(topo, estate_coll):
    server = next(s.name for s in topo.primary.foreign_servers if s.name.startswith("qa_"))
    plan = plan_remote_settings(topo, server, {"hnsw.ef_search": "80"})
    assert plan.pod == "primary"
    assert plan.steps[0].preview == f"ALTER SERVER \"{server}\" OPTIONS (ADD options '-c hnsw.ef_search=80')"
    with pytest.raises(QueryError):
        plan_remote_settings(topo, server, {"work_mem": "1GB'; drop"})


def _stored(dsn: str, name: str) -> tuple[list[str], np.ndarray]:
    from pgvector.psycopg import register_vector

    with psycopg.connect(dsn) as conn:
        register_vector(conn)
        rows = conn.execute(sql.SQL("select id, vec from {}").format(sql.Identifier("vecs", name))).fetchall()
    return [r[0] for r in rows], np.stack([np.asarray(r[1], dtype=np.float64) for r in rows])


def _true_top(q: np.ndarray, ids: list[tuple[str, str]], x: np.ndarray, k: int) -> set[tuple[str, str]]:
    """Exact cosine top-k by brute force in numpy: independent of the service, its SQL and the index."""
    q = np.asarray(q, dtype=np.float64)
    d = 1.0 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    return {ids[i] for i in np.argsort(d, kind="stable")[:k]}


async def test_recall_against_exact(client, topo, estate, estate_coll):
    """The recall the service reports is |returned & true top-k| / k, the truth computed here by numpy over
    every stored vector. ef_search 10 on clustered data, and queries in random directions, miss neighbours:
    recall < 1 is exercised, and so is an exact scan that would quietly use the index."""
    data = {p: _stored(estate.dsn(p), estate_coll) for p in ("vectors-a", "vectors-b")}
    rng = np.random.default_rng(5)
    centres = data["vectors-a"][1][rng.choice(ROWS, size=12, replace=False)]
    queries = [c + rng.standard_normal(DIM) * 0.2 for c in centres] + list(rng.standard_normal((12, DIM)))
    k = 10
    seen = {"direct": [], "fanout": [], "federated": []}
    both = ["vectors-a", "vectors-b"]
    for route, pods in (("direct", ["vectors-a"]), ("fanout", both), ("federated", both)):
        ids = [(p, i) for p in pods for i in data[p][0]]
        x = np.concatenate([data[p][1] for p in pods])
        for q in queries:
            for ef in (10, 40, 400):
                res = await run_query(client, spec(estate_coll, like_id=None, vector=[float(v) for v in q], limit=k,
                                                   recall=True, ef_search=ef, route=route), topo)
                got = {(r.pod, r.id) for r in res.rows}
                assert len(got) == len(res.rows) == k
                want = len(got & _true_top(q, ids, x, k)) / k
                assert res.recall == pytest.approx(want, abs=1e-9), (route, ef, res.recall, want)
                seen[route].append(want)
        exact = await run_query(client, spec(estate_coll, like_id=None, vector=[float(v) for v in queries[0]],
                                             limit=k, recall=True, exact=True, route=route), topo)
        assert {(r.pod, r.id) for r in exact.rows} == _true_top(queries[0], ids, x, k)
        assert exact.recall == 1.0
    for route in ("direct", "fanout"):  # both sides of the comparison were exercised (ef_search does not
        assert min(seen[route]) < 1.0 and max(seen[route]) == 1.0, (route, seen[route])  # travel through FDW)


async def test_dimension_mismatch_is_one_clear_error(client, topo, estate_coll):
    with pytest.raises(QueryError) as err:
        await run_query(client, spec(estate_coll, like_id=None, vector=[0.1, 0.2, 0.3]), topo)
    assert str(err.value) == (f"dimension mismatch: the query vector has 3 dimensions but vecs.{estate_coll} "
                              f"on vectors-a is vector({DIM})")


async def test_bad_input_errors(client, topo, estate_coll):
    for bad, text in [
        (spec(estate_coll, like_id="nope"), "like: no row with id 'nope'"),
        (spec(estate_coll, measure="hamming"), "measure hamming does not apply to vector column"),
        (spec(estate_coll, limit=0), "limit must be an integer"),
        (spec(estate_coll, route="sideways"), "unknown route"),
        (spec(estate_coll, random=True), "give exactly one query vector source"),
        (spec(estate_coll, like_id=None, vector=[float("nan")] * DIM), "vector[0]"),
        (spec(estate_coll, like_id=None, vector=[float("inf"), float("-inf")] * (DIM // 2)), "vector[0]"),
        (QuerySpec(pod="vectors-a", collection="nope", like_id="x"), "no collection vecs.nope on pod vectors-a"),
        (spec(estate_coll, pod="nowhere"), "unknown pod 'nowhere'"),
        (spec(estate_coll, ef_search=True), "ef_search must be an integer"),
        (spec(estate_coll, probes=False), "probes must be an integer"),
    ]:
        with pytest.raises(QueryError) as err:
            await run_query(client, bad, topo)
        assert text in str(err.value)
    with pytest.raises(FilterError) as err:
        await run_query(client, spec(estate_coll, filters={"$and": [{"year": {"$eq": 1}}, {"year": {"$gte2": 1}}]}), topo)
    assert str(err.value).startswith("filters.$and[1].year: unknown operator $gte2")


async def test_like_random_vector_include_and_explain(client, topo, estate_coll):
    like = await run_query(client, spec(estate_coll, limit=3, include_vector=True, explain=True), topo)
    assert like.source == "like a7" and like.rows[0].id == "a7"
    assert len(like.rows[0].vector) == DIM
    assert "Index Scan using" in like.plan and "Buffers" in like.plan and "Execution Time" in like.plan
    again = await run_query(client, spec(estate_coll, like_id=None, vector=like.rows[0].vector, limit=3), topo)
    assert [r.id for r in again.rows] == [r.id for r in like.rows]
    rnd = await run_query(client, spec(estate_coll, like_id=None, random=True, limit=3), topo)
    assert rnd.source.startswith("random row a") and rnd.rows[0].id == rnd.source.split()[-1]


async def test_a_given_vector_goes_binary_and_answers_as_its_text_form(client, topo, estate, estate_coll):
    """The query vector is sent in pgvector's binary form: same neighbours and distances as the text
    literal computed on the server, on the direct and the postgres_fdw routes; previews show text."""
    q = await _mixed_vector(client, topo, estate_coll)
    assert isinstance(vector_param(q, "vector"), BinaryVector)
    with psycopg.connect(estate.dsn("vectors-a")) as conn:
        truth = conn.execute(sql.SQL("select id, vec <=> %s::vector from {} order by 2 limit 5").format(
            sql.Identifier("vecs", estate_coll)), [json.dumps(q)]).fetchall()
    for route in ("direct", "primary"):
        res = await run_query(client, spec(estate_coll, like_id=None, vector=q, exact=True, limit=5, route=route), topo)
        assert [r.id for r in res.rows] == [t[0] for t in truth], route
        assert [r.distance for r in res.rows] == pytest.approx([t[1] for t in truth], abs=1e-6), route
        assert f"-- params: '[{q[0]!r}, {q[1]!r}, … {DIM} values]'" in res.sql_preview, route  # as plans show it
    bad = list(q)
    bad[3] = 1e39  # a finite double, too large for float4
    with pytest.raises(QueryError, match=r"^vector\[3\]: 1e\+39 is outside the float4 range"):
        await run_query(client, spec(estate_coll, like_id=None, vector=bad), topo)


async def test_no_index_for_the_measure_is_reported(client, topo, estate_coll):
    res = await run_query(client, spec(estate_coll, measure="l2", limit=3), topo)
    assert any("serves l2" in w and "scans every row" in w for w in res.warnings)
    ok = await run_query(client, spec(estate_coll, measure="cosine", limit=3), topo)
    assert not any("serves" in w for w in ok.warnings)


async def test_queries_run_in_read_only_mode(estate, estate_coll):
    c = PodClient(estate.config(read_only=True))
    try:
        res = await run_query(c, spec(estate_coll, limit=3, ef_search=20, route="fanout"))
        assert len(res.rows) == 3
    finally:
        await c.close()


def test_cli_answers_every_route(estate, estate_coll, tmp_path, capsys):
    cfg = estate.write_config(tmp_path / "vd.yaml")
    for route in ("direct", "primary", "fanout", "federated"):
        rc = cli_main(["--config", str(cfg), "query", "vectors-a", f"vecs.{estate_coll}", "--like", "a7", "--limit", "4",
                       "--route", route, "--filter", '{"year": {"$gte": 2008}}', "--recall", "--json"])
        out = capsys.readouterr().out
        assert rc == 0
        doc = json.loads(out)
        assert doc["route"] == route and doc["returned"] == 4 and doc["rows"][0]["id"] == "a7"
        assert doc["recall"] is not None and "Sup3r" not in out
    rc = cli_main(["--config", str(cfg), "query", "vectors-a", estate_coll, "--random", "--limit", "2"])
    assert rc == 0 and "2 of 2 rows" in capsys.readouterr().out
    rc = cli_main(["--config", str(cfg), "query", "vectors-a", f'"vecs"."{estate_coll}"', "--like", "a7", "--limit", "2"])
    assert rc == 0 and "2 of 2 rows" in capsys.readouterr().out  # quoted parts, as `vecdash wire` takes them


def test_explain_shows_the_query_vector_abbreviated(estate, estate_coll, tmp_path, capsys):
    """`--explain` (and the console's plan, the same QueryResult.plan) cuts the query vector to its first
    values and its length, in the plan, the Remote SQL and the parameters, instead of printing every number."""
    import re

    cfg = estate.write_config(tmp_path / "vd.yaml")
    for route in ("direct", "federated"):
        rc = cli_main(["--config", str(cfg), "query", "vectors-a", estate_coll, "--like", "a7", "--limit", "3",
                       "--route", route, "--explain"])
        out = capsys.readouterr().out
        assert rc == 0
        assert f"… {DIM} values]'" in out, out
        assert not re.search(r"(-?\d+(\.\d+)?(e-?\d+)?,\s*){5}", out), out  # no run of numbers left


@pytest.mark.parametrize("args,message", [
    (["--vector", "[1, 2"], "--vector: bad JSON"),
    (["--vector", "[1, 2, 3]"], "dimension mismatch"),
    (["--vector", "[Infinity, -Infinity]"], "--vector: Infinity is not a finite number"),
    (["--vector", "[" + "9" * 400 + "]"], "--vector[0]: an integer of 400 digits is not a finite number"),
    (["--like", "a1", "--filter", '{"year": {"$gte2": 1}}'], "filters.year: unknown operator $gte2"),
    (["--like", "a1", "--filter", "{nope"], "--filter: bad JSON"),
    (["--like", "a1", "--limit", "-3"], "limit must be"),
])
def test_cli_bad_input_exits_2_with_one_line(estate, estate_coll, tmp_path, capsys, args, message):
    cfg = estate.write_config(tmp_path / "vd.yaml")
    rc = cli_main(["--config", str(cfg), "query", "vectors-a", estate_coll] + args)
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


async def test_bit_halfvec_and_sparsevec_columns(estate, client, unique):
    """hamming/jaccard on bit, cosine on halfvec and sparsevec: the vector text and cast follow the column."""
    dsn = estate.dsn("vectors-b")
    names = {t: f"qt_{t}_{unique}" for t in ("bit", "halfvec", "sparsevec")}
    rows = {"bit": ["10101010", "10101011", "01010101", "11110000"],
            "halfvec": ["[1,0,0]", "[0.9,0.1,0]", "[0,1,0]", "[0,0,1]"],
            "sparsevec": ["{1:1}/3", "{1:0.9,2:0.1}/3", "{2:1}/3", "{3:1}/3"]}
    dims = {"bit": 8, "halfvec": 3, "sparsevec": 3}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create schema if not exists vecs")
        for t, name in names.items():
            table = sql.Identifier("vecs", name)
            conn.execute(sql.SQL("create table {} (id varchar primary key, vec {}({}) not null, "
                                 "metadata jsonb not null default '{{}}')").format(table, sql.Identifier(t), sql.Literal(dims[t])))
            for i, v in enumerate(rows[t]):
                conn.execute(sql.SQL("insert into {} values (%s, %s::{}, %s)").format(table, sql.Identifier(t)),
                             (f"r{i}", v, Jsonb({"n": i})))
    try:
        topo = await snapshot(client)
        bit = await run_query(client, QuerySpec(pod="vectors-b", collection=names["bit"], like_id="r0", measure="hamming",
                                                limit=4, include_vector=True), topo)
        assert [r.id for r in bit.rows][:2] == ["r0", "r1"] and [r.distance for r in bit.rows][:2] == [0, 1]
        assert bit.rows[0].vector == [1, 0, 1, 0, 1, 0, 1, 0]
        jac = await run_query(client, QuerySpec(pod="vectors-b", collection=names["bit"], vector=[1, 0, 1, 0, 1, 0, 1, 0],
                                                measure="jaccard", limit=1, filters={"n": {"$gte": 1}}), topo)
        assert jac.rows[0].id == "r1"
        with pytest.raises(QueryError):
            await run_query(client, QuerySpec(pod="vectors-b", collection=names["bit"], like_id="r0", measure="cosine"), topo)
        for t in ("halfvec", "sparsevec"):
            res = await run_query(client, QuerySpec(pod="vectors-b", collection=names[t], vector=[1, 0, 0], limit=2,
                                                    include_vector=True), topo)
            assert [r.id for r in res.rows] == ["r0", "r1"] and res.rows[0].vector == [1.0, 0.0, 0.0]
        # halfvec goes binary (IEEE half): the same distances as the server's own text literal
        assert isinstance(vector_param([0.3, 0.7, 0.1], "halfvec"), BinaryVector)
        half = await run_query(client, QuerySpec(pod="vectors-b", collection=names["halfvec"], vector=[0.3, 0.7, 0.1],
                                                 limit=4), topo)
        with psycopg.connect(dsn) as conn:
            truth = conn.execute(sql.SQL("select id, vec <=> '[0.3,0.7,0.1]'::halfvec from {} order by 2, 1").format(
                sql.Identifier("vecs", names["halfvec"]))).fetchall()
        assert [r.id for r in half.rows] == [t[0] for t in truth]
        assert [r.distance for r in half.rows] == pytest.approx([t[1] for t in truth], abs=1e-6)
        with pytest.raises(QueryError, match=r"^vector\[1\]: 70000\.0 is outside the float16 range of a pgvector halfvec"):
            await run_query(client, QuerySpec(pod="vectors-b", collection=names["halfvec"], vector=[0.1, 70000.0, 0.2]), topo)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for name in names.values():
                conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier("vecs", name)))


async def test_fanout_degrades_when_a_pod_dies_mid_way(estate, estate_coll, spare_pod, unique):
    from vecdash.config import Config, PodConfig, Settings

    spare_pod.psql("create extension if not exists vector")
    make_collection(spare_pod.dsn(), estate_coll, 200, DIM, seed=3, id_prefix="s")
    cfg = Config(pods=(PodConfig("vectors-a", "secondary", estate.dsn("vectors-a")),
                       PodConfig("spare", "secondary", spare_pod.dsn())),
                 settings=Settings(statement_timeout_ms=2000, connect_timeout_s=1))
    c = PodClient(cfg)
    try:
        topo = await snapshot(c)
        both = await run_query(c, spec(estate_coll, route="fanout", limit=5), topo)
        assert set(both.per_pod_ms) == {"vectors-a", "spare"}
        spare_pod.stop("immediate")
        res = await run_query(c, spec(estate_coll, route="fanout", limit=5), topo)  # topology still says "up"
        assert set(res.per_pod_ms) == {"vectors-a"} and len(res.rows) == 5
        assert any(w.startswith("left out of the answer: pod spare") for w in res.warnings)
        after = await run_query(c, spec(estate_coll, route="fanout", limit=5))  # fresh topology: spare is down
        assert any("pods down, not queried: spare" in w for w in after.warnings)
    finally:
        await c.close()


async def test_the_offered_server_option_does_reach_the_pod(estate, client, topo, estate_coll):
    """The remedy the primary route suggests works: `options '-c hnsw.ef_search=5'` on the server."""
    from vecdash.service.wiring import apply_plan

    server = next(s.name for s in topo.primary.foreign_servers if s.name.startswith("qa_") and
                  any(f.server == s.name and f.remote_table == estate_coll for f in topo.primary.foreign_tables))
    before = await run_query(client, spec(estate_coll, limit=10, route="primary"), topo)
    assert len(before.rows) == 10
    await apply_plan(client, plan_remote_settings(topo, server, {"hnsw.ef_search": "5"}))
    try:
        # postgres_fdw drops its cached connection when the server's options change
        after = await run_query(client, spec(estate_coll, limit=10, route="primary"), topo)
        assert len(after.rows) == 5 and after.underfilled
    finally:
        estate.sql("primary", sql.SQL("alter server {} options (drop options)").format(sql.Identifier(server)).as_string(None))


async def test_an_index_larger_than_shared_buffers_is_reported(estate, client, topo, estate_coll, spare_pod, unique):
    """The query result and the doctor name an index that does not fit in its pod's shared_buffers (each
    query then reads its pages back from the OS cache); an index that fits gets no such warning."""
    from vecdash.config import Config, PodConfig, Settings
    from vecdash.service.doctor import diagnose

    fits = await run_query(client, spec(estate_coll, limit=3), topo)
    assert not any("shared_buffers" in w for w in fits.warnings), fits.warnings

    spare_pod.settings["shared_buffers"] = "1MB"
    spare_pod.stop()
    spare_pod.start()
    name = f"big_{unique}"
    make_collection(spare_pod.dsn(), name, 3000, 64, seed=4, id_prefix="s")
    c = PodClient(Config(pods=(PodConfig("spare", "secondary", spare_pod.dsn()),),
                         settings=Settings(statement_timeout_ms=5000, connect_timeout_s=3)))
    try:
        t = await snapshot(c)
        pod = t.pod("spare")
        assert pod.shared_buffers_bytes == 2**20
        ix = pod.collection("vecs", name).indexes[0]
        assert ix.bytes > 2**20
        res = await run_query(c, QuerySpec(pod="spare", collection=name, like_id="s1", limit=3), t)
        assert res.rows[0].id == "s1"
        [w] = [w for w in res.warnings if "shared_buffers" in w]
        assert w.startswith(f"index {ix.name} of vecs.{name} on spare is ") and "more than its shared_buffers (1.0 MB)" in w
        l2 = await run_query(c, QuerySpec(pod="spare", collection=name, like_id="s1", limit=3, measure="l2"), t)
        assert not any("shared_buffers" in w for w in l2.warnings)  # no index serves l2: a different warning
        found = [f for f in await diagnose(c, t) if f.kind == "index_exceeds_shared_buffers"]
        assert [f.subject for f in found] == [f"spare:vecs.{name}"] and found[0].fix is None
    finally:
        await c.close()


async def test_fdw_routes_plan_in_sessions_of_their_own(client, topo, estate_coll):
    """The primary and federated routes run in primary sessions opened with enable_sort=off (no SET LOCAL
    pipeline per query); the other sessions to the primary keep the server's default."""
    from vecdash.service.query import FDW_SESSION

    for route in ("primary", "federated"):
        res = await run_query(client, spec(estate_coll, route=route, limit=3), topo)
        assert len(res.rows) == 3
        assert "SET enable_sort = off;  -- the session was opened with -c enable_sort=off" in res.sql_preview, route
        assert "SET LOCAL" not in res.sql_preview, route

    assert client._idle[("primary", FDW_SESSION)], "the FDW routes did not use their own sessions"

    async def show(conn):
        return (await (await conn.execute("show enable_sort")).fetchone())[0]

    assert await client.run("primary", show) == "on"
    assert await client.run("primary", show, session=FDW_SESSION) == "off"


async def test_fanout_over_pods_mixing_vector_and_halfvec(estate, client, unique):
    """A same-named collection stored as vector on one pod and halfvec on another: each pod gets the
    query vector in its own column type's binary form (fanout and recall); a value out of halfvec's
    range is refused before anything runs."""
    name = f"mix_{unique}"
    rows = ["[1,0,0]", "[0.9,0.1,0]", "[0,1,0]", "[0.8,0.2,0.1]"]
    for pod, vtype, prefix in (("vectors-a", "vector", "a"), ("vectors-b", "halfvec", "b")):
        with psycopg.connect(estate.dsn(pod), autocommit=True) as conn:
            table = sql.Identifier("vecs", name)
            conn.execute(sql.SQL("create table {} (id varchar primary key, vec {}(3) not null, "
                                 "metadata jsonb not null default '{{}}')").format(table, sql.Identifier(vtype)))
            for i, v in enumerate(rows):
                conn.execute(sql.SQL("insert into {} (id, vec) values (%s, %s::{})").format(table, sql.Identifier(vtype)),
                             (f"{prefix}{i}", v))
    try:
        topo = await snapshot(client)
        res = await run_query(client, QuerySpec(pod="vectors-a", collection=name, vector=[0.95, 0.05, 0.0], limit=4,
                                                route="fanout", recall=True, exact=True), topo)
        assert set(res.per_pod_ms) == {"vectors-a", "vectors-b"}
        assert {r.id for r in res.rows} == {"a0", "a1", "b0", "b1"} and res.recall == 1.0
        with pytest.raises(QueryError, match=r"^vector\[0\]: 70000\.0 is outside the float16 range"):
            await run_query(client, QuerySpec(pod="vectors-a", collection=name, vector=[70000.0, 0.0, 0.0],
                                              route="fanout"), topo)
    finally:
        for pod in ("vectors-a", "vectors-b"):
            with psycopg.connect(estate.dsn(pod), autocommit=True) as conn:
                conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier("vecs", name)))


async def test_sessions_can_send_binary_vectors_whatever_was_imported_first(estate):
    """The binary vector dumper is registered on every session vecdash opens, not on psycopg's global
    adapters (which only reach sessions opened after the registering import)."""
    from psycopg.adapt import PyFormat

    assert BinaryVector not in psycopg.adapters._dumpers[PyFormat.BINARY]
    c = PodClient(estate.config(names=["vectors-a"]))
    try:
        async def send(conn):
            cur = await conn.execute("select %s::vector", [BinaryVector([0.5, -1.0])])
            return (await cur.fetchone())[0]

        assert await c.run("vectors-a", send) == "[0.5,-1]"
    finally:
        await c.close()
