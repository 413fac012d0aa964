"""`vecdash query POD COLLECTION`: nearest neighbours with vecs filters, over any route."""

from __future__ import annotations

import argparse
import json
import sys

from vecdash.cli.collection_arg import add_collection_argument, collection_from_args
from vecdash.cli.context import client_from_args
from vecdash.cli.output import add_export_options, escape_on_terminal, output_to, print_json, table
from vecdash.errors import UserError
from vecdash.inputs import parse_json, parse_vector_text
from vecdash.model import ITERATIVE, MEASURES
from vecdash.service.query import ROUTES, QueryResult, QuerySpec, run_query


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("query", parents=[common], help="nearest neighbours of a vector, with vecs filters, over a route",
                       description="Nearest-neighbour query on COLLECTION ([schema.]name, schema vecs by default) of POD.")
    p.add_argument("pod", metavar="POD")
    add_collection_argument(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--vector", metavar="JSON", help="query vector as a JSON array, e.g. '[0.1, 0.2, ...]'")
    src.add_argument("--like", metavar="ID", help="use the vector of the row with this id")
    src.add_argument("--random", action="store_true", help="use the vector of a random row")
    p.add_argument("--limit", type=int, default=10, metavar="K", help="rows to return (default 10)")
    p.add_argument("--filter", metavar="JSON", help='vecs metadata filter, e.g. \'{"year": {"$gte": 2012}}\'')
    p.add_argument("--measure", choices=list(MEASURES),
                   help="distance measure (default: the one the collection's vector index serves, else cosine)")
    p.add_argument("--route", choices=list(ROUTES), default="direct")
    p.add_argument("--ef-search", type=int, metavar="N", help="hnsw.ef_search for this query")
    p.add_argument("--probes", type=int, metavar="N", help="ivfflat.probes for this query")
    p.add_argument("--iterative", type=lambda v: ITERATIVE.get(v, v), choices=tuple(dict.fromkeys(ITERATIVE.values())),
                   help="hnsw/ivfflat iterative_scan, as pgvector spells it (relaxed and strict are accepted too)")
    p.add_argument("--exact", action="store_true", help="exact search (no index scan)")
    p.add_argument("--recall", action="store_true", help="also report recall@K against the exact answer")
    p.add_argument("--explain", action="store_true", help="EXPLAIN (ANALYZE, VERBOSE, BUFFERS) of the query")
    p.add_argument("--include-vector", action="store_true", help="return the vectors too")
    p.add_argument("--json", action="store_true", help="machine-readable output (the same as --format json)")
    add_export_options(p, json_is="the whole result: rows, route, timings, warnings, SQL")
    p.set_defaults(handler=run)


def spec_from_args(args: argparse.Namespace) -> QuerySpec:
    schema, name = collection_from_args(args)
    filters = None
    if args.filter is not None:
        filters = parse_json(args.filter, "--filter")
    return QuerySpec(
        pod=args.pod, collection=name, schema=schema,
        vector=parse_vector_text(args.vector) if args.vector is not None else None,
        like_id=args.like, random=args.random, limit=args.limit, filters=filters, measure=args.measure,
        route=args.route, ef_search=args.ef_search, iterative=args.iterative, probes=args.probes, exact=args.exact,
        recall=args.recall, explain=args.explain, include_vector=args.include_vector,
    )


def output_format(args: argparse.Namespace) -> str:
    """--format, with --json meaning `--format json` (a UserError when the two disagree)."""
    if args.json and args.format not in (None, "json"):
        raise UserError(f"--json is --format json: it cannot go with --format {args.format}")
    return args.format or ("json" if args.json else "table")


async def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    fmt = output_format(args)
    with output_to(args.output) as out:
        client = client_from_args(args)
        try:
            result = await run_query(client, spec)
        finally:
            await client.close()
        if fmt == "json":  # the whole result: rows, route, timings, warnings, SQL
            print_json(result.to_json(), out)
        elif fmt == "table":
            print(render(result), file=out)
        else:  # rows only; what a table's footer says goes to stderr
            from vecdash.export import query_columns, write_rows
            from vecdash.lines import one_line

            write_rows(fmt, result.rows, out, query_columns(result.route in ("fanout", "federated"), spec.include_vector),
                       escape=escape_on_terminal(fmt, out))
            for w in result.warnings:
                print(f"vecdash: warning: {one_line(w)}", file=sys.stderr)
    return 0


def render(r: QueryResult) -> str:
    out = []
    multi = r.route in ("fanout", "federated")
    rows = []
    for i, row in enumerate(r.rows, 1):
        meta = json.dumps(row.metadata, ensure_ascii=False)
        if len(meta) > 70:
            meta = meta[:67] + "..."
        cells = [str(i), row.id, f"{row.distance:.6f}"] + ([row.pod or ""] if multi else []) + [meta]
        rows.append(cells)
    out.append(table(rows, ["#", "ID", "DISTANCE"] + (["POD"] if multi else []) + ["METADATA"]))
    server = f"{r.server_ms:.2f} ms" if r.server_ms is not None else "-"
    out.append("")
    path = f" ({r.path})" if r.path else ""
    out.append(f"{len(r.rows)} of {r.limit} rows{' (UNDER-FILLED)' if r.underfilled else ''} · route {r.route}{path}: "
               f"{r.route_detail} · query vector: {r.source}")
    out.append(f"client {r.client_ms:.2f} ms · server {server}"
               + ("" if len(r.per_pod_ms) <= 1 else " · " + ", ".join(f"{k} {v:.2f} ms" for k, v in r.per_pod_ms.items())))
    if r.measure_note:
        out.append(r.measure_note)
    if r.knobs:
        out.append("knobs: " + ", ".join(f"{k}={v}" for k, v in r.knobs.items()))
    if r.recall is not None:
        out.append(f"recall@{r.limit}: {r.recall:.3f}")
    for w in r.warnings:
        out.append(f"warning: {w}")
    if r.plan:
        out += ["", r.plan]
    return "\n".join(out)
