"""Plain data of "why not the index": what `vecdash why` and the console's Why modal show.

Built by `service/why` from an EXPLAIN (never a run) of one statement on one pod. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vecdash.model import MEASURES, OPCLASS_MEASURE

# Reason codes, each with the one-line title the console shows beside it.
REASON_TITLES: dict[str, str] = {
    "order_by_expression": "ORDER BY an expression of the distance",
    "order_desc": "ORDER BY distance DESC",
    "operator_mismatch": "an operator the index does not serve",
    "cast_mismatch": "a cast or type that does not match the index",
    "no_limit": "no LIMIT",
    "limit_above_ef_search": "LIMIT above hnsw.ef_search",
    "filter_plan": "the planner serves the filter first",
    "index_invalid": "the index is invalid",
    "no_index": "no vector index",
    "setting_off": "a planner setting is off",
    "planner_cost": "the planner estimates another plan is cheaper",
    "no_vector_order": "no ORDER BY distance",
    "not_usable": "the planner cannot use the index",
}


@dataclass
class Reason:
    """One cause, what it means, and a statement (or settings + statement) that avoids it."""

    code: str
    message: str
    rewrite: str | None = None
    warning: bool = False  # the index is used, but the result may not be what the statement asks
    verified: bool | None = None  # the rewrite was EXPLAINed and uses the index (None: not checked)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "rewrite": self.rewrite, "warning": self.warning,
                "verified": self.verified}


@dataclass
class VectorIndex:
    """An HNSW or IVFFlat index on a relation the plan scans."""

    schema: str
    table: str
    name: str
    method: str  # hnsw | ivfflat
    opclass: str | None
    valid: bool
    expression: str  # the indexed column or expression, as pg_get_indexdef prints it
    column_type: str | None = None  # the index column's type, e.g. "vector(384)", "halfvec(8)"

    @property
    def measure(self) -> str | None:
        return OPCLASS_MEASURE.get(self.opclass or "")

    @property
    def operator(self) -> str | None:
        return MEASURES.get(self.measure or "")

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class WhyReport:
    """Does the statement use a vector index on `pod`, and if not, why and how to rewrite it."""

    pod: str
    statement: str
    uses_index: bool
    index: str | None = None  # the vector index used, else the one the reasons are about (None: none)
    reasons: list[Reason] = field(default_factory=list)
    generic: bool = False  # EXPLAIN (GENERIC_PLAN): the statement has $n parameters
    plan: list[str] = field(default_factory=list)  # one line per plan node, indented
    indexes: list[VectorIndex] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"uses_index": self.uses_index, "index": self.index, "reasons": [r.to_json() for r in self.reasons],
                "pod": self.pod, "generic_plan": self.generic, "plan": self.plan,
                "vector_indexes": [{"schema": i.schema, "table": i.table, "name": i.name, "method": i.method,
                                    "opclass": i.opclass, "measure": i.measure, "valid": i.valid,
                                    "expression": i.expression, "type": i.column_type} for i in self.indexes]}


__all__ = ["REASON_TITLES", "Reason", "VectorIndex", "WhyReport"]
