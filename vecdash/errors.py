"""Errors a user can cause. The CLI prints them as one line and exits 2; the console shows them.

Every vecdash error masks its message when it is made (`secrets.mask_text`, by shape): whoever shows
it later (CLI, console, JSON) holds no password, even one quoted from a DSN libpq could not parse.
"""

from __future__ import annotations

from vecdash.secrets import mask_text


class UserError(Exception):
    """Bad input from the user: config, DSN, filter, vector, identifier. Printed as one line."""

    exit_code = 2

    def __init__(self, *args: object):
        super().__init__(*(mask_text(a) if isinstance(a, str) else a for a in args))


class ConfigError(UserError):
    """A problem in a config file, located by file and line."""

    def __init__(self, problem: str, path: str | None = None, line: int | None = None):
        self.problem = mask_text(problem)
        self.path = path
        self.line = line
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(f"{where}{problem}")


class ReadOnlyError(UserError):
    """A write was asked for while vecdash runs read-only."""

    def __init__(self, what: str = "this action"):
        super().__init__(f"refused: {what} changes the database and vecdash is in read-only mode")


class PodUnavailable(Exception):
    """A pod could not be reached or did not answer within its timeout."""

    def __init__(self, pod: str, reason: str):
        self.pod = pod
        self.reason = mask_text(reason)
        super().__init__(f"pod {pod}: {self.reason}")
