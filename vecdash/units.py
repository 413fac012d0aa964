"""Human-readable sizes for service messages (warnings, plan notes). The console and the CLI format
their own columns (tui/format.py, cli/output.py)."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """1536 -> '1.5 kB', 200 * 2**20 -> '200.0 MB'."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
