"""Why a plan does not use a vector index, from what the plan and the catalog say. No I/O.

Structural causes come from the sort key the server deparsed (an expression of the distance, DESC, an
operator or a cast the index does not serve) and from the plan's shape (no Limit); cost causes (a filter
served first, a small table) are only named after a second EXPLAIN with sorts disabled shows the index
can serve the statement. Each cause carries a rewrite; `why` EXPLAINs each rewrite and says whether it
uses the index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from vecdash.errors import UserError
from vecdash.model import MEASURES
from vecdash.model_why import Reason, VectorIndex
from vecdash.service.index_plans import opclass_for
from vecdash.service.why import sqltext
from vecdash.service.why.explain import Catalog
from vecdash.service.why.plan import Scan, has_limit, sort_distances
from vecdash.service.why.sqltext import Distance

MEASURE_OF = {op: m for m, op in MEASURES.items()}
DEFAULT_LIMIT = 10  # what a rewrite adds to a statement without LIMIT
ITERATIVE_SINCE = (0, 8)  # pgvector version with hnsw.iterative_scan
BLOCKING_SETTINGS = ("enable_indexscan",)  # planner settings that, off, forbid a vector index scan
# the second EXPLAIN: sorting disabled, so a plan that orders by distance without a Sort needs the index
PROBE = (("enable_sort", "off"), ("enable_indexscan", "on"))


@dataclass(frozen=True)
class Check:
    """A rewrite to EXPLAIN: settings for the statement's transaction, and the statement."""

    statement: str
    settings: tuple[tuple[str, str], ...] = ()
    local: bool = True  # SET LOCAL inside a transaction (False: a plain SET, e.g. turning a setting back on)

    def text(self) -> str:
        stmt = self.statement.strip().rstrip(";").rstrip() + ";"
        if not self.settings:
            return stmt
        if not self.local:
            return "\n".join([*(f"SET {n} = {v};" for n, v in self.settings), stmt])
        return "\n".join(["BEGIN;", *(f"SET LOCAL {n} = {v};" for n, v in self.settings), stmt, "COMMIT;"])


@dataclass
class Finding:
    reason: Reason
    check: Check | None = None


@dataclass
class Facts:
    text: str
    plan: dict[str, Any]  # the root plan node
    settings: dict[str, str]
    catalog: Catalog
    scans: list[Scan]
    limit: int | None  # the outermost LIMIT's constant
    findings: list[Finding] = field(default_factory=list)

    def relation_of(self, lhs: str) -> Scan | None:
        """The scan whose alias qualifies `lhs` (the only scan when it is unqualified)."""
        qual = sqltext.column_qualifier(lhs)
        hits = [s for s in self.scans if qual is None or s.alias == qual]
        return hits[0] if len(hits) == 1 or (hits and qual is not None) else None

    def indexes_of(self, scan: Scan) -> list[VectorIndex]:
        return [i for i in self.catalog.indexes if (i.schema, i.table) == (scan.schema, scan.table)]

    def key_text(self, expr: str) -> str:
        return sqltext.unqualified(expr) if len({(s.schema, s.table, s.alias) for s in self.scans}) == 1 else expr

    @property
    def iterative_available(self) -> bool:
        v = self.catalog.pgvector or ""
        try:
            return tuple(int(x) for x in v.split(".")[:2]) >= ITERATIVE_SINCE
        except ValueError:
            return False


def qualified(schema: str, name: str) -> str:
    return sql.Identifier(schema, name).as_string(None)


def used_index(facts: Facts, used: list[tuple[str, str, str]]) -> VectorIndex | None:
    return next((i for i in facts.catalog.indexes for s, t, n in used if (i.schema, i.table, i.name) == (s, t, n)), None)


def warnings(facts: Facts, index: VectorIndex) -> list[Finding]:
    """What is worth knowing when the index is used: fewer rows than asked may come back."""
    out = []
    if not has_limit(facts.plan):
        out.append(_no_limit(facts, index, facts.text, warning=True))
    ef, k = facts.catalog.ef_search, facts.limit
    iterative = (facts.catalog.iterative_scan or "off") != "off"
    if index.method == "hnsw" and ef and k and k > ef and not iterative:
        extra = (f", or SET hnsw.iterative_scan = relaxed_order (pgvector {facts.catalog.pgvector} has it)"
                 if facts.iterative_available else "")
        out.append(Finding(Reason(
            "limit_above_ef_search",
            f"LIMIT {k} is above hnsw.ef_search ({ef}): the scan of {index.name} finds at most {ef} candidates, so at "
            f"most {ef} rows come back; raise ef_search to at least {k} for this query{extra}",
            warning=True), Check(facts.text, (("hnsw.ef_search", str(k)),))))
    return out


def _no_limit(facts: Facts, index: VectorIndex | None, statement: str, warning: bool = False) -> Finding:
    fixed = sqltext.add_limit(statement, DEFAULT_LIMIT)
    ef = facts.catalog.ef_search
    cap = f"; an HNSW scan without iterative scan returns at most hnsw.ef_search ({ef}) rows" if ef else ""
    msg = (f"the planner uses {index.name if index else 'a vector index'} only for ORDER BY distance LIMIT k"
           f"{cap}; add LIMIT k")
    if warning:
        msg = f"the index returns rows nearest first{cap}; add LIMIT k"
    return Finding(Reason("no_limit", msg, warning=warning), Check(fixed) if fixed else None)


def structural(facts: Facts) -> tuple[VectorIndex | None, list[Finding]]:
    """The index the statement means, and the causes in the statement's form that keep it from being used."""
    distances = sort_distances(facts.plan)
    if not distances:
        if sqltext.has_vector_operator(facts.text):
            return None, [Finding(Reason(
                "no_vector_order", "the statement computes a distance but the plan does not sort by one: a vector "
                "index serves only ORDER BY distance LIMIT k (a WHERE distance < x filter reads every row)",
                "ORDER BY <column> <operator> <vector> LIMIT k"))]
        return None, [Finding(Reason("no_vector_order", "the statement uses no pgvector distance operator: there is "
                                     "nothing for a vector index to serve"))]
    d = distances[0]
    scan = facts.relation_of(d.lhs)
    column = sqltext.base_column(d.lhs)
    if scan is None:
        return None, [Finding(Reason("not_usable", f"the plan sorts by {d.key}, which vecdash cannot tie to one "
                                     f"scanned table"))]
    on_table = facts.indexes_of(scan)
    same_column = [i for i in on_table if sqltext.base_column(i.expression) == column]
    if not same_column:
        return None, [_no_index(facts, scan, column, d, on_table)]
    valid = [i for i in same_column if i.valid]
    if not valid:
        ix = same_column[0]
        return ix, [Finding(Reason(
            "index_invalid", f"{ix.name} on {scan.schema}.{scan.table} is invalid (a CREATE INDEX CONCURRENTLY that "
            f"failed or was interrupted): the planner ignores it until it is rebuilt",
            f"REINDEX INDEX CONCURRENTLY {qualified(ix.schema, ix.name)};"))]
    same_expr = [i for i in valid if sqltext.normal(i.expression) == sqltext.normal(d.lhs)]
    same_op = [i for i in valid if i.operator == d.operator]
    exact = [i for i in same_expr if i.operator == d.operator]
    ix = (exact or same_op or same_expr or valid)[0]
    codes = []
    if not exact and ix.operator != d.operator:
        codes.append("operator_mismatch")
    if not exact and sqltext.normal(ix.expression) != sqltext.normal(d.lhs):
        codes.append("cast_mismatch")
    if not d.direct:
        codes.append("order_by_expression")
    elif d.desc:
        codes.append("order_desc")
    lhs = ix.expression if "cast_mismatch" in codes else d.lhs
    key = facts.key_text(f"{lhs} {ix.operator} {d.rhs}")
    fixed = sqltext.replace_order_by(facts.text, key) if codes else facts.text
    if fixed is not None and not has_limit(facts.plan):
        fixed = sqltext.add_limit(fixed, DEFAULT_LIMIT)
    check = Check(fixed) if fixed else None
    hint = f"ORDER BY {key} LIMIT k"
    out = [Finding(Reason(code, _message(code, d, ix, facts, key), (check.text() if check else hint)), check)
           for code in codes]
    if not has_limit(facts.plan):
        nl = _no_limit(facts, ix, facts.text)
        out.append(Finding(Reason(nl.reason.code, nl.reason.message, check.text() if check else None), check))
    return ix, out


def _message(code: str, d: Distance, ix: VectorIndex, facts: Facts, key: str) -> str:
    if code == "order_by_expression":
        return (f"the plan sorts by {facts.key_text(d.key)}, an expression of the distance: {ix.name} serves only "
                f"ORDER BY {key} (ascending); order by the distance itself and compute the expression in the "
                f"select list")
    if code == "order_desc":
        return (f"the plan sorts by distance DESC: {ix.name} returns the nearest rows first and cannot serve "
                f"farthest-first; order ascending ({key})")
    if code == "operator_mismatch":
        measure = MEASURE_OF.get(d.operator, d.operator)
        return (f"the statement orders by {d.operator} ({measure}) but {ix.name} ({ix.opclass}) serves "
                f"{ix.operator} ({ix.measure}): order by {ix.operator}, or build a {measure} index "
                f"({_opclass_hint(ix, measure)})")
    # cast_mismatch
    return (f"the statement orders by {facts.key_text(d.lhs)} but {ix.name} indexes {ix.expression}"
            f"{f' ({ix.column_type})' if ix.column_type else ''}: the expression, its type and dimension must be "
            f"exactly the index's")


def _opclass_hint(ix: VectorIndex, measure: str) -> str:
    typ = (ix.column_type or "vector").split("(")[0]
    try:
        return f"{ix.method} with {opclass_for(typ, measure)}"
    except UserError:
        return f"pgvector has no {measure} index for {typ}"


def _no_index(facts: Facts, scan: Scan, column: str | None, d: Distance, others: list[VectorIndex]) -> Finding:
    col = next((c for c in facts.catalog.columns
                if (c["schema"], c["table"], c["column"]) == (scan.schema, scan.table, column)), None)
    where = f"{scan.schema}.{scan.table}"
    elsewhere = f" (its vector indexes are on other columns: {', '.join(i.name for i in others)})" if others else ""
    rewrite = None
    measure = MEASURE_OF.get(d.operator)
    if col is not None and measure:
        try:
            opclass = opclass_for(col["typname"], measure)
            rewrite = sql.SQL("CREATE INDEX CONCURRENTLY ON {} USING hnsw ({} {});").format(
                sql.Identifier(scan.schema, scan.table), sql.Identifier(column), sql.Identifier(opclass)).as_string(None)
        except UserError:
            pass
    return Finding(Reason("no_index", f"{where} has no vector index on {column}{elsewhere}: every row is read and "
                          f"sorted", rewrite))


def settings_off(facts: Facts) -> list[Finding]:
    return [Finding(Reason(
        "setting_off", f"{name} is {value} on this session (set for the role, the database or the connection): "
        f"the planner may not use an index scan", None), Check(facts.text, ((name, "on"),), local=False))
        for name, value in facts.settings.items() if name in BLOCKING_SETTINGS and value == "off"]


def cost(facts: Facts, ix: VectorIndex) -> Finding:
    """The planner could use `ix` (the probe did) but chose another plan: a filter served first, or its estimate."""
    scan = next((s for s in facts.scans if (s.schema, s.table) == (ix.schema, ix.table)), None)
    rows = next((int(c["rows"]) for c in facts.catalog.columns if (c["schema"], c["table"]) == (ix.schema, ix.table)), None)
    settings: tuple[tuple[str, str], ...] = (("enable_sort", "off"),)
    if scan is not None and (scan.filtered or (scan.index and scan.index != ix.name)):
        how = f"through index {scan.index}" if scan.index and scan.index != ix.name else f"by a {scan.node} with a filter"
        if facts.iterative_available:
            settings += ((f"{ix.method}.iterative_scan", "relaxed_order"),)
            iterative = (f"hnsw.iterative_scan would help the index path return LIMIT rows that pass the filter "
                         f"(pgvector {facts.catalog.pgvector}), but the planner still chooses by cost; disable the "
                         f"sort for this query to make it use {ix.name}")
        else:
            iterative = (f"iterative index scans need pgvector 0.8 (this pod has {facts.catalog.pgvector}): with "
                         f"{ix.name} and a filter, fewer than LIMIT rows may come back unless ef_search is raised")
        return Finding(Reason("filter_plan", f"the planner serves the WHERE filter on {ix.table} first ({how}) and "
                              f"sorts the rows that pass by distance, estimating it cheaper than {ix.name}: exact, and "
                              f"right for a selective filter; {iterative}"), Check(facts.text, settings))
    size = f" (~{rows} rows by its statistics)" if rows is not None and rows >= 0 else " (never analyzed)"
    return Finding(Reason("planner_cost", f"the planner estimates reading {ix.table}{size} and sorting it cheaper than "
                          f"{ix.name}: a small table, or statistics that are missing or stale "
                          f"(ANALYZE {qualified(ix.schema, ix.table)})"), Check(facts.text, settings))
