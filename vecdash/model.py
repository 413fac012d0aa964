"""Plain data the whole app passes around. No I/O, no Textual: services build these, UIs render them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from vecdash.secrets import MASK, mask_text

if TYPE_CHECKING:
    from vecdash.model_activity import Alert, PodActivity

# pgvector operator classes -> the distance measure an index on them serves.
OPCLASS_MEASURE = {
    "vector_cosine_ops": "cosine",
    "vector_l2_ops": "l2",
    "vector_ip_ops": "ip",
    "vector_l1_ops": "l1",
    "halfvec_cosine_ops": "cosine",
    "halfvec_l2_ops": "l2",
    "halfvec_ip_ops": "ip",
    "halfvec_l1_ops": "l1",
    "sparsevec_cosine_ops": "cosine",
    "sparsevec_l2_ops": "l2",
    "sparsevec_ip_ops": "ip",
    "sparsevec_l1_ops": "l1",
    "bit_hamming_ops": "hamming",
    "bit_jaccard_ops": "jaccard",
}
VECTOR_TYPES = ("vector", "halfvec", "sparsevec", "bit")
# pgvector's limits on a column's dimensions (VECTOR_MAX_DIM, HALFVEC_MAX_DIM, bit: 64,000)
MAX_DIMENSION = {"vector": 16_000, "halfvec": 16_000, "bit": 64_000}
# distance measures -> pgvector's operator, and the column types each applies to
MEASURES = {"cosine": "<=>", "l2": "<->", "ip": "<#>", "l1": "<+>", "hamming": "<~>", "jaccard": "<%>"}
# pgvector's distance operators: a statement using one is a vector query
VECTOR_OPERATORS: tuple[str, ...] = tuple(MEASURES.values())
MEASURE_TYPES = {
    "cosine": ("vector", "halfvec", "sparsevec"),
    "l2": ("vector", "halfvec", "sparsevec"),
    "ip": ("vector", "halfvec", "sparsevec"),
    "l1": ("vector", "halfvec", "sparsevec"),
    "hamming": ("bit",),
    "jaccard": ("bit",),
}
# iterative index scans: each accepted spelling -> the value of hnsw.iterative_scan (ivfflat has no strict)
ITERATIVE = {"off": "off", "strict": "strict_order", "strict_order": "strict_order",
             "relaxed": "relaxed_order", "relaxed_order": "relaxed_order"}


@dataclass
class Index:
    name: str
    method: str  # hnsw | ivfflat | other access method name
    column: str
    opclass: str | None
    measure: str | None  # cosine | l2 | ip | l1 | hamming | jaccard | None
    params: dict[str, Any] = field(default_factory=dict)
    bytes: int = 0
    valid: bool = True


@dataclass
class Collection:
    pod: str
    schema: str
    name: str
    column: str
    type: str  # vector | halfvec | sparsevec | bit
    dimension: int | None
    kind: str = "table"  # table | matview | foreign | partitioned
    rows_estimate: int | None = None
    table_bytes: int = 0
    index_bytes: int = 0
    has_metadata: bool = False
    last_analyze: datetime | None = None
    last_vacuum: datetime | None = None
    indexes: list[Index] = field(default_factory=list)
    other_vector_columns: list[str] = field(default_factory=list)

    @property
    def rows_known(self) -> int | None:
        """The row estimate when it says something (ANALYZE has counted rows), else None."""
        return self.rows_estimate if self.rows_estimate is not None and self.rows_estimate > 0 else None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.pod, self.schema, self.name)

    @property
    def total_bytes(self) -> int:
        return self.table_bytes + self.index_bytes

    def measures_indexed(self) -> set[str]:
        return {i.measure for i in self.indexes if i.measure and i.valid and i.method in ("hnsw", "ivfflat")}

    def default_measure(self) -> tuple[str, str]:
        """(measure, why) for a query or index that names none: the measure of the first valid vector
        index (catalog order, by name), so the query uses it; else the column type's first measure
        (cosine, vecs' default; hamming for bit)."""
        for i in self.indexes:
            if i.valid and i.method in ("hnsw", "ivfflat") and self.type in MEASURE_TYPES.get(i.measure or "", ()):
                return i.measure, f"served by {i.method} index {i.name}"
        fallback = next((m for m, types in MEASURE_TYPES.items() if self.type in types), "cosine")
        return fallback, f"no valid vector index; the default for {self.type}"


@dataclass
class Column:
    """A column as a catalog query describes it: of a foreign table on the primary, or a table on a pod."""

    name: str
    type: str  # format_type() text
    typname: str
    typmod: int = -1  # a vector's dimension when > 0
    notnull: bool = False
    typschema: str | None = None  # a pod's table: the type's schema
    from_vector: bool = False  # a pod's table: the type belongs to pgvector
    options: dict[str, str] = field(default_factory=dict)  # a foreign table's column options

    @property
    def remote_name(self) -> str:
        """The pod's column a foreign table's column reads."""
        return self.options.get("column_name", self.name)


@dataclass
class ForeignServer:
    name: str
    fdw: str
    options: dict[str, str] = field(default_factory=dict)  # secrets already masked
    mapping_user: str | None = None  # the `user` of the mapping postgres_fdw uses (None: unknown or none)
    comment: str | None = None

    @property
    def extensions(self) -> list[str]:
        return [e.strip() for e in self.options.get("extensions", "").split(",") if e.strip()]

    @property
    def pushdown_vector(self) -> bool:
        return "vector" in self.extensions


@dataclass
class UserMapping:
    server: str
    user: str  # local role name, or PUBLIC. Never any option (passwords live there).
    public: bool = False  # the mapping FOR PUBLIC


@dataclass
class ForeignTable:
    schema: str
    name: str
    server: str
    remote_schema: str
    remote_table: str
    vector_column: str | None = None
    vector_type: str | None = None
    dimension: int | None = None
    options: dict[str, str] = field(default_factory=dict)
    columns: list[Column] = field(default_factory=list)  # read by the wiring service only
    analyzed: bool | None = None  # whether ANALYZE ever ran (None: not read)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def remote(self) -> tuple[str, str]:
        """The (schema, table) it reads on the pod."""
        return self.remote_schema, self.remote_table

    def main_vector(self) -> Column | None:
        """The column named like vecs' `vec`, else the first vector column (of `columns`)."""
        vcols = [c for c in self.columns if c.typname in VECTOR_TYPES]
        return next((c for c in vcols if c.name == "vec"), vcols[0] if vcols else None)


@dataclass
class View:
    schema: str
    name: str
    reads: list[str] = field(default_factory=list)  # qualified names of relations it reads
    materialized: bool = False
    relations: list[tuple[str, str]] = field(default_factory=list)  # (schema, name) it reads; wiring only
    columns: list[str] = field(default_factory=list)  # wiring only

    def reads_relation(self, schema: str, name: str) -> bool:
        """Whether it reads schema.name (by parts: a dot inside a name cannot fake a match)."""
        return (schema, name) in self.relations

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class KnnFunction:
    """A fast-path function on the primary, as the query routes need it: what it reaches (from vecdash's
    mark on it, `service.wiring.fast_path`; empty for one made by hand, known only by name and arguments)."""

    schema: str
    name: str
    all_pods: bool  # `_knn_all`: several pods, a `pod` column, `partial`
    query_type: str  # vector | halfvec: the type of its query argument
    reaches: list[tuple[str, str, str, str, str]] = field(default_factory=list)  # (server, schema, table, measure, pod)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class PodStatus:
    """One pod as read by a refresh: health plus everything the catalog holds."""

    name: str
    role: str
    up: bool = False
    error: str | None = None
    server_version: str | None = None
    pgvector_version: str | None = None
    fdw_version: str | None = None
    latency_ms: float | None = None
    database: str | None = None
    database_bytes: int | None = None
    shared_buffers_bytes: int | None = None
    current_user: str | None = None
    read_only: bool | None = None
    collections: list[Collection] = field(default_factory=list)
    foreign_servers: list[ForeignServer] = field(default_factory=list)
    user_mappings: list[UserMapping] = field(default_factory=list)
    foreign_tables: list[ForeignTable] = field(default_factory=list)
    views: list[View] = field(default_factory=list)
    # functions with the fast path's signature (`<view>_knn`, `<collection>_knn_all`): the query routes take them
    knn_functions: list[KnnFunction] = field(default_factory=list)
    activity: PodActivity | None = None  # what the pod is doing, when the refresh read it (model_activity)

    @property
    def is_primary(self) -> bool:
        return self.role == "primary"

    def collection(self, schema: str, name: str) -> Collection | None:
        return next((c for c in self.collections if c.schema == schema and c.name == name), None)


@dataclass
class Topology:
    pods: list[PodStatus]
    taken_at: datetime
    elapsed_ms: float = 0.0
    alerts: list[Alert] = field(default_factory=list)  # the estate's alert line, when activity was read

    @property
    def all_up(self) -> bool:
        return all(p.up for p in self.pods)

    @property
    def primary(self) -> PodStatus | None:
        return next((p for p in self.pods if p.is_primary), None)

    def pod(self, name: str) -> PodStatus | None:
        return next((p for p in self.pods if p.name == name), None)

    def collections(self) -> list[Collection]:
        return [c for p in self.pods for c in p.collections]


@dataclass
class PlanStep:
    """One DDL statement with a one-line purpose.

    `sql` is the exact statement that runs; `preview` is the same with secrets masked, and is the only
    form that may be shown, logged or serialised. `satisfied` steps already hold and are skipped.
    """

    purpose: str
    sql: Any  # psycopg.sql.Composable or str; never rendered for display
    preview: str
    satisfied: bool = False
    kind: str = "ddl"  # ddl | analyze | index | maintenance | check (a read: a non-null first value fails the plan)

    def to_json(self) -> dict[str, Any]:
        return {"purpose": self.purpose, "sql": self.preview, "satisfied": self.satisfied, "kind": self.kind}


@dataclass
class SecretStep(PlanStep):
    """A step whose SQL holds a secret (a user-mapping password). It runs as `template` (from
    db.secret_statement: the secret's place is %L) with the secret as a bind parameter, so the
    password is never statement text on the server; `secrets` also masks error text."""

    secrets: list[str] = field(default_factory=list, repr=False)
    template: str = field(default="", repr=False)

    def __repr__(self) -> str:  # never show the SQL (it holds the password)
        return f"SecretStep(purpose={self.purpose!r}, preview={self.preview!r}, satisfied={self.satisfied})"


@dataclass
class Plan:
    """An ordered list of steps for one pod, applied in one transaction (all or nothing)."""

    title: str
    pod: str
    steps: list[PlanStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    transactional: bool = True  # False only for statements Postgres forbids in a transaction (CONCURRENTLY)

    @property
    def pending(self) -> list[PlanStep]:
        return [s for s in self.steps if not s.satisfied]

    @property
    def is_noop(self) -> bool:
        return not self.pending

    def preview_sql(self, include_satisfied: bool = True) -> str:
        lines = [f"-- {self.title} (on pod {self.pod})"]
        for s in self.steps:
            if s.satisfied and not include_satisfied:
                continue
            tag = "-- [skip: already done] " if s.satisfied else "-- "
            lines.append(f"{tag}{s.purpose}")
            body = s.preview.rstrip().rstrip(";") + ";"
            lines.append("\n".join(("-- " + l) for l in body.splitlines()) if s.satisfied else body)
        for n in self.notes:
            lines.append(f"-- note: {n}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "pod": self.pod,
            "transactional": self.transactional,
            "steps": [s.to_json() for s in self.steps],
            "notes": [mask_text(n) for n in self.notes],
        }


def is_vector_query(text: str | None) -> bool:
    """Whether SQL text uses a pgvector distance operator (`<->`, `<=>`, `<#>`, `<+>`, `<~>`, `<%>`)."""
    return bool(text) and any(op in text for op in VECTOR_OPERATORS)


def to_jsonable(obj: Any) -> Any:
    """dataclasses / datetimes -> JSON-ready values (datetimes as ISO 8601)."""
    if hasattr(obj, "to_json"):
        return obj.to_json()
    if hasattr(obj, "__dataclass_fields__"):
        return {k: to_jsonable(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, datetime):
        return obj.isoformat()
    return obj


__all__ = [
    "ITERATIVE",
    "MASK",
    "MEASURES",
    "MEASURE_TYPES",
    "OPCLASS_MEASURE",
    "VECTOR_OPERATORS",
    "VECTOR_TYPES",
    "Collection",
    "Column",
    "ForeignServer",
    "ForeignTable",
    "Index",
    "Plan",
    "PlanStep",
    "PodStatus",
    "SecretStep",
    "Topology",
    "UserMapping",
    "View",
    "is_vector_query",
    "to_jsonable",
]
