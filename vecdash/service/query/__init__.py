"""Nearest-neighbour queries on a collection: measures, vecs filters, knobs, routes, recall, plans.

Routes:
- `direct`    the pod that holds the collection runs the scan;
- `primary`   the primary runs it through its foreign table for the collection (postgres_fdw ships
              WHERE / ORDER BY / LIMIT to the pod when the server has `extensions 'vector'`);
- `fanout`    every pod holding a same-named collection, concurrently; top-k merged here;
- `federated` one UNION ALL statement on the primary, one branch per wired pod, each branch with
              its own ORDER BY / LIMIT so each is pushed to its pod; the branches run concurrently
              when the servers are `async_capable`.

Each pod call is one network round trip: the query alone, or, with knobs or EXPLAIN, a psycopg
pipeline of `set_config(name, value, true)` (== SET LOCAL, with parameters), the query and EXPLAIN
in one implicit transaction. The server execution time comes back in the query's own last column.
Knobs set on the primary do not reach the pod's session through postgres_fdw: the primary route
says so and offers the server-level `options '-c ...'` or a per-role setting on the pod instead. On the
fast path (`wire --fast-path`: `primary` and `federated` call the primary's dblink functions) they are
the function's parameters and reach the pod.

The package, by job (each module imports only those above it):
- `spec`        QuerySpec and its checks, the knobs it asks for, ResultRow / QueryResult, QueryError;
- `vectors`     the query vector as a statement parameter; pgvector's text format read back;
- `statements`  the k-NN and federated statements, the knob and EXPLAIN statements, the preview;
- `routes`      which relation each pod scans for a route (Target), and the route in words;
- `advice`      warnings that say what to change (index, FDW knobs, pushdown) and the DDL for knobs;
- `fast`        whether a route takes the fast path's function, its statement and parameters;
- `run`         run_query: the statements on the pods, results merged, under-fill and recall checks.
"""

from __future__ import annotations

# the query words (model) and vector parsing (inputs) have their homes there; named here for callers
from vecdash.inputs import check_vector, parse_vector_text
from vecdash.model import ITERATIVE, MEASURE_TYPES, MEASURES
from vecdash.service.query.advice import plan_remote_settings
from vecdash.service.query.routes import Target
from vecdash.service.query.run import PodRun, run_query, run_statement
from vecdash.service.query.spec import (DEFAULT_EF_SEARCH, MAX_LIMIT, ROUTES, QueryError, QueryResult, QuerySpec,
                                        ResultRow, check_spec, knob_settings)
from vecdash.service.query.statements import (EXPLAIN, FDW_SESSION, SERVER_MS, Branch, federated_statement,
                                              knn_params, knn_statement, knn_text)
from vecdash.service.query.vectors import QueryVector, parse_vector_value, vector_param, vector_text

__all__ = [
    "DEFAULT_EF_SEARCH", "EXPLAIN", "FDW_SESSION", "ITERATIVE", "MAX_LIMIT", "MEASURES", "MEASURE_TYPES", "ROUTES",
    "SERVER_MS", "Branch", "PodRun", "QueryError", "QueryResult", "QuerySpec", "QueryVector", "ResultRow", "Target",
    "check_spec", "check_vector", "federated_statement", "knn_params", "knn_statement", "knn_text", "knob_settings",
    "parse_vector_text", "parse_vector_value", "plan_remote_settings", "run_query", "run_statement", "vector_param",
    "vector_text",
]
