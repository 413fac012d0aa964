"""Keys and focus a DBA can rely on, on real pods: one-letter keys work wherever focus is not in a text
box, esc always goes back to the tree, a focused text box is on screen (80x24), `b` builds from any
field of the index screen and says why it does nothing after, read-only keys say why they are refused,
leaving read-only asks first, and every change (create, load, index build, recall setting) is confirmed
with its full statements."""

from __future__ import annotations

from textual.widgets import Button, Checkbox, DataTable, Input, OptionList, Select

from tests.test_tui_pilot import notes, until, wire_collection  # noqa: F401 (wire_collection: a shared fixture)
from vecdash.tui.app import VecdashApp
from vecdash.tui.screens.ask import AskScreen
from vecdash.tui.screens.confirm import ConfirmScreen
from vecdash.tui.widgets.topology import Ref, TopologyTree

SIZE = (100, 34)
SMALL = (80, 24)


async def _ready(pilot, app, coll: str | None = None):
    await until(pilot, lambda: app.topology is not None, what="first refresh")
    tree = app.query_one(TopologyTree)
    if coll is not None:
        assert tree.select_ref(Ref("collection", "vectors-b", "vecs", coll))
        await pilot.pause()
    return tree


async def test_after_tab_into_a_pane_1_shows_stats_and_the_arrows_move_the_tree(estate, wire_collection):
    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        tree = await _ready(pilot, app, wire_collection)
        await pilot.press("2")
        for _ in range(3):  # into the wiring pane's form
            await pilot.press("tab")
        assert app.focused is not tree and app.query_one("#wiring") in app.focused.ancestors
        await pilot.press("1")
        assert app.active_pane == "stats" and app.focused is tree
        line = tree.cursor_line
        await pilot.press("up")
        assert tree.cursor_line == line - 1


async def test_esc_returns_to_the_tree_from_any_pane_widget(estate, wire_collection):
    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        tree = await _ready(pilot, app, wire_collection)
        for pane, kinds in (("wiring", (Select, Button)), ("workbench", (Select, Checkbox, Button)),
                            ("activity", (DataTable,))):
            app.action_pane(pane)
            await pilot.pause()
            for widget in app.query_one(f"#{pane}").query("*"):
                if isinstance(widget, kinds) and widget.focusable and widget.display:
                    widget.focus()
                    await pilot.pause()
                    await pilot.press("escape")
                    assert app.focused is tree, widget


async def test_one_letter_keys_work_wherever_focus_is_not_a_text_box(estate, wire_collection):
    """From every focusable widget of every pane that is not a text box, `t` switches the theme and `1`
    shows the Stats pane: the letter reaches the console, no widget swallows it."""
    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app, wire_collection)
        await pilot.press("q", "ctrl+r")  # results and history: more widgets to stand on
        await until(pilot, lambda: app.query_one("#wb-history").display, timeout=20, what="a query")
        checked = 0
        for pane in ("stats", "wiring", "workbench", "activity"):
            app.action_pane(pane)
            await pilot.pause()
            targets = [w for w in app.query_one(f"#{pane}").query("*")
                       if w.focusable and w.display and not isinstance(w, Input)]
            for widget in targets:
                app.action_pane(pane)
                widget.focus()
                await pilot.pause()
                dark = app.current_theme.dark
                await pilot.press("t")
                assert app.current_theme.dark is not dark, widget
                await pilot.press("1")
                assert app.active_pane == "stats", widget
                checked += 1
        assert checked >= 10
        assert any(isinstance(w, (OptionList, DataTable)) for w in app.query("#wb-history, #wb-results"))


async def test_q_at_80x24_focuses_a_filter_box_that_is_on_screen_and_keeps_its_text(estate, wire_collection):
    app = VecdashApp(estate.config())
    async with app.run_test(size=SMALL) as pilot:
        await _ready(pilot, app, wire_collection)
        await pilot.press("q")
        await pilot.press(*'{"year": 2001}', "ctrl+r")
        pane = app.query_one("WorkbenchPane")
        await until(pilot, lambda: pane.last_result is not None, timeout=20, what="a query")
        await pilot.pause(0.3)
        assert pane.scroll_y > 0  # the answer scrolled the form away
        await pilot.press("escape", "q")
        await pilot.pause(0.3)
        box = app.query_one("#wb-filter", Input)
        assert app.focused is box
        region, view = box.region, pane.scrollable_content_region
        assert region.height > 0 and view.y <= region.y and region.bottom <= view.bottom, (region, view)
        await pilot.press("backspace", "backspace", "2", "}")  # typing edits the filter, it does not replace it
        assert box.value == '{"year": 2002}'


async def test_index_build_b_from_any_field_asks_then_builds_then_says_why_not(estate, wire_collection):
    from vecdash.tui.screens.index_build import IndexBuildScreen

    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app, wire_collection)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, IndexBuildScreen), what="index build screen")
        screen = app.screen
        # the collection's own index has the defaults, so the first preview is refused as a duplicate
        await until(pilot, lambda: screen.preview is not None or screen.preview_error, what="preview")
        screen.query_one("#opt-m", Input).value = ""
        screen.query_one("#opt-m", Input).focus()
        await pilot.press("1", "2")
        await until(pilot, lambda: screen.preview is not None and "m12" in screen.preview.index, what="m=12")
        await pilot.press("b")  # from the m field: the statement in full, y / n
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert screen.preview.plan.steps[0].preview in app.screen.plan.preview_sql()
        assert screen.query_one("#opt-m", Input).value == "12"
        await pilot.press("n")
        await pilot.pause(0.2)
        assert not screen.started and app.screen is screen
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation again")
        await pilot.press("y")
        await until(pilot, lambda: screen.result is not None or screen.error, timeout=60, what="build")
        assert screen.result is not None and screen.result.status == "built", screen.error
        await pilot.press("b")
        await pilot.pause(0.2)
        assert any("already built" in m and screen.result.index in m for m in notes(app)), notes(app)
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
    estate.sql("vectors-b", f'drop index vecs."{screen.result.index}"')


async def test_read_only_keys_say_why_and_the_sweep_offers_no_apply(estate, wire_collection):
    from vecdash.tui.screens.recall_sweep import RecallSweepScreen

    app = VecdashApp(estate.config(read_only=True))
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app, wire_collection)
        for key, what in (("a", "apply"), ("i", "index"), ("n", "new"), ("u", "unwire")):
            app.clear_notifications()
            await pilot.press(key)
            await pilot.pause(0.1)
            assert any(m.startswith(f"read-only: {what} is refused") for m in notes(app)), (key, notes(app))
            assert app.screen is app.screen_stack[0]
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, RecallSweepScreen), what="recall sweep")
        sweep = app.screen
        await until(pilot, lambda: sweep.result is not None or sweep.error, timeout=60, what="the sweep")
        offered = {b.binding.key for b in sweep.active_bindings.values() if b.binding.show}
        assert "a" not in offered, offered
        assert "apply" not in str(sweep.query_one("#recall-help").render())
        app.clear_notifications()
        await pilot.press("a")
        await pilot.pause(0.1)
        assert any("read-only" in m and "not applied" in m for m in notes(app)), notes(app)
        assert not isinstance(app.screen, ConfirmScreen) and not sweep.applied


async def test_leaving_read_only_asks_first(estate):
    app = VecdashApp(estate.config(names=["primary"]))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        await pilot.press("ctrl+o")  # into read-only: safe, no question
        await until(pilot, lambda: app.read_only, what="read-only")
        assert not isinstance(app.screen, AskScreen)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, AskScreen), what="the question")
        assert "X drop coll." in app.screen.detail and ".." not in app.screen.detail  # one full stop
        await pilot.press("n")
        await pilot.pause(0.2)
        assert app.read_only and app.query_one("#read-only-banner").display
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, AskScreen), what="the question again")
        await pilot.press("y")
        await until(pilot, lambda: not app.read_only, what="read-write")


async def test_create_and_load_confirm_with_the_full_change(estate, unique, tmp_path):
    import json

    from vecdash.tui.screens.collection_load import CollectionLoadScreen

    name = f"cf_{unique}"
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"id": f"r{i}", "vec": [1.0, float(i), 0.5]}) + "\n" for i in range(20)))
    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        assert app.query_one(TopologyTree).select_ref(Ref("pod", "vectors-b"))
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CollectionLoadScreen), what="create/load screen")
        screen = app.screen
        screen.query_one("#col-name", Input).value = name
        screen.query_one("#col-dim", Input).value = "3"
        screen.preview_create()
        await until(pilot, lambda: screen.plan is not None, what="create plan")
        screen.apply_create()
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="create confirmation")
        sql = app.screen.plan.preview_sql(include_satisfied=False)
        assert f'create table "vecs"."{name}"' in sql and "create index" in sql
        await pilot.press("n")
        await pilot.pause(0.2)
        assert not screen.created
        assert estate.sql("vectors-b", "select to_regclass(%s)", (f"vecs.{name}",)) == [(None,)]
        screen.apply_create()
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="create confirmation again")
        await pilot.press("y")
        await until(pilot, lambda: screen.created, what="created")
        screen.query_one("#load-file", Input).value = str(path)
        screen.query_one("#load-upsert", Checkbox).value = True
        screen.start_load()
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="load confirmation")
        sql = app.screen.plan.preview_sql()
        assert str(path) in sql and "copy" in sql and "on conflict (id) do update" in sql, sql
        await pilot.press("n")
        await until(pilot, lambda: not screen.loading, what="load cancelled")
        assert estate.sql("vectors-b", f'select count(*) from vecs."{name}"') == [(0,)]
        screen.start_load()
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="load confirmation again")
        await pilot.press("y")
        await until(pilot, lambda: screen.result is not None or screen.error, what="load")
        assert screen.error is None and screen.result.rows == 20
    estate.sql("vectors-b", f'drop table vecs."{name}"')
