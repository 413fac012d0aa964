"""CLI start-up: a cron job that runs `vecdash status` over many pods pays it on every run.

Whole processes, launch to exit, interleaved run by run: `python -c pass` (the interpreter's floor),
`vecdash --version` (the entry point, no command imported), `vecdash status --help` (the parser of one
command: its module and the services it uses, no database) and `vecdash status` against the bench
pods (one catalog snapshot of every pod). Medians with spread, in milliseconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import BenchContext, Figure, interleaved


def run(ctx: BenchContext) -> list:
    pods = list(ctx.pods)
    with tempfile.TemporaryDirectory(prefix="vdcli-") as tmp:
        cfg = Path(tmp) / "vecdash.yaml"
        lines = ["pods:"]
        for p in pods:
            lines += [f"  - name: {p}", f"    role: {'primary' if p == 'primary' else 'secondary'}", f"    dsn: {ctx.dsn(p)}"]
        cfg.write_text("\n".join(lines) + "\n")
        cfg.chmod(0o600)
        env = {**os.environ, "HOME": tmp}  # no user config, no history

        def launch(*args: str, ok: tuple[int, ...] = (0,)):
            def go() -> None:
                res = subprocess.run([sys.executable, *args], env=env, capture_output=True, timeout=120)
                if res.returncode not in ok:
                    raise RuntimeError(f"{' '.join(args)} exited {res.returncode}: {res.stderr.decode()[:200]}")
            return go

        variants = {
            "python -c pass": launch("-c", "pass"),
            "vecdash --version": launch("-m", "vecdash", "--version"),
            "vecdash status --help": launch("-m", "vecdash", "status", "--help"),
            "vecdash status": launch("-m", "vecdash", "--config", str(cfg), "status"),
        }
        samples = interleaved(variants, n=7 if ctx.quick else 21, warmup=1)
    floor = samples["python -c pass"].median
    out = []
    for name, s in samples.items():
        extra = "" if name == "python -c pass" else f"; {s.median - floor:.0f} ms over the bare interpreter"
        pods_note = f"; {len(pods)} pods" if name == "vecdash status" else ""
        out.append(Figure(f"cli start-up: {name} (ms)", round(s.median, 1), "ms", detail=f"{s.spread()}{extra}{pods_note}"))
    return out
