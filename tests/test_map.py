"""The map of a collection (service/projection.py, ConsoleApi.collection_map, MapScreen, key `m`).

On a real pod: a collection of two well-separated clusters (metadata values that look like markup),
opened with `m` from the workbench after a query in a read-only console: the clusters' x ranges do not
overlap, the query's neighbours are marked, the legend shows the values literally. The sample is
bounded and repeatable. Without a database: the PCA against a full SVD, the legend's cap, `m` absent
from a replay, the plotting library not imported with the console, and an 80x24 snapshot on fixed data.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from psycopg import sql

from vecdash.db.pods import PodClient
from vecdash.model import Collection
from vecdash.service.projection import LEGEND, colour_by, collection_map, make_map, principal_axes
from vecdash.tui import actions

from .hostile_data import HOSTILE

POD = "vectors-a"
ROWS = 600
DIM = 16
SIDES = ("m[/]", "[bold]x")  # cluster 0, cluster 1: the `side` key's values
# the `n` key's values (every fourth row, 25 rows each): numbers, booleans and strings that read alike
MIXED = (0, "0", True, "true", "a'b\"c", "new\nline")
MIXED_LEGEND = ('0', '"0"', 'true', '"true"', '"a\'b\\"c"', '"new\\nline"')  # strings quoted as JSON


@pytest.fixture(scope="module")
def two_clusters(estate):
    """vecs.map_<n>: ROWS rows in two clusters along the first axis (+3 / -3, noise 0.3), `side` naming
    the cluster, a hostile `note` on every third row, an `n` of MIXED types on every fourth."""
    import uuid

    name = f"map_{uuid.uuid4().hex[:6]}"
    estate.sql(POD, f"""
        create schema if not exists vecs;
        create table vecs.{name} (id varchar primary key, vec vector({DIM}) not null,
                                  metadata jsonb not null default '{{}}')
    """)
    estate.sql(POD, f"""
        insert into vecs.{name}
        select 'r' || i,
               (select array_agg(case when j = 1 then (case when i %% 2 = 0 then 3 else -3 end) else 0 end
                                 + (random() - 0.5) * 0.6)::vector({DIM})
                from generate_series(1, {DIM}) j where i >= 0),
               jsonb_build_object('side', (%s::text[])[1 + i %% 2])
               || case when i %% 3 = 0 then jsonb_build_object('note', (%s::text[])[1 + (i / 3) %% %s])
                       else '{{}}' end
               || case when i %% 4 = 1 then jsonb_build_object('n', %s::jsonb -> ((i / 4) %% %s))
                       else '{{}}' end
        from generate_series(0, {ROWS - 1}) i
    """, (list(SIDES), list(HOSTILE), len(HOSTILE), json.dumps(MIXED), len(MIXED)))
    estate.sql(POD, f"analyze vecs.{name}")
    yield name
    estate.sql(POD, f"drop table vecs.{name}")


async def until(pilot, cond, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def sides(cmap) -> tuple[np.ndarray, np.ndarray]:
    """The x of each cluster's points."""
    side = np.array([m["side"][1] for m in cmap.metadata])
    return cmap.xy[side == SIDES[0], 0], cmap.xy[side == SIDES[1], 0]


async def test_map_from_the_workbench_separates_the_clusters_and_marks_the_neighbours(estate, two_clusters):
    from vecdash.tui.app import VecdashApp
    from vecdash.tui.screens.collection_map import MapScreen
    from vecdash.tui.widgets.topology import Ref, TopologyTree
    from vecdash.tui.widgets.workbench import WorkbenchPane

    app = VecdashApp(estate.config(names=["primary", POD], read_only=True))  # the map only reads
    async with app.run_test(size=(100, 34)) as pilot:
        await until(pilot, lambda: app.topology is not None, "first refresh")
        assert app.query_one(TopologyTree).select_ref(Ref("collection", POD, "vecs", two_clusters))
        await pilot.press("q")
        bench = app.query_one(WorkbenchPane)
        bench.run(app.api.query_spec(pod=POD, collection=two_clusters, like_id="r0", limit=10))
        await until(pilot, lambda: bench.last_result is not None, "the query")
        result = bench.last_result
        await pilot.press("escape", "m")  # out of the filter box (`q` put the cursor there), then the map
        await until(pilot, lambda: isinstance(app.screen, MapScreen) and app.screen.cmap is not None, "the map")
        screen = app.screen
        cmap = screen.cmap
        assert len(cmap.ids) == ROWS and cmap.sampled == "every row"
        a, b = sides(cmap)
        assert len(a) == len(b) == ROWS // 2
        assert a.min() > b.max() or b.min() > a.max(), "the clusters' x ranges overlap"
        # the query (row r0, cluster 0) and its 10 neighbours are marked, on cluster 0's side
        assert [n.id for n in cmap.neighbours] == [r.id for r in result.rows]
        assert [n.rank for n in cmap.neighbours] == list(range(1, 11)) and cmap.neighbours_missing == 0
        lo, hi = (a.min(), a.max())
        assert lo <= cmap.query[0] <= hi and all(lo <= n.x <= hi for n in cmap.neighbours)
        drawn = [(d.marker, d.hires_mode, len(d.x)) for d in screen.query_one("#map-plot")._datasets]
        assert drawn[-2:] == [("o", None, 10), ("◆", None, 1)]  # over the sample's braille dots
        assert "10 nearest" in str(screen.query_one("#map-query").render())
        # coloured by `side` (2 values, every row); the legend shows the values as they are
        assert screen.colouring.key == "side"
        legend = str(screen.query_one("#map-legend").render())
        assert all(f"{v} {ROWS // 2}" in legend for v in SIDES), legend
        await pilot.press("c")  # the next key: `note`, hostile values, most beyond the legend
        await pilot.pause(0.2)
        assert screen.colouring.key == "note"
        legend = str(screen.query_one("#map-legend").render())
        shown = [c.label for c in screen.colouring.categories if c.kind == "value"]
        assert len(shown) == LEGEND and all(v.replace("\n", "\\n") in legend for v in shown), legend
        assert "(no key)" in legend and "other" in legend
        await pilot.press("c")  # `n`: the number 0 and the string "0" tell apart, hostile strings too
        await pilot.pause(0.2)
        assert screen.colouring.key == "n"
        legend = str(screen.query_one("#map-legend").render())
        share = ROWS // 4 // len(MIXED)
        assert sorted(c.label for c in screen.colouring.categories if c.kind == "value") == sorted(MIXED_LEGEND)
        assert all(f"{v} {share}" in legend for v in MIXED_LEGEND), legend
        before = [d.marker_style for d in screen.query_one("#map-plot")._datasets]
        app.theme = "textual-light"  # (the palette's theme command): the dots are drawn again in its colours
        await pilot.pause(0.2)
        assert [d.marker_style for d in screen.query_one("#map-plot")._datasets] != before
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, MapScreen), "the map to close")



async def test_a_map_that_cannot_be_read_says_why_and_the_console_goes_on(estate):
    from textual.app import App

    from vecdash.service.console_api import ConsoleApi
    from vecdash.tui.screens.collection_map import MapScreen

    api = ConsoleApi(estate.config(names=[POD]))
    app = App()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = MapScreen(api, POD, "vecs", "[bold]nope")
            app.push_screen(screen)
            await pilot.pause()
            status = screen.query_one("#map-status")
            await until(pilot, lambda: "failed" in str(status.render()), "the failure")
            assert "map failed: no collection vecs.[bold]nope on pod vectors-a" in str(status.render())
            assert app.screen is screen and app.is_running
    finally:
        await api.close()

def test_the_sample_is_bounded_repeatable_and_names_missing_neighbours(estate, two_clusters):
    async def go():
        client = PodClient(estate.config(names=[POD]))
        try:
            maps = [await collection_map(client, POD, two_clusters, sample=100, seed=s,
                                         neighbour_ids=["r1", "nope", "r3"]) for s in (5, 5, 6)]
        finally:
            await client.close()
        return maps

    first, again, other = asyncio.run(go())
    assert first.sampled == "100 rows at random of a small table, read whole" and len(first.ids) == 100
    assert first.ids == again.ids and first.ids != other.ids
    assert [(n.id, n.rank) for n in first.neighbours] == [("r1", 1), ("r3", 3)] and first.neighbours_missing == 1
    a, b = sides(first)
    assert a.min() > b.max() or b.min() > a.max()


# --- no database ---------------------------------------------------------------------------------


def clustered(n: int, d: int, centres: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, d)) * 3
    which = np.arange(n) % centres
    return c[which] + rng.standard_normal((n, d)) * 0.5, which


def test_pca_matches_a_full_svd():
    x, _ = clustered(400, 200, 12, seed=1)
    x -= x.mean(axis=0)
    axes, share = principal_axes(x)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    assert np.allclose(np.abs((axes * vt[:2]).sum(axis=1)), 1, atol=1e-6)
    assert np.allclose(share, s[:2] ** 2 / (s ** 2).sum(), rtol=1e-6)
    assert (axes[np.arange(2), np.abs(axes).argmax(axis=1)] > 0).all()  # signs fixed: the same data maps the same way


def test_the_legend_keeps_the_most_common_values_then_absent_then_other():
    coll = Collection("p", "vecs", "c", "vec", "vector", 4)
    meta = [{"k": f"v{i % 12}"} if i % 10 else {} for i in range(240)]
    cmap = make_map(coll, list(range(240)), np.random.default_rng(0).standard_normal((240, 4)), meta)
    c = colour_by(cmap, "k")
    kinds = [x.kind for x in c.categories]
    assert kinds == ["value"] * LEGEND + ["absent", "other"]
    assert sum(x.count for x in c.categories) == 240 and c.categories[LEGEND].count == 24
    # v0, v2, ... lose the rows without the key: v1 (20 rows) is in the legend, v2 (16) among `other`
    assert [c.categories[i].kind for i in c.index[:3]] == ["absent", "value", "other"]
    assert c.categories[c.index[1]].label == "v1"
    assert colour_by(cmap, None).categories[0].count == 240


def test_the_legend_quotes_strings_only_beside_other_json_types():
    coll = Collection("p", "vecs", "c", "vec", "vector", 4)
    values = [0, "0", None, "null", [1], "[1]", "x", 1.5]
    meta = [{"mixed": v, "text": f"t{i % 2}", "nums": i % 2} for i, v in enumerate(values)]
    cmap = make_map(coll, list(range(len(values))), np.random.default_rng(0).standard_normal((len(values), 4)), meta)
    assert sorted(c.label for c in colour_by(cmap, "mixed").categories) == sorted(
        ['0', '"0"', 'null', '"null"', '[1]', '"[1]"', '"x"', '1.5'])
    assert sorted(c.label for c in colour_by(cmap, "text").categories) == ["t0", "t1"]  # strings only: as they are
    assert sorted(c.label for c in colour_by(cmap, "nums").categories) == ["0", "1"]


def test_m_is_a_live_action_absent_from_a_replay_present_read_only():
    names = {a.name for a in actions.available(read_only=True)}
    assert "collection_map" in names
    assert "collection_map" not in {a.name for a in actions.available(read_only=True, replay=True)}
    assert actions.by_name("collection_map").key == "m"


def test_the_console_does_not_import_the_plotting_library():
    code = "import sys, vecdash.tui.app\nprint('textual_plot' in sys.modules, 'textual_hires_canvas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["False", "False"]


def fixed_map():
    """Three clusters of 16-d vectors (fixed seed), a `lang` key, a query in the first cluster and its
    five nearest rows: the snapshot's data, made without a database."""
    x, which = clustered(450, 16, 3, seed=7)
    langs = ("en", "de", "[ja]")
    meta = [{"lang": langs[w], "n": int(i)} for i, w in enumerate(which)]
    query = x[0] + 0.1
    near = np.argsort(((x - query) ** 2).sum(axis=1))[:5]
    coll = Collection("vectors-a", "vecs", "docs", "vec", "vector", 16, rows_estimate=10_000)
    return make_map(coll, [f"doc-{i}" for i in range(450)], x, meta, query_vector=query,
                    neighbours=[(f"doc-{i}", x[i]) for i in near], sampled="TABLESAMPLE 9%")


def test_map_80x24(snap_compare):
    from vecdash.tui.screens.collection_map import LastQuery, MapScreen

    from .test_tui_snapshots import SMALL, console

    app = console()
    cmap = fixed_map()

    async def open_map(pilot) -> None:
        query = LastQuery(None, [n.id for n in cmap.neighbours], "like doc-0")
        pilot.app.push_screen(MapScreen(pilot.app.api, "vectors-a", "vecs", "docs", query=query, cmap=cmap))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SMALL, run_before=open_map)


@pytest.mark.parametrize("estimate", [None, -1, 0])
def test_a_table_never_analysed_is_mapped_from_its_first_rows_and_says_so(estimate):
    """No row estimate yet (right after a load): no share to sample, so at random among the first rows,
    said so (it was `tablesample system (100)`, worded as a 1e+02% sample)."""
    from vecdash.service.sampling import choose, statement

    coll = Collection(pod="p", schema="vecs", name="fresh", column="vec", type="vector", dimension=4,
                      rows_estimate=estimate, has_metadata=True, table_bytes=50 << 20)
    method = choose(coll, 100)
    stmt, params = statement(coll, sql.SQL("id"), method, seed=1)
    assert "tablesample" not in repr(stmt).lower() and params == [400, 1, 100]
    assert method.words(100) == "100 rows at random of the first 400 (no statistics yet: ANALYZE)"
