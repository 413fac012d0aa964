"""The workbench's query history: what ran, with enough to run it again (the very vector, even a random
or `like` one), kept across restarts in a capped file of the user's state directory.

The file ($XDG_STATE_HOME/vecdash/history.jsonl, else ~/.local/state/vecdash/history.jsonl) is the
owner's only (0600 in a 0700 folder) and is written through `files.write_private`, never through a
link planted at its path. It holds no secrets: a pod's name, never its DSN. Vectors are data and are
kept, up to MAX_VECTOR_VALUES values an entry (a longer one is kept for the session only, and its
saved entry re-runs by its `like` id when it had one). The file keeps the newest MAX_ENTRIES entries of
every estate; each entry carries its estate (the config file's path) and a console lists its own.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from vecdash.files import write_private
from vecdash.units import ms

MAX_ENTRIES = 100
MAX_VECTOR_VALUES = 2048
MAX_FILE_BYTES = 8 * 1024 * 1024  # a larger file is not ours to read (a planted one, or a bug): ignored
FILE_NAME = "history.jsonl"


@dataclass(frozen=True)
class HistoryEntry:
    """One query that ran: the spec's fields with the vector it actually used, and what it answered."""

    pod: str
    schema: str
    collection: str
    source: str  # where the vector came from: "random row r12", "like r3", "vector (8 values)"
    vector: tuple[float, ...] | None  # the vector that ran; None when it was too long to keep
    like_id: str | None = None
    filters: dict | None = None
    measure: str = "cosine"
    route: str = "direct"
    limit: int = 10
    ef_search: int | None = None
    probes: int | None = None
    iterative: str | None = None
    exact: bool = False
    recall: bool = False
    explain: bool = False
    rows: int | None = None
    client_ms: float | None = None
    estate: str = ""

    @property
    def rerunnable(self) -> bool:
        return self.vector is not None or self.like_id is not None

    def query_fields(self) -> dict[str, Any]:
        """Keyword arguments for a QuerySpec asking the same query again, with the same vector."""
        source = {"vector": list(self.vector)} if self.vector is not None else {"like_id": self.like_id}
        return {"pod": self.pod, "schema": self.schema, "collection": self.collection, "filters": self.filters,
                "measure": self.measure, "route": self.route, "limit": self.limit, "ef_search": self.ef_search,
                "probes": self.probes, "iterative": self.iterative, "exact": self.exact, "recall": self.recall,
                "explain": self.explain, **source}

    def knobs(self) -> str:
        parts = [f"ef_search={self.ef_search}" if self.ef_search is not None else "",
                 f"probes={self.probes}" if self.probes is not None else "",
                 f"iter={self.iterative}" if self.iterative else "", "exact" if self.exact else ""]
        return " ".join(p for p in parts if p) or "default knobs"

    def summary(self) -> str:
        """One line for the history list: target, vector, measure, limit, route, knobs, filter, answer."""
        out = (f"{self.pod}:{self.schema}.{self.collection} · {self.source} · {self.measure} k={self.limit}"
               f" · route {self.route} · {self.knobs()}")
        if self.filters:
            out += f" · filter {json.dumps(self.filters)}"
        if self.rows is not None:
            out += f" → {self.rows} rows" + (f", {ms(self.client_ms)}" if self.client_ms is not None else "")
        if self.vector is None and self.like_id is None:
            out += " · vector not kept (too long): cannot re-run"
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.vector is not None and len(self.vector) > MAX_VECTOR_VALUES:
            data["vector"] = None
        else:
            data["vector"] = None if self.vector is None else list(self.vector)
        return data

    @classmethod
    def from_json(cls, data: Any) -> HistoryEntry | None:
        """An entry from one saved line; None for anything that is not one (a line from another version)."""
        if not isinstance(data, dict):
            return None
        known = {f.name for f in fields(cls)}
        try:
            entry = cls(**{k: v for k, v in data.items() if k in known})
            vector = entry.vector
            if vector is not None:
                vector = tuple(float(v) for v in vector)
            if not (isinstance(entry.pod, str) and isinstance(entry.collection, str) and isinstance(entry.limit, int)):
                return None
            return replace(entry, vector=vector)
        except (TypeError, ValueError):
            return None


def state_dir() -> Path:
    """$XDG_STATE_HOME/vecdash, else ~/.local/state/vecdash (the XDG base directory default)."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "vecdash"


class HistoryFile:
    """The saved history of one estate. `path=None`: nothing is read or written (fixed-data runs)."""

    def __init__(self, path: Path | None, estate: str = "") -> None:
        self.path = path
        self.estate = estate

    @classmethod
    def default(cls, estate: str = "") -> HistoryFile:
        return cls(state_dir() / FILE_NAME, estate)

    def _read_all(self) -> list[HistoryEntry]:
        if self.path is None:
            return []
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:  # none yet, a link planted there, unreadable: no history
            return []
        with os.fdopen(fd, "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_FILE_BYTES:
                return []
            raw = f.read()
        out = []
        for text in raw.decode("utf-8", "replace").splitlines():
            try:
                entry = HistoryEntry.from_json(json.loads(text))
            except ValueError:
                continue
            if entry is not None:
                out.append(entry)
        return out

    def load(self) -> list[HistoryEntry]:
        """This estate's saved entries, oldest first."""
        return [e for e in self._read_all() if e.estate == self.estate]

    def add(self, entry: HistoryEntry) -> None:
        """Append `entry` (tagged with this estate) and keep the newest MAX_ENTRIES; OSError if it cannot."""
        if self.path is None:
            return
        entries = [*self._read_all(), replace(entry, estate=self.estate)][-MAX_ENTRIES:]
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(self.path, "".join(json.dumps(e.to_json(), separators=(",", ":")) + "\n" for e in entries))
