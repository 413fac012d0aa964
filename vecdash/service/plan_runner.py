"""Applying a Plan: one transaction when the plan allows it, statement by statement when not.

`Plan.transactional = False` is for statements PostgreSQL refuses inside a transaction block
(CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY, VACUUM): those run one by one on a dedicated
autocommit session without statement timeout.
"""

from __future__ import annotations

import psycopg

from vecdash.db.long_session import long_session
from vecdash.db.pods import PodClient
from vecdash.errors import PodError
from vecdash.lines import error_line
from vecdash.model import Plan


class PlanFailed(PodError):
    """A plan step was refused by the server (exit 1); names the step."""


async def execute_plan(client: PodClient, plan: Plan) -> None:
    """Run every pending step of `plan` on `plan.pod` (ReadOnlyError in read-only mode, before any I/O)."""
    steps = plan.pending
    if not steps:
        return
    async with long_session(client, plan.pod, what=plan.title) as conn:
        step = steps[0]
        try:
            if plan.transactional:
                async with conn.transaction():
                    for step in steps:
                        await conn.execute(step.sql)
            else:
                for step in steps:
                    await conn.execute(step.sql)
        except psycopg.Error as exc:
            done = "nothing was applied" if plan.transactional else "earlier steps stay applied"
            raise PlanFailed(f"pod {plan.pod}: step '{step.purpose}' failed: {error_line(exc)} ({done})") from None
