"""Read-only works with every DSN that works without it, picks the same host, and the server enforces it.

Two real pods: `vectors-b` of the shared estate (writable, the "primary") and a module-private pod made
read-only server-wide (`default_transaction_read_only = on`, what libpq sees on a read-only server).
DSNs of both forms (URI and key=value), one or two hosts, every kind of `target_session_attrs`, the
environment's PGTARGETSESSIONATTRS and `options=-c ...` are each opened with and without read-only: the
same host answers, the pod is healthy, and a write through a read-only session is refused by the
server (SQLSTATE 25006).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from urllib.parse import quote

import psycopg
import pytest

from vecdash.config import Config, PodConfig, Settings
from vecdash.db.pods import PodClient
from vecdash.service.catalog import snapshot

from .conftest import TEST_PASSWORD, _new_pods
from .test_security import in_process, write_config


@pytest.fixture(scope="module")
def ro_host():
    """A pod whose server says every session is read-only, as a standby or a fenced primary does."""
    root, pods = _new_pods(["fenced"])
    pod = pods[0]
    pod.psql("alter system set default_transaction_read_only = on")
    pod.psql("select pg_reload_conf()")
    try:
        yield pod
    finally:
        pod.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


PW = quote(TEST_PASSWORD, safe="")


def uri(ports, query=""):
    hosts = ",".join(f"127.0.0.1:{p}" for p in ports)
    return f"postgresql://postgres:{PW}@{hosts}/postgres" + (f"?{query}" if query else "")


def kv(ports, extra=""):
    return (f"host={','.join('127.0.0.1' for _ in ports)} port={','.join(str(p) for p in ports)} user=postgres "
            f"password='{TEST_PASSWORD}' dbname=postgres {extra}").strip()


# (id, dsn(rw_port, ro_port), environment, which host libpq picks: "rw" or "ro")
VARIANTS = [
    ("uri-read-write", lambda rw, ro: uri([rw], "target_session_attrs=read-write"), {}, "rw"),
    ("kv-read-write", lambda rw, ro: kv([rw], "target_session_attrs=read-write"), {}, "rw"),
    ("uri-2hosts-read-write", lambda rw, ro: uri([ro, rw], "target_session_attrs=read-write"), {}, "rw"),
    ("kv-2hosts-read-write", lambda rw, ro: kv([ro, rw], "target_session_attrs=read-write"), {}, "rw"),
    ("kv-2hosts-read-only", lambda rw, ro: kv([rw, ro], "target_session_attrs=read-only"), {}, "ro"),
    ("uri-primary", lambda rw, ro: uri([rw], "target_session_attrs=primary"), {}, "rw"),
    ("uri-2hosts-any", lambda rw, ro: uri([ro, rw], "target_session_attrs=any"), {}, "ro"),
    ("kv-prefer-standby", lambda rw, ro: kv([rw], "target_session_attrs=prefer-standby"), {}, "rw"),
    ("kv-options-lift-read-write", lambda rw, ro: kv([rw], "target_session_attrs=read-write "
                                                          "options='-c default_transaction_read_only=off'"), {}, "rw"),
    ("uri-options-read-write", lambda rw, ro: uri([rw], "options=-c%20work_mem%3D8MB&target_session_attrs=read-write"),
     {}, "rw"),
    ("env-read-write", lambda rw, ro: uri([ro, rw]), {"PGTARGETSESSIONATTRS": "read-write"}, "rw"),
    ("env-read-only", lambda rw, ro: kv([rw, ro]), {"PGTARGETSESSIONATTRS": "read-only"}, "ro"),
]


def _config(dsn: str, read_only: bool) -> Config:
    return Config(pods=(PodConfig(name="p", role="secondary", dsn=dsn),),
                  settings=Settings(read_only=read_only, statement_timeout_ms=5000, connect_timeout_s=3), path="<t>")


def _open(dsn: str, read_only: bool, table: str):
    """(status of the pod, port of the server that answered, write error or None) through vecdash."""

    async def go():
        client = PodClient(_config(dsn, read_only))
        try:
            topo = await snapshot(client)
            port = await client.run("p", lambda c: _scalar(c, "select inet_server_port()"))
            settings = await client.run("p", lambda c: _scalar(c, "select current_setting('default_transaction_read_only')"))
            write_error = None
            if read_only:
                try:  # asked directly, without write=True: only the server can refuse it
                    await client.run("p", lambda c: c.execute(psycopg.sql.SQL("create table {} (i int)").format(
                        psycopg.sql.Identifier(table))))
                except psycopg.Error as exc:
                    write_error = exc
            return topo.pod("p"), port, settings, write_error
        finally:
            await client.close()

    return asyncio.run(go())


async def _scalar(conn, statement):
    cur = await conn.execute(statement)
    return (await cur.fetchone())[0]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_read_only_works_with_every_dsn_and_the_server_refuses_writes(estate, ro_host, unique, monkeypatch, variant):
    _, make, env, expected = variant
    rw = estate.pods["vectors-b"]
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    dsn = make(rw.port, ro_host.port)
    want_port = {"rw": rw.port, "ro": ro_host.port}[expected]
    table = f"ro dsn {unique} \"x\";"

    plain, plain_port, _, _ = _open(dsn, False, table)
    assert plain.up, plain.error
    assert plain_port == want_port  # the DSN itself picks this host

    status, port, setting, write_error = _open(dsn, True, table)
    assert status.up, status.error  # was: DOWN, "session is read-only"
    assert status.read_only is True and setting == "on"
    assert port == plain_port  # read-only does not change which host the DSN selects
    assert isinstance(write_error, psycopg.errors.ReadOnlySqlTransaction) and write_error.sqlstate == "25006"
    for pod in (rw, ro_host):  # (any host: the environment may ask for read-write)
        with psycopg.connect(pod.dsn(), autocommit=True, target_session_attrs="any") as conn:
            assert conn.execute("select to_regclass(quote_ident(%s))", (table,)).fetchone()[0] is None


def test_read_only_cli_status_with_an_ha_dsn(capsys, estate, ro_host, tmp_path):
    """The reported case end to end: `--read-only status` over a two-host read-write DSN."""
    dsn = uri([ro_host.port, estate.pods["vectors-b"].port], "target_session_attrs=read-write")
    path = write_config(tmp_path / "ha.yaml", [("ha", "secondary", f"'{dsn}'")], connect_timeout_s=3)
    res = in_process(capsys, "--read-only", "status", "--json", "--config", str(path))
    assert res.returncode == 0, res.stdout + res.stderr
    pods = json.loads(res.stdout)["pods"]
    assert [(p["up"], p["read_only"]) for p in pods] == [(True, True)], pods
