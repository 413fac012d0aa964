"""What a wiring is made from, as read: the primary's catalog (`PrimaryState`, in the model's types), a
pod's address and credentials as libpq resolved them (`Target`), the shape of a pod's table
(`RemoteCollection`), and the existing wiring of one collection (`locate`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo

from vecdash.config import PodConfig
from vecdash.db.pods import PodClient
from vecdash.db.wiring_sql import PRIMARY_STATE_SQL, REMOTE_TABLE_SQL
from vecdash.errors import PodUnavailable
from vecdash.model import Column, ForeignServer, ForeignTable, Index, UserMapping, View
from vecdash.service import catalog, endpoints
from vecdash.service.endpoints import IdentityUnknown, Reach
from vecdash.service.wiring import fast_path
from vecdash.service.wiring.fast_path import FastPath
from vecdash.service.wiring.names import WiringError, pod_ident

# libpq options of a pod's DSN that describe the server (not the user) and that postgres_fdw accepts
SERVER_DSN_OPTIONS = ("hostaddr", "sslmode", "sslrootcert", "sslcrl", "sslnegotiation", "gssencmode",
                      "target_session_attrs", "connect_timeout", "channel_binding", "krbsrvname")


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
    columns: list[Column]
    indexes: list[Index]

    @property
    def exists(self) -> bool:
        return self.relkind is not None

    def vector_columns(self) -> list[Column]:
        return [c for c in self.columns if c.from_vector or (c.typname == "bit" and c.typschema == "pg_catalog")]

    def main_vector(self) -> Column | None:
        vcols = self.vector_columns()
        return next((c for c in vcols if c.name == "vec"), vcols[0] if vcols else None)

    def measure(self, column: str) -> str | None:
        for ix in self.indexes:
            if ix.column == column and ix.valid and ix.method in ("hnsw", "ivfflat") and ix.measure:
                return ix.measure
        return None


@dataclass
class PrimaryState:
    current_user: str
    schemas: set[str]
    extensions: dict[str, str]
    servers: list[ForeignServer]
    mappings: list[UserMapping]
    foreign_tables: list[ForeignTable]
    views: list[View]
    superuser: bool = False
    dblink_available: bool = False
    fast_paths: list[FastPath] = field(default_factory=list)  # vecdash's fast-path functions

    def server(self, name: str) -> ForeignServer | None:
        return next((s for s in self.servers if s.name == name), None)

    def fdw_servers(self) -> list[ForeignServer]:
        return [s for s in self.servers if s.fdw == "postgres_fdw"]

    def has_mapping(self, server: str) -> bool:
        return any(m.server == server and (m.user == self.current_user or m.public) for m in self.mappings)

    def tables_on(self, server: str) -> list[ForeignTable]:
        return [f for f in self.foreign_tables if f.server == server]

    def readers(self, schema: str, name: str) -> list[View]:
        """Views reading schema.name, directly or through other views; deepest first (drop order)."""
        out: list[View] = []
        frontier = [(schema, name)]
        seen: set[tuple[str, str]] = set()
        while frontier:
            rel = frontier.pop(0)
            for v in self.views:
                key = (v.schema, v.name)
                if v.reads_relation(*rel) and key not in seen:
                    seen.add(key)
                    out.append(v)
                    frontier.append(key)
        return list(reversed(out))

    def fast_paths_of(self, pod: str, remote: tuple[str, str]) -> list[FastPath]:
        """The fast-path functions that reach `remote` on `pod` (its `_knn` and the `_knn_all` it is part of)."""
        return [f for f in self.fast_paths if fast_path.member_of(f, pod, remote)]

    def server_tables(self) -> dict[str, list[tuple[str, str]]]:
        """Each server's foreign tables (endpoints.settle opens a connection through one of them)."""
        return {s.name: [(f.schema, f.name) for f in self.tables_on(s.name)] for s in self.servers}


def drift(ft: ForeignTable, remote: RemoteCollection) -> str | None:
    """What no longer matches between a foreign table and the remote table (None when in step)."""
    rcols = {c.remote_name: c for c in ft.columns}
    remote_cols = {c.name: c for c in remote.columns}
    for local_name, col in rcols.items():
        rc = remote_cols.get(local_name)
        if rc is None:
            return f"column {local_name} is gone from the pod"
        if rc.from_vector and (rc.typname != col.typname or rc.typmod != col.typmod):
            return f"{local_name} is {col.type.split('.')[-1]} here but {rc.type.split('.')[-1]} on the pod"
    return None


def primary_of(client: PodClient) -> PodConfig:
    primary = client.config.primary
    if primary is None:
        raise WiringError("no primary pod in the config: mark the pod that reads the others with `role: primary`")
    return primary


async def read_primary(client: PodClient, primary: PodConfig) -> PrimaryState:
    async def work(conn: psycopg.AsyncConnection) -> dict[str, Any]:
        cur = await conn.execute(PRIMARY_STATE_SQL)
        return (await cur.fetchone())[0]

    doc = await client.run(primary, work)
    return PrimaryState(current_user=doc["current_user"], schemas=set(doc["schemas"] or []),
                        extensions=doc["extensions"] or {},
                        servers=[catalog.foreign_server(s) for s in doc["servers"]],
                        mappings=[catalog.user_mapping(m) for m in doc["mappings"]],
                        foreign_tables=[catalog.foreign_table(f) for f in doc["foreign_tables"]],
                        views=[catalog.view(v) for v in doc["views"]], superuser=bool(doc.get("superuser")),
                        dblink_available=bool(doc.get("dblink_available")),
                        fast_paths=[fp for f in doc.get("fast_paths") or []
                                    if (fp := fast_path.parse(f["schema"], f["name"], f["comment"])) is not None])


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
                                             columns=[catalog.column(c) for c in d["columns"] or []],
                                             indexes=[catalog.index(i) for i in d["indexes"] or []])
                    for (s, n), d in zip(names, docs)}


async def server_reaches(client: PodClient, primary: PodConfig, state: PrimaryState, pod: PodConfig,
                         target: Target | None) -> dict[str, Reach]:
    """For each postgres_fdw server on the primary: does it reach `pod`?"""
    return await reaches_among(client, primary, state, [pod], {pod.name: target} if target is not None else {})


async def reaches_among(client: PodClient, primary: PodConfig, state: PrimaryState, candidates: list[PodConfig],
                        targets: dict[str, Target]) -> dict[str, Reach]:
    """For each postgres_fdw server on the primary: which of `candidates` it reaches (`endpoints.settle`: by
    address, the live session's where the pod answered (`targets`), else by asking those pods; else unknown)."""
    pods = endpoints.with_sessions(endpoints.config_pods(client.config), {n: t.endpoint() for n, t in targets.items()})
    return await endpoints.settle(client, primary, state.fdw_servers(), pods, tables=state.server_tables(),
                                  only=[p.name for p in candidates], reachable=[client.pod(n) for n in targets])


@dataclass
class Located:
    primary: PodConfig
    state: PrimaryState
    target: Target | None
    remote: RemoteCollection | None
    remote_error: str | None
    servers: list[str]
    tables: list[ForeignTable]
    doubtful: list[ForeignTable] = field(default_factory=list)  # read it through a server of unknown reach
    reaches: dict[str, Reach] = field(default_factory=dict)

    def refuse_doubtful(self, pod: str, what: str) -> None:
        """Raise IdentityUnknown when the only candidates are foreign tables whose server's reach is unknown."""
        if not self.tables and self.doubtful:
            ft = self.doubtful[0]
            raise IdentityUnknown(f"{ft.schema}.{ft.name} reads {ft.remote_schema}.{ft.remote_table} through "
                                  f"server {ft.server}, and vecdash cannot tell whether it reaches pod {pod} "
                                  f"({self.reaches[ft.server].why}): {what}")


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
    tables = [f for f in state.foreign_tables if f.server in servers and f.remote == (schema, name)]
    tables.sort(key=lambda f: (f.schema != pod_ident(pod), f.schema, f.name))
    doubtful = [f for f in state.foreign_tables if f.server in unknown and f.remote == (schema, name)]
    return Located(primary, state, target, remote, error, servers, tables, doubtful, reaches)
