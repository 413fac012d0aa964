"""What every pod is doing now: sessions, progress, scan counters, top statements, rates and alerts.

Read with the catalog (service/catalog.snapshot(client, activity=True)): the probe, then ONE pipeline
of catalog + activity (+ pg_stat_statements when installed), so a refresh with activity costs the
same round trips as one without, and none per collection. A part a role may not read, or that fails,
is a note on its pod, never an error for the whole pod (pg_activity's habit). vecdash never installs
pg_stat_statements.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from vecdash.config import Settings
from vecdash.db.activity_sql import PROBE_SQL, TOP_STATEMENTS, activity_sql, statements_sql
from vecdash.db.pods import PodClient
from vecdash.errors import ReadOnlyError, ServerRefused, UserError
from vecdash.lines import error_line
from vecdash.model import VECTOR_OPERATORS, PodStatus, Topology, is_vector_query, to_jsonable
from vecdash.model_activity import (
    OWN_APPLICATION_PREFIX,
    Alert,
    CollectionActivity,
    PodActivity,
    Progress,
    Rates,
    Replica,
    Session,
    Statement,
)
from vecdash.service.cache_fit import cache_warning
from vecdash.service.index_plans import MIN_INDEX_ROWS
from vecdash.units import human_bytes, seconds

# what pg_stat_activity and pg_stat_statements show for another role's text without pg_read_all_stats
HIDDEN = "<insufficient privilege>"
# without rates (the first refresh), a sequential scan this recent on an indexed collection is flagged
RECENT_SEQ_SCAN_S = 300.0
VECTOR_METHODS = ("hnsw", "ivfflat")
SIGNALS = {
    "cancel": "select a.pid, pg_catalog.pg_cancel_backend(a.pid) from pg_catalog.pg_stat_activity a"
              " where a.pid = %s and a.datname = pg_catalog.current_database() and a.pid <> pg_catalog.pg_backend_pid()",
    "terminate": "select a.pid, pg_catalog.pg_terminate_backend(a.pid) from pg_catalog.pg_stat_activity a"
                 " where a.pid = %s and a.datname = pg_catalog.current_database() and a.pid <> pg_catalog.pg_backend_pid()",
}


# --- reading, in the catalog's pipeline ----------------------------------------------------------------


@dataclass
class Raw:
    """What one pipeline read: the documents, and the first line of what failed."""

    doc: dict[str, Any] | None = None
    statements: dict[str, Any] | None = None
    pgss_schema: str | None = None
    pgss_loaded: bool = False
    error: str | None = None  # the activity statement failed (statements then not read)
    statements_error: str | None = None


async def read_with_catalog(conn: psycopg.AsyncConnection, catalog: sql.Composable) -> tuple[float, Any, Raw]:
    """The probe (latency; where pg_stat_statements is), then one pipeline: catalog, activity, statements.

    A failing catalog statement raises (the pod's error, as without activity); a failing activity or
    statements statement is kept in `Raw` for a note. Returns (latency_ms, catalog document, Raw).
    """
    t = time.perf_counter()
    cur = await conn.execute(PROBE_SQL)
    row = await cur.fetchone()
    latency = (time.perf_counter() - t) * 1000
    raw = Raw(pgss_schema=row[0] if row else None, pgss_loaded=bool(row and row[1]))
    cursors: list[psycopg.AsyncCursor] = []
    failure: psycopg.Error | None = None
    try:
        async with conn.pipeline():
            cursors.append(await conn.execute(catalog))
            cursors.append(await conn.execute(activity_sql(conn.info.server_version)))
            if raw.pgss_schema and raw.pgss_loaded:
                cursors.append(await conn.execute(statements_sql(raw.pgss_schema),
                                                  {"operators": list(VECTOR_OPERATORS), "limit": TOP_STATEMENTS}))
    except psycopg.Error as exc:  # the statements after the failing one have no result
        failure = exc
    docs = []
    for c in cursors:
        try:
            row = await c.fetchone()
        except psycopg.Error:
            break
        docs.append(row[0] if row else None)
    if not docs:
        raise failure or psycopg.OperationalError("the catalog statement returned nothing")
    if len(docs) >= 2:
        raw.doc = docs[1]
    else:
        raw.error = error_line(failure) if failure else "no result"
    if len(docs) >= 3:
        raw.statements = docs[2]
    elif len(cursors) == 3 and raw.doc is not None:
        raw.statements_error = error_line(failure) if failure else "no result"
    return latency, docs[0], raw


def parse(name: str, raw: Raw) -> PodActivity:
    """One pod's activity from what its pipeline read; notes say what is missing and why."""
    act = PodActivity(name=name, up=True)
    if raw.doc is None:
        act.notes.append(f"activity could not be read: {raw.error}")
        return act
    doc = raw.doc
    act.taken_at = _ts(doc.get("now"))
    act.sessions = [_session(s) for s in doc.get("sessions") or []]
    act.progress = [_progress(p) for p in doc.get("progress") or []]
    act.collections = [_collection(c) for c in doc.get("collections") or []]
    act.replicas = [Replica(name=r.get("name"), client=r.get("client"), state=r.get("state"),
                            lag_bytes=r.get("lag_bytes"), replay_lag_s=r.get("replay_lag_s"))
                    for r in doc.get("replicas") or []]
    if raw.statements is not None:
        act.statements = [_statement(s) for s in raw.statements.get("top") or []]
    act.notes = _notes(doc, raw, act)
    act.counters = _counters(act, raw.statements)
    return act


def _ts(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _shown(text: str | None) -> str | None:
    return None if text == HIDDEN else text


def _session(s: dict[str, Any]) -> Session:
    query = _shown(s.get("query"))
    application = s.get("application")
    return Session(pid=s["pid"], user=s.get("user"), application=application, client=s.get("client"),
                   state=s.get("state"), wait_event=s.get("wait_event"), xact_age_s=s.get("xact_age_s"),
                   query_age_s=s.get("query_age_s"), query=query, vector=is_vector_query(query),
                   blocked_by=list(s.get("blocked_by") or []),
                   own=bool(application and application.startswith(OWN_APPLICATION_PREFIX)),
                   backend_type=s.get("backend_type"))


def _progress(p: dict[str, Any]) -> Progress:
    percent = p.get("percent")
    return Progress(pid=p["pid"], command=p.get("command") or "?", phase=p.get("phase"), relation=p.get("relation"),
                    percent=float(percent) if percent is not None else None, index=p.get("index"))


def _collection(c: dict[str, Any]) -> CollectionActivity:
    keys = ("seq_scan", "idx_scan", "vector_index", "vector_index_scans", "seq_tup_read", "idx_tup_fetch",
            "n_live_tup", "n_dead_tup", "index_hit_ratio")
    ca = CollectionActivity(schema=c["schema"], name=c["name"], **{k: c.get(k) for k in keys})
    ca.last_seq_scan = _ts(c.get("last_seq_scan"))
    ca.last_autovacuum = _ts(c.get("last_autovacuum"))
    ca.last_autoanalyze = _ts(c.get("last_autoanalyze"))
    return ca


def _statement(s: dict[str, Any]) -> Statement:
    return Statement(query=_shown(s.get("query")), calls=s.get("calls") or 0, total_ms=s.get("total_ms") or 0.0,
                     mean_ms=s.get("mean_ms") or 0.0, rows=s.get("rows") or 0, vector=bool(s.get("vector")),
                     queryid=s.get("queryid"))


def _notes(doc: dict[str, Any], raw: Raw, act: PodActivity) -> list[str]:
    notes = []
    priv = doc.get("privileges") or {}
    role = doc.get("current_user") or "?"
    if not priv.get("superuser") and not priv.get("read_all_stats"):
        hidden = sum(1 for s in act.sessions if s.query is None)
        notes.append(f"role {role} is not a member of pg_read_all_stats (pg_monitor includes it): other roles' "
                     f"sessions ({hidden} now), index builds and statements are shown without their text, state "
                     "or progress, and replicas without their state")
    if not priv.get("superuser") and not priv.get("signal_backend"):
        notes.append(f"role {role} is not a member of pg_signal_backend: it can cancel or terminate only its "
                     "own role's sessions")
    if raw.pgss_schema is None:
        notes.append("pg_stat_statements is not installed in this database: no top statements "
                     "(vecdash never installs it)")
    elif not raw.pgss_loaded:
        notes.append("pg_stat_statements is installed but not in shared_preload_libraries: no top statements")
    elif raw.statements_error:
        notes.append(f"top statements could not be read: {raw.statements_error}")
    return notes


def _counters(act: PodActivity, statements: dict[str, Any] | None) -> dict[str, int]:
    """Cumulative counters the next refresh's rates are taken from."""
    out = {k: sum(getattr(c, k) or 0 for c in act.collections)
           for k in ("seq_scan", "idx_scan", "seq_tup_read", "idx_tup_fetch", "vector_index_scans")}
    if statements is not None:
        out["calls"] = int(statements.get("calls") or 0)
        out["vector_calls"] = int(statements.get("vector_calls") or 0)
    return out


def down(name: str, error: str | None) -> PodActivity:
    return PodActivity(name=name, up=False, error=error)


# --- between two refreshes --------------------------------------------------------------------------


# pg_stat_progress_create_index's commands: each reads its table by sequential scan, which pg_stat counts
# like a query's scan (CREATE INDEX [CONCURRENTLY], REINDEX [CONCURRENTLY])
INDEX_BUILDS = ("CREATE INDEX", "REINDEX")


def indexing(act: PodActivity) -> set[str]:
    """The collections (schema.name) an index build or rebuild is reading now: their scans are not queries'."""
    return {p.relation for p in act.progress if p.relation and p.command.startswith(INDEX_BUILDS)}


def rates(prev: PodActivity, cur: PodActivity) -> Rates | None:
    """Per-second rates from `prev` to `cur` (same pod); None when either has no time or no time passed.

    Counters that went down (a restart, pg_stat_reset) give no rate rather than a negative one.
    """
    if prev.taken_at is None or cur.taken_at is None:
        return None
    dt = (cur.taken_at - prev.taken_at).total_seconds()
    if dt <= 0:
        return None

    def per_s(*keys: str) -> float | None:
        if not all(k in prev.counters and k in cur.counters for k in keys):
            return None
        delta = sum(cur.counters[k] - prev.counters[k] for k in keys)
        return delta / dt if delta >= 0 else None

    vector = per_s("vector_calls") if "vector_calls" in cur.counters else per_s("vector_index_scans")
    before = {(c.schema, c.name): c.seq_scan for c in prev.collections}
    new_seq = {}
    # a build running at either refresh (one that ended in between too) read its table by sequential scan
    building = indexing(prev) | indexing(cur)
    for c in cur.collections:
        old = before.get((c.schema, c.name))
        if c.qualified in building:
            continue
        if old is not None and c.seq_scan is not None and c.seq_scan > old:
            new_seq[c.qualified] = c.seq_scan - old
    return Rates(seconds=dt, vector_qps=vector, scans_per_s=per_s("seq_scan", "idx_scan"),
                 tuples_per_s=per_s("seq_tup_read", "idx_tup_fetch"), seq_scans=new_seq)


def fill_pod_rates(pod: PodStatus, old: PodStatus | None) -> None:
    """Set one pod's `activity.rates` from `old`, the same pod in the previous snapshot."""
    if pod.activity and old is not None and old.activity and old.activity.up and pod.activity.up:
        pod.activity.rates = rates(old.activity, pod.activity)


# --- the alert line ---------------------------------------------------------------------------------


def alerts(topo: Topology, settings: Settings | None = None) -> list[Alert]:
    """What the estate should look at: pods down, invalid or oversized vector indexes, sequential scans
    on indexed vector collections, long transactions, replication lag. Thresholds: `settings`."""
    settings = settings or Settings()
    out: list[Alert] = []
    for pod in topo.pods:
        if not pod.up:
            out.append(Alert(pod.name, "pod_down", f"pod {pod.name} is down: {pod.error or 'no answer'}"))
            continue
        act = pod.activity
        building = {p.index for p in act.progress if p.index} if act else set()
        for c in pod.collections:
            for i in c.indexes:
                # REINDEX CONCURRENTLY builds `<index>_ccnew`, invalid until it is swapped in
                if i.method in VECTOR_METHODS and not i.valid and i.name not in building and not any(
                        i.name.startswith(b + "_ccnew") for b in building):
                    out.append(Alert(pod.name, "index_invalid",
                                     f"index {i.name} of {c.qualified} on {pod.name} is INVALID (a failed build): "
                                     "queries cannot use it; drop it and build again", subject=i.name))
            warning = cache_warning(pod, c)
            if warning:
                out.append(Alert(pod.name, "index_over_shared_buffers", warning, subject=c.qualified))
        if act is None or not act.up:
            continue
        rows = {(c.schema, c.name): c.rows_estimate for c in pod.collections}
        read_by_builds = indexing(act)
        for ca in act.collections:
            n = ca.n_live_tup if ca.n_live_tup else rows.get((ca.schema, ca.name))
            if ca.vector_index is None or (n or 0) < MIN_INDEX_ROWS or ca.qualified in read_by_builds:
                continue
            if act.rates is not None:
                new = act.rates.seq_scans.get(ca.qualified, 0)
                seen = f"{new} sequential scan(s) since the last refresh" if new else None
            else:
                age = _age(ca.last_seq_scan, act.taken_at)
                seen = f"a sequential scan {seconds(age)} ago" if age is not None and age <= RECENT_SEQ_SCAN_S else None
            if seen:
                out.append(Alert(pod.name, "seq_scan_indexed",
                                 f"{ca.qualified} on {pod.name} ({n:,} rows) has vector index {ca.vector_index} but "
                                 f"{seen}: a query that does not use the index (vecdash why)", subject=ca.qualified))
        for s in act.sessions:
            if s.backend_type != "autovacuum worker" and (s.xact_age_s or 0) > settings.long_transaction_s:
                out.append(Alert(pod.name, "long_transaction",
                                 f"pid {s.pid} on {pod.name} ({s.user or '?'}) has had a transaction open for "
                                 f"{seconds(s.xact_age_s)} (state {s.state or '?'})", subject=str(s.pid)))
        for r in act.replicas:
            if (r.replay_lag_s or 0) > settings.replication_lag_s:
                out.append(Alert(pod.name, "replication_lag",
                                 f"replica {r.name or r.client or '?'} of {pod.name} replays {seconds(r.replay_lag_s)} "
                                 f"behind ({human_bytes(r.lag_bytes)} of WAL)", subject=r.name or r.client))
    return out


def _age(ts: datetime | None, now: datetime | None) -> float | None:
    if ts is None or now is None:
        return None
    return (now - ts).total_seconds()


# --- --json ----------------------------------------------------------------------------------------


def activity_json(topo: Topology, *, idle: bool = True) -> dict[str, Any]:
    """`vecdash activity --json`: one object per run (the issue's shape; `rates` and `replicas` added).
    `idle=False` leaves out idle sessions (the CLI without --all)."""
    pods = []
    for p in topo.pods:
        act = p.activity or down(p.name, p.error)
        pods.append({
            "name": p.name,
            "up": p.up,
            "error": p.error,
            "sessions": [
                {"pid": s.pid, "user": s.user, "application": s.application, "client": s.client, "state": s.state,
                 "wait_event": s.wait_event, "xact_age_s": s.xact_age_s, "query_age_s": s.query_age_s,
                 "query": s.query, "vector": s.vector, "blocked_by": s.blocked_by, "own": s.own,
                 "backend_type": s.backend_type}
                for s in act.sessions if idle or s.state != "idle"
            ],
            "progress": [{"pid": g.pid, "command": g.command, "phase": g.phase, "relation": g.relation,
                          "percent": g.percent, "index": g.index} for g in act.progress],
            "collections": [
                {"schema": c.schema, "name": c.name, "seq_scan": c.seq_scan, "idx_scan": c.idx_scan,
                 "vector_index_scans": c.vector_index_scans, "seq_tup_read": c.seq_tup_read,
                 "n_dead_tup": c.n_dead_tup, "last_autovacuum": c.last_autovacuum,
                 "index_hit_ratio": c.index_hit_ratio, "vector_index": c.vector_index,
                 "idx_tup_fetch": c.idx_tup_fetch, "n_live_tup": c.n_live_tup, "last_seq_scan": c.last_seq_scan,
                 "last_autoanalyze": c.last_autoanalyze}
                for c in act.collections
            ],
            "statements": None if act.statements is None else [to_jsonable(s) for s in act.statements],
            "notes": list(act.notes),
            "replicas": [to_jsonable(r) for r in act.replicas],
            "rates": to_jsonable(act.rates) if act.rates else None,
        })
    return {"taken_at": to_jsonable(topo.taken_at), "pods": to_jsonable(pods),
            "alerts": [a.to_json() for a in topo.alerts]}


# --- cancel and terminate --------------------------------------------------------------------------


async def signal_backend(client: PodClient, pod: str, pid: int, how: str) -> bool:
    """pg_cancel_backend (`cancel`: its running statement) or pg_terminate_backend (`terminate`: the
    session) on `pid`, a session of `pod`'s own database. Refused in read-only mode before any I/O.

    Returns whether the server signalled it; UserError when `pid` is no session of that database (nothing
    was signalled); ServerRefused (one line) when the role may not signal it.
    """
    if how not in SIGNALS:
        raise UserError(f"unknown signal {how!r}: cancel or terminate")
    if client.read_only:
        raise ReadOnlyError(f"{how} of pid {pid}")
    config = client.pod(pod)  # an unknown pod: UserError before any I/O

    async def work(conn: psycopg.AsyncConnection) -> tuple | None:
        cur = await conn.execute(SIGNALS[how], (pid,))
        return await cur.fetchone()

    try:
        row = await client.run(config, work, write=True, what=f"{how} of pid {pid}")
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ServerRefused(pod, f"{how} pid {pid}: {error_line(exc)} (the role needs pg_signal_backend, "
                                 "or to be the session's role; a superuser's session only by a superuser)") from None
    except psycopg.Error as exc:
        raise ServerRefused(pod, f"{how} pid {pid}: {error_line(exc)}") from None
    if row is None:
        raise UserError(f"pid {pid} is not a session of pod {pod}'s database")
    return bool(row[1])
