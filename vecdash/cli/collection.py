"""`vecdash collection create|drop POD NAME`: vecs-compatible collections as previewed plans."""

from __future__ import annotations

import argparse

from vecdash.cli.context import client_from_args
from vecdash.cli.output import print_json
from vecdash.errors import ReadOnlyError
from vecdash.service.collections import plan_create_collection, plan_drop_collection
from vecdash.service.plans import apply_plan


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("collection", parents=[common], help="create or drop a vecs-compatible collection")
    csub = p.add_subparsers(dest="collection_command", metavar="ACTION", required=True)
    c = csub.add_parser("create", parents=[common], help="create vecs.NAME (id, vec vector(N), metadata jsonb)")
    c.add_argument("pod")
    c.add_argument("name")
    c.add_argument("--dim", type=int, required=True, help="vector dimension")
    d = csub.add_parser("drop", parents=[common], help="drop a collection and its data")
    d.add_argument("pod")
    d.add_argument("name")
    for q in (c, d):
        q.add_argument("--schema", default="vecs")
        q.add_argument("--apply", action="store_true", help="run the plan (default: only show it)")
        q.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    try:
        if args.collection_command == "create":
            plan = await plan_create_collection(client, args.pod, args.name, args.dim, args.schema)
        else:
            plan = await plan_drop_collection(client, args.pod, args.name, args.schema)
        if args.apply:
            if client.read_only:
                raise ReadOnlyError(plan.title)
            await apply_plan(client, plan)
        if args.json:
            print_json({"plan": plan.to_json(), "applied": bool(args.apply)})
        else:
            print(plan.preview_sql())
            print("-- applied" if args.apply else "-- preview only: add --apply to run it")
    finally:
        await client.close()
    return 0
