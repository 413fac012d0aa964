"""The query vector as a statement parameter in pgvector's binary format.

The text form costs: `json.dumps` of 384 floats takes 0.3-0.5 ms of client CPU (float repr), more
than psycopg's whole round trip, and the server then parses it back with strtof. The binary form
(int16 dimensions, int16 unused, float4 big-endian each) packs in microseconds.

The parameter goes out with type OID 0 (unknown): the statement's `%s::vector` cast makes the server
infer `vector` (whose OID differs per database, so no lookup per session) and read the bytes with
pgvector's `vector_recv`, which checks the dimension and that every element is finite.
"""

from __future__ import annotations

import json
import struct

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper

MAX_DIMENSIONS = 16_000  # pgvector's VECTOR_MAX_DIM


class VectorParamError(ValueError):
    pass


class BinaryVector:
    """A `vector` query parameter. `str()` gives pgvector's text form (for previews), built on demand."""

    __slots__ = ("values", "data")

    def __init__(self, values: list[float]):
        n = len(values)
        if not 0 < n <= MAX_DIMENSIONS:
            raise VectorParamError(f"a vector has 1 to {MAX_DIMENSIONS:,} dimensions, got {n:,}")
        try:
            self.data = struct.pack(f">HH{n}f", n, 0, *values)
        except OverflowError:
            big = next(i for i, v in enumerate(values) if abs(v) > 3.4028234663852886e38)
            raise VectorParamError(f"vector[{big}]: {values[big]!r} is outside the float4 range of a pgvector vector "
                                   f"(about ±3.4e38)") from None
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __str__(self) -> str:
        return json.dumps(self.values, separators=(",", ":"))


class BinaryVectorDumper(Dumper):
    format = pq.Format.BINARY
    oid = 0  # inferred by the server from the statement's ::vector cast

    def dump(self, obj: BinaryVector) -> bytes:
        return obj.data


psycopg.adapters.register_dumper(BinaryVector, BinaryVectorDumper)
