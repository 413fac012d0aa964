"""The console's maintenance keys on REAL pods: Z analyze, V vacuum, D drop index, R reindex, F fix an
invalid index, X drop collection. Each shows exactly its statement (hostile names literal, quoted right),
n / esc change nothing, y runs it and the server shows the effect; c cancels a running one; a pod that
hangs mid-change leaves the console usable; read-only and replay consoles offer none of them."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from textual.command import CommandList
from textual.widgets import OptionList

from vecdash.errors import ReadOnlyError
from vecdash.tui import actions
from vecdash.tui.app import VecdashApp
from vecdash.tui.screens.change_run import ChangeRunScreen
from vecdash.tui.screens.confirm import ConfirmScreen
from vecdash.tui.screens.pick import PickScreen
from vecdash.tui.widgets.topology import Ref, TopologyTree

from .hostile_data import quoted
from .test_tui_pilot import notes, until

SIZE = (100, 34)
POD = "vectors-a"
NAMES = {"analyze", "vacuum", "reindex", "fix_index", "drop_index", "drop_collection"}
KEYS = ("Z", "V", "R", "F", "D", "X")


def make(sql_run, name: str, indexes: tuple[str, ...] = (), rows: int = 300) -> None:
    """A vecs-layout collection vecs.NAME with HNSW indexes named INDEXES (one measure each)."""
    table = sql.Identifier("vecs", name)
    sql_run(sql.SQL("create table {} (id varchar primary key, vec vector(4) not null, "
                    "metadata jsonb not null default '{{}}'::jsonb)").format(table))
    sql_run(sql.SQL("insert into {} select 'r' || i, array[i, 1, 0, i % 7]::vector, jsonb_build_object('k', i % 3) "
                    "from generate_series(1, {}) i").format(table, sql.Literal(rows)))
    for ix, ops in zip(indexes, ("vector_cosine_ops", "vector_l2_ops")):
        sql_run(sql.SQL("create index {} on {} using hnsw (vec {})").format(sql.Identifier(ix), table, sql.Identifier(ops)))


@pytest.fixture(scope="module")
def pod_sql(estate):
    def run(statement, params=None):
        with psycopg.connect(estate.dsn(POD), autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else None
    run("create schema if not exists vecs")
    return run


def exists(pod_sql, name: str) -> bool:
    return pod_sql("select to_regclass(%s) is not null", ("vecs." + quoted(name),))[0][0]


async def ready(pilot, app, name: str) -> None:
    await until(pilot, lambda: app.topology is not None and not app.refreshing, what="first refresh")
    assert app.query_one(TopologyTree).select_ref(Ref("collection", POD, "vecs", name))
    await pilot.pause()


async def confirm(pilot, app, key: str, sql_text: str, *, pick: int | None = None) -> ConfirmScreen:
    """Press `key` (and pick option `pick`); the confirmation must show `sql_text` as its one statement."""
    await pilot.press(key)
    if pick is not None:
        await until(pilot, lambda: isinstance(app.screen, PickScreen), what="the pick")
        for _ in range(pick):
            await pilot.press("down")
        await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what=f"the confirmation of {key}")
    screen = app.screen
    assert [s.preview for s in screen.plan.pending] == [sql_text]
    assert sql_text in screen.query_one("#confirm-sql").content.code  # the text the screen draws
    return screen


async def run(pilot, app) -> ChangeRunScreen:
    await pilot.press("y")
    await until(pilot, lambda: isinstance(app.screen, ChangeRunScreen), what="the run")
    screen = app.screen
    await until(pilot, lambda: screen.state not in ("running", "cancelling"), timeout=30, what="the change to end")
    return screen


async def close(pilot, app, screen) -> None:
    await pilot.press("escape")
    await until(pilot, lambda: app.screen is not screen and not app.refreshing, what="closed and re-read")


async def test_analyze_and_vacuum_show_their_statement_and_run(estate, pod_sql, unique):
    name = f"mt x[/b] 50%off {{0}} {unique}"
    make(pod_sql, name)
    pod_sql(sql.SQL("delete from {} where id like 'r1%'").format(sql.Identifier("vecs", name)))
    stats = "select last_analyze, last_vacuum, n_dead_tup from pg_stat_user_tables where relid = to_regclass(%s)"
    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app, name)
        shown = await confirm(pilot, app, "Z", f"analyze (verbose) \"vecs\".{quoted(name)}")
        assert name in str(shown.query_one("#confirm-title").render())  # the name, literally
        await pilot.press("n")
        await until(pilot, lambda: app.screen is app.screen_stack[0], what="back to the console")
        assert pod_sql(stats, ("vecs." + quoted(name),))[0][0] is None  # n ran nothing

        await confirm(pilot, app, "Z", f"analyze (verbose) \"vecs\".{quoted(name)}")
        done = await run(pilot, app)
        assert done.state == "done", done.message
        assert f"analyze (verbose) \"vecs\".{quoted(name)};" in str(done.query_one("#run-sql").render())
        assert any("last_analyze: None ->" in line for line in done.report), done.report
        await close(pilot, app, done)
        assert pod_sql(stats, ("vecs." + quoted(name),))[0][0] is not None

        await confirm(pilot, app, "V", f"vacuum (verbose) \"vecs\".{quoted(name)}")
        done = await run(pilot, app)
        assert done.state == "done", done.message
        await close(pilot, app, done)
        last_vacuum, dead = pod_sql(stats, ("vecs." + quoted(name),))[0][1:]
        assert last_vacuum is not None and dead == 0


async def test_drop_and_rebuild_an_index_picked_from_several(estate, pod_sql, unique):
    name = f"mt ix {unique}"
    first, second = f"[bold]x ix {unique}", f"a'b\"c ix {unique}"  # in catalog (C collation) order
    make(pod_sql, name, (first, second))
    app = VecdashApp(estate.config())
    oid = "select %s::regclass::oid"
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app, name)
        # two indexes: D asks which; esc picks none
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, PickScreen), what="the pick")
        labels = [str(o.prompt) for o in app.screen.query_one(OptionList).options]
        assert [label.split("  ")[0] for label in labels] == [first, second], labels
        await pilot.press("escape")
        await until(pilot, lambda: any("nothing picked" in n for n in notes(app)), what="nothing picked")

        # the second option, then n at the confirmation: nothing dropped
        await confirm(pilot, app, "D", f'drop index concurrently "vecs".{quoted(second)}', pick=1)
        await pilot.press("n")
        await until(pilot, lambda: app.screen is app.screen_stack[0], what="back to the console")
        assert exists(pod_sql, first) and exists(pod_sql, second)

        await confirm(pilot, app, "D", f'drop index concurrently "vecs".{quoted(first)}', pick=0)
        done = await run(pilot, app)
        assert done.state == "done", done.message
        await close(pilot, app, done)
        assert not exists(pod_sql, first) and exists(pod_sql, second)

        # one index left: R takes it without asking; REINDEX CONCURRENTLY swaps in a new relation
        before = pod_sql(oid, ("vecs." + quoted(second),))[0][0]
        await confirm(pilot, app, "R", f'reindex index concurrently "vecs".{quoted(second)}')
        done = await run(pilot, app)
        assert done.state == "done", done.message
        await close(pilot, app, done)
        assert pod_sql(oid, ("vecs." + quoted(second),))[0][0] != before


async def test_fix_an_invalid_index_then_drop_the_collection(estate, pod_sql, unique):
    name = f"mt fix {unique}"
    bad = f"bad {unique}"
    make(pod_sql, name)
    with pytest.raises(psycopg.errors.UniqueViolation):  # what a failed concurrent build leaves: INVALID
        pod_sql(sql.SQL("create unique index concurrently {} on {} ((metadata->>'k'))").format(
            sql.Identifier(bad), sql.Identifier("vecs", name)))
    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app, name)
        # F: drop or rebuild; the rebuild fails again (duplicates): said on the screen, which stays usable
        await confirm(pilot, app, "F", f'reindex index concurrently "vecs".{quoted(bad)}', pick=1)
        failed = await run(pilot, app)
        assert failed.state == "failed" and "could not create unique index" in failed.message, failed.message
        said = str(failed.query_one("#run-status").render())
        await close(pilot, app, failed)
        await confirm(pilot, app, "F", f'drop index concurrently "vecs".{quoted(bad)}', pick=0)
        done = await run(pilot, app)
        assert done.state == "done", done.message
        await close(pilot, app, done)
        assert not exists(pod_sql, bad)
        # the failed REINDEX CONCURRENTLY left its own invalid copy, as the failure said: F finds it
        assert "_ccnew" in said
        await confirm(pilot, app, "F", f'drop index concurrently "vecs".{quoted(bad + "_ccnew")}', pick=0)
        await close(pilot, app, await run(pilot, app))
        await pilot.press("F")  # nothing invalid left: said, nothing asked
        await until(pilot, lambda: any("no invalid index to fix" in n for n in notes(app)), what="nothing to fix")

        await confirm(pilot, app, "X", f'drop table "vecs".{quoted(name)}')
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.screen_stack[0], what="back to the console")
        assert exists(pod_sql, name)
        await confirm(pilot, app, "X", f'drop table "vecs".{quoted(name)}')
        done = await run(pilot, app)
        assert done.state == "done" and done.report == [f"ran on pod {POD}: drop collection vecs.{name}"]
        await close(pilot, app, done)
        assert not exists(pod_sql, name)
        pod = app.topology.pod(POD)
        assert pod.collection("vecs", name) is None  # the pod was re-read


async def test_c_cancels_a_running_vacuum_on_the_server(estate, pod_sql, unique):
    """VACUUM has no statement timeout; one waiting on a lock runs until c cancels it on the server."""
    name = f"mt lock {unique}"
    make(pod_sql, name, rows=20)
    app = VecdashApp(estate.config())
    with psycopg.connect(estate.dsn(POD)) as holder:
        holder.execute(sql.SQL("lock table {} in share update exclusive mode").format(sql.Identifier("vecs", name)))
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app, name)
            await confirm(pilot, app, "V", f"vacuum (verbose) \"vecs\".{quoted(name)}")
            await pilot.press("y")
            await until(pilot, lambda: isinstance(app.screen, ChangeRunScreen), what="the run")
            screen = app.screen
            waiting = "select count(*) from pg_stat_activity where query like 'vacuum (verbose)%' and wait_event_type = 'Lock'"
            await until(pilot, lambda: pod_sql(waiting)[0][0] == 1, what="the vacuum to wait on the lock")
            await pilot.press("escape")  # refused while it runs
            assert app.screen is screen and any("still running" in n for n in notes(app))
            await pilot.press("c")
            await until(pilot, lambda: screen.state == "cancelled", what="cancelled")
            assert pod_sql(waiting)[0][0] == 0
            await close(pilot, app, screen)
        holder.rollback()
    assert pod_sql("select last_vacuum from pg_stat_user_tables where relid = to_regclass(%s)",
                   ("vecs." + quoted(name),))[0][0] is None


async def test_a_pod_hung_mid_vacuum_leaves_the_console_usable(estate, spare_pod):
    """SIGSTOP while the VACUUM waits: c gives up on the server within psycopg's bounds and says so;
    the next change fails planning within the connect timeout, as a message."""
    spare_pod.psql("create schema if not exists vecs")
    make(lambda s, p=None: spare_pod.psql(s.as_string(None)), "hung", rows=20)
    from vecdash.config import Config, PodConfig, Settings

    cfg = Config(pods=(PodConfig(name="primary", role="primary", dsn=estate.dsn("primary")),
                       PodConfig(name="spare", role="secondary", dsn=spare_pod.dsn())),
                 settings=Settings(connect_timeout_s=1, statement_timeout_ms=1000, refresh_seconds=600), path="<hung>")
    app = VecdashApp(cfg)
    with psycopg.connect(spare_pod.dsn()) as holder:
        holder.execute("lock table vecs.hung in share update exclusive mode")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.topology is not None and not app.refreshing, what="first refresh")
            assert app.query_one(TopologyTree).select_ref(Ref("collection", "spare", "vecs", "hung"))
            await pilot.press("V")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
            await pilot.press("y")
            await until(pilot, lambda: isinstance(app.screen, ChangeRunScreen), what="the run")
            screen = app.screen
            await pilot.pause(0.5)
            spare_pod.pause()
            try:
                await pilot.press("c")
                await pilot.press("escape")  # the console answers while the cancel waits on the hung pod
                assert screen.state == "cancelling" and any("still running" in n for n in notes(app))
                await until(pilot, lambda: screen.state == "cancelled", timeout=20, what="the cancel to give up")
                await close(pilot, app, screen)
                await pilot.press("Z")
                await until(pilot, lambda: any("planning the change failed" in n and "spare" in n for n in notes(app)),
                            timeout=20, what="the planning failure")
                assert app.is_running and app.screen is app.screen_stack[0]
            finally:
                spare_pod.resume()


async def test_read_only_and_replay_offer_none_of_them(estate):
    assert NAMES <= {a.name for a in actions.ACTIONS if a.dangerous}
    assert not NAMES & {a.name for a in actions.available(read_only=True, replay=True)}
    assert NAMES <= {a.name for a in actions.refused(read_only=True, replay=True)}  # their keys say why
    app = VecdashApp(estate.config(read_only=True, names=["primary"]))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None and not app.refreshing, what="first refresh")
        assert not NAMES & {a.name for a in app.console_actions}
        for key in KEYS:
            assert all(b.action.startswith("refused(") and not b.show for b in app._bindings.key_to_bindings[key])
        await pilot.press("X")
        await pilot.pause(0.2)
        assert app.screen is app.screen_stack[0]
        assert any(n.startswith("read-only: drop coll. is refused") for n in notes(app)), notes(app)
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        assert not NAMES & {a.name for a in app.screen.actions}  # what the help screen lists
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"vacuum")
        await pilot.pause(0.5)
        hits = [str(o.prompt) for o in app.screen.query_one(CommandList).options]
        assert not any("VACUUM" in h for h in hits), hits
        await pilot.press("escape")
        with pytest.raises(ReadOnlyError):  # the console's api refuses before any session, the service too
            await app.api.maintain(POD, "any", "vacuum")
