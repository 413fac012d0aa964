"""What every command needs: the loaded config (with CLI overrides and the pods the primary declares)
and a pod client."""

from __future__ import annotations

import argparse
import sys

from vecdash.config import Config, is_last_demo_config, load_config
from vecdash.db.pods import PodClient
from vecdash.lines import one_line


def config_from_args(args: argparse.Namespace, *, discover: bool = True) -> Config:
    """`discover` False: leave `pods_from_primary` to the caller (the console discovers after its first
    frame, so a slow or hung primary never delays it); a command discovers here, bounded like any call
    to the primary, and a primary that does not answer is one note, the configured pods as they are."""
    explicit = getattr(args, "config", None)
    config = load_config(explicit)
    if not explicit and is_last_demo_config(config.path):  # the last fallback: say which estate this is
        print(f"vecdash: no other config found; using the last `vecdash demo` estate's: {config.path}", file=sys.stderr)
    config = config.with_overrides(
        read_only=True if getattr(args, "read_only", False) else None,
        refresh_seconds=getattr(args, "refresh", None),
    )
    if discover and config.from_primary:  # the primary's foreign servers as pods: one bounded call to the primary
        from vecdash.service.discovery import discover_now

        config = discover_now(config)
    for note in config.notes:  # one line each, on stderr: `status --json` keeps stdout to itself
        print(f"vecdash: note: {one_line(note)}", file=sys.stderr)
    return config


def client_from_args(args: argparse.Namespace) -> PodClient:
    return PodClient(config_from_args(args))


def unanswered(config: Config) -> dict[str, str]:
    """Pods this command's discovery found not answering, with why (`Config.unanswered`): its first read
    reports them down with that reason instead of waiting out a second timeout on them."""
    return dict(config.unanswered)
