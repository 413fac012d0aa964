"""Pods declared the libpq way: `pods_from_services` (pg_service.conf), `pods_from_primary` (the
primary's postgres_fdw servers), `tags:`, and explicit pods overriding both. Real files, real servers.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest

from vecdash.config import Config, PodConfig, Settings, parse_config
from vecdash.errors import ConfigError
from vecdash.services_file import read_service_files

from .conftest import TEST_PASSWORD
from .test_bad_input import cli

FILE_SECRET = "Svc-File-Only-pw-7731"  # a password written in a service file: libpq's, never vecdash's
MAPPING_SECRET = "Mapping-Only-pw-4419"  # a user mapping's password: postgres_fdw's, never vecdash's


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


def fleet_service_file(n: int = 50) -> tuple[str, list[str]]:
    """A service file as DBAs keep them: many sections, comments, blank lines, blanks before keys, a
    trailing backslash (no continuation in libpq), a header with text after `]`, a name defined twice
    (the first wins), a password, and sections the glob must not match. -> (text, names `vec-*` gives)."""
    lines = ["# fleet services", "", "; not a comment for libpq but outside any section", ""]
    expected = []
    for i in range(n):
        name = f"vec-{i:03d}" if i % 5 else f"other-{i:03d}"
        header = f"[{name}]" if i % 7 else f"[{name}]   # trailing text after ] is ignored by libpq"
        lines += [header, "  # an indented comment", f"host=db{i}.example.internal", "   port=5432",
                  f"dbname=vectors_{i}\\", ""]
        if i == 3:
            lines.insert(-1, f"password={FILE_SECRET}")
        if name.startswith("vec-"):
            expected.append(name)
    lines += ["[vec-001]", "this line is never read: libpq stops at the first [vec-001]", ""]
    lines += ["[vecx-not-matched]", "host=x", "[VEC-UPPER]", "host=y"]
    return "\n".join(lines) + "\n", expected


@pytest.fixture
def services(tmp_path, monkeypatch):
    """PGSERVICEFILE -> a user file; PGSYSCONFDIR -> an empty system dir; returns (user, system) paths."""
    user = tmp_path / "svc" / "user.conf"
    sysdir = tmp_path / "svc" / "sys"
    sysdir.mkdir(parents=True)
    monkeypatch.setenv("PGSERVICEFILE", str(user))
    monkeypatch.setenv("PGSYSCONFDIR", str(sysdir))
    return user, sysdir / "pg_service.conf"


# --- the service files, as libpq reads them -------------------------------------------------------------


def test_a_glob_over_a_fleet_service_file_gives_one_pod_per_matching_section(services):
    user, _ = services
    text, expected = fleet_service_file(50)
    write(user, text)
    config = parse_config('pods_from_services: "vec-*"\n', "vd.yaml")
    assert [p.name for p in config.pods] == expected and len(expected) == 40
    assert all(p.conninfo == f"service={p.name}" and p.role == "secondary" and p.dsn is None for p in config.pods)
    assert config.notes == ()
    shown = repr(config) + str(config) + repr(read_service_files())
    assert FILE_SECRET not in shown and "vectors_3" not in shown  # values are never kept


def test_user_file_wins_over_system_file_and_a_missing_home_file_falls_back(services, monkeypatch, tmp_path):
    user, system = services
    write(user, "[vec-a]\nhost=u\n[vec-c]\nhost=u\n")
    # the system file's vec-a would be refused by libpq, but libpq never reads it: the user file has vec-a
    write(system, "[vec-a]\nhost = broken\n[vec-b]\nhost=s\n")
    config = parse_config('pods_from_services: "vec-*"\n', "vd.yaml")
    assert [p.name for p in config.pods] == ["vec-a", "vec-c", "vec-b"]
    assert {e.name: e.path for e in read_service_files().entries} == {
        "vec-a": str(user), "vec-c": str(user), "vec-b": str(system)}
    # no PGSERVICEFILE and no ~/.pg_service.conf: libpq reads the system file's vec-a, so its bad line
    # shows (a PGSERVICEFILE naming a missing file is libpq's error: test_endpoints_services)
    monkeypatch.delenv("PGSERVICEFILE")
    with pytest.raises(ConfigError) as err:
        parse_config('pods_from_services: "vec-*"\n', "vd.yaml")
    assert str(err.value).startswith(f"{system}:2: service 'vec-a'"), err.value
    write(system, "[vec-a]\nhost=s\n")
    write(tmp_path / "home" / ".pg_service.conf", "[vec-home]\nhost=h\n")  # HOME is tmp_path/home (conftest)
    assert "vec-home" in [p.name for p in parse_config('pods_from_services: "vec-*"\n', "vd.yaml").pods]


def test_tags_from_pods_and_globs_and_explicit_pods_override(services):
    user, _ = services
    write(user, "[vec-eu-1]\nhost=a\n[vec-eu-2]\nhost=b\n[vec-us-1]\nhost=c\n[main]\nhost=d\n")
    config = parse_config(
        "pods_from_services:\n"
        "  - {match: 'vec-*', tags: [fleet]}\n"
        "  - match: 'vec-eu-*'\n    tags: [eu, fleet]\n"
        "  - 'main'\n"
        "pods:\n"
        "  - name: vec-eu-2\n    dsn: host=override dbname=x\n"        # explicit wins, keeps the glob tags
        "  - name: main\n    role: primary\n    tags: [core]\n"          # completes the service pod
        "  - name: extra\n    dsn: dbname=y\n    tags: [hot, hot, z/1]\n", "vd.yaml")
    pods = {p.name: p for p in config.pods}
    assert list(pods) == ["vec-eu-2", "main", "extra", "vec-eu-1", "vec-us-1"]
    assert pods["vec-eu-1"].tags == ("fleet", "eu") and pods["vec-us-1"].tags == ("fleet",)
    assert pods["vec-eu-2"].dsn == "host=override dbname=x" and pods["vec-eu-2"].tags == ("fleet", "eu")
    assert pods["main"].is_primary and pods["main"].conninfo == "service=main" and pods["main"].tags == ("core",)
    assert pods["extra"].tags == ("hot", "z/1")


BAD = [
    ("bad glob chars", 'pods_from_services: "vec *"\n', "vd", 1, "is not a glob of pod names"),
    ("unclosed bracket", 'pods_from_services: "vec-[ab"\n', "vd", 1, "without a closing"),
    ("glob not a string", "pods_from_services: 5\n", "vd", 1, "must be a glob"),
    ("empty glob list", "pods_from_services: []\n", "vd", 1, "is empty"),
    ("unknown source key", "pods_from_services:\n  - {match: 'v*', tag: [a]}\n", "vd", 2, "unknown key 'tag'"),
    ("bad tag", "pods:\n  - name: a\n    dsn: dbname=x\n    tags: ['has space']\n", "vd", 4, "a tag is"),
    ("tags not a list", "pods:\n  - name: a\n    dsn: dbname=x\n    tags: eu\n", "vd", 4, "must be a list"),
    ("no match, no pods", 'pods_from_services: "nothing-*"\n', "vd", 1, "matched no service"),
    ("primary needed", "pods:\n  - name: a\n    dsn: dbname=x\npods_from_primary: true\n", "vd", 4, "role: primary"),
    ("bad service name", 'pods_from_services: "vec*"\n', "svc", 5, "not a pod name"),
    ("blanks around =", 'pods_from_services: "vec-ok*"\n', "svc", 8, "not a libpq connection option"),
    ("line without =", 'pods_from_services: "vec-pw"\n', "svc", 11, "expected key=value"),
    ("nested service", 'pods_from_services: "vec-nest"\n', "svc", 13, "may not name another service"),
]
BAD_SERVICES = ("[vec-good]\nhost=a\n# the next name holds a space\n\n[vec bad]\nhost=b\n[vec-ok2]\nhost = b\n"
                f"[vec-pw]\nhost=c\npassword {FILE_SECRET}\n[vec-nest]\nservice=vec-good\n")


@pytest.mark.parametrize("text,where,line,problem", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_discovery_config_is_exit_2_at_file_and_line(capsys, services, tmp_path, text, where, line, problem):
    user, _ = services
    write(user, BAD_SERVICES)
    path = write(tmp_path / "vd.yaml", text)
    code, out, err = cli(capsys, "status", "--json", "--config", str(path))
    assert code == 2 and out == "", err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and FILE_SECRET not in err, err
    shown = path if where == "vd" else user
    assert lines[0].startswith(f"vecdash: error: {shown}:{line}: "), lines[0]
    assert problem in lines[0], lines[0]


# --- real pods: many databases on one server --------------------------------------------------------------


@pytest.fixture
def databases(estate):
    """12 databases on vectors-a, one vecs-shaped collection in every third; dropped afterwards."""
    pod = estate.pods["vectors-a"]
    prefix = f"vd_{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}_{i:02d}" for i in range(12)]
    for i, db in enumerate(names):
        estate.sql("vectors-a", f'create database "{db}"')
        if i % 3 == 0:
            with psycopg.connect(pod.dsn(db), autocommit=True) as conn:
                conn.execute("create extension vector; create schema vecs")
                conn.execute("create table vecs.docs (id text primary key, vec vector(3), metadata jsonb)")
                conn.execute("insert into vecs.docs select g::text, '[1,2,3]', '{}' from generate_series(1, 20) g")
    yield pod, names
    for db in names:
        estate.sql("vectors-a", f'drop database if exists "{db}" with (force)')


def test_status_on_a_config_with_only_pods_from_services_reaches_every_pod(capsys, services, databases, tmp_path):
    user, _ = services
    pod, names = databases
    text = "# many pods, one server\n"
    for i, db in enumerate(names):  # libpq's reading, checked by connecting: text after `]`, blanks before keys
        text += (f"[vec-{i:02d}]  # db {i}\n  host=127.0.0.1\n\tport={pod.port}\ndbname={db}\nuser=postgres\n"
                 f"password={TEST_PASSWORD}\n")
    text += "[unrelated]\nhost=192.0.2.1\n[vec-00]\nport=1\n"  # a second vec-00: libpq never reads it
    write(user, text)
    path = write(tmp_path / "vd.yaml", "pods_from_services: {match: 'vec-*', tags: [fleet]}\n"
                                       "settings: {connect_timeout_s: 2}\n")
    code, out, err = cli(capsys, "status", "--json", "--config", str(path))
    assert code == 0, err
    doc = json.loads(out)
    assert [p["name"] for p in doc["pods"]] == [f"vec-{i:02d}" for i in range(12)]
    assert all(p["up"] for p in doc["pods"])
    assert [p["database"] for p in doc["pods"]] == names
    assert [len(p["collections"]) for p in doc["pods"]] == [1 if i % 3 == 0 else 0 for i in range(12)]
    assert TEST_PASSWORD not in out + err


# --- pods_from_primary: a real primary's foreign servers ----------------------------------------------------


@pytest.fixture
def fdw_servers(estate, databases):
    """Foreign servers on the primary: two at databases of vectors-a, one with a name that is no pod name,
    one at the configured pod vectors-b (already a pod), one not matched. Mappings hold MAPPING_SECRET."""
    pod, names = databases
    u = uuid.uuid4().hex[:6]
    servers = {f"disc_{u}_a": names[0], f"disc_{u}_b": names[1], f"disc_{u} [b]x\ny": names[3],
               f"disc_{u}_same": None, f"other_{u}": names[2]}
    estate.sql("primary", "create extension if not exists postgres_fdw")
    for server, db in servers.items():
        port = estate.pods["vectors-b"].port if db is None else pod.port
        q = psycopg.sql.SQL("create server {} foreign data wrapper postgres_fdw options (host '127.0.0.1', port {}, "
                            "dbname {}, fetch_size '50')").format(psycopg.sql.Identifier(server),
                                                                 psycopg.sql.Literal(str(port)),
                                                                 psycopg.sql.Literal(db or "postgres"))
        estate.sql("primary", q)
        estate.sql("primary", psycopg.sql.SQL("create user mapping for public server {} options (user 'postgres', "
                                              "password {})").format(psycopg.sql.Identifier(server),
                                                                     psycopg.sql.Literal(MAPPING_SECRET)))
    yield u, servers, names
    for server in servers:
        estate.sql("primary", psycopg.sql.SQL("drop server if exists {} cascade").format(psycopg.sql.Identifier(server)))


def _primary_config(estate, tmp_path: Path, u: str) -> Path:
    return write(tmp_path / "vd.yaml", (
        "pods:\n"
        f"  - name: primary\n    role: primary\n    dsn: '{estate.dsn('primary')}'\n"
        f"  - name: vectors-b\n    dsn: '{estate.dsn('vectors-b')}'\n"
        f"pods_from_primary:\n  - {{match: 'disc_{u}*', tags: [found]}}\n"
        "settings: {connect_timeout_s: 2, statement_timeout_ms: 2000}\n"))


def test_pods_from_primary_connect_with_pgpass_never_the_mapping(capsys, estate, fdw_servers, tmp_path, monkeypatch):
    u, servers, names = fdw_servers
    path = _primary_config(estate, tmp_path, u)
    port = estate.pods["vectors-a"].port
    monkeypatch.setenv("PGUSER", "postgres")

    # no credentials for vecdash's user: the discovered pods are down, the mapping's password unused
    code, out, err = cli(capsys, "status", "--json", "--config", str(path))
    doc = json.loads(out)
    pods = {p["name"]: p for p in doc["pods"]}
    derived = f"disc_{u}_b_x_y"
    assert list(pods) == ["primary", "vectors-b", derived, f"disc_{u}_a", f"disc_{u}_b"], err  # server name order
    assert code == 1 and not pods[f"disc_{u}_a"]["up"] and "password" in pods[f"disc_{u}_a"]["error"]

    # .pgpass holds vecdash's own credentials: now they are up, on the servers' databases
    write(tmp_path / "pgpass", f"127.0.0.1:{port}:*:postgres:{TEST_PASSWORD}\n")
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "pgpass"))
    code, out, err = cli(capsys, "status", "--json", "--config", str(path))
    assert code == 0, err
    pods = {p["name"]: p for p in json.loads(out)["pods"]}
    assert pods[f"disc_{u}_a"]["database"] == names[0] and pods[f"disc_{u}_b"]["database"] == names[1]
    assert pods[derived]["database"] == names[3] and len(pods[f"disc_{u}_a"]["collections"]) == 1
    notes = [l for l in err.splitlines() if l.startswith("vecdash: note:")]
    assert len(notes) == 1 and "is pod " + derived in notes[0] and "\\n" in notes[0], err
    assert MAPPING_SECRET not in out + err and TEST_PASSWORD not in out + err

    from vecdash.cli.context import config_from_args

    class Args:
        config = str(path)

    config = config_from_args(Args())
    capsys.readouterr()
    found = config.pod(f"disc_{u}_a")
    assert found.tags == ("found",) and "fetch_size" not in found.conninfo and "password" not in found.conninfo
    assert MAPPING_SECRET not in repr(config) and f"dbname={names[0]}" in found.conninfo


def test_primary_down_keeps_the_configured_pods_and_says_so_once(capsys, estate, spare_pod, tmp_path):
    path = write(tmp_path / "vd.yaml", (
        f"pods:\n  - name: spare\n    role: primary\n    dsn: '{spare_pod.dsn()}'\n"
        f"  - name: vectors-b\n    dsn: '{estate.dsn('vectors-b')}'\n"
        "pods_from_primary: true\nsettings: {connect_timeout_s: 1, statement_timeout_ms: 1000}\n"))
    spare_pod.stop("immediate")
    code, out, err = cli(capsys, "status", "--json", "--config", str(path))
    pods = {p["name"]: p for p in json.loads(out)["pods"]}
    assert code == 1 and list(pods) == ["spare", "vectors-b"] and pods["vectors-b"]["up"] and not pods["spare"]["up"]
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and "discovery failed" in lines[0] and "pod spare" in lines[0], err
    assert TEST_PASSWORD not in out + err


def test_discovered_pods_skip_servers_that_already_are_pods():
    from vecdash.model import ForeignServer
    from vecdash.service.discovery import discovered_pods
    from vecdash.service.wiring.statements import SERVER_MARK
    from vecdash.config import PodSource

    config = Config(pods=(PodConfig("p", role="primary", dsn="host=10.0.0.1 port=5432 dbname=p"),
                          PodConfig("q", dsn="host=10.0.0.2 port=5432 dbname=q"),
                          PodConfig("svc", service="svc")),
                    settings=Settings(), from_primary=(PodSource("*", ("t",)),))
    servers = [ForeignServer("q", "postgres_fdw", {"host": "10.0.0.9"}),  # same name as a pod
               ForeignServer("to_q", "postgres_fdw", {"host": "10.0.0.2", "port": "5432", "dbname": "q"}),
               ForeignServer("svc_wired", "postgres_fdw", {"host": "h"}, comment=f"{SERVER_MARK} svc"),
               ForeignServer("new", "postgres_fdw", {"host": "10.0.0.3", "dbname": "n", "sslmode": "require",
                                                      "use_remote_estimate": "true", "password": "leak"})]
    found, notes = discovered_pods(config, servers)
    assert [(p.name, p.tags) for p in found] == [("new", ("t",))] and notes == []
    assert found[0].dsn == "host=10.0.0.3 dbname=n sslmode=require"


async def test_the_console_shows_discovery_notes_once_as_text():
    from dataclasses import replace

    from vecdash.tui.app import VecdashApp

    from .hostile_data import HOSTILE
    from .test_tui_pilot import notes
    from .tui_data import fixed_config, topology_with_activity

    note = "pods_from_primary: discovery failed, only the configured pods are shown: pod primary: " + HOSTILE[1]
    app = VecdashApp(replace(fixed_config(), notes=(note,)), topology=topology_with_activity(), live=False)
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause()
        assert notes(app).count(note) == 1, notes(app)


@pytest.fixture
def hung_primary(estate, spare_pod, tmp_path, monkeypatch):
    """spare_pod as a primary declaring one pod (server `found_pod`, at vectors-a), vectors-b configured;
    vecdash's own credentials for the discovered pod in PG* variables. -> (spare_pod, write_config(timeouts))."""
    with psycopg.connect(spare_pod.dsn(), autocommit=True) as conn:
        conn.execute("create extension postgres_fdw")
        conn.execute(psycopg.sql.SQL("create server found_pod foreign data wrapper postgres_fdw options "
                                     "(host '127.0.0.1', port {}, dbname 'postgres')").format(
                                         psycopg.sql.Literal(str(estate.pods["vectors-a"].port))))
    monkeypatch.setenv("PGUSER", "postgres")
    monkeypatch.setenv("PGPASSWORD", TEST_PASSWORD)

    def config(connect_s: int, statement_ms: int) -> Path:
        return write(tmp_path / f"vd{connect_s}.yaml", (
            f"pods:\n  - name: spare\n    role: primary\n    dsn: '{spare_pod.dsn()}'\n"
            f"  - name: vectors-b\n    dsn: '{estate.dsn('vectors-b')}'\npods_from_primary: true\n"
            f"settings: {{connect_timeout_s: {connect_s}, statement_timeout_ms: {statement_ms}, refresh_seconds: 60}}\n"))
    return spare_pod, config


async def test_a_hung_primary_delays_neither_the_console_nor_its_configured_pods(hung_primary, monkeypatch):
    """pods_from_primary, the primary SIGSTOPped: the console starts at once on the configured pods and
    shows them; the pod the primary declares appears once the primary answers."""
    import argparse
    import time

    from vecdash.cli.console import open_console
    from vecdash.tui.app import VecdashApp
    from vecdash.tui.widgets.topology import TopologyTree

    from .test_tui_pilot import SIZE, until

    pod, config = hung_primary
    handed = {}

    def console(config, **_):  # what `vecdash` hands the console, and when
        handed.update(config=config, after=time.monotonic() - t0)
        return 0

    monkeypatch.setattr("vecdash.tui.app.run_console", console)
    pod.pause()
    t0 = time.monotonic()
    assert open_console(argparse.Namespace(config=str(config(3, 3000)), record=None)) == 0
    assert handed["after"] < 1.0 and [p.name for p in handed["config"].pods] == ["spare", "vectors-b"]

    app = VecdashApp(handed["config"])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "vectors-b" in app.answered, timeout=2.5, what="the configured pod on screen")
        assert app.answered["vectors-b"].up and "spare" not in app.answered
        pod.resume()  # a slow primary: discovery answers now, and its pod is read at once
        tree = app.query_one(TopologyTree)
        await until(pilot, lambda: tree._find(("pod", "found_pod", "", "")) is not None, what="the discovered pod")
        assert app.answered["found_pod"].up and app.answered["found_pod"].database == "postgres"
        assert [p.name for p in app.api.client.config.pods] == ["spare", "vectors-b", "found_pod"]



def test_status_waits_on_a_hung_primary_once_and_says_so_once(capsys, hung_primary):
    """pods_from_primary, the primary SIGSTOPped: discovery waits out one timeout on it; `status` then
    reports it down with discovery's reason at once, not after a second timeout of its own."""
    import time

    pod, config = hung_primary
    path = config(1, 1000)
    # one call to a hung pod: libpq waits at least 2 s for a connect (a connect_timeout under 2 counts as
    # 2), so one hung connect takes ~2 s and two ~4 s; this 3 s bound tells them apart
    bound = Settings(connect_timeout_s=1, statement_timeout_ms=1000).call_timeout_s  # one call to a hung pod
    pod.pause()
    try:
        t0 = time.monotonic()
        code, out, err = cli(capsys, "status", "--json", "--config", str(path))
        elapsed = time.monotonic() - t0
    finally:
        pod.resume()
    assert code == 1 and elapsed < bound, (code, elapsed, err)
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and "discovery failed" in lines[0] and "pod spare: " in lines[0], err
    reason = lines[0].split("pod spare: ", 1)[1]
    pods = {p["name"]: p for p in json.loads(out)["pods"]}
    assert list(pods) == ["spare", "vectors-b"] and pods["vectors-b"]["up"], out
    assert not pods["spare"]["up"] and pods["spare"]["error"] == reason and "timed out" in reason
    assert "Traceback" not in out + err and TEST_PASSWORD not in out + err


@pytest.mark.parametrize("command", [["doctor", "--json"], ["activity", "--json"]])
def test_doctor_and_activity_wait_on_a_hung_primary_once(capsys, hung_primary, command):
    """The same for the other commands that read the whole estate once: one timeout, not two."""
    import time

    pod, config = hung_primary
    path = config(1, 1000)
    bound = Settings(connect_timeout_s=1, statement_timeout_ms=1000).call_timeout_s  # as above: one, not two
    pod.pause()
    try:
        t0 = time.monotonic()
        code, out, err = cli(capsys, *command, "--config", str(path))
        elapsed = time.monotonic() - t0
    finally:
        pod.resume()
    assert code == 1 and elapsed < bound, (command, code, elapsed, err)
    assert "Traceback" not in out + err and TEST_PASSWORD not in out + err

