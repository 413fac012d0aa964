"""What the Stats pane says about a collection, derived from one Topology (no I/O, no Textual).

Warnings: no index, no index for the measure it is queried with, too many dimensions for a `vector`
index, IVFFlat built on too few rows, invalid index, an index larger than its pod's shared_buffers,
never analyzed. Exposure: which foreign tables and views on the primary read a collection, found by
asking `service.endpoints` which pod each foreign server reaches (`collection_read_by` picks the
collection a foreign table or view reads).
"""

from __future__ import annotations

from dataclasses import dataclass

from vecdash.model import Collection, ForeignTable, PodStatus, Topology, View
from vecdash.service.cache_fit import cache_warning
from vecdash.service.endpoints import (Pods, Reach, primary_reaches, recorded_pods,  # noqa: F401 (the console's)
                                       server_reach)
from vecdash.service.endpoints import config_pods as pod_endpoints  # noqa: F401 (the console's name for it)

# pgvector index limits by type (HNSW and IVFFlat share them)
MAX_INDEX_DIMS = {"vector": 2000, "halfvec": 4000, "bit": 64000, "sparsevec": 1000}
# IVFFlat: lists should be ~rows/1000 (up to 1M rows); fewer than ~lists*10 rows at build gives poor centroids.
IVFFLAT_MIN_ROWS_PER_LIST = 10


@dataclass(frozen=True)
class Exposure:
    foreign_table: str  # qualified name on the primary
    server: str
    views: tuple[str, ...]


def exposures(c: Collection, topology: Topology, endpoints: Pods) -> list[Exposure]:
    primary = topology.primary
    if primary is None or not primary.up:
        return []
    servers = {s.name: server_reach(s, endpoints).pod for s in primary.foreign_servers}
    out = []
    for ft in primary.foreign_tables:
        if servers.get(ft.server) == c.pod and (ft.remote_schema, ft.remote_table) == (c.schema, c.name):
            views = tuple(v.qualified for v in primary.views if ft.qualified in v.reads)
            out.append(Exposure(ft.qualified, ft.server, views))
    return out


def foreign_table_target(ft: ForeignTable, topology: Topology, endpoints) -> tuple[str | None, Collection | None]:
    """The pod (and collection, when that pod is up) a foreign table on the primary reads."""
    primary = topology.primary
    server = next((s for s in (primary.foreign_servers if primary else []) if s.name == ft.server), None)
    pod_name = server_reach(server, endpoints).pod if server else None
    pod = topology.pod(pod_name) if pod_name else None
    coll = pod.collection(ft.remote_schema, ft.remote_table) if pod else None
    return pod_name, coll


def view_targets(view: View, topology: Topology) -> list[ForeignTable]:
    primary = topology.primary
    return [ft for ft in (primary.foreign_tables if primary else []) if ft.qualified in view.reads]


def collection_warnings(c: Collection, queried_measures: set[str] | None = None,
                        pod: PodStatus | None = None) -> list[str]:
    """Plain-language warnings, most important first (`pod`: the pod holding `c`, for its memory)."""
    return [message for _, message in collection_findings(c, queried_measures, pod)]


def collection_findings(c: Collection, queried_measures: set[str] | None = None,
                        pod: PodStatus | None = None) -> list[tuple[str, str]]:
    """(code, warning) pairs, most important first. Codes: dims_over_index_limit, no_vector_index,
    index_invalid, measure_not_indexed, ivfflat_lists, index_over_shared_buffers, never_analyzed
    (those the alert line and the doctor share have their names)."""
    out: list[tuple[str, str]] = []
    ann = [i for i in c.indexes if i.method in ("hnsw", "ivfflat")]
    limit = MAX_INDEX_DIMS.get(c.type)
    if c.dimension and limit and c.dimension > limit:
        out.append(("dims_over_index_limit",
                    f"{c.dimension} dimensions: {c.type} indexes stop at {limit}; store as halfvec or reduce dimensions"))
    if not ann:
        out.append(("no_vector_index", "no vector index: every search scans the whole table"))
    for i in ann:
        if not i.valid:
            out.append(("index_invalid", f"index {i.name} is invalid (a failed concurrent build?): drop and rebuild it"))
    for measure in sorted(queried_measures or ()):  # only what this session actually queried with
        if ann and measure not in c.measures_indexed():
            served = ", ".join(sorted(c.measures_indexed())) or "none"
            out.append(("measure_not_indexed", f"queried with {measure} but indexes serve {served}: {measure} queries scan"))
    for i in ann:
        lists = i.params.get("lists")
        if i.method == "ivfflat" and isinstance(lists, int) and c.rows_estimate is not None:
            if c.rows_estimate < lists * IVFFLAT_MIN_ROWS_PER_LIST:
                out.append(("ivfflat_lists", f"ivfflat {i.name}: {lists} lists on ~{c.rows_estimate} rows: rebuild with "
                            f"fewer lists or after loading (aim for rows/1000)"))
    memory = cache_warning(pod, c)
    if memory:
        out.append(("index_over_shared_buffers", memory))
    if c.rows_estimate is None:
        out.append(("never_analyzed", "never analyzed: row estimate unknown (run ANALYZE)"))
    return out


def collection_read_by(kind: str, pod: str, schema: str, name: str, topology: Topology,
                       endpoints: Pods) -> tuple[str, Collection] | None:
    """(holding pod, collection) that a foreign table or view on the primary reads, or None (several
    collections behind a view, an unknown server, or the holding pod down)."""
    primary = topology.primary
    if primary is None or pod != primary.name:
        return None
    if kind == "foreign_table":
        fts = [ft for ft in primary.foreign_tables if (ft.schema, ft.name) == (schema, name)]
    elif kind == "view":
        view = next((v for v in primary.views if (v.schema, v.name) == (schema, name)), None)
        fts = view_targets(view, topology) if view is not None else []
    else:
        return None
    found = {}
    for ft in fts:
        holder, coll = foreign_table_target(ft, topology, endpoints)
        if holder is not None and coll is not None:
            found[(holder, coll.schema, coll.name)] = (holder, coll)
    return next(iter(found.values())) if len(found) == 1 else None
