"""The `primary` and `federated` routes over the fast path (issue 17) on real pods: the function is taken
when the primary's catalog has it, answers with the same rows as the pod itself and as the postgres_fdw
path (filters, jsonpath, knobs), says which path ran, and falls back with a reason when a query cannot
use it. Without the functions the routes are as before.

A same-named collection on vectors-a and vectors-b (HNSW cosine) with a view per pod on the primary and
its fast-path functions: made by `vecdash wire --fast-path`'s plan, and again by hand from the issue's
signatures (tests.fast_helpers), which the routes know by name only.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from psycopg import sql

from tests.fast_helpers import drop_knn, make_knn, make_knn_all
from tests.hostile_data import HOSTILE
from tests.query_helpers import drop_collection, make_collection, unwire, wire
from tests.test_query import client, spec  # noqa: F401  (the query tests' session and spec)
from vecdash import datagen
from vecdash.cli import main as cli_main
from vecdash.db.pods import PodClient
from vecdash.service import wiring
from vecdash.service.catalog import snapshot
from vecdash.service.query import run_query
from vecdash.service.query.fast import FAST_PATH, FDW_PATH

DIM = 16
ROWS = 1200


def _meta(i: int) -> dict:
    """datagen's metadata plus a hostile key holding a hostile value (a jsonpath must quote both)."""
    h = HOSTILE[i % len(HOSTILE)]
    return {**datagen.metadata_for(i, "docs", 0), h: h, "tags": ["t" + str(i % 5)]}


@dataclass
class Wired:
    name: str
    views: dict[str, str]  # pod -> view on the primary (public)
    all_fn: str  # the `_knn_all` function's name (public)
    make: Callable[[], None]  # (re)create the fast-path functions
    drop: Callable[[], None]  # drop them (the wiring stays)


# the wiring plan's fast path (branch h17-fastpath): until it is merged, those cases are skipped
HAS_FAST_PATH_PLAN = "fast_path" in inspect.signature(wiring.plan_wire).parameters


async def _wire_by_plan(estate, name: str, views: dict[str, str], unwire_too: bool = False) -> None:
    client = PodClient(estate.config())
    try:
        for pod in views:
            if unwire_too:
                await wiring.apply_plan(client, await wiring.plan_unwire(client, pod, name))
            else:
                await wiring.apply_plan(client, await wiring.plan_wire(client, pod, name, view=f"public.{views[pod]}",
                                                                       fast_path=True))
    finally:
        await client.close()


@pytest.fixture(scope="module", params=[
    pytest.param("plan", marks=pytest.mark.skipif(not HAS_FAST_PATH_PLAN, reason="needs wire --fast-path (h17-fastpath)")),
    "by hand"])
def wired(request, estate):
    """The collection wired from both pods with the fast path: by `vecdash wire --fast-path`'s plan (marked
    functions, `<collection>_knn_all`), or by hand (tests.fast_helpers: known by name only)."""
    name = f"fr_{uuid.uuid4().hex[:8]}"
    make_collection(estate.dsn("vectors-a"), name, ROWS, DIM, seed=1, id_prefix="a", metadata=_meta)
    make_collection(estate.dsn("vectors-b"), name, ROWS, DIM, seed=2, id_prefix="b", metadata=_meta)
    views = {pod: f"{name}_{pod[-1]}" for pod in ("vectors-a", "vectors-b")}
    if request.param == "plan":
        def make():
            asyncio.run(_wire_by_plan(estate, name, views))

        def drop():
            for view in views.values():
                drop_knn(estate.dsn("primary"), view)
            drop_knn(estate.dsn("primary"), name)  # `<collection>_knn_all`

        make()
        yield Wired(name, views, f"{name}_knn_all", make, drop)
        asyncio.run(_wire_by_plan(estate, name, views, unwire_too=True))
        drop()
    else:
        suffix = uuid.uuid4().hex[:8]
        servers = {"vectors-a": f"fa_{suffix}", "vectors-b": f"fb_{suffix}"}

        def make():
            for pod, server in servers.items():
                make_knn(estate.dsn("primary"), views[pod], server, name)
            make_knn_all(estate.dsn("primary"), views["vectors-a"], list(servers.values()), name)

        def drop():
            for view in views.values():
                drop_knn(estate.dsn("primary"), view)

        for pod, server in servers.items():
            wire(estate.dsn("primary"), estate.pods[pod], server, server, name, DIM)
            estate.sql("primary", sql.SQL("create view {} as select * from {}").format(
                sql.Identifier("public", views[pod]), sql.Identifier(server, name)))
        make()
        yield Wired(name, views, f"{views['vectors-a']}_knn_all", make, drop)
        drop()
        for pod, server in servers.items():
            estate.sql("primary", f'drop view if exists public."{views[pod]}"')
            unwire(estate.dsn("primary"), server, server)
    for pod in views:
        drop_collection(estate.dsn(pod), name)


@pytest.fixture
async def topo(client, wired):
    return await snapshot(client)


def without_functions(topo):
    """The same estate as the catalog would read it with no fast-path function: the postgres_fdw path."""
    t = copy.deepcopy(topo)
    t.primary.knn_functions = []
    return t


def key(rows):
    return [(r.pod, r.id, round(r.distance, 5)) for r in rows]


async def test_catalog_lists_the_functions(topo, wired):
    views = wired.views
    fns = {f.name for f in topo.primary.knn_functions}
    assert {f"{views['vectors-a']}_knn", f"{views['vectors-b']}_knn", wired.all_fn} <= fns


async def test_primary_route_takes_the_function_and_agrees_with_direct_and_the_view(client, topo, wired):
    name, views = wired.name, wired.views
    filters = [None, {"lang": {"$eq": "de"}}, {"tags": {"$contains": "t3"}},
               {"url": {"$in": ["/docs/postgres/0", "/docs/fdw/2", "/docs/vecs/5"]}},
               {"$or": [{"lang": {"$eq": "de"}}, {"$and": [{"lang": {"$eq": "en"}}, {"url": {"$in": ["/docs/fdw/2"]}}]}]},
               {"$and": [{"lang": {"$eq": "fr"}}, {"url": {"$in": ["/docs/postgres/0", "/docs/postgres/3"]}}]}]
    for f in filters:
        for pod, like in (("vectors-a", "a7"), ("vectors-b", "b11")):
            s = dict(pod=pod, like_id=like, limit=10, filters=f)
            direct = await run_query(client, spec(name, ef_search=200, iterative="strict", **s), topo)
            fast = await run_query(client, spec(name, route="primary", ef_search=200, iterative="strict", **s), topo)
            assert fast.path == FAST_PATH, fast.warnings
            assert f"public.{views[pod]}_knn()" in fast.route_detail
            assert key(fast.rows) == key(direct.rows), f
            assert not any("do not travel" in w or "not taken" in w for w in fast.warnings), fast.warnings
            # the postgres_fdw path, with the pod's defaults on both: the same rows in the same order; its
            # remote cursor may be planned to stop a filtered HNSW scan sooner (fewer rows, never others)
            view = await run_query(client, spec(name, route="primary", **s), without_functions(topo))
            plain = await run_query(client, spec(name, route="primary", **s), topo)
            assert view.path == FDW_PATH and plain.path == FAST_PATH
            assert key(plain.rows)[:len(view.rows)] == key(view.rows), f
            assert len(plain.rows) == len(view.rows) or view.underfilled, f


async def test_read_only_sessions_take_the_fast_path(estate, topo, wired):
    """Calling the function changes nothing: a read-only console queries through it as well."""
    ro = PodClient(estate.config(read_only=True))
    try:
        res = await run_query(ro, spec(wired.name, route="federated", limit=5), topo)
        assert res.path == FAST_PATH and len(res.rows) == 5
    finally:
        await ro.close()


async def test_knobs_reach_the_pod_on_the_fast_path(client, topo, wired):
    name = wired.name
    fast = await run_query(client, spec(name, route="primary", limit=10, ef_search=5), topo)
    direct = await run_query(client, spec(name, limit=10, ef_search=5), topo)
    # hnsw returns at most ef_search rows without an iterative scan: the setting took effect on the pod
    assert len(fast.rows) == 5 and key(fast.rows) == key(direct.rows)
    assert fast.underfilled and fast.knobs == {"hnsw.ef_search": "5"}
    assert not any("do not travel through postgres_fdw" in w or "must be made on the pod" in w for w in fast.warnings)
    relaxed = await run_query(client, spec(name, route="primary", limit=10, ef_search=5, iterative="relaxed",
                                           filters={"lang": {"$eq": "de"}}), topo)
    assert len(relaxed.rows) == 10
    view = await run_query(client, spec(name, route="primary", limit=10, ef_search=5), without_functions(topo))
    assert len(view.rows) == 10 and any("do not travel through postgres_fdw" in w for w in view.warnings)


async def test_hostile_keys_and_values_in_the_jsonpath(client, topo, wired):
    name = wired.name
    for h in HOSTILE:
        for f in ({h: {"$in": [h, "other"]}}, {"$or": [{h: {"$eq": h}}, {"lang": {"$eq": h}}]}, {h: {"$eq": h}}):
            s = dict(limit=5, filters=f, ef_search=400, iterative="strict")
            fast = await run_query(client, spec(name, route="primary", **s), topo)
            direct = await run_query(client, spec(name, **s), topo)
            assert fast.path == FAST_PATH, (h, fast.warnings)
            assert key(fast.rows) == key(direct.rows) and fast.rows, (h, f)
            assert all(r.metadata[h] == h for r in fast.rows)


async def test_filters_that_are_not_containment_or_jsonpath_fall_back_with_a_reason(client, topo, wired):
    name, views = wired.name, wired.views
    for f, word in (({"year": {"$gte": 2012}}, "$gte"), ({"$or": [{"tags": {"$contains": "t1"}}, {"lang": {"$eq": "de"}}]},
                                                          "$contains"), ({"lang": {"$ne": "de"}}, "$ne")):
        res = await run_query(client, spec(name, route="primary", limit=8, filters=f), topo)
        view = await run_query(client, spec(name, route="primary", limit=8, filters=f), without_functions(topo))
        assert res.path == FDW_PATH
        why = next(w for w in res.warnings if "not taken" in w)
        assert f"public.{views['vectors-a']}_knn" in why and word in why and "@>" in why
        assert key(res.rows) == key(view.rows)
    for kw, word in ((dict(exact=True), "exact"), (dict(include_vector=True), "vectors"), (dict(explain=True), "EXPLAIN"),
                     (dict(measure="l2"), "cosine")):
        res = await run_query(client, spec(name, route="primary", limit=3, **kw), topo)
        assert res.path == FDW_PATH and any("not taken" in w and word in w for w in res.warnings), res.warnings


async def test_federated_takes_knn_all_and_agrees_with_fanout(client, topo, wired):
    name, views = wired.name, wired.views
    for f in (None, {"lang": {"$eq": "de"}}, {"url": {"$in": ["/docs/postgres/0", "/docs/fdw/2"]}}):
        s = dict(limit=12, filters=f, ef_search=200, iterative="strict")
        fed = await run_query(client, spec(name, route="federated", **s), topo)
        fan = await run_query(client, spec(name, route="fanout", **s), topo)
        assert fed.path == FAST_PATH and f"public.{wired.all_fn}()" in fed.route_detail
        assert key(fed.rows) == key(fan.rows), f
        assert {r.pod for r in fed.rows} <= {"vectors-a", "vectors-b"}
    if wired.all_fn == f"{name}_knn_all":  # vecdash's: its mark says which pods it reaches
        stale = copy.deepcopy(topo)
        stale.pod("vectors-b").up = False  # the route leaves vectors-b out; the function skips it if it fails
        res = await run_query(client, spec(name, route="federated", limit=5), stale)
        assert res.path == FAST_PATH and res.sql_preview.splitlines()[-1].endswith("| true"), res.sql_preview
    mixed = await run_query(client, spec(name, route="federated", limit=30), topo)
    assert {r.pod for r in mixed.rows} == {"vectors-a", "vectors-b"} or len({r.id[0] for r in mixed.rows}) == 1
    view = await run_query(client, spec(name, route="federated", limit=12), without_functions(topo))
    fast = await run_query(client, spec(name, route="federated", limit=12), topo)
    assert view.path == FDW_PATH and "union all" in view.sql_preview
    assert key(fast.rows) == key(view.rows)


def test_cli_says_which_path_ran(estate, wired, tmp_path, capsys):
    name, views = wired.name, wired.views
    cfg = estate.write_config(tmp_path / "vd.yaml")
    rc = cli_main(["--config", str(cfg), "query", "vectors-a", name, "--like", "a7", "--limit", "3",
                   "--route", "primary", "--ef-search", "60", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["path"] == FAST_PATH and doc["rows"][0]["id"] == "a7"
    assert f"{views['vectors-a']}_knn" in doc["sql"] and "Sup3r" not in json.dumps(doc)
    rc = cli_main(["--config", str(cfg), "query", "vectors-a", name, "--like", "a7", "--limit", "3", "--route", "federated"])
    out = capsys.readouterr().out
    assert rc == 0 and f"route federated ({FAST_PATH})" in out and f"{wired.all_fn}()" in out


async def test_without_the_functions_the_routes_are_as_before(estate, client, wired):
    name, views = wired.name, wired.views
    wired.drop()
    try:
        topo = await snapshot(client)
        assert not topo.primary.knn_functions or all(not f.name.startswith(name) for f in topo.primary.knn_functions)
        for route in ("primary", "federated"):
            res = await run_query(client, spec(name, route=route, limit=5, ef_search=7), topo)
            assert res.path == FDW_PATH and len(res.rows) == 5
            assert not any("fast path" in w for w in res.warnings)
            assert any("do not travel through postgres_fdw" in w for w in res.warnings)
        direct = await run_query(client, spec(name, limit=5), topo)
        assert direct.path == ""
    finally:
        await asyncio.to_thread(wired.make)  # the plan runs its own event loop


FILTER_ROWS = [
    {"k": 1}, {"k": 1.0}, {"k": "1"}, {"k": [1]}, {"k": [1, "x"]}, {"k": [[1]]}, {"k": None}, {"k": True}, {"k": {"a": 1}},
    {"k": "x"}, {"k": "X"}, {"k": "x", "j": 2}, {"j": 2}, {}, [1, 2], {"0": 1}, {"k": ["x", 1.5]}, {"k": 1.5},
    *({h: h} for h in HOSTILE), *({"k": h} for h in HOSTILE),
]


def test_fast_filter_means_what_the_sql_filter_means(estate, unique):
    """On every kind of metadata (types, arrays, nesting, missing keys, a top-level array, hostile text):
    `metadata @> doc and metadata @@ path` selects exactly the rows the SQL filter selects."""
    from psycopg.types.json import Jsonb

    from vecdash.service.filters import compile_filter, fast_filter

    filters = [
        {"k": {"$eq": 1}}, {"k": {"$eq": "x"}}, {"k": {"$eq": None}}, {"k": {"$eq": True}}, {"k": {"$contains": 1}},
        {"k": {"$contains": "x"}}, {"k": {"$in": [1, "x", 1.5]}}, {"k": {"$in": [True, "null"]}},
        {"$or": [{"k": {"$eq": 1}}, {"j": {"$eq": 2}}]}, {"$and": [{"k": {"$eq": "x"}}, {"j": {"$in": [2]}}]},
        {"$and": [{"k": {"$contains": "x"}}, {"k": {"$contains": 1.5}}]}, {"0": {"$eq": 1}},
        {"$and": [{"k": {"$eq": 1}}, {"k": {"$in": [1, 2]}}]}, {"$or": [{"$and": [{"k": {"$eq": "x"}}, {"j": {"$eq": 2}}]},
                                                                        {"k": {"$in": [1.0]}}]},
        *({h: {"$in": [h, "z"]}} for h in HOSTILE), *({"k": {"$eq": h}} for h in HOSTILE),
    ]
    table = sql.Identifier(f"ff_{unique}")
    estate.sql("vectors-a", sql.SQL("create table {} (i int, metadata jsonb)").format(table))
    try:
        for i, m in enumerate(FILTER_ROWS):
            estate.sql("vectors-a", sql.SQL("insert into {} values (%s, %s)").format(table), (i, Jsonb(m)))
        for f in filters:
            where, params = compile_filter(f)
            want = estate.sql("vectors-a", sql.SQL("select i from {} where {} order by i").format(table, where),
                              params)
            doc, path = fast_filter(f)
            got = estate.sql("vectors-a", sql.SQL("select i from {} where (%s::jsonb is null or metadata @> %s::jsonb) "
                                                  "and (%s::jsonpath is null or metadata @@ %s::jsonpath) order by i").format(table),
                             (Jsonb(doc) if doc else None, Jsonb(doc) if doc else None, path, path))
            assert got == want, (f, doc, path)
    finally:
        estate.sql("vectors-a", sql.SQL("drop table {}").format(table))
