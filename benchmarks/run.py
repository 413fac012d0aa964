"""vecdash benchmarks: one entry point, every ratio the issues ask for, side by side from one run.

    python benchmarks/run.py [--quick] [--json] [--only NAME[,NAME]] [--fresh]

Starts its own embedded pods under <tmp>/vecdash-bench (data kept between runs; --fresh rebuilds),
builds clustered 384-d data (100,000 rows, 20,000 with --quick) and runs every `bench_*.py` module
in this folder. Each module exposes `run(ctx) -> list[Ratio | Figure]`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Figure, Ratio, log, start  # noqa: E402


def discover() -> list[str]:
    here = Path(__file__).resolve().parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20,000 rows instead of 100,000")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--only", help="comma-separated bench module names (e.g. wiring,query)")
    ap.add_argument("--fresh", action="store_true", help="rebuild pods and data")
    args = ap.parse_args(argv)
    names = discover()
    if args.only:
        wanted = {f"bench_{n.removeprefix('bench_')}" for n in args.only.split(",")}
        names = [n for n in names if n in wanted]
    t0 = time.monotonic()
    ctx = start(args.quick, fresh=args.fresh)
    results: list[tuple[str, Ratio | Figure]] = []
    failed_modules = []
    try:
        for name in names:
            log(f"== {name}")
            mod = importlib.import_module(f"benchmarks.{name}")
            try:
                for r in mod.run(ctx):
                    results.append((name, r))
            except Exception as exc:  # report and go on: one broken bench must not hide the others
                failed_modules.append((name, f"{type(exc).__name__}: {exc}"))
                log(f"   {name} failed: {type(exc).__name__}: {exc}")
    finally:
        for p in ctx.pods.values():
            p.stop()
    report(results, failed_modules, args, time.monotonic() - t0)
    return 0 if not failed_modules and all(r.ok is not False for _, r in results) else 1


def report(results, failed, args, elapsed) -> None:
    if args.json:
        out = []
        for mod, r in results:
            if isinstance(r, Ratio):
                out.append({"bench": mod, "name": r.name, "ratio": round(r.value, 3), "target": f"{r.op} {r.target}",
                            "ok": r.ok, "numerator": {"label": r.numerator.label, "median_ms": round(r.numerator.median, 3)},
                            "denominator": {"label": r.denominator.label, "median_ms": round(r.denominator.median, 3)}})
            else:
                out.append({"bench": mod, "name": r.name, "value": r.value, "unit": r.unit,
                            "target": None if r.target is None else f"{r.op} {r.target}", "ok": r.ok, "detail": r.detail})
        json.dump({"machine": machine(), "quick": args.quick, "elapsed_s": round(elapsed, 1), "results": out,
                   "failed": failed}, sys.stdout, indent=2)
        print()
        return
    print(f"vecdash benchmarks ({'quick: 20,000' if args.quick else '100,000'} x 384) on {machine()}")
    print(f"{'figure':<46} {'value':>10} {'target':>9}  ok   medians (spread)")
    for mod, r in results:
        if isinstance(r, Ratio):
            print(f"{r.name:<46} {r.value:>9.2f}x {r.op + ' ' + str(r.target):>9}  {'yes' if r.ok else 'NO ':<4} "
                  f"{r.numerator.label} {r.numerator.median:.2f} ms ({r.numerator.spread()}) vs "
                  f"{r.denominator.label} {r.denominator.median:.2f} ms ({r.denominator.spread()})")
        else:
            tgt = "" if r.target is None else f"{r.op} {r.target}"
            ok = "" if r.ok is None else ("yes" if r.ok else "NO")
            print(f"{r.name:<46} {r.value:>10.3f} {tgt:>9}  {ok:<4} {r.unit} {r.detail}")
    for mod, err in failed:
        print(f"{mod:<46} FAILED: {err}")
    print(f"total {elapsed:.0f}s")


if __name__ == "__main__":
    raise SystemExit(main())
