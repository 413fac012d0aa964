"""The data itself, as plain values: one record, a browsed page, its bounded count, the metadata keys
of a sample. Services build these (service/browse.py, service/keys.py); the CLI and the console show
them and the export writers (vecdash/export.py) write them. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# browse: rows per page when none is asked for, the most one page may ask, and the rows one page of a
# stream reads (a round trip each; memory holds one page at a time)
DEFAULT_PAGE = 20
MAX_PAGE = 10_000
STREAM_PAGE = 2_000
# the count of matching rows stops here: counting every row of a large table is a full scan
COUNT_CAP = 10_000
# a record's first values shown (the whole vector is thousands of numbers)
HEAD_VALUES = 8
# keys: rows sampled when none is asked for, the most that may be asked, the most common values kept
# per key, and the characters of a value's JSON text kept (longer ones are cut, `truncated` says so).
# The map has its own (service/projection.py: MAP_MAX_SAMPLE, LEGEND_VALUE_CHARS).
DEFAULT_SAMPLE = 1_000
KEYS_MAX_SAMPLE = 100_000
TOP_VALUES = 5
KEY_VALUE_CHARS = 80


@dataclass
class Record:
    """One row of a collection, whole: every metadata key, the vector's size and first values."""

    pod: str
    schema: str
    collection: str
    id: str
    metadata: Any  # the jsonb as stored: a dict for vecs rows (None: the collection has no metadata column)
    vector_type: str  # vector | halfvec | sparsevec | bit
    dimension: int
    norm: float  # Euclidean (L2) norm; for bit, sqrt of the number of set bits
    head: list[float]  # the first HEAD_VALUES values (0/1 for bit)
    distance: float | None = None  # not read here: the console fills it from the result row it opened

    def to_json(self) -> dict[str, Any]:
        return {"pod": self.pod, "schema": self.schema, "collection": self.collection, "id": self.id,
                "metadata": self.metadata, "vector_type": self.vector_type, "dimension": self.dimension,
                "norm": self.norm, "head": self.head, "distance": self.distance}


@dataclass
class BrowseSpec:
    """Rows of a collection in id order: the page after `after` (None: the first), `limit` rows (0: every
    matching row, for a stream), filtered with the vecs filter language of queries."""

    pod: str
    collection: str
    schema: str = "vecs"
    filters: Any = None
    limit: int = DEFAULT_PAGE
    after: str | None = None
    include_vector: bool = False
    count: bool = False  # also count the matching rows (bounded by COUNT_CAP)


@dataclass
class BrowseRow:
    id: str
    metadata: Any
    vector: list[float] | None = None


@dataclass
class MatchCount:
    """Rows matching a filter, counted up to a cap: `capped` means there are at least `count`."""

    count: int
    capped: bool

    def __str__(self) -> str:
        return f"at least {self.count:,}" if self.capped else f"{self.count:,}"

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "capped": self.capped}


@dataclass
class BrowsePage:
    rows: list[BrowseRow]
    last_id: str | None  # the next page is the one `after` this id (None: the page is empty)
    more: bool  # whether a row follows this page
    matching: MatchCount | None = None  # when the spec asked for a count
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        from vecdash.model import to_jsonable

        return {"rows": [to_jsonable(r) for r in self.rows], "last_id": self.last_id, "more": self.more,
                "matching": self.matching.to_json() if self.matching else None, "warnings": self.warnings}


@dataclass
class KeyValue:
    """One of a key's most common values in the sample."""

    text: str  # its JSON text, at most KEY_VALUE_CHARS characters (data: show it literally)
    count: int  # sampled rows holding it
    truncated: bool  # the text was cut
    value: Any = None  # the value itself (a JSON value), when not truncated: a filter can use it


@dataclass
class KeyStat:
    """One top-level metadata key in the sample."""

    key: str
    present: int  # sampled rows holding the key (with any value, JSON null included)
    share: float  # present / sampled rows
    types: dict[str, int]  # jsonb_typeof -> rows: "string", "number", "boolean", "null", "array", "object"
    top: list[KeyValue]  # the most common values, most common first

    @property
    def mixed(self) -> bool:
        return len(self.types) > 1

    def types_text(self) -> str:
        """`string`, or per type with its rows when mixed: `number 150, string 150`."""
        return ", ".join(f"{t} {n}" if self.mixed else t for t, n in self.types.items())


@dataclass
class KeyReport:
    pod: str
    schema: str
    collection: str
    sampled: int  # rows read
    method: str  # how they were chosen, in words ("tablesample system (2.5%)", "the first 1,000 rows")
    keys: list[KeyStat]  # most present first, then by key
    not_objects: int = 0  # sampled rows whose metadata is not a JSON object (or NULL): they have no keys
    rows_estimate: int | None = None  # the planner's estimate of the collection's rows

    def to_json(self) -> dict[str, Any]:
        from vecdash.model import to_jsonable

        return {"pod": self.pod, "schema": self.schema, "collection": self.collection, "sampled": self.sampled,
                "method": self.method, "not_objects": self.not_objects, "rows_estimate": self.rows_estimate,
                "keys": [to_jsonable(k) for k in self.keys]}
