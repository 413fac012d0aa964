"""Parsing what a user typed or handed over (flags, JSON, text files): the one home for its limits.

Every parse failure is a UserError naming the input (`--filter`, `FILE:LINE`): never a
RecursionError from a deeply nested value, a ValueError from an integer past Python's int-string
conversion limit, a UnicodeDecodeError from a file that is not UTF-8, or a float that overflowed.
"""

from __future__ import annotations

import json
import math
from typing import Any

from vecdash.errors import UserError

MAX_DEPTH = 64  # nesting of a JSON input: a vecs filter needs a handful; recursion stays far away
MAX_INPUT_BYTES = 16 * 1024 * 1024  # one JSON value typed or passed on the command line


class InputError(UserError):
    """A user-supplied value that cannot be parsed; the message names where it came from."""


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is not a finite number (out of double range)")
    return value


def parse_json(text: str | bytes, what: str, *, finite: bool = True, max_depth: int = MAX_DEPTH) -> Any:
    """`text` as JSON, or an InputError saying what is wrong with `what` (a flag, `FILE:LINE`).

    finite=True refuses NaN, Infinity and numbers that overflow a double (1e400); the loader passes
    False and checks its vectors in bulk instead (a per-number hook costs it too much per row).
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{what}: not UTF-8 (byte {exc.start})") from None
    if len(text) > MAX_INPUT_BYTES:
        raise InputError(f"{what}: {len(text)} characters, more than the {MAX_INPUT_BYTES} accepted")
    hooks = {"parse_constant": _reject_constant, "parse_float": _finite_float} if finite else {}
    try:
        value = json.loads(text, **hooks)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what}: bad JSON ({exc.msg} at char {exc.pos})") from None
    except RecursionError:
        raise InputError(f"{what}: nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # int past sys.get_int_max_str_digits(), or a hook's refusal
        reason = str(exc).split(";")[0]
        if "integer string conversion" in reason:
            reason = "an integer with too many digits"
        raise InputError(f"{what}: {reason}") from None
    # cheap in the usual case: a value with few brackets cannot be deep
    if (text.count("[") + text.count("{")) > max_depth and depth(value) > max_depth:
        raise InputError(f"{what}: nested deeper than {max_depth} levels")
    return value


def depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v if isinstance(x, (list, dict)))
    return deepest


def read_lines(path: Any, what: str | None = None):
    """(line number, text) of a UTF-8 text file; a line that is not UTF-8 is an InputError at FILE:LINE."""
    label = what or str(path)
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{label}:{n}: not UTF-8 (byte {exc.start})") from None
            yield n, text.rstrip("\n").rstrip("\r")
