"""The vecdash console: a tree of the estate on the left, Stats | Wiring | Workbench | Activity | Collections
tabs on the right.

Data flow: a timer or `r` starts ONE refresh worker (group "refresh"); it awaits the api's snapshot
(`service.catalog`), which bounds every pod call, so a hung pod costs at most its timeout and
the UI loop never waits on it. Each pod is shown as soon as it answers: answers are collected and
put in the tree at most every FLUSH_S (200 pods answering is a few tree updates, not 200), the title
counting them; the whole Topology is then handed to every pane, and the next refresh is armed only
when this one has finished: refreshes never stack.

A change made from the console (an applied plan or fix, an index build, a create or load) arrives as
`EstateChanged`: the app re-reads the estate with a refresh that starts after the change (one already
running read too early, so another follows it), then tells the panes, which re-read what the change
touched (the doctor list, a verification) or mark what they show as from before it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Footer, Input, LoadingIndicator, Static, TabbedContent, TabPane

from vecdash.config import Config
from vecdash.history import HistoryFile
from vecdash.model import PodStatus, Topology
from vecdash.resources import stylesheets
from vecdash.service.console_api import ConsoleApi
from vecdash.service.stats import pod_endpoints
from vecdash.tui import actions as registry
from vecdash.tui.activity_commands import ActivityCommands
from vecdash.tui.collections_commands import CollectionsCommands
from vecdash.tui.data_commands import DataCommands
from vecdash.tui.progressive import ProgressiveRefresh
from vecdash.tui.messages import ConfirmPlan, EstateChanged, OpenRecallSweep
from vecdash.tui.replay import REPLAY_OFFLINE, RecordReplay
from vecdash.tui.collector import Collector
from vecdash.tui.demo_workload import DemoWorkloadCommands
from vecdash.tui.discovery import PodDiscovery
from vecdash.tui.maintenance_commands import MaintenanceCommands
from vecdash.tui.palette import VecdashCommands
from vecdash.tui.read_only import ReadOnlyCommands
from vecdash.tui.screens.modal import MainScreen, focus_now, misrouted
from vecdash.tui.selection_commands import SelectionCommands
from vecdash.tui.tour_commands import TourCommands
from vecdash.tui.widgets.filter_box import FilterBox
from vecdash.tui.text import line, notify
from vecdash.tui.widgets.activity import ActivityPane
from vecdash.tui.widgets.collections import CollectionsPane
from vecdash.tui.widgets.stats import StatsPane
from vecdash.tui.widgets.topology import Ref, TopologyTree
from vecdash.tui.widgets.wiring import WiringPane
from vecdash.tui.widgets.workbench import WorkbenchPane

if TYPE_CHECKING:
    from vecdash.recording import Recorder, Recording

HISTORY_POINTS = 60
DOWN_NAMED = 3  # the title names this many down pods, then counts the rest
PANES = ("stats", "wiring", "workbench", "activity", "collections")


class VecdashApp(ProgressiveRefresh, PodDiscovery, RecordReplay, SelectionCommands, ActivityCommands,
                 CollectionsCommands, DataCommands, DemoWorkloadCommands, MaintenanceCommands, ReadOnlyCommands,
                 TourCommands, App[int]):
    TITLE = "vecdash"
    CSS_PATH = [str(p) for p in stylesheets()]
    COMMANDS = App.COMMANDS | {VecdashCommands}

    def __init__(
        self,
        config: Config,
        *,
        demo: bool = False,
        tour: bool = False,
        workload: bool = False,
        topology: Topology | None = None,
        live: bool = True,
        history: HistoryFile | None = None,
        recorder: Recorder | None = None,
        replay: Recording | None = None,
    ) -> None:
        """`live=False` with a fixed `topology` never touches a database (snapshot tests, screenshots)
        nor the saved query history; `history` is the workbench's history file (default: the user's).
        `recorder` appends each refresh to a recording; `replay` shows one (read-only, offline)."""
        super().__init__()
        self.recorder, self.replay = recorder, replay
        live = live and replay is None
        estate = str(Path(config.path).resolve()) if config.path else ""
        self.history_file = history or (HistoryFile.default(estate) if live else HistoryFile(None, estate))
        self.config = config
        self.demo = demo
        self.start_tour = tour
        self.start_workload = workload and demo and live
        self.live = live
        self.freeze_after_start = False  # run_console sets it: the collector's policy (tui/collector.py)
        self.collector = Collector()
        self.started_read_only = config.settings.read_only
        # everything the console asks of the databases (a replay's refuses to open any session)
        self.api = ConsoleApi(config, offline=REPLAY_OFFLINE if replay is not None else None)
        self.topology: Topology | None = topology
        # which pod each configured DSN names: resolving a host name can block, so it is read once a
        # snapshot has warmed the resolver's cache off the UI thread (see _apply_topology)
        self.endpoints = None
        self.history_points = HISTORY_POINTS
        self.rows_history: dict[tuple, deque] = {}
        self.latency_history: dict[str, deque] = {}
        self.queried_measures: dict[tuple, set[str]] = {}
        self.selected: Ref | None = None
        self.refreshing = False
        self.answered: dict[str, PodStatus] = {}  # this refresh's pods so far, by name
        self.partial: Topology | None = None  # while a refresh runs: the last one with its answers so far
        self.pods_shown = 0  # pods of this refresh on screen (the fleet benchmark watches it)
        self._pending: list[PodStatus] = []  # answered, not on screen yet (ProgressiveRefresh)
        self._flush_timer: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._changes: list[EstateChanged] = []  # changes no refresh has read since they were made
        self._refresh_timer: asyncio.TimerHandle | None = None
        self._spinner_timer: Timer | None = None
        self.console_actions: list[registry.ConsoleAction] = []
        self._base_bindings = self._bindings.copy()  # Textual's own (palette, ctrl+c): kept under ours
        self._install_bindings()
        theme = config.settings.theme
        if theme in self.available_themes:
            self.theme = theme

    # --- the action registry -> bindings --------------------------------------------------------

    @property
    def read_only(self) -> bool:
        return self.api.read_only

    def _install_bindings(self) -> None:
        self.console_actions = [
            a for a in registry.available(read_only=self.read_only, demo=self.demo, replay=self.replay is not None)
            if not (self.started_read_only and a.name == "read_only_view")  # nothing to switch
        ]
        self._bindings = self._base_bindings.copy()
        for a in self.console_actions:
            self.bind(a.key, a.name, description=a.description, show=a.footer, key_display=a.key_display)
        for a in registry.refused(read_only=self.read_only, demo=self.demo, replay=self.replay is not None):
            self.bind(a.key, f"refused({a.name!r})", show=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.read_only and registry.is_dangerous(action):
            return False
        return not (self.replay is not None and registry.is_live(action))

    # --- layout ----------------------------------------------------------------------------------

    def get_default_screen(self) -> MainScreen:
        return MainScreen(id="_default")

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and misrouted(self, event):
            return  # typed for the screen on top or a text box, which opened meanwhile (tui/screens/modal.py)
        await super().on_event(event)

    def compose(self) -> ComposeResult:
        with Horizontal(id="title-bar"):
            yield Static(self._title_text(), id="title")
            yield LoadingIndicator(id="refresh-spinner")
            yield Static("READ-ONLY", id="read-only-badge")
        yield Static("READ-ONLY: nothing can be changed; sessions are read-only on the server too.", id="read-only-banner")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield FilterBox(placeholder="filter… (esc clears)", id="tree-filter", compact=True, then="#tree")
                yield TopologyTree(id="tree")
            with TabbedContent(id="panes", initial="stats"):
                with TabPane("Stats", id="stats"):
                    yield StatsPane(id="stats-pane")
                with TabPane("Wiring", id="wiring"):
                    yield WiringPane(self.api, id="wiring-pane")
                with TabPane("Workbench", id="workbench"):
                    yield WorkbenchPane(self.api, self.history_file, id="workbench-pane")
                with TabPane("Activity", id="activity"):
                    yield ActivityPane(id="activity-pane")
                with TabPane("Collections", id="collections"):
                    yield CollectionsPane(id="collections-pane")
        yield Footer(compact=self.demo)  # demo adds `g tour`: compact keeps `? help` whole at 80 columns

    def _steady_cursors(self) -> None:
        """Fixed-data runs draw text cursors solid: a blinking cursor makes screenshots differ by frame."""
        for field in self.query("Input, TextArea"):
            field.cursor_blink = False

    def on_mount(self) -> None:
        for box in self.query(Input):  # typing into a box a key focused adds to it, never replaces it whole
            box.select_on_focus = False
        self.query_one("#refresh-spinner").display = False
        self.query_one("#tree-filter").display = False
        self._show_read_only()
        tree = self.query_one(TopologyTree)
        tree.set_pods({p.name: p.tags for p in self.config.pods})
        tree.focus()
        if self.replay is not None:
            self.query_one("#read-only-banner", Static).update(self.replay_banner())
            self.show_frame(0)
        elif self.topology is not None:
            self._apply_topology(self.topology, record=False)
        if self.live:
            if self.freeze_after_start:  # no full collection during a refresh (tui/collector.py)
                self.collector.enable()
            self.refresh_now()
            self.start_discovery()  # after the first frame's refresh started: a slow primary delays neither
            # the modules and widgets made so far live as long as the console: out of the collector's sight
            self.call_after_refresh(self.collector.freeze)
        else:
            self.query_one(StatsPane).show(self.topology, None, endpoints=self.endpoints)
            self._steady_cursors()
        for note in self.config.notes:  # discovery's and the config's notes (pods_from_*), shown once
            notify(self, note, severity="warning", timeout=10)
        if self.start_tour:
            self.call_after_refresh(self.action_tour)
        if self.start_workload:
            self.action_workload()

    async def on_unmount(self) -> None:
        self._stop_timers(closing=True)
        self.stop_recording()
        await self.api.close()

    def _title_text(self) -> Text:
        if self.replay is not None:
            return self.replay_title()
        where = "demo" if self.demo else Path(self.config.path or "estate").name
        total = len(self.config.pods)
        parts = [f"vecdash · {where}"]
        topo = self.partial if self.refreshing and self.partial is not None else self.topology
        if topo is not None:
            parts.append(f"{sum(p.up for p in topo.pods)}/{total} up")
            down = [p.name for p in topo.pods if not p.up]
            if down:
                more = len(down) - DOWN_NAMED
                parts.append(f"DOWN: {', '.join(down[:DOWN_NAMED])}" + (f" +{more} more" if more > 0 else ""))
        else:
            parts.append(f"{total} pods")
        if self.refreshing and len(self.answered) < total:
            parts.append(f"answered {len(self.answered)}/{total}")
        elif topo is not None:
            parts.append(f"{topo.taken_at.strftime('%H:%M:%S')} UTC, {topo.elapsed_ms:.0f} ms")
        else:
            parts.append("connecting…")
        if self.recorder is not None:
            parts.append(self.recording_label())
        return line(" · ".join(parts))

    # --- refresh ---------------------------------------------------------------------------------

    def _apply_topology(self, topo: Topology, record: bool = True) -> None:
        self.topology, self.partial = topo, None
        self.answered = {p.name: p for p in topo.pods}
        self.pods_shown = len(topo.pods)
        if self.endpoints is None:
            self.endpoints = pod_endpoints(self.config)
        if record:
            self.remember_history(topo)
            self.record_frame(topo)
        self.query_one("#title", Static).update(self._title_text())
        self.query_one(TopologyTree).show(topo, self.endpoints)
        self.query_one(WiringPane).show_topology(topo)
        self.query_one(WorkbenchPane).show_topology(topo)
        self.query_one(ActivityPane).show(topo, record=record, render=self.active_pane == "activity")
        self.query_one(CollectionsPane).show(topo)
        self._show_stats()
        for screen in self.screen_stack:  # an open tour stop describes the estate as just read
            estate_read = getattr(screen, "estate_read", None)
            if estate_read is not None:
                estate_read(topo)

    def remember_history(self, topo: Topology) -> None:
        """Add a refresh's latencies and row estimates to the sparklines' history."""
        for pod in topo.pods:
            lat = self.latency_history.setdefault(pod.name, deque(maxlen=HISTORY_POINTS))
            lat.append(pod.latency_ms if pod.latency_ms is not None else 0.0)
            for c in pod.collections:
                rows = self.rows_history.setdefault(c.key, deque(maxlen=HISTORY_POINTS))
                rows.append(float(c.rows_estimate or 0))

    @on(EstateChanged)
    def estate_changed(self, change: EstateChanged) -> None:
        """Re-read the estate after `change`, then let the panes re-read what it touched."""
        self._changes.append(change)
        if not self.refreshing:  # else the running refresh starts another when it ends
            self.refresh_now()

    def _after_change(self, topo: Topology, changes: list[EstateChanged]) -> None:
        self.query_one(WiringPane).after_change(topo, changes)
        self.query_one(WorkbenchPane).mark_stale("run before: " + "; ".join(c.what for c in changes))

    def _show_stats(self) -> None:
        ref = self.selected
        key = (ref.pod, ref.schema, ref.name) if ref and ref.kind == "collection" else None
        self.query_one(StatsPane).show(
            self.topology,
            ref,
            endpoints=self.endpoints,
            rows_history=list(self.rows_history.get(key, ())) if key else None,
            latency_history=list(self.latency_history.get(ref.pod, ())) if ref else None,
            queried_measures=self.queried_measures.get(key) if key else None,
        )

    # --- selection -------------------------------------------------------------------------------

    @on(TopologyTree.Selected)
    def _selected(self, event: TopologyTree.Selected) -> None:
        if not self.is_running:  # the selection moved just before the console closed: nothing to show
            return
        self.selected = event.ref
        self._show_stats()
        ref = event.ref
        if ref is not None and ref.kind == "collection":
            self.query_one(WiringPane).suggest(ref)
            self.query_one(WorkbenchPane).suggest(ref)

    def record_query_measure(self, pod: str, schema: str, name: str, measure: str) -> None:
        self.queried_measures.setdefault((pod, schema, name), set()).add(measure)

    # --- tree filter -----------------------------------------------------------------------------

    def action_filter(self) -> None:
        if self.active_pane in ("activity", "collections"):  # `/` filters what the shown pane lists
            pane = self.query_one(ActivityPane if self.active_pane == "activity" else CollectionsPane)
            pane.focus_filter()
            return
        box = self.query_one("#tree-filter", Input)
        box.display = True
        focus_now(box)

    @on(Input.Changed, "#tree-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(TopologyTree).set_filter(event.value)

    def on_key(self, event) -> None:
        box = self.query_one("#tree-filter", Input)
        if event.key == "escape" and box.has_focus:
            box.value = ""
            box.display = False
            self.query_one(TopologyTree).focus()
            event.stop()
        elif event.key == "escape" and self.screen is self.screen_stack[0]:
            # esc from anywhere in a pane: back to the tree, where the arrows move the selection and the
            # one-letter keys (1/2/3, w, d, q ...) are commands, not text
            self.query_one(TopologyTree).focus()
            event.stop()

    @on(events.DescendantFocus)
    def _keep_focus_in_view(self, event: events.DescendantFocus) -> None:
        """A focused text box is on screen, even when a key switched to its pane in the same moment."""
        widget = event.widget
        if isinstance(widget, Input) and widget.screen is self.screen_stack[0]:
            self.call_after_refresh(widget.scroll_visible, animate=False, immediate=True)

    @on(TabbedContent.TabActivated, "#panes")
    def _pane_shown(self, event: TabbedContent.TabActivated) -> None:
        """Focus left in a pane that is now hidden goes back to the tree (the arrows move it again); the
        Collections pane fills its table now (it skips refreshes while hidden)."""
        if event.pane.id == "collections":
            self.query_one(CollectionsPane).redraw()
        self.call_after_refresh(self._focus_tree_if_lost)
        if event.pane.id == "activity":
            self.query_one(ActivityPane).show_if_stale()

    def _focus_table_of(self, pane) -> None:
        """Unless a key typed meanwhile put the focus in the pane already (`/`: its filter)."""
        focused = self.focused
        if focused is None or pane not in focused.ancestors:
            pane.focus_table()

    def _focus_tree_if_lost(self) -> None:
        if not self.is_running or self.screen is not self.screen_stack[0]:  # (the console may be closing)
            return
        focused = self.focused
        active = self.query_one(f"#{self.active_pane}")
        if focused is None or (any(a.id == "panes" for a in focused.ancestors) and active not in focused.ancestors):
            self.query_one(TopologyTree).focus()

    # --- actions (names come from vecdash.tui.actions; those on the selection: SelectionCommands) ---

    def action_refresh(self) -> None:
        self.refresh_now()

    def action_pane(self, name: str) -> None:
        if name in PANES and name != self.active_pane:
            # focus leaves the pane first: a widget focused in a pane being hidden would hand focus to its
            # neighbour there, which switches the tabs back (and the arrows would move nothing in view)
            focused = self.focused
            if focused is not None and any(a.id == "panes" for a in focused.ancestors):
                self.query_one(TopologyTree).focus()
            self.query_one("#panes", TabbedContent).active = name
            # a table pane is read with the arrows: its table takes the keys (esc gives them back to the tree)
            table_pane = {"activity": ActivityPane, "collections": CollectionsPane}.get(name)
            if table_pane is not None:
                self.call_after_refresh(self._focus_table_of, self.query_one(table_pane))

    @property
    def active_pane(self) -> str:
        return self.query_one("#panes", TabbedContent).active

    @on(OpenRecallSweep)
    def _open_recall_sweep(self, request: OpenRecallSweep) -> None:
        from vecdash.tui.screens.recall_sweep import RecallSweepScreen

        options = {"index": request.index} if request.index is not None else {}
        self.push_screen(RecallSweepScreen(self.api, request.pod, request.collection, schema=request.schema, **options))

    @on(ConfirmPlan)
    def _confirm_plan(self, request: ConfirmPlan) -> None:
        from vecdash.tui.screens.confirm import ConfirmScreen

        self.push_screen(ConfirmScreen(request.plan), request.reply)

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"
        notify(self, "theme: ", "dark" if self.current_theme.dark else "light", " · t switches back", timeout=3)
        if self.topology is not None:
            self.query_one(TopologyTree).show(self.topology)
            self._show_stats()

    def action_help(self) -> None:
        from vecdash.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.console_actions, read_only=self.read_only))


def run_console(config: Config, *, demo: bool = False, tour: bool = False, workload: bool = False,
                recorder: Recorder | None = None, replay: Recording | None = None) -> int:
    """Run the console on `config` (built by the CLI from the file and its flags) until it quits;
    recording each refresh with `recorder`, or showing the recording `replay` instead of the estate."""
    app = VecdashApp(config, demo=demo, tour=tour, workload=workload, recorder=recorder, replay=replay)
    app.freeze_after_start = True  # a process of its own (tests run many apps in one: they never freeze)
    app.run()
    return app.return_code or 0
