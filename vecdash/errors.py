"""Errors a user can cause. The CLI prints them as one line and exits 2; the console shows them."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: config, DSN, filter, vector, identifier. Printed as one line."""

    exit_code = 2


class ConfigError(UserError):
    """A problem in a config file, located by file and line."""

    def __init__(self, problem: str, path: str | None = None, line: int | None = None):
        self.problem = problem
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
        self.reason = reason
        super().__init__(f"pod {pod}: {reason}")
