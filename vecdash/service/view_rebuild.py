"""Recreating views exactly as they were, or saying what a rebuild would lose.

A fix that drops and recreates a view (dimension drift) must not widen access: `security_invoker`,
`security_barrier`, `check_option` and other options, the owner (whose privileges a view without
`security_invoker` reads with), table and column privileges with their grantors, comments, column
defaults, and a materialized view's access method, tablespace, population, column settings and indexes
all come back. Everything is read on the server (VIEW_PROPERTIES_SQL) and rebuilt from identifiers and
literals; the view bodies and index definitions are the server's own text. The last step of the
rebuild re-reads the same properties inside the plan's transaction and rolls everything back when any
differs, so a property this module does not know cannot be lost silently. What it cannot rebuild (rules,
triggers, statistics objects, functions or policies using the view, security labels, extension
membership) makes the caller refuse the fix, naming each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from vecdash.config import PodConfig
from vecdash.db.pods import PodClient
from vecdash.db.view_sql import VIEW_CHECK_SQL, VIEW_FINGERPRINTS_SQL, VIEW_PROPERTIES_SQL
from vecdash.model import PlanStep
from vecdash.service.plans import step


@dataclass
class ViewProps:
    """One view or materialized view as the catalog holds it."""

    key: str  # quoted schema.name, as the server spells it
    props: dict[str, Any]  # compared after the rebuild
    extra: dict[str, Any]  # definition, default grantees, blockers
    fingerprint: dict[str, str]

    @property
    def schema(self) -> str:
        return self.extra["schema"]

    @property
    def name(self) -> str:
        return self.extra["name"]

    @property
    def kind(self) -> str:
        return "materialized view" if self.extra["materialized"] else "view"

    @property
    def blockers(self) -> list[str]:
        """What depends on or labels this relation and would not survive a drop and rebuild."""
        out = list(self.extra.get("blockers") or [])
        if self.props.get("labels"):
            out.append(f"security labels on {self.kind} {self.schema}.{self.name}")
        return out


def _properties(rels: list[tuple[str, str]]) -> sql.Composable:
    return sql.SQL(VIEW_PROPERTIES_SQL).format(rels=sql.Literal(json.dumps([list(r) for r in rels])))


def _fingerprints(rels: list[tuple[str, str]]) -> sql.Composable:
    return sql.SQL(VIEW_FINGERPRINTS_SQL).format(properties=_properties(rels))


async def read_views(client: PodClient, pod: PodConfig, rels: list[tuple[str, str]]) -> dict[tuple[str, str], ViewProps]:
    """Every property of each (schema, name) view in one round trip; missing ones are absent."""
    if not rels:
        return {}

    async def work(conn: psycopg.AsyncConnection) -> list[tuple]:
        cur = await conn.execute(_fingerprints(rels))
        return await cur.fetchall()

    out = {}
    for key, props, extra, fingerprint in await client.run(pod, work):
        v = ViewProps(key=key, props=props, extra=extra, fingerprint=fingerprint)
        out[(v.schema, v.name)] = v
    return out


def _option(text: str) -> sql.Composable:
    """`name=value` from reloptions as `"name" = 'value'` (a dotted name, e.g. toast.x, part by part)."""
    name, _, value = text.partition("=")
    return sql.SQL("{} = {}").format(sql.SQL(".").join(sql.Identifier(p) for p in name.split(".")), sql.Literal(value))


def _role(name: str | None) -> sql.Composable:
    return sql.Identifier(name) if name is not None else sql.SQL("public")


def _ordered_grants(acl: list[list], owner: str) -> list[list]:
    """Grants in an order the server accepts: the owner's first, then each once its grantor holds the
    privilege with grant option."""
    done: list[list] = []
    can_grant = {(owner, p) for _, _, p, _ in acl}
    pending = list(acl)
    while pending:
        ready = [g for g in pending if g[0] == owner or (g[0], g[2]) in can_grant]
        if not ready:  # an orphaned chain: let the server say so (the plan then rolls back)
            ready = pending
        for g in ready:
            pending.remove(g)
            done.append(g)
            if g[3] and g[1] is not None:
                can_grant.add((g[1], g[2]))
    return done


def _grant_steps(privilege: str, rel: sql.Identifier, shown: str, grant: list, owner: str,
                 column: str | None = None) -> list[PlanStep]:
    """GRANT one privilege back; a grant someone else made is made again as them (GRANTED BY accepts only
    the current role), so its grantor, and what revoking it later takes away, stay the same."""
    grantor, grantee, _, grantable = grant
    cols = sql.SQL(" ({})").format(sql.Identifier(column)) if column is not None else sql.SQL("")
    what = f"{privilege}{f' ({column})' if column is not None else ''} on {shown}"
    q = sql.SQL("grant {}{} on table {} to {}{}").format(
        sql.SQL(privilege), cols, rel, _role(grantee), sql.SQL(" with grant option") if grantable else sql.SQL(""))
    grant_step = step(f"give {what} back to {grantee or 'PUBLIC'}" + (f" (granted by {grantor})" if grantor != owner else ""), q)
    if grantor == owner:
        return [grant_step]
    return [step(f"act as {grantor}, who granted it", sql.SQL("set local role {}").format(sql.Identifier(grantor))),
            grant_step, step("act as vecdash's own role again", sql.SQL("reset role"))]


PRIVILEGES = {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN"}


def unknown_privileges(v: ViewProps) -> list[str]:
    """Privilege names this module would not know how to grant back (a newer server's)."""
    acls = [v.props["acl"]] + [c["acl"] for c in v.props["columns"] or []]
    return sorted({g[2] for acl in acls for g in acl if g[2] not in PRIVILEGES})


def recreate_steps(v: ViewProps) -> list[PlanStep]:
    """Statements that recreate a dropped view with every property it had (in this order: the relation,
    its indexes, owner, privileges, comments, column settings)."""
    p, e = v.props, v.extra
    rel = sql.Identifier(v.schema, v.name)
    kind = sql.SQL(v.kind)
    shown = f"{v.schema}.{v.name}"
    mat = e["materialized"]
    parts: list[sql.Composable] = [sql.SQL("create {} {}").format(kind, rel)]
    if mat and p.get("access_method"):
        parts.append(sql.SQL(" using {}").format(sql.Identifier(p["access_method"])))
    if p["options"]:
        parts.append(sql.SQL(" with ({})").format(sql.SQL(", ").join(_option(o) for o in p["options"])))
    if mat and p.get("tablespace"):
        parts.append(sql.SQL(" tablespace {}").format(sql.Identifier(p["tablespace"])))
    parts += [sql.SQL(" as\n"), sql.SQL(e["definition"].strip().rstrip(";"))]
    if mat:
        parts.append(sql.SQL("\nwith data" if p["populated"] else "\nwith no data"))
    opts = f" with ({', '.join(p['options'])})" if p["options"] else ""
    steps = [step(f"recreate {v.kind} {shown}{opts} as it was", sql.Composed(parts))]

    for ix in p["indexes"]:
        ixrel = sql.Identifier(v.schema, ix["name"])
        steps.append(step(f"index {ix['name']} on {shown} as it was", sql.SQL(ix["definition"])))
        if ix.get("tablespace"):
            steps.append(step(f"index {ix['name']} in tablespace {ix['tablespace']}", sql.SQL(
                "alter index {} set tablespace {}").format(ixrel, sql.Identifier(ix["tablespace"]))))
        if ix.get("comment") is not None:
            steps.append(step(f"comment on index {ix['name']}", sql.SQL("comment on index {} is {}").format(
                ixrel, sql.Literal(ix["comment"]))))
        if ix.get("clustered"):
            steps.append(step(f"{shown} clustered on {ix['name']}", sql.SQL("alter {} {} cluster on {}").format(
                kind, rel, sql.Identifier(ix["name"]))))

    owner = p["owner"]
    steps.append(step(f"{shown} owned by {owner} as before", sql.SQL("alter {} {} owner to {}").format(
        kind, rel, sql.Identifier(owner))))

    # exactly the privileges it had: first nothing for anyone a new relation may have been given
    # something (PUBLIC, the owner, default privileges of the creating role, the old grantees) ...
    roles: list[str | None] = [None, owner]
    for name in [g[1] for g in p["acl"]] + list(e.get("default_grantees") or []):
        if name not in roles:
            roles.append(name)
    steps.append(step(f"no privileges on {shown} but those it had", sql.SQL("revoke all on table {} from {}").format(
        rel, sql.SQL(", ").join(_role(r) for r in roles))))
    # ... then each privilege back, with its grantor
    for g in _ordered_grants(p["acl"], owner):
        steps += _grant_steps(g[2], rel, shown, g, owner)
    for col in p["columns"] or []:
        for g in _ordered_grants(col["acl"], owner):
            steps += _grant_steps(g[2], rel, shown, g, owner, column=col["name"])

    if p.get("comment") is not None:
        steps.append(step(f"comment on {v.kind} {shown}", sql.SQL("comment on {} {} is {}").format(
            kind, rel, sql.Literal(p["comment"]))))
    for col in p["columns"] or []:
        colrel = sql.Identifier(v.schema, v.name, col["name"])
        if col.get("comment") is not None:
            steps.append(step(f"comment on column {shown}.{col['name']}", sql.SQL("comment on column {} is {}").format(
                colrel, sql.Literal(col["comment"]))))
        alter = sql.SQL("alter {} {} alter column {} ").format(kind, rel, sql.Identifier(col["name"]))
        if col.get("default") is not None:
            steps.append(step(f"default of {shown}.{col['name']}", alter + sql.SQL("set default {}").format(
                sql.SQL(col["default"]))))
        if mat and col.get("statistics") is not None and col["statistics"] >= 0:
            steps.append(step(f"statistics target of {shown}.{col['name']}", alter + sql.SQL("set statistics {}").format(
                sql.Literal(int(col["statistics"])))))
        if col.get("options"):
            steps.append(step(f"options of {shown}.{col['name']}", alter + sql.SQL("set ({})").format(
                sql.SQL(", ").join(_option(o) for o in col["options"]))))
    return steps


def check_step(views: list[ViewProps]) -> PlanStep:
    """A read, last in the plan: every recreated relation has every property it had, or the plan rolls back."""
    rels = [(v.schema, v.name) for v in views]
    expected = sql.Literal(json.dumps({v.key: v.fingerprint for v in views}, sort_keys=True))
    q = sql.SQL(VIEW_CHECK_SQL).format(expected=expected, fingerprints=_fingerprints(rels))
    names = ", ".join(f"{v.schema}.{v.name}" for v in views)
    return step(f"check that {names} came back with every property (owner, options, privileges, comments, "
                 f"indexes); else roll back", q, kind="check")
