"""The query vector as a statement parameter (binary for vector / halfvec, pgvector's text format for
the others) and pgvector's text format read back."""

from __future__ import annotations

import json

from vecdash.db.vector_param import ELEMENT, BinaryVector, VectorParamError
from vecdash.service.query.spec import QueryError


def vector_param(values: list[float], vtype: str) -> str | BinaryVector:
    """The query vector as a statement parameter: pgvector's binary form for `vector` and `halfvec`
    (see db/vector_param.py), the text form for `sparsevec` and `bit`."""
    if vtype not in ELEMENT:
        return vector_text(values, vtype)
    try:
        return BinaryVector(values, vtype)
    except VectorParamError as exc:
        raise QueryError(str(exc)) from None


class QueryVector:
    """The query vector as a parameter for each column type it meets: pods holding a same-named
    collection may mix `vector` and `halfvec`, whose binary forms differ (a given vector is packed once
    per type; a vector read from a pod as text is sent back as that text to every type)."""

    __slots__ = ("values", "text", "_by_type")

    def __init__(self, values: list[float] | None = None, text: str | None = None):
        self.values = values
        self.text = text
        self._by_type: dict[str, str | BinaryVector] = {}

    def for_type(self, vtype: str) -> str | BinaryVector:
        param = self._by_type.get(vtype)
        if param is None:
            param = vector_param(self.values, vtype) if self.values is not None else self.text
            self._by_type[vtype] = param
        return param


def vector_text(values: list[float], vtype: str) -> str:
    if vtype == "bit":
        bad = [v for v in values if v not in (0.0, 1.0)]
        if bad:
            raise QueryError(f"a bit vector takes 0/1 values, got {bad[0]!r}")
        return "".join("1" if v else "0" for v in values)
    if vtype == "sparsevec":
        nz = ",".join(f"{i + 1}:{float(v)!r}" for i, v in enumerate(values) if v != 0)
        return f"{{{nz}}}/{len(values)}"
    return json.dumps(values, separators=(",", ":"))  # floats as repr (round-trip exact), C-accelerated


def parse_vector_value(text: str, vtype: str) -> list[float]:
    """A vector in pgvector's text format (as `::text` returns it) -> floats."""
    if vtype == "bit":
        return [1.0 if ch == "1" else 0.0 for ch in text]
    if vtype == "sparsevec":
        body, _, dim = text.rpartition("/")
        out = [0.0] * int(dim)
        inner = body.strip("{}")
        for item in filter(None, inner.split(",")):
            i, _, v = item.partition(":")
            out[int(i) - 1] = float(v)
        return out
    return [float(x) for x in json.loads(text)]


def vector_dims(text: str, vtype: str) -> int:
    """Dimensions of a vector in pgvector's text format, without parsing it."""
    if vtype == "bit":
        return len(text)
    if vtype == "sparsevec":
        return int(text.rpartition("/")[2])
    return text.count(",") + 1

