"""A map of a collection: a bounded sample projected on its first two principal components, with a
query's vector and its neighbours projected the same way ("are my embeddings clustered, and where did
this query land?").

The sample is one round trip, drawn by service/sampling.py as the metadata keys' is (seeded, so the
same map comes back). The query's neighbours come in the same pipeline, by id. Vectors arrive in
pgvector's binary format on a binary cursor (nothing is registered on the pooled session) and are read
by numpy.

PCA: the top two axes of the centred sample by subspace iteration (a block of 64 directions) and a
numpy SVD of the small projected matrix: the full SVD's axes when fewer than ~60 directions hold the
spread (the demo's 48 clusters), in a fraction of its time (seconds at 2,000 x 1,536); off the event loop. Collections searched by cosine are unit-normalised
first, so the map shows angles.

Colouring is pure (`colour_by`): one metadata key, its LEGEND most common values with a colour each,
the rest `other`. Values are data: the console shows them through vecdash/tui/text.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from psycopg import sql

from vecdash.db.pods import PodClient
from vecdash.errors import UserError
from vecdash.inputs import check_integer
from vecdash.model import Collection, Topology
from vecdash.service.catalog import find_collection
from vecdash.service.sampling import draw

SAMPLE = 2000
MAP_MAX_SAMPLE = 10_000  # the keys' own is model_data.KEYS_MAX_SAMPLE
LEGEND = 8  # values with a colour of their own; the rest are `other`
MAX_NEIGHBOURS = 100
LEGEND_VALUE_CHARS = 60  # a metadata value kept for the legend is cut to this many characters (keys: KEY_VALUE_CHARS)
KEYS_PER_ROW = 64
BLOCK, ITERATIONS = 64, 4  # subspace iteration: wide enough for ~60 clusters' directions, converged in 4
BINARY_ELEMENT = {"vector": ">f4", "halfvec": ">f2"}  # pgvector's send format: int16 dim, int16 unused, elements


class MapError(UserError):
    """A map that cannot be drawn as asked (no such collection, a column type it cannot read, ...)."""


@dataclass(frozen=True)
class Category:
    label: str  # a string as it is (quoted beside other JSON types: _legend_label), else JSON; "" for absent/other
    count: int
    kind: str = "value"  # value | absent (rows without the key) | other (values beyond the legend)


@dataclass
class Colouring:
    key: str | None
    categories: list[Category]  # the most common values first, then absent, then other
    index: np.ndarray  # per sample point: its category's position in `categories`


@dataclass
class Neighbour:
    id: Any
    rank: int  # 1 = the nearest
    x: float
    y: float


@dataclass
class CollectionMap:
    pod: str
    schema: str
    name: str
    vtype: str
    dimension: int
    rows_estimate: int | None
    sampled: str  # how the sample was drawn, in words
    ids: list[Any]
    xy: np.ndarray  # (n, 2): each sampled row on the first two principal axes
    metadata: list[dict[str, tuple[str, str]]]  # per row: key -> (kind, label), values cut (see _label)
    explained: tuple[float, float]  # the share of the sample's variance along each axis
    normalised: bool
    query: tuple[float, float] | None = None
    neighbours: list[Neighbour] = field(default_factory=list)
    neighbours_missing: int = 0  # neighbour ids not found in this collection
    elapsed_ms: float = 0.0

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def keys(self) -> list[str]:
        """The sample's metadata keys: those that colour well first (see default_key), then the most present,
        the fewest values first."""
        return [k for k, _ in self._ranked]

    def default_key(self) -> str | None:
        """The key that colours best: present in at least half the rows, with 2 to 2 x LEGEND scalar values
        (a value per row, like an url, colours nothing); the most values first, then the most present."""
        return next((k for k, good in self._ranked if good), None)

    @cached_property
    def _ranked(self) -> list[tuple[str, bool]]:
        present = Counter(k for m in self.metadata for k in m)
        labels: dict[str, set[tuple[str, str]]] = {}
        for m in self.metadata:
            for k, v in m.items():
                labels.setdefault(k, set()).add(v)

        def rank(k: str) -> tuple:
            values = labels[k]
            good = present[k] * 2 >= len(self.metadata) and 2 <= len(values) <= 2 * LEGEND and all(
                kind != "json" for kind, _ in values)
            return (0, -len(values), -present[k], k) if good else (1, -present[k], len(values), k)

        return [(k, rank(k)[0] == 0) for k in sorted(present, key=rank)]


# --- the pure part -----------------------------------------------------------------------------------


def principal_axes(x: np.ndarray, *, k: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(the top `k` principal axes of the centred rows `x`, one per row; the share of the variance along
    each). Signs are fixed (each axis' largest component positive), so the same data maps the same way."""
    n, d = x.shape
    axes = np.zeros((k, d))
    total = float(np.einsum("ij,ij->", x, x))
    if n < 2 or total == 0.0:
        return axes, np.zeros(k)
    if min(n, d) <= BLOCK:
        _, s, vt = np.linalg.svd(x, full_matrices=False)
    else:
        q = np.random.default_rng(seed).standard_normal((d, min(d, n, BLOCK)))
        y = x @ q
        for _ in range(ITERATIONS):
            y, _ = np.linalg.qr(y)
            y = x @ (x.T @ y)
        y, _ = np.linalg.qr(y)
        _, s, vt = np.linalg.svd(y.T @ x, full_matrices=False)
    m = min(k, vt.shape[0])
    axes[:m] = vt[:m]
    for i in range(m):
        if axes[i, np.argmax(np.abs(axes[i]))] < 0:
            axes[i] = -axes[i]
    share = np.zeros(k)
    share[:m] = s[:m] ** 2 / total
    return axes, share


def _unit(v: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norms == 0, 1, norms)


def project(sample: np.ndarray, others: np.ndarray | None = None, *, normalise: bool = False,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray | None, tuple[float, float]]:
    """(the sample on its first two principal axes, `others` (a query, neighbours) on the same axes,
    the share of variance of each axis)."""
    x = sample.astype(np.float64)
    if normalise:
        x = _unit(x)
    mean = x.mean(axis=0)
    axes, share = principal_axes(x - mean, seed=seed)
    out = None
    if others is not None and len(others):
        o = others.astype(np.float64)
        out = ((_unit(o) if normalise else o) - mean) @ axes.T
    return (x - mean) @ axes.T, out, (float(share[0]), float(share[1]))


def _label(value: Any) -> tuple[str, str]:
    """(kind, label) of a metadata value: a string as it is, anything else as its JSON; cut to LEGEND_VALUE_CHARS."""
    if isinstance(value, str):
        kind, text = "str", value
    else:
        kind = "json" if isinstance(value, (list, dict)) else "scalar"
        text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return kind, text if len(text) <= LEGEND_VALUE_CHARS else text[: LEGEND_VALUE_CHARS - 1] + "…"


def _legend_label(kind: str, label: str, mixed: bool) -> str:
    """A legend's label: a string quoted as JSON when its key holds other JSON types too (the string
    "0" beside the number 0, "true" beside true), else as it is."""
    return json.dumps(label, ensure_ascii=False) if mixed and kind == "str" else label


def _labels(meta: Any) -> dict[str, tuple[str, str]]:
    if not isinstance(meta, dict):
        return {}
    return {str(k): _label(v) for k, v in list(meta.items())[:KEYS_PER_ROW]}


def colour_by(cmap: CollectionMap, key: str | None, *, legend: int = LEGEND) -> Colouring:
    """The sample grouped by the value of `key`: the `legend` most common values (ties by value), then
    rows without the key, then every other value as one `other`. `key` None: one group. A key holding
    strings and other JSON values shows its strings quoted (_legend_label)."""
    n = len(cmap.metadata)
    if key is None:
        return Colouring(None, [Category("", n, "other")], np.zeros(n, dtype=np.int32))
    values = [m.get(key) for m in cmap.metadata]
    counts = Counter(v for v in values if v is not None)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:legend]
    mixed = len({kind == "str" for kind, _ in counts}) > 1
    categories = [Category(_legend_label(kind, label, mixed), c) for (kind, label), c in top]
    position = {v: i for i, (v, _) in enumerate(top)}
    absent = sum(v is None for v in values)
    rest = n - absent - sum(c for _, c in top)
    absent_at = other_at = -1
    if absent:
        absent_at = len(categories)
        categories.append(Category("", absent, "absent"))
    if rest:
        other_at = len(categories)
        categories.append(Category("", rest, "other"))
    index = np.array([absent_at if v is None else position.get(v, other_at) for v in values], dtype=np.int32)
    return Colouring(key, categories, index)


# --- reading the sample ----------------------------------------------------------------------------


def _vector(data: bytes, dtype: str) -> np.ndarray:
    dim = int.from_bytes(data[:2], "big")
    return np.frombuffer(data, dtype=dtype, count=dim, offset=4)


async def collection_map(client: PodClient, pod: str, collection: str, *, schema: str = "vecs",
                         sample: int = SAMPLE, seed: int = 0, query_vector: list[float] | None = None,
                         neighbour_ids: list[Any] | tuple[Any, ...] = (), normalise: bool | None = None,
                         topology: Topology | None = None) -> CollectionMap:
    """The map of `schema.collection` on `pod`: up to `sample` rows on their first two principal axes,
    with `query_vector` and the rows `neighbour_ids` (nearest first) projected the same way.
    `normalise` None: when the collection's default measure is cosine."""
    check_integer("sample", sample, 2, MAP_MAX_SAMPLE, MapError)
    t0 = time.perf_counter()
    c = await find_collection(client, pod, schema, collection, topology, MapError)
    dtype = BINARY_ELEMENT.get(c.type)
    if dtype is None:
        raise MapError(f"{c.qualified} on {pod} is a {c.type} column: the map reads vector and halfvec columns")
    if query_vector is not None and c.dimension is not None and len(query_vector) != c.dimension:
        raise MapError(f"the query vector has {len(query_vector)} dimensions, {c.qualified} has {c.dimension}")
    if normalise is None:
        normalise = c.default_measure()[0] == "cosine"
    wanted = list(neighbour_ids)[:MAX_NEIGHBOURS]
    meta = sql.SQL("metadata") if c.has_metadata else sql.SQL("null::jsonb")
    by_id = sql.SQL("select id, {} from {} where id = any(%s)").format(sql.Identifier(c.column),
                                                                       sql.Identifier(c.schema, c.name))
    results, how = await draw(client, c, sample, sql.SQL("id, {}, {}").format(sql.Identifier(c.column), meta),
                              seed=seed, also=[(by_id, [wanted])] if wanted else [], binary=True)
    rows, near = results[0], (results[1] if wanted else [])
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        raise MapError(f"{c.qualified} on {pod} has no rows to map")
    return await asyncio.to_thread(_read, c, rows, near, wanted, query_vector, how, seed, normalise, t0)


def _read(c: Collection, rows: list, near: list, wanted: list, query_vector: list[float] | None, how: str,
          seed: int, normalise: bool, t0: float) -> CollectionMap:
    """The CPU part, in a thread: read the vectors, project."""
    dtype = BINARY_ELEMENT[c.type]
    found = {r[0]: _vector(r[1], dtype) for r in near if r[1] is not None}
    cmap = make_map(c, [r[0] for r in rows], np.stack([_vector(r[1], dtype) for r in rows]), [r[2] for r in rows],
                    query_vector=query_vector, neighbours=[(i, found.get(i)) for i in wanted], sampled=how,
                    normalise=normalise, seed=seed)
    cmap.keys()  # ranked here, in the thread: a walk of every sampled row's keys the screen would do on the UI loop
    cmap.elapsed_ms = (time.perf_counter() - t0) * 1000
    return cmap


def make_map(c: Collection, ids: list[Any], vectors: np.ndarray, metadata: list[Any], *,
             query_vector: list[float] | np.ndarray | None = None,
             neighbours: list[tuple[Any, np.ndarray | None]] = (), sampled: str = "", normalise: bool = False,
             seed: int = 0) -> CollectionMap:
    """The map of a sample (no I/O): `neighbours` are (id, vector or None when not found), nearest first."""
    ranked = [(rank, i, v) for rank, (i, v) in enumerate(neighbours, 1) if v is not None]
    extra = [np.asarray(query_vector, dtype=np.float64)] if query_vector is not None else []
    extra += [np.asarray(v, dtype=np.float64) for _, _, v in ranked]
    xy, others, share = project(vectors, np.stack(extra) if extra else None, normalise=normalise, seed=seed)
    query = None
    if query_vector is not None:
        query, others = (float(others[0, 0]), float(others[0, 1])), others[1:]
    return CollectionMap(
        pod=c.pod, schema=c.schema, name=c.name, vtype=c.type, dimension=int(vectors.shape[1]),
        rows_estimate=c.rows_known,
        sampled=sampled, ids=list(ids), xy=xy, metadata=[_labels(m) for m in metadata], explained=share,
        normalised=normalise, query=query,
        neighbours=[Neighbour(i, rank, float(p[0]), float(p[1])) for (rank, i, _), p in zip(ranked, others)]
        if ranked else [],
        neighbours_missing=len(neighbours) - len(ranked))
