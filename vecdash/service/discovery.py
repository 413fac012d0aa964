"""`pods_from_primary`: the primary's postgres_fdw servers become pods, read before a command or the
console starts.

A discovered pod connects with the server's own libpq options (host, port, dbname, sslmode, ...) and
nothing from its user mappings: the credentials are the ones libpq finds for vecdash's user (.pgpass,
PG* variables, a service file), as for any configured pod. A server that already is a pod is skipped:
one of the same name (explicit `pods:` and service pods win), one vecdash's own wiring made for a
configured pod, or one that reaches a configured pod (service.endpoints decides). Discovery that
fails (primary down, hung, refusing) leaves the configured pods as they are and says so in one note; a
primary that did not answer at all is also recorded (`Config.unanswered`), so that `status` reports it
down with that reason at once instead of waiting out a second timeout on it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fnmatch
import re
from dataclasses import replace

import psycopg
from psycopg import conninfo as pg_conninfo

from vecdash.config import NAME_RE, NAME_RULE, Config, PodConfig
from vecdash.db.connect import pod_error
from vecdash.db.discovery_sql import FDW_SERVERS_SQL
from vecdash.db.pods import PodClient
from vecdash.errors import PodError, PodUnavailable
from vecdash.lines import one_line
from vecdash.model import ForeignServer
from vecdash.secrets import SECRET_OPTION_NAMES
from vecdash.services_file import libpq_keywords

# libpq options of a server that are not where to connect: never carried to the discovered pod
NOT_CARRIED = SECRET_OPTION_NAMES | {"user", "client_encoding", "fallback_application_name", "replication"}


async def read_servers(client: PodClient, primary: PodConfig) -> list[ForeignServer]:
    """The primary's postgres_fdw servers (options without credentials), one bounded call."""
    from vecdash.service.catalog import foreign_server

    async def work(conn: psycopg.AsyncConnection) -> list[ForeignServer]:
        cur = await conn.execute(FDW_SERVERS_SQL)
        names = [d.name for d in cur.description]
        return [foreign_server(dict(zip(names, row))) for row in await cur.fetchall()]

    try:
        return await client.run(primary, work)
    except psycopg.Error as exc:
        raise pod_error(exc, primary, "reading its foreign servers") from None


async def discover(config: Config, client: PodClient) -> Config:
    """`config` with a pod for each of the primary's foreign servers that `pods_from_primary` matches."""
    primary = config.primary
    if not config.from_primary or primary is None:
        return config
    try:
        servers = await read_servers(client, primary)
    except PodError as exc:
        note = f"pods_from_primary: discovery failed, only the configured pods are shown: {exc}"
        config = replace(config, notes=config.notes + (one_line(note),))
        if isinstance(exc, PodUnavailable):  # not reached at all (a refusal is an answer: the primary is up)
            config = replace(config, unanswered=config.unanswered + ((primary.name, exc.reason),))
        return config
    found, notes = discovered_pods(config, servers)
    return replace(config, pods=config.pods + tuple(found), notes=config.notes + tuple(notes))


def discovered_pods(config: Config, servers: list[ForeignServer]) -> tuple[list[PodConfig], list[str]]:
    """The pods `servers` add to `config` (server order), and the notes that go with them."""
    from vecdash.service import endpoints
    from vecdash.service.wiring.statements import SERVER_MARK

    configured = {p.name for p in config.pods}
    marks = {f"{SERVER_MARK} {name}" for name in configured}
    pods = endpoints.config_pods(config)
    chosen: list[tuple[ForeignServer, tuple[str, ...]]] = []
    for server in servers:
        sources = [s for s in config.from_primary if fnmatch.fnmatchcase(server.name, s.match)]
        if not sources or server.name in configured or (server.comment or "") in marks:
            continue
        if endpoints.server_reach(server, pods).pod is not None:
            continue
        chosen.append((server, tuple(dict.fromkeys(t for s in sources for t in s.tags))))
    taken = configured | {s.name for s, _ in chosen if NAME_RE.match(s.name)}
    found, notes = [], []
    for server, tags in chosen:
        name = server.name
        if not NAME_RE.match(name):
            name = derived_name(name, taken)
            taken.add(name)
            notes.append(f"pods_from_primary: foreign server {server.name!r} is pod {name} (a pod {NAME_RULE})")
        options = server_options(server)
        if "dbname" not in options and "service" not in options:
            notes.append(f"pods_from_primary: foreign server {server.name!r} names no dbname: pod {name} "
                         f"connects to libpq's default database")
        found.append(PodConfig(name=name, dsn=pg_conninfo.make_conninfo(**options), tags=tags))
    return found, [one_line(n) for n in notes]


def server_options(server: ForeignServer) -> dict[str, str]:
    """The libpq options of a server that say where to connect (postgres_fdw's own and credentials dropped)."""
    known = libpq_keywords()
    return {k: v for k, v in server.options.items() if k in known and k not in NOT_CARRIED}


def derived_name(server: str, taken: set[str]) -> str:
    """A valid pod name for a server name that is not one, unique among `taken`."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", server).lstrip(".-")[:63] or "server"
    name, n = base, 1
    while name in taken:
        n += 1
        suffix = f"-{n}"
        name = base[:63 - len(suffix)] + suffix
    return name


async def _discover_alone(config: Config) -> Config:
    client = PodClient(config)
    try:
        return await discover(config, client)
    finally:
        await client.close()


def discover_now(config: Config) -> Config:
    """`discover` for a caller that is not async (or runs inside a loop it cannot await from: the CLI's
    config loading): in a loop of its own, with its own short-lived client, bounded like any call."""
    if not config.from_primary:
        return config
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_discover_alone(config))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _discover_alone(config)).result()
