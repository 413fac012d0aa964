"""`vecdash doctor`: every wiring problem on the primary with its fix plan; `--fix` applies them."""

from __future__ import annotations

import argparse

from vecdash.cli.context import client_from_args, unanswered
from vecdash.cli.output import print_json, shown, table
from vecdash.errors import ReadOnlyError
from vecdash.service import doctor
from vecdash.service.catalog import snapshot

# index builds are long and belong to `vecdash index`-style tooling with progress; --fix leaves them
NOT_AUTO_FIXED = {"no_vector_index"}
# beyond this many findings each one's plan is left out unless asked for (--details): at 200 pods the
# same finding 200 times is read from the groups, not from 200 plans
DETAILS_UP_TO = 20
# per finding kind: this many pods listed, with this many of each pod's subjects
PODS_SHOWN = 8
SUBJECTS_SHOWN = 3


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("doctor", parents=[common], help="find wiring problems, each with a fix plan (exit 1 if any)",
                       description="Walk every wiring on the primary: servers without extensions 'vector', unreachable "
                                   "servers, missing user mappings, remote tables gone, dimension drift, foreign tables "
                                   "without statistics, collections without a vector index. Exit 0 clean, 1 problems.")
    p.add_argument("--json", action="store_true", help="machine-readable output (passwords masked)")
    p.add_argument("--fix", action="store_true", help="apply every wiring fix plan (each in one transaction), then "
                                                      "check again")
    p.add_argument("--details", action="store_true", help=f"every finding with its fix plan, also beyond "
                                                          f"{DETAILS_UP_TO} findings (grouped by kind and pod first)")
    p.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    applied = []
    try:
        if args.fix and client.read_only:
            raise ReadOnlyError("doctor --fix")
        # a pod discovery found hung is reported down with that reason, not waited on a second time
        findings = await doctor.diagnose(client, await snapshot(client, known_down=unanswered(client.config)))
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
        details = args.details or len(findings) <= DETAILS_UP_TO
        if details:
            for f in findings:
                _print_finding(f)
        if findings:
            if details:
                print()
            _print_groups(findings)
            n_fix = sum(1 for f in findings if f.fix is not None and f.kind not in NOT_AUTO_FIXED)
            hints = [f"`vecdash doctor --fix` applies {n_fix} fix plan(s)"] if n_fix and not args.fix else []
            hints += [] if details else ["`--details` shows each with its fix plan"]
            by_pod = doctor.group_by_pod(findings)
            where = f"on {len(by_pod)} pod(s)" if "" not in by_pod else f"({_where(by_pod)})"
            print(f"\n{len(findings)} problem(s) {where}; " + ("; ".join(hints) or "see the plans above"))
    return 0 if not findings else 1


def _print_finding(f: doctor.Finding) -> None:
    print(f"{f.severity.upper():7} {f.subject}: {f.message}  [{f.kind}]")
    if f.fix is not None:
        print("\n".join("        " + line for line in f.fix.preview_sql(include_satisfied=False).splitlines()))
    else:
        print("        (no automatic fix)")


def _where(by_pod: dict[str, list[doctor.Finding]]) -> str:
    """`N on K pod(s)`, then how many no pod is known for (the "" key: the config's own finding, a
    server reaching no configured pod): those are not counted as a pod."""
    named = [p for p in by_pod if p]
    parts = [f"{sum(len(by_pod[p]) for p in named)} on {len(named)} pod(s)"] if named else []
    if "" in by_pod:
        parts.append(f"{len(by_pod[''])} on no known pod")
    return ", ".join(parts)


def _print_groups(findings: list[doctor.Finding]) -> None:
    """Per finding kind: how many, on how many pods, the first pods with their first subjects; then per pod."""
    print("by finding:")
    for g in doctor.group_by_kind(findings):
        pods = g.pods
        print(f"{g.severity.upper():7} {g.kind}: {_where(pods)}")
        print(f"        e.g. {shown(g.findings[0].message, 160)}")
        for pod, fs in list(pods.items())[:PODS_SHOWN]:
            subjects = ", ".join(shown(f.what) for f in fs[:SUBJECTS_SHOWN])
            more = f" (+{len(fs) - SUBJECTS_SHOWN} more)" if len(fs) > SUBJECTS_SHOWN else ""
            print(f"        {pod or '(pod unknown)'}: {subjects}{more}")
        if len(pods) > PODS_SHOWN:
            print(f"        ... and {len(pods) - PODS_SHOWN} more pod(s) (--json lists every one)")
    print("\nby pod:")
    rows = []
    for pod, fs in doctor.group_by_pod(findings).items():
        kinds: dict[str, int] = {}
        for f in fs:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        rows.append([pod or "(pod unknown)", str(sum(f.severity == "error" for f in fs)),
                     str(sum(f.severity != "error" for f in fs)),
                     ", ".join(k if n == 1 else f"{k} x{n}" for k, n in kinds.items())])
    print(table(rows, ["POD", "ERRORS", "WARNINGS", "FINDINGS"]))
