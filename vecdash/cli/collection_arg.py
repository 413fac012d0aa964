"""The COLLECTION argument of every command that names one collection: `name` or `schema.name`, as
service.wiring.split_collection reads it, with `--schema` for the schema when COLLECTION gives none.
Split here once; services take (schema, name)."""

from __future__ import annotations

import argparse

HELP = "NAME or SCHEMA.NAME (default schema: vecs; quote odd names: '\"My Schema\".\"Docs\"')"


def add_collection_argument(p: argparse.ArgumentParser, *, optional: str | None = None) -> None:
    """COLLECTION and --schema; `optional` says what the command does without COLLECTION (then it may be left out)."""
    if optional:
        p.add_argument("collection", metavar="COLLECTION", nargs="?", help=f"{HELP}; without it: {optional}")
    else:
        p.add_argument("collection", metavar="COLLECTION", help=HELP)
    p.add_argument("--schema", default="vecs", help="schema of COLLECTION when not given in it (default: vecs)")


def collection_from_args(args: argparse.Namespace) -> tuple[str, str]:
    """(schema, name) of the COLLECTION argument; a UserError (exit 2) when it is not a name."""
    from vecdash.service.wiring import split_collection  # at run time: `--help` does not pay for the services

    return split_collection(args.collection, args.schema)


def schema_and_collection(args: argparse.Namespace) -> tuple[str, str | None]:
    """(schema, name) of an optional COLLECTION; (--schema, None) when it is left out."""
    if args.collection is None:
        return args.schema, None
    return collection_from_args(args)


def label(schema: str, name: str) -> str:
    """How a command's progress bar and messages name the collection: `schema.name`, as its result lines do."""
    from vecdash.lines import one_line

    return one_line(f"{schema}.{name}")
