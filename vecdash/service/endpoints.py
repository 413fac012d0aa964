"""Which configured pod a postgres_fdw foreign server reaches: decided, never guessed.

One function, `reach`, answers it for routing, wiring, unwire, verify, the doctor and the console.
It compares endpoints the way libpq connects: a socket directory path + port, or a host's addresses
+ port (names that resolve to a common address match; every loopback name matches every other, never
a socket directory), and the database (unset: libpq uses the user name, which for a server comes from
its user mapping). A pod's DSN is filled in as libpq fills it (`dsn_endpoint`: its service's entry,
then the PG* variables). Where the address cannot decide (a foreign server's `service` name, a pod's
service entry that is missing or that libpq refuses, an unresolvable or multi-host address, TCP on one
side and a socket on the other, a loopback address seen from another machine, a database nobody can
name) the answer is "unknown": callers never reuse, rewire or drop on it.

`ask_servers` settles an unknown answer by asking the servers themselves, where that is cheap and
allowed: the primary opens a fresh connection through the foreign server carrying a one-time
application_name, the remote session reports its own database (seen through the foreign server) and
the pod reports whether it holds that session (seen from the pod: any role may read other sessions'
application_name and database in pg_stat_activity).
"""

from __future__ import annotations

import concurrent.futures
import functools
import getpass
import ipaddress
import os
import secrets as _random
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from vecdash.config import Config, PodConfig
from vecdash.errors import PodUnavailable, UserError
from vecdash.model import ForeignServer
from vecdash.services_file import WHERE_KEYS, ServiceFiles, files_stamp, read_service_files

SAME, OTHER, UNKNOWN = "same", "other", "unknown"
LOOPBACK = "loopback"  # every loopback address and name, as one address
RESOLVE_TIMEOUT_S = 1.0  # a name that takes longer to resolve is unresolvable (the answer is then "unknown")


class IdentityUnknown(UserError):
    """vecdash cannot tell which pod a foreign server reaches, so it refuses to reuse or drop it.

    Exit 1: the input is fine; the servers could not be asked or did not tell (the error contract's
    "a pod or server refused, failed or did not answer").
    """

    exit_code = 1


@dataclass(frozen=True)
class Endpoint:
    """Where libpq connects. kind: socket (where = directory) | tcp (addresses) | unknown (why)."""

    kind: str
    where: str = ""
    port: str = ""
    addresses: frozenset[str] = frozenset()
    dbname: str | None = None  # None: nobody can name it

    def describe(self) -> str:
        db = self.dbname or "?"
        return f"{self.where}:{self.port}/{db}" if self.kind != "unknown" else f"({self.where})"


@dataclass(frozen=True)
class Reach:
    """The answer: `pod` when decided that it reaches that configured pod; `decided` False = unknown."""

    pod: str | None
    decided: bool = True
    why: str = ""

    @property
    def unknown(self) -> bool:
        return not self.decided

    def label(self) -> str:
        if self.pod is not None:
            return self.pod
        return "an unknown pod (cannot tell)" if self.unknown else "no configured pod"


# --- resolving names --------------------------------------------------------------------------------

_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="vecdash-resolve")


@functools.lru_cache(maxsize=256)
def resolve(host: str) -> frozenset[str] | None:
    """The addresses a host name stands for (loopback ones as LOOPBACK); None when it does not resolve
    within RESOLVE_TIMEOUT_S. Cached: a name is resolved once per process (`warm` does it off the UI)."""
    literal = _literal(host)
    if literal is not None:
        return literal
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return frozenset({LOOPBACK})
    try:
        infos = _resolver.submit(socket.getaddrinfo, host, None, 0, socket.SOCK_STREAM).result(RESOLVE_TIMEOUT_S)
    except (OSError, UnicodeError, concurrent.futures.TimeoutError):
        return None
    out: set[str] = set()
    for info in infos:
        out |= _literal(str(info[4][0]).split("%")[0]) or set()
    return frozenset(out) or None


def _literal(text: str) -> frozenset[str] | None:
    try:
        ip = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    return frozenset({LOOPBACK if ip.is_loopback else str(ip)})


def warm(hosts: Iterable[str], config: Config | None = None) -> None:
    """Resolve these names (and the config's pods) now, off the UI thread: later `reach` calls hit the cache."""
    for h in set(hosts):
        if h and not h.startswith(("/", "@")) and "," not in h:
            resolve(h.lower())
    if config is not None:
        config_pods(config)


# --- endpoints --------------------------------------------------------------------------------------


def endpoint(options: Mapping[str, Any], user: str | None = None) -> Endpoint:
    """The endpoint of libpq options (a foreign server's, a DSN's or a live session's), given the user
    the connection logs in as (for a foreign server: its user mapping's `user`; None when unknown)."""
    opts = {k: str(v) for k, v in options.items() if v is not None and str(v) != ""}
    if "service" in opts:
        # Only a foreign server's options get here with a service (a pod's DSN is filled in first, by
        # `dsn_endpoint`): the primary's server process looks it up, in its own service file (its own
        # PGSERVICEFILE, its OS user's home, its sysconfdir), which vecdash cannot read. `ask_servers`
        # may still settle it; reading vecdash's own file instead would be a guess.
        return Endpoint("unknown", "a service name: the primary's service file decides")
    host, hostaddr, port = opts.get("host", ""), opts.get("hostaddr", ""), opts.get("port", "5432")
    if "," in host or "," in hostaddr or "," in port:
        return Endpoint("unknown", "several hosts: libpq picks one at connect time")
    if not port.isdigit():
        return Endpoint("unknown", f"port {port!r}")
    dbname = opts.get("dbname") or opts.get("user") or user
    if hostaddr:
        addrs = _literal(hostaddr)
        if addrs is None:
            return Endpoint("unknown", f"hostaddr {hostaddr!r}")
        return Endpoint("tcp", hostaddr, port, addrs, dbname)
    if not host:
        return Endpoint("unknown", "no host: libpq's default socket directory of that machine")
    if host.startswith("/") or host.startswith("@"):
        return Endpoint("socket", os.path.normpath(host) if host.startswith("/") else host, port, dbname=dbname)
    name = host.lower()
    addrs = resolve(name)
    if addrs is None:
        # the same name on both sides still matches (libpq resolves it the same way); nothing else can
        return Endpoint("tcp", name, port, frozenset({"name:" + name}), dbname)
    return Endpoint("tcp", name, port, addrs, dbname)


def compare(server: Endpoint, pod: Endpoint, *, primary_local: bool = True) -> str:
    """SAME, OTHER or UNKNOWN: does a foreign server (addressed from the primary's machine) reach the
    pod (addressed from vecdash's)? A loopback address or socket path in a server names the primary's
    machine, so it is comparable with vecdash's only when the primary runs here (`primary_local`)."""
    if server.kind == "unknown" or pod.kind == "unknown":
        return UNKNOWN
    if server.port != pod.port:
        return OTHER  # one postmaster listens on one port, for its sockets and TCP alike
    db_differs = server.dbname is not None and pod.dbname is not None and server.dbname != pod.dbname
    if _machine_local(server) and not primary_local:
        return OTHER if db_differs else UNKNOWN
    if server.kind != pod.kind:
        return OTHER if db_differs else UNKNOWN  # TCP and a socket may lead to the same server
    if server.kind == "socket":
        same_place = server.where == pod.where
    else:
        same_place = bool(server.addresses & pod.addresses)
        if not same_place and any(a.startswith("name:") for a in server.addresses | pod.addresses):
            return OTHER if db_differs else UNKNOWN  # an unresolvable name cannot be compared with an address
    if not same_place or db_differs:
        return OTHER
    return SAME if server.dbname is not None and pod.dbname is not None else UNKNOWN


def _machine_local(e: Endpoint) -> bool:
    return e.kind == "socket" or LOOPBACK in e.addresses


# --- the pods ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pods:
    """Every configured pod's endpoint (from its DSN, or from a live session when one was opened).
    `recorded`: a replay's answers instead (server -> pod, "" none; see `recorded_pods`)."""

    endpoints: tuple[tuple[str, Endpoint], ...]
    primary_local: bool = True
    recorded: tuple[tuple[str, str], ...] | None = None

    def of(self, name: str) -> Endpoint | None:
        return next((e for n, e in self.endpoints if n == name), None)


# libpq's environment defaults for what a DSN and its service leave out, and every variable the answer
# depends on (the cache of `config_pods` is keyed by them)
_ENV_DEFAULTS = (("host", "PGHOST"), ("hostaddr", "PGHOSTADDR"), ("port", "PGPORT"), ("dbname", "PGDATABASE"),
                 ("user", "PGUSER"))
_ENV_READ = ("PGSERVICE", "PGSERVICEFILE", "PGSYSCONFDIR", "HOME") + tuple(v for _, v in _ENV_DEFAULTS)


def dsn_endpoint(pod: PodConfig, files: ServiceFiles | None = None) -> Endpoint:
    """A pod's endpoint from its DSN alone (no session), filled in as libpq does: the DSN's own keywords
    win; then its service's entry (`service=NAME`, else PGSERVICE), found where libpq looks
    (services_file); then the PG* variables; then libpq's defaults (port 5432, the OS user). A service
    with no entry, or one libpq would refuse, leaves the endpoint unknown. Only where-to-connect values
    are read from a service file (WHERE_KEYS), never a password. `files`: already read (default: now)."""
    try:
        params = pg_conninfo.conninfo_to_dict(pod.conninfo)
    except psycopg.ProgrammingError:
        return Endpoint("unknown", "a DSN libpq cannot parse")
    opts = {k: str(params[k]) for k in WHERE_KEYS if params.get(k) is not None}  # "" is set, as for libpq
    service = params["service"] if params.get("service") is not None else os.environ.get("PGSERVICE")
    if service is not None:
        if files is None or params.get("servicefile"):
            environ = dict(os.environ)
            if params.get("servicefile"):  # a libpq that knows this keyword reads that file as the user file
                environ["PGSERVICEFILE"] = str(params["servicefile"])
            files = read_service_files(environ)
        entry = files.get(str(service))
        refused = files.refusal(str(service))
        if refused is not None:
            return Endpoint("unknown", f"service {service!r}: libpq cannot read {refused[0]} ({refused[1]})")
        if entry is None:
            return Endpoint("unknown", f"service {service!r}: no entry in {' or '.join(files.paths)}")
        if entry.problems:
            return Endpoint("unknown", f"service {service!r}: libpq refuses its entry ({entry.path}:"
                                       f"{entry.problems[0][0]})")
        for key, value in entry.where:
            opts.setdefault(key, value)
    for key, var in _ENV_DEFAULTS:
        if os.environ.get(var):
            opts.setdefault(key, os.environ[var])
    user = opts.pop("user", "") or _os_user()
    return endpoint(opts, user)


def session_endpoint(host: str | None, hostaddr: str | None, port: int | str, dbname: str) -> Endpoint:
    """The endpoint of a live session (psycopg's conn.info): exactly where libpq did connect."""
    return endpoint({"host": host, "hostaddr": hostaddr, "port": str(port), "dbname": dbname})


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry for this uid: libpq would fail as well
        return None


def config_pods(config: Config) -> Pods:
    """Every configured pod's endpoint from the config (DSNs parsed, service files read, once per config
    and environment, and while the service files keep their size and time)."""
    return _config_pods(config, tuple(os.environ.get(v) for v in _ENV_READ), files_stamp())


@functools.lru_cache(maxsize=16)
def _config_pods(config: Config, _environ: tuple[str | None, ...], _files: tuple) -> Pods:
    files = read_service_files()
    eps = tuple((p.name, dsn_endpoint(p, files)) for p in config.pods)
    primary = config.primary
    local = True
    if primary is not None:
        pe = dict(eps)[primary.name]
        local = pe.kind != "unknown" and _machine_local(pe)
    return Pods(eps, primary_local=local)


def with_sessions(pods: Pods, live: Mapping[str, Endpoint]) -> Pods:
    """`pods` with the endpoints of live sessions in place of their DSNs' (service names, PG* env)."""
    eps = tuple((n, live.get(n, e)) for n, e in pods.endpoints)
    return Pods(eps, primary_local=pods.primary_local)


# --- the one answer -----------------------------------------------------------------------------------


def reach(options: Mapping[str, Any], mapping_user: str | None, pods: Pods, *,
          only: Iterable[str] | None = None, asked: Mapping[str, str] | None = None) -> Reach:
    """The configured pod a foreign server reaches, or no pod, or unknown.

    `only`: the pods to consider (default: all); `asked`: verdicts the servers gave (`ask_servers`),
    which override the address's UNKNOWN. Two configured pods at one endpoint: the first in config order.
    """
    server = endpoint(options, mapping_user)
    names = set(only) if only is not None else None
    unknown: list[str] = []
    for name, ep in pods.endpoints:
        if names is not None and name not in names:
            continue
        verdict = compare(server, ep, primary_local=pods.primary_local)
        if verdict == UNKNOWN and asked and name in asked:
            verdict = asked[name]
        if verdict == SAME:
            return Reach(name)
        if verdict == UNKNOWN:
            unknown.append(name)
    if unknown:
        why = server.where if server.kind == "unknown" else f"{server.describe()} vs pod {unknown[0]}"
        return Reach(None, decided=False, why=why)
    return Reach(None)


def server_reach(server: ForeignServer, pods: Pods) -> Reach:
    """`reach` for a server of the topology (the console and routing); a replay's from its recording."""
    if pods.recorded is not None:
        pod = dict(pods.recorded).get(server.name)
        return Reach(pod or None) if pod is not None else Reach(None, decided=False, why="not recorded")
    return reach(server.options, server.mapping_user, pods)


def primary_reaches(topology: Any, pods: Pods) -> list[tuple[str, str]]:
    """(server, pod) for each foreign server of the primary whose pod is decided ("" none): what a
    recording keeps, since a replay has no DSN to decide it again."""
    primary = topology.primary
    out = []
    for server in primary.foreign_servers if primary is not None else ():
        r = server_reach(server, pods)
        if r.decided:
            out.append((server.name, r.pod or ""))
    return out


def recorded_pods(reaches: Mapping[str, str]) -> Pods:
    """The Pods a replay answers `server_reach` with: a recorded frame's `reaches`."""
    return Pods((), recorded=tuple(reaches.items()))


def pod_of_server(config: Config, server: ForeignServer) -> Reach:
    return server_reach(server, config_pods(config))


# --- asking the servers --------------------------------------------------------------------------------

_WHO_AM_I = "vecdash_whoami"


async def ask_servers(client: Any, primary: PodConfig, server: str, pods: Iterable[PodConfig],
                      tables: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """Ask which of `pods` a foreign server reaches: {pod: SAME | OTHER}; pods left out are unknown.

    On the primary, in one transaction that is rolled back: a fresh postgres_fdw connection with a
    one-time application_name reads the remote pg_stat_activity through a temporary foreign table (the
    remote session names its database); meanwhile each pod is asked whether it holds that session.
    In read-only mode the temporary table cannot be made: an existing foreign table of that server
    (`tables`) opens the connection, and only a pod that sees it is decided (SAME).
    """
    pods = list(pods)
    if not pods:
        return {}
    token = "vecdash-identity-" + _random.token_hex(12)

    async def seen_by(pod: PodConfig) -> str | None:
        async def work(conn: psycopg.AsyncConnection) -> str | None:
            cur = await conn.execute("select datname from pg_catalog.pg_stat_activity where application_name = %s",
                                     [token])
            row = await cur.fetchone()
            return None if row is None else (row[0] or "")

        return await client.run(pod, work)

    async def probe(conn: psycopg.AsyncConnection) -> dict[str, str]:
        try:  # a connection cached by this session would not carry the token
            await conn.execute("select postgres_fdw_disconnect_all()")
        except psycopg.Error:
            return {}
        remote_db: str | None = None
        async with conn.transaction(force_rollback=True):
            await conn.execute("select set_config('postgres_fdw.application_name', %s, true)", [token])
            try:
                async with conn.transaction():
                    await conn.execute(sql.SQL(
                        "create foreign table pg_temp.{} (application_name text, datname name) server {} "
                        "options (schema_name 'pg_catalog', table_name 'pg_stat_activity')").format(
                        sql.Identifier(_WHO_AM_I), sql.Identifier(server)))
                    cur = await conn.execute(sql.SQL("select datname from pg_temp.{} where application_name = %s").format(
                        sql.Identifier(_WHO_AM_I)), [token])
                    row = await cur.fetchone()
                    if row is None:  # the remote did not take the token (an older postgres_fdw, a pooler)
                        return {}
                    remote_db = row[0]
            except psycopg.Error:
                opened = False
                for schema, name in tables:  # read-only, or no right to create: an existing table
                    try:
                        async with conn.transaction():
                            await conn.execute(sql.SQL("select from {} limit 1").format(sql.Identifier(schema, name)))
                        opened = True
                        break
                    except psycopg.Error:
                        continue
                if not opened:
                    return {}
            out: dict[str, str] = {}
            for pod in pods:
                try:
                    seen = await seen_by(pod)
                except (PodUnavailable, psycopg.Error):
                    continue
                if seen is not None:  # this pod's server holds the session: same database too?
                    own = await _pod_database(client, pod)
                    if own is not None:
                        out[pod.name] = SAME if own == seen else OTHER
                elif remote_db is not None:
                    out[pod.name] = OTHER  # the token reached a server, and this pod's does not hold it
            return out

    timeout = client.config.settings.call_timeout_s * (2 + len(pods))
    try:
        return await client.run(primary, probe, timeout=timeout)
    except (PodUnavailable, psycopg.Error):
        return {}


async def _pod_database(client: Any, pod: PodConfig) -> str | None:
    async def work(conn: psycopg.AsyncConnection) -> str:
        return conn.info.dbname

    try:
        return await client.run(pod, work)
    except (PodUnavailable, psycopg.Error):
        return None


async def settle(client: Any, primary: PodConfig, servers: Iterable[ForeignServer], pods: Pods, *,
                 tables: Mapping[str, Iterable[tuple[str, str]]] | None = None,
                 only: Iterable[str] | None = None, reachable: Iterable[PodConfig] = ()) -> dict[str, Reach]:
    """`reach` for each of the primary's servers, asking the servers (`ask_servers`, through one of their
    `tables` when read-only) where the address cannot decide. `reachable`: the pods that can be asked."""
    only = list(only) if only is not None else None
    tables = tables or {}
    askable = [p for p in reachable if only is None or p.name in only]
    out: dict[str, Reach] = {}
    for s in servers:
        r = reach(s.options, s.mapping_user, pods, only=only)
        if r.unknown and askable:
            server = endpoint(s.options, s.mapping_user)
            doubtful = [p for p in askable if (e := pods.of(p.name)) is not None
                        and compare(server, e, primary_local=pods.primary_local) == UNKNOWN]
            asked = await ask_servers(client, primary, s.name, doubtful, tables.get(s.name) or ())
            r = reach(s.options, s.mapping_user, pods, only=only, asked=asked)
        out[s.name] = r
    return out
