"""Which pod a foreign server reaches, on real pods: wiring, unwire, verify, routing and the console's
labels never take one pod for another.

Pods that differ only by socket directory (two socket-only servers on one port), only by port, or only
by database on one server; each holds a collection of the same name with its own rows and logs in as
its own role. A DBA's server that bears a pod's name but reaches another pod is never reused or
dropped; a server whose reach the address cannot decide is asked (the servers themselves say).
"""

from __future__ import annotations

import shutil

import psycopg
import pytest

from tests.conftest import TEST_PASSWORD
from vecdash.config import Config, PodConfig, Settings
from vecdash.embedded import LocalPod, default_root, free_port
from vecdash.errors import UserError
from vecdash.service import catalog, wiring
from vecdash.service.endpoints import IdentityUnknown
from vecdash.service.query.routes import wired_table
from vecdash.service.stats import pod_endpoints, server_reach
from tests.service_helpers import run

VARIANTS = ["socket_dir", "port", "database"]


def _sql(dsn: str, statement: str, params=None):
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else None


def _seed(dsn: str, role: str, label: str) -> None:
    """A login role of its own and vecs.docs holding rows only this pod has."""
    _sql(dsn, "create extension if not exists vector")
    exists = _sql(dsn, "select 1 from pg_roles where rolname = %s", [role])
    if not exists:
        _sql(dsn, f'create role "{role}" login superuser password \'{TEST_PASSWORD}\'')
    _sql(dsn, "create schema if not exists vecs")
    _sql(dsn, "create table vecs.docs (id text primary key, vec vector(3), metadata jsonb)")
    _sql(dsn, "insert into vecs.docs values (%s, '[1,2,3]', '{}'), (%s, '[3,2,1]', '{}')", [f"{label}-1", f"{label}-2"])


@pytest.fixture(scope="module")
def pods():
    """primary; two socket-only servers on one port; two TCP servers, one of them with two databases."""
    root = default_root("vdid-")
    shared_port = free_port()
    made = {
        "primary": LocalPod("primary", root / "primary", password=TEST_PASSWORD),
        "sock_a": LocalPod("sock_a", root / "sock_a", port=shared_port, password=TEST_PASSWORD,
                           settings={"listen_addresses": "''"}),
        "sock_b": LocalPod("sock_b", root / "sock_b", port=shared_port, password=TEST_PASSWORD,
                           settings={"listen_addresses": "''"}),
        "tcp_a": LocalPod("tcp_a", root / "tcp_a", password=TEST_PASSWORD),
        "tcp_b": LocalPod("tcp_b", root / "tcp_b", password=TEST_PASSWORD),
    }
    try:
        for p in made.values():
            p.init()
            p.start()
        made["tcp_a"].psql("create database da")
        made["tcp_a"].psql("create database db")
        made["primary"].psql("create extension vector")
        yield made
    finally:
        for p in made.values():
            p.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def _socket_dsn(p: LocalPod, role: str, db: str = "postgres") -> str:
    return f"host={p.socket_dir} port={p.port} dbname={db} user={role} password={TEST_PASSWORD}"


def _tcp_dsn(p: LocalPod, role: str, db: str = "postgres", host: str = "127.0.0.1") -> str:
    return f"host={host} port={p.port} dbname={db} user={role} password={TEST_PASSWORD}"


@pytest.fixture(scope="module")
def variants(pods):
    """variant -> (DSN of pod A, DSN of pod B), both seeded. A and B differ only in what the name says."""
    out = {
        "socket_dir": (_socket_dsn(pods["sock_a"], "role_a"), _socket_dsn(pods["sock_b"], "role_b")),
        "port": (_tcp_dsn(pods["tcp_a"], "role_a"), _tcp_dsn(pods["tcp_b"], "role_b", host="localhost")),
        "database": (_tcp_dsn(pods["tcp_a"], "role_a", "da"), _tcp_dsn(pods["tcp_a"], "role_b", "db")),
    }
    admin = {"socket_dir": (_socket_dsn(pods["sock_a"], "postgres"), _socket_dsn(pods["sock_b"], "postgres")),
             "port": (_tcp_dsn(pods["tcp_a"], "postgres"), _tcp_dsn(pods["tcp_b"], "postgres")),
             "database": (_tcp_dsn(pods["tcp_a"], "postgres", "da"), _tcp_dsn(pods["tcp_a"], "postgres", "db"))}
    for variant, (a, b) in admin.items():
        _seed(a, "role_a", f"{variant}-A")
        _seed(b, "role_b", f"{variant}-B")
    # a login named like database da: a server without dbname, mapped to it, reaches da
    _sql(pods["tcp_a"].dsn(), f"create role da login superuser password '{TEST_PASSWORD}'")
    return out


def _config(pods, a_dsn: str, b_dsn: str, a: str, b: str) -> Config:
    return Config(pods=(PodConfig(name="primary", role="primary", dsn=pods["primary"].dsn()),
                        PodConfig(name=a, role="secondary", dsn=a_dsn),
                        PodConfig(name=b, role="secondary", dsn=b_dsn)),
                  settings=Settings(statement_timeout_ms=5000, connect_timeout_s=3), path="<test>")


def _mappings(primary: LocalPod) -> dict[str, list[str]]:
    rows = _sql(primary.dsn(), "select srvname, umoptions from pg_user_mappings")
    return {r[0]: sorted(r[1] or []) for r in rows}


def _ids(primary: LocalPod, relation: str) -> set[str]:
    return {r[0] for r in _sql(primary.dsn(), f"select id from {relation}")}


async def _wire(client, pod, view):
    plan = await wiring.plan_wire(client, pod, "docs", view=view)
    await wiring.apply_plan(client, plan)
    return plan


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_pod_is_wired_to_its_own_rows(pods, variants, variant, unique):
    primary = pods["primary"]
    a, b = f"a_{variant}_{unique}", f"b_{variant}_{unique}"
    cfg = _config(pods, *variants[variant], a, b)
    run(lambda c: _wire(c, a, f"public.docs_{a}"), cfg)
    before = _mappings(primary)[wiring.pod_ident(a)]
    plan_b = run(lambda c: _wire(c, b, f"public.docs_{b}"), cfg)
    assert not any(wiring.pod_ident(a) in s.preview for s in plan_b.steps), plan_b.preview_sql()
    assert _mappings(primary)[wiring.pod_ident(a)] == before  # A's user mapping untouched
    assert any("user=role_a" == o for o in before)
    assert _ids(primary, f"public.docs_{a}") == {f"{variant}-A-1", f"{variant}-A-2"}
    assert _ids(primary, f"public.docs_{b}") == {f"{variant}-B-1", f"{variant}-B-2"}

    # the console's labels and routing give each server its own pod
    topo = run(catalog.snapshot, cfg)
    servers = {s.name: s for s in topo.primary.foreign_servers}
    eps = pod_endpoints(cfg)
    assert server_reach(servers[wiring.pod_ident(a)], eps).label() == a
    assert server_reach(servers[wiring.pod_ident(b)], eps).label() == b
    ft, server = wired_table(topo, cfg, b, "vecs", "docs")
    assert (ft.schema, server.name) == (wiring.pod_ident(b), wiring.pod_ident(b))

    # unwire and verify of B never touch A's wiring
    assert run(lambda c: wiring.verify(c, b, "docs"), cfg).server == wiring.pod_ident(b)
    plan = run(lambda c: wiring.plan_unwire(c, b, "docs"), cfg)
    assert plan.steps and not any(wiring.pod_ident(a) in s.preview or f"docs_{a}" in s.preview for s in plan.steps)
    run(lambda c: wiring.apply_plan(c, plan), cfg)
    assert _ids(primary, f"public.docs_{a}") == {f"{variant}-A-1", f"{variant}-A-2"}
    assert run(lambda c: wiring.verify(c, a, "docs"), cfg).server == wiring.pod_ident(a)
    run(lambda c: _unwire(c, a), cfg)


async def _unwire(client, pod):
    await wiring.apply_plan(client, await wiring.plan_unwire(client, pod, "docs"))


def _dba_server(primary: LocalPod, name: str, options: dict[str, str], *, mapping: str | None, schema: str) -> None:
    opts = ", ".join(f"{k} '{v}'" for k, v in options.items())
    _sql(primary.dsn(), "create extension if not exists postgres_fdw")
    _sql(primary.dsn(), f'create server "{name}" foreign data wrapper postgres_fdw options ({opts})')
    if mapping:
        _sql(primary.dsn(), f"create user mapping for current_user server \"{name}\" "
                            f"options (user '{mapping}', password '{TEST_PASSWORD}')")
    _sql(primary.dsn(), f'create schema "{schema}"')
    _sql(primary.dsn(), f'create foreign table "{schema}".docs (id text, vec vector(3), metadata jsonb) '
                        f"server \"{name}\" options (schema_name 'vecs', table_name 'docs')")
    _sql(primary.dsn(), f'create view "{schema}".docs_view as select * from "{schema}".docs')


# how a DBA's server bearing pod B's name reaches pod A, another database of B's server (both pods are
# configured by TCP): (variant, the server's options, its mapping's user or None for no mapping)
DBA_SERVERS = [
    ("same_address", lambda p: {"host": "127.0.0.1", "port": str(p["tcp_a"].port), "dbname": "da"}, "role_a"),
    ("by_socket", lambda p: {"host": str(p["tcp_a"].socket_dir), "port": str(p["tcp_a"].port), "dbname": "da"},
     "role_a"),  # a socket vs a TCP address: the database decides
    ("by_socket_no_dbname", lambda p: {"host": str(p["tcp_a"].socket_dir), "port": str(p["tcp_a"].port)}, "da"),
    # (no dbname: the mapping's user names the database)
    ("no_mapping", lambda p: {"host": str(p["tcp_a"].socket_dir), "port": str(p["tcp_a"].port), "dbname": "db"},
     None),  # nobody can be asked: unknown
]


@pytest.mark.parametrize(("how", "options", "mapping"), DBA_SERVERS, ids=[d[0] for d in DBA_SERVERS])
def test_a_dba_server_named_like_a_pod_is_never_reused_or_dropped(pods, variants, how, options, mapping, unique):
    primary = pods["primary"]
    a, b = f"a_dba_{unique}", f"b_dba_{unique}"
    cfg = _config(pods, *variants["database"], a, b)  # B: 127.0.0.1:port/db
    name = wiring.pod_ident(b)
    _dba_server(primary, name, options(pods), mapping=mapping, schema=f"dba_{unique}")
    server_before = _sql(primary.dsn(), "select srvoptions from pg_foreign_server where srvname = %s", [name])
    maps_before = _mappings(primary).get(name)

    with pytest.raises(UserError) as err:  # wire B must not reuse it
        run(lambda c: wiring.plan_wire(c, b, "docs", view=f"public.docs_{b}"), cfg)
    assert name in str(err.value) and "\n" not in str(err.value)
    if mapping is None:
        assert isinstance(err.value, IdentityUnknown) and err.value.exit_code == 1
    else:
        assert not isinstance(err.value, IdentityUnknown)  # decided: it reaches another database

    if mapping is None:  # unknown: unwire and verify refuse, one line, exit 1
        for call in (lambda c: wiring.plan_unwire(c, b, "docs"), lambda c: wiring.verify(c, b, "docs")):
            with pytest.raises(IdentityUnknown) as err:
                run(call, cfg)
            assert err.value.exit_code == 1 and name in str(err.value)
    else:
        plan = run(lambda c: wiring.plan_unwire(c, b, "docs"), cfg)
        assert plan.steps == [] and "nothing to unwire" in plan.notes[0]
        assert not run(lambda c: wiring.verify(c, b, "docs"), cfg).ok
    assert _sql(primary.dsn(), "select srvoptions from pg_foreign_server where srvname = %s", [name]) == server_before
    assert _mappings(primary).get(name) == maps_before
    if mapping is not None:
        assert _ids(primary, f"dba_{unique}.docs_view") == {"database-A-1", "database-A-2"}
    # the console does not call it B either
    topo = run(catalog.snapshot, cfg)
    s = next(s for s in topo.primary.foreign_servers if s.name == name)
    assert server_reach(s, pod_endpoints(cfg)).pod != b
    _sql(primary.dsn(), f'drop schema "dba_{unique}" cascade')
    _sql(primary.dsn(), f'drop server "{name}" cascade')


def test_a_server_reaching_the_pod_by_its_socket_is_asked_and_reused(pods, variants, unique):
    """The pod is configured by TCP, the DBA's server reaches it by its socket: the servers say it is the
    same database (and B, another database of that server, is not), so wire reuses it."""
    primary = pods["primary"]
    a, b = f"a_ask_{unique}", f"b_ask_{unique}"
    cfg = _config(pods, *variants["database"], a, b)
    name = f"dba_srv_{unique}"
    opts = {"host": str(pods["tcp_a"].socket_dir), "port": str(pods["tcp_a"].port), "dbname": "da"}
    _dba_server(primary, name, opts, mapping="role_a", schema=f"dba_{unique}")
    plan = run(lambda c: wiring.plan_wire(c, a, "docs", view=f"public.docs_{a}"), cfg)
    assert any(f"server {name}" in s.purpose for s in plan.steps), plan.preview_sql()
    assert not any("create server" in s.preview and not s.satisfied for s in plan.steps)
    plan_b = run(lambda c: wiring.plan_wire(c, b, "docs", view=f"public.docs_{b}"), cfg)
    assert not any(name in s.preview for s in plan_b.steps)
    _sql(primary.dsn(), f'drop schema "dba_{unique}" cascade')
    _sql(primary.dsn(), f'drop server "{name}" cascade')
