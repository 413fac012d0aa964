"""Opening the console: the CLI builds the Config from the file and the flags, the console runs on it."""

from __future__ import annotations

import argparse

from vecdash.cli.context import config_from_args


def open_console(args: argparse.Namespace, demo: bool = False, workload: bool = False) -> int:
    config = config_from_args(args)
    from vecdash.tui.app import run_console  # Textual only now, never for a command

    return run_console(config, demo=demo, tour=bool(getattr(args, "tour", False)), workload=workload)
