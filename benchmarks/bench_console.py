"""Console cold start: seconds from launch to the first painted frame, vecdash vs harlequin.

Both run in a fresh tmux pane of 120 x 40 through the shared `first-frame.sh` tool (polls the
screen every 20 ms), against the same embedded pod, interleaved run by run. The first frame is
vecdash's pane tabs ("Workbench") and harlequin's "Data Catalog" box - each app's layout, painted.
vecdash's first frame with data (every pod listed in the topology tree) is reported too.

harlequin is never a project dependency: it is looked up as $VECDASH_HARLEQUIN, on PATH, or in
/opt/harlequin-venv (`python -m venv /opt/harlequin-venv && /opt/harlequin-venv/bin/pip install
harlequin harlequin-postgres`). Without tmux, the tool or the console, the figures say why they
were skipped instead of failing.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import BenchContext, Figure, Ratio, Sample, log

REPO = Path(__file__).resolve().parent.parent
COLS, ROWS = 120, 40
VECDASH_MARKER = "Workbench"
HARLEQUIN_MARKER = "Data Catalog"


def first_frame_tool() -> Path | None:
    for candidate in (os.environ.get("VECDASH_FIRST_FRAME"), REPO.parent / "shared" / "tools" / "first-frame.sh",
                      Path("/work/shared/tools/first-frame.sh")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def harlequin_bin() -> str | None:
    for candidate in (os.environ.get("VECDASH_HARLEQUIN"), shutil.which("harlequin"), "/opt/harlequin-venv/bin/harlequin"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def console_available() -> bool:
    return (REPO / "vecdash" / "tui" / "app.py").is_file()


def skipped(name: str, why: str) -> Figure:
    return Figure(name, math.nan, detail=f"skipped: {why}")


def first_frame(tool: Path, marker: str, command: str) -> float | None:
    """Seconds to `marker` on screen, or None on timeout (the tool gives up after 30 s)."""
    res = subprocess.run(["bash", str(tool), marker, str(COLS), str(ROWS), command],
                         capture_output=True, text=True, timeout=60)
    try:
        return float(res.stdout.strip())
    except ValueError:
        log(f"   first frame of {command.split()[0]!r}: {res.stdout.strip() or res.stderr.strip()[:200]}")
        return None


def run(ctx: BenchContext) -> list:
    names = ["console first frame vs harlequin", "console first frame (s)", "console first frame with all pods (s)"]
    if not shutil.which("tmux"):
        return [skipped(n, "tmux is not installed") for n in names]
    tool = first_frame_tool()
    if tool is None:
        return [skipped(n, "shared/tools/first-frame.sh not found") for n in names]
    if not console_available():
        return [skipped(n, "the console (vecdash/tui/app.py) has not landed") for n in names]

    pods = list(ctx.pods)
    cfg_dir = Path(tempfile.mkdtemp(prefix="vdcon-"))
    cfg = cfg_dir / "console.yaml"
    lines = ["pods:"]
    for p in pods:
        lines += [f"  - name: {p}", f"    role: {'primary' if p == 'primary' else 'secondary'}", f"    dsn: {ctx.dsn(p)}"]
    cfg.write_text("\n".join(lines) + "\n")
    cfg.chmod(0o600)
    env = f"HOME={shlex.quote(str(cfg_dir))} "  # neither app finds a user config or history
    vecdash_cmd = f"{env}{shlex.quote(sys.executable)} -m vecdash --config {shlex.quote(str(cfg))}"
    harlequin = harlequin_bin()
    harlequin_cmd = f"{env}{shlex.quote(harlequin)} -a postgres {shlex.quote(ctx.dsn(pods[0]))}" if harlequin else None
    data_marker = pods[-1]  # tree rows are in config order: the last pod listed means all are

    n = 3 if ctx.quick else 7
    ours: list[float] = []
    ours_data: list[float] = []
    theirs: list[float] = []
    try:
        first_frame(tool, VECDASH_MARKER, vecdash_cmd)  # warm the OS file cache for both, unmeasured
        if harlequin_cmd:
            first_frame(tool, HARLEQUIN_MARKER, harlequin_cmd)
        for _ in range(n):
            s = first_frame(tool, VECDASH_MARKER, vecdash_cmd)
            if s is not None:
                ours.append(s * 1000)
            s = first_frame(tool, data_marker, vecdash_cmd)
            if s is not None:
                ours_data.append(s * 1000)
            if harlequin_cmd:
                s = first_frame(tool, HARLEQUIN_MARKER, harlequin_cmd)
                if s is not None:
                    theirs.append(s * 1000)
    finally:
        shutil.rmtree(cfg_dir, ignore_errors=True)

    out: list = []
    if ours and theirs:
        out.append(Ratio("console first frame vs harlequin", Sample("vecdash", ours), Sample("harlequin", theirs),
                         target=1.0))
    elif not harlequin_cmd:
        out.append(skipped(names[0], "harlequin not installed (see benchmarks/bench_console.py)"))
    else:
        out.append(skipped(names[0], "no first frame measured (see log)"))
    if ours:
        s = Sample("vecdash", ours)
        out.append(Figure(names[1], round(s.median / 1000, 3), "s", detail=s.spread()))
    if ours_data:
        s = Sample("vecdash", ours_data)
        out.append(Figure(names[2], round(s.median / 1000, 3), "s", detail=f"{len(pods)} pods; {s.spread()}"))
    return out
