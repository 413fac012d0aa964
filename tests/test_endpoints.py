"""One answer to "which pod does this foreign server reach", shared by routing, wiring and the console.

Before it was shared, the console's stats treated a socket-directory host as another machine while
the query engine treated it as this one, so the two disagreed about the same server.
"""

from __future__ import annotations

import pytest

from vecdash.config import Config, PodConfig, Settings
from vecdash.model import ForeignServer
from vecdash.service import stats
from vecdash.service.endpoints import pod_endpoints, pod_of_server, server_pod
from vecdash.service.wiring import Target


def _config(*dsns: tuple[str, str]) -> Config:
    pods = tuple(PodConfig(name=n, role="primary" if i == 0 else "secondary", dsn=d) for i, (n, d) in enumerate(dsns))
    return Config(pods=pods, settings=Settings(), path="t.yaml")


CONFIG = _config(("primary", "postgresql://postgres@127.0.0.1:5500/postgres"),
                 ("a", "host=localhost port=5501 dbname=app user=postgres"),
                 ("b", "postgresql://postgres@db.example.org:5432/vectors"))


@pytest.mark.parametrize(("options", "pod"), [
    ({"host": "127.0.0.1", "port": "5501", "dbname": "app"}, "a"),
    ({"host": "::1", "port": "5501", "dbname": "app"}, "a"),
    ({"host": "/tmp/vecdash-sock", "port": "5501", "dbname": "app"}, "a"),  # a socket directory: this machine
    ({"host": "localhost", "port": "5501"}, "a"),  # no dbname on the server: any database on that endpoint
    ({"host": "127.0.0.1", "port": "5501", "dbname": "other"}, None),
    ({"host": "DB.example.org", "dbname": "vectors"}, "b"),  # default port, host case-insensitive
    ({"host": "db.example.org", "port": "5433", "dbname": "vectors"}, None),
    ({"hostaddr": "127.0.0.1", "port": "5500", "dbname": "postgres"}, "primary"),
])
def test_routing_and_console_agree_on_the_pod_a_server_reaches(options, pod):
    server = ForeignServer("s", "postgres_fdw", options)
    assert pod_of_server(CONFIG, server) == pod
    assert server_pod(server, pod_endpoints(CONFIG)) == pod
    assert stats.server_pod(server, stats.pod_endpoints(CONFIG)) == pod


def test_a_pod_given_by_service_name_has_no_endpoint():
    config = _config(("primary", "postgresql://postgres@127.0.0.1:5500/postgres"), ("svc", "service=vectors"))
    assert [name for _, name in pod_endpoints(config)] == ["primary"]


def test_wiring_reuses_a_server_without_dbname_only_for_the_mapping_users_database():
    target = Target(pod="a", host="localhost", port="5501", dbname="app", user="postgres")
    assert target.matches({"host": "/tmp/sock", "port": "5501", "dbname": "app"})
    assert not target.matches({"host": "127.0.0.1", "port": "5501"})  # libpq would open database "postgres"
    assert Target(pod="a", host="localhost", port="5501", dbname="postgres", user="postgres").matches(
        {"host": "127.0.0.1", "port": "5501"})
