"""`vecdash activity [POD ...]`: what every pod is doing now; `activity cancel|terminate POD PID`.

Exit 0 when nothing is on the alert line, 1 when something is (a pod down included), 2 for bad input
(an unknown pod, a bad pid, a signal in read-only mode: refused before any I/O).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace

from vecdash.cli.context import config_from_args, unanswered
from vecdash.cli.output import print_json, shown, table
from vecdash.config import setting_problem
from vecdash.db.pods import PodClient
from vecdash.errors import UserError
from vecdash.model import Topology, to_jsonable
from vecdash.model_activity import PodActivity
from vecdash.service import activity as live
from vecdash.service.catalog import snapshot
from vecdash.units import human_count, ms, seconds

SIGNAL_WORDS = {"cancel": "cancelled the running statement of", "terminate": "terminated the session of"}
QUERY_WIDTH = 80


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "activity", parents=[common],
        help="sessions, index builds, scans and top statements of every pod, with alerts (exit 1 on an alert)",
        description="Live activity of the estate. `vecdash activity cancel POD PID` cancels a session's "
                    "statement (pg_cancel_backend), `vecdash activity terminate POD PID` ends the session "
                    "(pg_terminate_backend); both are refused in read-only mode.")
    p.add_argument("pods", nargs="*", metavar="POD", help="pods to show (default: all); or cancel|terminate POD PID")
    p.add_argument("--all", action="store_true", help="idle sessions too")
    p.add_argument("--json", action="store_true", help="one JSON object per refresh (shape: docs/reference.md)")
    p.add_argument("--watch", type=float, metavar="SECONDS", help="refresh every SECONDS, with rates, until Ctrl-C")
    p.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    if args.pods and args.pods[0] in SIGNAL_WORDS:
        return await _signal(args)
    if args.watch is not None:
        problem = setting_problem("refresh_seconds", args.watch)
        if problem:
            raise UserError(f"--watch {problem}")
    config = config_from_args(args)
    chosen = [config.pod(name) for name in dict.fromkeys(args.pods)]  # an unknown pod: exit 2, nothing read
    if chosen:
        config = replace(config, pods=tuple(chosen))
    client = PodClient(config)
    previous: Topology | None = None
    try:
        while True:
            # the first read: a pod discovery found hung is not waited on again; each later one asks it
            topo = await snapshot(client, activity=True, previous=previous,
                                  known_down=unanswered(config) if previous is None else None)
            if args.json:
                doc = live.activity_json(topo, idle=args.all)
                if args.watch is None:
                    print_json(doc)
                else:  # one object per line, per refresh
                    print(json.dumps(to_jsonable(doc), default=str), flush=True)
            else:
                if args.watch is not None and sys.stdout.isatty():
                    sys.stdout.write("\x1b[H\x1b[2J")
                print(render(topo, idle=args.all), flush=True)
            if args.watch is None:
                return 1 if topo.alerts or not topo.all_up else 0
            previous = topo
            await asyncio.sleep(args.watch)
    finally:
        await client.close()


async def _signal(args: argparse.Namespace) -> int:
    how, rest = args.pods[0], args.pods[1:]
    if len(rest) != 2:
        raise UserError(f"usage: vecdash activity {how} POD PID")
    pod, pid_text = rest
    try:
        pid = int(pid_text)
    except ValueError:
        raise UserError(f"PID must be a number, got {pid_text!r}") from None
    config = config_from_args(args)
    client = PodClient(config)
    try:
        done = await live.signal_backend(client, pod, pid, how)  # read-only, unknown pod: refused before I/O
    finally:
        await client.close()
    if done:
        print(f"pod {shown(pod)}: {SIGNAL_WORDS[how]} pid {pid}")
        return 0
    print(f"pod {shown(pod)}: pid {pid} was not signalled (it ended, or is not a server process)", file=sys.stderr)
    return 1


def render(topo: Topology, *, idle: bool = False) -> str:
    """Per pod: sessions, progress, flagged collections, top statements (or why none), notes; then alerts."""
    out: list[str] = []
    for pod in topo.pods:
        act = pod.activity or live.down(pod.name, pod.error)
        if not pod.up:
            out += [f"== {shown(pod.name)}: DOWN ({shown(pod.error)})", ""]
            continue
        out.append(f"== {shown(pod.name)}" + (f"   {_rates(act)}" if act.rates else ""))
        out += _sessions(act, idle)
        for g in act.progress:
            pct = f"{g.percent:.1f}%" if g.percent is not None else "?%"
            index = f" index {shown(g.index)}" if g.index else ""
            out.append(f"progress: pid {g.pid} {shown(g.command)} on {shown(g.relation)}{index}: "
                       f"{shown(g.phase)} {pct}")
        flagged = {a.subject for a in topo.alerts if a.pod == pod.name and a.code == "seq_scan_indexed"}
        for c in act.collections:
            if c.qualified in flagged:
                out.append(f"flagged: {shown(c.qualified)} seq scans {human_count(c.seq_scan)}, index scans "
                           f"{human_count(c.vector_index_scans)} on {shown(c.vector_index)}, "
                           f"{human_count(c.seq_tup_read)} tuples read by seq scans")
        out += _statements(act)
        out += [f"note: {shown(n)}" for n in act.notes]
        out.append("")
    out.append(f"alerts ({len(topo.alerts)}): " + ("; ".join(shown(a.message) for a in topo.alerts) or "none"))
    return "\n".join(out)


def _rates(act: PodActivity) -> str:
    r = act.rates
    fmt = lambda v: "?" if v is None else f"{v:.1f}"  # noqa: E731
    return (f"{fmt(r.vector_qps)} vector q/s, {fmt(r.scans_per_s)} scans/s, {fmt(r.tuples_per_s)} tuples/s "
            f"(over {seconds(r.seconds)})")


def _sessions(act: PodActivity, idle: bool) -> list[str]:
    rows = []
    for s in act.sessions:
        if s.state == "idle" and not idle:
            continue
        rows.append([str(s.pid), shown(s.user, 16), shown(s.application, 20) + (" *" if s.own else ""),
                     shown(s.client), shown(s.state), shown(s.wait_event), seconds(s.xact_age_s) if s.xact_age_s
                     is not None else "-", seconds(s.query_age_s) if s.query_age_s is not None else "-",
                     "yes" if s.vector else "", ",".join(map(str, s.blocked_by)), shown(s.query, QUERY_WIDTH)])
    if not rows:
        return ["no sessions" + ("" if idle else " (idle ones with --all)")]
    lines = [table(rows, ["PID", "USER", "APPLICATION", "CLIENT", "STATE", "WAIT", "XACT", "QUERY AGE", "VECTOR",
                          "BLOCKED BY", "QUERY"])]
    if any(r[2].endswith(" *") for r in rows):
        lines.append("(* a session vecdash opened)")
    return lines


def _statements(act: PodActivity) -> list[str]:
    if act.statements is None:
        return []  # a note says why
    if not act.statements:
        return ["top statements: none recorded yet"]
    rows = [[human_count(s.calls), ms(s.total_ms), ms(s.mean_ms), human_count(s.rows), "yes" if s.vector else "",
             shown(s.query, QUERY_WIDTH)] for s in act.statements]
    return ["top statements (pg_stat_statements, vector first):",
            table(rows, ["CALLS", "TOTAL", "MEAN", "ROWS", "VECTOR", "QUERY"])]
