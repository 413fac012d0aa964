"""Is a wiring healthy and fast? EXPLAIN a k-NN query through it and check what reaches the pod."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from vecdash.db.connect import pod_secrets
from vecdash.db.pods import PodClient
from vecdash.errors import PodUnavailable
from vecdash.lines import error_line, short_vectors
from vecdash.model import MEASURES
from vecdash.secrets import mask_text
from vecdash.service.filters import compile_filter  # the query engine's vecs-compatible compiler
from vecdash.service.wiring.names import WiringError
from vecdash.service.wiring import fast_checks
from vecdash.service.wiring.state import Located, drift, locate


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    advisory: bool = False  # a failed advisory check slows things down but breaks nothing


@dataclass
class Verification:
    pushdown: bool
    reason: str
    remote_sql: str | None
    checks: list[Check] = field(default_factory=list)
    filter_pushdown: bool | None = None
    foreign_table: str | None = None
    server: str | None = None
    view: str | None = None
    filter_reason: str | None = None
    filter_remote_sql: str | None = None

    @property
    def ok(self) -> bool:
        return self.pushdown and all(c.ok for c in self.checks if not c.advisory)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "pushdown": self.pushdown, "reason": self.reason, "remote_sql": self.remote_sql,
            "foreign_table": self.foreign_table, "server": self.server, "view": self.view,
            "filter_pushdown": self.filter_pushdown, "filter_reason": self.filter_reason,
            "filter_remote_sql": self.filter_remote_sql,
            "checks": [{"name": c.name, "ok": c.ok, "detail": mask_text(c.detail), "advisory": c.advisory}
                       for c in self.checks],
        }


def shorten_sql(text: str | None) -> str | None:
    """Remote SQL with long vector literals cut to '[...]'."""
    return short_vectors(text) if text else text


def _probe_vector(typname: str, dim: int) -> str:
    dim = max(dim, 1)
    if typname == "sparsevec":
        return f"{{1:1}}/{dim}"
    if typname == "bit":
        return "1" * dim
    return "[" + ",".join(["1"] * dim) + "]"


def _plan_nodes(plan: Any) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan. JSON, not text: a name holding a newline or
    `Remote SQL:` cannot split or fake a line of it."""
    out, stack = [], [n["Plan"] for n in plan] if isinstance(plan, list) else [plan]
    while stack:
        node = stack.pop(0)
        out.append(node)
        stack.extend(node.get("Plans", []))
    return out


def _remote_sql(plan: Any) -> str | None:
    return next((n["Remote SQL"] for n in _plan_nodes(plan) if "Remote SQL" in n), None)


async def _fast_path_checks(client: PodClient, loc: Located, pod: str, remote: tuple[str, str],
                            secrets: list[str]) -> list[Check]:
    """Each fast-path function reaching this collection: its server reaches the pod (service.endpoints), and
    `_knn` answers like k-NN run on the pod itself (sampled queries)."""
    out = []
    for fp in loc.state.fast_paths_of(pod, remote):
        m = next(m for m in fp.members if m.pod == pod and m.remote == remote)
        right = m.server in loc.servers
        out.append(Check(f"fast path {fp.qualified} reaches pod {pod}", right,
                         f"through server {m.server}" if right else
                         f"its server {m.server} does not reach pod {pod} ({loc.reaches[m.server].label() if m.server in loc.reaches else 'gone'})"))
        if right and fp.kind == "knn" and loc.remote is not None and loc.remote.exists:
            ok, detail = await fast_checks.same_rows(client, loc.primary, fp, secrets)
            out.append(Check(f"fast path {fp.qualified} answers like the pod", ok, detail))
    return out


async def verify(client: PodClient, pod: str, name: str, *, schema: str = "vecs", filters: dict | None = None,
                 where: str | None = None, measure: str | None = None) -> Verification:
    """Is this wiring healthy and fast? EXPLAIN VERBOSE a k-NN query through the foreign table and check
    that ORDER BY <op> LIMIT reaches the Remote SQL, plus remote table, dimensions and the user mapping.

    `filters` (a vecs filter dict, compiled by the query engine) or `where` (an SQL predicate, only ever
    EXPLAINed, in a read-only transaction) say whether such a filter ships too.
    """
    loc = await locate(client, pod, schema, name)
    loc.refuse_doubtful(pod, "verify reads only what it can tell")
    secrets = [loc.target.password] if loc.target and loc.target.password else []
    secrets += pod_secrets(client.pod(pod)) + pod_secrets(loc.primary)
    if not loc.tables:
        return Verification(pushdown=False, reason=f"not wired: no foreign table on {loc.primary.name} reads "
                            f"{schema}.{name} of pod {pod} (`vecdash wire {pod} {schema}.{name}`)", remote_sql=None,
                            checks=[Check("wired", False, "no foreign table found")])
    ft = loc.tables[0]
    server = loc.state.server(ft.server)
    ft_q = ft.qualified
    checks: list[Check] = []
    exts = server.extensions
    checks.append(Check("extensions 'vector'", "vector" in exts,
                        f"server {server.name} ships pgvector operators" if "vector" in exts else
                        f"server {server.name} lacks extensions 'vector': k-NN cannot ship"))
    has_map = loc.state.has_mapping(server.name)
    checks.append(Check("user mapping", has_map, f"role {loc.state.current_user} has a mapping on {server.name}"
                        if has_map else f"no user mapping for role {loc.state.current_user} (or PUBLIC) on {server.name}"))
    if loc.remote is None:
        checks.append(Check("pod reachable", False, f"vecdash cannot reach pod {pod}: {loc.remote_error}"))
    elif not loc.remote.exists:
        checks.append(Check("remote table", False, f"{schema}.{name} no longer exists on pod {pod}"))
    else:
        checks.append(Check("remote table", True, f"{schema}.{name} exists on pod {pod}"))
        drifted = drift(ft, loc.remote)
        checks.append(Check("columns and dimensions", drifted is None, drifted or "every column matches the pod"))
        lvs = loc.state.extensions.get("vector")
        if loc.remote.vector_schema and lvs and lvs != loc.remote.vector_schema:
            checks.append(Check("pgvector schema", False, f"pgvector is in {lvs} here, {loc.remote.vector_schema} on the pod"))
    vcol = ft.main_vector()
    probe_cols = [vcol.name] if vcol else []
    primary = loc.primary

    async def probe(conn: psycopg.AsyncConnection) -> None:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in probe_cols) if probe_cols else sql.SQL("1")
        await conn.execute(sql.SQL("select {} from {} limit 1").format(cols, sql.Identifier(ft.schema, ft.name)))

    try:
        await client.run(primary, probe)
        checks.append(Check("read through the mapping", True, f"select from {ft_q} works"))
    except (psycopg.Error, PodUnavailable) as exc:
        checks.append(Check("read through the mapping", False, mask_text(error_line(exc), secrets)))
    checks += await _fast_path_checks(client, loc, pod, (schema, name), secrets)
    checks.append(Check("statistics", bool(ft.analyzed), "analyzed" if ft.analyzed else
                        f"{ft_q} was never analyzed: filtered k-NN sorts on the primary (ANALYZE {ft_q})", advisory=True))
    out = Verification(pushdown=False, reason="", remote_sql=None, checks=checks, foreign_table=ft_q,
                       server=server.name)
    readers = [v for v in loc.state.views if v.reads_relation(ft.schema, ft.name) and not v.materialized]
    if readers:
        out.view = readers[0].qualified
    if vcol is None:
        out.reason = f"{ft_q} has no vector column"
        return out
    typname, dim = vcol.typname, vcol.typmod
    if measure is None:
        measure = (loc.remote.measure(vcol.name) if loc.remote and loc.remote.exists else None) or (
            "hamming" if typname == "bit" else "cosine")
    if measure not in MEASURES:
        raise WiringError(f"unknown measure {measure!r} (use one of: {', '.join(MEASURES)})")
    op = MEASURES[measure]
    if dim <= 0:
        out.reason = f"{ft_q}.{vcol.name} has no fixed dimension: cannot build a probe query"
        return out
    first = next((c.name for c in ft.columns if c is not vcol), vcol.name)
    vec_param = _probe_vector(typname, dim)

    def knn(rel: tuple[str, str], predicate: sql.Composable | None) -> sql.Composable:
        q = sql.SQL("explain (verbose, costs off, format json) select {} from {}").format(sql.Identifier(first), sql.Identifier(*rel))
        if predicate is not None:
            q = sql.SQL("{} where ({})").format(q, predicate)
        # `<%>` (jaccard) holds a percent sign: doubled, like every literal % in a statement with parameters
        return sql.SQL("{} order by {} {} %s limit 10").format(q, sql.Identifier(vcol.name), sql.SQL(op.replace("%", "%%")))

    async def explain(q: sql.Composable, params: list[Any]) -> Any:
        async def work(conn: psycopg.AsyncConnection) -> Any:
            async with conn.transaction():
                await conn.execute("set transaction read only")
                cur = await conn.execute(q, params)
                return (await cur.fetchone())[0]

        return await client.run(primary, work)

    try:
        plan = await explain(knn((ft.schema, ft.name), None), [vec_param])
    except psycopg.Error as exc:
        out.reason = f"EXPLAIN failed: {mask_text(error_line(exc), secrets)}"
        return out
    remote = _remote_sql(plan)
    out.remote_sql = shorten_sql(remote)
    shipped = bool(remote) and "ORDER BY" in remote and f"{op})" in remote and "LIMIT" in remote
    out.pushdown = shipped
    if shipped:
        out.reason = (f"ORDER BY {vcol.name} {op} ... LIMIT runs on pod {pod}: only the k nearest rows cross the wire")
    elif "vector" not in exts:
        out.reason = (f"server {server.name} lacks extensions 'vector': postgres_fdw cannot ship {op}, so every row "
                      f"of {schema}.{name} crosses the wire and is sorted on the primary "
                      f"(fix: ALTER SERVER {server.name} OPTIONS (ADD extensions 'vector'))")
    else:
        out.reason = "the primary sorts locally: the Remote SQL has no ORDER BY ... LIMIT"

    if filters is None and where is None:
        return out
    rel = (ft.schema, ft.name)
    if readers and vcol.name in readers[0].columns and first in readers[0].columns:
        rel = (readers[0].schema, readers[0].name)
    if filters is not None:  # placeholders in text order: the filter's parameters, then the query vector
        metadata = next((c.name for c in ft.columns if c.name == "metadata"), "metadata")
        predicate, fparams = compile_filter(filters, column=metadata)
    else:
        predicate, fparams = sql.SQL(where.replace("%", "%%")), []  # the user's own SQL, only ever EXPLAINed read-only
    try:
        fplan = await explain(knn(rel, predicate), [*fparams, vec_param])
    except psycopg.Error as exc:
        raise WiringError(f"filter: {mask_text(error_line(exc), secrets)}") from None
    fremote = _remote_sql(fplan)
    out.filter_remote_sql = shorten_sql(fremote)
    local_filter = any("Filter" in n for n in _plan_nodes(fplan))
    out.filter_pushdown = bool(fremote) and "WHERE" in fremote and not local_filter
    knn_too = bool(fremote) and "ORDER BY" in fremote and "LIMIT" in fremote
    on = f"{rel[0]}.{rel[1]}"
    if not out.filter_pushdown:
        out.filter_reason = (f"the filter runs on the primary (postgres_fdw cannot ship it): the pod sends rows of {on} "
                             f"with no LIMIT and the primary throws the non-matching ones away; use containment "
                             f"(metadata @> ...) or jsonpath (metadata @@ ...) instead")
    elif knn_too:
        out.filter_reason = f"the filter and ORDER BY ... LIMIT both run on pod {pod}"
    else:
        out.filter_reason = (f"the filter runs on pod {pod} but the primary sorts the matching rows"
                             + ("" if ft.analyzed else f" ({ft_q} has no statistics: ANALYZE it)"))
    return out
