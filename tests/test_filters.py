"""vecs filter language: same results and rejections as the real vecs client, SQL that ships via FDW.

One vecs collection (created and filled by `vecs` itself, no vector index so both sides are exact)
on vectors-a; the same rows are reached from the primary through hand-written postgres_fdw wiring.
"""

from __future__ import annotations

import random
import re
import uuid
import warnings

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from tests.query_helpers import unwire, wire
from vecdash.db.pods import PodClient
from vecdash.service.filters import FilterError, compile_and_lint, compile_filter, lint, validate
from vecdash.service.query import QuerySpec, run_query

DIM = 4
ROWS = 300
VALUES = [0, 1, 2, 2012, 2013, 2015, -1, 1.5, 2012.0, "x", "y", "abc", "", "X", "é", "2012", True, False, None,
          [1, 2], ["x", "y"], ["x"], [], {}, {"a": 1}, [["x"]], [True], [None], [1.5, "x"], {"a": [1]}]
KEYS = ["k", "year", "tags", "s", "0", "a b", "$nor"]


def _meta(rng: random.Random) -> dict:
    return {k: rng.choice(VALUES) for k in KEYS if rng.random() < 0.75}


@pytest.fixture(scope="module")
def coll(estate):
    """(name, query vector) of a vecs collection built with the vecs client itself."""
    import vecs

    name = f"flt_{uuid.uuid4().hex[:8]}"
    rng = random.Random(4)
    client = vecs.create_client(estate.pods["vectors-a"].sqlalchemy_url())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            col = client.get_or_create_collection(name=name, dimension=DIM)
            col.upsert([(f"r{i}", [rng.uniform(-1, 1) for _ in range(DIM)], _meta(rng)) for i in range(ROWS)])
        yield name, col, [0.3, -0.2, 0.9, 0.1]
    finally:
        client.disconnect()
        estate.sql("vectors-a", sql.SQL("drop table if exists {}").format(sql.Identifier("vecs", name)).as_string(None))


def vecs_ids(col, vector, filters):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return col.query(data=vector, limit=1000, filters=filters, measure="cosine_distance")


def sql_ids(dsn: str, name: str, vector, filters) -> list[str]:
    cond, params = compile_filter(filters)
    stmt = sql.SQL("select id from {} where {} order by vec <=> %s::vector limit 1000").format(
        sql.Identifier("vecs", name), cond)
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [r[0] for r in conn.execute(stmt, params + [str(vector)]).fetchall()]


CORPUS = [
    {"year": {"$eq": 2012}}, {"year": {"$eq": 2012.0}}, {"year": {"$eq": "2012"}}, {"k": {"$eq": "x"}},
    {"k": {"$eq": ""}}, {"k": {"$eq": True}}, {"k": {"$eq": False}}, {"k": {"$eq": None}}, {"k": {"$eq": [1, 2]}},
    {"k": {"$eq": ["x"]}}, {"k": {"$eq": {"a": 1}}}, {"k": {"$eq": []}}, {"k": {"$eq": {}}},
    {"k": {"$ne": "x"}}, {"k": {"$ne": 1}}, {"k": {"$ne": None}}, {"k": {"$ne": [1, 2]}},
    {"year": {"$gt": 2012}}, {"year": {"$gte": 2012}}, {"year": {"$lt": 2013}}, {"year": {"$lte": 1.5}},
    {"k": {"$gt": "x"}}, {"k": {"$lt": "b"}}, {"k": {"$gt": None}}, {"k": {"$gt": True}}, {"k": {"$lt": [1]}},
    {"k": {"$gte": {}}}, {"k": {"$lte": []}},
    {"tags": {"$in": ["x", 1, 2012]}}, {"tags": {"$in": [True]}}, {"tags": {"$in": []}}, {"k": {"$in": [1.5, "y"]}},
    {"tags": {"$contains": "x"}}, {"tags": {"$contains": 1}}, {"tags": {"$contains": True}}, {"tags": {"$contains": 1.5}},
    {"0": {"$gt": 1}}, {"0": {"$eq": [1, 2]}}, {"a b": {"$eq": "x"}}, {"$nor": {"$ne": 1}}, {"missing": {"$ne": 1}},
    {"$and": [{"year": {"$gte": 2012}}, {"k": {"$ne": "x"}}]},
    {"$or": [{"year": {"$eq": 2012}}, {"tags": {"$contains": "x"}}, {"s": {"$in": ["abc", 2]}}]},
    {"$and": [{"$or": [{"k": {"$eq": 1}}, {"k": {"$eq": "y"}}]}, {"$or": [{"year": {"$lt": 2013}}, {"s": {"$eq": None}}]}]},
    {"$and": []}, {"$or": []}, {"$and": [{}]}, {"$or": [{"k": {"$eq": 1}}, {}]}, {"$and": [{"k": {"$eq": 1}}, {}]},
    {"$or": [{"$and": []}, {"k": {"$eq": 1}}]}, {"year": 2012}, {"year": {}}, {}, None,
]

REJECTED = [
    ({"a": {"$eq": 1}, "b": {"$eq": 2}}, "filters: max 1 entry per filter"),
    ({"year": {"$gte2": 1}}, "filters.year: unknown operator $gte2"),
    ({"$and": [{"k": {"$eq": 1}}, {"year": {"$gte2": 2012}}]}, "filters.$and[1].year: unknown operator $gte2"),
    ({"k": {"$eq": 1, "$ne": 2}}, "filters.k: only one operator permitted"),
    ({"k": {"$in": "x"}}, "filters.k.$in: argument to $in filter must be a list"),
    ({"k": {"$in": [1, None]}}, "filters.k.$in[1]: argument to $in filter must be a list of scalars"),
    ({"k": {"$in": [[1]]}}, "filters.k.$in[0]: argument to $in filter must be a list of scalars"),
    ({"k": {"$contains": [1]}}, "filters.k.$contains: argument to $contains filter must be a scalar"),
    ({"k": {"$contains": None}}, "filters.k.$contains: argument to $contains filter must be a scalar"),
    ({"$and": {"k": {"$eq": 1}}}, "filters.$and: $and/$or filters must have an associated list"),
    ({"$or": [1]}, "filters.$or[0]: filters must be a dict"),
    ([{"k": {"$eq": 1}}], "filters: filters must be a dict"),
    ({1: {"$eq": 1}}, "filters: filter keys must be strings"),
    ({"k": {1: 1}}, "filters.k: unknown operator 1"),
    ({"a.b": {"$eq2": 1}}, 'filters["a.b"]: unknown operator $eq2'),
]


@pytest.mark.parametrize("filters", CORPUS, ids=[str(f) for f in CORPUS])
def test_same_rows_and_order_as_vecs(estate, coll, filters):
    name, col, vector = coll
    expected = vecs_ids(col, vector, filters)
    assert sql_ids(estate.dsn("vectors-a"), name, vector, filters) == expected


async def test_service_matches_vecs_on_the_corpus(estate, coll):
    """The whole query path (run_query, direct route, exact) against vecs, on every corpus filter."""
    name, col, vector = coll
    client = PodClient(estate.config())
    try:
        for filters in CORPUS:
            res = await run_query(client, QuerySpec(pod="vectors-a", collection=name, vector=vector, limit=1000,
                                                    filters=filters, exact=True))
            assert [r.id for r in res.rows] == vecs_ids(col, vector, filters), filters
    finally:
        await client.close()


def test_corpus_is_discriminating(estate, coll):
    """The corpus is not vacuous: most filters keep some rows and drop others."""
    name, col, vector = coll
    sizes = [len(vecs_ids(col, vector, f)) for f in CORPUS]
    assert sum(1 for n in sizes if 0 < n < ROWS) >= len(CORPUS) * 0.6


@pytest.mark.parametrize("filters,message", REJECTED, ids=[m for _, m in REJECTED])
def test_same_rejections_as_vecs_with_a_path(coll, filters, message):
    from vecs.exc import FilterError as VecsFilterError

    name, col, vector = coll
    with pytest.raises(VecsFilterError):
        vecs_ids(col, vector, filters)
    with pytest.raises(FilterError) as err:
        validate(filters)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_values_postgres_cannot_store_are_rejected_up_front():
    for bad, where in [({"k": {"$eq": float("nan")}}, "filters.k.$eq"), ({"k": {"$gt": float("inf")}}, "filters.k.$gt"),
                       ({"k": {"$eq": "a\x00b"}}, "filters.k.$eq"), ({"k\x00": {"$eq": 1}}, "filters"),
                       ({"k": {"$in": ["\ud800"]}}, "filters.k.$in[0]")]:
        with pytest.raises(FilterError) as err:
            compile_filter(bad)
        assert str(err.value).startswith(where)


def test_lint_warns_about_vecs_corners():
    assert any("bare value" in w for w in lint({"year": 2012}))
    assert any("matches every row" in w for w in lint({"$or": []}))
    assert lint({"year": {"$eq": 2012}}) == []


@pytest.mark.parametrize("f", [None, {"year": 2012}, {"$or": []}, {"$and": [{"year": {"$gte": 2012}}, {"lang": {"$in": ["en"]}}]}])
def test_compile_and_lint_is_both_in_one_pass(f):
    where, params, warnings = compile_and_lint(f)
    w2, p2 = compile_filter(f)

    def values(ps):  # Jsonb wrappers compare by identity
        return [getattr(x, "obj", x) for x in ps]

    assert (where.as_string(None), values(params), warnings) == (w2.as_string(None), values(p2), lint(f))


# --- property: anything compiles to SQL that runs (or is a FilterError); no input in the SQL text ----

_TOKEN = re.compile(
    r"""\s+|\(|\)|"metadata"|@>|%s::jsonb|%s::text|\[|\]|and|or|<>|<=|>=|<|>|=|true|false|null::boolean|'\{\}'::jsonb""")


def _only_template_tokens(text: str) -> bool:
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            return False
        pos = m.end()
    return True


scalars = st.one_of(st.none(), st.booleans(), st.sampled_from([0, 1, 2012, 2013, -1, 1.5]), st.integers(),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["x", "y", "abc", "", "2012"]),
                    st.text(max_size=12), st.sampled_from(["\x00", "\ud800", "'; drop table x; --", '"]) || $.a']))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
                           max_leaves=5)
keys = st.one_of(st.sampled_from(KEYS + ["$and", "$or", "missing"]), st.text(max_size=8))
ops = st.one_of(st.sampled_from(["$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in", "$contains"]), st.text(max_size=5))
leaves = st.one_of(
    st.builds(lambda k, o, v: {k: {o: v}}, keys, ops, json_values),
    st.builds(lambda k, v: {k: {"$in": v}}, keys, st.lists(scalars, max_size=4)),
    st.builds(lambda k, v: {k: v}, keys, json_values),  # bare value (NULL in vecs)
    st.dictionaries(keys, st.dictionaries(ops, json_values, max_size=2), max_size=2),  # maybe too many entries
)
filters_st = st.recursive(
    leaves,
    lambda inner: st.builds(lambda b, xs: {b: xs}, st.sampled_from(["$and", "$or"]), st.lists(inner, max_size=3))
    | st.lists(inner, max_size=2),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(filters=filters_st)
def test_any_filter_runs_or_is_a_filter_error_and_matches_vecs(estate, coll, filters):
    name, col, vector = coll
    try:
        cond, params = compile_filter(filters)
    except FilterError as exc:
        assert str(exc).startswith("filters")
        with pytest.raises(Exception):  # vecs rejects it too (FilterError, or PostgreSQL at run time)
            vecs_ids(col, vector, filters)
        return
    text = cond.as_string(None)
    assert _only_template_tokens(text), text  # nothing from the input is in the SQL text
    with psycopg.connect(estate.dsn("vectors-a"), autocommit=True) as conn:
        conn.execute(sql.SQL("select count(*) from {} where {}").format(sql.Identifier("vecs", name), cond), params)
    assert sql_ids(estate.dsn("vectors-a"), name, vector, filters) == vecs_ids(col, vector, filters)


# --- pushdown through postgres_fdw --------------------------------------------------------------------


@pytest.fixture(scope="module")
def wired(estate, coll):
    name = coll[0]
    server, schema = f"qf_{uuid.uuid4().hex[:8]}", f"qf_{uuid.uuid4().hex[:8]}"
    wire(estate.dsn("primary"), estate.pods["vectors-a"], server, schema, name, DIM)
    yield schema
    unwire(estate.dsn("primary"), server, schema)


PUSHED = [{"year": {"$eq": 2012}}, {"k": {"$eq": "x"}}, {"k": {"$ne": "x"}}, {"year": {"$gte": 2012}},
          {"year": {"$lt": 2013}}, {"tags": {"$in": ["x", 1]}}, {"tags": {"$contains": "x"}}, {"0": {"$gt": 1}},
          {"$and": [{"year": {"$gt": 2012}}, {"$or": [{"k": {"$eq": "x"}}, {"tags": {"$contains": "y"}}]}]}]


async def test_filters_are_pushed_down_on_the_primary_route(estate, coll, wired):
    """EXPLAIN VERBOSE through the primary's foreign table: WHERE, ORDER BY and LIMIT in the Remote SQL."""
    name, col, vector = coll
    client = PodClient(estate.config())
    try:
        for filters in PUSHED:
            res = await run_query(client, QuerySpec(pod="vectors-a", collection=name, vector=vector, limit=5,
                                                    filters=filters, route="primary", explain=True))
            remote = [l.strip() for l in res.plan.splitlines() if "Remote SQL:" in l]
            assert len(remote) == 1, res.plan
            assert " WHERE " in remote[0] and "ORDER BY" in remote[0], (filters, remote[0])
            if len(filters) == 1 and "0" not in filters and "$and" not in filters:
                # LIMIT pushdown is a cost decision of the primary's planner: with a very selective
                # estimate (two ANDed conditions, or the "metadata is an object" guard of an integer-like
                # key) it may keep the Limit local; the remote ORDER BY still bounds the work to one
                # fetch_size batch, and only filtered rows travel.
                assert " LIMIT " in remote[0], (filters, remote[0])
            assert not any(l.strip().startswith("Filter:") for l in res.plan.splitlines()), res.plan
            assert f"{wired}.{name}" in res.route_detail
            # and the rows are the right ones
            direct = await run_query(client, QuerySpec(pod="vectors-a", collection=name, vector=vector, limit=5,
                                                       filters=filters))
            assert [r.id for r in res.rows] == [r.id for r in direct.rows] == vecs_ids(col, vector, filters)[:5]
    finally:
        await client.close()


def test_vecs_own_sql_form_is_not_pushed_down(estate, coll, wired):
    """Why the subscript form: `metadata -> 'k'` (vecs' form) stays on the primary as a local Filter."""
    name = coll[0]
    with psycopg.connect(estate.dsn("primary"), autocommit=True) as conn:
        plan = "\n".join(r[0] for r in conn.execute(sql.SQL(
            "explain verbose select id from {} where metadata -> 'k' = %s::jsonb order by vec <=> %s::vector limit 5"
        ).format(sql.Identifier(wired, name)), ['"x"', "[1,0,0,0]"]).fetchall())
    assert "Filter:" in plan and " LIMIT " not in next(l for l in plan.splitlines() if "Remote SQL" in l)

