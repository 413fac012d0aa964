"""Plain data for collection, load, index-build, recall and maintenance work. No I/O, no Textual.

Kept beside `model.py` (not inside it) so the indexes work can be committed on its own while other
engineers edit `model.py` in the same tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vecdash.model import Plan

# pgvector build phases (pg_stat_progress_create_index.phase) -> (start, end) share of the whole bar.
# CREATE INDEX CONCURRENTLY walks through all of them; a plain CREATE INDEX only through "building".
PHASE_SPAN = {
    "initializing": (0.0, 0.0),
    "waiting for writers before build": (0.0, 0.01),
    "building index": (0.01, 0.88),
    "waiting for writers before validation": (0.88, 0.89),
    "index validation: scanning index": (0.89, 0.92),
    "index validation: sorting tuples": (0.92, 0.93),
    "index validation: scanning table": (0.93, 0.98),
    "waiting for old snapshots": (0.98, 0.99),
    "waiting for readers before marking dead": (0.99, 0.995),
    "waiting for readers before dropping": (0.995, 1.0),
}


@dataclass
class BuildProgress:
    """One poll of pg_stat_progress_create_index for a running build (from a second session)."""

    pid: int
    phase: str  # "starting", a pg_stat_progress phase, "done", "cancelled" or "failed"
    fraction: float  # 0..1 of the whole build (phases weighted by PHASE_SPAN)
    blocks_done: int = 0
    blocks_total: int = 0
    tuples_done: int = 0
    tuples_total: int = 0
    elapsed_s: float = 0.0
    index: str = ""
    index_bytes: int = 0  # size of the index file so far (grows while the graph is written out)

    @property
    def label(self) -> str:
        if self.phase.startswith("building index") and self.blocks_total and self.blocks_done >= self.blocks_total:
            return f"{self.phase}: writing the graph ({self.index_bytes / 1048576:.0f} MB written)"
        if self.blocks_total:
            return f"{self.phase} ({self.blocks_done}/{self.blocks_total} blocks, {self.tuples_done} tuples)"
        if self.tuples_done:
            return f"{self.phase} ({self.tuples_done} tuples)"
        return self.phase


@dataclass
class BuildResult:
    pod: str
    schema: str
    collection: str
    index: str
    method: str
    measure: str
    params: dict[str, Any]
    status: str  # built | cancelled
    seconds: float
    pid: int
    concurrently: bool
    rows: int
    estimate_bytes: int | None  # HNSW graph estimate (None for IVFFlat)
    maintenance_work_mem_bytes: int
    notices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    index_bytes: int = 0
    valid: bool = False
    progress_updates: int = 0
    max_progress_gap_s: float = 0.0  # longest wait between two progress callbacks
    sql_preview: str = ""


@dataclass
class IndexInfo:
    """A vector index as `vecdash index list` shows it (valid, building, size, fix plans)."""

    pod: str
    schema: str
    table: str
    name: str
    method: str
    opclass: str | None
    measure: str | None
    params: dict[str, Any]
    bytes: int
    valid: bool
    ready: bool
    definition: str
    vecs_recognised: bool  # vecs only sees indexes named ix_vector%


COPIED = 0.99  # the most a load's bar shows before its transaction has committed


@dataclass
class LoadProgress:
    rows_done: int
    rows_total: int | None
    bytes_done: int = 0
    bytes_total: int = 0
    elapsed_s: float = 0.0
    committed: bool = False  # the rows are in only once the load's one transaction has committed

    @property
    def fraction(self) -> float:
        """How far the load is: 1.0 only once committed (until then it may still roll back), so a bar
        of all rows copied shows 99%."""
        done = 0.0
        if self.rows_total:
            done = min(1.0, self.rows_done / self.rows_total)
        elif self.bytes_total:
            done = min(1.0, self.bytes_done / self.bytes_total)
        return 1.0 if self.committed else min(done, COPIED)


@dataclass
class LoadResult:
    pod: str
    schema: str
    collection: str
    path: str
    rows: int
    seconds: float
    mode: str  # insert | upsert
    dimension: int
    analyze_seconds: float | None = None  # the ANALYZE run after the load (not in `seconds`)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class SweepPoint:
    value: int  # ef_search (hnsw) or probes (ivfflat)
    recall: float  # mean recall@k over the sample queries
    median_ms: float  # median client-side latency of one query
    p90_ms: float
    total_ms: float  # all sample queries at this value


@dataclass
class Sweep:
    pod: str
    schema: str
    collection: str
    index: str
    method: str  # hnsw | ivfflat
    setting: str  # hnsw.ef_search | ivfflat.probes
    measure: str
    k: int
    samples: int
    target: float
    points: list[SweepPoint]
    recommended: int | None  # smallest value reaching target (None: none did)
    exact_ms: float  # computing the exact answers once
    sample_ms: float
    total_ms: float

    current: int | None = None  # the setting a new session gets now (database / role default), among points

    @property
    def largest(self) -> SweepPoint | None:
        return max(self.points, key=lambda p: p.value) if self.points else None

    def point(self, value: int | None) -> SweepPoint | None:
        return next((p for p in self.points if p.value == value), None)

    def cost(self) -> str | None:
        """The recommendation against the current setting: recall and latency at both."""
        now, rec = self.point(self.current), self.point(self.recommended)
        if now is None or rec is None or now is rec:
            return None
        return (f"{self.setting} {now.value} -> {rec.value}: recall@{self.k} {now.recall:.3f} -> {rec.recall:.3f}, "
                f"median {now.median_ms:.2f} -> {rec.median_ms:.2f} ms")


@dataclass
class ScopeCheck:
    """Another collection a database / role setting would reach, measured at the current and new value."""

    collection: str  # schema.name
    index: str
    recall_now: float | None
    recall_new: float | None
    holds: bool
    note: str = ""


@dataclass
class Recommendation:
    """Where to set a sweep's recommended value, whether that scope holds, and what it costs."""

    setting: str
    value: int | None
    current: int | None
    scope: str  # database | role
    plan: Plan | None  # None: nothing to set, or the scope was refused
    cost: str | None
    checks: list[ScopeCheck] = field(default_factory=list)
    refused: str | None = None
    per_query: str = ""  # the narrowest scope, which always holds

    def lines(self) -> list[str]:
        out = [self.cost] if self.cost else []
        for c in self.checks:
            out.append(f"{c.collection} ({c.index}): " + (c.note or f"recall {c.recall_now:.3f} -> {c.recall_new:.3f}")
                       + ("" if c.holds else " (falls short)"))
        if self.refused:
            out.append(f"refused: {self.refused}")
        if self.per_query and (self.refused or self.plan is not None):
            out.append(self.per_query)
        return out


@dataclass
class MaintenanceResult:
    pod: str
    schema: str
    collection: str
    action: str  # analyze | vacuum | vacuum analyze
    seconds: float
    messages: list[str]
    before: dict[str, Any]
    after: dict[str, Any]

    REPORTED = ("rows_estimate", "pages", "dead_tuples", "last_analyze", "last_vacuum")

    def report(self) -> list[str]:
        """What ran and what it did: the server's own messages, then the statistics before -> after."""
        out = [f"{self.action} {self.schema}.{self.collection} on {self.pod}: {self.seconds * 1000:.0f} ms"]
        out += ["  " + m.replace("\n", "\n  ") for m in self.messages]
        out += [f"  {k}: {self.before.get(k)} -> {self.after.get(k)}" for k in self.REPORTED]
        return out
