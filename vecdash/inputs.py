"""Parsing what a user typed or handed over (flags, JSON, query vectors, text files): the one home for its limits.

Every parse failure is a UserError naming the input (`--filter`, `FILE:LINE`): never a
RecursionError from a deeply nested value, a ValueError from an integer past Python's int-string
conversion limit, a UnicodeDecodeError from a file that is not UTF-8, or a float that overflowed.
"""

from __future__ import annotations

import json
import math
from array import array
from typing import Any

from vecdash.errors import UserError

MAX_DEPTH = 64  # nesting of a JSON input: a vecs filter needs a handful; recursion stays far away
MAX_INPUT_BYTES = 16 * 1024 * 1024  # one JSON value typed or passed on the command line


class InputError(UserError):
    """A user-supplied value that cannot be parsed; the message names where it came from."""


def integer_problem(value: Any, lo: int, hi: int) -> str | None:
    """What is wrong with `value` as an integer from `lo` to `hi` (None: nothing); a bool is no integer."""
    if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
        return None
    return f"must be an integer from {lo:,} to {hi:,}, got {_shown(value)}"


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int past Python's int-string conversion limit
        return "an integer with too many digits"
    return text if len(text) <= 60 else text[:59] + "…"


def check_integer(name: str, value: Any, lo: int, hi: int, error: type[UserError] = UserError) -> int:
    """`value` when it is an integer from `lo` to `hi`, else `error` (the caller's UserError: exit 2,
    nothing ran) saying `NAME must be an integer from LO to HI, got VALUE`."""
    problem = integer_problem(value, lo, hi)
    if problem:
        raise error(f"{name} {problem}")
    return value


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


def parse_vector_text(text: str, what: str = "--vector") -> list[float]:
    """`--vector '[0.1, 0.2]'` -> floats, with one clear line on bad input."""
    return check_vector(parse_json(text, what), what)


def check_vector(value: Any, where: str = "vector") -> list[float]:
    """A parsed JSON value as a query vector: a non-empty list of finite numbers, as floats."""
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: expected a non-empty JSON array of numbers")
    types = set(map(type, value))
    if types == {float} and math.isfinite(sum(value)):  # the usual input: plain floats, all finite
        return value
    if bool not in types:  # fast path, all in C: numbers only, all finite
        try:
            arr = array("d", value)
            if math.isfinite(math.fsum(arr)):
                return arr.tolist()
        except (TypeError, OverflowError, ValueError):  # fsum raises ValueError on inf + -inf
            pass
    for i, v in enumerate(value):
        if not _finite_number(v):
            shown = repr(v)[:40] if not isinstance(v, int) or abs(v) < 10**30 else f"an integer of {len(str(abs(v)))} digits"
            raise InputError(f"{where}[{i}]: {shown} is not a finite number")
    return [float(v) for v in value]


def _finite_number(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an int too large for a double
        return False
