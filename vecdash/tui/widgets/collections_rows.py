"""What the Collections pane lists, as pure functions of one Topology: a row per collection of every
pod that answered, its index in words, its warnings (the service's findings, with the doctor's rule
that no index matters only from MIN_INDEX_ROWS rows), the sort columns and the filter. No Textual here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vecdash.model import Collection, PodStatus, Topology
from vecdash.service.index_plans import index_advised
from vecdash.service.stats import collection_findings
from vecdash.tui.widgets.activity_rows import ALERT_WORDS

# a finding's short word for the table (the full warning is under it, for the highlighted row)
WARNING_WORDS = {
    "no_vector_index": "no index",
    "index_invalid": ALERT_WORDS["index_invalid"],
    "index_over_shared_buffers": ALERT_WORDS["index_over_shared_buffers"],
    "dims_over_index_limit": "dims > index limit",
    "ivfflat_lists": "ivfflat lists",
    "measure_not_indexed": "measure not indexed",
    "never_analyzed": "never analyzed",
}


@dataclass(frozen=True)
class CollectionRow:
    pod: PodStatus
    c: Collection
    warnings: tuple[tuple[str, str], ...]  # (code, warning) as service.stats finds them

    @property
    def key(self) -> str:
        """The table's row key: repr keeps any name (a slash, a newline) unambiguous."""
        return repr(self.c.key)

    @property
    def index(self) -> str:
        """Each vector index as method/measure, an invalid one marked ✖; `-` for none."""
        ann = [i for i in self.c.indexes if i.method in ("hnsw", "ivfflat")]
        return ", ".join(f"{i.method}/{i.measure or '?'}{'' if i.valid else ' ✖'}" for i in ann) or "-"

    @property
    def words(self) -> list[str]:
        return [WARNING_WORDS.get(code, code) for code, _ in self.warnings]


def table_rows(topo: Topology | None) -> list[CollectionRow]:
    """Every collection on every pod that answered (a foreign table on the primary is not one)."""
    if topo is None:
        return []
    return [CollectionRow(p, c, tuple(findings(c, p))) for p in topo.pods if p.up
            for c in p.collections if c.kind != "foreign"]


def findings(c: Collection, pod: PodStatus) -> list[tuple[str, str]]:
    return [(code, message) for code, message in collection_findings(c, pod=pod)
            if code != "no_vector_index" or index_advised(c.rows_estimate)]


# column label, value of a row, descending first; every column sorts (`o` cycles, a click picks one)
SORTS: tuple[tuple[str, Callable[[CollectionRow], object], bool], ...] = (
    ("pod", lambda r: r.pod.name, False),
    ("schema", lambda r: r.c.schema, False),
    ("name", lambda r: r.c.name, False),
    ("dim", lambda r: r.c.dimension, True),
    ("rows", lambda r: r.c.rows_estimate, True),
    ("size", lambda r: r.c.total_bytes, True),
    ("index", lambda r: r.index, False),
    ("warnings", lambda r: len(r.warnings), True),
    ("latency", lambda r: r.pod.latency_ms, True),  # the pod's: last, a collection's own columns first
)


def sort_rows(rows: list[CollectionRow], sort: int, flipped: bool = False) -> list[CollectionRow]:
    """By the sort column (unknown values last), then pod, schema and name."""
    _, value, desc = SORTS[sort]
    rows = sorted(rows, key=lambda r: r.c.key)
    known = [r for r in rows if value(r) is not None]
    return sorted(known, key=value, reverse=desc != flipped) + [r for r in rows if value(r) is None]


def matches(r: CollectionRow, needle: str) -> bool:
    """`needle` (lower case) in the pod, schema, name, index or a warning word."""
    return any(needle in v.lower() for v in (r.pod.name, r.c.schema, r.c.name, r.c.qualified, r.index, *r.words))
