"""Sessions to every pod of an estate, with bounded calls.

`PodClient.run(pod, fn)` borrows a session (reusing an idle one), runs `fn(conn)` and gives the
session back. Every call is bounded on the client side: a hung server (SIGSTOP, dead network)
enforces no statement_timeout, and psycopg's own cancel-on-interrupt can wait several more
seconds, so a call that overruns is abandoned (its session is discarded) rather than awaited.
"""

from __future__ import annotations

import asyncio
import select
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
from psycopg import pq

from vecdash.config import Config, PodConfig
from vecdash.db.connect import connect, describe_error
from vecdash.errors import PodUnavailable, ReadOnlyError, UserError

T = TypeVar("T")
MAX_IDLE_PER_POD = 4
# Settings a session is opened with (libpq options), beyond the config's: sessions are pooled per
# (pod, settings), so a route that always needs one planner setting pays no SET per statement.
SessionSettings = tuple[tuple[str, str], ...]


def _swallow(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()


class PodClient:
    def __init__(self, config: Config, *, offline: str | None = None):
        """`offline`: why this client must open no session (a replay): every call is refused with it."""
        self.config = config
        self.offline = offline
        self._idle: dict[tuple[str, SessionSettings], list[psycopg.AsyncConnection]] = {}
        self._closed = False

    @property
    def read_only(self) -> bool:
        return self.config.settings.read_only

    def pod(self, name: str) -> PodConfig:
        return self.config.pod(name)

    async def _acquire(self, pod: PodConfig, session: SessionSettings = ()) -> psycopg.AsyncConnection:
        if self.offline:
            raise UserError(self.offline)
        idle = self._idle.setdefault((pod.name, session), [])
        while idle:
            conn = idle.pop()
            if _still_alive(conn):
                return conn
            _close_now(conn)
        return await connect(pod, self.config.settings, read_only=self.read_only, session=session)

    def _release(self, pod: PodConfig, conn: psycopg.AsyncConnection, healthy: bool,
                 session: SessionSettings = ()) -> None:
        idle = self._idle.setdefault((pod.name, session), [])
        if (
            healthy
            and not self._closed
            and not conn.closed
            and conn.info.transaction_status == pq.TransactionStatus.IDLE
            and len(idle) < MAX_IDLE_PER_POD
        ):
            idle.append(conn)
        else:
            asyncio.ensure_future(_close_quietly(conn))

    async def run(
        self,
        pod: str | PodConfig,
        fn: Callable[[psycopg.AsyncConnection], Awaitable[T]],
        *,
        timeout: float | None = None,
        write: bool = False,
        what: str = "this action",
        session: SessionSettings = (),
    ) -> T:
        """Run `fn` on a session to `pod`, bounded by `timeout` (default: the config's call timeout).

        `session`: settings the session must have been opened with (see SessionSettings).
        Raises PodUnavailable (connect failure or timeout), ReadOnlyError (write in read-only mode),
        or whatever `fn` raises (psycopg errors from the statements themselves).
        """
        pod = self.pod(pod) if isinstance(pod, str) else pod
        if write and self.read_only:
            raise ReadOnlyError(what)
        limit = timeout if timeout is not None else self.config.settings.abandon_after_s
        deadline = time.monotonic() + limit
        conn_holder: list[psycopg.AsyncConnection] = []

        loop = asyncio.get_running_loop()
        waiter = loop.create_future()

        def wake(_: object = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        async def call() -> T:
            try:
                conn = await self._acquire(pod, session)
                conn_holder.append(conn)
                return await fn(conn)
            finally:
                # from the task's last step, not a done callback: the caller resumes one loop turn
                # sooner, and the task is done by then (it finishes in this same step)
                wake()

        # `fn` runs in its own task, awaited with a deadline: on timeout the task is abandoned, not
        # awaited, because psycopg's own cancel path can block on a hung server. (asyncio.wait does the
        # same with more bookkeeping; this is on every query's path.)
        task = loop.create_task(call())
        task.add_done_callback(wake)  # a task cancelled before its first step never runs `call`
        timer = loop.call_later(max(0.05, deadline - time.monotonic()), wake)
        try:
            await waiter
        except asyncio.CancelledError:
            timer.cancel()
            task.cancel()
            task.add_done_callback(_swallow)
            self._discard(conn_holder)
            raise
        timer.cancel()
        if not task.done():
            task.cancel()
            task.add_done_callback(_swallow)
            self._discard(conn_holder)
            raise PodUnavailable(pod.name, describe_error(TimeoutError(), pod))
        exc = task.exception()
        if exc is None:
            if conn_holder:
                self._release(pod, conn_holder[0], healthy=True, session=session)
            return task.result()
        self._discard(conn_holder, keep_if_usable=pod, session=session)
        if isinstance(exc, psycopg.OperationalError) and (not conn_holder or conn_holder[0].closed or conn_holder[0].broken):
            raise PodUnavailable(pod.name, describe_error(exc, pod)) from None
        if isinstance(exc, OSError):
            raise PodUnavailable(pod.name, describe_error(exc, pod)) from None
        raise exc

    def _discard(self, holder: list[psycopg.AsyncConnection], keep_if_usable: PodConfig | None = None,
                 session: SessionSettings = ()) -> None:
        for conn in holder:
            if keep_if_usable is not None and not conn.closed and not conn.broken:
                self._release(keep_if_usable, conn, healthy=True, session=session)
            else:
                _close_now(conn)

    async def close(self) -> None:
        self._closed = True
        conns = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for c in conns:
            await _close_quietly(c)

    async def gather(self, fn: Callable[[PodConfig], Awaitable[T]], pods: list[PodConfig] | None = None) -> list[T]:
        """Run `fn(pod)` for every pod concurrently; results in pod order."""
        pods = list(self.config.pods) if pods is None else pods
        return list(await asyncio.gather(*(fn(p) for p in pods)))


def _still_alive(conn: psycopg.AsyncConnection) -> bool:
    """Whether an idle pooled session can be reused.

    An idle session has nothing to read. If its socket is readable, the server has closed it or
    is about to (restart, crash, pg_terminate_backend): reusing it would report a pod that is up
    again as down, so it is dropped and the caller opens a fresh one.
    """
    if conn.closed or conn.broken or conn.info.transaction_status != pq.TransactionStatus.IDLE:
        return False
    try:
        fd = conn.pgconn.socket
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
            return not poller.poll(0)
        return not select.select([fd], [], [], 0)[0]
    except (OSError, ValueError, psycopg.Error):
        return False


def _close_now(conn: psycopg.AsyncConnection) -> None:
    try:
        # PQfinish on the raw connection: never waits on a hung server.
        conn.pgconn.finish()
    except Exception:
        pass


async def _close_quietly(conn: psycopg.AsyncConnection) -> None:
    try:
        await asyncio.wait_for(conn.close(), 1.0)
    except BaseException:
        _close_now(conn)
