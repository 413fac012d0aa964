"""`vecdash maintain analyze|vacuum POD COLLECTION`: with the server's report and before/after stats."""

from __future__ import annotations

import argparse

from vecdash.cli.collection_arg import add_collection_argument, collection_from_args
from vecdash.cli.context import client_from_args
from vecdash.cli.output import print_json
from vecdash.service.maintenance import maintain


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("maintain", parents=[common], help="ANALYZE or VACUUM a collection")
    p.add_argument("action", choices=["analyze", "vacuum", "vacuum-analyze"])
    p.add_argument("pod")
    add_collection_argument(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    schema, name = collection_from_args(args)
    client = client_from_args(args)
    try:
        r = await maintain(client, args.pod, name, action=args.action.replace("-", " "), schema=schema)
    finally:
        await client.close()
    if args.json:
        print_json(r)
        return 0
    print("\n".join(r.report()))
    return 0
