"""The console's one worker pattern (vecdash/tui/workers.py): every worker, in panes and modal screens,
survives a pod that hangs (SIGSTOP) or dies (SIGKILL) and says what happened where it ran.

A static check keeps every worker in vecdash/tui on the pattern; pilot tests drive each worker-bearing
screen against a real pod that is paused or killed while the screen is open.
"""

from __future__ import annotations

import ast
import asyncio
import time
from pathlib import Path

import pytest
from textual.widget import Widget

import vecdash.tui
from vecdash.config import Config, PodConfig, Settings

SETTINGS = Settings(connect_timeout_s=1, statement_timeout_ms=1000, refresh_seconds=600)
COLL = "hang_docs"
TUI = Path(vecdash.tui.__file__).parent


# --- static: one pattern, everywhere ---------------------------------------------------------------


def _tui_modules():
    return [p for p in TUI.rglob("*.py") if p.name != "workers.py"]


def test_no_worker_bypasses_the_pattern():
    """No plain @work / run_worker (they exit the console on an unhandled error)."""
    offenders = []
    for path in _tui_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name in ("work", "textual.work") or name.endswith("run_worker"):
                    offenders.append(f"{path.name}:{node.lineno}: {name}")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for d in node.decorator_list:
                    if ast.unparse(d).split("(")[0] in ("work", "textual.work"):
                        offenders.append(f"{path.name}:{node.lineno}: @{ast.unparse(d)}")
    assert not offenders, offenders


def test_every_coroutine_that_does_io_is_a_worker():
    """An async handler awaiting the services outside a worker would take the console down with it;
    only closing sessions (bounded: on exit, or reopening them read-only) may be awaited elsewhere, and
    Textual's own event dispatch (`super().on_event`, which the app wraps to route early keys, and an
    Input's `super()._on_key`, which the filter box wraps)."""
    allowed = {"close", "reopen", "on_event", "_on_key"}
    offenders = []
    for path in _tui_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.AsyncFunctionDef):
                continue
            if any(ast.unparse(d).split("(")[0] == "worker" for d in node.decorator_list):
                continue
            for a in ast.walk(node):
                if isinstance(a, ast.Await) and isinstance(a.value, ast.Call):
                    called = ast.unparse(a.value.func).rsplit(".", 1)[-1]
                    if called not in allowed:
                        offenders.append(f"{path.name}:{a.lineno}: {node.name} awaits {called}")
    assert not offenders, offenders


# --- pilot: each worker-bearing screen with its pod hung or killed -----------------------------------


@pytest.fixture
def hang_pod(spare_pod):
    spare_pod.psql("create extension if not exists vector; create schema if not exists vecs; "
                   f"drop table if exists vecs.{COLL}; "
                   f"create table vecs.{COLL} (id varchar primary key, vec vector(3) not null, "
                   "metadata jsonb not null default '{}'::jsonb); "
                   f"insert into vecs.{COLL} select 'r' || i, array[i, 1, 0]::vector, '{{}}' "
                   "from generate_series(1, 200) i; "
                   f"create index on vecs.{COLL} using hnsw (vec vector_l2_ops); checkpoint")
    yield spare_pod
    spare_pod.resume()
    if not spare_pod.is_running():
        (spare_pod.data / "postmaster.pid").unlink(missing_ok=True)
        spare_pod.start()


def _config(estate, pod) -> Config:
    return Config(pods=(PodConfig(name="primary", role="primary", dsn=estate.dsn("primary")),
                        PodConfig(name="spare", role="secondary", dsn=pod.dsn())), settings=SETTINGS, path="<workers>")


def _break(pod, how: str) -> None:
    if how == "hung":
        pod.pause()
    else:
        pod.kill()


async def _until(pilot, cond, what: str) -> None:
    deadline = time.monotonic() + 3 * SETTINGS.call_timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def _text(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def _open(app, pilot, screen):
    await _until(pilot, lambda: app.topology is not None and not app.refreshing, "first refresh")
    app.push_screen(screen)
    await pilot.pause()
    return screen


def _survived(app, screen, selector: str, what: str) -> None:
    assert app.is_running and app.screen is screen, "the console or the screen went away"
    text = _text(screen, selector)
    assert f"{what} failed" in text and "spare" in text, text
    assert "Traceback" not in text and "WorkerFailed" not in text


HOW = ["hung", "killed"]


@pytest.mark.parametrize("how", HOW)
async def test_recall_sweep_survives(estate, hang_pod, how):
    from vecdash.tui.app import VecdashApp
    from vecdash.tui.screens.recall_sweep import RecallSweepScreen

    app = VecdashApp(_config(estate, hang_pod))
    async with app.run_test(size=(100, 34)) as pilot:
        await _until(pilot, lambda: app.topology is not None and not app.refreshing, "first refresh")
        _break(hang_pod, how)
        screen = await _open(app, pilot, RecallSweepScreen(app.api, "spare", COLL, samples=5))
        await _until(pilot, lambda: screen.error is not None, "the sweep to fail")
        _survived(app, screen, "#recall-status", "recall sweep")
        await pilot.press("escape")
        assert app.screen is not screen and app.is_running


@pytest.mark.parametrize("how", HOW)
async def test_index_build_preview_and_build_survive(estate, hang_pod, how):
    from vecdash.tui.app import VecdashApp
    from vecdash.tui.screens.index_build import IndexBuildScreen

    app = VecdashApp(_config(estate, hang_pod))
    async with app.run_test(size=(100, 34)) as pilot:
        # the build: preview loaded, then the pod breaks and `b` starts the build
        screen = await _open(app, pilot, IndexBuildScreen(app.api, "spare", COLL))
        await _until(pilot, lambda: screen.preview is not None, "the preview")
        _break(hang_pod, how)
        await pilot.press("b")
        await _until(pilot, lambda: app.screen is not screen, "the confirmation")
        await pilot.press("y")
        await _until(pilot, lambda: screen.error is not None, "the build to fail")
        _survived(app, screen, "#build-phase", "index build")
        await pilot.press("escape")
        # the preview, on a pod still broken
        screen = await _open(app, pilot, IndexBuildScreen(app.api, "spare", COLL))
        await _until(pilot, lambda: screen.preview_error is not None, "the preview to fail")
        _survived(app, screen, "#build-estimate", "preview")


@pytest.mark.parametrize("how", HOW)
async def test_collection_create_and_load_survive(estate, hang_pod, tmp_path, how):
    from textual.widgets import Input

    from vecdash.tui.app import VecdashApp
    from vecdash.tui.screens.collection_load import CollectionLoadScreen

    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "n1", "vec": [1, 2, 3]}\n')
    app = VecdashApp(_config(estate, hang_pod))
    async with app.run_test(size=(100, 34)) as pilot:
        screen = await _open(app, pilot, CollectionLoadScreen(app.api, "spare", collection=COLL))
        _break(hang_pod, how)
        screen.query_one("#load-file", Input).value = str(rows)
        screen.start_load()
        await _until(pilot, lambda: screen.error is not None, "the load to fail")
        _survived(app, screen, "#load-status", "load")
        screen.query_one("#col-name", Input).value = "brand_new"
        screen.query_one("#col-dim", Input).value = "3"
        screen.preview_create()
        await _until(pilot, lambda: "failed" in _text(screen, "#col-plan"), "the create preview to fail")
        _survived(app, screen, "#col-plan", "create preview")


@pytest.mark.parametrize("how", HOW)
async def test_query_and_wiring_panes_survive(estate, hang_pod, how):
    from vecdash.tui.app import VecdashApp
    from textual.worker import WorkerState

    from vecdash.tui.widgets.wiring import WiringPane
    from vecdash.tui.widgets.workbench import WorkbenchPane

    import vecdash.service.query as query
    app = VecdashApp(_config(estate, hang_pod))
    async with app.run_test(size=(100, 34)) as pilot:
        await _until(pilot, lambda: app.topology is not None and not app.refreshing, "first refresh")
        _break(hang_pod, how)
        bench = app.query_one(WorkbenchPane)
        bench._run(query.QuerySpec(pod="spare", collection=COLL, vector=[1.0, 1.0, 0.0], limit=3, measure="l2"))
        await _until(pilot, lambda: "spare" in str(bench.query_one("#wb-status").render())
                     and "running" not in str(bench.query_one("#wb-status").render()), "the query to fail")
        assert app.is_running and "Traceback" not in str(bench.query_one("#wb-status").render())
        wiring = app.query_one(WiringPane)
        wiring.target = lambda: ("spare", "vecs", COLL)  # what the tree selection would give
        for start in (wiring.plan, wiring.verify):
            wiring.query_one("#wire-status").update("")
            start()
            await _until(pilot, lambda: not [w for w in app.workers if w.group.startswith("wiring") and not w.is_finished],
                         "a wiring answer")
            text = str(wiring.query_one("#wire-status").render())
            # a plan or verification may still be made with the pod down (it reads the primary): either an
            # answer or the failure, never a worker that died
            assert app.is_running and "Traceback" not in text, text
            assert not [w for w in app.workers if w.state == WorkerState.ERROR]
        wiring.doctor()
        await pilot.pause(0.2)
        await _until(pilot, lambda: not [w for w in app.workers if w.group == "wiring-doctor" and not w.is_finished],
                     "the doctor")
        assert app.is_running
        assert not [w for w in app.workers if w.state == WorkerState.ERROR]


# --- the console closed while a refresh waits on a hung pod --------------------------------------------


class SpinnerAfterTheScreen(Widget):
    """Mounted (hidden) on the console's screen. As the console closes, its unmount waits until the rest
    of the screen (the spinner with it) is gone, then runs the spinner timer's callback, as the timer
    does when it comes due then (Textual stops the app's timers after pruning the screens); the screen,
    so the app's loop and the refresh, wait for it meanwhile. Left to the scheduler, the timer lands
    there only by chance."""

    ran = False  # the callback ran with the spinner gone and the refresh still running

    async def on_unmount(self) -> None:
        app, deadline = self.app, time.monotonic() + 5
        while [w for w in self.parent.children if w is not self] and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        self.ran = app.refreshing and not app.query("#refresh-spinner")
        app._spinner_timer._callback()


async def test_a_console_closed_mid_refresh_exits_cleanly(estate, spare_pod, capfd):
    """The refresh is waiting on a hung pod (SIGSTOP), its spinner's timer pending, when the console
    closes: by `quit` (return code 0), and by its run ending without one (Textual's test harness: the
    screens are pruned first, the app's timers stopped last) with the spinner's callback run after the
    spinner left (SpinnerAfterTheScreen): it raised NoMatches, the run's exception. Either way: no
    exception, the worker cancelled (its `finally` no longer swaps the cancel for a NoMatches), no
    refresh re-armed on the closed console, nothing printed."""
    from textual.worker import WorkerState

    from vecdash.tui.app import VecdashApp

    async def refresh_on_hung_pod(app, pilot):
        await _until(pilot, lambda: app.topology is not None and not app.refreshing, "first refresh")
        spare_pod.pause()
        app.refresh_now()
        [refresh] = [w for w in app.workers if w.group == "refresh" and not w.is_finished]
        return refresh

    async def ended(refresh):
        """The refresh worker's state once its cancel (sent as the console closed) has run."""
        deadline = time.monotonic() + SETTINGS.call_timeout_s
        while not refresh.is_finished and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return refresh.state

    try:
        app = VecdashApp(_config(estate, spare_pod))
        async with app.run_test(size=(100, 34)) as pilot:
            refresh = await refresh_on_hung_pod(app, pilot)
            await pilot.exit(None)
        assert app.return_code == 0 and app._exception is None
        assert await ended(refresh) == WorkerState.CANCELLED and app._refresh_timer is None
        spare_pod.resume()

        app = VecdashApp(_config(estate, spare_pod))
        async with app.run_test(size=(100, 34)) as pilot:
            probe = SpinnerAfterTheScreen()
            probe.display = False
            await app.screen.mount(probe)
            refresh = await refresh_on_hung_pod(app, pilot)
            app._spinner_timer.pause()  # pending until the console closes: the probe runs its callback then
        assert probe.ran, "the spinner's callback did not run after the spinner left, mid-refresh"
        assert app.return_code is None and app._exception is None  # an exception would set 1
        assert await ended(refresh) == WorkerState.CANCELLED and app._refresh_timer is None
    finally:
        spare_pod.resume()
    out, err = capfd.readouterr()
    assert not out.strip() and not err.strip(), (out, err)


async def test_a_selection_arriving_as_the_console_closes_is_dropped():
    """The tree's Selected can reach the app after its screens are gone (the selection moved as pods
    answered, just before the console closed): it changes nothing and raises nothing."""
    from vecdash.tui.widgets.topology import Ref, TopologyTree

    from .test_tui_snapshots import console

    app = console()
    async with app.run_test(size=(80, 24)):
        before = app.selected
    app._selected(TopologyTree.Selected(Ref("collection", "vectors-a", "vecs", "docs")))
    assert app.selected == before
