"""Opening the console. Until the TUI exists this prints the status (issue: console)."""

from __future__ import annotations

import argparse
import asyncio


def open_console(args: argparse.Namespace, demo: bool = False) -> int:
    try:
        from vecdash.tui.app import run_console  # noqa: F401
    except ImportError:
        from vecdash.cli import status

        args.json = False
        return asyncio.run(status.run(args))
    return run_console(args, demo=demo)
