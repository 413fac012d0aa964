"""The metadata keys of a collection, from a bounded sample read in a worker: each key with its JSON
type(s), how often it is present and its most common values. enter on a key lists its values; enter on
a value closes the screen with (key, value), which the opener ANDs into its filter as
`{key: {"$eq": value}}` (the workbench's, or the browse screen's). A value cut for length cannot be
picked: the filter would not match it.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from vecdash.lines import key_name
from vecdash.model_data import KeyReport, KeyStat
from vecdash.service.console_api import ConsoleApi
from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import line, styled
from vecdash.tui.workers import worker
from vecdash.units import human_count


class KeysScreen(Modal[tuple[str, Any] | None]):
    """Dismisses with (key, value) picked, or None."""

    def __init__(self, api: ConsoleApi, pod: str, collection: str, *, schema: str = "vecs",
                 topology=None) -> None:
        super().__init__()
        self.api = api
        self.pod, self.schema, self.collection = pod, schema, collection
        self.topology = topology
        self.report: KeyReport | None = None
        self.key: KeyStat | None = None  # the key whose values are listed

    def compose(self) -> ComposeResult:
        with Vertical(id="keys-box"):
            yield Static(styled(("Metadata keys", "bold"), " · ", self.pod, ": ", self.schema, ".", self.collection),
                         id="keys-title")
            yield Static(line("sampling…", self.tone("dim")), id="keys-status")
            yield OptionList(id="keys-list")
            yield Static("", id="keys-values-title")
            yield OptionList(id="keys-values")
            yield Static(line("enter: a key's values · enter on a value: AND it into the filter · tab moves · "
                              "esc close", self.tone("dim")), id="keys-help")

    def on_mount(self) -> None:
        self.query_one("#keys-values").display = False
        self.query_one("#keys-list").focus()
        self.sample()

    @worker(group="keys", what="sampling the metadata keys")
    async def sample(self) -> None:
        report = await self.api.sample_keys(self.pod, self.collection, schema=self.schema, topology=self.topology)
        self.report = report
        dim = self.tone("dim")
        of = f" of ~{human_count(report.rows_estimate)}" if report.rows_estimate is not None else ""
        status = styled(f"{len(report.keys)} key(s) in {human_count(report.sampled)} sampled row(s){of} · ",
                        (report.method, dim))
        if report.not_objects:
            status += styled((f" · {human_count(report.not_objects)} row(s) whose metadata is not an object",
                              self.tone("warn")))
        self.query_one("#keys-status", Static).update(status)
        keys = self.query_one("#keys-list", OptionList)
        keys.clear_options()
        for k in report.keys:
            types = k.types_text()
            keys.add_option(Option(styled((key_name(k.key), "bold"), (" · ", dim), types, (" · ", dim),
                                          (f"{k.share:.0%} present", self.tone("warn") if k.share < 1 else None))))
        if report.keys:
            keys.highlighted = 0

    def show_failure(self, what: str, message: str) -> None:
        self.query_one("#keys-status", Static).update(line(message, self.tone("error")))

    @on(OptionList.OptionSelected, "#keys-list")
    def _key_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.report is None or not 0 <= event.option_index < len(self.report.keys):
            return
        self.key = k = self.report.keys[event.option_index]
        self.query_one("#keys-values-title", Static).update(
            styled("most common values of ", (key_name(k.key), "bold"), (" (rows in the sample)", self.tone("dim"))))
        values = self.query_one("#keys-values", OptionList)
        values.clear_options()
        for v in k.top:
            text = styled(v.text, ("…" if v.truncated else "", None), (f"  {human_count(v.count)}", self.tone("dim")),
                          ("  (cut: type it by hand)" if v.truncated else "", self.tone("warn")))
            values.add_option(Option(text, disabled=v.truncated))
        values.display = True
        if k.top:
            values.highlighted = next((i for i, v in enumerate(k.top) if not v.truncated), None)
            values.focus()

    @on(OptionList.OptionSelected, "#keys-values")
    def _value_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        k = self.key
        if k is None or not 0 <= event.option_index < len(k.top) or k.top[event.option_index].truncated:
            return
        self.dismiss((k.key, k.top[event.option_index].value))

