"""Private files: written only for their owner, never through a link planted at their path.

One home for it: the local pods' passwords and settings, the demo's config, and the console's query
history all go through `write_private`; the console's exports through `replacing`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from vecdash.errors import UserError


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


@contextmanager
def replacing(path: Path, *, overwrite: bool, mode: int = 0o600) -> Iterator[TextIO]:
    """A text file (newline="" for csv) written beside `path` and renamed over it only when the block
    ends without an error: a failed or cancelled export leaves no half file and no existing file
    clobbered. UserError, before anything is written: `path` is a directory, its directory is missing,
    it exists and `overwrite` was not asked, or it cannot be created (permission)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory: type a file name")
    if not path.parent.is_dir():
        raise UserError(f"no directory {path.parent}")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise UserError(f"{path} exists: it is not overwritten unless asked")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except OSError as exc:
        raise UserError(f"cannot write in {path.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
