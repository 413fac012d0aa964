"""The statements a query runs, as text ready for parameters: one k-NN scan, the federated UNION ALL,
the SET LOCAL knobs, EXPLAIN, and the masked preview of what ran."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Callable

from psycopg import sql

from vecdash.db.placeholders import params_text, preview_text
from vecdash.db.vector_param import BinaryVector
from vecdash.lines import short_vectors
from vecdash.model import MEASURES
from vecdash.secrets import mask_text

SERVER_MS = sql.SQL("(1000 * extract(epoch from clock_timestamp() - statement_timestamp()))::float8 as server_ms")


def knn_statement(relation: tuple[str, str], column: str, vtype: str, measure: str, where: sql.Composable, *,
                  include_vector: bool = False, exact_in_sql: bool = False, pod_label: bool = False,
                  has_metadata: bool = True, timed: bool = True) -> sql.Composed:
    """`select id, distance, metadata[, vec][, pod] ... order by distance limit k`.

    Placeholders in order: query vector, [pod label], filter params..., [query vector], limit.
    `timed` adds a last column `server_ms`: the server's time from receiving the statement to producing
    that row (volatile, so evaluated after any sort and never shipped through FDW); the last row's
    value is the server execution time, at no extra statement or round trip.
    ORDER BY names the output column (`distance`): the same expression with the same parameter, so
    HNSW serves it and, in a UNION ALL branch, the foreign scan sits right under the Append (async).
    `exact_in_sql` orders by `(vec <=> q) + 0` instead (the vector is passed a second time), which no
    index serves but postgres_fdw still ships: an exact search on the pod even through a foreign
    table, where SET LOCAL cannot reach.
    """
    col = sql.Identifier(column)
    qv = sql.SQL("%s::{}").format(sql.Identifier(vtype))
    # `<%>` (jaccard) holds a percent sign: doubled, as every literal % in a statement with parameters
    dist = sql.SQL("{} {} {}").format(col, sql.SQL(MEASURES[measure].replace("%", "%%")), qv)
    cols = [sql.SQL("id"), sql.SQL("{} as distance").format(dist),
            sql.SQL("metadata") if has_metadata else sql.SQL("'{}'::jsonb as metadata")]
    if include_vector:
        cols.append(sql.SQL("{}::text as vec_text").format(col))
    if pod_label:
        cols.append(sql.SQL("%s::text as pod"))
    if timed:
        cols.append(SERVER_MS)
    order = sql.SQL("({}) + 0").format(dist) if exact_in_sql else sql.SQL("distance")
    return sql.SQL("select {cols} from {rel} where {where} order by {order} limit %s").format(
        cols=sql.SQL(", ").join(cols), rel=sql.Identifier(*relation), where=where, order=order)


@functools.lru_cache(maxsize=512)
def knn_text(relation: tuple[str, str], column: str, vtype: str, measure: str, where_text: str,
             include_vector: bool = False, exact_in_sql: bool = False, pod_label: bool = False,
             has_metadata: bool = True) -> str:
    """`knn_statement` rendered once per shape, ready for its parameters (`params_text`: a `%` in a name
    is doubled). Safe to cache and reuse: every part of the text comes from identifiers, whitelisted
    operators and the filter's template (`where_text`, itself from `params_text`; values are parameters)."""
    return params_text(knn_statement(relation, column, vtype, measure, sql.SQL(where_text), include_vector=include_vector,
                                     exact_in_sql=exact_in_sql, pod_label=pod_label, has_metadata=has_metadata,
                                     timed=not pod_label))


def knn_params(qtext: Any, fparams: list[Any], limit: int, pod: str | None = None, *, exact_in_sql: bool = False) -> list[Any]:
    return [qtext] + ([pod] if pod is not None else []) + list(fparams) + ([qtext] if exact_in_sql else []) + [limit]


def knob_statement(knobs: list[tuple[str, str]]) -> tuple[sql.Composable, list[str]]:
    parts = [sql.SQL("set_config(%s, %s, true)") for _ in knobs]
    return sql.SQL("select {}").format(sql.SQL(", ").join(parts)), [x for kv in knobs for x in kv]


EXPLAIN = sql.SQL("explain (analyze, verbose, buffers) ")
# The primary's sessions for the postgres_fdw routes. postgres_fdw's ORDER BY/LIMIT pushdown is a cost
# decision, and with a selective filter the estimate is so small that a local sort of "all" matching
# rows looks cheaper; enable_sort=off makes the pushed-down sort win whenever the server can ship it.
# Set when such a session opens (pooled apart from the others), not per statement: no SET LOCAL
# pipeline on every query.
FDW_SESSION = (("enable_sort", "off"),)


@dataclass(frozen=True)
class Branch:
    """One pod's part of a federated statement: the relation the primary reads it through."""

    relation: tuple[str, str]
    column: str
    vtype: str
    has_metadata: bool
    label: str
    remote: bool = True


def federated_statement(branches: list[Branch], measure: str, where_text: str, fparams: list[Any],
                        vector_for: Callable[[str], Any], limit: int, *, include_vector: bool = False,
                        exact: bool = False) -> tuple[str, list[Any]]:
    """`(branch order by distance limit k) union all ... order by distance limit k`, with its params.
    `vector_for(column_type)` gives the query vector parameter for a branch (QueryVector.for_type)."""
    params = []
    for b in branches:
        params += knn_params(vector_for(b.vtype), fparams, limit, pod=b.label, exact_in_sql=exact and b.remote)
    return _federated_text(tuple(branches), measure, where_text, include_vector, exact), params + [limit]


@functools.lru_cache(maxsize=256)
def _federated_text(branches: tuple[Branch, ...], measure: str, where_text: str, include_vector: bool,
                    exact: bool) -> str:
    parts = [sql.SQL("({})").format(sql.SQL(knn_text(b.relation, b.column, b.vtype, measure, where_text, include_vector,
                                                      exact and b.remote, True, b.has_metadata)))
             for b in branches]
    # OFFSET 0 fences the UNION ALL: the primary sorts the k-per-branch rows itself, so the branches
    # sit under an Append (async when the servers allow it), not a Merge Append that starts them in turn.
    return params_text(sql.SQL("select *, {} from ({} offset 0) u order by distance limit %s").format(
        SERVER_MS, sql.SQL(" union all ").join(parts)))


@functools.lru_cache(maxsize=256)
def _preview_sql(stmt: str) -> str:
    return preview_text(stmt)


def render_preview(stmt: str | sql.Composable, params: list[Any], knobs: list[tuple[str, str]], where: str,
                   session: tuple[tuple[str, str], ...] = ()) -> str:
    """The statement as it ran, for people: where, the session settings and knobs, the SQL and its
    parameters (long ones cut, secrets masked)."""
    lines = [f"-- {where}"]
    for k, v in session:
        lines.append(f"SET {k} = {v};  -- the session was opened with -c {k}={v}")
    for k, v in knobs:
        lines.append(f"SET LOCAL {k} = {v};  -- as set_config(%s, %s, true)")
    lines.append(_preview_sql(stmt if isinstance(stmt, str) else params_text(stmt)) + ";")
    shown = []
    for p in params:
        if isinstance(p, BinaryVector):
            shown.append(short_vectors(f"'{p}'"))  # as the plan shows it
            continue
        text = p if isinstance(p, str) else json.dumps(getattr(p, "obj", p), default=str)
        if len(text) > 60:
            text = text[:40] + f"... ({len(text)} chars)"
        shown.append(text)
    # the SQL is ours (identifiers, placeholders); only the parameters come from the user
    lines.append(mask_text("-- params: " + " | ".join(shown)))
    return "\n".join(lines)
