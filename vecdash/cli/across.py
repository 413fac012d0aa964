"""`vecdash across ACTION COLLECTION`: one operation on every pod holding a collection, N pods at a time.

A command of its own rather than a glob in `maintain`, `index build` and `wire`: those print one pod's
result and exit on its error, while a run across pods has its own contract (a progress line per pod
as it happens, a summary of what ran where, exit 1 when any pod failed or was not run), and one
command keeps it in one place for every operation.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from vecdash.cli.build_options import add_build_options, build_options
from vecdash.cli.collection_arg import add_collection_argument, collection_from_args
from vecdash.cli.context import client_from_args
from vecdash.cli.output import print_json, table

ACTIONS = {"analyze": "ANALYZE the collection on every pod holding it",
           "vacuum": "VACUUM it on every pod holding it",
           "vacuum-analyze": "VACUUM ANALYZE it on every pod holding it",
           "index": "build the same vector index on every pod holding it (CONCURRENTLY by default)",
           "wire": "wire it from every pod holding it into the primary (a foreign table per pod, no view)"}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("across", parents=[common], help="run ANALYZE, VACUUM, an index build or a wiring on every "
                                                        "pod holding a collection",
                       description="Find every pod holding COLLECTION (one read of the estate), then run the "
                                   "operation on each, N at a time, with a line per pod as it happens and a summary. "
                                   "Stops at the first failure unless --keep-going. Exit 0 every pod done or skipped, "
                                   "1 any pod failed or not run, 2 bad input (nothing ran), 130 interrupted (Ctrl-C: "
                                   "running pods cancelled, the summary still printed).")
    asub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in ACTIONS.items():
        a = asub.add_parser(action, parents=[common], help=text)
        add_collection_argument(a)
        a.add_argument("--pods", metavar="GLOB", help="only pods whose name matches, e.g. 'vec-1*'")
        a.add_argument("--parallel", type=int, default=1, metavar="N", help="pods at a time (default 1)")
        a.add_argument("--keep-going", action="store_true", help="go on after a pod fails (exit 1 still)")
        a.add_argument("--json", action="store_true", help="one object with every pod's result (no progress lines)")
        if action == "index":
            add_build_options(a)
    p.set_defaults(handler=run)


def _progress(event) -> None:
    print(f"[{event.at:6.1f}s] {event.pod}: {event.kind}: {event.text}", file=sys.stderr, flush=True)


async def run(args: argparse.Namespace) -> int:
    from vecdash.service.across import run_across

    schema, name = collection_from_args(args)
    client = client_from_args(args)
    interrupted: list = []  # the summary so far, when Ctrl-C cancels the run
    loop, me = asyncio.get_running_loop(), asyncio.current_task()
    for sig in (signal.SIGINT, signal.SIGTERM):  # cancels running builds on the server too
        loop.add_signal_handler(sig, me.cancel)
    try:
        summary = await run_across(
            client, name, args.action.replace("-", " "), schema=schema, pods=args.pods,
            parallel=args.parallel, keep_going=args.keep_going,
            index_options=build_options(args) if args.action == "index" else None,
            on_event=None if args.json else _progress, on_interrupt=interrupted.append)
    except asyncio.CancelledError:
        _default_signals(loop)  # a second Ctrl-C while the summary prints: KeyboardInterrupt, exit 130
        if not interrupted:  # while the estate was read: nothing ran
            print("vecdash: interrupted before any pod started", file=sys.stderr)
            return 130
        _print_summary(interrupted[0], args.json)
        print("vecdash: interrupted: running pods were cancelled (an index build on its server too); "
              "pods not started were not run", file=sys.stderr)
        return 130  # as the CLI exits on any interrupt (vecdash.cli.main)
    finally:
        _default_signals(loop)
        await client.close()
    _print_summary(summary, args.json)
    return 0 if summary.ok else 1


def _default_signals(loop: asyncio.AbstractEventLoop) -> None:
    """Ctrl-C no longer cancels the run's task (which has ended): it interrupts as anywhere in the CLI."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)


def _print_summary(summary, as_json: bool) -> None:
    """What ran where: a row per pod, the counts, the pods that failed or did not run, the notes."""
    if as_json:
        print_json(summary)
        return
    rows = [[o.pod, o.state, "-" if o.seconds is None else f"{o.seconds:.1f}", o.detail] for o in summary.outcomes]
    print(table(rows, ["POD", "STATE", "SECONDS", "DETAIL"]))
    shown = ("done", "skipped", "failed", "not run") + (("interrupted",) if summary.pods("interrupted") else ())
    counts = ", ".join(f"{len(summary.pods(s))} {s}" for s in shown)
    print(f"\n{summary.operation} of {summary.schema}.{summary.collection}: {counts}")
    for state in ("failed", "interrupted", "not run"):
        if summary.pods(state):
            print(f"{state}: {', '.join(summary.pods(state))}")
    for note in summary.notes:
        print(f"note: {note}")
