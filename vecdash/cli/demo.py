"""`vecdash demo`: bring up the local three-pod estate and open the console on it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
import time

from vecdash.errors import ReadOnlyError, UserError


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common], help="start a local 3-pod demo estate and open the console")
    p.add_argument("--dir", metavar="PATH", help="where the pods live (default: <tmp>/vecdash-demo)")
    p.add_argument("--reset", action="store_true", help="delete and re-seed the estate")
    p.add_argument("--no-tui", action="store_true", help="only bring the estate up and print its config path")
    p.add_argument("--tour", action="store_true", help="open the console on a guided walkthrough")
    p.add_argument("--stop", action="store_true", help="stop the demo pods (left running by --no-tui) and exit")
    p.add_argument("--workload", action="store_true",
                   help="run a light application workload on the pods (console: `l` toggles it); with --no-tui "
                        "it runs in the foreground until Ctrl-C")
    p.add_argument("--build-index", action="store_true",
                   help="with --workload --no-tui: also build (then drop) one index, to watch its phases")
    p.set_defaults(handler=run)


class _Bar:
    """A one-line progress bar on stderr (no dependency, safe when not a tty)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = ""

    def __call__(self, label: str, done: int, total: int) -> None:
        frac = done / total if total else 1.0
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        line = f"  {label:<28} [{bar}] {frac * 100:5.1f}%"
        if self.tty:
            sys.stderr.write("\r" + line)
            if done >= total:
                sys.stderr.write("\n")
        elif label != self.last:
            sys.stderr.write(f"  {label} ...\n")
        self.last = label
        sys.stderr.flush()


def how_to_use(config_path: Path, *, running: bool) -> str:
    """How to point the CLI at the estate (printed when the demo is up, and again when it ends)."""
    lines = [f"  the CLI on this estate: vecdash --config {config_path} status",
             "  (or plain `vecdash status`: with no other config found, vecdash uses the last demo's)"]
    if running:
        lines.append("  the pods keep running; `vecdash demo --stop" + _dir_arg(config_path) + "` stops them")
    else:
        lines.insert(0, "  the pods are stopped; `vecdash demo --no-tui" + _dir_arg(config_path)
                     + "` starts them and leaves them running")
    return "\n".join(lines)


def _dir_arg(config_path: Path) -> str:
    from vecdash import demo

    root = Path(config_path).parent
    return "" if root == demo.default_demo_dir() else f" --dir {root}"


def run(args: argparse.Namespace) -> int:
    from vecdash import demo

    if args.stop:
        root = demo.default_demo_dir() if not args.dir else args.dir
        demo.stop(demo.demo_pods(Path(root)))
        print("vecdash demo: pods stopped", file=sys.stderr)
        return 0
    if args.build_index and not (args.workload and args.no_tui):
        raise UserError("--build-index goes with --workload --no-tui (in the console, `b` builds one)")
    if args.build_index and getattr(args, "read_only", False):
        raise ReadOnlyError("the demo index build")
    t0 = time.monotonic()
    print("vecdash demo: starting 3 local pods (embedded PostgreSQL 18 + pgvector)...", file=sys.stderr)
    config_path, pods = demo.bring_up(args.dir, reset=args.reset, progress=_Bar())
    config_path = config_path.resolve()
    demo.remember(config_path)
    print(f"vecdash demo: estate up in {time.monotonic() - t0:.1f}s; config: {config_path}", file=sys.stderr)
    if args.no_tui:
        print(how_to_use(config_path, running=True), file=sys.stderr)
        print(config_path, flush=True)
        if args.workload:
            args.config = str(config_path)
            return run_workload(args)
        return 0
    try:
        args.config = str(config_path)
        from vecdash.cli.console import open_console

        return open_console(args, demo=True, workload=args.workload)
    finally:
        demo.stop(pods)
        print("vecdash demo: console closed\n" + how_to_use(config_path, running=False), file=sys.stderr)


STATUS_EVERY_S = 10.0


def run_workload(args: argparse.Namespace) -> int:
    """The workload in the foreground until Ctrl-C or SIGTERM, a status line every STATUS_EVERY_S; then
    stopped cleanly (queries cancelled, a build's index dropped, sessions closed). The pods keep running."""
    import asyncio
    import signal

    from vecdash.cli.context import config_from_args
    from vecdash.service.workload import Workload

    config = config_from_args(args)

    async def go() -> None:
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, done.set)
        workload = Workload(config)
        workload.start()
        print("vecdash demo: workload running (application_name demo-app); Ctrl-C stops it", file=sys.stderr)
        try:
            if args.build_index:
                await asyncio.sleep(1.0)  # the pods' loops read their collections first
                target = await workload.request_build()
                print(f"vecdash demo: building an index on {target.label} (dropped again when done)", file=sys.stderr)
            while not done.is_set():
                try:
                    await asyncio.wait_for(done.wait(), STATUS_EVERY_S)
                except TimeoutError:
                    print(f"vecdash demo: {workload.status().line()}", file=sys.stderr, flush=True)
        finally:
            await workload.stop()
            print("vecdash demo: workload stopped, its sessions closed; the pods keep running", file=sys.stderr)

    asyncio.run(go())
    return 0
