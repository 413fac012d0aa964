"""Opening one session to one pod: timeouts, application_name, read-only enforced by the server."""

from __future__ import annotations

import re

import psycopg
from psycopg import conninfo as pg_conninfo

from vecdash.config import PodConfig, Settings
from vecdash.db import vector_param
from vecdash.secrets import dsn_secrets, mask_text

APPLICATION_NAME = "vecdash"


SETTING = re.compile(r"[A-Za-z0-9_.]+")


def session_options(pod: PodConfig, settings: Settings, *, read_only: bool,
                    session: tuple[tuple[str, str], ...] = ()) -> str:
    """The libpq `options` string: the DSN's own options, `session` (a call's own settings, e.g. a
    route's planner setting), then vecdash's enforced settings last, so nothing before overrides them
    (the last `-c` of a name wins)."""
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
    if read_only:
        # The server refuses every write in this session, whatever the UI does.
        parts.append("-c default_transaction_read_only=on")
    return " ".join(parts)


def connect_kwargs(pod: PodConfig, settings: Settings, *, read_only: bool,
                   session: tuple[tuple[str, str], ...] = ()) -> dict:
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
        pod.conninfo, autocommit=autocommit, **connect_kwargs(pod, settings, read_only=read_only, session=session)
    )
    vector_param.register(conn)
    return conn


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
