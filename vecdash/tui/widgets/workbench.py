"""Query workbench: collection, vector (random / like id / JSON), filter (JSON, validated as you type),
measure, limit, route and knobs; ctrl+r runs. Results table, timings, rows vs limit, recall@k and the
plan (with Remote SQL) on request. Every query is kept in the history (vecdash/history.py, saved across
restarts): enter on an entry restores the form to it and runs it again with the very same vector.

The form builds a `QuerySpec`; the console's api (`ConsoleApi.run_query`) runs it in a worker of this pane.
Results on screen are those of the last query that ran; when a run fails, or the estate is changed from
the console, they stay but are marked stale (dimmed, with a line saying which query they are from).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, DataTable, Input, Label, LoadingIndicator, OptionList, Select, Static
from textual.widgets.option_list import Option

from vecdash.errors import UserError
from vecdash.history import HistoryEntry, HistoryFile
from vecdash.inputs import parse_json, parse_vector_text
from vecdash.lines import key_name
from vecdash.model import ITERATIVE, MEASURES, Topology
from vecdash.secrets import mask_text
from vecdash.service.console_api import ConsoleApi
from vecdash.tui.busy import Busy
from vecdash.tui.messages import OpenRecord, RecordRef
from vecdash.tui.workers import worker
from vecdash.tui.screens.modal import focus_now
from vecdash.tui.text import NL, block, line, notify, styled, theme_style
from vecdash.tui.widgets.choices import refill
from vecdash.tui.widgets.fitted import FittedTable
from vecdash.tui.widgets.topology import Ref
from vecdash.tui.widgets.wiring import describe_error
from vecdash.units import ms

METADATA_COLUMNS = 4


def and_into(box: Input, api: ConsoleApi, key: str, value) -> str:
    """AND `{key: {"$eq": value}}` into the filter in `box`; the new text. A filter in the box that does
    not parse raises its UserError and stays as typed. (The workbench's and browse's filter boxes.)"""
    merged = api.filter_with(parse_filters(box.value, api.validate_filters), key, value)
    box.value = json.dumps(merged, ensure_ascii=False)
    return box.value


def parse_filters(text: str, validate=None) -> dict | None:
    """'' -> None; JSON object -> dict, checked by `validate` (the filter service's) when given."""
    text = text.strip()
    if not text:
        return None
    value = parse_json(text, "filter")
    if not isinstance(value, dict):
        raise UserError("filter: expected a JSON object, e.g. {\"year\": {\"$gte\": 2020}}")
    if validate is not None:
        validate(value)
    return value


def _int_or_none(text: str, name: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"{name}: expected a whole number, got {text!r}") from None
    if value <= 0:
        raise UserError(f"{name}: must be positive, got {value}")
    return value


def value_text(value) -> str:
    """A metadata value (or an id) as a cell says it: a string as it is, any other JSON value as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def metadata_columns(metadatas, first: list[str]) -> list[str]:
    """The metadata keys a results table shows: the filter's own keys first (`first`), then the others in
    the order the rows have them, METADATA_COLUMNS at most (the record detail shows every key)."""
    keys = [k for k in first if not k.startswith("$")][:METADATA_COLUMNS]
    for meta in metadatas:
        for k in (meta if isinstance(meta, dict) else {}):
            if k not in keys and len(keys) < METADATA_COLUMNS:
                keys.append(k)
    return keys


class WorkbenchPane(VerticalScroll):
    COMPONENT_CLASSES = {"workbench--ok", "workbench--warn", "workbench--error", "workbench--dim"}

    def __init__(self, api: ConsoleApi, history_file: HistoryFile | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.api = api
        self.topology: Topology | None = None
        self.history_file = history_file or HistoryFile(None)
        self.history: list[HistoryEntry] = []
        self.last_result = None
        self._result_from = ""  # which query the shown results are of, and when it ran
        self.stale: str | None = None  # why the shown results are not current, if they are not
        self._measure_for: tuple | None = None  # the collection the measure was last defaulted for

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("collection", classes="form-label")
            yield Select([], prompt="pod: schema.collection", id="wb-collection", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("vector", classes="form-label")
            yield Select([(m, m) for m in ("random", "like id", "json")], value="random", allow_blank=False,
                         id="wb-vector-mode", classes="narrow", compact=True)
            yield Input(placeholder="id, or [0.1, 0.2, …]", id="wb-vector", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("filter", classes="form-label")
            yield Input(placeholder='{"year": {"$gte": 2020}}', id="wb-filter", compact=True)
        yield Label("", id="wb-filter-error")
        with Horizontal(classes="form-row"):
            yield Label("measure", classes="form-label")
            yield Select([(m, m) for m in MEASURES], value="cosine", allow_blank=False, id="wb-measure", classes="narrow",
                         compact=True)
            yield Label("limit", classes="form-label-short")
            yield Input("10", id="wb-limit", compact=True, classes="tiny")
        yield Label("", id="wb-measure-why")
        with Horizontal(classes="form-row"):
            yield Label("route", classes="form-label")
            routes = self.api.query_routes()
            yield Select([(r, r) for r in routes], value=routes[0], allow_blank=False,
                         id="wb-route", classes="narrow", compact=True)
            yield Label("iter", classes="form-label-short")
            yield Select([(i, i) for i in dict.fromkeys(ITERATIVE.values())], value="off", allow_blank=False,
                         id="wb-iterative", classes="narrow", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("knobs", classes="form-label")
            yield Input(placeholder="ef_search", id="wb-ef", compact=True, classes="tiny")
            yield Input(placeholder="probes", id="wb-probes", compact=True, classes="tiny")
        with Horizontal(classes="form-row"):
            yield Label("", classes="form-label")
            yield Checkbox("exact", id="wb-exact", compact=True)
            yield Checkbox("recall", id="wb-recall", compact=True)
            yield Checkbox("plan", id="wb-explain", compact=True)
            yield Button("Run", id="wb-run", compact=True)
        yield LoadingIndicator(id="wb-spinner", classes="spinner")
        yield Static("Pick a collection and press ctrl+r.", id="wb-status")
        yield Label("", id="wb-stale")
        yield FittedTable(id="wb-results", zebra_stripes=True, cursor_type="row")
        yield Static(id="wb-plan")
        yield Label("History (enter restores the form and re-runs)", id="wb-history-title")
        yield OptionList(id="wb-history")

    def on_mount(self) -> None:
        for sel in ("#wb-spinner", "#wb-results", "#wb-stale", "#wb-plan", "#wb-history-title", "#wb-history",
                    "#wb-filter-error", "#wb-measure-why"):
            self.query_one(sel).display = False
        for entry in self.history_file.load():  # the queries of earlier sessions on this estate
            self._add_history(entry)

    # --- state from the app ----------------------------------------------------------------------

    def set_read_only(self, read_only: bool) -> None:
        pass  # queries only read; sessions are read-only on the server anyway

    def show_topology(self, topo: Topology) -> None:
        self.topology = topo
        refill(self.query_one("#wb-collection", Select),
               [(c.pod, c.schema, c.name) for p in topo.pods if p.up for c in p.collections],
               lambda v: styled(v[0], ": ", f"{v[1]}.{v[2]}"))

    def suggest(self, ref: Ref, force: bool = False) -> None:
        if ref.kind != "collection":
            return
        select = self.query_one("#wb-collection", Select)
        if not force and not select.is_blank():
            return
        value = (ref.pod, ref.schema, ref.name)
        if any(v == value for _, v in select._options):
            select.value = value

    def set_route(self, route: str) -> None:
        self._choose("#wb-route", route)

    def _choose(self, selector: str, value) -> None:
        """Select `value` if it is one of the options (a history entry may name what is gone)."""
        select = self.query_one(selector, Select)
        if any(v == value for _, v in select._options):
            select.value = value

    def focus_form(self) -> None:
        focus_now(self.query_one("#wb-filter", Input))

    def set_filters(self, text: str) -> None:
        self.query_one("#wb-filter", Input).value = text

    def set_recall(self, on_: bool) -> None:
        self.query_one("#wb-recall", Checkbox).value = on_

    def form_values(self) -> dict[str, str]:
        """The form fields something outside the form may set (the tour), as words, to say what changed."""
        target = self.query_one("#wb-collection", Select).value
        return {
            "collection": f"{target[0]}: {target[1]}.{target[2]}" if isinstance(target, tuple) else "none",
            "filter": self.query_one("#wb-filter", Input).value.strip() or "empty",
            "recall": "on" if self.query_one("#wb-recall", Checkbox).value else "off",
        }

    # --- stale results -----------------------------------------------------------------------------

    def mark_stale(self, why: str) -> None:
        """The results on screen are no longer current (`why`); they stay, dimmed, under a line saying so."""
        if self.last_result is None:
            return
        self.stale = why
        label = self.query_one("#wb-stale", Label)
        label.update(styled(("⚠ stale: ", theme_style(self, "workbench--warn")),
                            "the results below are of ", self._result_from, ", ", why))
        label.display = True
        for sel in ("#wb-results", "#wb-plan"):
            self.query_one(sel).add_class("-stale")

    def _mark_current(self) -> None:
        self.stale = None
        self.query_one("#wb-stale").display = False
        for sel in ("#wb-results", "#wb-plan"):
            self.query_one(sel).remove_class("-stale")

    # --- the measure follows the collection --------------------------------------------------------

    def _collection(self):
        target = self.query_one("#wb-collection", Select).value
        pod = self.topology.pod(target[0]) if isinstance(target, tuple) and self.topology else None
        return pod.collection(target[1], target[2]) if pod else None

    @on(Select.Changed, "#wb-collection")
    def _collection_changed(self, event: Select.Changed) -> None:
        """A newly chosen collection takes the measure its vector index serves (a refresh keeps the user's)."""
        c = self._collection()
        if c is None or c.key == self._measure_for:
            return
        self._measure_for = c.key
        self.query_one("#wb-measure", Select).value = c.default_measure()[0]
        self._say_measure()

    @on(Select.Changed, "#wb-measure")
    def _measure_changed(self, event: Select.Changed) -> None:
        self._say_measure()

    def _say_measure(self) -> None:
        why = self.query_one("#wb-measure-why", Label)
        c = self._collection()
        if c is None:
            why.display = False
            return
        default, reason = c.default_measure()
        chosen = self.query_one("#wb-measure", Select).value
        dim = theme_style(self, "workbench--dim")
        if chosen == default:
            why.update(styled((default, "bold"), (": ", dim), (reason, dim)))
        else:
            warn = theme_style(self, "workbench--warn")
            why.update(styled((chosen, "bold"), (" chosen; the collection's default is ", warn), (default, warn),
                              (" (", dim), (reason, dim), (")", dim)))
        why.display = True

    # --- form -> spec ----------------------------------------------------------------------------

    @on(Input.Changed, "#wb-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        err = self.query_one("#wb-filter-error", Label)
        try:
            parse_filters(event.value, self.api.validate_filters)
        except Exception as exc:
            err.update(styled(("✖ ", None), (mask_text(str(exc)), theme_style(self, "workbench--error"))))
            err.display = True
            event.input.add_class("-invalid-filter")
        else:
            err.display = False
            event.input.remove_class("-invalid-filter")

    def build_spec(self):
        target = self.query_one("#wb-collection", Select).value
        if not isinstance(target, tuple):
            raise UserError("workbench: choose a collection first")
        pod, schema, name = target
        mode = self.query_one("#wb-vector-mode", Select).value
        vtext = self.query_one("#wb-vector", Input).value.strip()
        kw: dict = {}
        if mode == "json":
            kw["vector"] = parse_vector_text(vtext, "vector")
        elif mode == "like id":
            if not vtext:
                raise UserError("vector: type the id of a row to search like it")
            kw["like_id"] = vtext
        else:
            kw["random"] = True
        limit = _int_or_none(self.query_one("#wb-limit", Input).value, "limit") or 10
        iterative = self.query_one("#wb-iterative", Select).value
        return self.api.query_spec(
            pod=pod,
            collection=name,
            schema=schema,
            limit=limit,
            filters=parse_filters(self.query_one("#wb-filter", Input).value, self.api.validate_filters),
            measure=self.query_one("#wb-measure", Select).value,
            route=self.query_one("#wb-route", Select).value,
            ef_search=_int_or_none(self.query_one("#wb-ef", Input).value, "ef_search"),
            probes=_int_or_none(self.query_one("#wb-probes", Input).value, "probes"),
            iterative=None if iterative == "off" else iterative,
            exact=self.query_one("#wb-exact", Checkbox).value,
            recall=self.query_one("#wb-recall", Checkbox).value,
            explain=self.query_one("#wb-explain", Checkbox).value,
            **kw,
        )

    # --- running ---------------------------------------------------------------------------------

    def show_failure(self, what: str, message: str) -> None:
        self._status(message, "error")

    def _status(self, text: str | Text, kind: str | None = None) -> None:
        if isinstance(text, str):
            text = line(text, theme_style(self, f"workbench--{kind}") if kind else None)
        self.query_one("#wb-status", Static).update(text)

    def run(self, spec=None) -> None:
        if spec is None:
            try:
                spec = self.build_spec()
            except Exception as exc:
                self._status(describe_error(exc), "error")
                self.mark_stale("not of this run (it did not start)")
                return
        self._run(spec)

    @worker(group="query", what="query")
    async def _run(self, spec) -> None:
        self._status(f"running on {spec.pod} ({spec.route})…", "dim")
        try:
            with Busy(self.query_one("#wb-spinner")):
                result = await self.api.run_query(spec, getattr(self.app, "topology", None))
        except Exception as exc:
            self._status(describe_error(exc), "error")
            self.mark_stale("not of this run (it failed)")
            return
        self.show_result(result)
        record = getattr(self.app, "record_query_measure", None)
        if record:
            record(spec.pod, spec.schema, spec.collection, spec.measure)
        entry = HistoryEntry(
            pod=spec.pod, schema=spec.schema, collection=spec.collection, source=result.source,
            vector=tuple(result.query_vector), like_id=spec.like_id, filters=spec.filters, measure=spec.measure,
            route=spec.route, limit=spec.limit, ef_search=spec.ef_search, probes=spec.probes,
            iterative=spec.iterative, exact=spec.exact, recall=spec.recall, explain=spec.explain,
            rows=len(result.rows), client_ms=result.client_ms)
        self._add_history(entry)
        try:
            self.history_file.add(entry)
        except OSError as exc:  # the query ran; only keeping it failed
            notify(self, "history not saved: ", mask_text(str(exc)), severity="warning", timeout=6)

    def _add_history(self, entry: HistoryEntry) -> None:
        self.history.append(entry)
        box = self.query_one("#wb-history", OptionList)
        box.add_option(Option(line(mask_text(entry.summary()))))
        box.highlighted = box.option_count - 1  # tab to the history, enter: the last query runs again
        box.display = True
        self.query_one("#wb-history-title").display = True

    def restore(self, entry: HistoryEntry) -> None:
        """Put `entry` back into the form: ctrl+r then asks the same query (same vector) again."""
        self._choose("#wb-collection", (entry.pod, entry.schema, entry.collection))
        if entry.vector is not None:
            self._choose("#wb-vector-mode", "json")
            self.query_one("#wb-vector", Input).value = json.dumps(list(entry.vector))
        else:
            self._choose("#wb-vector-mode", "like id")
            self.query_one("#wb-vector", Input).value = entry.like_id or ""
        self.query_one("#wb-filter", Input).value = json.dumps(entry.filters) if entry.filters else ""
        self._choose("#wb-measure", entry.measure)
        self.query_one("#wb-limit", Input).value = str(entry.limit)
        self._choose("#wb-route", entry.route)
        self._choose("#wb-iterative", ITERATIVE.get(entry.iterative or "off", "off"))
        self.query_one("#wb-ef", Input).value = "" if entry.ef_search is None else str(entry.ef_search)
        self.query_one("#wb-probes", Input).value = "" if entry.probes is None else str(entry.probes)
        for box, value in (("#wb-exact", entry.exact), ("#wb-recall", entry.recall), ("#wb-explain", entry.explain)):
            self.query_one(box, Checkbox).value = value

    def show_result(self, result) -> None:
        self.last_result = result
        spec = result.spec
        at = datetime.now(timezone.utc).strftime("%H:%M:%S")
        self._result_from = f"the query on {spec.pod}: {spec.schema}.{spec.collection} at {at} UTC"
        self._mark_current()
        table = self.query_one("#wb-results", FittedTable)
        keys = metadata_columns([r.metadata for r in result.rows], list(getattr(result.spec, "filters", None) or {}))
        multi_pod = len({r.pod for r in result.rows if r.pod}) > 1
        table.fill(["id", "distance", *(["pod"] if multi_pod else []), *map(key_name, keys)],
                   [[value_text(r.id), f"{r.distance:.4f}", *([r.pod or ""] if multi_pod else []),
                     *(value_text((r.metadata or {}).get(k, "")) for k in keys)] for r in result.rows])
        table.display = True
        ok = theme_style(self, "workbench--ok")
        warn = theme_style(self, "workbench--warn")
        dim = theme_style(self, "workbench--dim")
        t = styled((f"{len(result.rows)}/{result.limit} rows", warn if result.underfilled else ok),
                   (f" · client {ms(result.client_ms)}", dim))
        if result.server_ms is not None:
            t += styled((f" · server {ms(result.server_ms)}", dim))
        for pod, v in sorted((result.per_pod_ms or {}).items()):
            t += styled((f" · {pod} {ms(v)}", dim))
        t += styled((f" · route {result.route}", dim))
        if result.path:
            t += styled((f" ({result.path})", dim))
        if result.recall is not None:
            t += styled((f" · recall@{result.limit} {result.recall:.2f}", ok if result.recall >= 0.9 else warn))
        if result.underfilled and not result.warnings:
            t += NL + styled(("⚠ fewer rows than the limit: the filter removed candidates (try iterative scan)", warn))
        for w in result.warnings or []:
            t += NL + styled(("⚠ ", warn), (mask_text(w), warn))
        self._status(t)
        plan = self.query_one("#wb-plan", Static)
        if result.plan:
            plan.update(block(mask_text(result.plan)))
            plan.display = True
        else:
            plan.display = False
        # bring the answer into view (at 80x24 the form fills the pane), and the keys to it: the arrows
        # pick a row, enter opens it whole; `q` goes back to the filter box
        self.call_after_refresh(self.scroll_to_widget, self.query_one("#wb-status"), top=True)
        if self.app.screen is self.screen and getattr(self.app, "active_pane", None) == "workbench":
            table.focus(scroll_visible=False)

    @on(OptionList.OptionSelected, "#wb-history")
    def _rerun(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        idx = event.option_index
        if not 0 <= idx < len(self.history):
            return
        entry = self.history[idx]
        if not entry.rerunnable:
            self._status("this entry's vector was too long to keep: it cannot run again", "warn")
            return
        self.restore(entry)
        try:
            spec = self.api.query_spec(**entry.query_fields())
        except Exception as exc:
            self._status(describe_error(exc), "error")
            return
        self.run(spec)

    @on(DataTable.RowSelected, "#wb-results")
    def _open_record(self, event: DataTable.RowSelected) -> None:
        """enter on a result row: the whole row (the app opens the record detail)."""
        event.stop()
        result = self.last_result
        if result is None or not 0 <= event.cursor_row < len(result.rows):
            return
        r, spec = result.rows[event.cursor_row], result.spec
        self.post_message(OpenRecord(RecordRef(r.pod or spec.pod, spec.schema, spec.collection, r.id,
                                               r.metadata or {}, r.distance)))

    def target(self) -> tuple[str, str, str] | None:
        """(pod, schema, collection) chosen in the form, or None."""
        value = self.query_one("#wb-collection", Select).value
        return value if isinstance(value, tuple) else None

    def add_filter_clause(self, key: str, value) -> str:
        """AND `{key: {"$eq": value}}` into the filter box; the new text (`and_into`)."""
        return and_into(self.query_one("#wb-filter", Input), self.api, key, value)

    @on(Button.Pressed, "#wb-run")
    def _run_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.run()
