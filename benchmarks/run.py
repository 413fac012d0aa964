"""vecdash benchmarks: one entry point, every ratio the issues ask for, side by side from one run.

    python benchmarks/run.py [--quick] [--json | --markdown] [--only NAME[,NAME]] [--fresh] [--list]

Starts its own embedded pods under <tmp>/vecdash-bench ($VECDASH_BENCH_DIR overrides; data kept
between runs, --fresh rebuilds), builds clustered 384-d data (100,000 rows, 20,000 with --quick)
and runs every `bench_*.py` module in this folder. Each module exposes `run(ctx) -> list[Ratio |
Figure]`; a Figure whose value is NaN is a figure that could not be measured here (its detail
says why). Every ratio is printed with both medians and their spread (p10 / p90, n).

Exit status: 0 when every target is met, 1 when one is missed or a module failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import pkgutil
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Figure, Ratio, Sample, log, start  # noqa: E402
from vecdash.lines import first_line  # noqa: E402

# Which module measures which of issue 7's ratios; a missing module is reported, not hidden.
EXPECTED = {
    "bench_wiring": "FDW wiring vs direct, vecdash wiring vs naive wiring",
    "bench_query": "service overhead vs raw psycopg, fanout vs slowest pod, federated vs fanout",
    "bench_indexes": "load vs vecs upsert, index build progress, recall sweep",
    "bench_catalog": "catalog refresh at 1, 10, 100 collections per pod; 1 pod vs several",
    "bench_console": "console cold start to first frame vs harlequin",
    "bench_cli": "CLI start-up: vecdash --version, status --help and status vs a bare interpreter",
    "bench_activity": "activity refresh: 20 pods vs 1 pod, round trips with activity vs without",
    "bench_fleet": "200 pods: status vs 1 pod and the floor, console first pod / all pods / stall, RSS",
    "bench_fastpath": "fast path (dblink) vs direct and the view, _knn_all vs fanout and UNION ALL, same ids",
}


def discover() -> list[str]:
    here = Path(__file__).resolve().parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()}, Python {platform.python_version()}"


def skipped(r) -> bool:
    return isinstance(r, Figure) and isinstance(r.value, float) and math.isnan(r.value)


def spread(s: Sample) -> dict:
    out = {"label": s.label, "median_ms": round(s.median, 3), "n": len(s.ms)}
    if len(s.ms) >= 4:
        q = statistics.quantiles(s.ms, n=10)
        out.update(p10_ms=round(q[0], 3), p90_ms=round(q[-1], 3))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20,000 rows instead of 100,000, fewer repetitions")
    out = ap.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="machine-readable results on stdout")
    out.add_argument("--markdown", action="store_true", help="a Markdown table (as docs/benchmarks.md carries)")
    ap.add_argument("--only", help="comma-separated bench module names (e.g. wiring,query)")
    ap.add_argument("--fresh", action="store_true", help="rebuild pods and data")
    ap.add_argument("--list", action="store_true", help="list the bench modules and exit")
    args = ap.parse_args(argv)
    names = discover()
    if args.list:
        for n in sorted(set(names) | set(EXPECTED)):
            print(f"{n.removeprefix('bench_'):<10} {'' if n in names else '(not written yet) '}{EXPECTED.get(n, '')}")
        return 0
    if args.only:
        wanted = {f"bench_{n.strip().removeprefix('bench_')}" for n in args.only.split(",") if n.strip()}
        unknown = wanted - set(names)
        if unknown:
            ap.error(f"unknown bench module(s): {', '.join(sorted(u.removeprefix('bench_') for u in unknown))} "
                     f"(have: {', '.join(n.removeprefix('bench_') for n in names)})")
        names = [n for n in names if n in wanted]
    t0 = time.monotonic()
    ctx = start(args.quick, fresh=args.fresh)
    log(f"pods ready in {time.monotonic() - t0:.0f}s under {ctx.root}")
    results: list[tuple[str, Ratio | Figure]] = []
    failed_modules: list[tuple[str, str]] = []
    timings: dict[str, float] = {}
    try:
        for name in names:
            log(f"== {name}")
            t = time.monotonic()
            try:
                mod = importlib.import_module(f"benchmarks.{name}")
                for r in mod.run(ctx):
                    results.append((name, r))
            except Exception as exc:  # report and go on: one broken bench must not hide the others
                failed_modules.append((name, f"{type(exc).__name__}: {first_line(str(exc))}"))
                log(f"   {name} failed: {type(exc).__name__}: {exc}")
            timings[name] = time.monotonic() - t
            log(f"   {name}: {timings[name]:.0f}s")
    finally:
        for p in ctx.pods.values():
            p.stop()
    missing = [n for n in EXPECTED if n not in discover()] if not args.only else []
    report(results, failed_modules, missing, timings, args, time.monotonic() - t0)
    measured = [r for _, r in results if not skipped(r)]
    return 0 if not failed_modules and all(r.ok is not False for r in measured) else 1


def _row(r) -> tuple[str, str, str, str]:
    """value, target, ok, detail as text."""
    if isinstance(r, Ratio):
        return (f"{r.value:.2f}x", f"{r.op} {r.target}", "yes" if r.ok else "NO",
                f"{r.numerator.label} {r.numerator.median:.2f} ms ({r.numerator.spread()}) vs "
                f"{r.denominator.label} {r.denominator.median:.2f} ms ({r.denominator.spread()})")
    if skipped(r):
        return ("-", "" if r.target is None else f"{r.op} {r.target}", "skip", r.detail)
    value = f"{r.value:.3f}" if isinstance(r.value, float) else str(r.value)
    return (f"{value} {r.unit}".strip(), "" if r.target is None else f"{r.op} {r.target}",
            "" if r.ok is None else ("yes" if r.ok else "NO"), r.detail)


def report(results, failed, missing, timings, args, elapsed) -> None:
    scale = "20,000" if args.quick else "100,000"
    if args.json:
        out = []
        for mod, r in results:
            if isinstance(r, Ratio):
                out.append({"bench": mod, "name": r.name, "ratio": round(r.value, 3), "target": f"{r.op} {r.target}",
                            "ok": r.ok, "numerator": spread(r.numerator), "denominator": spread(r.denominator)})
            else:
                out.append({"bench": mod, "name": r.name, "value": None if skipped(r) else r.value, "unit": r.unit,
                            "target": None if r.target is None else f"{r.op} {r.target}",
                            "ok": None if skipped(r) else r.ok, "skipped": skipped(r), "detail": r.detail})
        json.dump({"machine": machine(), "quick": args.quick, "rows": int(scale.replace(",", "")), "dim": 384,
                   "elapsed_s": round(elapsed, 1), "module_seconds": {k: round(v, 1) for k, v in timings.items()},
                   "results": out, "failed": failed, "not_written": missing}, sys.stdout, indent=2)
        print()
        return
    if args.markdown:
        print(f"Measured {time.strftime('%Y-%m-%d')} with `python benchmarks/run.py{' --quick' if args.quick else ''}` "
              f"({scale} x 384 clustered unit vectors) on {machine()}.\n")
        print("| figure | value | target | ok | medians (p10 / p90, n) |")
        print("|---|---|---|---|---|")
        for _, r in results:
            value, target, ok, detail = _row(r)
            print(f"| {r.name} | {value} | {target} | {ok} | {detail.replace('|', '/')} |")
        for mod, err in failed:
            print(f"| {mod} | FAILED | | NO | {err.replace('|', '/')} |")
        for mod in missing:
            print(f"| {EXPECTED[mod]} | not measured | | | {mod}.py not written yet |")
        print("\nTime per module: " + ", ".join(f"{k.removeprefix('bench_')} {v:.0f} s" for k, v in timings.items())
              + f"; total {elapsed:.0f} s.")
        return
    print(f"vecdash benchmarks ({scale} x 384) on {machine()}")
    print(f"{'figure':<48} {'value':>11} {'target':>9}  {'ok':<4} medians (spread) / detail")
    for mod, r in results:
        value, target, ok, detail = _row(r)
        print(f"{r.name:<48} {value:>11} {target:>9}  {ok:<4} {detail}")
    for mod, err in failed:
        print(f"{mod:<48} {'FAILED':>11} {'':>9}  {'NO':<4} {err}")
    for mod in missing:
        print(f"{EXPECTED[mod]:<48} {'not measured':>11} {'':>9}  {'':<4} {mod}.py not written yet")
    print("time per module: " + ", ".join(f"{k.removeprefix('bench_')} {v:.0f}s" for k, v in timings.items())
          + f"; total {elapsed:.0f}s")


if __name__ == "__main__":
    raise SystemExit(main())
