"""What every command needs: the loaded config (with CLI overrides) and a pod client."""

from __future__ import annotations

import argparse
import sys

from vecdash.config import Config, is_last_demo_config, load_config
from vecdash.db.pods import PodClient


def config_from_args(args: argparse.Namespace) -> Config:
    explicit = getattr(args, "config", None)
    config = load_config(explicit)
    if not explicit and is_last_demo_config(config.path):  # the last fallback: say which estate this is
        print(f"vecdash: no other config found; using the last `vecdash demo` estate's: {config.path}", file=sys.stderr)
    return config.with_overrides(
        read_only=True if getattr(args, "read_only", False) else None,
        refresh_seconds=getattr(args, "refresh", None),
    )


def client_from_args(args: argparse.Namespace) -> PodClient:
    return PodClient(config_from_args(args))
