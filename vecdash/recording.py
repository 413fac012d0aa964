"""Recordings of the console's refreshes (dolphie's habit): `vecdash --record FILE` appends each
refresh's Topology (catalog, activity, alerts); `vecdash replay FILE` reads them back. Plain file I/O.

The file is a sequence of gzip members (RFC 1952 lets members concatenate), one JSON document each:
a header `{"format": "vecdash-recording", "version", "kind": "header", "pods": [{"name", "role"}]}`
when a console starts recording (another when it finds more pods: `pods_from_primary`), then one
`{"kind": "frame", "topology": ..., "reaches": [[server, pod], ...]}` per refresh. `reaches` is which
pod each of the primary's foreign servers reaches, as the console decided it ("" no configured pod; a
server it could not tell is left out): a replay has no DSN to decide it again. Each
record is one `write()` on a descriptor opened O_APPEND, so a crash or ctrl-c can only cut the last
member: the reader keeps every complete member and drops a cut one, and the next recording to the file
cuts that tail off before it appends. No fsync: a process that dies loses nothing it wrote, and a slow
disk never holds a refresh. The file is its owner's only (0600), never written through a link.

No secrets: a header names pods, never a DSN (nor does `reaches`); the model masks server options already, and every string
and secret-named option of a frame is masked once more here (`secrets`), with the config's own DSN
passwords as known values (a session's query text may quote one).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
import stat
import types
import typing
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from vecdash.errors import UserError
from vecdash.model import Topology, to_jsonable
from vecdash.secrets import MASK, SECRET_OPTION_NAMES, dsn_secrets, mask_text

FORMAT = "vecdash-recording"
VERSION = 1
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 64 * 1024  # how much compressed input the reader hands zlib at a time
CACHED_FRAMES = 128  # decoded frames a replay keeps: a step re-decodes none of the sparklines' window


# --- writing ----------------------------------------------------------------------------------------


def scrub(value: Any, known: Sequence[str] = ()) -> Any:
    """A JSON-ready value with every string masked (`mask_text`) and secret-named options replaced."""
    if isinstance(value, str):
        return mask_text(value, known)
    if isinstance(value, dict):
        return {k: (MASK if isinstance(v, str) and k.lower() in SECRET_OPTION_NAMES else scrub(v, known))
                for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, known) for v in value]
    return value


def _member(doc: dict) -> bytes:
    data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return gzip.compress(data, compresslevel=6, mtime=0)


class Recorder:
    """Appends refreshes to FILE. `submit` hands the encoding and the write to one writer thread (in
    order), so a slow or full disk never stalls the console; a failure is kept in `error`."""

    def __init__(self, path: str | Path, pods: Sequence[Any]) -> None:
        """`pods`: the estate's PodConfigs (name, role, and the DSN whose passwords are masked)."""
        self.path = Path(path)
        self.frames = 0
        self.error: str | None = None
        self._known = [s for p in pods for s in dsn_secrets(getattr(p, "dsn", None))]
        self._fd = _open_for_append(self.path)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vecdash-record")
        self._write(_member(_header(pods)))

    def add_pods(self, pods: Sequence[Any]) -> None:
        """Pods the estate gained while recording (discovered ones): a header naming them, written after
        the frames submitted so far (on the writer thread)."""
        self._known += [s for p in pods for s in dsn_secrets(getattr(p, "dsn", None))]
        if self.error is None and self._fd >= 0:
            self._pool.submit(self._quietly, self._write, _member(_header(pods)))

    def encode(self, topo: Topology, reaches: Sequence[tuple[str, str]] = ()) -> bytes:
        """One frame record: the topology as JSON (and `reaches`, see the module doc), masked, compressed."""
        return _member({"kind": "frame", "topology": scrub(to_jsonable(topo), self._known),
                        "reaches": scrub([list(r) for r in reaches], self._known)})

    def append(self, topo: Topology, reaches: Sequence[tuple[str, str]] = ()) -> int:
        """Write one frame now; returns its size in bytes. OSError when the file cannot take it."""
        data = self.encode(topo, reaches)
        self._write(data)
        self.frames += 1
        return len(data)

    def submit(self, topo: Topology, reaches: Sequence[tuple[str, str]] = ()) -> None:
        """Append `topo` on the writer thread; the first failure is kept in `error`, later ones dropped."""
        if self.error is None and self._fd >= 0:
            self._pool.submit(self._quietly, self.append, topo, reaches)

    def _quietly(self, write: Any, *args: Any) -> None:
        if self.error is not None:
            return
        try:
            write(*args)
        except Exception as exc:  # noqa: BLE001 - a recording must never take the console down
            self.error = mask_text(f"{self.path}: {getattr(exc, 'strerror', None) or exc}")

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # a regular file takes it whole unless the disk is full; then say so
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        """Finish the writes already submitted, then close the file (a second call does nothing)."""
        self._pool.shutdown(wait=True)
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)


def _header(pods: Sequence[Any]) -> dict:
    return {"format": FORMAT, "version": VERSION, "kind": "header",
            "started_at": datetime.now(timezone.utc).isoformat(),
            "pods": [{"name": p.name, "role": p.role} for p in pods]}


def _open_for_append(path: Path) -> int:
    """FILE opened to append (created 0600), never through a link; an existing file must be a recording,
    and a record a crash cut is removed first. UserError (nothing written) otherwise."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise UserError(f"{path}: cannot record there: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{path}: not a regular file")
        if info.st_size:
            with open(os.dup(fd), "rb") as f:
                raw = f.read()
            complete = _scan(path, raw).complete_bytes
            if complete < len(raw):
                os.ftruncate(fd, complete)
        if info.st_uid == os.getuid():
            os.fchmod(fd, 0o600)
        return fd
    except BaseException:
        os.close(fd)
        raise


# --- reading ----------------------------------------------------------------------------------------


@dataclass
class _Scan:
    members: list[tuple[int, int, dict]]  # (start, end, document) of each complete record
    complete_bytes: int
    note: str | None = None  # why the reader stopped before the end of the file


def _scan(path: Path, raw: bytes) -> _Scan:
    """Every complete record of `raw`. A foreign file (not gzip, or not a vecdash header first) is a
    UserError; a cut or damaged tail stops the scan with a note."""
    problem = f"{path}: not a vecdash recording"
    if not raw.startswith(GZIP_MAGIC):
        raise UserError(f"{problem} (not gzip data)")
    view, pos, members, note = memoryview(raw), 0, [], None
    while pos < len(raw):
        d, p, parts = zlib.decompressobj(wbits=31), pos, []
        try:
            while not d.eof and p < len(raw):
                chunk = view[p:p + CHUNK]
                parts.append(d.decompress(chunk))
                p += len(chunk)
        except zlib.error:
            if not members:
                raise UserError(f"{problem} (its gzip data is damaged)") from None
            note = f"{path}: damaged after record {len(members)} (byte {pos}): the records before it are shown"
            break
        if not d.eof:
            if not members:
                raise UserError(f"{problem} (cut before its first record ends)")
            note = f"{path}: the last record was cut (a crash or ctrl-c while recording): it is left out"
            break
        end = p - len(d.unused_data)
        try:
            doc = json.loads(b"".join(parts))
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get("kind") not in ("header", "frame"):
            if not members:
                raise UserError(f"{problem} (no recording header)")
            note = f"{path}: record {len(members) + 1} is not a vecdash record: it and those after are left out"
            break
        if not members:
            _check_header(path, doc)
        members.append((pos, end, doc))
        pos = end
    complete = members[-1][1] if members else 0
    return _Scan(members, complete, note)


def _check_header(path: Path, doc: dict) -> None:
    if doc.get("kind") != "header" or doc.get("format") != FORMAT:
        raise UserError(f"{path}: not a vecdash recording (no recording header)")
    version = doc.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise UserError(f"{path}: recording format {version!r} is newer than this vecdash reads ({VERSION})")


@dataclass
class Recording:
    """A recording read back: the estate's pods, each frame's time, and its Topology on demand."""

    path: Path
    pods: list[tuple[str, str]]  # (name, role) in the order the estate lists them
    times: list[datetime]  # taken_at of each frame
    notes: list[str] = field(default_factory=list)  # what the reader left out, and why
    _blobs: list[bytes] = field(default_factory=list, repr=False)  # each frame's record, as compressed on disk

    def __len__(self) -> int:
        return len(self.times)

    _cache: dict[int, tuple[Topology, dict[str, str]]] = field(default_factory=dict, repr=False)

    def frame(self, i: int) -> Topology:
        """Frame `i` as the model's dataclasses (the last CACHED_FRAMES decoded are kept). UserError if it
        does not decode."""
        return self._decoded(i)[0]

    def reaches(self, i: int) -> dict[str, str]:
        """Frame `i`'s `reaches`: foreign server -> the pod it reached ("" none); older recordings: {}."""
        return self._decoded(i)[1]

    def _decoded(self, i: int) -> tuple[Topology, dict[str, str]]:
        if i not in self._cache:
            try:
                doc = json.loads(gzip.decompress(self._blobs[i]))
                topo = decode(Topology, doc["topology"])
                pairs = doc.get("reaches") or ()
                reaches = {str(r[0]): str(r[1]) for r in pairs if isinstance(r, list) and len(r) == 2}
            except (TypeError, ValueError) as exc:
                raise UserError(f"{self.path}: frame {i + 1}: {exc}") from None
            if len(self._cache) >= CACHED_FRAMES:
                del self._cache[next(iter(self._cache))]
            self._cache[i] = (topo, reaches)
        return self._cache[i]

    def at(self, text: str, around: int = 0) -> int:
        """The frame on screen at HH:MM[:SS] UTC of frame `around`'s day: the last taken at or before it,
        else the first. UserError for a time that is not one."""
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*", text or "")
        hh, mm, ss = (int(g) for g in m.groups(default="0")) if m else (99, 0, 0)
        if hh > 23 or mm > 59 or ss > 59:
            raise UserError(f"{text.strip()!r} is not a time: type HH:MM or HH:MM:SS (UTC)")
        day = _utc(self.times[around]).date()
        target = datetime.combine(day, time(hh, mm, ss), tzinfo=timezone.utc)
        before = [i for i, t in enumerate(self.times) if _utc(t) <= target]
        return before[-1] if before else 0


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def read_recording(path: str | Path) -> Recording:
    """Read FILE. UserError (exit 2) with `FILE: problem` for a file that is missing, foreign or holds
    no frame; a cut or damaged tail is left out and said in `notes`."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        raw = f.read()
    scan = _scan(path, raw)
    pods: list[tuple[str, str]] = []
    frames: list[bytes] = []
    times: list[datetime] = []
    for start, end, doc in scan.members:
        if doc["kind"] == "header":
            _check_header(path, doc)
            for p in doc.get("pods") or ():
                pod = (str(p.get("name")), str(p.get("role") or "secondary")) if isinstance(p, dict) else None
                if pod and pod[0] not in {n for n, _ in pods}:
                    pods.append(pod)
            continue
        topo = doc.get("topology")
        try:
            times.append(datetime.fromisoformat(topo["taken_at"]))
        except (TypeError, KeyError, ValueError):
            raise UserError(f"{path}: frame {len(frames) + 1} has no time (taken_at)") from None
        frames.append(raw[start:end])
    if not frames:
        raise UserError(f"{path}: no refresh recorded yet")
    return Recording(path, pods, times, [scan.note] if scan.note else [], frames)


# --- decoding JSON back into the model's dataclasses ------------------------------------------------


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    from vecdash import model, model_activity  # the names model.py's annotations use

    return typing.get_type_hints(cls, globalns={**vars(model), **vars(model_activity)})


def decode(tp: Any, value: Any, where: str = "") -> Any:
    """`value` (from json.loads of `model.to_jsonable`) as type `tp`: dataclasses from their type hints,
    datetimes from ISO 8601, lists, tuples, dicts and optional values. ValueError says where it fails."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return decode(arg, value, where)
            except (TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if errors else f"{where or 'value'}: unexpected {type(value).__name__}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{where or tp.__name__}: expected an object")
        hints = _hints(tp)
        kwargs = {f.name: decode(hints[f.name], value[f.name], f"{where}.{f.name}".lstrip("."))
                  for f in dataclasses.fields(tp) if f.init and f.name in value}
        return tp(**kwargs)
    if origin in (list, tuple, set, frozenset):
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(decode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        items = [decode(args[0] if args else Any, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else origin(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object")
        return {k: decode(args[1] if args else Any, v, f"{where}.{k}") for k, v in value.items()}
    if tp is datetime:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected an ISO 8601 time")
        return datetime.fromisoformat(value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ValueError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {type(value).__name__}")
