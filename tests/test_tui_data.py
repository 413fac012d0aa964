"""The data itself in the console, driven by keys against REAL pods: the record detail (a hostile row
whole and literal, the id and JSON copied), browse (pages forward and back, a bad filter runs nothing,
the bounded count), a metadata key's value into the workbench filter and a query that then matches it,
export that round-trips and asks before overwriting, a down pod said on each screen, and the keys
absent in a replay (browse and export run read-only). One collection for the module, on the shared
estate."""

from __future__ import annotations

import csv
import json
import uuid

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.types.json import Jsonb
from textual import events
from textual.keys import _character_to_key

from vecdash.config import PodConfig
from vecdash.lines import one_line
from vecdash.tui import actions
from vecdash.tui.app import VecdashApp
from vecdash.tui.messages import RecordRef
from vecdash.tui.screens.browse import BrowseScreen
from vecdash.tui.screens.export import ExportScreen
from vecdash.tui.screens.keys import KeysScreen
from vecdash.tui.screens.record import RecordScreen, metadata_json
from vecdash.tui.widgets.topology import Ref, TopologyTree
from vecdash.tui.widgets.workbench import WorkbenchPane

from .hostile_data import HOSTILE
from .test_tui_pilot import text_of, until

SIZE = (120, 40)
ROWS = 45  # plus the hostile row: 46, pages of 20 -> 20, 20, 6
HOSTILE_ID = "h[b]x'\"%s{}\nz"
HOSTILE_META = {**{s: s for s in HOSTILE}, "": "the empty key", "nested": {"[i]": [1, "a\nb", None]}, "long": "é" * 300}


@pytest.fixture(scope="module")
def coll(estate):
    name = f"tuidata_{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(3)
    with psycopg.connect(estate.dsn("vectors-a"), autocommit=True) as conn:
        register_vector(conn)
        conn.execute("create schema if not exists vecs")
        table = sql.Identifier("vecs", name)
        conn.execute(sql.SQL("create table {} (id character varying primary key, vec vector(4) not null, "
                             "metadata jsonb not null default '{{}}'::jsonb)").format(table))
        rows = [(f"r{i:02d}", rng.standard_normal(4).astype(np.float32),
                 Jsonb({"year": 2000 + i % 3, "tag": f"t{i % 5}", "n": i})) for i in range(ROWS)]
        rows.append((HOSTILE_ID, np.array([3, 0, 4, 0], dtype=np.float32), Jsonb(HOSTILE_META)))
        with conn.cursor() as cur, cur.copy(sql.SQL("copy {} (id, vec, metadata) from stdin with (format binary)")
                                            .format(table)) as cp:
            cp.set_types(["character varying", "vector", "jsonb"])
            for r in rows:
                cp.write_row(r)
        conn.execute(sql.SQL("analyze {}").format(table))
    return name


def console(estate, **kw) -> VecdashApp:
    return VecdashApp(estate.config(names=["primary", "vectors-a"], **kw))


async def selected(pilot, app, name: str) -> None:
    await until(pilot, lambda: app.topology is not None and app.topology.pod("vectors-a").up, what="first refresh")
    assert app.query_one(TopologyTree).select_ref(Ref("collection", "vectors-a", "vecs", name))
    await pilot.pause()


def typed_at_once(app, *texts: str) -> None:
    """Keys straight to the driver, as a terminal sends them when typed fast: no pause between."""
    for k in (k for text in texts for k in text):
        app._driver.send_message(events.Key(k if k.isalnum() else _character_to_key(k), k))


async def test_record_detail_shows_a_hostile_row_whole_and_copies(estate, coll):
    app = console(estate)
    async with app.run_test(size=SIZE) as pilot:
        await selected(pilot, app, coll)
        await pilot.press("q")
        pane = app.query_one(WorkbenchPane)
        pane.query_one("#wb-vector-mode").value = "like id"
        pane.query_one("#wb-vector").value = HOSTILE_ID
        pane.set_filters('{"long": {"$ne": "x"}}')  # the long value's key: the first metadata column
        await pilot.press("ctrl+r")
        await until(pilot, lambda: pane.last_result is not None, what="query result")
        assert pane.last_result.rows[0].id == HOSTILE_ID
        table = pane.query_one("#wb-results")
        # the keyboard is on the answer: enter opens its first row
        await until(pilot, lambda: app.focused is table, what="the results focused")
        assert table.cursor_row == 0
        # the columns share the pane's width (the long value takes what the short ones leave, not 24
        # columns), again when the terminal is resized; each cut value is whole in the record detail
        def fitted() -> bool:
            room = table.size.width - table.styles.scrollbar_size_vertical
            return sum(c.width + 2 * table.cell_padding for c in table.columns.values()) == room

        widths = {}
        for size in (SIZE, (200, 40), (90, 40)):
            await pilot.resize_terminal(*size)
            await until(pilot, fitted, what=f"the results fitted at {size}")
            columns = list(table.columns.values())
            assert [c.label.plain for c in columns] == ["id", "distance", "long", '""', "%s", "{}"]
            widths[size] = columns[2].width
            assert table.get_row_at(0)[2].plain == "é" * (widths[size] - 1) + "…"
        assert widths[(200, 40)] > widths[SIZE] > widths[(90, 40)] and widths[(200, 40)] > 24
        assert table.get_row_at(0)[0].plain.endswith("…")  # at 90 columns the id is cut too, shown whole below
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RecordScreen), what="record detail")
        screen = app.screen
        await until(pilot, lambda: screen.record is not None, what="the row read")
        assert "h[b]x'\"%s{}\\nz" in text_of(screen, "#record-id")  # literal, the newline escaped
        shown = text_of(screen, "#record-meta")
        # every key (in jsonb's order), not cut, no markup read
        assert json.loads(shown) == HOSTILE_META and shown == metadata_json(screen.metadata)
        assert all(json.dumps(s, ensure_ascii=False) in shown for s in HOSTILE) and "é" * 300 in shown
        assert "vector 4 · norm 5.0000 · [3, 0, 4, 0]" in text_of(screen, "#record-vector")
        assert "distance 0.000000" in text_of(screen, "#record-distance")
        await pilot.press("i")
        assert app.clipboard == HOSTILE_ID
        assert "copied the id" in screen.said and "headless" in screen.said
        await pilot.press("j")
        assert json.loads(app.clipboard) == HOSTILE_META
        await pilot.press("escape")
        assert not isinstance(app.screen, RecordScreen)


async def test_browse_pages_forward_and_back_then_exports_every_row(estate, coll, tmp_path):
    app = console(estate, read_only=True)  # reads and a local file: all offered read-only
    async with app.run_test(size=SIZE) as pilot:
        await selected(pilot, app, coll)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, BrowseScreen) and app.screen.page is not None, what="browse")
        screen = app.screen
        table = screen.query_one("#browse-rows")

        def ids():
            return [r.id for r in screen.page.rows]

        first = ids()
        assert len(first) == 20 and "rows 1–20 of 46 row(s) · page 1" in text_of(screen, "#browse-status")
        seen = list(first)
        for want, page in ((20, 2), (6, 3)):
            before = screen.page
            await pilot.press("n")
            await until(pilot, lambda: screen.page is not before, what=f"page {page}")
            assert len(ids()) == want and table.row_count == want and f"page {page}" in text_of(screen, "#browse-status")
            seen += ids()
        assert "(last)" in text_of(screen, "#browse-status")
        assert len(set(seen)) == 46  # disjoint pages that cover the collection
        await pilot.press("n")
        assert "this is the last page" in text_of(screen, "#browse-status")
        for page in (2, 1):
            before = screen.page
            await pilot.press("b")
            await until(pilot, lambda: screen.page is not before, what=f"back to page {page}")
        assert ids() == first
        # a bad filter: said, nothing runs, the page stays
        await pilot.press("slash", *'{"year": {"$bogus": 1}}', "enter")
        assert "$bogus" in text_of(screen, "#browse-status") and ids() == first
        screen.query_one("#browse-filter").value = ""
        await pilot.press(*'{"year": {"$eq": 2001}}', "enter")
        await until(pilot, lambda: screen.filters is not None, what="filtered page")
        assert "of 15 row(s) matching" in text_of(screen, "#browse-status")
        assert all(r.metadata["year"] == 2001 for r in screen.page.rows)
        # enter on a row: its record
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RecordScreen), what="record from browse")
        assert app.screen.row.id == screen.page.rows[0].id
        await pilot.press("escape")
        # E: every matching row (not just the page), to a file
        await pilot.press("E")
        await until(pilot, lambda: isinstance(app.screen, ExportScreen), what="export screen")
        export = app.screen
        out = tmp_path / "rows.csv"
        export.query_one("#export-path").value = str(out)
        await pilot.press("enter")
        await until(pilot, lambda: export.written is not None, what="export")
        with out.open(newline="", encoding="utf-8") as f:
            got = list(csv.DictReader(f))
        assert len(got) == 15 and all(json.loads(r["metadata"])["year"] == 2001 for r in got)
        # an existing file is not replaced unless asked; a directory is said
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert "exists" in text_of(export, "#export-status")
        export.query_one("#export-path").value = str(tmp_path)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert "is a directory" in text_of(export, "#export-status")
        assert [p.name for p in tmp_path.iterdir()] == ["rows.csv"]  # nothing half-written left
        # a filter nothing matches says so plainly
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, what="back to browse")
        screen.query_one("#browse-filter").value = '{"year": {"$eq": 1}}'
        before = screen.page
        await pilot.press("slash", "enter")
        await until(pilot, lambda: screen.page is not before, what="a page of no rows")
        assert text_of(screen, "#browse-status").startswith("no rows match the filter · page 1 (last)")


async def test_browse_columns_use_the_width_and_a_path_typed_right_after_e_is_kept(estate, coll, tmp_path):
    """The columns share the modal's width by their content (a long value is not cut at 24 while the
    rest is empty), the empty key's header reads `""`; keys typed with no pause after E (as a fast
    typist or a paste sends them) all land in the export path box, none on the browse screen beneath."""
    app = console(estate)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        await app.push_screen(BrowseScreen(app.api, "vectors-a", coll, filters='{"long": {"$ne": "x"}}',
                                           topology=app.topology))
        screen = app.screen
        await until(pilot, lambda: screen.page is not None, what="browse")
        table = screen.query_one("#browse-rows")
        columns = list(table.columns.values())
        assert [c.label.plain for c in columns] == ["id", "long", '""', "%s", "{}"]
        widths = [c.width for c in columns]
        assert sum(widths) + 2 * len(widths) <= table.size.width  # all on screen
        assert widths[1] > 60 and widths[0] == len(one_line(HOSTILE_ID)) and widths[2] == len("the empty key")
        long = table.get_row_at(0)[1].plain
        assert long.endswith("…") and len(long) == widths[1]
        out = tmp_path / "fast.jsonl"
        typed_at_once(app, "E", str(out))
        await until(pilot, lambda: isinstance(app.screen, ExportScreen)
                    and app.screen.query_one("#export-path").value == str(out), what="the path typed")
        assert screen.page.rows and screen.query_one("#browse-filter").value == '{"long": {"$ne": "x"}}'
        export = app.screen
        await pilot.press("enter")
        await until(pilot, lambda: export.written is not None, what="export")
        assert [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()] == [HOSTILE_ID]


async def test_a_key_value_goes_into_the_workbench_filter_and_the_query_matches_it(estate, coll, tmp_path):
    app = console(estate)
    async with app.run_test(size=SIZE) as pilot:
        await selected(pilot, app, coll)
        await pilot.press("q", *'{"year": {"$gte": 2001}}', "escape")
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, KeysScreen) and app.screen.report is not None, what="keys")
        keys = app.screen
        names = [k.key for k in keys.report.keys]
        assert {"year", "tag", "n"} <= set(names) and set(HOSTILE) <= set(names)
        key_list = keys.query_one("#keys-list")
        assert key_list.get_option_at_index(names.index("")).prompt.plain.startswith('"" · ')  # not a blank
        key_list.highlighted = names.index("tag")
        await pilot.press("enter")
        tag = keys.report.keys[names.index("tag")]
        values = keys.query_one("#keys-values")
        values.highlighted = [v.value for v in tag.top].index("t3")
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, KeysScreen), what="keys closed")
        pane = app.query_one(WorkbenchPane)
        assert json.loads(pane.query_one("#wb-filter").value) == {
            "$and": [{"year": {"$gte": 2001}}, {"tag": {"$eq": "t3"}}]}
        pane.query_one("#wb-limit").value = "50"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: pane.last_result is not None, what="filtered query")
        rows = pane.last_result.rows
        assert rows and all(r.metadata["tag"] == "t3" and r.metadata["year"] >= 2001 for r in rows)
        assert len(rows) == sum(1 for i in range(ROWS) if i % 5 == 3 and i % 3 >= 1)
        # E on the main screen: the workbench's results, as JSON Lines (the path typed straight after E)
        out = tmp_path / "results.jsonl"
        typed_at_once(app, "E", str(out))
        await until(pilot, lambda: isinstance(app.screen, ExportScreen)
                    and app.screen.query_one("#export-path").value == str(out), what="the path typed")
        await until(pilot, lambda: app.screen.query_one("#export-format").value == "jsonl", what="format follows")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.written is not None, what="export")
        got = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        assert [g["id"] for g in got] == [r.id for r in rows] and all(g["metadata"]["tag"] == "t3" for g in got)


async def test_a_down_pod_is_said_on_each_screen_which_stays_usable(estate):
    config = estate.config(names=["primary"])
    gone = PodConfig(name="gone", role="secondary", dsn="postgresql://postgres@127.0.0.1:1/postgres")
    config = type(config)(pods=(*config.pods, gone), settings=config.settings, path=config.path)
    app = VecdashApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        await app.push_screen(BrowseScreen(app.api, "gone", "docs"))
        await until(pilot, lambda: "failed" in text_of(app.screen, "#browse-status"), what="browse failure")
        await pilot.press("n", "b", "escape")
        await app.push_screen(RecordScreen(app.api, RecordRef("gone", "vecs", "docs", "r1", {"a": 1})))
        await until(pilot, lambda: "failed" in text_of(app.screen, "#record-vector"), what="record failure")
        await pilot.press("i")
        assert app.clipboard == "r1"
        await pilot.press("escape")
        await app.push_screen(KeysScreen(app.api, "gone", "docs"))
        await until(pilot, lambda: "failed" in text_of(app.screen, "#keys-status"), what="keys failure")
        await pilot.press("escape")
        assert app.is_running


def test_data_keys_stay_read_only_and_leave_a_replay():
    names = {"browse", "metadata_keys", "export"}
    assert names <= {a.name for a in actions.available(read_only=True)}
    assert not names & {a.name for a in actions.available(read_only=False, replay=True)}
    assert all(actions.is_live(n) for n in names)


def test_record_detail_80x24(snap_compare):
    """The record detail on fixed data (no database): a hostile id and metadata, the vector line."""
    from vecdash.model_data import Record

    from .tui_data import fixed_config, load_topology

    meta = {"title": "see [/docs/x] 50%off", "tags": ["[bold]x", "{0}"], "year": 2021, "note": "new\nline",
            "nested": {"a'b\"c": None, "naïve ✓ 日本": 1.5}, "long": "x" * 150}
    row = RecordRef("vectors-a", "vecs", "docs", "doc-[b]17", meta, 0.123456)
    record = Record("vectors-a", "vecs", "docs", "doc-[b]17", meta, "vector", 384, 1.0,
                    [0.0123, -0.5, 0.25, 0.0, 1e-05, 0.3333, -0.125, 0.75])

    async def run_before(pilot) -> None:
        await pilot.app.push_screen(RecordScreen(pilot.app.api, row, record=record))
        await pilot.pause()

    app = VecdashApp(fixed_config(), topology=load_topology(), live=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_a_picked_clause_joins_the_filter_with_and():
    from vecdash.errors import UserError
    from vecdash.service.filters import with_clause

    eq = {"tag": {"$eq": "t3"}}
    assert with_clause(None, "tag", "t3") == eq
    assert with_clause({"$and": [{"n": {"$gt": 1}}]}, "tag", "t3") == {"$and": [{"n": {"$gt": 1}}, eq]}
    assert with_clause({"$or": [{"n": {"$gt": 1}}]}, "tag", "t3") == {"$and": [{"$or": [{"n": {"$gt": 1}}]}, eq]}
    with pytest.raises(UserError):
        with_clause(None, "$or", 1)  # a key named like an operator cannot be filtered on


async def test_a_key_typed_on_a_screen_arriving_as_the_console_closes_goes_nowhere():
    """A key typed on a screen can reach the app after its screens are gone (the console closing):
    it must go nowhere, not take the app down with `ScreenStackError`."""
    from vecdash.tui.screens.modal import misrouted

    from .tui_data import fixed_config

    app = VecdashApp(fixed_config(), live=False)
    async with app.run_test(size=(80, 24)):
        screen = app.screen
    key = events.Key("p", "p")
    key.typed_on = screen
    assert app.screen_stack == [] and misrouted(app, key) is False
