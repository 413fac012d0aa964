"""Opening one session to one pod: timeouts, application_name, read-only enforced by the server."""

from __future__ import annotations

import psycopg
from psycopg import conninfo as pg_conninfo

from vecdash.config import PodConfig, Settings
from vecdash.secrets import mask_text

APPLICATION_NAME = "vecdash"


def session_options(pod: PodConfig, settings: Settings, *, read_only: bool,
                    session: tuple[tuple[str, str], ...] = ()) -> str:
    """The libpq `options` string: the DSN's own options plus vecdash's session settings, plus
    `session` (vecdash's own constants, e.g. a route's planner setting; never user input)."""
    try:
        existing = pg_conninfo.conninfo_to_dict(pod.conninfo).get("options") or ""
    except psycopg.ProgrammingError:
        existing = ""
    parts = [str(existing).strip()] if existing else []
    parts.append(f"-c statement_timeout={int(settings.statement_timeout_ms)}")
    if read_only:
        # The server refuses every write in this session, whatever the UI does.
        parts.append("-c default_transaction_read_only=on")
    parts += [f"-c {name}={value}" for name, value in session]
    return " ".join(parts)


def connect_kwargs(pod: PodConfig, settings: Settings, *, read_only: bool,
                   session: tuple[tuple[str, str], ...] = ()) -> dict:
    return {
        "connect_timeout": max(1, int(round(settings.connect_timeout_s))),
        "application_name": APPLICATION_NAME,
        "options": session_options(pod, settings, read_only=read_only, session=session),
    }


def pod_secrets(pod: PodConfig) -> list[str]:
    """Secret values in a pod's conninfo, so they can be masked out of any error text."""
    try:
        info = pg_conninfo.conninfo_to_dict(pod.conninfo)
    except psycopg.ProgrammingError:
        return []
    return [str(info[k]) for k in ("password", "sslpassword") if info.get(k)]


async def connect(pod: PodConfig, settings: Settings, *, read_only: bool, autocommit: bool = True,
                  session: tuple[tuple[str, str], ...] = ()) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(
        pod.conninfo, autocommit=autocommit, **connect_kwargs(pod, settings, read_only=read_only, session=session)
    )


def describe_error(exc: BaseException, pod: PodConfig | None = None) -> str:
    """One masked line for an exception from a pod: what a user should see."""
    if isinstance(exc, TimeoutError):
        return "timed out (no answer within the timeout; the server may be hung or overloaded)"
    text = str(exc).strip() or type(exc).__name__
    if "connection timeout expired" in text:
        return "timed out connecting (the server accepted no session within connect_timeout)"
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    # libpq repeats "connection to server at ... failed:" per address; keep the most telling line.
    line = lines[0] if lines else text
    for candidate in lines:
        if "failed:" in candidate:
            line = candidate
            break
    return mask_text(line, pod_secrets(pod) if pod else None)
