"""The fast path (`wire --fast-path`): k-NN through the primary over dblink instead of postgres_fdw.

`public.<view>_knn(query, k, filter, path, ef_search, iterative_scan, probes)` runs one statement on the
pod over a dblink connection opened through the wiring's foreign server (credentials from its user
mapping) and returns only id, distance and metadata; `<collection>_knn_all(..., partial)` does the same
on every pod the collection is wired from, concurrently, and merges the top k. The PL/pgSQL is in
fast_body. What a function reaches is written in its comment as JSON (`MARK` + JSON), so verify, the
doctor and unwire read it back from the catalog without parsing code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from psycopg import sql

from vecdash.model import MEASURES, PlanStep
from vecdash.service.plans import step
from vecdash.service.query.spec import MAX_LIMIT
from vecdash.service.wiring.fast_body import BODY, DIM_CHECK, GRANT, RESULT_ALL, RESULT_ONE
from vecdash.service.wiring.names import WiringError

MARK = "vecdash fast path "  # a fast-path function's comment: MARK + JSON
VERSION = 2  # of the function body: a function of another version is replaced on the next wire
WAIT_MARGIN_MS = 1000  # the wait for a pod's answer: its statement timeout plus this
CONN_PREFIX = "vecdash:"  # dblink connection names: CONN_PREFIX + server
ARG_TYPES = ("integer", "jsonb", "jsonpath", "integer", "text", "integer")  # after the query vector
DIM_TYPES = ("vector", "halfvec")  # vector_dims() takes these; other types are checked by the pod


@dataclass(frozen=True)
class Member:
    """One pod's collection as a fast-path function reaches it (all fixed at plan time)."""

    pod: str
    server: str
    schema: str
    table: str
    id_column: str
    vector_column: str
    vector_schema: str  # pgvector's schema on the pod
    vector_type: str  # vector | halfvec | sparsevec | bit
    dimension: int
    measure: str
    metadata: str | None

    @property
    def remote(self) -> tuple[str, str]:
        return (self.schema, self.table)


@dataclass
class FastPath:
    """A fast-path function on the primary, as its comment describes it."""

    schema: str
    name: str
    kind: str  # knn | knn_all
    views: list[tuple[str, str]]  # the view(s) whose SELECT its EXECUTE follows
    members: list[Member]
    timeout_ms: int
    version: int = VERSION
    local_vector_schema: str = "public"
    dblink_schema: str = "public"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def comment(self) -> str:
        doc = {"version": self.version, "kind": self.kind, "views": [list(v) for v in self.views],
               "timeout_ms": self.timeout_ms, "local_vector_schema": self.local_vector_schema,
               "dblink_schema": self.dblink_schema, "members": [asdict(m) for m in self.members]}
        return MARK + json.dumps(doc, sort_keys=True, ensure_ascii=False)

    def signature(self) -> sql.Composable:
        vtype = self.members[0].vector_type
        types = [sql.Identifier(self.local_vector_schema, vtype)] + [sql.SQL(t) for t in ARG_TYPES]  # type names of this module
        if self.kind == "knn_all":
            types.append(sql.SQL("boolean"))
        return sql.SQL("{}({})").format(sql.Identifier(self.schema, self.name), sql.SQL(", ").join(types))

    def signature_text(self) -> str:
        """The signature as regprocedure reads it (for the grant, run where the types exist)."""
        return self.signature().as_string()


def parse(schema: str, name: str, comment: str | None) -> FastPath | None:
    """A fast-path function from its catalog comment; None when it is not one vecdash made."""
    if not comment or not comment.startswith(MARK):
        return None
    try:
        doc = json.loads(comment[len(MARK):])
        return FastPath(schema=schema, name=name, kind=doc["kind"], views=[tuple(v) for v in doc["views"]],
                        members=[Member(**m) for m in doc["members"]], timeout_ms=int(doc["timeout_ms"]),
                        version=int(doc.get("version", 0)), local_vector_schema=doc["local_vector_schema"],
                        dblink_schema=doc["dblink_schema"])
    except (ValueError, KeyError, TypeError):
        return None


def function_name(base: str, suffix: str) -> str:
    """`<base>_knn` / `<base>_knn_all`, refused when PostgreSQL would cut it (63 bytes)."""
    name = f"{base}{suffix}"
    if len(name.encode()) > 63:
        raise WiringError(f"function name {name!r} is longer than PostgreSQL's 63 bytes: choose a shorter view name")
    return name


def create_steps(fp: FastPath) -> list[PlanStep]:
    """create or replace the function, its comment, EXECUTE like the views' SELECT (not PUBLIC's by default)."""
    if fp.members[0].measure not in MEASURES:
        raise WiringError(f"unknown measure {fp.members[0].measure!r}")
    members = sql.SQL(", ").join(
        sql.SQL("({})").format(sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Literal(v)) for v in (
                m.pod, m.server, CONN_PREFIX + m.server, m.schema, m.table, m.id_column, m.vector_column,
                m.vector_schema, m.vector_type, MEASURES[m.measure], m.metadata)))
        for m in fp.members)
    vs = sql.Identifier(fp.local_vector_schema)
    m0 = fp.members[0]
    dim_check = (sql.SQL(DIM_CHECK).format(vs=vs, dim=sql.Literal(m0.dimension)) if m0.vector_type in DIM_TYPES
                 else sql.SQL(""))
    knn_all = fp.kind == "knn_all"
    body = sql.SQL(BODY).format(
        dbl=sql.Identifier(fp.dblink_schema), members=members, n=sql.Literal(len(fp.members)),
        k_max=sql.Literal(MAX_LIMIT), timeout_ms=sql.Literal(fp.timeout_ms),
        wait_ms=sql.Literal(fp.timeout_ms + WAIT_MARGIN_MS), dim_check=dim_check,
        partial=sql.SQL("$8" if knn_all else "false"), result=sql.SQL(RESULT_ALL if knn_all else RESULT_ONE))
    params = [sql.SQL("query {}").format(sql.Identifier(fp.local_vector_schema, m0.vector_type)),
              sql.SQL("k integer default 10"), sql.SQL("filter jsonb default null"), sql.SQL("path jsonpath default null"),
              sql.SQL("ef_search integer default null"), sql.SQL("iterative_scan text default null"),
              sql.SQL("probes integer default null")]
    returns = "pod text, id text, distance double precision, metadata jsonb" if knn_all else \
        "id text, distance double precision, metadata jsonb"
    if knn_all:
        params.append(sql.SQL("partial boolean default false"))
    create = sql.SQL("create or replace function {}({}) returns table ({}) language plpgsql volatile security invoker "
                     "as {}").format(sql.Identifier(fp.schema, fp.name), sql.SQL(", ").join(params), sql.SQL(returns),
                                     sql.Literal(body.as_string()))
    sig = fp.signature()
    views = sql.SQL("array[{}]").format(sql.SQL(", ").join(
        sql.Literal(sql.Identifier(s, n).as_string()) for s, n in fp.views))
    grant = sql.SQL(GRANT).format(views=views, fn=sql.Literal(fp.signature_text()))
    shown = ", ".join(m.pod for m in fp.members)
    what = (f"{fp.qualified}(query, k, filter, path, ef_search, iterative_scan, probes"
            + (", partial): k-NN on pods " if knn_all else "): k-NN on pod ") + shown)
    view_names = ", ".join(f"{s}.{n}" for s, n in fp.views)
    return [
        step(f"fast path {what} over dblink ({m0.measure}, {m0.dimension} dimensions, read-only, "
             f"statement timeout {fp.timeout_ms} ms)", create),
        step(f"mark {fp.qualified} as vecdash's fast path (verify, doctor and unwire read what it reaches)",
             sql.SQL("comment on function {} is {}").format(sig, sql.Literal(fp.comment()))),
        step(f"no EXECUTE on {fp.qualified} for PUBLIC by default", sql.SQL("revoke all on function {} from public").format(sig)),
        step(f"EXECUTE on {fp.qualified} for the roles that may SELECT from {view_names}",
             sql.SQL("do {}").format(sql.Literal(grant.as_string()))),
    ]


def drop_step(fp: FastPath, why: str) -> PlanStep:
    return step(f"drop fast path {fp.qualified} ({why})", sql.SQL("drop function if exists {}").format(fp.signature()))


def member_of(fp: FastPath, pod: str, remote: tuple[str, str]) -> bool:
    return any(m.pod == pod and m.remote == remote for m in fp.members)
