"""The console driven by keys (App.run_test) against REAL pods: tree navigation, wiring through the
editor with pushdown verified, read-only refusal (console, service and server), the command palette,
and a hung pod (SIGSTOP) that must not freeze the UI."""

from __future__ import annotations

import time

import numpy as np
import psycopg
import pytest

from vecdash.errors import ReadOnlyError
from vecdash.tui.app import VecdashApp
from vecdash.tui.screens.ask import AskScreen
from vecdash.tui.screens.confirm import ConfirmScreen
from vecdash.tui.widgets.topology import Ref, TopologyTree
from vecdash.tui.widgets.wiring import WiringPane

SIZE = (100, 34)


async def until(pilot, cond, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def notes(app) -> list[str]:
    """The notifications on screen now, as their text."""
    return [n.message for n in app._notifications]


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector).render())


async def select_collection(pilot, app, name: str, pod: str = "vectors-b") -> None:
    """Wait for the first refresh, then select vecs.NAME on POD in the tree."""
    await until(pilot, lambda: app.topology is not None, what="first refresh")
    tree, ref = app.query_one(TopologyTree), Ref("collection", pod, "vecs", name)
    # a loaded machine may time a pod out on the first refresh: the next one brings it
    await until(pilot, lambda: tree.select_ref(ref), what=f"{pod} {name} in the tree")
    await pilot.pause()


async def plan_wiring(pilot, app) -> WiringPane:
    """`w` on the selected collection; returns the wiring pane once its plan is shown."""
    pane = app.query_one(WiringPane)
    await pilot.press("w")
    await until(pilot, lambda: pane.plan_shown is not None, what="wiring plan")
    return pane


def make_collection(make_vecs_client, pod, name: str, rows: int = 300, dim: int = 8):
    client = make_vecs_client(pod)
    col = client.get_or_create_collection(name=name, dimension=dim)
    rng = np.random.default_rng(7)
    vecs_ = rng.standard_normal((rows, dim)).astype(np.float32)
    col.upsert(records=[(f"r{i}", vecs_[i], {"year": 2000 + i % 25, "url": f"/x/{i}"}) for i in range(rows)])
    col.create_index()
    return col


@pytest.fixture
def wire_collection(estate, make_vecs_client, unique):
    name = f"tui_{unique}"
    make_collection(make_vecs_client, estate.pods["vectors-b"], name)
    estate.sql("vectors-b", f'analyze vecs."{name}"')
    return name


async def test_navigate_tree_with_keys(estate, wire_collection):
    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        assert {p.name for p in app.topology.pods if p.up} == {"primary", "vectors-a", "vectors-b"}
        # filter as you type, then walk the tree with the arrow keys only
        await pilot.press("slash", *wire_collection, "enter")
        tree = app.query_one(TopologyTree)
        assert tree.has_focus
        for _ in range(12):
            if app.selected and app.selected.kind == "collection":
                break
            await pilot.press("down")
        assert app.selected == Ref("collection", "vectors-b", "vecs", wire_collection)
        body = text_of(app, "#stats-body")
        assert f"vecs.{wire_collection}" in body and "vector(8)" in body and "hnsw" in body
        # the other collections are filtered out; esc on the filter brings them back
        assert tree._find(("collection", "vectors-a", "vecs", "docs")) is None
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert tree.selected_ref == app.selected
        # a refresh with the same shape relabels in place: same node objects, cursor untouched
        node = tree.cursor_node
        taken = app.topology.taken_at
        await pilot.press("r")
        await until(pilot, lambda: app.topology.taken_at != taken and not app.refreshing, what="second refresh")
        assert tree.cursor_node is node and app.selected.name == wire_collection
        # switching panes by number
        await pilot.press("3")
        assert app.active_pane == "workbench"
        await pilot.press("1")
        assert app.active_pane == "stats"


async def test_wire_through_editor_then_unwire(estate, wire_collection):
    app = VecdashApp(estate.config())
    ref = Ref("collection", "vectors-b", "vecs", wire_collection)
    async with app.run_test(size=SIZE) as pilot:
        await select_collection(pilot, app, wire_collection)
        pane = await plan_wiring(pilot, app)
        preview = pane.plan_shown.preview_sql()
        assert f"public.{wire_collection}" in preview.replace('"', "")
        assert estate.pods["vectors-b"].password not in preview
        assert estate.pods["vectors-b"].password not in str(app.query_one("#wire-plan-view").render())
        # apply asks first; "n" changes nothing
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation modal")
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="modal closed")
        assert not estate.sql("primary", "select 1 from pg_views where viewname = %s", (wire_collection,))
        # "y" applies in one transaction, then verifies pushdown on its own
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation modal")
        sql_shown = app.screen.query_one("#confirm-sql").content.code  # the rich Syntax on the modal
        on_modal = " ".join(str(w.render()) for w in app.screen.query("Label")) + sql_shown
        assert "user mapping" in on_modal and "********" in on_modal
        assert estate.pods["vectors-b"].password not in on_modal
        await pilot.press("y")
        await until(pilot, lambda: pane.last_verification is not None, timeout=30, what="verification")
        v = pane.last_verification
        assert v.pushdown is True, v.reason
        assert "YES" in text_of(app, "#wire-verify-view")
        assert estate.sql("primary", f'select count(*) from public."{wire_collection}"') == [(300,)]
        # the refresh after apply shows the new view in the tree
        await until(pilot, lambda: app.query_one(TopologyTree)._find(("view", "primary", "public", wire_collection)),
                    what="view in tree")
        # unwire the same way
        assert app.query_one(TopologyTree).select_ref(ref)
        await pilot.pause()
        pane.plan_shown = None
        await pilot.press("u")
        await until(pilot, lambda: pane.plan_shown is not None, what="unwire plan")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation modal")
        await pilot.press("y")
        await until(pilot, lambda: "applied: unwire" in text_of(app, "#wire-status"), timeout=30, what="unwired")
        assert not estate.sql("primary", "select 1 from pg_views where viewname = %s", (wire_collection,))


async def test_read_only_console_refuses_apply(estate, wire_collection):
    app = VecdashApp(estate.config(read_only=True))
    ref = Ref("collection", "vectors-b", "vecs", wire_collection)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        assert app.query_one("#read-only-banner").display
        names = {a.name for a in app.console_actions}
        assert "apply_plan" not in names and "unwire" not in names and "build_index" not in names
        for key in ("a", "u", "i", "n"):  # bound only to say why nothing happens
            assert all(b.action.startswith("refused(") and not b.show for b in app._bindings.key_to_bindings[key])
        assert not app.query_one("#wire-apply").display
        # planning reads only: allowed; applying is not offered at all
        assert app.query_one(TopologyTree).select_ref(ref)
        await pilot.pause()
        pane = app.query_one(WiringPane)
        await pilot.press("w")
        await until(pilot, lambda: pane.plan_shown is not None, what="plan")
        await pilot.press("a")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any(m.startswith("read-only: apply is refused") for m in notes(app)), notes(app)
        # the palette has no apply either
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"apply the plan")
        await pilot.pause(0.5)
        from textual.command import CommandList

        hits = [str(o.prompt) for o in app.screen.query_one(CommandList).options]
        assert not any("Apply the plan" in h for h in hits), hits
        await pilot.press("escape")
        # the service refuses before touching the database ...
        with pytest.raises(ReadOnlyError):
            await app.api.apply_plan(pane.plan_shown)
        from vecdash.service import wiring

        with pytest.raises(ReadOnlyError):
            await wiring.apply_plan(app.api.client, pane.plan_shown)

        # ... and the server refuses even a write the client was not told about
        async def sneaky(conn):
            await conn.execute(f'create table public."ro_{wire_collection}" (id int)')

        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await app.api.client.run("primary", sneaky)
        assert not estate.sql("primary", "select 1 from pg_views where viewname = %s", (wire_collection,))


async def test_palette_offers_registry_commands(estate):
    app = VecdashApp(estate.config(names=["primary"]))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"doctor")
        await pilot.pause(0.5)
        from textual.command import CommandList

        hits = [str(o.prompt) for o in app.screen.query_one(CommandList).options]
        assert any("List wiring problems" in h for h in hits), hits
        await pilot.press("enter")
        await until(pilot, lambda: app.active_pane == "wiring", what="doctor opens the wiring pane")


async def test_hung_pod_does_not_freeze_the_ui(estate, spare_pod):
    from vecdash.config import Config, PodConfig, Settings

    config = Config(
        pods=(PodConfig(name="primary", role="primary", dsn=estate.dsn("primary")),
              PodConfig(name="spare", role="secondary", dsn=spare_pod.dsn())),
        settings=Settings(statement_timeout_ms=3000, connect_timeout_s=1, refresh_seconds=60),  # calls give up after 5 s
        path="<test>",
    )
    app = VecdashApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        assert app.topology.pod("spare").up
        spare_pod.pause()
        t0 = time.monotonic()
        await pilot.press("r")
        assert app.refreshing
        # the refresh is stuck on the stopped pod; keys are still answered at once
        await pilot.pause(0.3)
        t1 = time.monotonic()
        await pilot.press("2")
        answered = time.monotonic() - t1
        assert app.active_pane == "wiring"
        assert app.refreshing, "the refresh should still be waiting on the stopped pod"
        assert answered < 2.0  # far below the 5 s the refresh waits on the stopped pod
        # a second r does not stack another refresh on the running one
        await pilot.press("r")
        assert len([w for w in app.workers if w.group == "refresh" and not w.is_finished]) == 1
        await until(pilot, lambda: not app.refreshing, timeout=10, what="refresh to give up on the pod")
        waited = time.monotonic() - t0
        spare = app.topology.pod("spare")
        assert not spare.up and spare.error
        assert app.topology.pod("primary").up
        assert waited < config.settings.call_timeout_s  # the README's bound, as stated
        assert "DOWN: spare" in text_of(app, "#title")
        assert app.query_one(TopologyTree).select_ref(Ref("pod", "spare"))
        await pilot.pause()
        assert "DOWN" in text_of(app, "#stats-body")
        spare_pod.resume()


async def test_filtered_query_in_workbench(estate, make_vecs_client, unique):
    from vecdash.tui.widgets.workbench import WorkbenchPane

    name = f"tuiq_{unique}"
    make_collection(make_vecs_client, estate.pods["vectors-a"], name, rows=400)
    estate.sql("vectors-a", f'analyze vecs."{name}"')
    app = VecdashApp(estate.config(names=["primary", "vectors-a"]))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        assert app.query_one(TopologyTree).select_ref(Ref("collection", "vectors-a", "vecs", name))
        await pilot.pause()
        await pilot.press("q")  # workbench on the selected collection, cursor in the filter box
        assert app.active_pane == "workbench"
        pane = app.query_one(WorkbenchPane)
        # validated as you type: a bad operator names where it is
        await pilot.press(*'{"year": {"$bogus": 1}}')
        await pilot.pause(0.2)
        err = text_of(app, "#wb-filter-error")
        assert app.query_one("#wb-filter-error").display and "$bogus" in err
        await pilot.press("ctrl+r")
        await pilot.pause(0.3)
        assert pane.last_result is None and "$bogus" in text_of(app, "#wb-status")
        pane.query_one("#wb-filter").value = ""
        await pilot.press(*'{"year": {"$gte": 2020}}')
        await pilot.pause(0.2)
        assert not app.query_one("#wb-filter-error").display
        await pilot.press("ctrl+r")
        await until(pilot, lambda: pane.last_result is not None, timeout=20, what="query result")
        result = pane.last_result
        assert len(result.rows) == 10 and all(r.metadata["year"] >= 2020 for r in result.rows)
        assert [r.distance for r in result.rows] == sorted(r.distance for r in result.rows)
        table = app.query_one("#wb-results")
        assert table.row_count == 10 and "year" in [str(c.label) for c in table.columns.values()]
        assert "10/10 rows" in text_of(app, "#wb-status")
        # the session history re-runs a query
        assert len(pane.history) == 1
        pane.last_result = None
        history = app.query_one("#wb-history")
        history.focus()
        history.highlighted = 0
        await pilot.press("enter")
        await until(pilot, lambda: pane.last_result is not None, timeout=20, what="re-run")
        assert len(pane.history) == 2
        # the stats pane now knows this collection is queried with cosine (its index serves it: no warning)
        assert app.queried_measures[("vectors-a", "vecs", name)] == {"cosine"}


async def test_switch_to_read_only_at_runtime(estate):
    app = VecdashApp(estate.config(names=["primary"]))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        assert "a" in app._bindings.key_to_bindings and not app.query_one("#read-only-banner").display
        await pilot.press("ctrl+o")
        await until(pilot, lambda: app.read_only, what="read-only on")
        assert app.query_one("#read-only-banner").display
        assert [b.action for b in app._bindings.key_to_bindings["a"]] == ["refused('apply_plan')"]
        assert not any(a.dangerous for a in app.console_actions)

        async def write(conn):
            await conn.execute("create temporary table ro_probe (id int)")

        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):  # new sessions are read-only on the server
            await app.api.client.run("primary", write)
        await pilot.press("ctrl+o")  # leaving read-only asks first
        await until(pilot, lambda: isinstance(app.screen, AskScreen), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: not app.read_only, what="read-write again")
        assert [b.action for b in app._bindings.key_to_bindings["a"]] == ["apply_plan"]


async def test_started_read_only_stays_read_only(estate):
    app = VecdashApp(estate.config(names=["primary"], read_only=True))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        await pilot.press("ctrl+o")
        await pilot.pause(0.2)
        assert app.read_only and app.query_one("#read-only-banner").display


async def test_index_screens_open_from_the_console(estate, wire_collection):
    """`n` (pod: create + load), `i` (index build) and `s` (recall sweep) open their screens; the screens'
    own work is tested in test_indexes. Read-only: `n` and `i` open nothing (they say why: test_tui_keys)."""
    from vecdash.tui.screens.collection_load import CollectionLoadScreen
    from vecdash.tui.screens.index_build import IndexBuildScreen
    from vecdash.tui.screens.recall_sweep import RecallSweepScreen

    coll = Ref("collection", "vectors-b", "vecs", wire_collection)
    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        tree = app.query_one(TopologyTree)
        assert tree.select_ref(Ref("pod", "vectors-b"))
        await pilot.pause()
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CollectionLoadScreen), what="create/load screen")
        assert app.screen.pod == "vectors-b"
        app.screen.dismiss(None)
        await pilot.pause()
        assert tree.select_ref(coll)
        await pilot.pause()
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, IndexBuildScreen), what="index build screen")
        app.screen.dismiss(None)
        await pilot.pause()
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, RecallSweepScreen), what="recall sweep screen")
    ro = VecdashApp(estate.config(read_only=True))
    async with ro.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ro.topology is not None, what="first refresh")
        assert ro.query_one(TopologyTree).select_ref(coll)
        await pilot.press("n", "i")
        await pilot.pause(0.3)
        assert not isinstance(ro.screen, (CollectionLoadScreen, IndexBuildScreen))


async def test_create_and_load_a_collection_with_the_keyboard_only(estate, unique, tmp_path):
    """`n` on a pod, type name and dimension, preview, apply; type the file, tab to Load, enter."""
    from textual.widgets import Input

    from vecdash.tui.screens.collection_load import CollectionLoadScreen

    name = f"kb_{unique}"
    rows = [{"id": f"r{i}", "vec": [float(i % 7), 1.0, float(i % 3)], "metadata": {"i": i}} for i in range(50)]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(__import__("json").dumps(r) + "\n" for r in rows))
    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        assert app.query_one(TopologyTree).select_ref(Ref("pod", "vectors-b"))
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CollectionLoadScreen), what="create/load screen")
        screen = app.screen
        assert app.focused is screen.query_one("#col-name", Input)
        await pilot.press(*name, "tab", "3", "tab")  # name, dimension, then [Preview create]
        assert app.focused.id == "col-preview"
        await pilot.press("enter")
        await until(pilot, lambda: screen.plan is not None, what="create plan previewed")
        assert "vec vector(3) not null" in screen.plan.preview_sql()
        await pilot.press("tab")  # [Apply create] is enabled once there is a plan
        assert app.focused.id == "col-apply"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="create confirmation")
        await pilot.press("y")
        await until(pilot, lambda: screen.created, what="collection created")
        assert estate.sql("vectors-b", "select to_regclass(%s) is not null", (f"vecs.{name}",)) == [(True,)]
        assert app.focused is screen.query_one("#load-file", Input)
        await pilot.press(*str(path))
        for _ in range(6):  # ids, metadata, upsert, then the Load button
            await pilot.press("tab")
            if getattr(app.focused, "id", None) == "load-start":
                break
        assert app.focused.id == "load-start"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="load confirmation")
        await pilot.press("y")
        await until(pilot, lambda: screen.result is not None or screen.error, what="load finished")
        assert screen.error is None, screen.error
        assert estate.sql("vectors-b", f'select count(*) from vecs."{name}"') == [(50,)]


# --- keyboard-only usability at 80x24 -------------------------------------------------------------

SMALL = (80, 24)


def _inside(inner, outer) -> bool:
    return (inner.x >= outer.x and inner.y >= outer.y and inner.right <= outer.right
            and inner.bottom <= outer.bottom)


async def test_esc_leaves_a_pane_text_box_so_letter_keys_work_again(estate):
    """Typing in the workbench filter, then esc: the next keys are commands again, not more filter text."""
    from textual.widgets import Input

    app = VecdashApp(estate.config())
    async with app.run_test(size=SMALL) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        await pilot.press("3")
        box = app.query_one("#wb-filter", Input)
        box.focus()
        await pilot.press(*'{"year": 1}', "escape")
        assert app.focused is app.query_one(TopologyTree)
        await pilot.press("1")
        assert app.active_pane == "stats"
        assert box.value == '{"year": 1}'


async def test_confirm_modal_lines_are_whole_at_80x24(estate, wire_collection):
    """The plan summary and steps wrap inside the modal instead of being cut at its edge."""
    app = VecdashApp(estate.config())
    async with app.run_test(size=SMALL) as pilot:
        await select_collection(pilot, app, wire_collection)
        pane = await plan_wiring(pilot, app)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation modal")
        await pilot.pause()
        screen = app.screen
        box = screen.query_one("#confirm-box").content_region
        for label in [screen.query_one("#confirm-summary"), *screen.query(".confirm-step")]:
            text = str(label.render())
            assert label.content_size.width <= box.width, text
            # every character of the line is on screen: wrapped lines add up to the whole text
            assert label.content_size.width * label.content_size.height >= len(text), text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="modal closed by esc")


async def test_doctor_findings_are_on_screen_after_a_plan_at_80x24(estate, wire_collection):
    """d after a plan: the findings list is visible at 80x24 (not pushed below an old plan), and the
    hidden plan cannot be applied unseen."""
    from textual.widgets import OptionList

    app = VecdashApp(estate.config())
    async with app.run_test(size=SMALL) as pilot:
        await select_collection(pilot, app, wire_collection)
        pane = await plan_wiring(pilot, app)
        await pilot.press("d")
        findings = app.query_one("#wire-findings", OptionList)
        await until(pilot, lambda: findings.display and findings.option_count, what="doctor findings")
        await pilot.pause(0.3)
        assert findings.region.height > 0 and _inside(findings.region, pane.region), (findings.region, pane.region)
        assert pane.plan_shown is None


async def test_workbench_run_button_and_filter_error_fit_at_80x24(estate, wire_collection):
    """With results on screen (so the pane scrolls), Run is still whole; a bad filter's message is whole."""
    from textual.widgets import Button, Label

    app = VecdashApp(estate.config())
    async with app.run_test(size=SMALL) as pilot:
        await select_collection(pilot, app, wire_collection)
        await pilot.press("q", "ctrl+r")
        await until(pilot, lambda: app.query_one("#wb-results").display, what="results")
        pane = app.query_one("WorkbenchPane")
        pane.scroll_home(animate=False)
        await pilot.pause(0.2)
        assert pane.max_scroll_y > 0  # the scrollbar is there
        run = app.query_one("#wb-run", Button)
        assert run.region.width >= len(" Run ") and _inside(run.region, pane.scrollable_content_region), run.region
        app.query_one("#wb-filter").focus()
        await pilot.press(*'{"year": 1}}')
        err = app.query_one("#wb-filter-error", Label)
        await until(pilot, lambda: err.display, what="filter error")
        await pilot.pause()
        text = str(err.render())
        assert "Extra data" in text
        assert err.content_size.width * err.content_size.height >= len(text), text


async def test_create_load_and_index_build_field_labels_are_whole_at_80x24(estate, wire_collection):
    """Every field label on the n (create/load) and i (index build) screens is on screen in full at 80x24."""
    from textual.widgets import Label

    from vecdash.tui.screens.collection_load import CollectionLoadScreen
    from vecdash.tui.screens.index_build import IndexBuildScreen

    def cut_labels(screen) -> list[str]:
        cut = []
        for label in screen.query(Label):
            text = str(label.render()).strip()
            width = min(label.content_size.width, label.parent.content_size.width)  # the parent cuts it off
            if text and width * label.content_size.height < len(text):
                cut.append(text)
        return cut

    app = VecdashApp(estate.config())
    async with app.run_test(size=SMALL) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        tree = app.query_one(TopologyTree)
        assert tree.select_ref(Ref("pod", "vectors-b"))
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CollectionLoadScreen), what="create/load screen")
        await pilot.pause(0.2)
        assert cut_labels(app.screen) == []
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CollectionLoadScreen), what="closed by esc")
        assert tree.select_ref(Ref("collection", "vectors-b", "vecs", wire_collection))
        await pilot.pause()
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, IndexBuildScreen), what="index build screen")
        await pilot.pause(0.2)
        assert cut_labels(app.screen) == []
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, IndexBuildScreen), what="closed by esc")


async def test_history_enter_reruns_with_the_keyboard_at_80x24(estate, wire_collection):
    """ctrl+r, then tab to the history and enter: the query runs again (an entry is highlighted, so enter
    does something) and its answer is brought into view."""
    from textual.widgets import OptionList

    app = VecdashApp(estate.config())
    async with app.run_test(size=SMALL) as pilot:
        await select_collection(pilot, app, wire_collection)
        pane = app.query_one("WorkbenchPane")
        await pilot.press("q", "ctrl+r")
        await until(pilot, lambda: len(pane.history) == 1, what="first query")
        box = app.query_one("#wb-history", OptionList)
        for _ in range(30):
            if app.focused is box:
                break
            await pilot.press("tab")
        assert app.focused is box
        await pilot.press("enter")
        await until(pilot, lambda: len(pane.history) == 2, what="re-run from history")
        first, again = pane.history
        assert first.source.startswith("random row") and again.vector == first.vector  # the same query vector
        assert again.query_fields() == first.query_fields()
        await pilot.pause(0.3)
        status = app.query_one("#wb-status")
        assert status.region.height > 0 and status.region.y >= pane.region.y, (status.region, pane.region)


async def test_demo_footer_hints_are_whole_at_80x24(estate):
    """The demo console adds `g tour` to the footer; every key hint still fits at 80 columns."""
    from textual.widgets._footer import FooterKey

    app = VecdashApp(estate.config(), demo=True)
    async with app.run_test(size=SMALL) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        await pilot.pause(0.2)
        keys = [k for k in app.query(FooterKey) if "-command-palette" not in k.classes]
        palette = app.query_one("FooterKey.-command-palette")
        assert {k.key for k in keys} >= {"g", "question_mark"}
        for k in keys:
            assert k.region.width > 0 and k.region.right <= palette.region.x, (k.key, k.region, palette.region)


async def test_q_on_a_view_queries_the_collection_it_reads_through_the_primary(estate, wire_collection):
    from vecdash.service import wiring
    from vecdash.tui.widgets.workbench import WorkbenchPane

    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        await wiring.apply_plan(app.api.client, await wiring.plan_wire(app.api.client, "vectors-b", wire_collection))
        app.refresh_now()
        tree = app.query_one(TopologyTree)
        view = Ref("view", "primary", "public", wire_collection)
        await until(pilot, lambda: tree._find(view.key) is not None, what="the new view in the tree")
        assert tree.select_ref(view)
        await pilot.pause()
        await pilot.press("q")
        pane = app.query_one(WorkbenchPane)
        assert app.active_pane == "workbench"
        assert pane.query_one("#wb-collection").value == ("vectors-b", "vecs", wire_collection)
        assert pane.query_one("#wb-route").value == "primary"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: pane.last_result is not None, timeout=20, what="query result")
        assert pane.last_result.route == "primary" and len(pane.last_result.rows) == 10
        await wiring.apply_plan(app.api.client, await wiring.plan_unwire(app.api.client, "vectors-b", wire_collection))


async def test_a_pod_that_goes_down_keeps_its_last_known_collections_in_the_tree():
    from dataclasses import replace

    from vecdash.model import PodStatus

    from .tui_data import fixed_config, load_topology

    topo = load_topology()
    app = VecdashApp(fixed_config(), topology=topo, live=False)
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(TopologyTree)
        docs = Ref("collection", "vectors-a", "vecs", "docs").key
        assert tree._find(docs) is not None
        down = PodStatus(name="vectors-a", role="secondary", up=False, error="connection refused")
        tree.show(replace(topo, pods=[down if p.name == "vectors-a" else p for p in topo.pods]))
        await pilot.pause()
        assert tree._find(docs) is not None  # still listed, as last seen
        label = str(tree._find(("pod", "vectors-a", "", "")).label)
        assert "down" in label and "last known" in label


async def test_q_on_a_view_a_running_refresh_just_showed_queries_the_collection_it_reads():
    """The tree shows a running refresh's answers (a view the primary just got) before the refresh ends:
    `q` on that view opens the workbench on the collection it reads all the same."""
    from dataclasses import replace

    from vecdash.tui.widgets.workbench import WorkbenchPane

    from .tui_data import fixed_config, load_topology

    topo = load_topology()
    unwired = replace(topo, pods=[replace(p, views=[], foreign_tables=[]) if p.is_primary else p for p in topo.pods])
    app = VecdashApp(fixed_config(), topology=unwired, live=False)
    async with app.run_test(size=SIZE) as pilot:
        app.refreshing, app.partial = True, topo  # the primary answered; the last whole refresh has no view
        tree = app.query_one(TopologyTree)
        tree.show(topo, app.endpoints)
        assert tree.select_ref(Ref("view", "primary", "public", "docs"))
        await pilot.pause()
        await pilot.press("q")
        pane = app.query_one(WorkbenchPane)
        assert app.active_pane == "workbench" and pane.query_one("#wb-collection").value == ("vectors-a", "vecs", "docs")
        assert pane.query_one("#wb-route").value == "primary"
