"""Pods declared by a libpq service (`service=NAME`, `pods_from_services`) matched with the foreign servers
that reach them: their endpoint is filled in from the service file libpq would read, the DSN's own
keywords first. A missing or refused entry stays unknown; a server's own `service` is the primary's to
resolve. Real service files, real pods; the file's password never shows.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from psycopg import sql

from vecdash.config import Config, PodConfig, Settings, parse_config
from vecdash.embedded import free_port
from vecdash.model import ForeignServer, PodStatus, Topology
from vecdash.service import stats
from vecdash.service.endpoints import config_pods, dsn_endpoint, pod_of_server, primary_reaches

from .conftest import TEST_PASSWORD
from .test_bad_input import cli
from .test_discovery import FILE_SECRET, services, write  # noqa: F401 (services: the fixture)

UNKNOWN_LABEL = "an unknown pod (cannot tell)"


@pytest.fixture
def service_servers(estate, services, tmp_path):
    """A service file with vec-a (vectors-a), vec-down (nothing listens there) and old-b (vectors-b's
    entry with a stale port); on the primary a server to each place and one naming a service; a config
    with the primary, pod `moved` = `service=old-b port=<vectors-b's>` and pods_from_services 'vec-*'."""
    user, _ = services
    a, b = estate.pods["vectors-a"].port, estate.pods["vectors-b"].port
    down = free_port()
    write(user, f"[vec-a]\nhost=127.0.0.1\nport={a}\ndbname=postgres\nuser=postgres\npassword={TEST_PASSWORD}\n"
                f"[vec-down]\nhost=127.0.0.1\nport={down}\ndbname=postgres\nuser=postgres\npassword={FILE_SECRET}\n"
                f"[old-b]\nhost=127.0.0.1\nport=1\ndbname=postgres\nuser=postgres\npassword={TEST_PASSWORD}\n")
    u = uuid.uuid4().hex[:6]
    servers = {f"svc_{u}_a": {"host": "127.0.0.1", "port": str(a), "dbname": "postgres"},
               f"svc_{u}_b": {"host": "127.0.0.1", "port": str(b), "dbname": "postgres"},
               f"svc_{u}_down": {"host": "localhost", "port": str(down), "dbname": "postgres"},
               f"svc_{u}_named": {"service": "vec-a"}}  # the primary's own service file decides this one
    estate.sql("primary", "create extension if not exists postgres_fdw")
    for name, options in servers.items():
        opts = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(k), sql.Literal(v)) for k, v in options.items())
        estate.sql("primary", sql.SQL("create server {} foreign data wrapper postgres_fdw options ({})").format(
            sql.Identifier(name), opts))
    path = write(tmp_path / "vd.yaml", (
        f"pods:\n  - name: primary\n    role: primary\n    dsn: '{estate.dsn('primary')}'\n"
        f"  - name: moved\n    dsn: 'service=old-b port={b}'\n"
        "pods_from_services: 'vec-*'\n"
        "settings: {connect_timeout_s: 2, statement_timeout_ms: 2000}\n"))
    yield u, path
    for name in servers:
        estate.sql("primary", sql.SQL("drop server if exists {} cascade").format(sql.Identifier(name)))


def test_the_pod_a_service_declares_is_named_behind_its_foreign_server(capsys, estate, service_servers):
    u, path = service_servers
    code, out, err = cli(capsys, "status", "--json", "--config", str(path))
    pods = {p["name"]: p for p in json.loads(out)["pods"]}
    # libpq itself connects `moved` on its DSN's port, not its entry's: the endpoint below follows it
    assert list(pods) == ["primary", "moved", "vec-a", "vec-down"] and code == 1, err
    assert pods["vec-a"]["up"] and pods["moved"]["up"] and not pods["vec-down"]["up"], out
    primary = next(p for p in pods.values() if p["role"] == "primary")
    servers = {s["name"]: ForeignServer(s["name"], s["fdw"], s["options"]) for s in primary["foreign_servers"]
               if s["name"].startswith(f"svc_{u}")}

    # the console's wiring tree and routes: from the config alone
    config = parse_config(path.read_text(), str(path))
    endpoints = stats.pod_endpoints(config)
    labels = {n: stats.server_reach(s, endpoints).label() for n, s in servers.items()}
    assert labels == {f"svc_{u}_a": "vec-a", f"svc_{u}_b": "moved", f"svc_{u}_down": "vec-down",
                      f"svc_{u}_named": UNKNOWN_LABEL}, labels
    assert pod_of_server(config, servers[f"svc_{u}_a"]).pod == "vec-a"

    # a replay keeps what was decided (a recording has no service file to read again)
    topo = Topology([PodStatus("primary", "primary", up=True, foreign_servers=list(servers.values()))],
                    datetime.now(timezone.utc))
    assert dict(primary_reaches(topo, endpoints)) == {f"svc_{u}_a": "vec-a", f"svc_{u}_b": "moved",
                                                       f"svc_{u}_down": "vec-down"}

    # the doctor: each server's finding names its pod, the one that is down included
    code, out, err = cli(capsys, "doctor", "--json", "--config", str(path))
    findings = {f["subject"]: f for f in json.loads(out)["findings"] if f["subject"].startswith(f"server svc_{u}")}
    assert {s: f["pod"] for s, f in findings.items() if f["kind"] == "no_vector_pushdown"} == {
        f"server svc_{u}_a": "vec-a", f"server svc_{u}_b": "moved", f"server svc_{u}_down": "vec-down",
        f"server svc_{u}_named": None}, out
    shown = out + err + repr(endpoints) + repr(config)
    assert TEST_PASSWORD not in shown and FILE_SECRET not in shown


def test_a_service_entry_that_is_missing_or_refused_stays_unknown(services, monkeypatch):
    user, _ = services
    write(user, f"[vec-a]\nhost=10.0.0.5\nport=5433\ndbname=app\npassword={FILE_SECRET}\n"
                "[vec-bad]\nhost=10.0.0.5\nport = 5433\n")
    config = Config(pods=(PodConfig("p", role="primary", dsn="host=10.0.0.1 dbname=p"),
                          PodConfig("gone", service="vec-nope"), PodConfig("bad", service="vec-bad")),
                    settings=Settings(), path="t.yaml")
    pods = config_pods(config)
    assert pods.of("gone").kind == "unknown" and "'vec-nope'" in pods.of("gone").where
    assert pods.of("bad").kind == "unknown" and f"{user}:8" in pods.of("bad").where
    r = pod_of_server(config, ForeignServer("s", "postgres_fdw", {"host": "10.0.0.5", "port": "5433", "dbname": "app"}))
    assert (r.pod, r.unknown) == (None, True)  # either pod could be there: not "no configured pod"

    # PGSERVICE stands for a DSN's missing `service`, as in libpq; explicit keywords still win
    monkeypatch.setenv("PGSERVICE", "vec-a")
    e = dsn_endpoint(PodConfig("q", dsn="dbname=other"))
    assert (e.kind, e.where, e.port, e.dbname) == ("tcp", "10.0.0.5", "5433", "other")
    assert FILE_SECRET not in repr(e) + repr(pods) + e.describe()


def test_a_service_file_libpq_cannot_open_is_never_skipped(services, monkeypatch):
    """libpq skips a service file it cannot stat; one it stats but cannot open fails the lookup, and so
    does a user file named by PGSERVICEFILE that is missing. vecdash then says unknown (an endpoint) or
    refuses the config (pods_from_services), never takes the system file's entry in its place. A unix
    socket stats and never opens, even for root; chmod 000 is tried too where it binds (not as root)."""
    import os
    import socket
    import tempfile

    from vecdash.errors import ConfigError

    _, system = services
    write(system, "[vec-a]\nhost=10.0.0.5\nport=5433\ndbname=app\n")
    config = Config(pods=(PodConfig("a", service="vec-a"),), settings=Settings(), path="t.yaml")
    monkeypatch.delenv("PGSERVICEFILE")
    assert config_pods(config).of("a").kind == "tcp"  # no ~/.pg_service.conf: the system file's entry
    with tempfile.TemporaryDirectory(prefix="vd") as short:  # a socket path holds 107 bytes at most
        locked = os.path.join(short, "user.conf")
        refusers = [locked]
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(locked)
        if os.geteuid() != 0:  # root reads a chmod 000 file, so the case only binds for other users
            mode_000 = write(Path(short) / "locked.conf", "[vec-a]\nhost=10.0.0.9\n")
            os.chmod(mode_000, 0)
            refusers.append(str(mode_000))
        refusers.append(os.path.join(short, "no-such-file"))
        try:
            for path in refusers:
                monkeypatch.setenv("PGSERVICEFILE", path)
                e = config_pods(config).of("a")
                assert e.kind == "unknown" and f"libpq cannot read {path}" in e.where, (path, e)
                with pytest.raises(ConfigError) as err:
                    parse_config('pods_from_services: "vec-*"\n', "vd.yaml")
                assert err.value.exit_code == 2
                assert str(err.value).startswith(f"{path}: libpq cannot read this service file ("), err.value
                assert "pods_from_services 'vec-*' (vd.yaml:1)" in str(err.value)
        finally:
            sock.close()
    monkeypatch.setenv("PGSERVICEFILE", str(system.parent))  # a directory: libpq reads it as no lines
    assert config_pods(config).of("a").kind == "tcp"


def test_a_service_file_edited_while_running_is_read_again(services):
    """The endpoints are cached per config and environment, and per the service files' size and time."""
    user, _ = services
    write(user, "[vec-a]\nhost=10.0.0.5\nport=5433\ndbname=app\n")
    config = Config(pods=(PodConfig("a", service="vec-a"),), settings=Settings(), path="t.yaml")
    assert config_pods(config).of("a").port == "5433"
    write(user, "[vec-a]\nhost=10.0.0.5\nport=15433\ndbname=app\n")
    assert config_pods(config).of("a").port == "15433"
