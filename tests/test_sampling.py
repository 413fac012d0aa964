"""One sampler for the metadata keys and the map (service/sampling.py): a stale row estimate still gives
both a full sample.

Two tables on vectors-a, autovacuum off so their estimates stay as made: `shrunk` was analysed at 20,000
rows, then 19 in 20 deleted (its pages remain: TABLESAMPLE at the share the estimate asks finds a few
rows); `grown` was analysed at 100 rows, then 20,000 more inserted (the estimate says small). Each is
sampled by `keys` and by the map; both read the sample asked for and say how.
"""

from __future__ import annotations

import uuid

import pytest
from psycopg import sql

from tests.hostile_data import HOSTILE
from vecdash.db.pods import PodClient
from vecdash.model import Collection
from vecdash.service.keys import sample_keys
from vecdash.service.projection import collection_map
from vecdash.service.sampling import Method, choose

POD = "vectors-a"
SAMPLE = 200


def _fill(estate, name: str, first: int, last: int) -> None:
    estate.sql(POD, f"""
        insert into vecs.{name}
        select 'r' || i, array[i %% 7, 1, 2, 3, 4, 5, 6, i %% 5]::real[]::vector(8),
               jsonb_build_object('k', (%s::text[])[1 + i %% %s], 'n', i)
        from generate_series({first}, {last}) i
    """, (list(HOSTILE), len(HOSTILE)))


@pytest.fixture(scope="module")
def stale(estate):
    """{"shrunk": name, "grown": name}: tables whose row estimates are stale, one each way."""
    names = {kind: f"stale_{kind}_{uuid.uuid4().hex[:6]}" for kind in ("shrunk", "grown")}
    estate.sql(POD, "create schema if not exists vecs")
    for name in names.values():
        estate.sql(POD, f"create table vecs.{name} (id varchar primary key, vec vector(8) not null, "
                        f"metadata jsonb not null default '{{}}') with (autovacuum_enabled = false)")
    _fill(estate, names["shrunk"], 1, 20_000)
    estate.sql(POD, f"analyze vecs.{names['shrunk']}")
    estate.sql(POD, f"delete from vecs.{names['shrunk']} where (substr(id, 2))::int % 20 <> 0")
    _fill(estate, names["grown"], 1, 100)
    estate.sql(POD, f"analyze vecs.{names['grown']}")
    _fill(estate, names["grown"], 101, 20_100)
    yield names
    for name in names.values():
        estate.sql(POD, f"drop table vecs.{name}")


@pytest.mark.parametrize("kind", ["shrunk", "grown"])
async def test_a_stale_estimate_still_gives_keys_and_the_map_a_full_sample(estate, stale, kind):
    client = PodClient(estate.config(names=[POD]))
    try:
        report = await sample_keys(client, POD, stale[kind], sample=SAMPLE)
        cmap = await collection_map(client, POD, stale[kind], sample=SAMPLE)
    finally:
        await client.close()
    assert report.sampled == SAMPLE and len(cmap.ids) == len(set(cmap.ids)) == SAMPLE
    assert {k.key: k.present for k in report.keys} == {"k": SAMPLE, "n": SAMPLE}
    # one rule, one wording: a stale estimate read again at random among the first rows, said so
    assert report.method == cmap.sampled, (report.method, cmap.sampled)
    if kind == "shrunk":
        assert report.method == f"{SAMPLE} rows at random of the first {4 * SAMPLE} (the row estimate was stale: ANALYZE)"
    else:
        assert report.method == f"{SAMPLE} rows at random of the first {4 * SAMPLE}"


@pytest.fixture(scope="module")
def dense(estate):
    """A correctly analysed table of many small rows a page (about 200): a sample of a few rows asks
    TABLESAMPLE for a share of a page, so it reads a page or none, by chance."""
    name = f"dense_{uuid.uuid4().hex[:6]}"
    estate.sql(POD, "create schema if not exists vecs")
    estate.sql(POD, f"create table vecs.{name} (id int primary key, vec vector(1) not null, metadata jsonb not null)")
    estate.sql(POD, f"insert into vecs.{name} select i, '[1]', '{{}}' from generate_series(1, 40000) i")
    estate.sql(POD, f"analyze vecs.{name}")
    yield name
    estate.sql(POD, f"drop table vecs.{name}")


async def test_a_short_tablesample_of_an_analysed_table_is_not_blamed_on_the_estimate(estate, dense):
    client = PodClient(estate.config(names=[POD]))
    try:
        report = await sample_keys(client, POD, dense, sample=5)
        maps = [await collection_map(client, POD, dense, sample=5, seed=s) for s in range(8)]
    finally:
        await client.close()
    said = [report.method] + [m.sampled for m in maps]
    assert report.sampled == 5 and all(len(m.ids) == 5 for m in maps), said
    assert not any("stale" in w or "ANALYZE" in w for w in said), said
    # some came back short (no page read), said as it was
    assert any(w == "5 rows at random of the first 20 (tablesample returned 0 of 5)" for w in said), said


async def test_a_keys_or_map_read_leaves_the_pooled_session_random(estate, stale):
    """The sample is drawn without setseed: `order by random()` on the pooled session after it (the
    workbench's random row) gives other rows each time."""
    client = PodClient(estate.config(names=[POD]))

    async def at_random(conn):
        cur = await conn.execute(sql.SQL("select id from {} order by random() limit 5").format(
            sql.Identifier("vecs", stale["grown"])))
        return await cur.fetchall()

    try:
        after = []
        for _ in range(2):
            await sample_keys(client, POD, stale["grown"], sample=SAMPLE)
            after.append(await client.run(POD, at_random))
            await collection_map(client, POD, stale["grown"], sample=SAMPLE, seed=7)
            after.append(await client.run(POD, at_random))
    finally:
        await client.close()
    assert len({tuple(a) for a in after}) == 4, after


def test_the_words_say_how_many_rows_came_back():
    coll = Collection(pod="p", schema="vecs", name="t", column="vec", type="vector", dimension=4,
                      rows_estimate=100_000, has_metadata=True, table_bytes=50 << 20)
    method = choose(coll, 100)
    assert method == Method("system", 100, pct=0.2)
    assert method.words(73) == "tablesample system (0.2%), 73 rows at random"
