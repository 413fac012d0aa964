"""Plain data of live activity: what each pod is doing at one refresh, and what the estate should look at.

Built by `service/activity` from one statement per pod (sent with the catalog's, in one pipeline),
rendered by the CLI (`vecdash activity`) and the console's Activity pane, written to and read from
recordings. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# what `vecdash activity` and the console say about a session vecdash itself opened
OWN_APPLICATION_PREFIX = "vecdash"  # db/connect.APPLICATION_NAME starts with it


@dataclass
class Session:
    """One backend of the pod's database (pg_stat_activity)."""

    pid: int
    user: str | None = None
    application: str | None = None
    client: str | None = None  # address:port, or "local" for a Unix socket
    state: str | None = None  # active, idle, idle in transaction, ...
    wait_event: str | None = None  # "Type:Event", e.g. "Lock:transactionid"
    xact_age_s: float | None = None
    query_age_s: float | None = None
    query: str | None = None  # None where the role may not see it (a note says so)
    vector: bool = False
    blocked_by: list[int] = field(default_factory=list)
    own: bool = False  # opened by vecdash (application_name)
    backend_type: str | None = None


@dataclass
class Progress:
    """One running CREATE INDEX, VACUUM or ANALYZE (pg_stat_progress_*)."""

    pid: int
    command: str  # "CREATE INDEX CONCURRENTLY", "VACUUM", "ANALYZE", ...
    phase: str | None = None
    relation: str | None = None  # schema.name of the table
    percent: float | None = None  # of the current phase's blocks or tuples, None when unknown
    index: str | None = None  # the index being built, when known


@dataclass
class CollectionActivity:
    """Scan and maintenance counters of one collection's table and its vector index."""

    schema: str
    name: str
    seq_scan: int | None = None
    idx_scan: int | None = None
    vector_index: str | None = None  # the (first valid) vector index, None when the table has none
    vector_index_scans: int | None = None
    seq_tup_read: int | None = None
    idx_tup_fetch: int | None = None
    n_live_tup: int | None = None
    n_dead_tup: int | None = None
    last_seq_scan: datetime | None = None
    last_autovacuum: datetime | None = None
    last_autoanalyze: datetime | None = None
    index_hit_ratio: float | None = None  # of the vector index's blocks, None before any read

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class Statement:
    """One entry of pg_stat_statements (summed over users), for the pod's database."""

    query: str | None
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    vector: bool = False
    queryid: int | None = None


@dataclass
class Replica:
    """A standby streaming from the pod (pg_stat_replication)."""

    name: str | None
    client: str | None
    state: str | None
    lag_bytes: int | None = None
    replay_lag_s: float | None = None


@dataclass
class Rates:
    """Per-second rates between two refreshes of one pod."""

    seconds: float
    vector_qps: float | None = None  # vector statements/s (pg_stat_statements) else vector index scans/s
    scans_per_s: float | None = None  # sequential + index scans on collection tables
    tuples_per_s: float | None = None  # tuples read by those scans
    seq_scans: dict[str, int] = field(default_factory=dict)  # collection -> new sequential scans


@dataclass
class PodActivity:
    """Everything one refresh read about what a pod is doing; `notes` say what could not be read and why."""

    name: str
    up: bool = False
    error: str | None = None
    taken_at: datetime | None = None
    sessions: list[Session] = field(default_factory=list)
    progress: list[Progress] = field(default_factory=list)
    collections: list[CollectionActivity] = field(default_factory=list)
    statements: list[Statement] | None = None  # None: pg_stat_statements absent or unreadable (see notes)
    replicas: list[Replica] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)  # cumulative counters the rates are taken from
    rates: Rates | None = None  # None on the first refresh


@dataclass
class Alert:
    """One thing on the estate's alert line."""

    pod: str
    code: str  # pod_down, index_invalid, index_over_shared_buffers, seq_scan_indexed, long_transaction,
    #            replication_lag
    message: str
    subject: str | None = None  # the collection, index, pid or replica it is about

    def to_json(self) -> dict[str, Any]:
        return {"pod": self.pod, "code": self.code, "subject": self.subject, "message": self.message}


__all__ = [
    "OWN_APPLICATION_PREFIX",
    "Alert",
    "CollectionActivity",
    "PodActivity",
    "Progress",
    "Rates",
    "Replica",
    "Session",
    "Statement",
]
