"""The fast path: the `primary` and `federated` routes through the primary's `<view>_knn` and
`<collection>_knn_all` functions (one dblink statement per pod, only ids, distances and metadata back)
instead of postgres_fdw's cursor protocol, when `vecdash wire --fast-path` made them.

A route takes the function when the primary's catalog lists it (`PodStatus.knn_functions`) reaching the
route's pods (vecdash's mark on it says which; one made by hand is known by its name), and when the query
is one the function states with the same meaning; otherwise it runs through postgres_fdw and says why. The knobs are
the function's parameters: on this path they reach the pod.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from vecdash.db.placeholders import params_text
from vecdash.model import ITERATIVE, KnnFunction, PodStatus, Topology
from vecdash.service.filters import NotFast, fast_filter
from vecdash.service.query.routes import Target
from vecdash.service.query.spec import QuerySpec
from vecdash.service.query.statements import SERVER_MS

FAST_PATH = "fast path (dblink)"
FDW_PATH = "postgres_fdw view"


@dataclass(frozen=True)
class FastCall:
    """One call of a fast-path function: which, and the filter as its two parameters."""

    function: KnnFunction
    contains: dict | None
    path: str | None
    partial: bool = False  # a pod it reaches is down: skip it (NOTICE), as the postgres_fdw path leaves it out

    @property
    def all_pods(self) -> bool:
        return self.function.all_pods


def _reach(t: Target) -> tuple[str, str, str]:
    return t.server.name, t.collection.schema, t.collection.name


def _function_for(topology: Topology, spec: QuerySpec, targets: list[Target]) -> tuple[KnnFunction | None, bool, str | None]:
    """(the function for the route's targets, whether to pass `partial`, or why not when the only
    candidates reach other pods).

    A function with vecdash's mark is taken when it reaches exactly the route's pods and tables, or
    those and pods now down (the route leaves them out; `partial` skips them). One made by hand is known
    by name: `<view>_knn` next to a view reading the foreign table, `<collection>_knn_all` (or
    `<view>_knn_all`) in public."""
    primary = topology.primary
    all_pods = spec.route == "federated"
    fns = [f for f in primary.knn_functions if f.all_pods == all_pods]
    want = {_reach(t) for t in targets}
    down = {p.name for p in topology.pods if not p.up}
    for f in fns:
        reached = {r[:3] for r in f.reaches}
        extra = {r[4] for r in f.reaches if r[:3] not in want}
        if f.reaches and want <= reached and extra <= down:
            return f, bool(extra), None
    views = [v for t in targets for v in primary.views if f"{t.relation[0]}.{t.relation[1]}" in v.reads]
    if all_pods:
        names = {("public", f"{spec.collection}_knn_all")} | {("public", f"{v.name}_knn_all") for v in views}
    else:
        names = {(v.schema, f"{v.name}_knn") for v in views}
    by_name = next((f for f in fns if (f.schema, f.name) in names), None)
    if by_name is not None and by_name.reaches:  # vecdash's, for other pods or tables
        reached = ", ".join(sorted(r[4] for r in by_name.reaches))
        return None, False, f"{by_name.qualified} reaches {reached}; the route reaches {', '.join(sorted(t.holder for t in targets))}"
    return by_name, False, None


def fast_call(spec: QuerySpec, targets: list[Target], topology: Topology) -> tuple[FastCall | None, str | None]:
    """(the call, None) when the route can take the fast path; (None, why not) when a function exists
    but this query cannot use it; (None, None) when there is none (the route as before)."""
    primary = topology.primary
    if spec.route not in ("primary", "federated") or primary is None or not primary.knn_functions:
        return None, None
    local = [t.holder for t in targets if t.server is None]
    if local:
        fn, partial, reason = None, False, None
        if any(f.all_pods for f in primary.knn_functions):
            reason = f"{', '.join(local)} holds the collection on the primary itself, which no function reads"
    else:
        fn, partial, reason = _function_for(topology, spec, targets)
    if fn is None:
        return None, (f"{FAST_PATH} not taken: {reason}; ran through {FDW_PATH}" if reason else None)
    reason = _why_not(spec, targets, fn)
    if reason is None:
        try:
            contains, path = fast_filter(spec.filters)
        except NotFast as exc:
            reason = f"the filter cannot be stated as metadata @> / @@ ({exc})"
    if reason is not None:
        return None, f"{FAST_PATH} {fn.qualified} not taken: {reason}; ran through {FDW_PATH}"
    return FastCall(function=fn, contains=contains, path=path, partial=partial), None


def _why_not(spec: QuerySpec, targets: list[Target], fn: KnnFunction) -> str | None:
    if spec.exact:
        return "exact search is not a parameter of the function"
    if spec.include_vector:
        return "the function returns no vectors"
    if spec.explain:
        return "EXPLAIN of the function shows no pod plan"
    measures = {r[:3]: r[3] for r in fn.reaches}
    for t in targets:
        if t.collection.type != fn.query_type or fn.query_type not in ("vector", "halfvec"):
            return f"the function takes a {fn.query_type}; {t.holder} {t.collection.qualified} is {t.collection.type}"
        served = measures.get(_reach(t)) or t.collection.default_measure()[0]
        if spec.measure != served:
            return f"the function orders by {served}, the measure of {t.holder} {t.collection.qualified}'s index"
    return None


@functools.lru_cache(maxsize=64)
def fast_text(schema: str, function: str, all_pods: bool, query_type: str) -> str:
    """`select id, distance, metadata[, pod], server_ms from schema.f(...)`, ready for `fast_params`."""
    # query, k, filter, path, ef_search, iterative_scan, probes[, partial]
    args = sql.SQL("%s::{}, %s::int4, %s::jsonb, %s::jsonpath, %s::int4, %s::text, %s::int4").format(
        sql.Identifier(query_type))
    if all_pods:
        args = args + sql.SQL(", %s::bool")
    cols = [sql.SQL("id"), sql.SQL("distance"), sql.SQL("metadata")] + ([sql.SQL("pod")] if all_pods else [])
    stmt = sql.SQL("select {}, {} from {}({})").format(
        sql.SQL(", ").join(cols), SERVER_MS, sql.Identifier(schema, function), args)
    return params_text(stmt)


def fast_params(call: FastCall, spec: QuerySpec, query_vector: Any) -> list[Any]:
    mode = ITERATIVE[spec.iterative] if spec.iterative is not None else None
    params = [query_vector, spec.limit, Jsonb(call.contains) if call.contains is not None else None, call.path,
              spec.ef_search, mode, spec.probes]
    return params + ([call.partial] if call.all_pods else [])


def fast_detail(call: FastCall, targets: list[Target]) -> str:
    """The path in words: the function on the primary, the server it opens dblink through, the pod."""
    hops = "; ".join(f"server {t.server.name} -> {t.holder} {t.collection.qualified}" for t in targets if t.server)
    return f"{targets[0].run_on}: {call.function.qualified}() over dblink -> {hops}"


def pod_labels(targets: list[Target]) -> dict[str, str]:
    """A `_knn_all` row's `pod` (a server or pod name) -> the pod holding the row."""
    out = {t.server.name: t.holder for t in targets if t.server}
    out.update({t.holder: t.holder for t in targets})
    return out
