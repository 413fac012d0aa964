"""The console shows what is true now (issue #14, part 1), driven by keys against REAL pods: after a doctor
fix the pane verifies what was fixed and the finding leaves the list; an unwire takes its old verification
with it; `w` plans what the tree selection names; a plan lives only while the form names its target; a new
plan is the pane's one subject; a failed query marks the results under it stale; the tour describes the
estate as it is now, says what it sets in the workbench, and opens the data screens under its note."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from textual.widgets import OptionList

from vecdash import demo
from vecdash.config import Config, PodConfig, Settings, load_config
from vecdash.embedded import default_root
from vecdash.tui.app import VecdashApp
from vecdash.tui.screens.browse import BrowseScreen
from vecdash.tui.screens.collection_map import MapScreen
from vecdash.tui.screens.confirm import ConfirmScreen
from vecdash.tui.screens.keys import KeysScreen
from vecdash.tui.screens.record import RecordScreen
from vecdash.tui.screens.tour import TourScreen
from vecdash.tui.widgets.topology import Ref, TopologyTree
from vecdash.tui.widgets.wiring import WiringPane
from vecdash.tui.widgets.workbench import WorkbenchPane

from .test_tui_pilot import SIZE, make_collection, plan_wiring, select_collection, text_of, until
from .test_tui_pilot import wire_collection  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def small_demo():
    """The demo estate at a small scale: legacy_b without extensions 'vector', legacy_b.posts never analyzed."""
    root = default_root("vtruth-")
    config_path, pods = demo.bring_up(root, scale=0.02)
    try:
        yield load_config(str(config_path))
    finally:
        demo.stop(pods)
        shutil.rmtree(root, ignore_errors=True)


async def confirm_yes(pilot, app) -> None:
    await pilot.press("a")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation modal")
    await pilot.press("y")
    await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="modal closed")


def form_target(pane: WiringPane):
    pod, coll = pane.query_one("#wire-pod").value, pane.query_one("#wire-collection").value
    return (pod, *coll) if isinstance(coll, tuple) else None


def findings_text(app) -> str:
    box = app.query_one("#wire-findings", OptionList)
    return "\n".join(str(box.get_option_at_index(i).prompt) for i in range(box.option_count))


async def fix_finding(pilot, app, pane: WiringPane, kind: str, subject: str) -> None:
    """Highlight the finding, f shows its fix plan, a + y applies it."""
    idx = next(i for i, f in enumerate(pane.findings) if (f.kind, f.subject) == (kind, subject))
    app.query_one("#wire-findings", OptionList).highlighted = idx
    await pilot.press("f")
    await until(pilot, lambda: pane.plan_shown is not None, what="fix plan")
    await confirm_yes(pilot, app)


async def test_a_doctor_fix_verifies_what_it_fixed_and_its_finding_leaves_the_list(small_demo):
    app = VecdashApp(small_demo, demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await select_collection(pilot, app, "docs", pod="vectors-a")  # the wiring form names vectors-a docs
        pane = app.query_one(WiringPane)
        assert form_target(pane) == ("vectors-a", "vecs", "docs")
        await pilot.press("d")
        await until(pilot, lambda: pane.findings, what="doctor findings")
        assert ("no_vector_pushdown", "server legacy_b") in [(f.kind, f.subject) for f in pane.findings]

        await fix_finding(pilot, app, pane, "no_vector_pushdown", "server legacy_b")
        await until(pilot, lambda: "fixed: server legacy_b" in text_of(app, "#wire-status"), timeout=30,
                    what="the fix re-diagnosed")
        assert "server legacy_b" not in [f.subject for f in pane.findings]
        assert "legacy_b lacks" not in findings_text(app)
        # the verification is of what was fixed (posts through legacy_b), not of the form's vectors-a docs
        await until(pilot, lambda: pane.last_verification is not None, timeout=30, what="verification of the fix")
        v = pane.last_verification
        assert v.server == "legacy_b" and v.pushdown is True, v.reason
        shown = text_of(app, "#wire-verify-view")
        assert "verified vectors-b: vecs.posts" in shown and "vectors_a" not in shown

        # the ANALYZE fix the same way: its finding leaves, the verification shows the statistics now
        assert ("not_analyzed", "legacy_b.posts") in [(f.kind, f.subject) for f in pane.findings]
        await fix_finding(pilot, app, pane, "not_analyzed", "legacy_b.posts")
        await until(pilot, lambda: "fixed: legacy_b.posts" in text_of(app, "#wire-status"), timeout=30,
                    what="the ANALYZE fix re-diagnosed")
        assert "legacy_b.posts" not in [f.subject for f in pane.findings]
        await until(pilot, lambda: pane.last_verification is not None, timeout=30, what="verification of the fix")
        stats = next(c for c in pane.last_verification.checks if c.name == "statistics")
        assert stats.ok, stats.detail

        # the tour's stop 4 describes legacy_b as it is now, not as it was seeded
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, TourScreen), what="tour")
        await pilot.press("n", "n", "n")
        await pilot.pause(0.2)
        note = str(app.screen.query_one("#tour-note").render())
        assert "fixed" in note and "lacks" not in note, note


async def test_the_tour_says_what_it_sets_in_the_workbench(small_demo):
    app = VecdashApp(small_demo, demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        bench = app.query_one(WorkbenchPane)
        bench.suggest(Ref("collection", "vectors-b", "vecs", "posts"), force=True)  # the user's own form,
        bench.set_filters('{"year": 2001}')  # which the tour replaces
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, TourScreen), what="tour")
        tour = app.screen
        assert not tour.query_one("#tour-changes").display  # stop 1 touches no form
        await pilot.press("n", "n", "n", "n")  # stop 5: the filtered query
        await pilot.pause(0.2)
        said = str(tour.query_one("#tour-changes").render())
        assert tour.query_one("#tour-changes").display
        assert '{"year": {"$gte": 2020}} (was {"year": 2001})' in said and "ran the query" in said, said
        assert "collection vectors-a: vecs.docs (was vectors-b: vecs.posts)" in said


async def test_unwire_takes_the_old_verification_with_it(estate, wire_collection):
    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await select_collection(pilot, app, wire_collection)
        bench = app.query_one(WorkbenchPane)
        await pilot.press("q", "ctrl+r")  # results on screen before the change
        await until(pilot, lambda: bench.last_result is not None, timeout=20, what="query result")
        await pilot.press("escape")
        pane = await plan_wiring(pilot, app)
        await confirm_yes(pilot, app)
        await until(pilot, lambda: pane.last_verification is not None, timeout=30, what="verification")
        assert "YES" in text_of(app, "#wire-verify-view")
        # the change reached the workbench: its results are marked as from before it
        await until(pilot, lambda: bench.stale is not None, what="results marked stale")
        assert app.query_one("#wb-stale").display and "wire" in text_of(app, "#wb-stale")

        await pilot.press("u")
        await until(pilot, lambda: pane.plan_shown is not None, what="unwire plan")
        await confirm_yes(pilot, app)
        await until(pilot, lambda: "applied: unwire" in text_of(app, "#wire-status"), timeout=30, what="unwired")
        assert not app.query_one("#wire-verify-view").display and pane.last_verification is None
        await until(pilot, lambda: "read again" in text_of(app, "#wire-status"), timeout=20, what="estate re-read")
        assert not app.query_one("#wire-verify-view").display


async def test_w_on_a_pod_node_never_plans_a_collection_of_another_pod(estate, wire_collection, make_vecs_client,
                                                                       unique):
    other = f"truth_a_{unique}"
    make_collection(make_vecs_client, estate.pods["vectors-a"], other, rows=50)
    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await select_collection(pilot, app, wire_collection)
        pane = await plan_wiring(pilot, app)
        assert form_target(pane) == ("vectors-b", "vecs", wire_collection)
        assert app.query_one(TopologyTree).select_ref(Ref("pod", "vectors-a"))
        await pilot.pause()
        await pilot.press("w")
        await until(pilot, lambda: "vectors-a" in text_of(app, "#wire-status"), what="w on the pod node")
        await pilot.pause(0.3)
        assert pane.query_one("#wire-pod").value == "vectors-a"
        assert pane.plan_shown is None and not app.query_one("#wire-plan-view").display
        assert "choose a collection of pod vectors-a" in text_of(app, "#wire-status")


async def test_a_plan_lives_only_while_the_form_names_its_target(estate, spare_pod):
    """The form's pod goes down (its collection blanks): the plan goes with it and does not come back
    with the pod; the form names the collection again."""
    spare_pod.psql("create extension if not exists vector; create schema if not exists vecs; "
                   "create table if not exists vecs.gone (id varchar primary key, vec vector(3) not null, "
                   "metadata jsonb not null default '{}'::jsonb); "
                   "insert into vecs.gone values ('a', '[1,2,3]', '{}') on conflict do nothing")
    config = Config(
        pods=(PodConfig(name="primary", role="primary", dsn=estate.dsn("primary")),
              PodConfig(name="spare", role="secondary", dsn=spare_pod.dsn())),
        settings=Settings(statement_timeout_ms=2000, connect_timeout_s=1, refresh_seconds=3600),
        path="<test>",
    )
    app = VecdashApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await select_collection(pilot, app, "gone", pod="spare")
        pane = await plan_wiring(pilot, app)
        spare_pod.pause()
        try:
            await pilot.press("r")
            await until(pilot, lambda: not app.topology.pod("spare").up and not app.refreshing, timeout=15,
                        what="the pod seen down")
            await pilot.pause(0.2)
            assert pane.query_one("#wire-collection").is_blank()
            assert pane.plan_shown is None and not app.query_one("#wire-plan-view").display
            assert "plan dropped" in text_of(app, "#wire-status")
        finally:
            spare_pod.resume()
        await pilot.press("r")
        await until(pilot, lambda: app.topology.pod("spare").up and not app.refreshing, timeout=15,
                    what="the pod back")
        await pilot.pause(0.2)
        assert form_target(pane) == ("spare", "vecs", "gone")  # the form names it again
        assert pane.plan_shown is None and not app.query_one("#wire-plan-view").display


async def test_a_new_plan_is_the_panes_one_subject(estate, wire_collection):
    """d, then v, then w: the plan does not sit above an old verification and doctor list."""
    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await select_collection(pilot, app, wire_collection)
        pane = app.query_one(WiringPane)
        await pilot.press("d")
        await until(pilot, lambda: app.query_one("#wire-findings").display, what="doctor findings")
        await pilot.press("v")
        await until(pilot, lambda: pane.last_verification is not None, timeout=20, what="verification")
        assert app.query_one("#wire-findings").display and app.query_one("#wire-verify-view").display
        await pilot.press("w")
        await until(pilot, lambda: pane.plan_shown is not None, what="plan")
        await pilot.pause()
        assert app.query_one("#wire-plan-view").display
        assert not app.query_one("#wire-verify-view").display
        assert not app.query_one("#wire-findings").display and not app.query_one("#wire-findings-title").display


async def test_a_failed_query_marks_the_previous_results_stale(estate, wire_collection):
    from textual.widgets import Input, Select

    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await select_collection(pilot, app, wire_collection)
        bench = app.query_one(WorkbenchPane)
        await pilot.press("q", "ctrl+r")
        await until(pilot, lambda: bench.last_result is not None, timeout=20, what="query result")
        assert not app.query_one("#wb-stale").display
        bench.query_one("#wb-vector-mode", Select).value = "like id"
        bench.query_one("#wb-vector", Input).value = "no-such-id"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: bench.stale is not None, timeout=20, what="the failed run")
        assert "no-such-id" in text_of(app, "#wb-status")
        stale = text_of(app, "#wb-stale")
        assert app.query_one("#wb-stale").display and "stale" in stale and wire_collection in stale, stale
        assert app.query_one("#wb-results").has_class("-stale")
        # a run that works makes them current again
        bench.query_one("#wb-vector", Input).value = "r3"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: bench.stale is None, timeout=20, what="a good run")
        assert not app.query_one("#wb-stale").display and not app.query_one("#wb-results").has_class("-stale")


async def test_an_index_build_re_diagnoses_a_shown_doctor_list(estate, make_vecs_client, unique):
    from vecdash.tui.screens.index_build import IndexBuildScreen

    name = f"truth_ix_{unique}"
    col = make_vecs_client(estate.pods["vectors-b"]).get_or_create_collection(name=name, dimension=4)
    col.upsert(records=[(f"r{i}", [float(i), 1.0, 0.0, 1.0], {}) for i in range(50)])
    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await select_collection(pilot, app, name)
        pane = app.query_one(WiringPane)
        await pilot.press("d")
        await until(pilot, lambda: pane.findings_at is not None, what="doctor findings")
        before = pane.findings_at
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, IndexBuildScreen), what="index build screen")
        screen = app.screen
        await until(pilot, lambda: screen.preview is not None, timeout=20, what="build preview")
        screen.action_start_build()  # a build is confirmed with its statement first
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await until(pilot, lambda: screen.result is not None or screen.error, timeout=60, what="index built")
        await pilot.press("escape")
        await until(pilot, lambda: pane.findings_at is not None and pane.findings_at > before, timeout=30,
                    what="the doctor list re-diagnosed")
        coll = app.topology.pod("vectors-b").collection("vecs", name)
        assert coll.indexes, "the tree and stats re-read the new index"
        assert not [f for f in pane.findings if f.subject.endswith(f"vecs.{name}")]


async def test_the_tour_opens_a_record_the_map_browse_and_keys_under_its_note(small_demo):
    """At 80x24 and read-only: after the workbench stops, each data stop puts its screen under the note
    (the one before it closed): the first result's record, the map of the queried collection with the
    query and its neighbours, browse, keys; back goes back, and the tour's end closes what it opened."""
    config = replace(small_demo, settings=replace(small_demo.settings, read_only=True))
    app = VecdashApp(config, demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.topology is not None, what="first refresh")
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, TourScreen), what="tour")
        tour = app.screen
        await pilot.press(*["n"] * 5)  # stop 6: recall, the query run again
        bench = app.query_one(WorkbenchPane)
        await until(pilot, lambda: bench.last_result is not None and bench.last_result.rows, timeout=30,
                    what="the tour's query")
        under = lambda: app.screen_stack[-2]  # noqa: E731 - the screen under the tour's note

        await pilot.press("n")
        await until(pilot, lambda: isinstance(under(), RecordScreen) and under().record is not None, timeout=30,
                    what="the record, read")
        assert app.screen is tour and "A result, whole" in str(tour.query_one("#tour-title").render())
        assert under().row.id == bench.last_result.rows[0].id

        await pilot.press("n")
        await until(pilot, lambda: isinstance(under(), MapScreen) and under().cmap is not None, timeout=30,
                    what="the map, drawn")
        cmap, ran = under().cmap, bench.last_result
        assert (cmap.pod, cmap.schema, cmap.name) == (ran.spec.pod, ran.spec.schema, ran.spec.collection)
        assert cmap.query is not None and cmap.neighbours  # the query and its neighbours are marked
        assert not any(isinstance(s, RecordScreen) for s in app.screen_stack)  # the last stop's closed

        await pilot.press("n")
        await until(pilot, lambda: isinstance(under(), BrowseScreen) and under().page is not None, timeout=30,
                    what="the first page")
        assert under().page.rows
        await pilot.press("n")
        await until(pilot, lambda: isinstance(under(), KeysScreen) and under().report is not None, timeout=30,
                    what="the keys")
        assert "year" in [k.key for k in under().report.keys]
        assert len(app.screen_stack) == 3 and app.screen is tour
        assert "n / esc ends" in str(tour.query_one("#tour-hint").render())  # the last stop

        await pilot.press("p")  # back: browse again, in place of keys
        await until(pilot, lambda: isinstance(under(), BrowseScreen), what="browse again")
        assert len(app.screen_stack) == 3
        await pilot.press("p", "p", "p")  # the recall stop: no screen under the note
        await until(pilot, lambda: len(app.screen_stack) == 2, what="the data screens closed")
        await pilot.press(*["n"] * 4, "escape")  # keys again, then the tour ends: its screen closes too
        await until(pilot, lambda: len(app.screen_stack) == 1, what="the tour and its screen closed")
        assert app.read_only


async def test_a_down_pod_shows_no_latency_line():
    """A pod that does not answer has no latency: its sparkline (the history's zeros while it was down)
    would read "0.0 ms" under a full bar. An up pod shows its history."""
    from collections import deque

    from vecdash.tui.widgets.stats import StatsPane

    from .tui_data import fixed_config, topology_with_down_pod

    app = VecdashApp(fixed_config(with_down=True), topology=topology_with_down_pod(), live=False)
    async with app.run_test(size=SIZE) as pilot:
        app.latency_history["vectors-c"] = deque([1.2, 0.0, 0.0])
        app.latency_history["vectors-a"] = deque([0.9, 1.1])
        row = app.query_one(StatsPane).query_one("#spark-latency-row")
        assert app.query_one(TopologyTree).select_ref(Ref("pod", "vectors-c"))
        await pilot.pause()
        assert not row.display
        assert app.query_one(TopologyTree).select_ref(Ref("pod", "vectors-a"))
        await pilot.pause()
        assert row.display

