"""What a query asks for and what it answers: the spec, its checks, its index settings, the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from vecdash.errors import UserError
from vecdash.inputs import check_integer
from vecdash.model import ITERATIVE, MEASURES
from vecdash.secrets import mask_text

ROUTES = ("direct", "primary", "fanout", "federated")
MAX_LIMIT = 10_000
DEFAULT_EF_SEARCH = 40


class QueryError(UserError):
    """A query that cannot run as asked (unknown collection, bad vector, dimension mismatch...)."""


@dataclass
class QuerySpec:
    pod: str
    collection: str
    schema: str = "vecs"
    vector: list[float] | None = None
    like_id: str | None = None
    random: bool = False
    limit: int = 10
    filters: dict | None = None
    measure: str | None = None  # None: the measure the collection's vector index serves (run_query says so)
    route: str = "direct"
    ef_search: int | None = None
    iterative: str | None = None
    probes: int | None = None
    exact: bool = False
    recall: bool = False
    explain: bool = False
    include_vector: bool = False


@dataclass
class ResultRow:
    id: str
    distance: float
    metadata: dict
    pod: str | None = None
    vector: list[float] | None = None


@dataclass
class QueryResult:
    spec: QuerySpec
    rows: list[ResultRow]
    route: str
    client_ms: float
    server_ms: float | None
    limit: int
    underfilled: bool
    warnings: list[str]
    plan: str | None
    recall: float | None
    # the SQL as it ran, masked: built on first read (a query in a loop never pays for the text)
    preview: str | Callable[[], str]
    per_pod_ms: dict[str, float]
    # additive: where the query vector came from, and the path the route took
    source: str = ""
    route_detail: str = ""
    knobs: dict[str, str] = field(default_factory=dict)
    matching_rows: int | None = None  # rows matching the filter, counted up to `limit`, when under-filled
    measure_note: str | None = None  # set when the spec named no measure: which one was taken, and why
    # the query vector that ran (a random or `like` one read from the pod): read on first use
    vector_used: list[float] | Callable[[], list[float]] | None = None
    # how the primary reached the pods: the fast path's function or postgres_fdw (empty on direct / fanout)
    path: str = ""

    @property
    def sql_preview(self) -> str:
        if callable(self.preview):
            self.preview = self.preview()
        return self.preview

    @property
    def query_vector(self) -> list[float] | None:
        """The vector this query searched with: the same query again searches with exactly it."""
        if callable(self.vector_used):
            self.vector_used = self.vector_used()
        return self.vector_used

    def to_json(self) -> dict[str, Any]:
        from vecdash.model import to_jsonable

        return {
            "spec": to_jsonable(self.spec), "route": self.route, "route_detail": self.route_detail,
            "path": self.path,
            "source": self.source, "limit": self.limit, "returned": len(self.rows),
            "underfilled": self.underfilled, "matching_rows": self.matching_rows,
            "client_ms": round(self.client_ms, 3),
            "server_ms": None if self.server_ms is None else round(self.server_ms, 3),
            "per_pod_ms": {k: round(v, 3) for k, v in self.per_pod_ms.items()},
            "recall": self.recall, "measure_note": self.measure_note, "knobs": self.knobs, "warnings": [mask_text(w) for w in self.warnings],
            "sql": mask_text(self.sql_preview), "plan": self.plan,
            "rows": [to_jsonable(r) for r in self.rows],
        }



# --- validation -----------------------------------------------------------------------------------


def check_spec(spec: QuerySpec) -> None:
    sources = sum([spec.vector is not None, spec.like_id is not None, bool(spec.random)])
    if sources != 1:
        raise QueryError("give exactly one query vector source: a vector (JSON array), like ID, or random")
    check_integer("limit", spec.limit, 1, MAX_LIMIT, QueryError)
    if spec.measure is not None and spec.measure not in MEASURES:
        raise QueryError(f"unknown measure {spec.measure!r} (expected one of {', '.join(MEASURES)})")
    if spec.route not in ROUTES:
        raise QueryError(f"unknown route {spec.route!r} (expected one of {', '.join(ROUTES)})")
    if spec.ef_search is not None:
        check_integer("ef_search", spec.ef_search, 1, 1000, QueryError)
    if spec.probes is not None:
        check_integer("probes", spec.probes, 1, 32768, QueryError)
    if spec.iterative is not None and spec.iterative not in ITERATIVE:
        raise QueryError(f"iterative must be off, relaxed_order or strict_order, got {spec.iterative!r}")
    if spec.exact and (spec.ef_search or spec.probes or (spec.iterative and ITERATIVE[spec.iterative] != "off")):
        raise QueryError("exact search uses no index: clear ef_search, probes and iterative, or turn exact off")
    if not spec.collection:
        raise QueryError("collection name is empty")


def knob_settings(spec: QuerySpec) -> list[tuple[str, str]]:
    """(GUC, value) pairs for set_config(..., true) == SET LOCAL in the query's transaction."""
    out: list[tuple[str, str]] = []
    if spec.ef_search is not None:
        out.append(("hnsw.ef_search", str(spec.ef_search)))
    if spec.probes is not None:
        out.append(("ivfflat.probes", str(spec.probes)))
    if spec.iterative is not None:
        mode = ITERATIVE[spec.iterative]
        out.append(("hnsw.iterative_scan", mode))
        if mode != "strict_order":  # ivfflat has off / relaxed_order only
            out.append(("ivfflat.iterative_scan", mode))
    if spec.exact:
        out.append(("enable_indexscan", "off"))
    return out

