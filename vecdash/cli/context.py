"""What every command needs: the loaded config (with CLI overrides) and a pod client."""

from __future__ import annotations

import argparse

from vecdash.config import Config, load_config
from vecdash.db.pods import PodClient


def config_from_args(args: argparse.Namespace) -> Config:
    config = load_config(getattr(args, "config", None))
    return config.with_overrides(
        read_only=True if getattr(args, "read_only", False) else None,
        refresh_seconds=getattr(args, "refresh", None),
    )


def client_from_args(args: argparse.Namespace) -> PodClient:
    return PodClient(config_from_args(args))
