"""The wiring editor's fast-path option, driven by keys against real pods: the checkbox goes into the plan
(`<view>_knn` over dblink), changing it drops a shown plan, and after applying, the workbench's query
through the primary says it took the fast path."""

from __future__ import annotations

from textual.widgets import Checkbox

from tests.test_tui_pilot import SIZE, plan_wiring, select_collection, text_of, until, wire_collection  # noqa: F401
from vecdash.service.query.fast import FAST_PATH
from vecdash.tui.app import VecdashApp
from vecdash.tui.screens.confirm import ConfirmScreen
from vecdash.tui.widgets.workbench import WorkbenchPane


async def test_fast_path_option_goes_into_the_plan_and_the_query_takes_it(estate, wire_collection):
    from vecdash.service import wiring

    app = VecdashApp(estate.config())
    async with app.run_test(size=SIZE) as pilot:
        await select_collection(pilot, app, wire_collection)
        pane = await plan_wiring(pilot, app)
        assert not any("_knn" in s.purpose for s in pane.plan_shown.steps)
        box = app.query_one("#wire-fast-path", Checkbox)
        box.focus()
        await pilot.press("space")
        await until(pilot, lambda: box.value, what="fast path checked")
        # the shown plan was made without it: gone, so `a` cannot apply what the form no longer says
        await until(pilot, lambda: pane.plan_shown is None, what="plan dropped")
        assert "plan again" in text_of(app, "#wire-status")
        app.query_one("#wire-plan").focus()
        await pilot.press("w")
        await until(pilot, lambda: pane.plan_shown is not None, what="fast-path plan")
        knn = [s for s in pane.plan_shown.steps if f"{wire_collection}_knn" in s.purpose]
        assert knn, [s.purpose for s in pane.plan_shown.steps]
        assert estate.pods["vectors-b"].password not in str(app.query_one("#wire-plan-view").render())
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation modal")
        await pilot.press("y")
        await until(pilot, lambda: estate.sql("primary", "select 1 from pg_proc where proname = %s",
                                              (f"{wire_collection}_knn",)), timeout=20, what="function created")
        try:
            await until(pilot, lambda: any(f.name == f"{wire_collection}_knn" for f in app.topology.primary.knn_functions),
                        timeout=20, what="the function in the estate")
            await pilot.press("3")
            wb = app.query_one(WorkbenchPane)
            wb.query_one("#wb-route").value = "primary"
            await pilot.press("ctrl+r")
            await until(pilot, lambda: wb.last_result is not None, timeout=20, what="query result")
            assert wb.last_result.path == FAST_PATH and len(wb.last_result.rows) == 10, wb.last_result.warnings
            assert f"({FAST_PATH})" in text_of(app, "#wb-status")
        finally:
            await wiring.apply_plan(app.api.client, await wiring.plan_unwire(app.api.client, "vectors-b", wire_collection))
