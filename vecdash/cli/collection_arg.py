"""The COLLECTION argument of a command that names one collection: `name` or `schema.name`, as
service.wiring.split_collection reads it, with `--schema` for the schema when COLLECTION gives none."""

from __future__ import annotations

import argparse


def add_collection_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("collection", metavar="COLLECTION",
                   help="NAME or SCHEMA.NAME (default schema: vecs; quote odd names: '\"My Schema\".\"Docs\"')")
    p.add_argument("--schema", default="vecs", help="schema of COLLECTION when not given in it (default: vecs)")


def collection_from_args(args: argparse.Namespace) -> tuple[str, str]:
    """(schema, name) of the COLLECTION argument; a UserError (exit 2) when it is not a name."""
    from vecdash.service.wiring import split_collection  # at run time: `--help` does not pay for the services

    return split_collection(args.collection, args.schema)
