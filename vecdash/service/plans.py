"""Building and applying a Plan: the one executor every command and the console use.

A transactional plan runs its pending steps in one transaction on a pooled write session, bounded
(call timeout plus statement timeout per step): all or nothing. A plan with `transactional = False`
holds statements PostgreSQL refuses inside a transaction block (CREATE/DROP INDEX CONCURRENTLY, REINDEX
CONCURRENTLY): its steps run one by one on a dedicated autocommit session without statement timeout
(`db.long_session`), since a build may take hours. Either way a failure is one `PlanFailed` (exit 1)
whose text is masked and says what was left applied.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from vecdash.db import secret_statement
from vecdash.db.connect import pod_secrets
from vecdash.db.long_session import long_session
from vecdash.db.pods import PodClient
from vecdash.errors import PodError, PodUnavailable, ReadOnlyError
from vecdash.lines import error_line
from vecdash.model import Plan, PlanStep, SecretStep
from vecdash.secrets import MASK, mask_text


class PlanFailed(PodError):
    """A plan step was refused or the pod was lost; one masked line naming the step and what stayed (exit 1)."""


def step(purpose: str, q: sql.Composable, *, satisfied: bool = False, kind: str = "ddl") -> PlanStep:
    """A step whose preview is the statement itself (it holds no secret)."""
    return PlanStep(purpose=purpose, sql=q, preview=q.as_string(), satisfied=satisfied, kind=kind)


def secret_step(purpose: str, render: Callable[[sql.Composable | None], sql.Composable], secret: str | None) -> PlanStep:
    """A step whose statement holds `secret` where `render(value)` puts `value` (None: no secret)."""
    if not secret:
        return step(purpose, render(None))
    return SecretStep(purpose=purpose, sql=render(sql.Literal(secret)), preview=render(sql.Literal(MASK)).as_string(),
                      secrets=[secret], template=secret_statement.template(render))


def plan_secrets(plan: Plan) -> list[str]:
    return [s for st in plan.steps for s in getattr(st, "secrets", [])]


async def apply_plan(client: PodClient, plan: Plan) -> None:
    """Run the plan's pending steps on plan.pod (see the module's docstring for the session).

    Raises ReadOnlyError in read-only mode (before any session is opened) and PlanFailed, with masked
    text, when a statement fails or the pod is lost.
    """
    if client.read_only:
        raise ReadOnlyError(plan.title)
    pod = client.pod(plan.pod)
    pending = plan.pending
    secrets = plan_secrets(plan) + pod_secrets(pod)
    if not pending:
        return
    if not plan.transactional:
        try:
            async with long_session(client, plan.pod, what=plan.title) as conn:
                for i, st in enumerate(pending, 1):
                    await _run_step(conn, st, i, len(pending), secrets, rolled_back=False)
        except PodUnavailable as exc:  # the session could not be opened: no step ran
            raise PlanFailed(mask_text(f"{plan.title}: {exc}; nothing was changed", secrets)) from None
        return

    async def work(conn: psycopg.AsyncConnection) -> None:
        async with conn.transaction():
            for i, st in enumerate(pending, 1):
                await _run_step(conn, st, i, len(pending), secrets, rolled_back=True)

    timeout = client.config.settings.call_timeout_s + client.config.settings.statement_timeout_ms / 1000 * len(pending)
    try:
        await client.run(pod, work, write=True, what=plan.title, timeout=timeout)
    except PodUnavailable as exc:
        raise PlanFailed(mask_text(f"{plan.title}: {exc}; nothing was changed", secrets)) from None


async def _run_step(conn: psycopg.AsyncConnection, st: PlanStep, i: int, n: int, secrets: list[str], *,
                    rolled_back: bool) -> None:
    """Run one step; a `check` step is a read whose non-null first value says what is wrong (the plan fails)."""
    tail = ("rolled back, nothing was changed" if rolled_back else
            "nothing was changed" if i == 1 else "step 1 was applied" if i == 2 else f"steps 1-{i - 1} were applied")
    try:
        if isinstance(st, SecretStep) and st.template:
            await secret_statement.execute_secret(conn, st.template, st.secrets[0])
            problem = None
        else:
            cur = await conn.execute(st.sql)
            problem = (await cur.fetchone() or [None])[0] if st.kind == "check" else None
    except psycopg.Error as exc:
        raise PlanFailed(mask_text(f"step {i}/{n} failed ({st.purpose}): {error_line(exc)}; {tail}", secrets)) from None
    if problem:
        raise PlanFailed(mask_text(f"step {i}/{n} failed ({st.purpose}): differs after the rebuild: {problem}; "
                                   f"{tail}", secrets))
