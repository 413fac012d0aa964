"""What a query's answer tells the user to change: a missing index, knobs postgres_fdw does not carry
(and the server options that would), a scan whose ORDER BY ... LIMIT was not shipped."""

from __future__ import annotations

from psycopg import sql

from vecdash.model import Collection, Plan, PlanStep, Topology
from vecdash.service.query.routes import Target
from vecdash.service.query.spec import QueryError


def index_warning(c: Collection, measure: str) -> str | None:
    """A warning when no valid vector index on `c` serves `measure` (the query would scan every row)."""
    if measure in c.measures_indexed():
        return None
    ops = f"{c.type}_{measure}_ops"
    return (f"no valid hnsw/ivfflat index on {c.pod} {c.qualified} serves {measure} ({ops}): "
            f"the query scans every row (exact)")


def fdw_knob_note(targets: list[Target], knobs: list[tuple[str, str]]) -> str:
    """Why knobs asked for on a postgres_fdw route were not applied, and the DDL that would apply them."""
    settings = ", ".join(f"{k}={v}" for k, v in knobs)
    flags = " ".join(f"-c {k}={v}" for k, v in knobs)
    servers = sorted({t.server.name for t in targets if t.server})
    srv = servers[0] if servers else "SERVER"
    alter = sql.SQL("ALTER SERVER {} OPTIONS (ADD options {})").format(sql.Identifier(srv), sql.Literal(flags))
    role = "; ".join(f"ALTER ROLE <mapped user> SET {k} = {v}" for k, v in knobs)
    return (f"not applied: {settings}. Settings made on the primary do not travel through postgres_fdw (the "
            f"pod's session keeps its defaults). Set them for the wiring: {alter.as_string(None)} (new FDW "
            f"sessions only; SELECT postgres_fdw_disconnect_all() on the primary), or per role on the pod: {role}")


def plan_remote_settings(topology: Topology, server: str, settings: dict[str, str]) -> Plan:
    """DDL that makes the pod's FDW sessions start with `settings` (libpq `options` on the server)."""
    primary = topology.primary
    if primary is None:
        raise QueryError("no primary pod in the topology")
    srv = next((s for s in primary.foreign_servers if s.name == server), None)
    if srv is None:
        raise QueryError(f"no foreign server {server!r} on {primary.name}")
    for k, v in settings.items():
        if k not in ("hnsw.ef_search", "hnsw.iterative_scan", "ivfflat.probes", "ivfflat.iterative_scan",
                     "hnsw.max_scan_tuples", "ivfflat.max_probes") or not str(v).replace("_", "").isalnum():
            raise QueryError(f"setting {k}={v!r} cannot be put in server options")
    existing = srv.options.get("options", "")
    flags = " ".join(([existing] if existing else []) + [f"-c {k}={v}" for k, v in settings.items()])
    verb = sql.SQL("SET") if existing else sql.SQL("ADD")
    stmt = sql.SQL("ALTER SERVER {} OPTIONS ({} options {})").format(sql.Identifier(server), verb, sql.Literal(flags))
    text = stmt.as_string(None)
    return Plan(title=f"pod sessions of server {server} start with {', '.join(f'{k}={v}' for k, v in settings.items())}",
                pod=primary.name, steps=[PlanStep(purpose="libpq options for new FDW sessions", sql=stmt, preview=text)],
                notes=["takes effect for new FDW sessions: SELECT postgres_fdw_disconnect_all() on the primary"])


def pushdown_warnings(plan: str) -> list[str]:
    """A warning when an EXPLAIN shows a Remote SQL without ORDER BY ... LIMIT (every row crosses)."""
    out = []
    for line in plan.splitlines():
        s = line.strip()
        if s.startswith("Remote SQL:") and " LIMIT " not in s:
            out.append("a Remote SQL has no ORDER BY ... LIMIT: the pod sends every matching row to the primary")
            break
    return out
