"""Names and input of a wiring: a pod's schema/server name, `schema.name` of a collection, `--expose`."""

from __future__ import annotations

import re

from vecdash.config import PodConfig
from vecdash.db.pods import PodClient
from vecdash.errors import UserError

# --expose FIELD:TYPE -> the SQL type of the view column
EXPOSE_TYPES = {
    "text": "text", "int": "integer", "integer": "integer", "bigint": "bigint", "float": "double precision",
    "double": "double precision", "numeric": "numeric", "bool": "boolean", "boolean": "boolean", "date": "date",
    "timestamptz": "timestamptz", "timestamp": "timestamp", "jsonb": "jsonb",
}


class WiringError(UserError):
    """A wiring cannot be planned as asked: unknown collection, a name taken by something else."""


def pod_ident(pod: str) -> str:
    """The schema / server name for a pod: `vectors-a` -> `vectors_a`."""
    s = re.sub(r"[^a-z0-9_]", "_", pod.lower())
    if not s or s[0].isdigit():
        s = "pod_" + s
    return s[:63]


def split_collection(collection: str, schema: str = "vecs") -> tuple[str, str]:
    """`name` or `schema.name` (a quoted part may hold dots: `"my.schema".docs`)."""
    if not collection or not collection.strip():
        raise WiringError("collection name is empty")
    parts = _split_ident(collection.strip())
    if len(parts) == 1:
        return schema, parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise WiringError(f"collection {collection!r}: expected NAME or SCHEMA.NAME")


def _split_ident(text: str) -> list[str]:
    parts, cur, i, quoted = [], "", 0, False
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"' and text[i + 1:i + 2] == '"':
                cur += '"'
                i += 1
            elif ch == '"':
                quoted = False
            else:
                cur += ch
        elif ch == '"':
            quoted = True
        elif ch == ".":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    if quoted:
        raise WiringError(f"collection {text!r}: unclosed double quote")
    parts.append(cur)
    if any(p == "" for p in parts):
        raise WiringError(f"collection {text!r}: empty name part")
    return parts


def parse_expose(text: str | None) -> list[tuple[str, str]]:
    """`url:text,year:int` -> [("url", "text"), ("year", "int")]."""
    if not text:
        return []
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        fname, sep, ftype = item.rpartition(":")
        if not sep or not fname:
            raise WiringError(f"expose {item!r}: expected FIELD:TYPE (types: {', '.join(sorted(EXPOSE_TYPES))})")
        out.append((fname, ftype.strip().lower()))
    validate_expose(out)
    return out


def validate_expose(expose: list[tuple[str, str]]) -> None:
    seen = set()
    for fname, ftype in expose:
        if ftype not in EXPOSE_TYPES:
            raise WiringError(f"expose {fname}:{ftype}: unknown type {ftype!r} (use one of: {', '.join(sorted(EXPOSE_TYPES))})")
        if not fname or len(fname) > 63:
            raise WiringError(f"expose {fname!r}: field name must be 1-63 characters")
        if fname in seen:
            raise WiringError(f"expose: field {fname!r} given twice")
        seen.add(fname)


def primary_of(client: PodClient) -> PodConfig:
    primary = client.config.primary
    if primary is None:
        raise WiringError("no primary pod in the config: mark the pod that reads the others with `role: primary`")
    return primary
