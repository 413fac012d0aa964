"""Which pod a foreign server reaches, decided the way libpq connects (no server needed for these).

Socket directory + port, addresses + port (loopback names equal each other, never a socket), and the
database (a server without dbname reaches its mapping user's database). What the address cannot
decide is "unknown", never a guess; routing and the console's labels use this same answer.
"""

from __future__ import annotations

import socket

import pytest

from vecdash.config import Config, PodConfig, Settings
from vecdash.model import ForeignServer
from vecdash.service import stats
from vecdash.service.endpoints import OTHER, SAME, UNKNOWN, compare, config_pods, endpoint, pod_of_server, reach


def _config(*dsns: tuple[str, str]) -> Config:
    pods = tuple(PodConfig(name=n, role="primary" if i == 0 else "secondary", dsn=d) for i, (n, d) in enumerate(dsns))
    return Config(pods=pods, settings=Settings(), path="t.yaml")


def _pod(dsn: str):
    return config_pods(_config(("primary", "postgresql://postgres@127.0.0.1:5500/postgres"), ("p", dsn))).of("p")


# (server options, mapping user, pod DSN, verdict)
CASES = [
    # socket directories: the path is the address
    ({"host": "/run/a", "port": "5432", "dbname": "app"}, None, "host=/run/a port=5432 dbname=app", SAME),
    ({"host": "/run/a/", "port": "5432", "dbname": "app"}, None, "host=/run//a port=5432 dbname=app", SAME),
    ({"host": "/run/a", "port": "5432", "dbname": "app"}, None, "host=/run/b port=5432 dbname=app", OTHER),
    ({"host": "/run/a", "port": "5432", "dbname": "app"}, None, "host=/run/a port=5433 dbname=app", OTHER),
    ({"host": "/run/a", "port": "5432", "dbname": "app"}, None, "host=/run/a port=5432 dbname=other", OTHER),
    # loopback names are one address, never a socket directory
    ({"host": "127.0.0.1", "port": "5501", "dbname": "app"}, None, "host=localhost port=5501 dbname=app", SAME),
    ({"host": "::1", "port": "5501", "dbname": "app"}, None, "postgresql://u@127.0.0.1:5501/app", SAME),
    ({"host": "localhost", "port": "5501", "dbname": "app"}, None, "postgresql://u@[::1]:5501/app", SAME),
    ({"hostaddr": "127.0.0.1", "host": "db.invalid", "port": "5501", "dbname": "app"}, None,
     "host=localhost port=5501 dbname=app", SAME),
    ({"host": "/tmp", "port": "5501", "dbname": "app"}, None, "host=127.0.0.1 port=5501 dbname=app", UNKNOWN),
    ({"host": "/tmp", "port": "5501", "dbname": "app"}, None, "host=127.0.0.1 port=5502 dbname=app", OTHER),
    ({"host": "127.0.0.1", "port": "5501", "dbname": "app"}, None, "host=127.0.0.1 port=5502 dbname=app", OTHER),
    # the default port and case-insensitive names
    ({"host": "DB.invalid", "dbname": "v"}, None, "postgresql://u@db.invalid/v", SAME),
    ({"host": "db.invalid", "port": "5433", "dbname": "v"}, None, "postgresql://u@db.invalid/v", OTHER),
    # an unresolvable name cannot be compared with an address
    ({"host": "db.invalid", "port": "5432", "dbname": "v"}, None, "postgresql://u@10.1.2.3/v", UNKNOWN),
    # the database: unset means the mapping user's name; no user known, no database known
    ({"host": "127.0.0.1", "port": "5501"}, "app", "host=127.0.0.1 port=5501 dbname=app", SAME),
    ({"host": "127.0.0.1", "port": "5501"}, "postgres", "host=127.0.0.1 port=5501 dbname=app", OTHER),
    ({"host": "127.0.0.1", "port": "5501"}, None, "host=127.0.0.1 port=5501 dbname=app", UNKNOWN),
    ({"host": "127.0.0.1", "port": "5501", "dbname": "app"}, None, "host=127.0.0.1 port=5501 user=app", SAME),
    # what libpq decides only at connect time: service files, several hosts, no host
    ({"service": "vectors"}, None, "host=127.0.0.1 port=5432 dbname=v", UNKNOWN),
    ({"host": "127.0.0.1", "port": "5432", "dbname": "v"}, None, "service=vectors", UNKNOWN),
    ({"host": "127.0.0.1,10.0.0.2", "port": "5432", "dbname": "v"}, None, "host=127.0.0.1 port=5432 dbname=v", UNKNOWN),
    ({"port": "5432", "dbname": "v"}, None, "host=/tmp port=5432 dbname=v", UNKNOWN),
]


@pytest.mark.parametrize(("options", "user", "dsn", "verdict"), CASES)
def test_an_endpoint_compares_the_way_libpq_connects(options, user, dsn, verdict):
    assert compare(endpoint(options, user), _pod(dsn)) == verdict


def test_names_that_resolve_to_one_address_match():
    name = socket.gethostname()
    try:
        addr = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)[0][4][0]
    except OSError:
        pytest.fail(f"this machine's own name {name!r} does not resolve")
    a = endpoint({"host": name, "port": "5432", "dbname": "v"})
    assert compare(a, endpoint({"host": addr, "port": "5432", "dbname": "v"})) == SAME
    assert compare(a, endpoint({"host": "/tmp", "port": "5432", "dbname": "v"})) in (UNKNOWN, OTHER)


@pytest.mark.parametrize("server_host", ["localhost", "127.0.0.1", "::1", "/tmp/sock"])
def test_a_loopback_or_socket_server_on_a_remote_primary_is_unknown(server_host):
    """Its address names the primary's machine, not vecdash's: nothing here can compare with it."""
    config = _config(("primary", "postgresql://postgres@db1.invalid:5432/postgres"),
                     ("a", "postgresql://postgres@127.0.0.1:5432/app"))
    server = ForeignServer("s", "postgres_fdw", {"host": server_host, "port": "5432", "dbname": "app"})
    r = pod_of_server(config, server)
    assert (r.pod, r.unknown) == (None, True)


CONFIG = _config(("primary", "postgresql://postgres@127.0.0.1:5500/postgres"),
                 ("a", "host=/tmp/pods/a port=5501 dbname=app user=postgres"),
                 ("b", "host=/tmp/pods/b port=5501 dbname=app user=postgres"),
                 ("c", "host=localhost port=5502 dbname=app user=postgres"),
                 ("d", "host=localhost port=5502 dbname=other user=postgres"))


@pytest.mark.parametrize(("options", "mapping_user", "pod", "decided"), [
    ({"host": "/tmp/pods/a", "port": "5501", "dbname": "app"}, None, "a", True),
    ({"host": "/tmp/pods/b", "port": "5501", "dbname": "app"}, None, "b", True),  # only the socket dir differs
    ({"host": "/tmp/pods/b/", "port": "5501"}, "app", "b", True),
    ({"host": "127.0.0.1", "port": "5502", "dbname": "app"}, None, "c", True),
    ({"host": "::1", "port": "5502", "dbname": "other"}, None, "d", True),  # only the database differs
    ({"host": "::1", "port": "5502"}, "other", "d", True),
    ({"host": "/tmp/pods/c", "port": "5502", "dbname": "app"}, None, None, False),  # a socket of c's server?
    ({"host": "/tmp/pods/z", "port": "5501", "dbname": "app"}, None, None, True),  # a third server
    ({"host": "127.0.0.1", "port": "5599", "dbname": "app"}, None, None, True),
    ({"host": "127.0.0.1", "port": "5502"}, None, None, False),  # which database? nobody can say
])
def test_routing_and_console_agree_on_the_pod_a_server_reaches(options, mapping_user, pod, decided):
    server = ForeignServer("s", "postgres_fdw", options, mapping_user=mapping_user)
    r = pod_of_server(CONFIG, server)
    assert (r.pod, r.decided) == (pod, decided)
    assert stats.server_reach(server, stats.pod_endpoints(CONFIG)) == r
    assert reach(options, mapping_user, config_pods(CONFIG)) == r
    assert r.label() == (pod if pod else "no configured pod" if decided else "an unknown pod (cannot tell)")


def test_a_pod_given_by_service_name_makes_unmatched_servers_unknown():
    config = _config(("primary", "postgresql://postgres@127.0.0.1:5500/postgres"), ("svc", "service=vectors"))
    r = pod_of_server(config, ForeignServer("s", "postgres_fdw", {"host": "10.9.9.9", "port": "5432", "dbname": "x"}))
    assert (r.pod, r.unknown) == (None, True)
