"""`vecdash load POD COLLECTION FILE`: binary COPY of a .npy (+ ids / metadata) or JSONL file."""

from __future__ import annotations

import argparse

from vecdash.cli.collection_arg import add_collection_argument, collection_from_args, label
from vecdash.cli.context import client_from_args
from vecdash.cli.output import print_json
from vecdash.cli.progress import StderrBar
from vecdash.service.loader import load_file


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("load", parents=[common], help="load vectors from .npy or JSONL (one transaction, binary COPY)")
    p.add_argument("pod")
    add_collection_argument(p)
    p.add_argument("file", help=".npy matrix, or JSONL lines {\"id\", \"vec\", \"metadata\"}")
    p.add_argument("--ids", help="with .npy: text file, one id per line (default: row numbers)")
    p.add_argument("--metadata", help="with .npy: JSONL file, one metadata object per line")
    p.add_argument("--upsert", action="store_true", help="replace rows whose id exists (staging table + ON CONFLICT)")
    p.add_argument("--batch-rows", type=int, default=5000, help="rows read per batch (memory stays flat)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    schema, name = collection_from_args(args)
    client = client_from_args(args)
    bar = StderrBar(f"load {label(schema, name)}", quiet=args.quiet)
    try:
        result = await load_file(
            client, args.pod, name, args.file, schema=schema, ids=args.ids, metadata=args.metadata,
            batch_rows=max(1, args.batch_rows), upsert=args.upsert,
            on_progress=lambda p: bar.update(p.fraction, f"{p.rows_done} rows" + ("" if p.committed else " copied")),
        )
    finally:
        bar.close()
        await client.close()
    if args.json:
        print_json({**result.__dict__, "rows_per_s": round(result.rows_per_s, 1)})
    else:
        print(f"loaded {result.rows} rows into {result.schema}.{result.collection} on {result.pod} "
              f"in {result.seconds:.2f} s ({result.rows_per_s:,.0f} rows/s, {result.mode})")
    return 0
