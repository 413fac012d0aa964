"""Opening the console: the CLI builds the Config from the file and the flags, the console runs on it."""

from __future__ import annotations

import argparse

from vecdash.cli.context import config_from_args


def open_console(args: argparse.Namespace, demo: bool = False, workload: bool = False) -> int:
    config = config_from_args(args, discover=False)  # the console discovers once it is on screen
    recorder = None
    if getattr(args, "record", None):
        from vecdash.recording import Recorder

        recorder = Recorder(args.record, config.pods)  # a file that is not a recording: exit 2 before the console
    from vecdash.tui.app import run_console  # Textual only now, never for a command

    try:
        return run_console(config, demo=demo, tour=bool(getattr(args, "tour", False)), workload=workload,
                           recorder=recorder)
    finally:
        if recorder is not None:
            recorder.close()
