"""What a pod is, as the config declares it (plain data, no I/O): its name rule, PodConfig, and the
PodSource globs that make pods of service-file entries or the primary's foreign servers.

Its own module so that config.py (the YAML reader) and config_sources.py (pods_from_*) both build on
it without importing each other. `vecdash.config` re-exports these names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from psycopg import conninfo as pg_conninfo

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")
NAME_RULE = "name must be letters, digits, '_', '-' or '.' (max 63, not starting with '-' or '.')"


@dataclass(frozen=True)
class PodConfig:
    name: str
    role: str = "secondary"
    dsn: str | None = field(default=None, repr=False)  # may hold a password: see __repr__
    service: str | None = None
    line: int | None = None
    tags: tuple[str, ...] = ()  # groups in the console's tree (config `tags:`, or a service glob's)

    def __repr__(self) -> str:
        """Masked: a repr ends up in tracebacks and Textual's crash screen (which shows locals)."""
        from vecdash.secrets import dsn_secrets, mask_text

        dsn = mask_text(self.dsn, dsn_secrets(self.dsn)) if self.dsn else None
        tags = f", tags={self.tags!r}" if self.tags else ""
        return f"PodConfig(name={self.name!r}, role={self.role!r}, dsn={dsn!r}, service={self.service!r}{tags})"

    @property
    def conninfo(self) -> str:
        """libpq connection string: the DSN, or `service=NAME` for a pg_service.conf entry."""
        if self.dsn:
            return self.dsn
        return pg_conninfo.make_conninfo(service=self.service or "")

    @property
    def is_primary(self) -> bool:
        return self.role == "primary"


@dataclass(frozen=True)
class PodSource:
    """A glob over names (pg_service.conf sections, or the primary's foreign servers) whose matches
    become pods, with the tags those pods get. `line`: where the config gives it."""

    match: str
    tags: tuple[str, ...] = ()
    line: int | None = None
