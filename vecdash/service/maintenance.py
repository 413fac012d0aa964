"""ANALYZE / VACUUM of one collection, with the table's statistics before and after.

VACUUM cannot run in a transaction block: both run on a dedicated autocommit session, VERBOSE, so
the server's own report (pages, dead tuples removed) is captured from its INFO messages. That session
has no statement timeout (a VACUUM of a large table takes what it takes): it ends when the statement
does, or when the caller cancels (a cancelled await cancels the statement on the server, as Ctrl-C
does in the CLI). `plan_maintain` is the one statement builder: the console confirms its plan, and
`maintain` runs that plan's statement.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

from vecdash.db.long_session import long_session
from vecdash.db.pods import PodClient
from vecdash.db.connect import pod_error
from vecdash.errors import UserError
from vecdash.model import Plan, PlanStep
from vecdash.model_indexes import MaintenanceResult
from vecdash.service.collections import qualified_literal, require

ACTIONS = {"analyze": "analyze (verbose)", "vacuum": "vacuum (verbose)", "vacuum analyze": "vacuum (verbose, analyze)"}

_STATS_SQL = """
select c.reltuples::bigint, c.relpages, pg_total_relation_size(c.oid), s.n_live_tup, s.n_dead_tup,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze
from pg_class c left join pg_stat_user_tables s on s.relid = c.oid where c.oid = to_regclass(%s)
"""
_KEYS = ["rows_estimate", "pages", "total_bytes", "live_tuples", "dead_tuples", "last_vacuum", "last_autovacuum",
         "last_analyze", "last_autoanalyze"]


async def _stats(conn: psycopg.AsyncConnection, schema: str, name: str) -> dict[str, Any]:
    cur = await conn.execute(_STATS_SQL, (qualified_literal(schema, name),))
    row = await cur.fetchone()
    return dict(zip(_KEYS, row)) if row else {}


PURPOSE = {"analyze": "refresh the planner statistics (samples the table)",
           "vacuum": "reclaim dead rows and update the visibility map (reads the whole table)",
           "vacuum analyze": "vacuum, then refresh the planner statistics"}


def plan_maintain(pod: str, schema: str, collection: str, action: str) -> Plan:
    """The statement `maintain` runs, as a plan to confirm (no I/O): VERBOSE, on its own session."""
    if action not in ACTIONS:
        raise UserError(f"unknown maintenance action {action!r} (analyze, vacuum, vacuum analyze)")
    stmt = sql.SQL(ACTIONS[action] + " {}").format(sql.Identifier(schema, collection))
    return Plan(title=f"{action} {schema}.{collection}", pod=pod, transactional=False,
                steps=[PlanStep(purpose=PURPOSE[action], sql=stmt, preview=stmt.as_string(None), kind="maintenance")],
                notes=["no statement timeout: it runs until done or cancelled"])


async def maintain(client: PodClient, pod: str, collection: str, *, action: str = "analyze",
                   schema: str = "vecs") -> MaintenanceResult:
    plan = plan_maintain(pod, schema, collection, action)
    await require(client, pod, collection, schema)
    messages: list[str] = []
    async with long_session(client, pod, what=f"{action} of {schema}.{collection}") as conn:
        conn.add_notice_handler(lambda d: messages.append(
            (d.message_primary or "").strip() + (("\n" + d.message_detail.strip()) if d.message_detail else "")))
        before = await _stats(conn, schema, collection)
        t = time.perf_counter()
        try:
            await conn.execute(plan.steps[0].sql)
        except psycopg.Error as exc:
            raise pod_error(exc, client.pod(pod), f"{action} of {schema}.{collection}") from None
        seconds = time.perf_counter() - t
        # the cumulative statistics system publishes counters with a short delay
        await conn.execute("select pg_stat_force_next_flush()")
        after = await _stats(conn, schema, collection)
    return MaintenanceResult(pod=pod, schema=schema, collection=collection, action=action, seconds=seconds,
                             messages=messages, before=before, after=after)
