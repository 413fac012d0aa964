"""Which configured pod a postgres_fdw foreign server reaches: one answer for routing, wiring and the console.

A server and a pod are the same endpoint when host, port and database agree. Hosts are compared
loosely where libpq would reach the same server: `localhost`, `127.0.0.1`, `::1`, an empty host and a
socket directory are all "this machine". A database left unset (libpq then uses the user name) matches
any. Pods given only by a `service:` name have no endpoint here (the service file is libpq's business).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

import psycopg
from psycopg import conninfo as pg_conninfo

from vecdash.config import Config, PodConfig
from vecdash.model import ForeignServer

Endpoint = tuple[str, str, str | None]  # (normalised host, port, dbname or None)


def norm_host(host: str | None) -> str:
    h = (host or "").split(",")[0].strip().lower()
    if not h or h.startswith("/") or h in ("localhost", "127.0.0.1", "::1"):
        return "local"
    return h


def options_endpoint(options: Mapping[str, str | None]) -> Endpoint:
    """The endpoint of a foreign server's options (or of a conninfo dict)."""
    host = options.get("host") or options.get("hostaddr")
    return norm_host(str(host or "")), str(options.get("port") or "5432"), options.get("dbname") or options.get("user")


def pod_endpoint(pod: PodConfig) -> Endpoint | None:
    try:
        params = pg_conninfo.conninfo_to_dict(pod.conninfo)
    except psycopg.ProgrammingError:
        return None
    if "host" not in params and "hostaddr" not in params and "service" in params:
        return None
    return options_endpoint({k: (str(v) if v is not None else None) for k, v in params.items()})


def same_endpoint(a: Endpoint, b: Endpoint) -> bool:
    return a[:2] == b[:2] and (a[2] is None or b[2] is None or a[2] == b[2])


def pod_endpoints(config: Config) -> list[tuple[Endpoint, str]]:
    """Each configured pod's endpoint with its name, in config order."""
    return list(_pod_endpoints(config))


@functools.lru_cache(maxsize=16)
def _pod_endpoints(config: Config) -> tuple[tuple[Endpoint, str], ...]:
    # libpq parses each DSN (~136 us a pod measured); routing asks once per foreign server per query, so
    # parse once per config
    return tuple((ep, pod.name) for pod in config.pods if (ep := pod_endpoint(pod)) is not None)


def server_pod(server: ForeignServer, endpoints: Iterable[tuple[Endpoint, str]]) -> str | None:
    """The pod a foreign server reaches, from `pod_endpoints(config)`; None when no pod matches."""
    want = options_endpoint(server.options)
    return next((name for ep, name in endpoints if same_endpoint(ep, want)), None)


def pod_of_server(config: Config, server: ForeignServer) -> str | None:
    return server_pod(server, _pod_endpoints(config))
