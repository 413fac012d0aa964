"""Activity pane: what every pod is doing now, from the last Topology only (PodStatus.activity and
Topology.alerts, read by the refresh); it never queries a database itself.

Laid out the way pg_activity and dolphie lay out one server, for the whole estate: the alert line on
top, then the sessions (pod first; query text last, on one line; idle ones hidden until `h`; `o` cycles
the sort column, `/` filters), then what a DBA looks at next: index builds and VACUUM/ANALYZE in
progress with a bar, the rates of each pod as sparklines (history kept here across refreshes, like the
app's latency history), per-collection flags, the top statements (vector ones first), each pod's
notes (what the role may not read). Keys act on the selected session or statement through the app
(`vecdash.tui.activity_commands`); the cancel/terminate worker is here.
"""

from __future__ import annotations

from collections import deque

from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Input, Label, Static

from vecdash.lines import one_line, short_vectors
from vecdash.model import Topology
from vecdash.model_activity import Alert, PodActivity, Statement
from vecdash.tui import actions as registry
from vecdash.tui.screens.modal import focus_now
from vecdash.tui.widgets.filter_box import FilterBox
from vecdash.tui.text import NL, cell, line, notify, styled, theme_style
from vecdash.tui.widgets.activity_rows import (ALERT_WORDS, COLUMNS, SORTS, Row, bar, collection_flags, estate_alerts,
                                               is_idle, matches, rate, sort_rows, spark)
from vecdash.tui.workers import worker
from vecdash.units import human_count, ms, seconds

HISTORY_POINTS = 60  # refreshes of rate history per pod, as the app keeps for latency
RATES = (("vector_qps", "vector q/s"), ("scans_per_s", "scans/s"), ("tuples_per_s", "tuples/s"))
QUERY_WIDTH = 160  # characters of query text in a cell: the rest is on the why screen / the CLI
DETAIL_CHARS = 400  # of the highlighted session's query under the table
TOP_STATEMENTS = 10
SLOW_S, STUCK_S = 1.0, 10.0  # query ages shown as a warning / an error (pg_activity's yellow / red)
SHORT_STATES = {"idle in transaction": "idle in xact", "idle in transaction (aborted)": "idle in xact (aborted)"}
# the keys the pane's hint line names, in this order (only those the registry offers now)
PANE_KEYS = ("sort", "activity_idle", "filter", "why_not_index", "cancel_backend", "terminate_backend")


class ActivityPane(VerticalScroll):
    COMPONENT_CLASSES = {"activity--dim", "activity--ok", "activity--warn", "activity--error", "activity--accent"}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.topology: Topology | None = None
        self.sort = 0
        self.show_idle = False
        self.stale = False  # a refresh arrived while hidden: drawn when shown (show_if_stale)
        self.filter_text = ""
        self.read_only = False
        self.rows: dict[str, Row] = {}  # row key -> what the sessions table shows
        self.statements: dict[str, tuple[str, Statement]] = {}
        self.rates_history: dict[str, dict[str, deque]] = {}
        self._headed_by: str | None = None  # the sort the sessions table's headers show

    def compose(self) -> ComposeResult:
        yield Static(id="act-alert-line")
        with Horizontal(id="act-bar"):
            yield FilterBox(placeholder="filter sessions…", id="act-filter", compact=True, then="#act-sessions")
            yield Label("", id="act-status")
        yield DataTable(id="act-sessions", zebra_stripes=True, cursor_type="row")
        yield Static(id="act-detail")
        yield Static(id="act-keys")
        yield Label("In progress", classes="act-heading")
        yield Static(id="act-progress")
        yield Label("Rates", classes="act-heading")
        yield Static(id="act-rates")
        yield Label("Collections", classes="act-heading")
        yield Static(id="act-collections")
        yield Label("Top statements", classes="act-heading")
        yield Static(id="act-statements-note")
        yield DataTable(id="act-statements", zebra_stripes=True, cursor_type="row")
        yield Label("Alerts and notes", classes="act-heading")
        yield Static(id="act-notes")

    def on_mount(self) -> None:
        self._keys_hint()
        self.show(self.topology, record=False)

    def _st(self, name: str):
        return theme_style(self, f"activity--{name}")

    def _c(self, value: object, style: str | None = None, width: int | None = None) -> Text:
        text = cell(value, width)
        if style:
            text.stylize(self._st(style))
        return text

    # --- the app's calls -----------------------------------------------------------------------

    def set_read_only(self, read_only: bool) -> None:
        self.read_only = read_only
        if self.is_mounted:
            self._keys_hint()

    def show(self, topo: Topology | None, *, record: bool = True, render: bool = True) -> None:
        """Show `topo`; `record`: a new refresh (its rates join the sparklines' history). `render=False`
        (the pane is hidden): keep it for `show_if_stale`, as drawing hundreds of pods' rows costs the UI
        loop a long stretch on every refresh for nobody."""
        self.topology = topo
        if not self.is_mounted:
            return
        if topo is not None and record:
            for pod in topo.pods:
                pa = pod.activity
                if pa is not None and pa.rates is not None:
                    hist = self.rates_history.setdefault(pod.name, {})
                    for attr, _ in RATES:
                        hist.setdefault(attr, deque(maxlen=HISTORY_POINTS)).append(getattr(pa.rates, attr) or 0.0)
        self.stale = not render
        if not render:
            return
        alerts = estate_alerts(topo) if topo is not None else []
        self._alert_line(topo, alerts)
        self._sessions()
        self._progress()
        self._rates()
        self._collections(alerts)
        self._statements()
        self._notes(alerts)

    def show_if_stale(self) -> None:
        """Draw what a hidden refresh kept (the pane is shown now)."""
        if self.stale:
            self.show(self.topology, record=False)

    def cycle_sort(self) -> None:
        self.sort = (self.sort + 1) % len(SORTS)
        self._sessions()
        notify(self, "sessions sorted by ", SORTS[self.sort][0], timeout=2)

    def toggle_idle(self) -> None:
        self.show_idle = not self.show_idle
        self._sessions()
        notify(self, "idle sessions ", "shown" if self.show_idle else "hidden", timeout=2)

    def focus_filter(self) -> None:
        focus_now(self.query_one("#act-filter", Input))

    def focus_table(self) -> None:
        """The arrows then move the selected session (`c`, `k`, `e` act on it); esc goes back to the tree."""
        self.query_one("#act-sessions", DataTable).focus(scroll_visible=False)

    def selected_session(self) -> Row | None:
        return self._selected(self.query_one("#act-sessions", DataTable), self.rows)

    def selected_statement(self) -> tuple[str, Statement] | None:
        return self._selected(self.query_one("#act-statements", DataTable), self.statements)

    def statement_focused(self) -> bool:
        return self.query_one("#act-statements", DataTable).has_focus

    @staticmethod
    def _selected(table: DataTable, rows: dict):
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return rows.get(key)

    # --- sections ------------------------------------------------------------------------------

    def _alert_line(self, topo: Topology | None, alerts: list[Alert]) -> None:
        if topo is None:
            text = styled(("waiting for the first refresh…", self._st("dim")))
        elif not alerts:
            text = styled(("✓ no alerts", self._st("ok")), ("  across ", self._st("dim")),
                          (len(topo.pods), self._st("dim")), (" pods", self._st("dim")))
        else:
            text = styled((f"⚠ {len(alerts)} alert{'s' if len(alerts) > 1 else ''}: ", self._st("error")))
            for n, a in enumerate(alerts):  # short here; the messages in full under "Alerts and notes"
                text.append_text(styled(" · " if n else "", (a.pod, self._st("warn")), " ", ALERT_WORDS.get(a.code, a.code),
                                        (" " if a.subject else "", None), (a.subject or "", self._st("dim"))))
        text.no_wrap, text.overflow = True, "ellipsis"
        self.query_one("#act-alert-line", Static).update(text)

    def _all_rows(self) -> list[Row]:
        topo = self.topology
        if topo is None:
            return []
        return [Row(p.name, s) for p in topo.pods if p.activity is not None for s in p.activity.sessions]

    def _sessions(self) -> None:
        table = self.query_one("#act-sessions", DataTable)
        before = self.selected_session()
        every = self._all_rows()
        rows = [r for r in every if self.show_idle or not is_idle(r.session)]
        needle = self.filter_text.strip().lower()
        if needle:
            rows = [r for r in rows if matches(r, needle)]
        rows = sort_rows(rows, self.sort)
        self.rows = {r.key: r for r in rows}
        name, _, desc = SORTS[self.sort]
        if self._headed_by == name:  # same columns: a refresh keeps the table's horizontal scroll
            table.clear()
        else:
            table.clear(columns=True)
            table.add_columns(*(styled(label, (" ↓" if desc else " ↑") if sorts == name else "") for label, sorts in COLUMNS))
            self._headed_by = name
        for r in rows:
            table.add_row(*self._session_cells(r), key=r.key)
        if before is not None and before.key in self.rows:
            table.move_cursor(row=table.get_row_index(before.key), animate=False)
        self._detail()
        idle = sum(is_idle(r.session) for r in every)
        status = styled((len(rows), None), ("/", self._st("dim")), (len(every), None), (" sessions · ", self._st("dim")),
                        (idle, None), (" idle ", self._st("dim")), ("shown" if self.show_idle else "hidden", None),
                        (" · by ", self._st("dim")), (name, None), (" ↓" if desc else " ↑", None))
        status.no_wrap, status.overflow = True, "ellipsis"
        self.query_one("#act-status", Label).update(status)

    def _session_cells(self, r: Row) -> list[Text]:
        s = r.session
        age = s.query_age_s
        age_style = None if age is None or age < SLOW_S else ("warn" if age < STUCK_S else "error")
        xact_style = "warn" if s.xact_age_s is not None and s.xact_age_s >= STUCK_S else None
        state_style = {"active": "ok", "idle in transaction": "warn",
                       "idle in transaction (aborted)": "error"}.get(s.state or "", "dim")
        blocked = ", ".join(str(p) for p in s.blocked_by)
        query = short_vectors(one_line(s.query)) if s.query is not None else "(not visible to this role)"
        return [
            self._c(r.pod, "accent", 14),
            self._c(s.pid),
            self._c(SHORT_STATES.get(s.state or "", s.state or s.backend_type or ""), state_style, 14),
            self._c(seconds(age) if age is not None else "", age_style),
            self._c(seconds(s.xact_age_s) if s.xact_age_s is not None else "", xact_style),
            self._c(s.wait_event or "", "warn", 22),
            self._c(blocked, "error", 16),
            self._c("vec" if s.vector else "", "accent"),
            self._c("own" if s.own else "", "dim"),
            self._c(s.user or "", None, 12),
            self._c(s.application or "", "dim", 16),
            self._c(query, None if s.query is not None else "dim", QUERY_WIDTH),
        ]

    def _keys_hint(self) -> None:
        offered = {a.name: a for a in registry.available(read_only=self.read_only)}
        parts: list = []
        for name in PANE_KEYS:
            a = offered.get(name)
            if a is not None:
                parts += [(" · " if parts else "", self._st("dim")), (a.key_display, self._st("accent")), " ",
                          ("filter" if name == "filter" else a.description, self._st("dim"))]
        self.query_one("#act-keys", Static).update(styled(*parts))

    def _pods(self) -> list[tuple[str, PodActivity]]:
        topo = self.topology
        return [(p.name, p.activity) for p in topo.pods if p.activity is not None] if topo else []

    def _progress(self) -> None:
        t = Text()
        for pod, pa in self._pods():
            for p in pa.progress:
                t.append_text(styled((pod, self._st("accent")), " ", p.command, " ", (p.relation or "?", None),
                                     (f" ({p.index})" if p.index else "", self._st("dim")), NL,
                                     ("  " + bar(p.percent), self._st("accent")),
                                     (" ?" if p.percent is None else f" {p.percent:3.0f}%", None),
                                     ("  " + (p.phase or ""), self._st("dim")), NL))
        t.rstrip()
        body = t if t.plain else styled(("no index build, VACUUM or ANALYZE running", self._st("dim")))
        self.query_one("#act-progress", Static).update(body)

    def _rates(self) -> None:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        for _, label in RATES:
            grid.add_column(no_wrap=True)
        grid.add_row(Text(), *(line(label, self._st("dim")) for _, label in RATES))
        count = 0
        for pod, pa in self._pods():
            hist = self.rates_history.get(pod, {})
            if not hist and pa.rates is None:
                continue
            count += 1
            cells = [line(pod, self._st("accent"))]
            for attr, _ in RATES:
                last = getattr(pa.rates, attr) if pa.rates is not None else None
                cells.append(styled((spark(hist.get(attr, ()), 10), self._st("accent")), (" ", None), (rate(last), None)))
            grid.add_row(*cells)
        body = grid if count else styled(("rates appear from the second refresh on", self._st("dim")))
        self.query_one("#act-rates", Static).update(body)

    def _collections(self, alerts: list[Alert]) -> None:
        rows = []
        for pod, pa in self._pods():
            for c in pa.collections:
                rows.append((pod, c, collection_flags(pod, c, pa, alerts)))
        rows.sort(key=lambda x: (not x[2], x[0], x[1].qualified))  # flagged first
        t = Text()
        for pod, c, flags in rows:
            hit = "-" if c.index_hit_ratio is None else f"{c.index_hit_ratio:.0%}"
            vec = human_count(c.vector_index_scans) if c.vector_index else "no vector index"
            t.append_text(styled((pod, self._st("accent")), " ", c.qualified, ("  seq ", self._st("dim")),
                                 human_count(c.seq_scan), (" · idx ", self._st("dim")), human_count(c.idx_scan),
                                 (" · vector idx ", self._st("dim")), vec, (" · dead ", self._st("dim")),
                                 human_count(c.n_dead_tup), (" · hit ", self._st("dim")), hit, NL))
            for f in flags:
                t.append_text(styled(("  ⚠ " + f, self._st("warn")), NL))
        t.rstrip()
        body = t if rows else styled(("no collection counters read", self._st("dim")))
        self.query_one("#act-collections", Static).update(body)

    def _detail(self) -> None:
        """The highlighted session in full: who, from where, what it waits for, its query (wrapped)."""
        row = self.selected_session()
        box = self.query_one("#act-detail", Static)
        box.display = row is not None
        if row is None:
            return
        s = row.session
        query = short_vectors(s.query)[:DETAIL_CHARS] if s.query is not None else "(not visible to this role)"
        box.update(styled(("pid ", self._st("dim")), (s.pid, None), (" on ", self._st("dim")), (row.pod, self._st("accent")),
                          (" · ", self._st("dim")), (s.user or "?", None), ("@", self._st("dim")), (s.client or "?", None),
                          (" · ", self._st("dim")), (s.application or "no application", None),
                          *(((" · waits ", self._st("dim")), (s.wait_event, self._st("warn"))) if s.wait_event else ()),
                          *(((" · blocked by ", self._st("dim")), (", ".join(str(p) for p in s.blocked_by), self._st("error")))
                            if s.blocked_by else ()),
                          NL, (query, None if s.query is not None else self._st("dim"))))

    @on(DataTable.RowHighlighted, "#act-sessions")
    def _session_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _statements(self) -> None:
        table = self.query_one("#act-statements", DataTable)
        before = self.selected_statement()
        found: list[tuple[str, Statement]] = []
        missing = []
        for pod, pa in self._pods():
            if pa.statements is None:
                if pa.up:
                    missing.append(pod)
            else:
                found += [(pod, s) for s in pa.statements]
        found.sort(key=lambda x: (not x[1].vector, -x[1].total_ms))
        found = found[:TOP_STATEMENTS]
        self.statements = {f"{pod}/{n}": (pod, s) for n, (pod, s) in enumerate(found)}
        table.clear(columns=True)
        table.add_columns("pod", "calls", "total", "mean", "rows", "vec", "query")
        for key, (pod, s) in self.statements.items():
            query = short_vectors(one_line(s.query)) if s.query is not None else "(not visible to this role)"
            table.add_row(self._c(pod, "accent", 14), self._c(human_count(s.calls)), self._c(seconds(s.total_ms / 1000)),
                          self._c(ms(s.mean_ms)), self._c(human_count(s.rows)), self._c("vec" if s.vector else "", "accent"),
                          self._c(query, None, QUERY_WIDTH), key=key)
        if before is not None:
            for key, value in self.statements.items():
                if value[0] == before[0] and value[1].query == before[1].query:
                    table.move_cursor(row=table.get_row_index(key), animate=False)
        table.display = bool(found)
        note = self.query_one("#act-statements-note", Static)
        if missing:
            note.update(styled(("pg_stat_statements not readable on ", self._st("dim")), (", ".join(missing), None),
                               (": see the notes below", self._st("dim"))))
        elif not found:
            note.update(styled(("no statements recorded yet", self._st("dim"))))
        note.display = bool(missing) or not found

    def _notes(self, alerts: list[Alert]) -> None:
        t = Text()
        for a in alerts:
            t.append_text(styled(("⚠ ", self._st("warn")), a.message, NL))  # the message names its pod
        for pod, pa in self._pods():
            for n in pa.notes:
                t.append_text(styled(("· ", self._st("dim")), (pod, self._st("accent")), ": ", n, NL))
        if not t.plain:
            t = styled(("nothing to note", self._st("dim")))
        t.rstrip()
        self.query_one("#act-notes", Static).update(t)

    # --- the filter box ------------------------------------------------------------------------

    @on(Input.Changed, "#act-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._sessions()

    def on_key(self, event: events.Key) -> None:
        box = self.query_one("#act-filter", Input)
        if event.key == "escape" and box.has_focus:  # like the tree's filter: esc clears it (the app refocuses)
            box.value = ""

    # --- cancel / terminate --------------------------------------------------------------------

    @worker(group="activity-signal", what="signal", exclusive=False)
    async def signal(self, pod: str, pid: int, how: str) -> None:
        """Send `how` ("cancel" or "terminate") to backend `pid` of `pod`, say what happened, re-read."""
        done = await self.app.api.signal_backend(pod, pid, how)
        if done:
            notify(self, how, " sent to pid ", pid, " on ", pod, timeout=4)
        else:
            notify(self, "pid ", pid, " on ", pod, " is gone: nothing to ", how, severity="warning", timeout=5)
        self.reread()

    def reread(self) -> None:
        """A refresh that starts now, or right after the one running (which may have read before the signal)."""
        app = self.app
        if app.refreshing:
            self.set_timer(0.2, self.reread)
        else:
            app.refresh_now()
