"""FDW wiring that is fast by construction: plan, apply, verify and unwire a collection on the primary.

A collection C on pod S becomes readable on the primary through postgres_fdw: a foreign server for S
(with `extensions 'vector'`, without which pgvector's distance operators cannot ship and every k-NN
query drags the whole table to the primary), a user mapping, a foreign table whose columns are read
from S's catalog, an ANALYZE (without table statistics the planner sorts filtered k-NN locally), and
optionally a view in `public`.

Plans hold the exact statements (`PlanStep.sql`) and a masked preview; steps that already hold are
marked satisfied, so applying a plan twice changes nothing. `apply_plan` runs the pending steps in one
transaction: all or nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from vecdash.config import PodConfig
from vecdash.db import secret_statement
from vecdash.db.connect import pod_secrets
from vecdash.db.pods import PodClient
from vecdash.db.wiring_sql import (
    MAPPING_CREDENTIALS_SQL,
    PRIMARY_STATE_SQL,
    RELATION_KIND_SQL,
    REMOTE_TABLE_SQL,
    SCHEMA_CONTENTS_SQL,
)
from vecdash.errors import PodError, PodUnavailable, UserError
from vecdash.lines import error_line, short_vectors
from vecdash.model import MEASURES, OPCLASS_MEASURE, Plan, PlanStep
from vecdash.secrets import MASK, mask_text
from vecdash.service.catalog import _options as options_dict  # ["k=v", ...] -> {k: v}
from vecdash.service.filters import compile_filter  # the query engine's vecs-compatible compiler
from vecdash.service import endpoints
from vecdash.service.endpoints import IdentityUnknown, Reach

FETCH_SIZE = "1000"
SERVER_MARK = "created by vecdash for pod"  # the comment wire puts on a server it creates
ANALYZE_SAMPLE_ROWS = 3000  # ANALYZE samples 300 x default_statistics_target rows
# --expose FIELD:TYPE -> the SQL type of the view column
EXPOSE_TYPES = {
    "text": "text", "int": "integer", "integer": "integer", "bigint": "bigint", "float": "double precision",
    "double": "double precision", "numeric": "numeric", "bool": "boolean", "boolean": "boolean", "date": "date",
    "timestamptz": "timestamptz", "timestamp": "timestamp", "jsonb": "jsonb",
}
# libpq options of a pod's DSN that describe the server (not the user) and that postgres_fdw accepts
SERVER_DSN_OPTIONS = ("hostaddr", "sslmode", "sslrootcert", "sslcrl", "sslnegotiation", "gssencmode",
                      "target_session_attrs", "connect_timeout", "channel_binding", "krbsrvname")
FAST_FILTERS_NOTE = (
    "filters that run on the pod (fast): containment `metadata @> '{\"year\": 2012}'` and jsonpath "
    "`metadata @@ '$.year == 2012'`; filters that postgres_fdw keeps on the primary, so the pod sends rows "
    "with no LIMIT and the primary filters them (slow): `metadata->>'year' = '2012'` and comparisons on "
    "exposed columns (e.g. `url = '/x'`)"
)
_PLAIN_TYPE = re.compile(r"^[a-z0-9 _(),\[\]]+$")


class WiringError(UserError):
    """A wiring cannot be planned as asked: unknown collection, a name taken by something else."""


class ApplyError(PodError):
    """A plan failed on the database; its transaction was rolled back. One masked line (exit 1)."""


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


# --- reading state --------------------------------------------------------------------------------


@dataclass
class Target:
    """How the primary's postgres_fdw reaches a pod: server options plus the user-mapping credentials."""

    pod: str
    host: str
    port: str
    dbname: str
    user: str
    password: str | None = field(default=None, repr=False)  # never in a repr (tracebacks with locals)
    extra: dict[str, str] = field(default_factory=dict)
    hostaddr: str | None = None  # the address libpq connected to (TCP)

    def server_options(self) -> list[tuple[str, str]]:
        opts = [("host", self.host), ("port", self.port), ("dbname", self.dbname)]
        return opts + sorted(self.extra.items())

    def endpoint(self) -> endpoints.Endpoint:
        """Where vecdash's own session reached the pod (`service.endpoints` compares servers with it)."""
        socket_dir = self.host.startswith("/") or self.host.startswith("@")
        return endpoints.session_endpoint(self.host, None if socket_dir else self.hostaddr, self.port, self.dbname)

    def describe(self) -> str:
        return f"{self.host}:{self.port}/{self.dbname}"


@dataclass
class RemoteCollection:
    schema: str
    name: str
    relkind: str | None
    vector_schema: str | None
    columns: list[dict[str, Any]]
    indexes: list[dict[str, Any]]

    @property
    def exists(self) -> bool:
        return self.relkind is not None

    def vector_columns(self) -> list[dict[str, Any]]:
        return [c for c in self.columns if c["from_vector"] or (c["typname"] == "bit" and c["typschema"] == "pg_catalog")]

    def main_vector(self) -> dict[str, Any] | None:
        vcols = self.vector_columns()
        return next((c for c in vcols if c["name"] == "vec"), vcols[0] if vcols else None)

    def measure(self, column: str) -> str | None:
        for ix in self.indexes:
            if ix["column"] == column and ix.get("valid", True) and ix["method"] in ("hnsw", "ivfflat"):
                m = OPCLASS_MEASURE.get(ix.get("opclass") or "")
                if m:
                    return m
        return None


@dataclass
class PrimaryState:
    current_user: str
    schemas: set[str]
    extensions: dict[str, str]
    servers: list[dict[str, Any]]
    mappings: list[dict[str, Any]]
    foreign_tables: list[dict[str, Any]]
    views: list[dict[str, Any]]

    def server(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.servers if s["name"] == name), None)

    def fdw_servers(self) -> list[dict[str, Any]]:
        return [s for s in self.servers if s["fdw"] == "postgres_fdw"]

    def has_mapping(self, server: str) -> bool:
        return any(m["server"] == server and (m["user"] == self.current_user or m["public"]) for m in self.mappings)

    def tables_on(self, server: str) -> list[dict[str, Any]]:
        return [f for f in self.foreign_tables if f["server"] == server]

    def readers(self, schema: str, name: str) -> list[dict[str, Any]]:
        """Views reading schema.name, directly or through other views; deepest first (drop order)."""
        out: list[dict[str, Any]] = []
        frontier = [(schema, name)]
        seen: set[tuple[str, str]] = set()
        while frontier:
            rel = frontier.pop(0)
            for v in self.views:
                key = (v["schema"], v["name"])
                if list(rel) in v["reads"] and key not in seen:
                    seen.add(key)
                    out.append(v)
                    frontier.append(key)
        return list(reversed(out))


def ft_remote(ft: dict[str, Any]) -> tuple[str, str]:
    opts = ft["options"]
    return opts.get("schema_name", ft["schema"]), opts.get("table_name", ft["name"])


async def read_primary(client: PodClient, primary: PodConfig) -> PrimaryState:
    async def work(conn: psycopg.AsyncConnection) -> dict[str, Any]:
        cur = await conn.execute(PRIMARY_STATE_SQL)
        return (await cur.fetchone())[0]

    doc = await client.run(primary, work)
    servers = [dict(s, options=options_dict(s["options"])) for s in doc["servers"]]
    fts = []
    for f in doc["foreign_tables"]:
        cols = [dict(c, options=options_dict(c["options"])) for c in f["columns"] or []]
        fts.append(dict(f, options=options_dict(f["options"]), columns=cols))
    views = [dict(v, reads=v["reads"] or [], columns=v["columns"] or []) for v in doc["views"]]
    return PrimaryState(current_user=doc["current_user"], schemas=set(doc["schemas"] or []),
                        extensions=doc["extensions"] or {}, servers=servers, mappings=doc["mappings"],
                        foreign_tables=fts, views=views)


def target_from_conn(pod: PodConfig, conn: psycopg.AsyncConnection) -> Target:
    info = conn.info
    try:
        dsn = pg_conninfo.conninfo_to_dict(pod.conninfo)
    except psycopg.ProgrammingError:
        dsn = {}
    extra = {k: str(dsn[k]) for k in SERVER_DSN_OPTIONS if dsn.get(k) not in (None, "")}
    try:
        hostaddr = info.hostaddr or None
    except psycopg.Error:
        hostaddr = None
    return Target(pod=pod.name, host=info.host, port=str(info.port), dbname=info.dbname, user=info.user,
                  password=info.password or None, extra=extra, hostaddr=hostaddr)


async def read_target(client: PodClient, pod: PodConfig) -> Target:
    async def work(conn: psycopg.AsyncConnection) -> Target:
        return target_from_conn(pod, conn)

    return await client.run(pod, work)


async def read_remote(client: PodClient, pod: PodConfig, schema: str, name: str) -> tuple[Target, RemoteCollection]:
    """The pod's address and credentials as libpq resolved them (DSN, pgpass, PG* env) + the table's shape."""
    target, found = await read_remotes(client, pod, [(schema, name)])
    return target, found[(schema, name)]


async def read_remotes(client: PodClient, pod: PodConfig,
                       names: list[tuple[str, str]]) -> tuple[Target, dict[tuple[str, str], RemoteCollection]]:
    """Like read_remote for many tables of one pod: one session, one pipelined round trip."""
    names = list(dict.fromkeys(names))

    async def work(conn: psycopg.AsyncConnection) -> tuple[Target, list[dict[str, Any]]]:
        target = target_from_conn(pod, conn)
        async with conn.transaction():
            async with conn.pipeline():
                await conn.execute("select set_config('search_path', 'pg_catalog', true)")
                curs = [await conn.execute(REMOTE_TABLE_SQL, {"schema": s, "name": n}) for s, n in names]
            docs = [(await cur.fetchone())[0] for cur in curs]
        return target, docs

    target, docs = await client.run(pod, work)
    return target, {(s, n): RemoteCollection(schema=s, name=n, relkind=d["relkind"], vector_schema=d["vector_schema"],
                                             columns=d["columns"] or [], indexes=d["indexes"] or [])
                    for (s, n), d in zip(names, docs)}


# --- names and input ------------------------------------------------------------------------------


def pod_ident(pod: str) -> str:
    """The schema / server name for a pod: `vectors-a` -> `vectors_a`."""
    s = re.sub(r"[^a-z0-9_]", "_", pod.lower())
    if not s or s[0].isdigit():
        s = "pod_" + s
    return s[:63]


def split_collection(collection: str, schema: str = "vecs") -> tuple[str, str]:
    """`name` or `schema.name` (a quoted part may hold dots: `"my.schema".docs`)."""
    if not collection or not collection.strip():
        raise WiringError("collection name is empty")
    parts = _split_ident(collection.strip())
    if len(parts) == 1:
        return schema, parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise WiringError(f"collection {collection!r}: expected NAME or SCHEMA.NAME")


def _split_ident(text: str) -> list[str]:
    parts, cur, i, quoted = [], "", 0, False
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"' and text[i + 1:i + 2] == '"':
                cur += '"'
                i += 1
            elif ch == '"':
                quoted = False
            else:
                cur += ch
        elif ch == '"':
            quoted = True
        elif ch == ".":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    if quoted:
        raise WiringError(f"collection {text!r}: unclosed double quote")
    parts.append(cur)
    if any(p == "" for p in parts):
        raise WiringError(f"collection {text!r}: empty name part")
    return parts


def parse_expose(text: str | None) -> list[tuple[str, str]]:
    """`url:text,year:int` -> [("url", "text"), ("year", "int")]."""
    if not text:
        return []
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        fname, sep, ftype = item.rpartition(":")
        if not sep or not fname:
            raise WiringError(f"expose {item!r}: expected FIELD:TYPE (types: {', '.join(sorted(EXPOSE_TYPES))})")
        out.append((fname, ftype.strip().lower()))
    validate_expose(out)
    return out


def validate_expose(expose: list[tuple[str, str]]) -> None:
    seen = set()
    for fname, ftype in expose:
        if ftype not in EXPOSE_TYPES:
            raise WiringError(f"expose {fname}:{ftype}: unknown type {ftype!r} (use one of: {', '.join(sorted(EXPOSE_TYPES))})")
        if not fname or len(fname) > 63:
            raise WiringError(f"expose {fname!r}: field name must be 1-63 characters")
        if fname in seen:
            raise WiringError(f"expose: field {fname!r} given twice")
        seen.add(fname)


def primary_of(client: PodClient) -> PodConfig:
    primary = client.config.primary
    if primary is None:
        raise WiringError("no primary pod in the config: mark the pod that reads the others with `role: primary`")
    return primary


def _ident(*parts: str) -> sql.Identifier:
    return sql.Identifier(*parts)


def _render(q: sql.Composable) -> str:
    return q.as_string()


def _options(pairs: list[tuple[str, str]], verb: str = "") -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL(verb + "{} {}").format(sql.SQL(k), sql.Literal(v)) for k, v in pairs)


def _step(purpose: str, q: sql.Composable, *, satisfied: bool = False, kind: str = "ddl") -> PlanStep:
    return PlanStep(purpose=purpose, sql=q, preview=_render(q), satisfied=satisfied, kind=kind)


def server_extensions(options: dict[str, str]) -> list[str]:
    return [e.strip() for e in options.get("extensions", "").split(",") if e.strip()]


def vector_extension_change(options: dict[str, str]) -> tuple[str, str, str] | None:
    """The (verb, option, value) that adds `vector` to a server's `extensions`; None when it is there."""
    exts = server_extensions(options)
    if "vector" in exts:
        return None
    return ("set" if "extensions" in options else "add", "extensions", ",".join(exts + ["vector"]))


def alter_server_sql(server: str, changes: list[tuple[str, str, str]]) -> sql.Composable:
    """`alter server S options (add|set k 'v', ...)`: verbs and option names are ours, values literals."""
    return sql.SQL("alter server {} options ({})").format(_ident(server), sql.SQL(", ").join(
        sql.SQL("{} {} {}").format(sql.SQL(verb), sql.SQL(k), sql.Literal(v)) for verb, k, v in changes))


def _secret_step(purpose: str, render: Callable[[sql.Composable | None], sql.Composable],
                 secret: str | None) -> PlanStep:
    """A step whose statement holds `secret` where `render(value)` puts `value` (None: no secret)."""
    if not secret:
        return _step(purpose, render(None))
    return SecretStep(purpose=purpose, sql=render(sql.Literal(secret)), preview=_render(render(sql.Literal(MASK))),
                      secrets=[secret], template=secret_statement.template(render))


def mapping_create_step(server: str, target: Target, purpose: str) -> PlanStep:
    """`create user mapping for current_user` with the pod's credentials; the preview masks the password."""
    def render(password: sql.Composable | None) -> sql.Composable:
        opts = [sql.SQL("user {}").format(sql.Literal(target.user))]
        if password is not None:
            opts.append(sql.SQL("password {}").format(password))
        return sql.SQL("create user mapping for current_user server {} options ({})").format(
            _ident(server), sql.SQL(", ").join(opts))

    return _secret_step(purpose, render, target.password)


# --- plan: wire -----------------------------------------------------------------------------------


def _local_type(col: dict[str, Any], vector_schema: str) -> sql.Composable | None:
    """The column type on the primary, from the remote catalog (never guessed)."""
    if col["from_vector"]:
        base = sql.Identifier(vector_schema, col["typname"])
        return sql.SQL("{}({})").format(base, sql.Literal(int(col["typmod"]))) if col["typmod"] > 0 else base
    if col["typschema"] == "pg_catalog" and _PLAIN_TYPE.match(col["type"]):
        return sql.SQL(col["type"])  # format_type() text of a built-in type, checked against a strict pattern
    return None


async def server_reaches(client: PodClient, primary: PodConfig, state: PrimaryState, pod: PodConfig,
                         target: Target | None) -> dict[str, Reach]:
    """For each postgres_fdw server on the primary: does it reach `pod`? (`endpoints.settle`: by address,
    else by asking the servers when the pod answered; else unknown.)"""
    pods = endpoints.config_pods(client.config)
    if target is not None:
        pods = endpoints.with_sessions(pods, {pod.name: target.endpoint()})
    servers = [dict(s, tables=[(f["schema"], f["name"]) for f in state.tables_on(s["name"])])
               for s in state.fdw_servers()]
    return await endpoints.settle(client, primary, servers, pods, only=[pod.name],
                                  reachable=[pod] if target is not None else [])


def _server_steps(state: PrimaryState, target: Target, pod: str, reaches: dict[str, Reach]) -> tuple[str, list[PlanStep]]:
    existing = next((s for s in state.fdw_servers() if reaches[s["name"]].pod == pod), None)
    if existing is None:
        name = pod_ident(pod)
        other = state.server(name)
        if other is not None and name in reaches and reaches[name].unknown:
            raise IdentityUnknown(f"foreign server {name} exists and vecdash cannot tell whether it reaches pod {pod} "
                                  f"({reaches[name].why}): refusing to reuse it; drop or rename it, or give it a "
                                  f"user mapping the pod accepts")
        if other is not None:
            where = f"{other['options'].get('host', '?')}:{other['options'].get('port', '5432')}/{other['options'].get('dbname', '?')}"
            raise WiringError(f"foreign server {name} exists but reaches {where}, not pod {pod} ({target.describe()}); "
                              f"run `vecdash doctor` or drop it first")
        opts = target.server_options() + [("extensions", "vector"), ("fetch_size", FETCH_SIZE), ("async_capable", "true")]
        q = sql.SQL("create server {} foreign data wrapper postgres_fdw options ({})").format(_ident(name), _options(opts))
        # COMMENT takes no parameters: a literal, of vecdash's own text and the pod's configured name
        mark = sql.SQL("comment on server {} is {}").format(_ident(name), sql.Literal(f"{SERVER_MARK} {pod}"))
        return name, [_step(f"foreign server {name} for pod {pod}, shipping pgvector operators (extensions 'vector')", q),
                      _step(f"mark {name} as made by vecdash: unwire drops only servers vecdash created", mark)]
    name, opts = existing["name"], existing["options"]
    changes: list[tuple[str, str, str]] = []  # (verb, key, value)
    vector_change = vector_extension_change(opts)
    if vector_change:
        changes.append(vector_change)
    if "fetch_size" not in opts:
        changes.append(("add", "fetch_size", FETCH_SIZE))
    if not changes:
        q = sql.SQL("create server {} foreign data wrapper postgres_fdw options ({})").format(
            _ident(name), _options(sorted(opts.items())))
        return name, [_step(f"foreign server {name} already reaches pod {pod} with extensions 'vector'", q, satisfied=True)]
    return name, [_step(f"reuse foreign server {name} for pod {pod}: add extensions 'vector' so k-NN ships",
                        alter_server_sql(name, changes))]


def _mapping_pairs(target: Target, secret: bool) -> list[tuple[str, str]]:
    pairs = [("user", target.user)]
    if target.password:
        pairs.append(("password", target.password if secret else MASK))
    return pairs


async def _mapping_step(client: PodClient, primary: PodConfig, state: PrimaryState, server: str, target: Target,
                        server_is_new: bool) -> PlanStep:
    who = f"role {state.current_user}"
    mine = any(m["server"] == server and m["user"] == state.current_user and not m["public"] for m in state.mappings)
    if server_is_new or not mine:
        return mapping_create_step(server, target, f"user mapping for {who} on {server} (user {target.user})")

    async def work(conn: psycopg.AsyncConnection):
        cur = await conn.execute(MAPPING_CREDENTIALS_SQL, {"server": server, "user": target.user,
                                                           "password": target.password or ""})
        return await cur.fetchone()

    row = await client.run(primary, work)
    shown_pairs = _mapping_pairs(target, False)
    if row is None or not row[0] or (row[2] and (not target.password or row[4])):
        q = sql.SQL("create user mapping for current_user server {} options ({})").format(_ident(server), _options(shown_pairs))
        return PlanStep(purpose=f"user mapping for {who} on {server} exists", sql=q, preview=_render(q), satisfied=True)
    readable, has_user, _, has_pw, _ = row

    def render(password: sql.Composable | None) -> sql.Composable:
        opts = [sql.SQL("set {}" if has_user else "add {}").format(sql.SQL("user {}").format(sql.Literal(target.user)))]
        if password is not None:
            opts.append(sql.SQL("set {}" if has_pw else "add {}").format(sql.SQL("password {}").format(password)))
        return sql.SQL("alter user mapping for current_user server {} options ({})").format(
            _ident(server), sql.SQL(", ").join(opts))

    return _secret_step(f"update the credentials of {who}'s mapping on {server}", render, target.password)


async def _relkind(client: PodClient, primary: PodConfig, schema: str, name: str) -> str | None:
    async def work(conn: psycopg.AsyncConnection):
        cur = await conn.execute(RELATION_KIND_SQL, {"schema": schema, "name": name})
        row = await cur.fetchone()
        return row[0] if row else None

    return await client.run(primary, work)


def _view_select(ft_schema: str, ft_name: str, columns: list[str], expose: list[tuple[str, str]],
                 metadata: str | None) -> sql.Composable:
    items: list[sql.Composable] = [sql.Identifier(c) for c in columns]
    for fname, ftype in expose:
        if ftype == "jsonb":
            expr = sql.SQL("({} -> {})").format(sql.Identifier(metadata), sql.Literal(fname))
        elif ftype == "text":
            expr = sql.SQL("({} ->> {})").format(sql.Identifier(metadata), sql.Literal(fname))
        else:
            expr = sql.SQL("(({} ->> {}))::{}").format(sql.Identifier(metadata), sql.Literal(fname), sql.SQL(EXPOSE_TYPES[ftype]))
        items.append(sql.SQL("{} as {}").format(expr, sql.Identifier(fname)))
    return sql.SQL("select {} from {}").format(sql.SQL(", ").join(items), sql.Identifier(ft_schema, ft_name))


async def plan_wire(client: PodClient, pod: str, collection: str, *, schema: str = "vecs", view: str | None = None,
                    expose: list[tuple[str, str]] | None = None, create_view: bool = True) -> Plan:
    """The DDL that makes `schema.collection` on `pod` readable on the primary (reads only; nothing runs)."""
    schema, name = split_collection(collection, schema)
    expose = list(expose or [])
    validate_expose(expose)
    primary = primary_of(client)
    podcfg = client.pod(pod)
    if podcfg.name == primary.name:
        raise WiringError(f"pod {pod} is the primary: its collections need no wiring")
    target, remote = await read_remote(client, podcfg, schema, name)
    if not remote.exists:
        raise WiringError(f"collection {schema}.{name} not found on pod {pod}")
    if not remote.vector_columns():
        raise WiringError(f"{schema}.{name} on pod {pod} has no vector column (vector, halfvec, sparsevec or bit)")
    state = await read_primary(client, primary)
    plan = Plan(title=f"wire {schema}.{name} from pod {pod} into {primary.name}", pod=primary.name)

    # 1. extensions
    fdw_there = "postgres_fdw" in state.extensions
    plan.steps.append(_step("postgres_fdw on the primary", sql.SQL("create extension if not exists postgres_fdw"),
                            satisfied=fdw_there))
    remote_vs = remote.vector_schema or "public"
    local_vs = state.extensions.get("vector")
    if local_vs is None:
        if remote_vs not in state.schemas:
            plan.steps.append(_step(f"schema {remote_vs} for pgvector (the schema it has on pod {pod})",
                                    sql.SQL("create schema if not exists {}").format(_ident(remote_vs))))
        plan.steps.append(_step(f"pgvector on the primary, in schema {remote_vs} like on pod {pod}",
                                sql.SQL("create extension if not exists vector with schema {}").format(_ident(remote_vs))))
        local_vs = remote_vs
    else:
        plan.steps.append(_step("pgvector on the primary", sql.SQL("create extension if not exists vector"), satisfied=True))
        if remote.vector_schema and local_vs != remote.vector_schema:
            plan.notes.append(f"pgvector lives in schema {local_vs} on the primary but {remote.vector_schema} on pod {pod}: "
                              f"postgres_fdw sends OPERATOR({local_vs}.<=>), which the pod cannot resolve")

    # 2. server and user mapping
    reaches = await server_reaches(client, primary, state, podcfg, target)
    server, steps = _server_steps(state, target, podcfg.name, reaches)
    plan.steps += steps
    server_is_new = state.server(server) is None
    mapping = await _mapping_step(client, primary, state, server, target, server_is_new)
    plan.steps.append(mapping)
    if isinstance(mapping, SecretStep) and not await client.run(primary, secret_statement.can_quiet_logging):
        plan.notes.append(secret_statement.NOT_QUIET_NOTE)
    if not target.password:
        plan.notes.append(f"pod {pod} accepted vecdash without a password: postgres_fdw asks non-superusers for one")

    # 3. foreign table (reuse one that already reads this collection through this server)
    existing = next((f for f in state.tables_on(server) if ft_remote(f) == (schema, name)), None) if not server_is_new else None
    cols: list[tuple[str, sql.Composable, bool]] = []
    for col in remote.columns:
        typ = _local_type(col, local_vs)
        if typ is None:
            plan.notes.append(f"column {col['name']} ({col['type']}) left out: its type is not built in")
            continue
        cols.append((col["name"], typ, col["notnull"]))
    if existing is not None:
        ft_schema, ft_name = existing["schema"], existing["name"]
        drift = _drift(existing, remote)
        if drift:
            raise WiringError(f"foreign table {ft_schema}.{ft_name} no longer matches the pod ({drift}); "
                              f"the doctor's fix repairs it")
        q = _create_ft(ft_schema, ft_name, cols, server, schema, name)
        plan.steps.append(_step(f"foreign table {ft_schema}.{ft_name} already reads {schema}.{name}", q, satisfied=True))
    else:
        ft_schema, ft_name = pod_ident(podcfg.name), name
        plan.steps.append(_step(f"schema {ft_schema} for pod {pod}'s tables",
                                sql.SQL("create schema if not exists {}").format(_ident(ft_schema)),
                                satisfied=ft_schema in state.schemas))
        kind = await _relkind(client, primary, ft_schema, ft_name) if ft_schema in state.schemas else None
        if kind is not None:
            raise WiringError(f"{ft_schema}.{ft_name} already exists on the primary and does not read "
                              f"{schema}.{name} on pod {pod}; unwire or drop it first")
        vec = remote.main_vector()
        plan.steps.append(_step(f"foreign table {ft_schema}.{ft_name}: {len(cols)} columns as on the pod "
                                f"({vec['name']} {vec['type'].split('.')[-1]})",
                                _create_ft(ft_schema, ft_name, cols, server, schema, name)))
    analyzed = existing is not None and existing.get("analyzed")
    plan.steps.append(_step(f"statistics for {ft_schema}.{ft_name} (a {ANALYZE_SAMPLE_ROWS:,}-row sample taken on the "
                            f"pod), so filtered k-NN also ships ORDER BY ... LIMIT", analyze_sql(ft_schema, ft_name),
                            satisfied=bool(analyzed), kind="analyze"))

    # 4. view
    if create_view:
        vschema, vname = split_collection(view, "public") if view else ("public", name)
        metadata = next((c["name"] for c in remote.columns if c["name"] == "metadata" and c["typname"] == "jsonb"), None)
        if expose and metadata is None:
            raise WiringError(f"expose needs a jsonb `metadata` column; {schema}.{name} has none")
        colnames = [c[0] for c in cols]
        clash = [f for f, _ in expose if f in colnames]
        if clash:
            raise WiringError(f"expose {clash[0]}: the table already has a column of that name")
        select = _view_select(ft_schema, ft_name, colnames, expose, metadata)
        create = sql.SQL("create view {} as {}").format(_ident(vschema, vname), select)
        wanted = colnames + [f for f, _ in expose]
        mine = next((v for v in state.views if (v["schema"], v["name"]) == (vschema, vname)), None)
        kind = await _relkind(client, primary, vschema, vname) if vschema in state.schemas else None
        if mine is not None and [ft_schema, ft_name] in mine["reads"]:
            if mine["columns"] == wanted:
                plan.steps.append(_step(f"view {vschema}.{vname} already reads {ft_schema}.{ft_name}", create, satisfied=True))
            else:
                plan.steps.append(_step(f"replace view {vschema}.{vname} (its columns differ)",
                                        sql.SQL("drop view {}").format(_ident(vschema, vname))))
                plan.steps.append(_step(f"view {vschema}.{vname} for applications", create))
        elif kind is not None:
            raise WiringError(f"{vschema}.{vname} already exists on the primary and does not read {ft_schema}.{ft_name}; "
                              f"choose another view name")
        else:
            if vschema not in state.schemas:
                plan.steps.append(_step(f"schema {vschema}", sql.SQL("create schema if not exists {}").format(_ident(vschema))))
            shown = ", ".join([*colnames, *(f"{f} {EXPOSE_TYPES[t]}" for f, t in expose)])
            plan.steps.append(_step(f"view {vschema}.{vname} for applications ({shown})", create))
        plan.notes.append(FAST_FILTERS_NOTE)
    return plan


def analyze_sql(schema: str, name: str) -> sql.Composable:
    """ANALYZE with a small sample: the planner needs the row count, not fine histograms, and every sampled
    row (vector included) crosses the wire; 300 x 10 = 3,000 rows instead of 30,000 keeps it well inside
    statement_timeout whatever the table's size."""
    return sql.SQL("set local default_statistics_target = {}; analyze {}").format(
        sql.Literal(ANALYZE_SAMPLE_ROWS // 300), _ident(schema, name))


def _create_ft(ft_schema: str, ft_name: str, cols: list[tuple[str, sql.Composable, bool]], server: str,
               rschema: str, rname: str) -> sql.Composable:
    coldefs = sql.SQL(",\n    ").join(
        sql.SQL("{} {}{}").format(sql.Identifier(n), t, sql.SQL(" not null") if nn else sql.SQL("")) for n, t, nn in cols)
    return sql.SQL("create foreign table {} (\n    {}\n) server {} options (schema_name {}, table_name {})").format(
        _ident(ft_schema, ft_name), coldefs, _ident(server), sql.Literal(rschema), sql.Literal(rname))


def _drift(ft: dict[str, Any], remote: RemoteCollection) -> str | None:
    """What no longer matches between a foreign table and the remote table (None when in step)."""
    rcols = {c["options"].get("column_name", c["name"]): c for c in ft["columns"]}
    remote_cols = {c["name"]: c for c in remote.columns}
    for local_name, col in rcols.items():
        rc = remote_cols.get(local_name)
        if rc is None:
            return f"column {local_name} is gone from the pod"
        if rc["from_vector"] and (rc["typname"] != col["typname"] or rc["typmod"] != col["typmod"]):
            return f"{local_name} is {col['type'].split('.')[-1]} here but {rc['type'].split('.')[-1]} on the pod"
    return None


# --- apply ----------------------------------------------------------------------------------------


def plan_secrets(plan: Plan) -> list[str]:
    return [s for step in plan.steps for s in getattr(step, "secrets", [])]


async def apply_plan(client: PodClient, plan: Plan) -> None:
    """Run the plan's pending steps on plan.pod in one transaction (all or nothing).

    Raises ReadOnlyError in read-only mode (before any session is opened) and ApplyError, with masked
    text, when a statement fails (everything is then rolled back).
    """
    pod = client.pod(plan.pod)
    pending = plan.pending
    secrets = plan_secrets(plan) + pod_secrets(pod)

    async def work(conn: psycopg.AsyncConnection) -> None:
        if plan.transactional:
            async with conn.transaction():
                for i, step in enumerate(pending, 1):
                    await _run_step(conn, step, i, len(pending), secrets, rolled_back=True)
        else:
            for i, step in enumerate(pending, 1):
                await _run_step(conn, step, i, len(pending), secrets, rolled_back=False)

    timeout = client.config.settings.call_timeout_s + client.config.settings.statement_timeout_ms / 1000 * len(pending)
    try:
        await client.run(pod, work, write=True, what=plan.title, timeout=timeout)
    except PodUnavailable as exc:
        raise ApplyError(mask_text(f"{plan.title}: {exc}; nothing was changed" if plan.transactional else str(exc),
                                   secrets)) from None


async def _run_step(conn, step: PlanStep, i: int, n: int, secrets: list[str], *, rolled_back: bool) -> None:
    """Run one step; a `check` step is a read whose non-null first value says what is wrong (the plan fails)."""
    tail = "rolled back, nothing was changed" if rolled_back else f"steps 1-{i - 1} were applied"
    try:
        if isinstance(step, SecretStep) and step.template:
            await secret_statement.execute_secret(conn, step.template, step.secrets[0])
            problem = None
        else:
            cur = await conn.execute(step.sql)
            problem = (await cur.fetchone() or [None])[0] if step.kind == "check" else None
    except psycopg.Error as exc:
        raise ApplyError(mask_text(f"step {i}/{n} failed ({step.purpose}): {error_line(exc)}; {tail}", secrets)) from None
    if problem:
        raise ApplyError(mask_text(f"step {i}/{n} failed ({step.purpose}): differs after the rebuild: {problem}; "
                                   f"{tail}", secrets))


# --- locating an existing wiring ------------------------------------------------------------------


@dataclass
class Located:
    primary: PodConfig
    state: PrimaryState
    target: Target | None
    remote: RemoteCollection | None
    remote_error: str | None
    servers: list[str]
    tables: list[dict[str, Any]]
    doubtful: list[dict[str, Any]] = field(default_factory=list)  # read it through a server of unknown reach
    reaches: dict[str, Reach] = field(default_factory=dict)

    def refuse_doubtful(self, pod: str, what: str) -> None:
        """Raise IdentityUnknown when the only candidates are foreign tables whose server's reach is unknown."""
        if not self.tables and self.doubtful:
            ft = self.doubtful[0]
            raise IdentityUnknown(f"{ft['schema']}.{ft['name']} reads {ft_remote(ft)[0]}.{ft_remote(ft)[1]} through "
                                  f"server {ft['server']}, and vecdash cannot tell whether it reaches pod {pod} "
                                  f"({self.reaches[ft['server']].why}): {what}")


async def locate(client: PodClient, pod: str, schema: str, name: str) -> Located:
    """The foreign tables on the primary that read schema.name on pod, through servers decided to reach it
    (`server_reaches`; from the pod's DSN when it is down). Those of servers of unknown reach: `doubtful`."""
    primary = primary_of(client)
    podcfg = client.pod(pod)
    state = await read_primary(client, primary)
    target = remote = error = None
    try:
        target, remote = await read_remote(client, podcfg, schema, name)
    except PodUnavailable as exc:
        error = exc.reason
    reaches = await server_reaches(client, primary, state, podcfg, target)
    servers = [n for n, r in reaches.items() if r.pod == podcfg.name]
    unknown = {n for n, r in reaches.items() if r.unknown}
    tables = [f for f in state.foreign_tables if f["server"] in servers and ft_remote(f) == (schema, name)]
    tables.sort(key=lambda f: (f["schema"] != pod_ident(pod), f["schema"], f["name"]))
    doubtful = [f for f in state.foreign_tables if f["server"] in unknown and ft_remote(f) == (schema, name)]
    return Located(primary, state, target, remote, error, servers, tables, doubtful, reaches)


# --- verify ---------------------------------------------------------------------------------------

def shorten_sql(text: str | None) -> str | None:
    """Remote SQL with long vector literals cut (lines.short_vectors, as query plans are)."""
    return short_vectors(text) if text else text


def _probe_vector(typname: str, dim: int) -> str:
    dim = max(dim, 1)
    if typname == "sparsevec":
        return f"{{1:1}}/{dim}"
    if typname == "bit":
        return "1" * dim
    return "[" + ",".join(["1"] * dim) + "]"


def _vector_column(ft: dict[str, Any]) -> dict[str, Any] | None:
    vcols = [c for c in ft["columns"] if c["typname"] in ("vector", "halfvec", "sparsevec", "bit")]
    return next((c for c in vcols if c["name"] == "vec"), vcols[0] if vcols else None)


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


async def verify(client: PodClient, pod: str, collection: str, *, schema: str = "vecs", filters: dict | None = None,
                 where: str | None = None, measure: str | None = None) -> Verification:
    """Is this wiring healthy and fast? EXPLAIN VERBOSE a k-NN query through the foreign table and check
    that ORDER BY <op> LIMIT reaches the Remote SQL, plus remote table, dimensions and the user mapping.

    `filters` (a vecs filter dict, compiled by the query engine) or `where` (an SQL predicate, only ever
    EXPLAINed, in a read-only transaction) say whether such a filter ships too.
    """
    schema, name = split_collection(collection, schema)
    loc = await locate(client, pod, schema, name)
    loc.refuse_doubtful(pod, "verify reads only what it can tell")
    secrets = [loc.target.password] if loc.target and loc.target.password else []
    secrets += pod_secrets(client.pod(pod)) + pod_secrets(loc.primary)
    if not loc.tables:
        return Verification(pushdown=False, reason=f"not wired: no foreign table on {loc.primary.name} reads "
                            f"{schema}.{name} of pod {pod} (`vecdash wire {pod} {schema}.{name}`)", remote_sql=None,
                            checks=[Check("wired", False, "no foreign table found")])
    ft = loc.tables[0]
    server = loc.state.server(ft["server"])
    ft_q = f"{ft['schema']}.{ft['name']}"
    checks: list[Check] = []
    exts = server_extensions(server["options"])
    checks.append(Check("extensions 'vector'", "vector" in exts,
                        f"server {server['name']} ships pgvector operators" if "vector" in exts else
                        f"server {server['name']} lacks extensions 'vector': k-NN cannot ship"))
    has_map = loc.state.has_mapping(server["name"])
    checks.append(Check("user mapping", has_map, f"role {loc.state.current_user} has a mapping on {server['name']}"
                        if has_map else f"no user mapping for role {loc.state.current_user} (or PUBLIC) on {server['name']}"))
    if loc.remote is None:
        checks.append(Check("pod reachable", False, f"vecdash cannot reach pod {pod}: {loc.remote_error}"))
    elif not loc.remote.exists:
        checks.append(Check("remote table", False, f"{schema}.{name} no longer exists on pod {pod}"))
    else:
        checks.append(Check("remote table", True, f"{schema}.{name} exists on pod {pod}"))
        drift = _drift(ft, loc.remote)
        checks.append(Check("columns and dimensions", drift is None, drift or "every column matches the pod"))
        lvs = loc.state.extensions.get("vector")
        if loc.remote.vector_schema and lvs and lvs != loc.remote.vector_schema:
            checks.append(Check("pgvector schema", False, f"pgvector is in {lvs} here, {loc.remote.vector_schema} on the pod"))
    vcol = _vector_column(ft)
    probe_cols = [vcol["name"]] if vcol else []
    primary = loc.primary

    async def probe(conn: psycopg.AsyncConnection) -> None:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in probe_cols) if probe_cols else sql.SQL("1")
        await conn.execute(sql.SQL("select {} from {} limit 1").format(cols, _ident(ft["schema"], ft["name"])))

    try:
        await client.run(primary, probe)
        checks.append(Check("read through the mapping", True, f"select from {ft_q} works"))
    except (psycopg.Error, PodUnavailable) as exc:
        checks.append(Check("read through the mapping", False, mask_text(error_line(exc), secrets)))
    checks.append(Check("statistics", bool(ft.get("analyzed")), "analyzed" if ft.get("analyzed") else
                        f"{ft_q} was never analyzed: filtered k-NN sorts on the primary (ANALYZE {ft_q})", advisory=True))
    out = Verification(pushdown=False, reason="", remote_sql=None, checks=checks, foreign_table=ft_q,
                       server=server["name"])
    readers = [v for v in loc.state.views if [ft["schema"], ft["name"]] in v["reads"] and not v["materialized"]]
    if readers:
        out.view = f"{readers[0]['schema']}.{readers[0]['name']}"
    if vcol is None:
        out.reason = f"{ft_q} has no vector column"
        return out
    typname, dim = vcol["typname"], vcol["typmod"]
    if measure is None:
        measure = (loc.remote.measure(vcol["name"]) if loc.remote and loc.remote.exists else None) or (
            "hamming" if typname == "bit" else "cosine")
    if measure not in MEASURES:
        raise WiringError(f"unknown measure {measure!r} (use one of: {', '.join(MEASURES)})")
    op = MEASURES[measure]
    if dim <= 0:
        out.reason = f"{ft_q}.{vcol['name']} has no fixed dimension: cannot build a probe query"
        return out
    first = next((c["name"] for c in ft["columns"] if c is not vcol), vcol["name"])
    vec_param = _probe_vector(typname, dim)

    def knn(rel: tuple[str, str], predicate: sql.Composable | None) -> sql.Composable:
        q = sql.SQL("explain (verbose, costs off, format json) select {} from {}").format(sql.Identifier(first), _ident(*rel))
        if predicate is not None:
            q = sql.SQL("{} where ({})").format(q, predicate)
        # `<%>` (jaccard) holds a percent sign: doubled, like every literal % in a statement with parameters
        return sql.SQL("{} order by {} {} %s limit 10").format(q, sql.Identifier(vcol["name"]), sql.SQL(op.replace("%", "%%")))

    async def explain(q: sql.Composable, params: list[Any]) -> Any:
        async def work(conn: psycopg.AsyncConnection) -> Any:
            async with conn.transaction():
                await conn.execute("set transaction read only")
                cur = await conn.execute(q, params)
                return (await cur.fetchone())[0]

        return await client.run(primary, work)

    try:
        plan = await explain(knn((ft["schema"], ft["name"]), None), [vec_param])
    except psycopg.Error as exc:
        out.reason = f"EXPLAIN failed: {mask_text(error_line(exc), secrets)}"
        return out
    remote = _remote_sql(plan)
    out.remote_sql = shorten_sql(remote)
    shipped = bool(remote) and "ORDER BY" in remote and f"{op})" in remote and "LIMIT" in remote
    out.pushdown = shipped
    if shipped:
        out.reason = (f"ORDER BY {vcol['name']} {op} ... LIMIT runs on pod {pod}: only the k nearest rows cross the wire")
    elif "vector" not in exts:
        out.reason = (f"server {server['name']} lacks extensions 'vector': postgres_fdw cannot ship {op}, so every row "
                      f"of {schema}.{name} crosses the wire and is sorted on the primary "
                      f"(fix: ALTER SERVER {server['name']} OPTIONS (ADD extensions 'vector'))")
    else:
        out.reason = "the primary sorts locally: the Remote SQL has no ORDER BY ... LIMIT"

    if filters is None and where is None:
        return out
    rel = (ft["schema"], ft["name"])
    if readers and vcol["name"] in readers[0]["columns"] and first in readers[0]["columns"]:
        rel = (readers[0]["schema"], readers[0]["name"])
    if filters is not None:  # placeholders in text order: the filter's parameters, then the query vector
        metadata = next((c["name"] for c in ft["columns"] if c["name"] == "metadata"), "metadata")
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
                             + ("" if ft.get("analyzed") else f" ({ft_q} has no statistics: ANALYZE it)"))
    return out


# --- unwire ---------------------------------------------------------------------------------------


def drop_table_steps(state: PrimaryState, ft: dict[str, Any]) -> list[PlanStep]:
    """Drop the views that read a foreign table (deepest first), then the table: no CASCADE, all listed."""
    steps = []
    for v in state.readers(ft["schema"], ft["name"]):
        kind = sql.SQL("materialized view" if v["materialized"] else "view")
        steps.append(_step(f"drop {'materialized ' if v['materialized'] else ''}view {v['schema']}.{v['name']} "
                           f"(reads {ft['schema']}.{ft['name']})",
                           sql.SQL("drop {} {}").format(kind, _ident(v["schema"], v["name"]))))
    steps.append(_step(f"drop foreign table {ft['schema']}.{ft['name']}",
                       sql.SQL("drop foreign table {}").format(_ident(ft["schema"], ft["name"]))))
    return steps


def made_by_vecdash(server: dict[str, Any] | None) -> bool:
    return bool(server) and str(server.get("comment") or "").startswith(SERVER_MARK)


def drop_server_steps(state: PrimaryState, server: str) -> list[PlanStep]:
    steps = []
    for m in state.mappings:
        if m["server"] != server:
            continue
        if m["public"]:
            who: sql.Composable = sql.SQL("public")
        elif m["user"] == state.current_user:
            who = sql.SQL("current_user")
        else:
            who = sql.Identifier(m["user"])
        steps.append(_step(f"drop user mapping for {m['user']} on {server}",
                           sql.SQL("drop user mapping for {} server {}").format(who, _ident(server))))
    steps.append(_step(f"drop foreign server {server} (no foreign table uses it any more)",
                       sql.SQL("drop server {}").format(_ident(server))))
    return steps


async def plan_unwire(client: PodClient, pod: str, collection: str, *, schema: str = "vecs") -> Plan:
    """The reverse of plan_wire: views, foreign table, the pod's schema and server when nothing else uses them."""
    schema, name = split_collection(collection, schema)
    loc = await locate(client, pod, schema, name)
    loc.refuse_doubtful(pod, "nothing planned, nothing dropped")
    state = loc.state
    plan = Plan(title=f"unwire {schema}.{name} of pod {pod} from {loc.primary.name}", pod=loc.primary.name)
    for ft in loc.doubtful:
        plan.notes.append(f"{ft['schema']}.{ft['name']} stays: vecdash cannot tell whether server {ft['server']} "
                          f"reaches pod {pod} ({loc.reaches[ft['server']].why})")
    if not loc.tables:
        plan.notes.append(f"nothing to unwire: no foreign table on {loc.primary.name} reads {schema}.{name} of pod {pod}")
        return plan
    dropped: set[tuple[str, str]] = set()  # foreign tables
    gone: set[tuple[str, str]] = set()  # every relation the plan drops (tables and the views reading them)
    for ft in loc.tables:
        plan.steps += drop_table_steps(state, ft)
        dropped.add((ft["schema"], ft["name"]))
        gone |= {(ft["schema"], ft["name"])} | {(v["schema"], v["name"]) for v in state.readers(ft["schema"], ft["name"])}
    for sch in sorted({s for s, _ in dropped}):
        if sch != pod_ident(pod):
            continue  # only the schema wire created is ours to drop

        async def contents(conn: psycopg.AsyncConnection, sch: str = sch):
            cur = await conn.execute(SCHEMA_CONTENTS_SQL, {"schema": sch})
            return await cur.fetchone()

        row = await client.run(loc.primary, contents)
        if row is not None:
            rels = [r for r in row[0] if (sch, r) not in gone]
            if not rels and not row[1]:
                plan.steps.append(_step(f"drop schema {sch} (now empty)", sql.SQL("drop schema {}").format(_ident(sch))))
    for server in sorted({ft["server"] for ft in loc.tables}):
        left = [f for f in state.tables_on(server) if (f["schema"], f["name"]) not in dropped]
        if left:
            plan.notes.append(f"server {server} stays: {len(left)} other foreign table(s) use it")
        elif not made_by_vecdash(state.server(server)):
            plan.notes.append(f"server {server} stays, with its user mappings: vecdash reused it but did not create "
                              f"it (drop it yourself once nothing needs it)")
        else:
            plan.steps += drop_server_steps(state, server)
    return plan
