"""Console snapshots on FIXED data: the demo estate's topology captured once (tests/fixtures), with
latencies, timestamps and ports masked, and `live=False` so no database, timer or clock is involved.
Update after a deliberate UI change with `pytest tests/test_tui_snapshots.py --snapshot-update` and
look at the SVGs in tests/__snapshots__/ before committing them."""

from __future__ import annotations

from collections import deque

from vecdash.model import Plan, PlanStep
from vecdash.tui.app import VecdashApp
from vecdash.tui.widgets.topology import Ref, TopologyTree

from .conftest import TEST_PASSWORD
from .tui_data import fixed_config, load_topology, topology_with_down_pod

WIDE = (120, 40)
SMALL = (80, 24)
DOCS = Ref("collection", "vectors-a", "vecs", "docs")


def console(*, read_only: bool = False, down: bool = False) -> VecdashApp:
    topo = topology_with_down_pod() if down else load_topology()
    return VecdashApp(fixed_config(read_only=read_only, with_down=down), topology=topo, live=False)


def select(ref: Ref):
    async def run_before(pilot) -> None:
        assert pilot.app.query_one(TopologyTree).select_ref(ref), ref
        await pilot.pause()

    return run_before


def wire_plan() -> Plan:
    """A plan shaped like the wiring service's: two steps already satisfied, and the user-mapping step
    built by the service itself from the fixed config's DSN, so it carries the real (test) password and
    the screen shows whatever the service's masking leaves."""
    from psycopg.conninfo import conninfo_to_dict

    from vecdash.service.wiring import Target, mapping_create_step

    dsn = conninfo_to_dict(next(p.dsn for p in fixed_config().pods if p.name == "vectors-b"))
    target = Target(pod="vectors-b", host=dsn["host"], port=dsn["port"], dbname=dsn["dbname"], user=dsn["user"],
                    password=dsn["password"])
    plan = Plan(title="wire vecs.images from pod vectors-b into primary", pod="primary")
    plan.steps = [
        PlanStep("postgres_fdw on the primary", "", "create extension if not exists postgres_fdw", satisfied=True),
        PlanStep("pgvector on the primary", "", "create extension if not exists vector", satisfied=True),
        PlanStep("server vectors_b for pod vectors-b with extensions 'vector'", "",
                 "create server vectors_b foreign data wrapper postgres_fdw options (host '127.0.0.1', "
                 "port '54003', dbname 'postgres', extensions 'vector')"),
        mapping_create_step("vectors_b", target, "user mapping for postgres on vectors_b"),
        PlanStep("foreign table vectors_b.images", "",
                 "create foreign table vectors_b.images (id character varying not null, vec vector(512) not null, "
                 "metadata jsonb not null) server vectors_b options (schema_name 'vecs', table_name 'images')"),
        PlanStep("view public.images", "", "create view public.images as select id, vec, metadata from vectors_b.images"),
    ]
    assert TEST_PASSWORD in plan.steps[3].sql.as_string(None)  # the secret is really in the plan
    return plan


async def until(pilot, cond, what: str, timeout: float = 20.0) -> None:
    """Wait for the console to reach a state (a modal up, a plan shown) before a screenshot."""
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def test_console_80x24(snap_compare):
    assert snap_compare(console(), terminal_size=SMALL)


def test_console_read_only_80x24(snap_compare):
    """Banner and badge on; apply/unwire/index gone from the footer and the wiring buttons."""
    assert snap_compare(console(read_only=True), terminal_size=SMALL, press=["2"])


def test_stats_pane_collection(snap_compare):
    """With a fixed history of 12 refreshes (rows growing, latency wobbling) for the sparklines."""

    async def run_before(pilot) -> None:
        app = pilot.app
        app.rows_history[("vectors-a", "vecs", "docs")] = deque(float(18_000 + 200 * i) for i in range(12))
        app.latency_history["vectors-a"] = deque([0.9, 1.1, 0.8, 1.4, 2.2, 1.0, 0.9, 0.9, 3.1, 1.2, 1.0, 0.9])
        app.record_query_measure("vectors-a", "vecs", "docs", "l2")  # queried with l2: index serves cosine
        await select(DOCS)(pilot)

    assert snap_compare(console(), terminal_size=WIDE, run_before=run_before)


def test_stats_pane_slow_server(snap_compare):
    assert snap_compare(console(), terminal_size=WIDE, run_before=select(Ref("server", "primary", "", "legacy_b")))


def test_down_pod(snap_compare):
    assert snap_compare(console(down=True), terminal_size=WIDE, run_before=select(Ref("pod", "vectors-c")))


def test_topology_filter(snap_compare):
    assert snap_compare(console(), terminal_size=WIDE, press=["slash", "i", "m", "a", "g"])


def test_wiring_pane_with_plan(snap_compare):
    async def run_before(pilot) -> None:
        app = pilot.app
        await select(Ref("collection", "vectors-b", "vecs", "images"))(pilot)
        app.action_pane("wiring")
        from vecdash.tui.widgets.wiring import WiringPane

        pane = app.query_one(WiringPane)
        pane.suggest(Ref("collection", "vectors-b", "vecs", "images"), force=True)
        pane._show_plan(wire_plan())
        await pilot.pause()

    assert snap_compare(console(), terminal_size=WIDE, run_before=run_before)


def test_confirm_modal(snap_compare):
    """The confirmation of a wiring plan whose user-mapping step holds the test password."""

    async def run_before(pilot) -> None:
        from textual.widgets import Static

        from vecdash.tui.screens.confirm import ConfirmScreen

        pilot.app.push_screen(ConfirmScreen(wire_plan()))
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen)
                    and pilot.app.screen.query(Static).filter("#confirm-sql"), "the confirm modal")
        await pilot.pause()

    assert snap_compare(console(), terminal_size=WIDE, run_before=run_before)


def long_plan() -> Plan:
    """The wiring plan and six more foreign tables: far more SQL than 24 rows hold."""
    plan = wire_plan()
    for i in range(6):
        plan.steps.append(PlanStep(
            f"foreign table vectors_b.part_{i}", "",
            f"create foreign table vectors_b.part_{i} (id character varying not null, vec vector(512) not null, "
            f"metadata jsonb not null) server vectors_b options (schema_name 'vecs', table_name 'part_{i}')"))
    return plan


def confirm_long_plan(*keys: str):
    async def run_before(pilot) -> None:
        from vecdash.tui.screens.confirm import ConfirmScreen

        pilot.app.push_screen(ConfirmScreen(long_plan()))
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen)
                    and any(more.display for more in pilot.app.screen.query("#confirm-more")), "the confirm modal, laid out")
        await pilot.press(*keys)
        await pilot.pause()

    return run_before


def test_confirm_modal_long_plan_80x24(snap_compare):
    """Title and summary on top, question and buttons at the bottom, the change between them with
    "↓ N more line(s)" under it."""
    assert snap_compare(console(), terminal_size=SMALL, run_before=confirm_long_plan())


def test_confirm_modal_long_plan_scrolled_80x24(snap_compare):
    """PgDn twice and one line down: the later foreign tables' SQL, the same frame around it."""
    assert snap_compare(console(), terminal_size=SMALL, run_before=confirm_long_plan("pagedown", "pagedown", "down"))


def test_help_screen_read_only(snap_compare):
    assert snap_compare(console(read_only=True), terminal_size=WIDE, press=["question_mark"])


def test_workbench_pane_form(snap_compare):
    async def run_before(pilot) -> None:
        await select(DOCS)(pilot)
        pilot.app.action_query()
        await pilot.pause()
        pilot.app.set_focus(None)
        await pilot.pause()

    assert snap_compare(console(), terminal_size=WIDE, run_before=run_before)


def test_workbench_pane_results(snap_compare):
    """A result built in code (the query service's own dataclasses) with fixed timings and recall; one
    long url takes the width the other columns leave (cut there, not at a fixed 24 columns)."""
    from vecdash.service.query import QueryResult, QuerySpec, ResultRow
    from vecdash.tui.widgets.workbench import WorkbenchPane

    spec = QuerySpec(pod="vectors-a", collection="docs", random=True, limit=5, filters={"year": {"$gte": 2020}},
                     recall=True)
    rows = [ResultRow(id=f"doc-{i}", distance=0.09 + i / 1000,
                      metadata={"url": f"/docs/postgres/{i}", "year": 2020 + i % 5, "lang": "en", "tags": ["faq"]})
            for i in range(5)]
    rows[1].metadata["url"] = "/docs/postgres/current/sql-createindex.html#SQL-CREATEINDEX-STORAGE-PARAMETERS"
    result = QueryResult(spec=spec, rows=rows, route="direct", client_ms=4.2, server_ms=2.1, limit=5,
                         underfilled=False, warnings=[], plan=None, recall=0.8, preview="", per_pod_ms={})

    async def run_before(pilot) -> None:
        await select(DOCS)(pilot)
        pilot.app.action_query()
        pane = pilot.app.query_one(WorkbenchPane)
        pane.set_filters('{"year": {"$gte": 2020}}')
        pane.set_recall(True)
        pane.show_result(result)
        pilot.app.set_focus(None)
        await pilot.pause()

    assert snap_compare(console(), terminal_size=WIDE, run_before=run_before)


def test_wiring_pane_verified(snap_compare):
    """A verification as the wiring service returns it (its own dataclasses), rendered in the editor."""
    from vecdash.service.wiring import Check, Verification
    from vecdash.tui.widgets.wiring import WiringPane

    v = Verification(pushdown=True, reason="ORDER BY vec <=> ... LIMIT runs on pod vectors-a",
                     remote_sql="SELECT id, vec FROM vecs.docs ORDER BY (vec OPERATOR(public.<=>) '[...') LIMIT 10",
                     checks=[Check("extensions 'vector'", True, "server vectors_a ships pgvector operators"),
                             Check("statistics", False, "never analyzed", advisory=True)],
                     foreign_table="vectors_a.docs", server="vectors_a", view="public.docs")

    async def run_before(pilot) -> None:
        await select(DOCS)(pilot)
        pilot.app.action_pane("wiring")
        pane = pilot.app.query_one(WiringPane)
        pane._show_verification(v, ("vectors-a", "vecs", "docs"))  # headed by what it verified
        await pilot.pause()

    assert snap_compare(console(), terminal_size=WIDE, run_before=run_before)


def test_tour_first_stop(snap_compare):
    app = VecdashApp(fixed_config(), topology=load_topology(), live=False, demo=True, tour=True)
    assert snap_compare(app, terminal_size=SMALL, press=["n"])


def test_console_light_theme(snap_compare):
    assert snap_compare(console(), terminal_size=SMALL, press=["t"])


def test_console_no_color(snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(console(), terminal_size=SMALL)
