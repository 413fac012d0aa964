"""The console at fleet scale on FIXED data (tests/tui_data.py: 200 tagged pods, 5 collections each,
`live=False`): the tree starts with pods collapsed under their first tag and keeps its state across
refreshes, the filter reaches collections in closed pods, and the Collections pane (`5`) lists,
sorts, searches and jumps to the tree. Small estates keep the tree as it was (the other snapshots).
Update the snapshots after a deliberate change with --snapshot-update and look at the SVGs."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import DataTable

from vecdash.lines import one_line
from vecdash.model import Collection, Index, PodStatus
from vecdash.tui.app import VecdashApp
from vecdash.tui.widgets.collections import CollectionsPane
from vecdash.tui.widgets.collections_rows import SORTS
from vecdash.tui.widgets.topology import GROUP_OVER, Ref, TopologyTree

from .hostile_data import HOSTILE
from .test_tui_snapshots import console as small_console
from .tui_data import FLEET_TAGS, fleet_config, fleet_topology

WIDE = (120, 40)
SMALL = (80, 24)


def fleet(topology=None) -> VecdashApp:
    return VecdashApp(fleet_config(), topology=topology or fleet_topology(), live=False)


def shown(tree: TopologyTree) -> list[tuple]:
    """The keys of the tree's lines on screen (open nodes' children included), top to bottom."""
    return [line.node.data.key for line in tree._tree_lines]


def rows(app) -> list[str]:
    table = app.query_one("#coll-table", DataTable)
    return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]


async def collections_pane(pilot) -> CollectionsPane:
    await pilot.press("5")
    await pilot.pause()
    return pilot.app.query_one(CollectionsPane)


# --- snapshots ------------------------------------------------------------------------------------

def test_fleet_tree_grouped_80x24(snap_compare):
    """The primary on top, one closed group per tag with its up / down / collection / pod counts."""
    assert snap_compare(fleet(), terminal_size=SMALL)


def test_collections_table_120x40(snap_compare):
    """Sorted by warnings: the invalid index and the index over shared_buffers on top, the highlighted
    row's warnings in full under the table."""

    async def run_before(pilot) -> None:
        pane = await collections_pane(pilot)
        while SORTS[pane.sort][0] != "warnings":
            await pilot.press("o")
        await pilot.pause()

    assert snap_compare(fleet(), terminal_size=WIDE, run_before=run_before)


# --- the tree -------------------------------------------------------------------------------------

async def test_a_large_estate_starts_collapsed_grouped_by_first_tag():
    app = fleet()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        tree = app.query_one(TopologyTree)
        assert tree.grouped and len(fleet_config().pods) > GROUP_OVER
        tags = sorted(FLEET_TAGS) + ["untagged"]
        assert shown(tree) == [("pod", "primary", "", "")] + [("tag", "", "", t) for t in tags]
        assert "gpu" not in {k[3] for k in shown(tree)}  # a second tag makes no second group
        label = str(tree._find(("tag", "", "", "eu-west")).label)
        assert "●39" in label and "✖4" in label and "195 coll." in label and "43 pods" in label
        assert tree.select_ref(Ref("pod", "pod-000"))  # first tag eu-west (it also has gpu)
        await pilot.pause()
        assert tree.cursor_node.parent.data.key == ("tag", "", "", "eu-west")
        assert not tree.cursor_node.is_expanded  # the pod opened its group, not itself


async def test_a_small_estate_is_expanded_as_before():
    app = small_console()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        tree = app.query_one(TopologyTree)
        assert not tree.grouped
        keys = shown(tree)
        assert not [k for k in keys if k[0] == "tag"]
        assert ("collection", "vectors-a", "vecs", "docs") in keys  # every pod open


async def test_the_filter_finds_a_collection_inside_a_collapsed_pod():
    topo = fleet_topology()
    pod = topo.pod("pod-150")
    pod.collections.append(replace(pod.collections[0], name="needle_in_fleet"))
    app = fleet(topo)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        tree = app.query_one(TopologyTree)
        needle = ("collection", "pod-150", "vecs", "needle_in_fleet")
        assert needle not in shown(tree)
        await pilot.press("slash", *"needle", "enter")
        await pilot.pause()
        keys = shown(tree)
        assert needle in keys
        assert [k for k in keys if k[0] == "pod"] == [("pod", "pod-150", "", "")]  # pods without a match hidden
        assert tree.select_ref(Ref(*needle))
        await pilot.press("slash", "escape")  # clear the filter: the found collection stays in view
        await pilot.pause()
        assert tree.selected_ref.key == needle and needle in shown(tree)
        assert ("collection", "pod-154", "vecs", "docs") not in shown(tree)  # its neighbours closed again


async def test_open_nodes_and_the_selection_survive_refreshes():
    app = fleet()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        tree = app.query_one(TopologyTree)
        docs = Ref("collection", "pod-017", "vecs", "docs")
        assert tree.select_ref(docs)  # opens us-east and pod-017
        await pilot.pause()
        tree._find(("tag", "", "", "staging")).expand()  # opened by hand
        await pilot.pause()
        before = shown(tree)
        for _ in range(2):
            tree.show(fleet_topology())  # a new Topology, same estate: relabelled in place
            await pilot.pause()
        assert shown(tree) == before
        assert tree.selected_ref == docs
        grown = fleet_topology()  # a collection arrived on the open pod: the tree is rebuilt
        grown.pod("pod-017").collections.append(replace(grown.pod("pod-017").collections[0], name="arrived"))
        for _ in range(2):
            tree.show(grown)
            await pilot.pause()
        assert sorted(shown(tree)) == sorted(before + [("collection", "pod-017", "vecs", "arrived")])
        assert tree.selected_ref == docs
        tree._find(("tag", "", "", "staging")).collapse()
        await pilot.pause()
        tree.show(fleet_topology())
        await pilot.pause()
        assert ("pod", "pod-002", "", "") not in shown(tree)  # closed by hand stays closed
        assert tree.selected_ref == docs


async def test_pods_answering_in_batches_are_added_not_rebuilt():
    """A first refresh: each batch of answers adds its pods to the tree; the nodes already there stay
    (the same objects), the cursor stays on its collection, and the end is the tree of the whole estate."""
    topo = fleet_topology()
    docs = Ref("collection", "pod-017", "vecs", "docs")
    app = fleet(replace(topo, pods=topo.pods[:20]))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        tree = app.query_one(TopologyTree)
        assert tree.select_ref(docs)
        await pilot.pause()
        for k in (60, 61, 150, len(topo.pods)):
            before = {n.data.key: n for n in tree.root.children}
            tree.show(replace(topo, pods=topo.pods[:k]))
            await pilot.pause()
            kept = [key for key, node in before.items() if tree._find(key) is node]
            assert len(kept) >= len(before) - 1, (k, sorted(set(before) - set(kept)))  # the open group at most
            assert tree.selected_ref == docs
        grown = shown(tree)
    app = fleet(topo)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        tree = app.query_one(TopologyTree)
        assert tree.select_ref(docs)
        await pilot.pause()
        assert shown(tree) == grown


# --- the collections table ------------------------------------------------------------------------

async def test_the_table_lists_every_collection_sorts_and_searches():
    app = fleet()
    async with app.run_test(size=WIDE) as pilot:
        pane = await collections_pane(pilot)
        every = rows(app)
        topo = app.topology
        assert len(every) == sum(len(p.collections) for p in topo.pods if p.up) == 925
        by_rows = [pane.rows[k].c.rows_estimate for k in every]
        assert by_rows == sorted(by_rows, reverse=True)
        await pilot.press("o")  # rows -> size
        await pilot.pause()
        assert SORTS[pane.sort][0] == "size"
        sizes = [pane.rows[k].c.total_bytes for k in rows(app)]
        assert sizes == sorted(sizes, reverse=True)
        # a click on the pod header sorts by pod; a second one the other way round
        table = app.query_one("#coll-table", DataTable)
        await pilot.click(table, offset=(2, 0))
        await pilot.pause()
        pods = [pane.rows[k].pod.name for k in rows(app)]
        assert SORTS[pane.sort][0] == "pod" and pods == sorted(pods)
        await pilot.click(table, offset=(2, 0))
        await pilot.pause()
        assert [pane.rows[k].pod.name for k in rows(app)] == sorted(pods, reverse=True)
        # search: `/` on this pane types into its filter box
        await pilot.press("slash", *"invalid")
        await pilot.pause()
        hits = [pane.rows[k] for k in rows(app)]
        assert [(r.pod.name, r.c.name) for r in hits] == [("pod-002", "docs")]
        assert "✖" in hits[0].index and "invalid index" in hits[0].words
        assert "1/925 collections" in str(pane.query_one("#coll-status").render())


async def test_enter_on_a_row_shows_the_collection_in_the_tree():
    app = fleet()
    async with app.run_test(size=WIDE) as pilot:
        pane = await collections_pane(pilot)
        await pilot.press("slash", *"pod-123", "enter")  # enter in the box: on to the table
        await pilot.pause()
        table = app.query_one("#coll-table", DataTable)
        assert table.has_focus
        table.move_cursor(row=rows(app).index(repr(("pod-123", "vecs", "faq"))))
        await pilot.press("enter")
        await pilot.pause()
        tree = app.query_one(TopologyTree)
        ref = Ref("collection", "pod-123", "vecs", "faq")
        assert tree.selected_ref == ref and app.selected == ref
        assert ref.key in shown(tree)  # its group and pod opened
        assert app.active_pane == "stats" and tree.has_focus
        assert "faq" in str(app.query_one("#stats-body").render())
        assert pane.rows  # the pane keeps its table


async def test_hostile_names_are_literal_in_the_table():
    mb = 1024 * 1024
    pods = []
    for n, h in enumerate(HOSTILE):
        colls = [Collection(pod=h, schema=h, name=h, column="vec", type="vector", dimension=4, rows_estimate=5000,
                            indexes=[Index(name=h, method="hnsw", column="vec", opclass="vector_cosine_ops",
                                           measure="cosine", bytes=200 * mb, valid=n % 2 == 0)])]
        pods.append(PodStatus(name=h, role="secondary", up=True, latency_ms=1.0, shared_buffers_bytes=128 * mb,
                              collections=colls))
    topo = replace(fleet_topology(2), pods=pods)
    app = VecdashApp(fleet_config(2), topology=topo, live=False)
    async with app.run_test(size=WIDE) as pilot:
        pane = await collections_pane(pilot)
        table = app.query_one("#coll-table", DataTable)
        assert len(rows(app)) == len(HOSTILE)
        for key in rows(app):
            r = pane.rows[key]
            cells = table.get_row(key)
            for value, cell in zip((r.pod.name, r.c.schema, r.c.name), cells[:3]):
                assert cell.plain == one_line(value)[:28], (value, cell.plain)
        await pilot.press("slash", *"[bold]x")
        await pilot.pause()
        (key,) = rows(app)
        assert pane.rows[key].c.name == "[bold]x"
        detail = str(pane.query_one("#coll-detail").render())
        assert "[bold]x · [bold]x.[bold]x" in detail and "index [bold]x is invalid" in detail


async def test_the_stats_pane_follows_the_filter_when_the_cursor_stays_on_its_line():
    """Typing a filter puts another pod on the cursor's line (line 0 each time here): the Stats pane
    describes that pod, not the one that was on the line before."""
    cfg = fleet_config()
    cfg = replace(cfg, pods=tuple(replace(p, tags=()) for p in cfg.pods))  # no groups: pods on line 0
    app = VecdashApp(cfg, topology=fleet_topology(), live=False)
    async with app.run_test(size=WIDE) as pilot:
        tree = app.query_one(TopologyTree)
        await pilot.press("slash")
        for text, pod in (("pod-1", "pod-100"), ("pod-19", "pod-190"), ("pod-199", "pod-199")):
            app.query_one("#tree-filter").value = text
            await pilot.pause()
            assert tree.selected_ref == Ref("pod", pod) and tree.cursor_line == 0
            assert app.selected == Ref("pod", pod)
            body = str(app.query_one("#stats-body").render())
            assert body.splitlines()[0].startswith(pod), body[:80]


async def test_keys_typed_with_the_slash_land_in_the_filter():
    """`/` then a name typed at once (as a terminal sends them): the name is the filter. Textual's
    focus() moved the focus only after the keys already queued, so they went to the tree, where `p`,
    `o`, `d` are commands."""
    from .test_tui_data import typed_at_once

    app = fleet()
    async with app.run_test(size=WIDE) as pilot:
        before = app.active_pane
        typed_at_once(app, "/pod-199")
        await pilot.pause()
        assert app.query_one("#tree-filter").value == "pod-199"
        assert app.active_pane == before and app.screen is app.screen_stack[0]
        await pilot.press("escape")  # back to the tree, where digits are keys again
        typed_at_once(app, "5/docs")  # the Collections pane's own filter, the same way
        await pilot.pause()
        assert app.active_pane == "collections" and app.query_one("#coll-filter").value == "docs"
        assert app.focused is app.query_one("#coll-filter")  # not taken by the table the pane focuses


async def test_a_filter_hides_pods_where_nothing_matches_and_selects_what_it_names():
    """On a small estate too (ungrouped), `/images` leaves the pods holding an `images` collection and
    puts the cursor on the collection itself, so `m`, `q`, `p` act on it; esc brings every pod back."""
    app = small_console()
    async with app.run_test(size=WIDE) as pilot:
        tree = app.query_one(TopologyTree)
        await pilot.press("slash", *"images")
        await pilot.pause()
        assert [k for k in shown(tree) if k[0] == "pod"] == [("pod", "vectors-b", "", "")]
        assert tree.selected_ref == Ref("collection", "vectors-b", "vecs", "images")
        assert app.selected == tree.selected_ref
        await pilot.press("escape")
        await pilot.pause()
        assert {k[1] for k in shown(tree) if k[0] == "pod"} == {"primary", "vectors-a", "vectors-b"}
        assert tree.selected_ref == Ref("collection", "vectors-b", "vecs", "images")  # kept, in view


def filter_then(app, key: str) -> None:
    """`/images`, enter and `key`, typed at once (as a terminal sends them when typed fast)."""
    from textual import events

    from .test_tui_data import typed_at_once

    typed_at_once(app, "/images")
    app._driver.send_message(events.Key("enter", "\r"))
    typed_at_once(app, key)


async def test_keys_typed_after_enter_in_a_filter_go_where_enter_sends_the_keyboard():
    """`/images⏎2` typed at once: the filter is `images` and `2` switches to the Wiring pane, as it
    does on the tree. They used to reach the box before enter's binding moved the focus: `images2`."""
    app = small_console()
    async with app.run_test(size=WIDE) as pilot:
        filter_then(app, "2")
        await pilot.pause()
        assert app.query_one("#tree-filter").value == "images"
        assert app.focused is app.query_one(TopologyTree) and app.active_pane == "wiring"
        assert app.query_one(TopologyTree).selected_ref == Ref("collection", "vectors-b", "vecs", "images")


async def test_a_key_typed_with_the_filter_acts_on_what_the_filter_selected():
    """`/images⏎m` typed at once maps `images`: the command reads the tree's cursor, not the app's
    selection, which follows it by message one step behind (it said "select a collection first")."""
    from vecdash.tui.screens.collection_map import MapScreen

    app = small_console()
    async with app.run_test(size=WIDE) as pilot:
        filter_then(app, "m")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MapScreen), [n.message for n in app._notifications]
        assert (screen.pod, screen.schema, screen.collection) == ("vectors-b", "vecs", "images")
