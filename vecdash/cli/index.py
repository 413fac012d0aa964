"""`vecdash index build|list|drop|cancel|fix`: vector index work with a live progress bar."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from vecdash.cli.build_options import add_build_options
from vecdash.cli.collection_arg import add_collection_argument, label, schema_and_collection
from vecdash.cli.context import client_from_args
from vecdash.cli.output import print_json, table
from vecdash.cli.progress import StderrBar
from vecdash.errors import ReadOnlyError
from vecdash.service import indexes as ix
from vecdash.service.plans import apply_plan
from vecdash.units import human_bytes


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("index", parents=[common], help="build, list, drop, cancel or fix vector indexes")
    isub = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    b = isub.add_parser("build", parents=[common], help="build an HNSW or IVFFlat index (CONCURRENTLY by default)")
    b.add_argument("pod")
    add_collection_argument(b)
    add_build_options(b)
    b.add_argument("--dry-run", action="store_true", help="show the statement and memory estimate, build nothing")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    ls = isub.add_parser("list", parents=[common], help="vector indexes, invalid ones with fixes, running builds")
    ls.add_argument("pod")
    add_collection_argument(ls, optional="every table in --schema")
    d = isub.add_parser("drop", parents=[common], help="drop an index (CONCURRENTLY)")
    d.add_argument("pod")
    d.add_argument("index")
    d.add_argument("--apply", action="store_true", help="run the plan (default: only show it)")
    c = isub.add_parser("cancel", parents=[common], help="cancel running builds (pg_cancel_backend), drop what they leave")
    c.add_argument("pod")
    add_collection_argument(c, optional="the build --pid names")
    c.add_argument("--pid", type=int)
    f = isub.add_parser("fix", parents=[common], help="drop or REINDEX CONCURRENTLY an invalid index")
    f.add_argument("pod")
    f.add_argument("index")
    how = f.add_mutually_exclusive_group(required=True)
    how.add_argument("--drop", action="store_true")
    how.add_argument("--reindex", action="store_true")
    f.add_argument("--apply", action="store_true", help="run the plan (default: only show it)")
    for q in (d, f):
        q.add_argument("--schema", default="vecs", help="schema of INDEX (default: vecs)")
    for q in (b, ls, d, c, f):
        q.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    # (schema, name) of COLLECTION (name None when left out): a bad one is exit 2 before any session opens
    where = schema_and_collection(args) if "collection" in vars(args) else None
    client = client_from_args(args)
    try:
        return await globals()["_" + args.index_command](client, args, where)
    finally:
        await client.close()


async def _build(client, args, where) -> int:
    schema, name = where
    if args.dry_run:
        pv = await ix.preview_build(client, args.pod, name, schema=schema, method=args.method,
                                    measure=args.measure, m=args.m, ef_construction=args.ef_construction,
                                    lists=args.lists, concurrently=args.concurrently,
                                    maintenance_work_mem=args.maintenance_work_mem)
        if args.json:
            print_json({"plan": pv.plan.to_json(), "index": pv.index, "params": pv.params, "rows": pv.rows,
                        "estimate_bytes": pv.estimate_bytes, "maintenance_work_mem_bytes": pv.maintenance_work_mem_bytes,
                        "warnings": pv.warnings})
        else:
            print(pv.plan.preview_sql())
            print(f"-- {pv.describe()}")
            for w in pv.warnings:
                print(f"-- WARNING: {w}")
        return 0
    pv = await ix.preview_build(client, args.pod, name, schema=schema, method=args.method,
                                measure=args.measure, m=args.m, ef_construction=args.ef_construction, lists=args.lists,
                                concurrently=args.concurrently, maintenance_work_mem=args.maintenance_work_mem)
    bar = StderrBar(f"build {label(schema, name)}", quiet=args.quiet)
    if not args.quiet:
        bar.message(f"{pv.plan.steps[0].preview}\n{pv.describe()}")
    # Ctrl-C or SIGTERM cancel the build on the server too (and drop the invalid index it leaves)
    # instead of leaving the backend building on its own.
    loop, me = asyncio.get_running_loop(), asyncio.current_task()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, me.cancel)
    try:
        r = await ix.build_index(
            client, args.pod, name, schema=schema, method=args.method, measure=args.measure, m=args.m,
            ef_construction=args.ef_construction, lists=args.lists, concurrently=args.concurrently,
            maintenance_work_mem=args.maintenance_work_mem, parallel_workers=args.parallel_workers,
            name=pv.index,  # exactly the index the preview printed
            on_progress=lambda p: bar.update(p.fraction, p.label),
            on_notice=bar.message,
        )
    except asyncio.CancelledError:
        bar.close()
        print(f"vecdash: interrupted: the build on {args.pod} was cancelled (pg_cancel_backend); "
              "no invalid index left behind", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        bar.close()
    if args.json:
        print_json(r)
    elif r.status == "built":
        est = f", graph estimate {human_bytes(r.estimate_bytes)}" if r.estimate_bytes else ""
        print(f"built {r.schema}.{r.index} on {r.pod} in {r.seconds:.1f} s: {human_bytes(r.index_bytes)}{est}, "
              f"maintenance_work_mem {human_bytes(r.maintenance_work_mem_bytes)}")
    else:
        print(f"cancelled: the build of {r.index} on {r.pod} was cancelled; no invalid index left behind")
    return 0 if r.status == "built" else 1


async def _list(client, args, where) -> int:
    schema, name = where
    infos = await ix.list_indexes(client, args.pod, name, schema)
    builds = await ix.running_builds(client, args.pod)
    building = {(b["schema"], b["index"]) for b in builds}
    fixes = {i.name: [p.to_json() for p in ix.fix_plans(i)] for i in infos
             if not i.valid and (i.schema, i.name) not in building}
    if args.json:
        print_json({"indexes": infos, "running_builds": builds, "fixes": fixes})
        return 0
    rows = [[i.table, i.name, i.method, i.measure or "-", " ".join(f"{k}={v}" for k, v in i.params.items()),
             human_bytes(i.bytes), ("valid" if i.valid else ("BUILDING" if (i.schema, i.name) in building else "INVALID")),
             "yes" if i.vecs_recognised else "no"] for i in infos]
    print(table(rows, ["COLLECTION", "INDEX", "METHOD", "MEASURE", "PARAMS", "SIZE", "STATE", "VECS"]))
    for b in builds:
        print(f"running: pid {b['pid']} {b['command']} {b['index']} on {b['schema']}.{b['table']}: {b['phase']} "
              f"({b['blocks_done']}/{b['blocks_total']} blocks, {b['running_s'] or 0:.0f} s)")
    for name in fixes:
        print(f"invalid index {name}: fix with `vecdash index fix {args.pod} {name} --drop|--reindex --apply`")
    return 0


async def _drop(client, args, _where) -> int:
    return await _maybe_apply(client, await ix.plan_index_change(client, args.pod, args.schema, args.index, "drop"), args)


async def _fix(client, args, _where) -> int:
    how = "drop" if args.drop else "reindex"
    return await _maybe_apply(client, await ix.plan_index_change(client, args.pod, args.schema, args.index, how), args)


async def _maybe_apply(client, plan, args) -> int:
    if args.apply:
        if client.read_only:
            raise ReadOnlyError(plan.title)
        await apply_plan(client, plan)
    if args.json:
        print_json({"plan": plan.to_json(), "applied": bool(args.apply)})
    else:
        print(plan.preview_sql())
        print("-- applied" if args.apply else "-- preview only: add --apply to run it")
    return 0


async def _cancel(client, args, where) -> int:
    schema, name = where
    lines = await ix.cancel_build(client, args.pod, pid=args.pid, collection=name, schema=schema)
    if args.json:
        print_json({"cancelled": lines})
    else:
        for line in lines:
            print(line)
    return 0


