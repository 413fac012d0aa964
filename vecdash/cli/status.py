"""`vecdash status`: every pod, its collections, indexes and wiring; exit 1 when a pod is down."""

from __future__ import annotations

import argparse

from vecdash.cli.context import client_from_args, unanswered
from vecdash.cli.output import print_json, table
from vecdash.model import Topology
from vecdash.service.catalog import snapshot
from vecdash.units import human_bytes, human_count


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("status", parents=[common], help="pods, collections, indexes and wiring (exit 1 if a pod is down)")
    p.add_argument("--json", action="store_true", help="machine-readable output (shape: docs/reference.md)")
    p.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    try:
        # a pod discovery already found not answering is reported with that reason, not waited on twice
        topo = await snapshot(client, known_down=unanswered(client.config))
    finally:
        await client.close()
    if args.json:
        print_json(status_json(topo))
    else:
        print(render(topo))
    return 0 if topo.all_up else 1


def status_json(topo: Topology) -> dict:
    pods = []
    for p in topo.pods:
        pods.append({
            "name": p.name,
            "role": p.role,
            "up": p.up,
            "error": p.error,
            "server_version": p.server_version,
            "pgvector_version": p.pgvector_version,
            "latency_ms": p.latency_ms,
            "database": p.database,
            "database_bytes": p.database_bytes,
            "shared_buffers_bytes": p.shared_buffers_bytes,
            "read_only": p.read_only,
            "collections": [
                {
                    "schema": c.schema, "name": c.name, "kind": c.kind, "column": c.column, "type": c.type,
                    "dimension": c.dimension, "rows_estimate": c.rows_estimate, "table_bytes": c.table_bytes,
                    "index_bytes": c.index_bytes, "has_metadata": c.has_metadata,
                    "last_analyze": c.last_analyze, "last_vacuum": c.last_vacuum,
                    "indexes": [
                        {"name": i.name, "method": i.method, "column": i.column, "opclass": i.opclass,
                         "measure": i.measure, "params": i.params, "bytes": i.bytes, "valid": i.valid}
                        for i in c.indexes
                    ],
                }
                for c in p.collections
            ],
            "foreign_servers": [
                {"name": s.name, "fdw": s.fdw, "options": s.options, "pushdown_vector": s.pushdown_vector}
                for s in p.foreign_servers
            ],
            "user_mappings": [{"server": m.server, "user": m.user} for m in p.user_mappings],
            "foreign_tables": [
                {"schema": f.schema, "name": f.name, "server": f.server, "remote_schema": f.remote_schema,
                 "remote_table": f.remote_table, "dimension": f.dimension}
                for f in p.foreign_tables
            ],
            "views": [{"schema": v.schema, "name": v.name, "reads": v.reads} for v in p.views],
        })
    return {"taken_at": topo.taken_at, "elapsed_ms": round(topo.elapsed_ms, 1), "pods": pods}


def render(topo: Topology) -> str:
    out = []
    rows = []
    for p in topo.pods:
        state = "up" if p.up else "DOWN"
        rows.append([p.name, p.role, state, p.server_version or "-", p.pgvector_version or "-",
                     f"{p.latency_ms:.1f} ms" if p.latency_ms is not None else "-", human_bytes(p.database_bytes),
                     str(len(p.collections)) if p.up else "-", p.error or ""])
    out.append(table(rows, ["POD", "ROLE", "STATE", "POSTGRES", "PGVECTOR", "LATENCY", "SIZE", "COLLS", "ERROR"]))
    crow = []
    for p in topo.pods:
        for c in p.collections:
            idx = ", ".join(f"{i.method} {i.measure or i.opclass}" + ("" if i.valid else " INVALID")
                            for i in c.indexes) or "none"
            crow.append([p.name, c.qualified, c.kind, f"{c.type}({c.dimension or '?'})", human_count(c.rows_estimate),
                         human_bytes(c.table_bytes), human_bytes(c.index_bytes), idx])
    if crow:
        out += ["", table(crow, ["POD", "COLLECTION", "KIND", "TYPE", "ROWS~", "TABLE", "INDEXES", "VECTOR INDEX"])]
    wrow = []
    for p in topo.pods:
        servers = {s.name: s for s in p.foreign_servers}
        for f in p.foreign_tables:
            s = servers.get(f.server)
            push = "pushdown" if s and s.pushdown_vector else "SLOW: no extensions 'vector'"
            wrow.append([p.name, f.qualified, f"{f.server} -> {f.remote_schema}.{f.remote_table}", push])
        for v in p.views:
            wrow.append([p.name, f"view {v.qualified}", "reads " + ", ".join(v.reads), ""])
    if wrow:
        out += ["", table(wrow, ["POD", "OBJECT", "READS", "NOTE"])]
    return "\n".join(out)
