"""The entries of the pg_service.conf files libpq reads, as names and lines (never their values).

libpq looks a service up in the user file first (`$PGSERVICEFILE`, else `~/.pg_service.conf`) and, only
when that file has no section of that name, in the system file (`$PGSYSCONFDIR/pg_service.conf`, else
the directory libpq was built with: /etc/postgresql-common for psycopg's bundled libpq and Debian's).
It reads each file as libpq does, not as an INI parser would: leading and trailing blanks dropped, `#`
starts a comment only at the start of a line, a section header is `[NAME]` (anything after the `]` is
ignored), a name's first section is the one used, a line is `key=value` exactly (no blanks around the
key, no continuation lines), and the key must be a libpq option other than `service`.

A pod found here connects with `service=NAME` and libpq reads the rest itself, password included, so
no password from these files ever passes through vecdash. The only values kept are those that say where
libpq connects and as whom (`WHERE_KEYS`, the first of each in a section, as libpq takes them):
service.endpoints matches a service pod with the foreign servers that reach it from them.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

# the options whose values are kept (never shown in a repr): where libpq connects, and as whom (the
# database defaults to the user); nothing else, a password least of all
WHERE_KEYS = ("host", "hostaddr", "port", "dbname", "user")
# libpq's compiled-in system directory when PGSYSCONFDIR is unset (psycopg-binary's and Debian's libpq)
DEFAULT_SYSCONFDIR = "/etc/postgresql-common"


@dataclass(frozen=True)
class ServiceEntry:
    """One section of a service file: its name, where it starts, and the lines libpq would refuse."""

    name: str
    path: str
    line: int
    problems: tuple[tuple[int, str], ...] = field(default=(), repr=False)  # (line, what is wrong): no values
    where: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # WHERE_KEYS given, the first of each


@dataclass(frozen=True)
class ServiceFiles:
    """The files libpq would read, in its order, and the entries libpq would use (first of a name wins)."""

    paths: tuple[str, ...]
    entries: tuple[ServiceEntry, ...]
    # (path, why) of each file libpq would refuse to read: it exists but cannot be opened, or it is the
    # user file named by PGSERVICEFILE (or servicefile=) and is missing; libpq then fails the lookup
    unreadable: tuple[tuple[str, str], ...] = ()

    def matching(self, pattern: str) -> list[ServiceEntry]:
        return [e for e in self.entries if fnmatch.fnmatchcase(e.name, pattern)]

    def get(self, name: str) -> ServiceEntry | None:
        return next((e for e in self.entries if e.name == name), None)

    def refusal(self, name: str) -> tuple[str, str] | None:
        """(path, why) of the unreadable file libpq reaches looking `name` up before finding it, else None
        (a file after the one that holds `name` is never opened)."""
        entry, refused = self.get(name), dict(self.unreadable)
        for path in self.paths:
            if path in refused:
                return path, refused[path]
            if entry is not None and entry.path == path:
                return None
        return None


def service_file_paths(environ: dict[str, str] | None = None) -> tuple[Path, Path]:
    """(user file, system file), as libpq chooses them from the environment."""
    env = os.environ if environ is None else environ
    user = Path(env["PGSERVICEFILE"]) if env.get("PGSERVICEFILE") else Path.home() / ".pg_service.conf"
    system = Path(env.get("PGSYSCONFDIR") or DEFAULT_SYSCONFDIR) / "pg_service.conf"
    return user, system


def read_service_files(environ: dict[str, str] | None = None) -> ServiceFiles:
    """Every entry libpq would find: the first section of each name, the user file before the system file
    (libpq stops at the first section of the name it looks for)."""
    env = os.environ if environ is None else environ
    entries: dict[str, ServiceEntry] = {}
    paths, unreadable = [], []
    for named, path in zip((bool(env.get("PGSERVICEFILE")), False), service_file_paths(environ)):
        paths.append(str(path))
        try:
            text = _read(path)
        except FileNotFoundError:  # libpq skips a file it cannot stat, unless the user file was named
            if named:
                unreadable.append((str(path), "no such file"))
            continue
        except OSError as e:  # it stats but libpq cannot open it: libpq refuses the lookup
            unreadable.append((str(path), e.strerror or type(e).__name__))
            continue
        for entry in parse_service_file(text, str(path)):
            entries.setdefault(entry.name, entry)
    return ServiceFiles(paths=tuple(paths), entries=tuple(entries.values()), unreadable=tuple(unreadable))


def _read(path: Path) -> str:
    """The file's text as libpq reads it: a directory opens and reads as no lines (fgets fails: its end)."""
    if path.is_dir():
        return ""
    return path.read_text(encoding="utf-8", errors="replace")


def files_stamp(environ: dict[str, str] | None = None) -> tuple[tuple[str, int, int] | str, ...]:
    """(path, mtime_ns, size) of each file libpq would read (the path alone if it is missing): a cache of
    what was read from them is stale when this changes."""
    out: list[tuple[str, int, int] | str] = []
    for path in service_file_paths(environ):
        try:
            st = path.stat()
        except OSError:
            out.append(str(path))
            continue
        out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(out)


def parse_service_file(text: str, path: str) -> list[ServiceEntry]:
    """The sections of one file in file order (a name may come twice: `read_service_files` keeps the first)."""
    found: list[ServiceEntry] = []
    name: str | None = None
    start = 0
    problems: list[tuple[int, str]] = []
    where: dict[str, str] = {}

    def close() -> None:
        if name is not None:
            found.append(ServiceEntry(name=name, path=path, line=start, problems=tuple(problems),
                                      where=tuple(where.items())))

    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            close()
            end = line.find("]")
            # `[name` never matches a service in libpq; `[]` names nothing
            name = line[1:end] if end > 1 else None
            start, problems, where = number, [], {}
            continue
        if name is None:
            continue  # lines before the first section: libpq never reads them for any service
        key, eq, value = line.partition("=")
        if key in WHERE_KEYS and eq:
            where.setdefault(key, value)  # libpq keeps a key's first value in a section
        if not eq:
            problems.append((number, "expected key=value (libpq: syntax error in service file)"))
        elif key == "service":
            problems.append((number, "a service may not name another service (libpq refuses nested services)"))
        elif key not in libpq_keywords():
            shown = key if len(key) <= 40 else key[:40] + "..."
            problems.append((number, f"{shown!r} is not a libpq connection option (no blanks around '=')"))
    close()
    return found


@lru_cache(maxsize=1)
def libpq_keywords() -> frozenset[str]:
    """The connection options this libpq knows (PQconndefaults: no connection, no file read)."""
    from psycopg import pq

    return frozenset(o.keyword.decode() for o in pq.Conninfo.get_defaults())
