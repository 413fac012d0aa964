"""The console's Activity pane (`4`): snapshots and key-driven checks on a FIXED topology with activity
(tests/tui_data.py, `live=False`: no database, clock or timer), then on REAL pods: a long vector query
shows up with its pod and age, `c` + yes cancels it on the server, `k` + yes terminates a session.
Update the snapshots after a deliberate change with --snapshot-update and look at the SVGs."""

from __future__ import annotations

import threading
from collections import deque

import psycopg
import pytest
from textual.widgets import DataTable, Input

from vecdash.tui.app import VecdashApp
from vecdash.tui.palette import VecdashCommands
from vecdash.tui.screens.ask import AskScreen
from vecdash.tui.screens.why import WhyScreen
from vecdash.tui.widgets.activity import ActivityPane

from .hostile_data import HOSTILE
from .test_tui_pilot import notes, until, wire_collection  # noqa: F401 (wire_collection: a shared fixture)
from .tui_data import fixed_config, topology_with_activity

WIDE = (120, 40)
SMALL = (80, 24)


def console(*, read_only: bool = False) -> VecdashApp:
    return VecdashApp(fixed_config(read_only=read_only), topology=topology_with_activity(), live=False)


def sessions(app) -> list[str]:
    """The keys (pod/pid) of the sessions table's rows, top to bottom."""
    table = app.query_one("#act-sessions", DataTable)
    return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]


async def show_pane(pilot) -> ActivityPane:
    await pilot.press("4")
    await pilot.pause()
    return pilot.app.query_one(ActivityPane)


def with_rates_history(pane: ActivityPane) -> None:
    """12 refreshes of rates per pod, as the pane keeps them across refreshes."""
    for pod, base in (("primary", 2.0), ("vectors-a", 10.0), ("vectors-b", 1.0)):
        pane.rates_history[pod] = {attr: deque(base * (1 + (i % 5) / 4) * k for i in range(12))
                                   for attr, k in (("vector_qps", 1), ("scans_per_s", 3), ("tuples_per_s", 400))}
    pane.show(pane.topology, record=False)


# --- snapshots ------------------------------------------------------------------------------------

def test_activity_pane_80x24(snap_compare):
    """Alert line, filter and status, the sessions by query age (idle hidden), the highlighted one in
    full under the table."""
    assert snap_compare(console(), terminal_size=SMALL, press=["4"])


def test_activity_pane_120x40(snap_compare):
    """A hostile session highlighted (user, application and query of markup, `%`, `{}`, a newline shown
    escaped), builds in progress with bars, rates with 12 refreshes of history; scrolled to the rest."""

    async def run_before(pilot) -> None:
        pane = await show_pane(pilot)
        with_rates_history(pane)
        table = pane.query_one("#act-sessions", DataTable)
        table.move_cursor(row=sessions(pilot.app).index("vectors-b/5306"))  # user and query "new\nline"
        await pilot.pause()
        pilot.app.set_focus(None)
        await pilot.pause()

    assert snap_compare(console(), terminal_size=WIDE, run_before=run_before)


def test_activity_pane_scrolled_120x40(snap_compare):
    """The lower half: collections flagged (sequential scans, dead tuples, low hit ratio), statements
    (vector first), the note why a pod has none, every alert in full."""

    async def run_before(pilot) -> None:
        pane = await show_pane(pilot)
        with_rates_history(pane)
        pane.scroll_end(animate=False)
        await pilot.pause()

    assert snap_compare(console(), terminal_size=WIDE, run_before=run_before)


# --- keys on fixed data ---------------------------------------------------------------------------

async def off_the_pane_then_on(pilot, key: str) -> ActivityPane:
    """`key` off the Activity pane says what to do and opens nothing; then `4`."""
    app = pilot.app
    await pilot.press(key)
    assert any("press 4" in m for m in notes(app)) and app.screen is app.screen_stack[0]
    return await show_pane(pilot)


async def why_asked(pilot) -> tuple[str, str]:
    """`e`: the why screen's pod and statement; then esc back to the pane."""
    app = pilot.app
    await pilot.press("e")
    await until(pilot, lambda: isinstance(app.screen, WhyScreen), what="the why screen")
    asked = (app.screen.pod, app.screen.sql)
    await pilot.press("escape")
    await until(pilot, lambda: app.screen is app.screen_stack[0], what="back")
    return asked


async def test_4_shows_the_pane_with_sessions_of_every_pod_idle_hidden():
    app = console()
    async with app.run_test(size=WIDE) as pilot:
        await show_pane(pilot)
        assert app.active_pane == "activity"
        rows = sessions(app)
        assert len(rows) == 17 and "primary/3003" not in rows and "vectors-a/4106" not in rows  # idle
        assert rows[0] == "vectors-a/4104"  # 13 min: the oldest query first
        assert "primary/3004" in rows  # a session this role may not read is shown, not hidden
        alert = str(app.query_one("#act-alert-line").render())
        assert alert.startswith("⚠ 3 alerts:") and "seq scans vecs.docs" in alert, alert


async def test_sort_cycles_the_column_and_keeps_the_selected_session():
    app = console()
    async with app.run_test(size=WIDE) as pilot:
        pane = await show_pane(pilot)
        table = app.query_one("#act-sessions", DataTable)
        table.move_cursor(row=sessions(app).index("vectors-a/4105"))
        before = sessions(app)
        await pilot.press("o")  # xact age
        await pilot.press("o")  # pod
        after = sessions(app)
        assert after != before and sorted(after) == sorted(before)
        assert after[0].startswith("primary/") and after[-1].startswith("vectors-b/")
        assert pane.selected_session().key == "vectors-a/4105"
        assert "by pod ↑" in str(app.query_one("#act-status").render())


async def test_filter_and_idle_toggle_change_the_rows():
    app = console()
    async with app.run_test(size=WIDE) as pilot:
        await show_pane(pilot)
        await pilot.press("slash")  # on the Activity pane `/` filters its sessions, not the tree
        box = app.query_one("#act-filter", Input)
        assert app.focused is box and not app.query_one("#tree-filter").display
        await pilot.press(*"etl")
        assert sessions(app) == ["vectors-a/4104"]
        await pilot.press("enter", "h")  # idle ones too: etl's idle session
        assert sessions(app) == ["vectors-a/4104", "vectors-a/4106"]
        box.value = "[bold]"  # markup-like text is matched literally (a user, an app, a query)
        await pilot.pause()
        assert len(sessions(app)) == 1 and sessions(app)[0].startswith("vectors-b/53")
        box.value = "vectors-b"
        await pilot.pause()
        assert len(sessions(app)) == 1 + len(HOSTILE[:6] + HOSTILE[-3:])
        box.focus()
        await pilot.press("escape")  # clears it, like the tree filter, and goes back to the tree
        await pilot.pause()
        assert box.value == "" and len(sessions(app)) == 19
        await pilot.press("h")
        assert len(sessions(app)) == 17


async def test_cancel_asks_naming_pod_pid_user_and_query_then_no_sends_nothing():
    app = console()
    async with app.run_test(size=WIDE) as pilot:
        pane = await off_the_pane_then_on(pilot, "c")
        app.clear_notifications()
        pane.query_one("#act-filter", Input).value = "nobody at all"
        await pilot.pause()
        await pilot.press("escape", "4", "k")  # the filter box gives focus back; nothing selected
        assert any("no session selected" in m for m in notes(app)), notes(app)
        pane.query_one("#act-filter", Input).value = ""
        await pilot.pause()
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, AskScreen), what="the question")
        ask = app.screen
        assert ask.title_text == "Cancel the query of pid 4104 on vectors-a?"
        for part in ("pod vectors-a", "pid 4104", "user etl", "started 779 s", "update vecs.docs set metadata"):
            assert part in ask.detail or part.replace("779 s", "13 min") in ask.detail, (part, ask.detail)
        app.clear_notifications()
        await pilot.press("n")
        await until(pilot, lambda: any("nothing sent to pid 4104" in m for m in notes(app)), what="the answer")
        assert app.screen is app.screen_stack[0]


async def test_cancel_and_terminate_are_absent_read_only():
    app = console(read_only=True)
    async with app.run_test(size=WIDE) as pilot:
        names = {a.name for a in app.console_actions}
        assert {"pane('activity')", "sort", "why_not_index"} <= names
        assert not names & {"cancel_backend", "terminate_backend"}
        palette = " ".join(text for text, _, _ in VecdashCommands(app.screen, None)._commands())
        assert "cancel the selected" not in palette.lower() and "terminate" not in palette.lower()
        pane = await show_pane(pilot)
        hint = str(pane.query_one("#act-keys").render())
        assert "o sort" in hint and "cancel" not in hint and "terminate" not in hint
        for key, what in (("c", "cancel"), ("k", "terminate")):
            app.clear_notifications()
            await pilot.press(key)
            await pilot.pause()
            assert any(m.startswith(f"read-only: {what} is refused") for m in notes(app)), notes(app)
            assert app.screen is app.screen_stack[0]
        await pilot.press("question_mark")
        await pilot.pause()
        listed = " ".join(a.help for a in app.screen.actions)
        assert "Activity or Collections pane: sort" in listed and "cancel" not in listed and "terminate" not in listed


async def test_hostile_text_is_shown_literally_on_one_line():
    app = console()
    async with app.run_test(size=WIDE) as pilot:
        pane = await show_pane(pilot)
        table = app.query_one("#act-sessions", DataTable)
        rows = {key: [str(c) for c in table.get_row(key)] for key in sessions(app)}
        users = {cells[9] for cells in rows.values()}
        assert "new\\nline" in users and "[bold]x" in users and "%(x)s" in users and "{}" in users
        assert all("\n" not in c for cells in rows.values() for c in cells)
        table.move_cursor(row=sessions(app).index("vectors-b/5306"))
        await pilot.pause()
        detail = str(pane.query_one("#act-detail").render())
        assert "select 'new\\nline' as label" in detail and "new\\nline@local" in detail, detail


async def test_e_asks_why_of_the_selected_session_or_statement():
    app = console()
    async with app.run_test(size=WIDE) as pilot:
        pane = await off_the_pane_then_on(pilot, "e")
        pane.query_one("#act-sessions", DataTable).move_cursor(row=sessions(app).index("vectors-a/4102"))
        assert await why_asked(pilot) == ("vectors-a", pane.rows["vectors-a/4102"].session.query)
        statements = pane.query_one("#act-statements", DataTable)
        statements.focus()
        statements.move_cursor(row=1)  # vector ones first, by total time: the slow `1 - (vec <=> $1) desc` one
        assert await why_asked(pilot) == ("vectors-a", "select id from vecs.docs order by 1 - (vec <=> $1) desc limit $2")
        pane.query_one("#act-sessions", DataTable).move_cursor(row=sessions(app).index("primary/3004"))
        pane.query_one("#act-sessions", DataTable).focus()
        app.clear_notifications()
        await pilot.press("e")  # a session whose text this role may not read
        assert any("not visible" in m for m in notes(app)) and app.screen is app.screen_stack[0]


# --- real pods ------------------------------------------------------------------------------------

class Sleeper(threading.Thread):
    """A session on a pod running a vector query that sleeps: its pid, and how its query ended."""

    def __init__(self, dsn: str, sql: str = "select pg_sleep(60), '[1,2,3]'::vector <-> '[3,2,1]'::vector") -> None:
        super().__init__(daemon=True)
        self.conn = psycopg.connect(dsn, autocommit=True, application_name="activity-test")
        self.pid = self.conn.info.backend_pid
        self.sql = sql
        self.error: Exception | None = None
        self.finished = threading.Event()

    def run(self) -> None:
        try:
            self.conn.execute(self.sql)
        except Exception as exc:  # noqa: BLE001 - what the test checks
            self.error = exc
        finally:
            self.finished.set()


async def _select_sleeper(pilot, app, pod: str, sleeper: Sleeper) -> None:
    """After the first refresh, `4`; once the sleeping query is listed (a vector query, its age known),
    the cursor on it."""
    await until(pilot, lambda: app.topology is not None, what="first refresh")
    pane = await show_pane(pilot)
    await until(pilot, lambda: f"{pod}/{sleeper.pid}" in pane.rows, timeout=20, what="the sleeping query in the pane")
    row = pane.rows[f"{pod}/{sleeper.pid}"]
    assert row.session.vector and row.session.query_age_s is not None and "pg_sleep" in row.session.query
    table = pane.query_one("#act-sessions", DataTable)
    table.move_cursor(row=sessions(app).index(f"{pod}/{sleeper.pid}"))
    await pilot.pause()


async def _signal_from_the_pane(pilot, app, pod: str, sleeper: Sleeper, key: str) -> None:
    await _select_sleeper(pilot, app, pod, sleeper)
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, AskScreen), what="the question")
    assert f"pid {sleeper.pid} on {pod}" in app.screen.title_text and "pg_sleep" in app.screen.detail
    await pilot.press("y")
    await until(pilot, sleeper.finished.is_set, timeout=15, what="the query to end")


@pytest.mark.parametrize("key,error", [("c", psycopg.errors.QueryCanceled), ("k", psycopg.OperationalError)])
async def test_a_long_vector_query_shows_up_and_c_cancels_k_terminates_it(estate, key, error):
    sleeper = Sleeper(estate.pods["vectors-b"].dsn())
    sleeper.start()
    app = VecdashApp(estate.config(refresh_seconds=1))
    try:
        async with app.run_test(size=WIDE) as pilot:
            await _signal_from_the_pane(pilot, app, "vectors-b", sleeper, key)
            assert isinstance(sleeper.error, error), repr(sleeper.error)
            what = "cancel" if key == "c" else "terminate"
            await until(pilot, lambda: any(m.startswith(f"{what} sent to pid {sleeper.pid}") for m in notes(app)),
                        what="the outcome")
            if key == "k":
                assert sleeper.conn.closed or sleeper.conn.broken
                gone = estate.sql("vectors-b", "select count(*) from pg_stat_activity where pid = %s", (sleeper.pid,))
                assert gone == [(0,)]
    finally:
        sleeper.conn.close()


async def test_e_on_a_live_vector_query_explains_it_without_running_it(estate, wire_collection):
    sql = f"select id, pg_sleep(30) from vecs.\"{wire_collection}\" order by vec <-> '[0,0,0,0,0,0,0,1]' limit 1"
    sleeper = Sleeper(estate.pods["vectors-b"].dsn(), sql)
    sleeper.start()
    app = VecdashApp(estate.config(refresh_seconds=1))
    try:
        async with app.run_test(size=WIDE) as pilot:
            await _select_sleeper(pilot, app, "vectors-b", sleeper)
            await pilot.press("e")
            await until(pilot, lambda: isinstance(app.screen, WhyScreen), what="the why screen")
            why = app.screen
            assert (why.pod, why.sql) == ("vectors-b", sql)
            await until(pilot, lambda: why.result is not None, timeout=20, what="the explanation")
            assert not sleeper.finished.is_set()  # explained, not run: the sleeping query goes on alone
    finally:
        estate.sql("vectors-b", "select pg_cancel_backend(%s)", (sleeper.pid,))
        sleeper.join(10)
        sleeper.conn.close()


async def test_the_arrows_pick_a_session_once_the_pane_is_shown():
    """A user reaches a session with the keyboard alone: `4` hands the keys to the sessions table, the
    arrows move the selection, and `c` asks about the session the cursor is on; esc gives the keys back
    to the tree."""
    app = console()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        table = app.query_one("#act-sessions", DataTable)
        assert app.focused is table
        await pilot.press("down", "down")
        chosen = sessions(app)[table.cursor_row]
        assert table.cursor_row == 2
        await pilot.press("c")
        await pilot.pause()
        ask = app.screen
        assert isinstance(ask, AskScreen)
        assert chosen.split("/")[1] in "".join(str(w.render()) for w in ask.query("Static"))
        await pilot.press("n")
        await pilot.press("escape")
        assert app.focused is app.query_one("#tree")
