"""`vecdash browse POD COLLECTION`: rows in id order, a page at a time (keyset) or every one (a stream)."""

from __future__ import annotations

import argparse
import shlex
import sys

from vecdash.cli.collection_arg import add_collection_argument, collection_from_args
from vecdash.cli.context import client_from_args
from vecdash.cli.output import add_export_options, escape_on_terminal, output_to
from vecdash.inputs import parse_json
from vecdash.model_data import DEFAULT_PAGE, MAX_PAGE, BrowsePage, BrowseSpec


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("browse", parents=[common], help="rows of a collection in id order, paged, with vecs filters",
                       description="Rows of COLLECTION ([schema.]name) on POD in id order: a page after --after "
                                   "(keyset pagination), or every matching row with --all (streamed, in pages of "
                                   "2,000). Read-only: SELECTs in a READ ONLY transaction.")
    p.add_argument("pod", metavar="POD")
    add_collection_argument(p)
    p.add_argument("--filter", metavar="JSON", help='vecs metadata filter, as `query` takes it')
    p.add_argument("--limit", type=int, default=DEFAULT_PAGE, metavar="N",
                   help=f"rows in the page (1 to {MAX_PAGE:,}; default {DEFAULT_PAGE}); 0: every matching row, as --all")
    p.add_argument("--all", action="store_true", help="every matching row (after --after), streamed")
    p.add_argument("--after", metavar="ID", help="start after this id (the last id of the previous page)")
    p.add_argument("--include-vector", action="store_true", help="the vectors too (a `vector` column)")
    add_export_options(p)
    p.set_defaults(handler=run)


def spec_from_args(args: argparse.Namespace) -> BrowseSpec:
    from vecdash.service.browse import check_browse

    schema, name = collection_from_args(args)
    filters = parse_json(args.filter, "--filter") if args.filter is not None else None
    spec = BrowseSpec(pod=args.pod, collection=name, schema=schema, filters=filters,
                      limit=0 if args.all else args.limit, after=args.after, include_vector=args.include_vector,
                      count=True)
    check_browse(spec)  # a bad filter or limit is exit 2 before any session opens
    return spec


async def run(args: argparse.Namespace) -> int:
    from vecdash.export import Writer, browse_columns
    from vecdash.service.browse import browse_page, stream_rows

    spec = spec_from_args(args)
    fmt = args.format or "table"
    with output_to(args.output) as out:
        client = client_from_args(args)
        try:
            writer = Writer(fmt, out, browse_columns(spec.include_vector), escape=escape_on_terminal(fmt, out))
            if spec.limit == 0:
                async for row in stream_rows(client, spec):  # every matching row
                    writer.row(row)
                page = None
            else:
                page = await browse_page(client, spec)
                for row in page.rows:
                    writer.row(row)
        finally:
            await client.close()
        n = writer.close()
        line = footer(n, page, filtered=bool(spec.filters))
        if fmt == "table":
            print(f"\n{line}", file=out)
        else:  # standard output (or the file) holds the rows alone
            print(f"vecdash: {line}", file=sys.stderr)
    return 0


def footer(n: int, page: BrowsePage | None, *, filtered: bool) -> str:
    """What the rows do not say: how many match (before --after too), and how to ask for the next page."""
    from vecdash.lines import one_line

    text = f"{n:,} rows"
    if page is None:
        return text
    if page.matching is not None:
        text += f"; {page.matching} " + ("match the filter" if filtered else "in all")
    if not page.more:
        return text + "; no more rows"
    after = shlex.quote(str(page.last_id))
    if one_line(after) != after:  # an id holding a newline or a control character: not pasteable as shown
        return text + "; more follow after the last id (it holds control characters: take it from --format json)"
    # an id that starts with "-" reads as an option after a space: argparse takes it only with "="
    return text + f"; more follow: --after{'=' if after.startswith('-') else ' '}{after}"
