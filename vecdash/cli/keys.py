"""`vecdash keys POD COLLECTION`: the metadata keys of a sample, their JSON types, presence, common values."""

from __future__ import annotations

import argparse

from vecdash.cli.collection_arg import add_collection_argument, collection_from_args
from vecdash.cli.context import client_from_args
from vecdash.cli.output import print_json, table
from vecdash.model_data import DEFAULT_SAMPLE, KEYS_MAX_SAMPLE, KeyReport


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("keys", parents=[common], help="metadata keys of a sample: JSON types, presence, common values",
                       description="Every top-level metadata key in a sample of COLLECTION's rows on POD (TABLESAMPLE "
                                   "on a large table, a small one read whole, drawn at random): its JSON types, how many sampled rows "
                                   "have it and its most common values.")
    p.add_argument("pod", metavar="POD")
    add_collection_argument(p)
    p.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, metavar="N",
                   help=f"rows to sample (1 to {KEYS_MAX_SAMPLE:,}; default {DEFAULT_SAMPLE:,})")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    from vecdash.service.keys import check_sample, sample_keys

    schema, name = collection_from_args(args)
    check_sample(args.sample)
    client = client_from_args(args)
    try:
        report = await sample_keys(client, args.pod, name, schema=schema, sample=args.sample)
    finally:
        await client.close()
    if args.json:
        print_json(report.to_json())
    else:
        print(render(report))
    return 0


def render(r: KeyReport) -> str:
    from vecdash.lines import key_name, shown
    from vecdash.units import human_count

    rows = []
    for k in r.keys:
        types = k.types_text()
        top = ", ".join(f"{v.text}{'…' if v.truncated else ''} ({v.count})" for v in k.top)
        rows.append([shown(key_name(k.key), 40), types, f"{k.present:,} ({k.share:.0%})", shown(top, 80)])
    about = f" of about {human_count(r.rows_estimate)}" if r.rows_estimate is not None else ""
    out = [table(rows, ["KEY", "TYPES", "PRESENT", "MOST COMMON VALUES"]) if rows else "no metadata keys in the sample",
           "", f"{human_count(r.sampled)} rows sampled{about} ({r.method}) in {r.schema}.{r.collection} on {r.pod}"]
    if r.not_objects:
        out.append(f"{human_count(r.not_objects)} sampled rows have metadata that is not a JSON object (no keys)")
    return "\n".join(out)
