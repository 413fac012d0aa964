"""Stats pane: everything known about the selected object, from the last Topology only.

Collections get sizes, indexes, maintenance, exposure through the primary and warnings, plus a
sparkline of row estimate and pod latency across refreshes. Pods, foreign servers, foreign tables and
views get their own short sheets; a down pod shows its error.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Sparkline, Static

from vecdash.model import Collection, PodStatus, Topology
from vecdash.service.stats import Pods, collection_warnings, exposures, foreign_table_target, server_reach, view_targets
from vecdash.tui.text import NL, line, styled, theme_style
from vecdash.tui.widgets.topology import Ref
from vecdash.units import ago, human_bytes, human_count, ms


class StatsPane(VerticalScroll):
    COMPONENT_CLASSES = {"stats--title", "stats--key", "stats--ok", "stats--warn", "stats--error", "stats--dim"}

    def compose(self) -> ComposeResult:
        yield Static(id="stats-body")
        with Horizontal(classes="spark-row", id="spark-rows-row"):
            yield Label("rows", classes="spark-label")
            yield Sparkline([], id="spark-rows")
            yield Label("", classes="spark-value", id="spark-rows-value")
        with Horizontal(classes="spark-row", id="spark-latency-row"):
            yield Label("latency", classes="spark-label")
            yield Sparkline([], id="spark-latency")
            yield Label("", classes="spark-value", id="spark-latency-value")
        yield Static(id="stats-warnings")

    def on_mount(self) -> None:
        self._set_sparks(None, None)

    # --- text helpers ------------------------------------------------------------------------

    def _st(self, name: str):
        return theme_style(self, f"stats--{name}")

    def _text(self) -> Text:
        return Text()

    def _title(self, t: Text, title: str, sub: str = "") -> None:
        t.append_text(styled((title, self._st("title")), (f"  {sub}" if sub else "", self._st("dim")), NL))

    def _row(self, t: Text, key: str, value: str | Text, style: str | None = None) -> None:
        t.append_text(styled((f"{key:<12} ", self._st("key")),  # a long key still leaves a space
                             value if isinstance(value, Text) else (value, self._st(style) if style else None), NL))

    # --- entry point -------------------------------------------------------------------------

    def show(
        self,
        topology: Topology | None,
        ref: Ref | None,
        *,
        endpoints: list | None = None,
        rows_history: Sequence[float] | None = None,
        latency_history: Sequence[float] | None = None,
        queried_measures: set[str] | None = None,
    ) -> None:
        body = self.query_one("#stats-body", Static)
        warn = self.query_one("#stats-warnings", Static)
        endpoints = endpoints or Pods(())
        t = self._text()
        warnings: list[str] = []
        sparks = (None, None)
        if topology is None:
            t.append("waiting for the first refresh…", self._st("dim"))
        else:
            pod = topology.pod(ref.pod) if ref else None
            if ref is None or pod is None:
                self._estate(t, topology)
            elif not pod.up:  # no latency to show: the history's zeros would read "0.0 ms", a full bar
                self._pod(t, pod, topology)
            elif ref.kind == "collection":
                c = pod.collection(ref.schema, ref.name)
                if c is None:
                    t.append_text(line(f"{ref.schema}.{ref.name} is gone from {ref.pod}", self._st("warn")))
                else:
                    self._collection(t, c, topology, endpoints)
                    warnings = collection_warnings(c, queried_measures, pod)
                    sparks = (rows_history, latency_history)
            elif ref.kind == "server":
                self._server(t, pod, ref.name, topology, endpoints)
            elif ref.kind == "foreign_table":
                self._foreign_table(t, pod, ref, topology, endpoints)
            elif ref.kind == "view":
                self._view(t, pod, ref, topology, endpoints)
            else:
                self._pod(t, pod, topology)
                sparks = (None, latency_history)
        body.update(t)
        w = self._text()
        for warning in warnings:
            w.append_text(styled((f"⚠ {warning}", self._st("warn")), NL))
        warn.update(w)
        warn.display = bool(warnings)
        self._set_sparks(*sparks)

    def _set_sparks(self, rows: Sequence[float] | None, latency: Sequence[float] | None) -> None:
        for name, data, fmt in (("rows", rows, human_count), ("latency", latency, ms)):
            row = self.query_one(f"#spark-{name}-row")
            row.display = bool(data)
            if data:
                self.query_one(f"#spark-{name}", Sparkline).data = list(data)
                last = data[-1]
                self.query_one(f"#spark-{name}-value", Label).update(line(fmt(int(last)) if name == "rows" else fmt(last)))

    # --- sheets ------------------------------------------------------------------------------

    def _estate(self, t: Text, topo: Topology) -> None:
        up = sum(p.up for p in topo.pods)
        self._title(t, "estate", f"{len(topo.pods)} pods, {up} up")
        self._row(t, "collections", str(len(topo.collections())))
        self._row(t, "rows", human_count(sum(c.rows_estimate or 0 for c in topo.collections())))
        self._row(t, "size", human_bytes(sum(c.total_bytes for c in topo.collections())))
        for p in topo.pods:
            state = ("up", "ok") if p.up else ("down", "error")
            self._row(t, p.name, f"{p.role}, {state[0]}", state[1])

    def _pod(self, t: Text, pod: PodStatus, topo: Topology) -> None:
        self._title(t, pod.name, pod.role)
        if not pod.up:
            self._row(t, "state", "DOWN", "error")
            self._row(t, "error", pod.error or "unknown", "error")
            t.append("\nThe rest of the estate keeps refreshing; this pod is retried every refresh.", self._st("dim"))
            return
        self._row(t, "state", "up", "ok")
        self._row(t, "latency", ms(pod.latency_ms))
        self._row(t, "postgres", pod.server_version or "?")
        self._row(t, "pgvector", pod.pgvector_version or "not installed", None if pod.pgvector_version else "warn")
        if pod.is_primary:
            self._row(t, "postgres_fdw", pod.fdw_version or "not installed", None if pod.fdw_version else "warn")
        self._row(t, "database", f"{pod.database or '?'} ({human_bytes(pod.database_bytes)})")
        self._row(t, "memory", f"shared_buffers {human_bytes(pod.shared_buffers_bytes)}")
        self._row(t, "user", pod.current_user or "?")
        self._row(t, "session", "read-only" if pod.read_only else "read-write")
        self._row(t, "collections", str(len(pod.collections)))
        if pod.is_primary:
            self._row(t, "wiring", f"{len(pod.foreign_servers)} servers, {len(pod.foreign_tables)} foreign tables, "
                                   f"{len(pod.views)} views")

    def _collection(self, t: Text, c: Collection, topo: Topology, endpoints: list) -> None:
        self._title(t, c.qualified, f"on {c.pod}")
        self._row(t, "column", f"{c.column} {c.type}({c.dimension or '?'})" + (f"  ({c.kind})" if c.kind != "table" else ""))
        if c.other_vector_columns:
            self._row(t, "also", ", ".join(c.other_vector_columns))
        self._row(t, "rows", f"~{c.rows_estimate:,}" if c.rows_estimate is not None else "unknown (never analyzed)")
        self._row(t, "size", f"table {human_bytes(c.table_bytes)} · indexes {human_bytes(c.index_bytes)} · "
                             f"total {human_bytes(c.total_bytes)}")
        self._row(t, "metadata", "jsonb" if c.has_metadata else "none")
        if not c.indexes:
            self._row(t, "indexes", "none", "warn")
        for n, i in enumerate(c.indexes):
            params = " ".join(f"{k}={v}" for k, v in sorted(i.params.items()))
            desc = styled((f"{i.method} {i.measure or i.opclass or ''} {params}".rstrip(), self._st("ok") if i.valid else self._st("error")),
                          (f"  {human_bytes(i.bytes)}  {i.name}" + ("" if i.valid else "  INVALID"), self._st("dim")))
            self._row(t, "indexes" if n == 0 else "", desc)
        now = topo.taken_at
        self._row(t, "analyzed", ago(c.last_analyze, now))
        self._row(t, "vacuumed", ago(c.last_vacuum, now))
        exp = exposures(c, topo, endpoints)
        if not exp:
            self._row(t, "exposed", "not wired into the primary" if not topo.pod(c.pod).is_primary else "local", "dim")
        for n, e in enumerate(exp):
            views = ", ".join(e.views) or "no view"
            self._row(t, "exposed" if n == 0 else "", f"{views} via {e.foreign_table} (server {e.server})")

    def _server(self, t: Text, pod: PodStatus, name: str, topo: Topology, endpoints: list) -> None:
        s = next((s for s in pod.foreign_servers if s.name == name), None)
        if s is None:
            t.append_text(line(f"server {name} is gone", self._st("warn")))
            return
        self._title(t, f"server {s.name}", s.fdw)
        self._row(t, "reaches", server_reach(s, endpoints).label())
        for k, v in sorted(s.options.items()):
            self._row(t, k, v)
        if s.pushdown_vector:
            self._row(t, "pushdown", "yes: `vector` is in extensions, ORDER BY distance runs remotely", "ok")
        else:
            self._row(t, "pushdown", "NO: add extensions 'vector' or every search pulls all rows over", "warn")
        users = [m.user for m in pod.user_mappings if m.server == s.name]
        self._row(t, "mappings", ", ".join(users) or "none (queries will fail)", None if users else "warn")
        fts = [f.qualified for f in pod.foreign_tables if f.server == s.name]
        self._row(t, "tables", ", ".join(fts) or "none")

    def _foreign_table(self, t: Text, pod: PodStatus, ref: Ref, topo: Topology, endpoints: list) -> None:
        ft = next((f for f in pod.foreign_tables if (f.schema, f.name) == (ref.schema, ref.name)), None)
        if ft is None:
            t.append_text(line(f"{ref.schema}.{ref.name} is gone", self._st("warn")))
            return
        self._title(t, ft.qualified, f"foreign table on {pod.name}")
        target_pod, coll = foreign_table_target(ft, topo, endpoints)
        self._row(t, "server", ft.server)
        self._row(t, "reads", f"{ft.remote_schema}.{ft.remote_table} on {target_pod or '?'}")
        self._row(t, "vector", f"{ft.vector_column} {ft.vector_type}({ft.dimension})" if ft.vector_column else "none")
        if coll is not None and ft.dimension and coll.dimension and coll.dimension != ft.dimension:
            self._row(t, "mismatch", f"remote is {coll.type}({coll.dimension})", "error")
        views = [v.qualified for v in pod.views if ft.qualified in v.reads]
        self._row(t, "views", ", ".join(views) or "none")

    def _view(self, t: Text, pod: PodStatus, ref: Ref, topo: Topology, endpoints: list) -> None:
        v = next((v for v in pod.views if (v.schema, v.name) == (ref.schema, ref.name)), None)
        if v is None:
            t.append_text(line(f"{ref.schema}.{ref.name} is gone", self._st("warn")))
            return
        self._title(t, v.qualified, "materialized view" if v.materialized else "view")
        self._row(t, "reads", ", ".join(v.reads))
        for ft in view_targets(v, topo):
            target_pod, _ = foreign_table_target(ft, topo, endpoints)
            self._row(t, "", f"{ft.qualified} → {ft.remote_schema}.{ft.remote_table} on {target_pod or '?'}")
