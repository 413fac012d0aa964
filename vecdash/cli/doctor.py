"""`vecdash doctor`: every wiring problem on the primary with its fix plan; `--fix` applies them."""

from __future__ import annotations

import argparse

from vecdash.cli.context import client_from_args
from vecdash.cli.output import print_json
from vecdash.errors import ReadOnlyError
from vecdash.service import doctor

# index builds are long and belong to `vecdash index`-style tooling with progress; --fix leaves them
NOT_AUTO_FIXED = {"no_vector_index"}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("doctor", parents=[common], help="find wiring problems, each with a fix plan (exit 1 if any)",
                       description="Walk every wiring on the primary: servers without extensions 'vector', unreachable "
                                   "servers, missing user mappings, remote tables gone, dimension drift, foreign tables "
                                   "without statistics, collections without a vector index. Exit 0 clean, 1 problems.")
    p.add_argument("--json", action="store_true", help="machine-readable output (passwords masked)")
    p.add_argument("--fix", action="store_true", help="apply every wiring fix plan (each in one transaction), then "
                                                      "check again")
    p.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    applied = []
    try:
        if args.fix and client.read_only:
            raise ReadOnlyError("doctor --fix")
        findings = await doctor.diagnose(client)
        if args.fix:
            fixable = [f for f in findings if f.kind not in NOT_AUTO_FIXED]
            applied = await doctor.apply_fixes(client, fixable)
            if applied:
                findings = await doctor.diagnose(client)
    finally:
        await client.close()
    if args.json:
        print_json({"clean": not findings, "findings": [f.to_json() for f in findings],
                    "applied": [{"subject": f.subject, "title": f.fix.title, "error": err} for f, err in applied]})
    else:
        for f, err in applied:
            print(f"fixed: {f.fix.title}" if err is None else f"fix FAILED: {f.fix.title}: {err}")
        if applied:
            print()
        if not findings:
            print("doctor: no problems found")
        for f in findings:
            print(f"{f.severity.upper():7} {f.subject}: {f.message}  [{f.kind}]")
            if f.fix is not None:
                print("\n".join("        " + line for line in f.fix.preview_sql(include_satisfied=False).splitlines()))
            else:
                print("        (no automatic fix)")
        if findings:
            n_fix = sum(1 for f in findings if f.fix is not None and f.kind not in NOT_AUTO_FIXED)
            print(f"\n{len(findings)} problem(s); " + (f"`vecdash doctor --fix` applies {n_fix} fix plan(s)"
                                                       if n_fix and not args.fix else "see the plans above"))
    return 0 if not findings else 1
