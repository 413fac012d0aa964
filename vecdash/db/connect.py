"""Opening one session to one pod: timeouts, application_name, read-only enforced by the server.

Read-only is set on the session right after it opens, not in the startup packet: libpq chooses a host
for `target_session_attrs=read-write` (or `read-only`) from the server's own `default_transaction_read_only`
as reported at startup, so a startup `-c default_transaction_read_only=on` made every host look read-only
and a healthy primary was refused. Set afterwards, the DSN picks exactly the host it picks without
read-only, and the server still refuses every write in the session.
"""

from __future__ import annotations

import re

import psycopg
from psycopg import conninfo as pg_conninfo

from vecdash.config import PodConfig, Settings
from vecdash.db import vector_param
from vecdash.db.placeholders import AsyncCursor, Cursor
from vecdash.errors import PodError, PodUnavailable, ServerRefused
from vecdash.lines import first_line
from vecdash.secrets import dsn_secrets, mask_text

APPLICATION_NAME = "vecdash"


SETTING = re.compile(r"[A-Za-z0-9_.]+")


def session_options(pod: PodConfig, settings: Settings, *, read_only: bool,
                    session: tuple[tuple[str, str], ...] = ()) -> str:
    """The libpq `options` string: the DSN's own options, `session` (a call's own settings, e.g. a
    route's planner setting), then vecdash's enforced settings last, so nothing before overrides them
    (the last `-c` of a name wins). Read-only is not among them: see READ_ONLY_SQL."""
    try:
        existing = pg_conninfo.conninfo_to_dict(pod.conninfo).get("options") or ""
    except psycopg.ProgrammingError:
        existing = ""
    parts = [str(existing).strip()] if existing else []
    for name, value in session:
        if not (SETTING.fullmatch(name) and SETTING.fullmatch(value)):
            raise ValueError(f"session setting {name!r}={value!r}: names and values are [A-Za-z0-9_.]+")
        parts.append(f"-c {name}={value}")
    parts.append(f"-c statement_timeout={int(settings.statement_timeout_ms)}")
    return " ".join(parts)


# Run on a read-only session before anything else: after the startup options (the DSN's and a call's
# `session` settings), so none of them can lift it; the server then refuses every write in the session.
READ_ONLY_SQL = "select pg_catalog.set_config('default_transaction_read_only', 'on', false)"


def _connect_kwargs(pod: PodConfig, settings: Settings, *, read_only: bool,
                   session: tuple[tuple[str, str], ...] = ()) -> dict:
    """Keyword arguments for psycopg's connect; a read-only session also needs READ_ONLY_SQL (both
    `connect` and `connect_sync` run it)."""
    return {
        "connect_timeout": max(1, int(round(settings.connect_timeout_s))),
        "application_name": APPLICATION_NAME,
        "options": session_options(pod, settings, read_only=read_only, session=session),
    }


def pod_secrets(pod: PodConfig) -> list[str]:
    """Secret values in a pod's DSN, found by shape too, so they can be masked out of any error text."""
    return dsn_secrets(pod.dsn)


async def connect(pod: PodConfig, settings: Settings, *, read_only: bool, autocommit: bool = True,
                  session: tuple[tuple[str, str], ...] = ()) -> psycopg.AsyncConnection:
    conn = await psycopg.AsyncConnection.connect(
        pod.conninfo, autocommit=autocommit, cursor_factory=AsyncCursor,
        **_connect_kwargs(pod, settings, read_only=read_only, session=session)
    )
    if read_only:
        try:
            await conn.execute(READ_ONLY_SQL)
            if not autocommit:
                await conn.commit()
        except BaseException:
            conn.pgconn.finish()
            raise
    vector_param.register(conn)
    return conn


def connect_sync(pod: PodConfig, settings: Settings, *, read_only: bool, autocommit: bool = True) -> psycopg.Connection:
    """The blocking twin of `connect`, for work that runs in a thread (a second session of one snapshot)."""
    conn = psycopg.connect(pod.conninfo, autocommit=autocommit, cursor_factory=Cursor,
                           **_connect_kwargs(pod, settings, read_only=read_only))
    if read_only:
        try:
            conn.execute(READ_ONLY_SQL)
            if not autocommit:
                conn.commit()
        except BaseException:
            conn.pgconn.finish()
            raise
    return conn


def describe_error(exc: BaseException, pod: PodConfig | None = None) -> str:
    """One masked line for an exception from a pod: what a user should see."""
    if isinstance(exc, TimeoutError):
        return "timed out (no answer within the timeout; the server may be hung or overloaded)"
    text = str(exc).strip() or type(exc).__name__
    if "connection timeout expired" in text:
        return "timed out connecting (the server accepted no session within connect_timeout)"
    # libpq repeats "connection to server at ... failed:" per address; keep the most telling line.
    lines = [l.strip() for l in text.splitlines()]
    line = next((l for l in lines if "failed:" in l), first_line(text))
    return mask_text(line, pod_secrets(pod) if pod else None)


# SQLSTATEs that say the session or the server went away, rather than refused a statement.
_GONE = ("57P01", "57P02", "57P03")


def pod_error(exc: BaseException, pod: PodConfig, what: str | None = None) -> PodError:
    """The one classification of a failure from a pod (exit 1 either way, one masked line).

    Lost, unreachable or timed out: PodUnavailable. The server answered with an error: ServerRefused.
    `what` names the action that failed (e.g. "step 'create view'"), prefixed to the server's words.
    """
    if isinstance(exc, PodError):
        return exc
    reason = describe_error(exc, pod)
    state = getattr(exc, "sqlstate", None)
    gone = isinstance(exc, (TimeoutError, OSError)) or (
        isinstance(exc, psycopg.OperationalError) and (state is None or state.startswith("08") or state in _GONE))
    if gone:
        return PodUnavailable(pod.name, f"{what}: {reason}" if what else reason)
    return ServerRefused(pod.name, f"{what} failed: {reason}" if what else reason)
