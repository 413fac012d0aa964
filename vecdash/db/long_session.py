"""A dedicated session for long statements (index builds, VACUUM, concurrent DDL).

Pooled `PodClient.run` sessions carry the configured statement_timeout and a client-side bound,
both right for catalog reads and wrong for a build that takes hours. A long session is opened on
its own (autocommit, same DSN and read-only setting), has no statement timeout and is closed after
use, so its session settings (maintenance_work_mem, ...) never leak into the pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg

from vecdash.db.connect import connect, pod_error
from vecdash.db.pods import PodClient
from vecdash.errors import ReadOnlyError, UserError


@asynccontextmanager
async def long_session(client: PodClient, pod: str, *, write: bool = True, what: str = "this action") -> AsyncIterator[psycopg.AsyncConnection]:
    if client.offline:
        raise UserError(client.offline)
    if write and client.read_only:
        raise ReadOnlyError(what)
    cfg = client.pod(pod)
    try:
        conn = await connect(cfg, client.config.settings, read_only=client.read_only, autocommit=True)
    except (psycopg.OperationalError, OSError) as exc:
        raise pod_error(exc, cfg) from None
    try:
        await conn.execute("select set_config('statement_timeout', '0', false)")
        yield conn
    except psycopg.Error as exc:  # what the caller did not map itself: classified here, once
        raise pod_error(exc, cfg) from None
    finally:
        try:
            await conn.close()
        except Exception:
            conn.pgconn.finish()
