"""The query vector as a statement parameter in pgvector's binary format.

The text form costs: `json.dumps` of 384 floats takes 0.3-0.5 ms of client CPU (float repr), more
than psycopg's whole round trip, and about 2 ms at 3,072 dimensions; the server then parses it back
with strtof. The binary form (int16 dimensions, int16 unused, then each element big-endian: float4
for `vector`, IEEE half for `halfvec`) packs in microseconds.

The parameter goes out with type OID 0 (unknown): the statement's `%s::vector` (or `::halfvec`) cast
makes the server infer the type (whose OID differs per database, so no lookup per session) and read
the bytes with pgvector's receive function, which checks the dimension and that every element is
finite. The dumper is registered on each session vecdash opens (db/connect.py), so it does not
depend on what was imported before the session was opened.
"""

from __future__ import annotations

import json
import struct

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper

from vecdash.model import MAX_DIMENSION

# element format and range per type (struct: f = float4, e = IEEE half)
ELEMENT = {"vector": ("f", "float4", "3.4e38"), "halfvec": ("e", "float16", "65504")}


class VectorParamError(ValueError):
    pass


class BinaryVector:
    """A `vector` / `halfvec` query parameter. `str()` gives pgvector's text form (for previews), built
    on demand."""

    __slots__ = ("values", "data", "vtype")

    def __init__(self, values: list[float], vtype: str = "vector"):
        code, name, limit = ELEMENT[vtype]
        n = len(values)
        if not 0 < n <= MAX_DIMENSION[vtype]:
            raise VectorParamError(f"a {vtype} has 1 to {MAX_DIMENSION[vtype]:,} dimensions, got {n:,}")
        try:
            self.data = struct.pack(f">HH{n}{code}", n, 0, *values)
        except (OverflowError, struct.error):  # struct.error: an int too large, or not a number at all
            i, v = next((i, v) for i, v in enumerate(values) if _unpackable(code, v))
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                raise VectorParamError(f"vector[{i}]: {v!r} is outside the {name} range of a pgvector {vtype} "
                                       f"(about ±{limit})") from None
            raise VectorParamError(f"vector[{i}]: {v!r} is not a number") from None
        self.values = values
        self.vtype = vtype

    def __len__(self) -> int:
        return len(self.values)

    def __str__(self) -> str:
        return json.dumps(self.values, separators=(",", ":"))


def _unpackable(code: str, v: object) -> bool:
    try:
        struct.pack(">" + code, v)
        return False
    except (OverflowError, struct.error):
        return True


class BinaryVectorDumper(Dumper):
    format = pq.Format.BINARY
    oid = 0  # inferred by the server from the statement's ::vector / ::halfvec cast

    def dump(self, obj: BinaryVector) -> bytes:
        return obj.data


def register(conn: psycopg.AsyncConnection | psycopg.Connection) -> None:
    """Let `conn` send BinaryVector parameters."""
    conn.adapters.register_dumper(BinaryVector, BinaryVectorDumper)
