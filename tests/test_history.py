"""The workbench history re-runs the same query (the very vector, even a random or `like` one), restores
the form to it, shows route and knobs, and survives a restart in a private, capped file without secrets."""

from __future__ import annotations

import json
import os
import stat

import pytest

from vecdash import history as hist
from vecdash.history import HistoryEntry, HistoryFile
from vecdash.tui.app import VecdashApp
from vecdash.tui.widgets.topology import Ref, TopologyTree
from tests.test_tui_pilot import make_collection, until

SIZE = (100, 34)


def entry(n: int = 0, **kw) -> HistoryEntry:
    fields = dict(pod="vectors-a", schema="vecs", collection="docs", source=f"random row r{n}",
                  vector=(0.5, float(n)), filters={"year": {"$gte": 2020}}, measure="l2", route="fanout",
                  limit=5, ef_search=80, iterative="relaxed", rows=5, client_ms=1.5)
    fields.update(kw)
    return HistoryEntry(**fields)


# --- the file ---------------------------------------------------------------------------------------


def test_state_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert hist.state_dir() == tmp_path / "state" / "vecdash"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/not/allowed")  # the spec says: ignore a relative path
    assert hist.state_dir() == tmp_path / "home" / ".local" / "state" / "vecdash"


def test_entries_round_trip_per_estate_and_the_file_is_private(tmp_path):
    path = tmp_path / "state" / "vecdash" / "history.jsonl"
    mine, other = HistoryFile(path, "/etc/a.yaml"), HistoryFile(path, "/etc/b.yaml")
    mine.add(entry(1))
    other.add(entry(2))
    assert mine.load() == [entry(1, estate="/etc/a.yaml")]
    assert other.load() == [entry(2, estate="/etc/b.yaml")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_the_file_keeps_the_newest_entries_and_short_vectors_only(tmp_path):
    path = tmp_path / "history.jsonl"
    f = HistoryFile(path)
    for n in range(hist.MAX_ENTRIES + 5):
        f.add(entry(n))
    kept = f.load()
    assert len(kept) == hist.MAX_ENTRIES and kept[0].source == "random row r5" and kept[-1].source.endswith(
        f"r{hist.MAX_ENTRIES + 4}")
    big = entry(0, vector=tuple([0.25] * (hist.MAX_VECTOR_VALUES + 1)), like_id="r7", source="like r7")
    f.add(big)
    saved = f.load()[-1]
    assert saved.vector is None and saved.rerunnable and saved.query_fields()["like_id"] == "r7"
    f.add(entry(0, vector=tuple([0.25] * (hist.MAX_VECTOR_VALUES + 1))))
    assert not f.load()[-1].rerunnable and "cannot re-run" in f.load()[-1].summary()


def test_a_planted_link_is_replaced_never_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    path = tmp_path / "history.jsonl"
    path.symlink_to(victim)
    f = HistoryFile(path)
    assert f.load() == []  # not read through the link either
    f.add(entry(1))
    assert victim.read_text() == "keep me\n"
    assert not path.is_symlink() and len(f.load()) == 1


def test_bad_lines_are_skipped(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text("not json\n[1, 2]\n" + json.dumps({"pod": 3}) + "\n" + json.dumps(entry(1).to_json()) + "\n")
    assert HistoryFile(path).load() == [entry(1)]


def test_summary_shows_route_and_knobs():
    text = entry(1).summary()
    assert "route fanout" in text and "ef_search=80 iter=relaxed" in text and "l2 k=5" in text
    assert "random row r1" in text and '{"year": {"$gte": 2020}}' in text


# --- the console ------------------------------------------------------------------------------------


def _history_path() -> str:
    return os.path.join(os.environ["HOME"], ".local", "state", "vecdash", "history.jsonl")


@pytest.fixture
def history_collection(estate, make_vecs_client, unique):
    name = f"hist_{unique}"
    make_collection(make_vecs_client, estate.pods["vectors-a"], name, rows=300)
    estate.sql("vectors-a", f'analyze vecs."{name}"')
    return name


async def _open_workbench(pilot, app, name):
    await until(pilot, lambda: app.topology is not None, what="first refresh")
    assert app.query_one(TopologyTree).select_ref(Ref("collection", "vectors-a", "vecs", name))
    await pilot.pause()
    await pilot.press("q")
    await pilot.pause()
    return app.query_one("WorkbenchPane")


async def test_history_reruns_the_same_random_query_and_restores_the_form(estate, history_collection):
    from textual.widgets import Checkbox, Input, OptionList, Select

    name = history_collection
    app = VecdashApp(estate.config(names=["primary", "vectors-a"]))
    async with app.run_test(size=SIZE) as pilot:
        pane = await _open_workbench(pilot, app, name)
        form = {"#wb-filter": '{"year": {"$gte": 2010}}', "#wb-limit": "7", "#wb-ef": "60"}
        for sel, value in form.items():
            pane.query_one(sel, Input).value = value
        pane.query_one("#wb-measure", Select).value = "l2"
        pane.query_one("#wb-iterative", Select).value = "relaxed_order"
        pane.query_one("#wb-recall", Checkbox).value = True
        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(pane.history) == 1, timeout=20, what="first query")
        first = pane.history[0]
        assert first.source.startswith("random row") and len(first.vector) == 8
        ids = [r.id for r in pane.last_result.rows]
        option = str(pane.query_one("#wb-history", OptionList).get_option_at_index(0).prompt)
        assert "route direct" in option and "ef_search=60 iter=relaxed_order" in option and "l2 k=7" in option
        # the form moves on: other filter, limit, measure, knobs, a fresh random vector
        for sel in form:
            pane.query_one(sel, Input).value = ""
        pane.query_one("#wb-measure", Select).value = "cosine"
        pane.query_one("#wb-iterative", Select).value = "off"
        pane.query_one("#wb-recall", Checkbox).value = False
        box = pane.query_one("#wb-history", OptionList)
        box.focus()
        box.highlighted = 0
        await pilot.press("enter")
        await until(pilot, lambda: len(pane.history) == 2, timeout=20, what="re-run")
        again = pane.history[1]
        assert again.vector == first.vector and again.query_fields() == first.query_fields()
        assert [r.id for r in pane.last_result.rows] == ids
        # the form shows the query that ran: ctrl+r asks it once more
        assert {sel: pane.query_one(sel, Input).value for sel in form} == form
        assert pane.query_one("#wb-measure", Select).value == "l2"
        assert pane.query_one("#wb-iterative", Select).value == "relaxed_order"
        assert pane.query_one("#wb-recall", Checkbox).value is True
        assert pane.query_one("#wb-vector-mode", Select).value == "json"
        assert json.loads(pane.query_one("#wb-vector", Input).value) == list(first.vector)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(pane.history) == 3, timeout=20, what="ctrl+r on the restored form")
        assert pane.history[2].query_fields() == first.query_fields()


async def test_history_survives_a_restart_and_keeps_no_secrets(estate, history_collection):
    from textual.widgets import Input, OptionList, Select

    name = history_collection
    config = estate.config(names=["primary", "vectors-a"])
    app = VecdashApp(config)
    async with app.run_test(size=SIZE) as pilot:
        pane = await _open_workbench(pilot, app, name)
        pane.query_one("#wb-vector-mode", Select).value = "like id"
        pane.query_one("#wb-vector", Input).value = "r5"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(pane.history) == 1, timeout=20, what="like query")
        first = pane.history[0]
        assert first.source == "like r5" and pane.last_result.rows[0].id == "r5"
    saved = open(_history_path()).read()
    assert name in saved and "r5" in saved
    for pod in estate.pods.values():
        assert pod.password not in saved
    assert "postgresql://" not in saved and "password" not in saved
    # r5 changes; the history still asks with the vector the query used
    estate.sql("vectors-a", f"update vecs.\"{name}\" set vec = array_fill(1, array[8])::vector where id = 'r5'")
    app = VecdashApp(config)
    async with app.run_test(size=SIZE) as pilot:
        pane = await _open_workbench(pilot, app, name)
        box = pane.query_one("#wb-history", OptionList)
        assert box.display and box.option_count == 1 and pane.history[0].query_fields() == first.query_fields()
        box.focus()
        box.highlighted = 0
        await pilot.press("enter")
        await until(pilot, lambda: len(pane.history) == 2, timeout=20, what="re-run after restart")
        assert pane.history[1].vector == first.vector != (1.0,) * 8
        assert pane.last_result.spec.vector == list(first.vector) and pane.last_result.spec.like_id is None
