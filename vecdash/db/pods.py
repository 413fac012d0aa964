"""Sessions to every pod of an estate, with bounded calls.

`PodClient.run(pod, fn)` borrows a session (reusing an idle one), runs `fn(conn)` and gives the
session back. Every call is bounded on the client side: a hung server (SIGSTOP, dead network)
enforces no statement_timeout, and psycopg's own cancel-on-interrupt can wait several more
seconds, so a call that overruns is abandoned (its session is discarded) rather than awaited.

Connection economy, for estates of hundreds of pods: at most MAX_IDLE_PER_POD idle sessions per pod
(and session settings), each closed once idle for `idle_close_s`; and at most CONNECT_SLOTS connects
in flight at once (a connect is the costly part of a refresh: fork, authentication, catalog caches).
A call's deadline starts when its connect starts, never while it queues for a slot (see `run`).
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
# A refresh needs one session per pod; more idle ones would only hold server backends (and their
# memory) on every pod for nothing. Concurrent calls to one pod open extra sessions, closed after use.
MAX_IDLE_PER_POD = 1
# An idle session is closed after this long: the console reuses each pod's session every refresh (5 s
# by default), so only a client that stopped refreshing (or a session of a one-off route) waits this
# long; a minute keeps a pod's backends for a pause of twelve refreshes and gives them back after.
IDLE_CLOSE_S = 60.0
# Connects (and paced refresh calls) in flight at once. Measured on 200 pods (4 local servers sharing
# 2 cores with the client, console refresh with activity; cold / pooled wall, first pod, longest loop
# stall, ms): 4: 7222/2977, 128, 28 · 8: 5436/2372, 210, 50 · 16: 5447/2464, 422, 108 · 32: 5391/2699,
# 844, 383 · unbounded: 4858/2096, 4620, 2334. The whole refresh barely depends on it (the servers'
# CPU bounds it), but unbounded every backend competes for the cores at once, the first pod answers
# only at the end and the client's loop gets no turn for seconds; 8 keeps the total within noise of
# unbounded while the first pods answer at once and the loop stays responsive. The slots open one at a
# time (one more each time one is given back): the first pod's connect has the servers' cores to itself
# and answers about as soon as a lone pod's would, and the bound is reached after a few connects.
CONNECT_SLOTS = 8
# A connect holds its slot at most this long: a hung pod (SIGSTOP, a dead network) uses no CPU while
# libpq waits out connect_timeout, so it must not keep a healthy pod's connect queued behind it.
SLOT_HOLD_S = 0.5
# Settings a session is opened with (libpq options), beyond the config's: sessions are pooled per
# (pod, settings), so a route that always needs one planner setting pays no SET per statement.
SessionSettings = tuple[tuple[str, str], ...]


def _swallow(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()


class PodClient:
    def __init__(self, config: Config, *, offline: str | None = None, idle_close_s: float = IDLE_CLOSE_S,
                 connect_slots: int | None = CONNECT_SLOTS):
        """`offline`: why this client must open no session (a replay): every call is refused with it.
        `idle_close_s`: how long a pooled session may stay idle; `connect_slots`: connects in flight at
        once (None: unbounded)."""
        self.config = config
        self.offline = offline
        self.idle_close_s = idle_close_s
        self.connect_slots = connect_slots
        self.slot_hold_s = SLOT_HOLD_S
        self._idle: dict[tuple[str, SessionSettings], list[psycopg.AsyncConnection]] = {}
        self._idle_since: dict[int, float] = {}  # id(conn) -> when it was last given back
        self._sweep: asyncio.TimerHandle | None = None
        self._slots: asyncio.Semaphore | None = None
        self._slots_open = 0  # slots opened so far (slow start, see CONNECT_SLOTS)
        self.connects_in_flight = 0  # connects started and not finished (tests watch the bound)
        self.most_connects_in_flight = 0
        self._closed = False

    @property
    def read_only(self) -> bool:
        return self.config.settings.read_only

    def pod(self, name: str) -> PodConfig:
        return self.config.pod(name)

    async def _take_slot(self) -> Callable[[], None]:
        """Wait for one of `connect_slots`; returns the function that gives it back, which also runs by
        itself after `slot_hold_s` (a hung pod holds a slot no longer than that)."""
        if self.connect_slots is None:
            return lambda: None
        if self._slots is None:  # slow start: one slot, one more each time one is given back
            self._slots = asyncio.Semaphore(1)
            self._slots_open = 1
        await self._slots.acquire()
        held = [True]

        def give_back() -> None:
            if held[0]:
                held[0] = False
                hold.cancel()
                self._slots.release()
                if self._slots_open < self.connect_slots:
                    self._slots_open += 1
                    self._slots.release()

        hold = asyncio.get_running_loop().call_later(self.slot_hold_s, give_back)
        return give_back

    async def _acquire(self, pod: PodConfig, session: SessionSettings = (),
                       started: Callable[[], None] = lambda: None, slotted: bool = False) -> psycopg.AsyncConnection:
        """A pooled session, or a new one; `started()` is called once the pod is being talked to (a
        pooled session at once, a new one when its connect leaves the queue for a slot). `slotted`: the
        call holds a slot already (a paced call), its connect takes no second one."""
        if self.offline:
            raise UserError(self.offline)
        idle = self._idle.setdefault((pod.name, session), [])
        while idle:
            conn = idle.pop()
            self._idle_since.pop(id(conn), None)
            if _still_alive(conn):
                started()
                return conn
            _close_now(conn)
        give_back = (lambda: None) if slotted else await self._take_slot()
        started()
        try:
            return await self._connect(pod, session)
        finally:
            give_back()

    async def _connect(self, pod: PodConfig, session: SessionSettings) -> psycopg.AsyncConnection:
        self.connects_in_flight += 1
        self.most_connects_in_flight = max(self.most_connects_in_flight, self.connects_in_flight)
        try:
            return await connect(pod, self.config.settings, read_only=self.read_only, session=session)
        finally:
            self.connects_in_flight -= 1

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
            self._idle_since[id(conn)] = time.monotonic()
            self._arm_sweep(self.idle_close_s)
        else:
            asyncio.ensure_future(_close_quietly(conn))

    def _arm_sweep(self, after: float) -> None:
        if self._sweep is None and not self._closed:
            self._sweep = asyncio.get_running_loop().call_later(max(0.01, after), self._close_idle)

    def _close_idle(self) -> None:
        """Close the sessions idle for idle_close_s; re-arm for the oldest one left."""
        self._sweep = None
        now = time.monotonic()
        oldest = None
        for idle in self._idle.values():
            for conn in list(idle):
                since = self._idle_since.get(id(conn), now)
                if now - since >= self.idle_close_s:
                    idle.remove(conn)
                    self._idle_since.pop(id(conn), None)
                    asyncio.ensure_future(_close_quietly(conn))
                else:
                    oldest = since if oldest is None else min(oldest, since)
        if oldest is not None:
            self._arm_sweep(oldest + self.idle_close_s - now)

    async def run(
        self,
        pod: str | PodConfig,
        fn: Callable[[psycopg.AsyncConnection], Awaitable[T]],
        *,
        timeout: float | None = None,
        write: bool = False,
        what: str = "this action",
        session: SessionSettings = (),
        paced: bool = False,
    ) -> T:
        """Run `fn` on a session to `pod`, bounded by `timeout` (default: the config's call timeout).

        `session`: settings the session must have been opened with (see SessionSettings).
        `paced`: the whole call (not only its connect) holds one of the connect slots, as a refresh of
        every pod does: hundreds of pods asked at once would have as many backends compete for the
        client's cores (here, where the servers share them) and answer all together, and the client's
        loop would serve them all in one stretch; a few at a time, each answers sooner.
        Raises PodUnavailable (connect failure or timeout), ReadOnlyError (write in read-only mode),
        or whatever `fn` raises (psycopg errors from the statements themselves).
        """
        pod = self.pod(pod) if isinstance(pod, str) else pod
        if write and self.read_only:
            raise ReadOnlyError(what)
        limit = timeout if timeout is not None else self.config.settings.abandon_after_s
        conn_holder: list[psycopg.AsyncConnection] = []

        loop = asyncio.get_running_loop()
        waiter = loop.create_future()

        def wake(_: object = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        timer: list[asyncio.TimerHandle] = []

        def start_clock() -> None:
            # the deadline runs from the first moment the pod is asked (its connect, or a pooled
            # session's first statement), never from the queue for a connect slot: a call queued
            # behind others is not a hung pod. The queue itself is short: each slot is held at most
            # SLOT_HOLD_S, so even hung pods ahead in it delay a connect by only that much per slot.
            if not timer:
                timer.append(loop.call_later(limit, wake))

        async def call() -> T:
            give_back: Callable[[], None] = lambda: None
            try:
                if paced:
                    give_back = await self._take_slot()
                    start_clock()
                conn = await self._acquire(pod, session, start_clock, slotted=paced)
                conn_holder.append(conn)
                return await fn(conn)
            finally:
                give_back()
                # from the task's last step, not a done callback: the caller resumes one loop turn
                # sooner, and the task is done by then (it finishes in this same step)
                wake()

        # `fn` runs in its own task, awaited with a deadline: on timeout the task is abandoned, not
        # awaited, because psycopg's own cancel path can block on a hung server. (asyncio.wait does the
        # same with more bookkeeping; this is on every query's path.)
        task = loop.create_task(call())
        task.add_done_callback(wake)  # a task cancelled before its first step never runs `call`
        try:
            await waiter
        except asyncio.CancelledError:
            for t in timer:
                t.cancel()
            task.cancel()
            task.add_done_callback(_swallow)
            self._discard(conn_holder)
            raise
        for t in timer:
            t.cancel()
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
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        conns = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        self._idle_since.clear()
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
