"""`vecdash recall POD COLLECTION`: recall@k and latency per ef_search/probes, a recommendation, a plan."""

from __future__ import annotations

import argparse

from vecdash.cli.collection_arg import add_collection_argument, collection_from_args, label
from vecdash.cli.context import client_from_args
from vecdash.cli.output import print_json, table
from vecdash.cli.progress import StderrBar
from vecdash.errors import ReadOnlyError, UserError
from vecdash.service.plans import apply_plan
from vecdash.service.recall import recommend, sweep


def _values(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad --values {text!r}: comma-separated integers, e.g. 10,20,40") from None


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("recall", parents=[common], help="sweep ef_search/probes: recall@k, latency, recommendation")
    p.add_argument("pod")
    add_collection_argument(p)
    p.add_argument("--index", help="index to tune (default: the collection's first valid vector index)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--samples", type=int, default=100, help="sample queries drawn from the collection")
    p.add_argument("--values", type=_values, help="settings to try (default 10,20,40,80,160,320 for HNSW)")
    p.add_argument("--target", type=float, default=0.95, help="recall to reach (default 0.95)")
    p.add_argument("--scope", choices=["database", "role"], default="database",
                   help="where to set the recommendation (refused when it would lower another collection's recall "
                        "below the target)")
    p.add_argument("--role", help="with --scope role: the role (default: the configured user)")
    p.add_argument("--apply", action="store_true", help="apply ALTER DATABASE/ROLE ... SET for the recommendation")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def bar_chart(value: float, width: int = 20) -> str:
    n = int(round(max(0.0, min(1.0, value)) * width))
    return "#" * n + "." * (width - n)


async def run(args: argparse.Namespace) -> int:
    schema, name = collection_from_args(args)
    client = client_from_args(args)
    if args.apply and client.read_only:  # before a sweep (and the scope's measurements) that would be for nothing
        await client.close()
        raise ReadOnlyError(f"setting a recommended value on {args.pod}")
    bar = StderrBar(f"recall {label(schema, name)}", quiet=args.quiet)
    try:
        s = await sweep(client, args.pod, name, schema=schema, index=args.index, k=args.k,
                        samples=args.samples, values=args.values, target=args.target,
                        on_progress=lambda label, frac: bar.update(frac, label))
        bar.close()
        rec = await recommend(client, s, scope=args.scope, role=args.role)
        plan = rec.plan
        if args.apply:
            if s.recommended is None:
                raise UserError(f"no {s.setting} value reached recall {s.target}: nothing to apply (try larger --values)")
            if rec.refused:
                raise UserError(f"not applied: {rec.refused}; {rec.per_query}")
            if plan is not None:
                if client.read_only:
                    raise ReadOnlyError(plan.title)
                await apply_plan(client, plan)
    finally:
        bar.close()
        await client.close()
    if args.json:
        print_json({"sweep": s, "plan": plan.to_json() if plan else None, "applied": bool(args.apply and plan),
                    "current": s.current, "cost": rec.cost, "scope": rec.scope, "refused": rec.refused,
                    "checks": rec.checks, "per_query": rec.per_query})
        return 0
    print(f"{s.schema}.{s.collection} on {s.pod}: index {s.index} ({s.method}, {s.measure}), "
          f"recall@{s.k} over {s.samples} sample queries")
    rows = [[str(p.value), f"{p.recall:.3f}", bar_chart(p.recall), f"{p.median_ms:.2f}", f"{p.p90_ms:.2f}",
             " ".join(w for w, on in (("<- recommended", p.value == s.recommended), ("(current)", p.value == s.current))
                      if on)] for p in s.points]
    print(table(rows, [s.setting.upper(), "RECALL", "CURVE", "MEDIAN MS", "P90 MS", ""]))
    print(f"exact answers {s.exact_ms:.0f} ms (once), total {s.total_ms:.0f} ms")
    for text in rec.lines():
        print(text)
    if plan:
        print(plan.preview_sql())
        print("-- applied" if args.apply else "-- preview only: add --apply to run it")
    elif s.recommended is None:
        print(f"no value reached recall {s.target}: try larger --values or rebuild with higher m / ef_construction")
    elif s.recommended == s.current:
        print(f"{s.setting} = {s.current} already is the current setting: nothing to change")
    return 0
