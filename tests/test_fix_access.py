"""A fix never widens access: the doctor's dimension-drift fix recreates every view exactly, or refuses.

Against a private hub/leaf pair of real pods: a wiring's view (and views and materialized views reading
it) gets one property at a time (options, owner, table and column privileges with their grantors,
comments, defaults, dependent objects with their indexes); the remote table then drifts to another
dimension; the doctor's fix is applied; the property reads the same from the catalog afterwards (read
here with the test's own query, not vecdash's). Roles, views and comments have odd names and text.
A role denied rows before the fix is still denied after it. Dependents vecdash cannot rebuild make
the doctor refuse the fix and name them; a rebuild missing a step rolls back as a whole.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from vecdash.service import doctor, wiring

from .test_wiring import _wire, hub, hub_config, hub_reset, make_table, run  # noqa: F401 (hub is a fixture)

ODD = ['r "q"; [b]{0}', "50%off [/]", "ünï %s x'y"]


def ident(*parts):
    return sql.Identifier(*parts)


def state_of(dsn: str, rels: list[tuple[str, str]]) -> dict:
    """Everything access-relevant about each relation, read independently of vecdash."""
    out = {}
    with psycopg.connect(dsn) as conn:
        for schema, name in rels:
            oid = conn.execute("select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                               "where n.nspname = %s and c.relname = %s", (schema, name)).fetchone()
            assert oid, (schema, name)
            oid = oid[0]
            row = conn.execute(
                "select c.reloptions, pg_get_userbyid(c.relowner), c.relkind, c.relispopulated, "
                "obj_description(c.oid, 'pg_class'), "
                "(select array_agg(format('%%s>%%s:%%s:%%s', pg_get_userbyid(g.grantor), g.grantee::regrole, "
                "  g.privilege_type, g.is_grantable) order by 1) "
                " from aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) g) "
                "from pg_class c where c.oid = %s", (oid,)).fetchone()
            cols = conn.execute(
                "select a.attname, (select array_agg(format('%%s>%%s:%%s:%%s', pg_get_userbyid(g.grantor), "
                "  g.grantee::regrole, g.privilege_type, g.is_grantable) order by 1) from aclexplode(a.attacl) g), "
                " col_description(a.attrelid, a.attnum), pg_get_expr(d.adbin, d.adrelid), a.attstattarget "
                "from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum "
                "where a.attrelid = %s and a.attnum > 0 and not a.attisdropped order by a.attnum", (oid,)).fetchall()
            idx = conn.execute("select indexname, indexdef, obj_description(format('%%I.%%I', schemaname, indexname)"
                               "::regclass, 'pg_class') from pg_indexes where schemaname = %s and tablename = %s "
                               "order by 1", (schema, name)).fetchall()
            out[(schema, name)] = {"rel": row, "columns": cols, "indexes": idx}
    return out


def make_role(conn, name: str) -> None:
    conn.execute(sql.SQL("drop role if exists {}").format(ident(name)))
    conn.execute(sql.SQL("create role {}").format(ident(name)))


def drop_roles(dsn: str, names: list[str]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for n in names:
            if conn.execute("select 1 from pg_roles where rolname = %s", (n,)).fetchone():
                conn.execute(sql.SQL("drop owned by {}").format(ident(n)))
                conn.execute(sql.SQL("drop role {}").format(ident(n)))


def wired(hub, unique):
    """A wired collection (view public.acc_<unique>) on the hub; returns (config, view name)."""
    hub_reset(hub)
    name = f"acc_{unique}"
    make_table(hub["leaf"].dsn(), "vecs", name, rows=30)
    cfg = hub_config(hub)
    run(lambda c: _wire(c, "leaf", name, expose=[("year", "int")]), cfg)
    return cfg, name


def drift(hub, name: str) -> None:
    """The pod's table comes back with another dimension."""
    hub["leaf"].psql(f'drop table vecs."{name}"')
    make_table(hub["leaf"].dsn(), "vecs", name, rows=40, dim=12)


def drift_fix(cfg, name: str):
    findings = run(lambda c: doctor.diagnose(c), cfg)
    found = [f for f in findings if f.kind == "dimension_drift" and name in f.subject]
    assert len(found) == 1, [(f.kind, f.message) for f in findings]
    return found[0]


# Each: (id, prepare(conn, view, roles) -> relations whose state must survive). roles are ODD names.
def _invoker(conn, v, roles):
    conn.execute(sql.SQL("alter view {} set (security_invoker = true)").format(v))


def _barrier(conn, v, roles):
    conn.execute(sql.SQL("alter view {} set (security_barrier = true)").format(v))


def _check_option(conn, v, roles):
    conn.execute(sql.SQL("alter view {} set (check_option = cascaded)").format(v))


def _owner(conn, v, roles):
    conn.execute(sql.SQL("alter view {} owner to {}").format(v, ident(roles[0])))


def _table_grants_with_grantors(conn, v, roles):
    conn.execute(sql.SQL("grant select, insert on {} to {} with grant option").format(v, ident(roles[0])))
    conn.execute(sql.SQL("set role {}").format(ident(roles[0])))
    conn.execute(sql.SQL("grant select on {} to {}").format(v, ident(roles[1])))
    conn.execute("reset role")
    conn.execute(sql.SQL("revoke delete, truncate on {} from current_user").format(v))  # the owner's own, narrowed


def _column_grants(conn, v, roles):
    conn.execute(sql.SQL("revoke all on {} from public").format(v))
    conn.execute(sql.SQL("grant select (id, year) on {} to {}").format(v, ident(roles[0])))
    conn.execute(sql.SQL("grant update (metadata) on {} to {} with grant option").format(v, ident(roles[1])))
    conn.execute(sql.SQL("set role {}").format(ident(roles[1])))
    conn.execute(sql.SQL("grant update (metadata) on {} to {}").format(v, ident(roles[2])))
    conn.execute("reset role")


def _comments(conn, v, roles):
    conn.execute(sql.SQL("comment on view {} is {}").format(v, sql.Literal("it's [bold]x {0} %s ;\nline 2")))
    conn.execute(sql.SQL("comment on column {} is {}").format(ident(*v._obj, "year"), sql.Literal("yr [/] 50%")))


def _default(conn, v, roles):
    conn.execute(sql.SQL("alter view {} alter column metadata set default {}").format(
        v, sql.SQL("'{\"src\": \"x\"}'::jsonb")))


def _dependent_view(conn, v, roles):
    dep = ident("public", f"{v._obj[1]} dep {ODD[0]}")
    conn.execute(sql.SQL("create view {} with (security_barrier = true) as select id, year from {} where year > 2005")
                 .format(dep, v))
    conn.execute(sql.SQL("alter view {} owner to {}").format(dep, ident(roles[1])))
    conn.execute(sql.SQL("grant select (id) on {} to {}").format(dep, ident(roles[2])))
    conn.execute(sql.SQL("comment on view {} is {}").format(dep, sql.Literal(ODD[1])))
    return [tuple(dep._obj)]


def _dependent_matview(conn, v, roles):
    mv = ident("public", f"{v._obj[1]} mv {ODD[2]}")
    conn.execute(sql.SQL("create materialized view {} with (fillfactor = 70) as select id, vec, year from {}").format(mv, v))
    conn.execute(sql.SQL("create unique index {} on {} (id)").format(ident(f"{v._obj[1]} ix {ODD[1]}"), mv))
    conn.execute(sql.SQL("create index on {} (year) with (fillfactor = 50) where year > 2001").format(mv))
    conn.execute(sql.SQL("comment on index {} is {}").format(ident("public", f"{v._obj[1]} ix {ODD[1]}"),
                                                            sql.Literal(ODD[0])))
    conn.execute(sql.SQL("alter materialized view {} alter column year set statistics 321").format(mv))
    conn.execute(sql.SQL("alter materialized view {} owner to {}").format(mv, ident(roles[0])))
    conn.execute(sql.SQL("grant select on {} to {}").format(mv, ident(roles[2])))
    return [tuple(mv._obj)]


def _default_privileges(conn, v, roles):
    """The applying role's default privileges would hand a recreated view to a role: they must not."""
    conn.execute(sql.SQL("alter default privileges in schema public grant select, update on tables to {}").format(
        ident(roles[1])))


PROPERTIES = [("security_invoker", _invoker), ("security_barrier", _barrier), ("check_option", _check_option),
              ("owner", _owner), ("table_grants_with_grantors", _table_grants_with_grantors),
              ("column_grants", _column_grants), ("comments", _comments), ("column_default", _default),
              ("dependent_view", _dependent_view), ("dependent_matview_indexes", _dependent_matview),
              ("default_privileges_not_added", _default_privileges)]


@pytest.mark.parametrize("prop", PROPERTIES, ids=[p[0] for p in PROPERTIES])
def test_drift_fix_keeps_every_property(hub, unique, prop):
    _, prepare = prop
    cfg, name = wired(hub, unique)
    dsn = hub["hub"].dsn()
    roles = [f"{r} {unique}" for r in ODD]
    v = ident("public", name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for r in roles:
                make_role(conn, r)
            rels = [("public", name)] + (prepare(conn, v, roles) or [])
        before = state_of(dsn, rels)
        drift(hub, name)
        fix = drift_fix(cfg, name).fix
        assert fix is not None
        run(lambda c: wiring.apply_plan(c, fix), cfg)
        assert run(lambda c: wiring.verify(c, "leaf", name), cfg).ok
        assert state_of(dsn, rels) == before
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("drop view if exists {} cascade").format(v))
            if prop[1] is _default_privileges:
                conn.execute(sql.SQL("alter default privileges in schema public revoke all on tables from {}").format(
                    ident(roles[1])))
        drop_roles(dsn, roles)


def test_a_role_denied_rows_before_the_fix_is_denied_after_it(hub, unique):
    """security_invoker: the reader may use the view but not the foreign table under it, so it gets no rows;
    column grants: another reader sees ids, never metadata. The same holds after the fix."""
    cfg, name = wired(hub, unique)
    dsn = hub["hub"].dsn()
    invoker_reader, column_reader = f"{ODD[0]} inv {unique}", f"{ODD[1]} col {unique}"
    v = ident("public", name)
    lean = ident("public", f"{name} lean")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for r in (invoker_reader, column_reader):
            make_role(conn, r)
        conn.execute(sql.SQL("alter view {} set (security_invoker = true)").format(v))
        conn.execute(sql.SQL("grant select on {} to {}").format(v, ident(invoker_reader)))
        conn.execute(sql.SQL("create view {} as select id, metadata from {}").format(lean, ident("leaf", name)))
        conn.execute(sql.SQL("grant select (id) on {} to {}").format(lean, ident(column_reader)))

    def attempts() -> dict[str, str]:
        out = {}
        with psycopg.connect(dsn, autocommit=True) as conn:
            for label, role, q in [
                ("invoker rows", invoker_reader, sql.SQL("select count(*) from {}").format(v)),
                ("column ids", column_reader, sql.SQL("select count(id) from {}").format(lean)),
                ("column metadata", column_reader, sql.SQL("select count(metadata) from {}").format(lean)),
            ]:
                conn.execute(sql.SQL("set role {}").format(ident(role)))
                try:
                    conn.execute(q).fetchone()
                    out[label] = "read"
                except psycopg.errors.InsufficientPrivilege:
                    out[label] = "denied"
                conn.execute("reset role")
        return out

    try:
        assert attempts() == {"invoker rows": "denied", "column ids": "read", "column metadata": "denied"}
        drift(hub, name)
        fix = drift_fix(cfg, name).fix
        run(lambda c: wiring.apply_plan(c, fix), cfg)
        assert attempts() == {"invoker rows": "denied", "column ids": "read", "column metadata": "denied"}
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("drop view if exists {} cascade").format(v))
        drop_roles(dsn, [invoker_reader, column_reader])


def name_of(v) -> str:
    return v._obj[1]


def _trigger(conn, v):
    conn.execute("create or replace function public.acc_noop() returns trigger language plpgsql as "
                 "'begin return new; end'")
    conn.execute(sql.SQL("create trigger {} instead of insert on {} for each row execute function public.acc_noop()")
                 .format(ident(f"trg {ODD[0]}"), v))
    return f"trigger trg {ODD[0]} on view"


def _rule(conn, v):
    conn.execute(sql.SQL("create rule {} as on delete to {} do instead nothing").format(ident(f"rl {ODD[1]}"), v))
    return f"rule rl {ODD[1]} on view"


def _function_of_rowtype(conn, v):
    conn.execute(sql.SQL("create function public.{}(r {}) returns text language sql as 'select r.id'").format(
        ident(f"fn {ODD[2]}"), v))
    return f'function "fn {ODD[2]}"({name_of(v)})'


def _statistics_on_matview(conn, v):
    mv = ident("public", f"{v._obj[1]} smv")
    conn.execute(sql.SQL("create materialized view {} as select id, year from {}").format(mv, v))
    conn.execute(sql.SQL("create statistics {} on id, year from {}").format(ident("public", f"st {ODD[0]}"), mv))
    return 'statistics object "st r ""q""; [b]{0}"'


REFUSED = [("trigger", _trigger), ("rule", _rule), ("function_of_rowtype", _function_of_rowtype),
           ("statistics_object", _statistics_on_matview)]


@pytest.mark.parametrize("dependent", REFUSED, ids=[d[0] for d in REFUSED])
def test_drift_fix_refused_when_a_rebuild_would_lose_something(hub, unique, dependent):
    cfg, name = wired(hub, unique)
    dsn = hub["hub"].dsn()
    v = ident("public", name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            needle = dependent[1](conn, v)
        drift(hub, name)
        finding = drift_fix(cfg, name)
        assert finding.fix is None
        assert "no automatic fix" in finding.message and "would lose" in finding.message, finding.message
        assert needle in finding.message, finding.message
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("drop view if exists {} cascade").format(v))
            conn.execute("drop function if exists public.acc_noop()")


def test_a_rebuild_missing_a_property_rolls_back(hub, unique):
    """The plan's last step re-reads every property: a plan that lost one (here: its owner step removed)
    fails as a whole and changes nothing."""
    cfg, name = wired(hub, unique)
    dsn = hub["hub"].dsn()
    owner = f"{ODD[0]} own {unique}"
    v = ident("public", name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            make_role(conn, owner)
            conn.execute(sql.SQL("alter view {} owner to {}").format(v, ident(owner)))
        before = state_of(dsn, [("public", name)])
        drift(hub, name)
        fix = drift_fix(cfg, name).fix
        assert fix.steps[-1].kind == "check"
        fix.steps = [s for s in fix.steps if "owned by" not in s.purpose]
        with pytest.raises(wiring.PlanFailed) as err:
            run(lambda c: wiring.apply_plan(c, fix), cfg)
        assert "owner" in str(err.value) and "rolled back" in str(err.value), str(err.value)
        assert state_of(dsn, [("public", name)]) == before
        with psycopg.connect(dsn) as conn:  # the foreign table was not retyped either
            assert conn.execute("select format_type(atttypid, atttypmod) from pg_attribute where attrelid = "
                                "format('leaf.%%I', %s::text)::regclass and attname = 'vec'", (name,)).fetchone()[0] \
                == "vector(8)"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("drop view if exists {} cascade").format(v))
        drop_roles(dsn, [owner])
