"""The error contract, in one place.

UserError (exit 2): the user's input is wrong (a flag, a file and line, a config value, a name that
does not exist) and nothing was changed. PodError (exit 1): a pod or server refused, failed or did not
answer. The CLI prints either as one line (vecdash.cli.main); the console shows it where it happened.
Anything else is a bug: the CLI prints one line and exits 1 (see vecdash.cli.main).

Every vecdash error masks its message when it is made (`secrets.mask_text`, by shape): whoever shows
it later (CLI, console, JSON) holds no password, even one quoted from a DSN libpq could not parse.
"""

from __future__ import annotations

from collections.abc import Iterable

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


class PodError(Exception):
    """A pod or server refused, failed or did not answer. Its message is one masked line."""

    exit_code = 1

    def __init__(self, *args: object):
        super().__init__(*(mask_text(a) if isinstance(a, str) else a for a in args))


class ServerRefused(PodError):
    """The server answered with an error (permission, lock, constraint, a refused plan step...)."""

    def __init__(self, pod: str, reason: str):
        self.pod = pod
        self.reason = mask_text(reason)
        super().__init__(f"pod {pod}: {self.reason}")


class PodUnavailable(PodError):
    """A pod could not be reached, lost the session or did not answer within its timeout."""

    def __init__(self, pod: str, reason: str):
        self.pod = pod
        self.reason = mask_text(reason)
        super().__init__(f"pod {pod}: {self.reason}")


# --- the one wording of a name that does not exist ------------------------------------------------------

NAMES_SHOWN = 10  # a message names this many (a fleet has hundreds of pods and thousands of collections)


def some_names(names: Iterable[str]) -> str:
    """`names` for one line: the first NAMES_SHOWN, then "+N more"; "none" for none."""
    names = list(names)
    shown = ", ".join(names[:NAMES_SHOWN]) or "none"
    return shown + (f", +{len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


def unknown_pod(name: str, known: Iterable[str], source: str | None = None,
                error: type[UserError] = UserError) -> UserError:
    """The error for a pod name no config holds, naming (some of) the configured pods."""
    return error(f"unknown pod {name!r} (pods in {source or 'config'}: {some_names(known)})")


def no_collection(schema: str, name: str, pod: str, collections: Iterable[str] | None = None,
                  error: type[UserError] = UserError) -> UserError:
    """The error for a collection a pod does not hold, naming (some of) the pod's when they are known."""
    known = "" if collections is None else f" (collections: {some_names(collections)})"
    return error(f"no collection {schema}.{name} on pod {pod}{known}")
