"""The fast path: the `primary` and `federated` routes through the primary's `public.<view>_knn` and
`public.<view>_knn_all` functions (one dblink statement per pod, only ids, distances and metadata back)
instead of postgres_fdw's cursor protocol, when `vecdash wire --fast-path` made them.

A route takes the function when the primary's catalog lists it (name and argument types,
`PodStatus.knn_functions`) for a view reading the route's foreign table, and when the query is one the
function states with the same meaning; otherwise it runs through postgres_fdw and says why. The knobs are
the function's parameters: on this path they reach the pod.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from vecdash.db.placeholders import params_text
from vecdash.model import ITERATIVE, PodStatus, Topology
from vecdash.service.filters import NotFast, fast_filter
from vecdash.service.query.routes import Target
from vecdash.service.query.spec import QuerySpec
from vecdash.service.query.statements import SERVER_MS

FAST_PATH = "fast path (dblink)"
FDW_PATH = "postgres_fdw view"


@dataclass(frozen=True)
class FastCall:
    """One call of a fast-path function: which, and the filter as its two parameters."""

    function: str  # in schema public
    all_pods: bool  # `<view>_knn_all`: the pod of each row comes back as a column
    contains: dict | None
    path: str | None
    partial: bool = False  # a holder is down: skip it (NOTICE), as the view path leaves it out


def _function_for(primary: PodStatus, t: Target, suffix: str) -> str | None:
    if t.server is None:
        return None
    reads = f"{t.relation[0]}.{t.relation[1]}"
    names = [f"{v.name}{suffix}" for v in primary.views if reads in v.reads]
    return next((n for n in names if n in primary.knn_functions), None)


def fast_call(spec: QuerySpec, targets: list[Target], topology: Topology) -> tuple[FastCall | None, str | None]:
    """(the call, None) when the route can take the fast path; (None, why not) when its function exists
    but this query cannot use it; (None, None) when there is no function (the route as before)."""
    primary = topology.primary
    if spec.route not in ("primary", "federated") or primary is None or not primary.knn_functions:
        return None, None
    suffix = "_knn" if spec.route == "primary" else "_knn_all"
    found = [_function_for(primary, t, suffix) for t in targets]
    name = next((n for n in found if n), None)
    if name is None:
        return None, None
    local = [t.holder for t in targets if t.server is None]
    reason = _why_not(spec, targets, local)
    if reason is None:
        try:
            contains, path = fast_filter(spec.filters)
        except NotFast as exc:
            reason = f"the filter cannot be stated as metadata @> / @@ ({exc})"
    if reason is not None:
        return None, f"{FAST_PATH} public.{name} not taken: {reason}; ran through {FDW_PATH}"
    down = any(not p.up and p.name != primary.name for p in topology.pods)
    return FastCall(function=name, all_pods=suffix == "_knn_all", contains=contains, path=path,
                    partial=down and suffix == "_knn_all"), None


def _why_not(spec: QuerySpec, targets: list[Target], local: list[str]) -> str | None:
    if local:
        return f"{', '.join(local)} holds the collection on the primary itself, which the function does not read"
    if spec.exact:
        return "exact search is not a parameter of the function"
    if spec.include_vector:
        return "the function returns no vectors"
    if spec.explain:
        return "EXPLAIN of the function shows no pod plan"
    for t in targets:
        if t.collection.type != "vector":
            return f"the function takes a vector; {t.holder} {t.collection.qualified} is {t.collection.type}"
        served = t.collection.default_measure()[0]
        if spec.measure != served:
            return f"the function orders by {served}, the measure of {t.holder} {t.collection.qualified}'s index"
    return None


@functools.lru_cache(maxsize=64)
def fast_text(function: str, all_pods: bool) -> str:
    """`select id, distance, metadata[, pod], server_ms from public.f(...)`, ready for `fast_params`."""
    # query, k, filter, path, ef_search, iterative_scan, probes[, partial]
    args = sql.SQL("%s::vector, %s::int4, %s::jsonb, %s::jsonpath, %s::int4, %s::text, %s::int4")
    if all_pods:
        args = args + sql.SQL(", %s::bool")
    cols = [sql.SQL("id"), sql.SQL("distance"), sql.SQL("metadata")] + ([sql.SQL("pod")] if all_pods else [])
    stmt = sql.SQL("select {}, {} from {}({})").format(
        sql.SQL(", ").join(cols), SERVER_MS, sql.Identifier("public", function), args)
    return params_text(stmt)


def fast_params(call: FastCall, spec: QuerySpec, query_vector: Any) -> list[Any]:
    mode = ITERATIVE[spec.iterative] if spec.iterative is not None else None
    params = [query_vector, spec.limit, Jsonb(call.contains) if call.contains is not None else None, call.path,
              spec.ef_search, mode, spec.probes]
    return params + ([call.partial] if call.all_pods else [])


def fast_detail(call: FastCall, targets: list[Target]) -> str:
    """The path in words: the function on the primary, the server it opens dblink through, the pod."""
    hops = "; ".join(f"server {t.server.name} -> {t.holder} {t.collection.qualified}" for t in targets if t.server)
    return f"{targets[0].run_on}: public.{call.function}() over dblink -> {hops}"


def pod_labels(targets: list[Target]) -> dict[str, str]:
    """A `_knn_all` row's `pod` (a server or pod name) -> the pod holding the row."""
    out = {t.server.name: t.holder for t in targets if t.server}
    out.update({t.holder: t.holder for t in targets})
    return out
