"""`vecdash wire`, `vecdash unwire`, `vecdash verify`: FDW wiring of a pod's collection into the primary."""

from __future__ import annotations

import argparse
import sys

from vecdash.cli.collection_arg import add_collection_argument, collection_from_args
from vecdash.cli.context import client_from_args
from vecdash.cli.output import print_json
from vecdash.errors import UserError
from vecdash.inputs import parse_json
from vecdash.model import MEASURES, Plan
from vecdash.service import wiring


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("wire", parents=[common], help="make a pod's collection readable on the primary (postgres_fdw)",
                       description="Print the plan that wires COLLECTION of POD into the primary; --apply runs it in "
                                   "one transaction and verifies that k-NN reaches the pod.")
    p.add_argument("pod", metavar="POD")
    add_collection_argument(p)
    p.add_argument("--view", metavar="NAME", help="view for applications (default: public.<collection>)")
    p.add_argument("--no-view", action="store_true", help="create no view, only the foreign table")
    p.add_argument("--expose", metavar="F:T,...", help="metadata fields as typed view columns, e.g. url:text,year:int")
    p.add_argument("--fast-path", action="store_true",
                   help="also dblink and public.<view>_knn(query, k, filter, path, ...): k-NN run on the pod over a "
                        "kept connection (and <collection>_knn_all when wired from several pods)")
    p.add_argument("--apply", action="store_true", help="run the plan (one transaction), then verify it")
    p.add_argument("--json", action="store_true", help="machine-readable output (passwords masked)")
    p.set_defaults(handler=run_wire)

    u = sub.add_parser("unwire", parents=[common], help="remove a wiring (view, foreign table, unused server)",
                       description="Print the plan that removes the wiring of COLLECTION of POD; --apply runs it.")
    u.add_argument("pod", metavar="POD")
    add_collection_argument(u)
    u.add_argument("--apply", action="store_true", help="run the plan (one transaction)")
    u.add_argument("--json", action="store_true")
    u.set_defaults(handler=run_unwire)

    v = sub.add_parser("verify", parents=[common], help="does k-NN through a wiring reach the pod? (exit 1 if not)",
                       description="EXPLAIN VERBOSE a k-NN query through the wiring and check the remote table, "
                                   "dimensions and the user mapping. Exit 0 healthy and pushed down, 1 otherwise.")
    v.add_argument("pod", metavar="POD")
    add_collection_argument(v)
    v.add_argument("--measure", choices=sorted(MEASURES), help="distance (default: the index's)")
    g = v.add_mutually_exclusive_group()
    g.add_argument("--where", metavar="SQL", help="a filter to check, e.g. \"url = '/x'\" (only EXPLAINed)")
    g.add_argument("--filter", metavar="JSON", help='a vecs filter, e.g. \'{"year": {"$eq": 2012}}\'')
    v.add_argument("--json", action="store_true")
    v.set_defaults(handler=run_verify)


def _print_plan(plan: Plan) -> None:
    print(plan.preview_sql())
    n = len(plan.pending)
    print(f"-- {n} step(s) to run, {len(plan.steps) - n} already done" if plan.steps else "-- nothing to do")


async def run_wire(args: argparse.Namespace) -> int:
    expose = wiring.parse_expose(args.expose)
    if args.no_view and (args.view or expose):
        raise UserError("--no-view cannot be combined with --view or --expose")
    schema, name = collection_from_args(args)
    client = client_from_args(args)
    try:
        plan = await wiring.plan_wire(client, args.pod, name, schema=schema, view=args.view,
                                      expose=expose, create_view=not args.no_view, fast_path=args.fast_path)
        result = None
        if args.apply:
            await wiring.apply_plan(client, plan)
            result = await wiring.verify(client, args.pod, name, schema=schema)
    finally:
        await client.close()
    if args.json:
        out = {"plan": plan.to_json(), "applied": bool(args.apply)}
        if result is not None:
            out["verify"] = result.to_json()
        print_json(out)
    else:
        _print_plan(plan)
        if result is not None:
            print(f"applied: {len(plan.pending)} step(s) in one transaction")
            _print_verification(result)
        elif plan.pending:
            print("-- dry run: add --apply to run it", file=sys.stderr)
    return 0 if result is None or result.ok else 1


async def run_unwire(args: argparse.Namespace) -> int:
    schema, name = collection_from_args(args)
    client = client_from_args(args)
    try:
        plan = await wiring.plan_unwire(client, args.pod, name, schema=schema)
        if args.apply and plan.pending:
            await wiring.apply_plan(client, plan)
    finally:
        await client.close()
    if args.json:
        print_json({"plan": plan.to_json(), "applied": bool(args.apply and plan.pending)})
    else:
        _print_plan(plan)
        if args.apply and plan.pending:
            print(f"applied: {len(plan.pending)} step(s) in one transaction")
        elif plan.pending:
            print("-- dry run: add --apply to run it", file=sys.stderr)
    return 0


async def run_verify(args: argparse.Namespace) -> int:
    filters = None
    if args.filter:
        filters = parse_json(args.filter, "--filter")
        if not isinstance(filters, dict):
            raise UserError("--filter: expected a JSON object")
    schema, name = collection_from_args(args)
    client = client_from_args(args)
    try:
        result = await wiring.verify(client, args.pod, name, schema=schema, filters=filters,
                                     where=args.where, measure=args.measure)
    finally:
        await client.close()
    if args.json:
        print_json(result)
    else:
        _print_verification(result)
    return 0 if result.ok and result.filter_pushdown is not False else 1


def _print_verification(v: wiring.Verification) -> None:
    where = f" ({v.foreign_table} via server {v.server}" + (f", view {v.view})" if v.view else ")") if v.foreign_table else ""
    print(f"pushdown: {'yes' if v.pushdown else 'no'}{where}: {v.reason}")
    if v.remote_sql:
        print(f"  remote SQL: {v.remote_sql}")
    for c in v.checks:
        mark = "ok  " if c.ok else ("warn" if c.advisory else "FAIL")
        print(f"  [{mark}] {c.name}: {c.detail}")
    if v.filter_pushdown is not None:
        print(f"filter pushdown: {'yes' if v.filter_pushdown else 'no'}: {v.filter_reason}")
        if v.filter_remote_sql:
            print(f"  remote SQL: {v.filter_remote_sql}")
