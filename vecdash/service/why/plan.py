"""What an EXPLAIN (VERBOSE, FORMAT JSON) plan says: the relations it scans, the indexes it uses, its sort
keys and LIMIT. JSON, never the text format: a name holding a newline or `Index Scan` cannot fake a node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vecdash.lines import one_line, short_vectors
from vecdash.service.why.sqltext import Distance, distance_in

SCAN_TYPES = ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Sample Scan", "Tid Scan",
              "Tid Range Scan")


@dataclass(frozen=True)
class Scan:
    schema: str
    table: str
    alias: str
    node: str  # Seq Scan, Index Scan, Bitmap Heap Scan, ...
    index: str | None  # the index an Index Scan reads, or the Bitmap Index Scan(s) under a heap scan
    filtered: bool  # a Filter, Index Cond or Recheck Cond restricts the rows


def walk(node: dict[str, Any], depth: int = 0):
    """(depth, node) for the node and everything under it, in plan order."""
    yield depth, node
    for child in node.get("Plans", []):
        yield from walk(child, depth + 1)


def scans(root: dict[str, Any]) -> list[Scan]:
    out = []
    for _, n in walk(root):
        if n.get("Node Type") not in SCAN_TYPES or "Relation Name" not in n:
            continue
        index = n.get("Index Name")
        if index is None and n["Node Type"] == "Bitmap Heap Scan":
            index = next((c.get("Index Name") for _, c in walk(n) if c.get("Index Name")), None)
        filtered = any(k in n for k in ("Filter", "Index Cond", "Recheck Cond"))
        out.append(Scan(n.get("Schema", ""), n["Relation Name"], n.get("Alias", n["Relation Name"]),
                        n["Node Type"], index, filtered))
    return out


def index_scans(root: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(schema, table, index) of every Index Scan in the plan."""
    return [(s.schema, s.table, s.index) for s in scans(root) if s.node in ("Index Scan", "Index Only Scan") and s.index]


def sort_distances(root: dict[str, Any]) -> list[Distance]:
    """The pgvector distances the plan sorts by (Sort and Incremental Sort keys), outermost first."""
    out = []
    for _, n in walk(root):
        for key in n.get("Sort Key", []) if n.get("Node Type") in ("Sort", "Incremental Sort") else []:
            d = distance_in(key)
            if d is not None:
                out.append(d)
                break
    return out


def has_limit(root: dict[str, Any]) -> bool:
    return any(n.get("Node Type") == "Limit" for _, n in walk(root))


def changed_settings(plan: dict[str, Any]) -> dict[str, str]:
    """Planner settings that differ from their defaults (EXPLAIN's SETTINGS option)."""
    return dict(plan.get("Settings") or {})


def summary(root: dict[str, Any]) -> list[str]:
    """One line per node: type, relation and index, what it sorts or orders by; names as the server printed them."""
    lines = []
    for depth, n in walk(root):
        parts = [n.get("Node Type", "?")]
        if "Relation Name" in n:
            parts.append(f"on {n.get('Schema', '')}.{n['Relation Name']}" if n.get("Schema") else f"on {n['Relation Name']}")
        if "Index Name" in n:
            parts.append(f"using {n['Index Name']}")
        for key in ("Order By", "Index Cond", "Recheck Cond", "Filter"):
            if key in n:
                parts.append(f"{key.lower()}: {n[key]}")
        if "Sort Key" in n:
            parts.append("sort key: " + ", ".join(n["Sort Key"]))
        parts.append(f"rows {n.get('Plan Rows', '?')}")
        lines.append("  " * depth + short_vectors(one_line(" ".join(str(p) for p in parts))))
    return lines
