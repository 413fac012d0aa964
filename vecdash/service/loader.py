"""Loading vectors into a collection with binary COPY (pgvector's binary vector format, bulk-encoded).

Inputs: a `.npy` matrix (rows x dimension, memory-mapped, so memory stays flat) with an optional
ids file (one id per line; default ids are the row numbers) and an optional metadata JSONL file
(one JSON object per line), or a JSONL file of {"id": ..., "vec": [...], "metadata": {...}}.

All rows go in ONE transaction: a bad row (wrong dimension, NaN/inf, bad JSON, duplicate id) stops
the load with one line naming the file and line, and the collection is left exactly as it was.
`upsert=True` copies into a temporary staging table and merges with ON CONFLICT (as vecs' upsert).
"""

from __future__ import annotations

import json
import os
import re
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

from vecdash.config import PodConfig
from vecdash.db.connect import pod_error
from vecdash.db.long_session import long_session
from vecdash.db.pods import PodClient
from vecdash.errors import UserError
from vecdash.inputs import InputError, parse_json, read_lines
from vecdash.lines import first_line
from vecdash.model import Plan, PlanStep
from vecdash.model_indexes import LoadProgress, LoadResult
from vecdash.service.collections import require



class LoadError(UserError):
    """`FILE:LINE: problem` for a bad input row; nothing was loaded."""


def _where(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line else str(path)


def _check_vec(vec: np.ndarray, dim: int, path: Path, line: int, what: str = "vec") -> None:
    if vec.shape != (dim,):
        raise LoadError(f"{_where(path, line)}: {what} has {vec.size} dimensions, the collection has {dim}")
    if not np.isfinite(vec).all():
        raise LoadError(f"{_where(path, line)}: {what} contains NaN or infinity (pgvector refuses them)")


def _open_lines(path: Path | None) -> Iterator[tuple[int, str]] | None:
    if path is None:
        return None

    return read_lines(path)


def _metadata(path: Path, line: int, text: str) -> bytes:
    """A metadata line passed to the server as it is (no parse + re-dump in Python).

    The server parses it; a syntax error comes back with its COPY line, mapped to this file's line.
    """
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise LoadError(f"{path}:{line}: metadata must be a JSON object ({{...}}), got {text[:40]!r}")
    return text.encode()


EMPTY_META = b"{}"


@dataclass
class Batch:
    ids: list[str]
    vectors: np.ndarray  # rows x dim float32, finite
    metadata: list[bytes]  # JSON object text per row
    lines: list[int]  # input line (JSONL) or row number (.npy) of each row
    bytes_done: int  # input bytes consumed so far (progress)


def encode_rows(batch: Batch) -> bytes:
    """Rows of a binary COPY (id varchar, vec vector, metadata jsonb), vectors encoded in bulk.

    The vector field is pgvector's binary wire format (the one pgvector-python's psycopg dumper
    writes: int16 dim, int16 unused, dim big-endian float4), produced for the whole batch by one
    numpy conversion instead of one dumper call per row (10x less Python time per row).
    """
    n, dim = batch.vectors.shape
    vec_head = struct.pack(">iHH", 4 + 4 * dim, dim, 0)
    data = np.ascontiguousarray(batch.vectors, dtype=">f4").tobytes()
    step = 4 * dim
    out: list[bytes] = []
    add = out.extend
    for i in range(n):
        ident = batch.ids[i].encode()
        meta = batch.metadata[i]
        add((b"\x00\x03", len(ident).to_bytes(4, "big"), ident, vec_head, data[i * step:(i + 1) * step],
             (len(meta) + 1).to_bytes(4, "big"), b"\x01", meta))
    return b"".join(out)


COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER = b"\xff\xff"


def _npy_batches(path: Path, dim: int, ids: Path | None, metadata: Path | None, batch_rows: int) -> tuple[int, Iterator[Batch]]:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise LoadError(f"{path}: not a readable .npy file ({exc})") from None
    if arr.ndim != 2:
        raise LoadError(f"{path}: expected a 2-d matrix (rows x dimension), got shape {arr.shape}")
    if arr.shape[1] != dim:
        raise LoadError(f"{path}: vectors have {arr.shape[1]} dimensions, the collection has {dim}")
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise LoadError(f"{path}: dtype {arr.dtype} is not numeric")
    n = arr.shape[0]
    id_lines = _open_lines(ids)
    meta_lines = _open_lines(metadata)
    row_bytes = arr.itemsize * dim

    def gen() -> Iterator[Batch]:
        for start in range(0, n, batch_rows):
            stop = min(n, start + batch_rows)
            block = np.asarray(arr[start:stop], dtype=np.float32)
            finite = np.isfinite(block).all(axis=1)
            if not finite.all():
                bad = start + int(np.argmin(finite))
                raise LoadError(f"{path}: row {bad + 1}: vector contains NaN or infinity (pgvector refuses them)")
            idents: list[str] = []
            metas: list[bytes] = []
            for i in range(stop - start):
                if id_lines is not None:
                    got = next(id_lines, None)
                    if got is None:
                        raise LoadError(f"{ids}: has {start + i} ids, {path} has {n} rows")
                    line, ident = got
                    ident = ident.strip()
                    if not ident:
                        raise LoadError(f"{ids}:{line}: empty id")
                else:
                    ident = str(start + i)
                idents.append(ident)
                if meta_lines is not None:
                    got = next(meta_lines, None)
                    if got is None:
                        raise LoadError(f"{metadata}: has {start + i} lines, {path} has {n} rows")
                    metas.append(_metadata(metadata, got[0], got[1]))
                else:
                    metas.append(EMPTY_META)
            yield Batch(idents, block, metas, list(range(start + 1, stop + 1)), stop * row_bytes)
        for extra, label in ((id_lines, ids), (meta_lines, metadata)):
            if extra is not None:
                more = next(extra, None)
                if more is not None and more[1].strip():
                    raise LoadError(f"{label}:{more[0]}: more lines than the {n} rows of {path}")

    return n, gen()


def _jsonl_batches(path: Path, dim: int, batch_rows: int) -> Iterator[Batch]:
    idents: list[str] = []
    vecs: list[np.ndarray] = []
    metas: list[bytes] = []
    lines: list[int] = []
    done = 0
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            done += len(raw)
            text = raw.strip()
            if not text:
                continue
            try:
                obj = parse_json(text, f"{path}:{n}", finite=False)  # vectors are checked in bulk below
            except InputError as exc:
                raise LoadError(str(exc)) from None
            if not isinstance(obj, dict) or "vec" not in obj or "id" not in obj:
                raise LoadError(f"{path}:{n}: expected an object with \"id\" and \"vec\" (and optional \"metadata\")")
            ident = obj["id"]
            if not isinstance(ident, (str, int)) or isinstance(ident, bool) or str(ident) == "":
                raise LoadError(f"{path}:{n}: \"id\" must be a non-empty string or integer")
            raw_vec = obj["vec"]
            if not isinstance(raw_vec, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in raw_vec):
                raise LoadError(f"{path}:{n}: \"vec\" must be a list of numbers")
            try:
                with np.errstate(over="ignore"):  # 1e40 -> inf, reported by _check_vec as one line
                    vec = np.asarray(raw_vec, dtype=np.float32)
            except (OverflowError, ValueError):  # an integer too large for any float
                raise LoadError(f"{path}:{n}: vec contains a number out of range") from None
            _check_vec(vec, dim, path, n)
            meta = obj.get("metadata", {})
            if meta is None:
                meta = {}
            if not isinstance(meta, dict):
                raise LoadError(f"{path}:{n}: \"metadata\" must be a JSON object")
            idents.append(str(ident))
            vecs.append(vec)
            metas.append(json.dumps(meta).encode() if meta else EMPTY_META)
            lines.append(n)
            if len(idents) >= batch_rows:
                yield Batch(idents, np.stack(vecs), metas, lines, done)
                idents, vecs, metas, lines = [], [], [], []
    if idents:
        yield Batch(idents, np.stack(vecs), metas, lines, done)


_COPY_LINE = re.compile(r"COPY [^,]+, line (\d+)")


def _db_error(exc: psycopg.Error, path: Path, copied_lines: list[int], meta_path: Path | None = None,
              pod: PodConfig | None = None) -> Exception:
    """Map a server error during COPY back to the input file and line it came from (exit 2: the file is
    wrong); a lost session or an error no line of the file explains is the pod's (exit 1)."""
    diag = exc.diag
    if pod is not None and isinstance(exc, psycopg.OperationalError):
        return pod_error(exc, pod)
    first = first_line(diag.message_primary or str(exc)) or type(exc).__name__  # libpq's lost-connection text has 3 lines
    if diag.message_detail:
        first += f" ({diag.message_detail.strip()})"
    m = _COPY_LINE.search(diag.context or "")
    if m:
        row = int(m.group(1))
        if 1 <= row <= len(copied_lines):
            if meta_path is not None and "column metadata" in (diag.context or ""):
                return LoadError(f"{meta_path}:{row}: bad JSON: {first}; nothing was loaded")
            where = f"{path}:{copied_lines[row - 1]}" if path.suffix != ".npy" else f"{path}: row {row}"
            return LoadError(f"{where}: {first}; nothing was loaded")
    if isinstance(exc, psycopg.errors.UniqueViolation):
        first += "; load with upsert to replace existing rows"
    if isinstance(exc, psycopg.errors.CardinalityViolation):
        first = "the same id appears twice in the input"
    elif not isinstance(exc, psycopg.errors.UniqueViolation) and pod is not None:
        return pod_error(exc, pod, f"load of {path}")
    return LoadError(f"{path}: {first}; nothing was loaded")


STAGING = sql.Identifier("_vecdash_load")


@dataclass(frozen=True)
class LoadStatements:
    """The statements of a load, in order: the one text both the load and its confirmation use."""

    staging: sql.Composable | None  # upsert: the temporary table the COPY fills
    copy: sql.Composable
    merge: sql.Composable | None  # upsert: staging -> collection, ON CONFLICT (id) DO UPDATE
    analyze: sql.Composable


def load_statements(schema: str, collection: str, dim: int, upsert: bool) -> LoadStatements:
    table = sql.Identifier(schema, collection)
    target = STAGING if upsert else table
    return LoadStatements(
        staging=sql.SQL("create temp table {} (id character varying not null, vec vector({}) not null, "
                        "metadata jsonb not null) on commit drop").format(STAGING, sql.Literal(dim)) if upsert else None,
        copy=sql.SQL("copy {} (id, vec, metadata) from stdin with (format binary)").format(target),
        merge=sql.SQL("insert into {} (id, vec, metadata) select id, vec, metadata from {} "
                      "on conflict (id) do update set vec = excluded.vec, metadata = excluded.metadata"
                      ).format(table, STAGING) if upsert else None,
        analyze=sql.SQL("analyze {}").format(table),
    )


def _input_paths(path, ids, metadata) -> tuple[Path, Path | None, Path | None]:
    out = (Path(path), Path(ids) if ids else None, Path(metadata) if metadata else None)
    for p in out:
        if p is not None and not p.is_file():
            raise LoadError(f"{p}: no such file")
    return out


async def _vector_dimension(client: PodClient, pod: str, collection: str, schema: str) -> int:
    f = await require(client, pod, collection, schema)
    if f.type != "vector":
        raise LoadError(f"{schema}.{collection} is {f.type}({f.dimension}); vecdash loads vector columns only")
    return f.dimension


def _batches(path: Path, dim: int, ids_path: Path | None, meta_path: Path | None,
             batch_rows: int) -> tuple[int | None, Iterator[Batch]]:
    if path.suffix == ".npy":
        return _npy_batches(path, dim, ids_path, meta_path, batch_rows)
    if ids_path or meta_path:
        raise LoadError(f"{path}: an ids or metadata file goes with a .npy file; JSONL lines carry their own")
    return None, _jsonl_batches(path, dim, batch_rows)


async def plan_load(client: PodClient, pod: str, collection: str, path: str | os.PathLike, *, schema: str = "vecs",
                    ids: str | os.PathLike | None = None, metadata: str | os.PathLike | None = None,
                    upsert: bool = False) -> Plan:
    """What `load_file` with these arguments would change, as a Plan to show before it runs (the load
    itself streams the file through COPY: load_file runs it, not the plan runner)."""
    path, ids_path, meta_path = _input_paths(path, ids, metadata)
    dim = await _vector_dimension(client, pod, collection, schema)
    total, _ = _batches(path, dim, ids_path, meta_path, 1)
    st = load_statements(schema, collection, dim, upsert)
    rows = f"{total} rows" if total is not None else "one row per line"
    source = f"{path}" + (f", ids from {ids_path}" if ids_path else "") + (f", metadata from {meta_path}" if meta_path else "")
    steps = []
    if st.staging is not None:
        steps.append(_preview_step("a staging table, dropped at commit", st.staging))
    steps.append(_preview_step(f"{rows} from {source}, as binary COPY", st.copy))
    if st.merge is not None:
        steps.append(_preview_step("merge: new ids added, existing ids take the file's vector and metadata", st.merge))
    steps.append(_preview_step("fresh statistics (row estimate, planner)", st.analyze))
    return Plan(title=f"load {path.name} into {schema}.{collection} ({'upsert' if upsert else 'insert'})", pod=pod,
                steps=steps, notes=["one transaction: a bad row (dimension, NaN, bad JSON, duplicate id) loads nothing"])


def _preview_step(purpose: str, statement: sql.Composable) -> PlanStep:
    return PlanStep(purpose=purpose, sql=statement, preview=statement.as_string(None))


async def load_file(
    client: PodClient,
    pod: str,
    collection: str,
    path: str | os.PathLike,
    *,
    schema: str = "vecs",
    ids: str | os.PathLike | None = None,
    metadata: str | os.PathLike | None = None,
    batch_rows: int = 5000,
    upsert: bool = False,
    on_progress: Callable[[LoadProgress], None] | None = None,
) -> LoadResult:
    path, ids_path, meta_path = _input_paths(path, ids, metadata)
    if client.read_only:
        from vecdash.errors import ReadOnlyError

        raise ReadOnlyError(f"loading into {schema}.{collection}")
    dim = await _vector_dimension(client, pod, collection, schema)
    total, batches = _batches(path, dim, ids_path, meta_path, batch_rows)
    st = load_statements(schema, collection, dim, upsert)
    size = path.stat().st_size
    t0 = time.perf_counter()
    rows_done = 0
    copied_lines: list[int] = []
    async with long_session(client, pod, what=f"loading into {schema}.{collection}") as conn:
        try:
            async with conn.transaction():
                if st.staging is not None:
                    await conn.execute(st.staging)
                cur = conn.cursor()
                async with cur.copy(st.copy) as cp:
                    await cp.write(COPY_SIGNATURE)
                    for batch in batches:
                        await cp.write(encode_rows(batch))
                        copied_lines.extend(batch.lines)
                        rows_done += len(batch.ids)
                        if on_progress:
                            on_progress(LoadProgress(rows_done, total, batch.bytes_done, size, time.perf_counter() - t0))
                    await cp.write(COPY_TRAILER)
                if st.merge is not None:
                    await conn.execute(st.merge)
        except psycopg.Error as exc:
            raise _db_error(exc, path, copied_lines, meta_path, client.pod(pod)) from None
        except OSError as exc:
            raise LoadError(f"{path}: {exc.strerror or exc}") from None
        seconds = time.perf_counter() - t0
        if on_progress:
            on_progress(LoadProgress(rows_done, rows_done, size, size, seconds, committed=True))
        # Fresh statistics: the row estimate (reltuples) the console and `status` show, and the
        # planner's view of the new rows. Timed apart: the load's rows/s stays the load's.
        t1 = time.perf_counter()
        await conn.execute(st.analyze)
        analyze_seconds = time.perf_counter() - t1
    return LoadResult(pod=pod, schema=schema, collection=collection, path=str(path), rows=rows_done,
                      seconds=seconds, mode="upsert" if upsert else "insert", dimension=dim,
                      analyze_seconds=analyze_seconds)
