"""`vecdash replay FILE`: the console on a recording made with `vecdash --record FILE`, read-only.

No config and no database: the recording names its pods, and the console's api refuses every session.
"""

from __future__ import annotations

import argparse
import sys

from vecdash.config import Config, PodConfig, Settings


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("replay", help="open the console on a recording (vecdash --record FILE), read-only")
    p.add_argument("file", metavar="FILE", help="a recording written by `vecdash --record FILE`")
    p.set_defaults(handler=run)


def replay_config(recording) -> Config:
    """The console's config for a recording: its pods by name and role, no DSN, read-only."""
    pods = tuple(PodConfig(name=name, role=role) for name, role in recording.pods)
    return Config(pods=pods, settings=Settings(read_only=True, refresh_seconds=86_400.0), path=str(recording.path))


def run(args: argparse.Namespace) -> int:
    from vecdash.recording import read_recording

    recording = read_recording(args.file)  # a missing, foreign or empty file: exit 2 here
    for note in recording.notes:
        print(f"vecdash replay: {note}", file=sys.stderr)
    from vecdash.tui.app import run_console  # Textual only now

    return run_console(replay_config(recording), replay=recording)
