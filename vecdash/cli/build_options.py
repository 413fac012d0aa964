"""The index build's options, as `vecdash index build` and `vecdash across index` both take them."""

from __future__ import annotations

import argparse
from typing import Any

from vecdash.model import MEASURES
from vecdash.service import index_plans as ix


def add_build_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--method", choices=ix.METHODS, default="hnsw")
    b.add_argument("--measure", choices=list(MEASURES), default="cosine")
    b.add_argument("--m", type=int, default=ix.DEFAULT_M, help=f"HNSW: links per node (default {ix.DEFAULT_M})")
    b.add_argument("--ef-construction", type=int, default=ix.DEFAULT_EF_CONSTRUCTION,
                   help=f"HNSW: build candidate list (default {ix.DEFAULT_EF_CONSTRUCTION})")
    b.add_argument("--lists", type=int, help="IVFFlat: lists (default rows/1000, sqrt(rows) above 1M rows)")
    b.add_argument("--no-concurrently", dest="concurrently", action="store_false",
                   help="plain CREATE INDEX (blocks writes, faster)")
    b.add_argument("--maintenance-work-mem", metavar="SIZE", help="for this build's session, e.g. 2GB")
    b.add_argument("--parallel-workers", type=int, metavar="N", help="max_parallel_maintenance_workers for this build")


def build_options(args: argparse.Namespace) -> dict[str, Any]:
    """build_index's keyword arguments from the options above."""
    return {"method": args.method, "measure": args.measure, "m": args.m, "ef_construction": args.ef_construction,
            "lists": args.lists, "concurrently": args.concurrently, "maintenance_work_mem": args.maintenance_work_mem,
            "parallel_workers": args.parallel_workers}
