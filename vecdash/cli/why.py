"""`vecdash why POD SQL`: does a statement use its vector index, and if not, why and how to rewrite it.

The statement is only EXPLAINed (read-only, rolled back), never run. Exit 0 when a vector index serves
it, 1 when not (or the pod failed), 2 for bad input (unknown pod, empty SQL, several statements, a
statement the server cannot plan).
"""

from __future__ import annotations

import argparse
import sys

from vecdash.cli.context import client_from_args
from vecdash.cli.output import print_json
from vecdash.errors import UserError
from vecdash.lines import one_line
from vecdash.model_why import REASON_TITLES
from vecdash.service.why import why


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("why", parents=[common], help="why a statement does not use its vector index (EXPLAIN only)",
                       description="EXPLAIN a statement on a pod without running it (GENERIC_PLAN for $n parameters, "
                                   "read-only, rolled back) and say whether a vector index serves it; if not, why, "
                                   "with a rewrite vecdash EXPLAINed too. Exit 0 index used, 1 not used, 2 bad input.")
    p.add_argument("pod")
    p.add_argument("sql", metavar="SQL", help="the statement, or - to read it from stdin")
    p.add_argument("--json", action="store_true",
                   help='{"uses_index", "index", "reasons": [{"code", "message", "rewrite"}], ...}')
    p.set_defaults(handler=run)


def read_sql(arg: str) -> str:
    if arg != "-":
        return arg
    try:
        return sys.stdin.read()
    except UnicodeDecodeError as exc:
        raise UserError(f"stdin is not UTF-8 text: {exc.reason}") from None


async def run(args: argparse.Namespace) -> int:
    text = read_sql(args.sql)
    client = client_from_args(args)
    try:
        report = await why(client, args.pod, text)
    finally:
        await client.close()
    if args.json:
        print_json(report.to_json())
        return 0 if report.uses_index else 1
    if report.uses_index:
        print(f"{args.pod}: uses vector index {one_line(report.index)}")
    elif report.index:
        print(f"{args.pod}: does not use vector index {one_line(report.index)}")
    else:
        print(f"{args.pod}: uses no vector index")
    for r in report.reasons:
        label = "warning" if r.warning else "why"
        print(f"  {label} [{r.code}] {REASON_TITLES.get(r.code, r.code)}: {one_line(r.message)}")
        if r.rewrite:
            checked = {True: " (EXPLAINed: uses the index)", False: " (EXPLAINed: still no index)"}.get(r.verified, "")
            print(f"    rewrite{checked}:")
            for line in r.rewrite.splitlines():
                print(f"      {one_line(line)}")
    print("  plan" + (" (generic, for $n parameters)" if report.generic else "") + ":")
    for line in report.plan:
        print(f"    {line}")
    return 0 if report.uses_index else 1
