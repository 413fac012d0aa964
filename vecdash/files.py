"""Private files: written only for their owner, never through a link planted at their path.

One home for it: the local pods' passwords and settings, the demo's config, and the console's query
history all go through `write_private`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private(path: Path, text: str, mode: int = 0o600, owner: tuple[int, int] | None = None) -> None:
    """Write `path` without following a link planted there: a fresh file (O_EXCL|O_NOFOLLOW) in the
    same directory, renamed over the path (a rename replaces a link, it never writes through it)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), mode)
            if owner:
                os.fchown(f.fileno(), *owner)
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
