"""Index planning without I/O: what index to build and the statement that builds it.

The parameters' defaults and bounds, the pgvector opclass for a column type and measure, the
vecs-style index names (`ix_{opclass}_hnsw_m{m}_efc{ef}_{suffix}`, `ix_{opclass}_ivfflat_nl{lists}_{suffix}`:
vecs recognises an index by its `ix_vector%` name containing the opclass), the rule that makes two
indexes identical, the HNSW memory and disk estimates, and the build, drop and reindex plans. The I/O
(building, listing, dropping, cancelling, previewing against the catalog) is in vecdash.service.indexes.
"""

from __future__ import annotations

import math
import uuid

from psycopg import sql

from vecdash.errors import UserError
from vecdash.model import MEASURES, OPCLASS_MEASURE, Collection, Plan, PlanStep
from vecdash.model_indexes import IndexInfo
from vecdash.service.collections import CollectionFacts

METHODS = ("hnsw", "ivfflat")
# what `index build`, the console's build screen and the doctor's fix build unless told otherwise
DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 64
# pgvector's values for a parameter an index was built without (empty reloptions): an index made by
# `create index ... using hnsw (vec vector_cosine_ops)` is the same as one made WITH (m = 16, ...)
PGVECTOR_DEFAULTS = {"hnsw": {"m": 16, "ef_construction": 64}, "ivfflat": {"lists": 100}}
# Below this many rows no vector index is advised. Measured at dimension 384 (k=10, HNSW m=16,
# ef_construction=64, ef_search=40, median of 50 queries): up to 1,750 rows an exact scan takes at most
# 0.6 ms (0.14 ms at 200 rows, as fast as the HNSW scan) and gives exact answers, and the planner does
# not choose an HNSW index at all; from 2,000 rows it does, and the index wins (0.69 vs 0.23 ms there,
# 6.1 vs 0.48 ms at 10,000).
MIN_INDEX_ROWS = 2_000

# Measured on pgvector 0.8 (in-memory build): per element ~178 bytes of element header, the vector
# (8 + 4 * dim), and 16 bytes per neighbour slot: 2m on layer 0 plus m on each upper layer, of
# which an element has 1/(m-1) on average.
HNSW_ELEMENT_OVERHEAD = 178
HNSW_NEIGHBOR_BYTES = 16


class IndexBuildError(UserError):
    """Bad index parameters or a refused build, as one line."""


def estimate_hnsw_memory(rows: int, dim: int, m: int = 16) -> int:
    """Bytes of maintenance_work_mem an in-memory HNSW build of `rows` x `dim` (vector) needs."""
    if rows <= 0:
        return 0
    neighbours = 2 * m + (m / (m - 1) if m > 1 else 0)
    per = HNSW_ELEMENT_OVERHEAD + 8 + 4 * dim + HNSW_NEIGHBOR_BYTES * neighbours
    return int(rows * per)


def default_lists(rows: int) -> int:
    """pgvector's advice for IVFFlat: rows / 1000 up to 1M rows, sqrt(rows) beyond (at least 1)."""
    if rows <= 1_000_000:
        return max(1, rows // 1000)
    return int(math.sqrt(rows))


def opclass_for(column_type: str, measure: str) -> str:
    if measure not in MEASURES:
        raise IndexBuildError(f"unknown measure {measure!r} (choose from {', '.join(MEASURES)})")
    opclass = f"{column_type}_{measure}_ops"
    if opclass not in OPCLASS_MEASURE:
        raise IndexBuildError(f"pgvector has no {measure} index for {column_type} columns")
    return opclass


def index_name(opclass: str, method: str, params: dict, suffix: str | None = None) -> str:
    suffix = suffix or uuid.uuid4().hex[:7]
    if method == "hnsw":
        return f"ix_{opclass}_hnsw_m{params['m']}_efc{params['ef_construction']}_{suffix}"
    return f"ix_{opclass}_ivfflat_nl{params['lists']}_{suffix}"


def estimate_hnsw_disk(rows: int, dim: int, m: int = 16) -> int:
    """Rough bytes of the finished HNSW index (element + neighbour tuples, ~90% page fill)."""
    per = (8 + 4 * dim + 40) + 6 * (2 * m + (m / (m - 1) if m > 1 else 0)) + 16
    return int(rows * per / 0.9)


def plan_build_index(f: CollectionFacts, pod: str, *, method: str, measure: str, m: int, ef_construction: int,
                     lists: int | None, concurrently: bool, name: str | None = None,
                     column: str = "vec") -> tuple[Plan, str, dict]:
    """The one index planner: `index build`, the console's build screen and the doctor's fix use it.
    Returns the plan, the index's vecs-style name and its parameters."""
    if method not in METHODS:
        raise IndexBuildError(f"unknown index method {method!r} (choose hnsw or ivfflat)")
    opclass = opclass_for(f.type, measure)
    if method == "hnsw":
        if not 2 <= m <= 100:
            raise IndexBuildError(f"bad m {m}: pgvector accepts 2 to 100")
        if not 4 <= ef_construction <= 1000 or ef_construction < 2 * m:
            raise IndexBuildError(f"bad ef_construction {ef_construction}: pgvector needs 4 to 1000 and at least 2 * m ({2 * m})")
        params = {"m": m, "ef_construction": ef_construction}
    else:
        rows = max(0, f.rows_estimate)
        lists = lists if lists is not None else default_lists(rows)
        if not 1 <= lists <= 32768:
            raise IndexBuildError(f"bad lists {lists}: pgvector accepts 1 to 32768")
        params = {"lists": lists}
    name = name or index_name(opclass, method, params)
    with_ = sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v)) for k, v in params.items())
    stmt = sql.SQL("create index {conc}{name} on {table} using {method} ({col} {ops}) with ({with_})").format(
        conc=sql.SQL("concurrently " if concurrently else ""), name=sql.Identifier(name),
        table=sql.Identifier(f.schema, f.name), method=sql.SQL(method), col=sql.Identifier(column),
        ops=sql.Identifier(opclass), with_=with_)
    purpose = f"{method} index for {measure} distance" + (", built without blocking writes" if concurrently else "")
    plan = Plan(title=f"build {method} index on {f.qualified}", pod=pod, transactional=not concurrently,
                steps=[PlanStep(purpose=purpose, sql=stmt, preview=stmt.as_string(None), kind="index")])
    return plan, name, params


def plan_advised_index(c: Collection) -> Plan | None:
    """The index advised for a collection without one (the doctor's fix): what `index build` builds by
    default (HNSW, DEFAULT_M, DEFAULT_EF_CONSTRUCTION, concurrently, a vecs name), for the measure a
    query on it defaults to. None when no index applies (a foreign table, a column without dimension)."""
    if c.kind not in ("table", "matview") or not c.dimension:
        return None
    f = CollectionFacts(schema=c.schema, name=c.name, exists=True, type=c.type, dimension=c.dimension,
                        rows_estimate=-1 if c.rows_estimate is None else c.rows_estimate)
    try:
        plan, _, _ = plan_build_index(f, c.pod, method="hnsw", measure=c.default_measure()[0], m=DEFAULT_M,
                                      ef_construction=DEFAULT_EF_CONSTRUCTION, lists=None, concurrently=True,
                                      column=c.column)
    except IndexBuildError:
        return None
    return plan


def index_advised(rows: int | None) -> bool:
    """Whether a collection of `rows` rows is worth a vector index (unknown counts: yes; see MIN_INDEX_ROWS)."""
    return rows is None or rows >= MIN_INDEX_ROWS


class DuplicateIndex(IndexBuildError):
    """The build asked for is identical to a valid index the collection has."""


def normal_params(method: str, params: dict) -> dict:
    out = dict(PGVECTOR_DEFAULTS.get(method, {}))
    out.update({k: int(v) if str(v).isdigit() else v for k, v in params.items() if k in out})
    return out


def identical_index(existing: list[IndexInfo], method: str, opclass: str, params: dict) -> IndexInfo | None:
    """The valid index among `existing` with this method, opclass and parameters (pgvector's defaults
    filled in for parameters an index was built without), if any."""
    want = normal_params(method, params)
    return next((i for i in existing if i.valid and i.method == method and i.opclass == opclass
                 and normal_params(i.method, i.params) == want), None)


def plan_drop_index(pod: str, schema: str, name: str, *, concurrently: bool = True) -> Plan:
    stmt = sql.SQL("drop index {}{}").format(sql.SQL("concurrently " if concurrently else ""), sql.Identifier(schema, name))
    return Plan(title=f"drop index {schema}.{name}", pod=pod, transactional=not concurrently,
                steps=[PlanStep(purpose="drop the index", sql=stmt, preview=stmt.as_string(None))])


def plan_reindex(pod: str, schema: str, name: str) -> Plan:
    stmt = sql.SQL("reindex index concurrently {}").format(sql.Identifier(schema, name))
    return Plan(title=f"rebuild index {schema}.{name}", pod=pod, transactional=False,
                steps=[PlanStep(purpose="rebuild the index without blocking writes", sql=stmt, preview=stmt.as_string(None))],
                notes=["REINDEX CONCURRENTLY needs the same maintenance_work_mem as the original build"])


def fix_plans(info: IndexInfo) -> list[Plan]:
    """The two ways out of an invalid index: drop it, or rebuild it concurrently."""
    return [plan_drop_index(info.pod, info.schema, info.name), plan_reindex(info.pod, info.schema, info.name)]
