"""vecs metadata filters -> parameterised SQL that postgres_fdw ships to the pod.

The language is exactly the one `vecs.Collection.query(filters=...)` accepts (vecs 0.4.5
`build_filters`): one key per filter dict, `$and` / `$or` take a list, any other key is a top-level
metadata key with exactly one operator among $eq $ne $lt $lte $gt $gte $in $contains. Results and
rejections match vecs, including its corners:

- a key whose value is not an operator dict (`{"year": 2012}`) or an empty dict (`{}` inside
  `$and`) is SQL NULL in vecs, so it matches nothing (AND) or is neutral (OR); `lint()` warns;
- an empty `$and: []` / `$or: []` is dropped by SQLAlchemy, so it matches every row.

SQL forms, chosen because postgres_fdw ships them to the pod (proved by EXPLAIN VERBOSE in the
tests): `metadata @> %s::jsonb` for $eq on a scalar, $in (an OR of containments) and $contains
(`{"k": [v]}`); `(metadata)[%s::text] <op> %s::jsonb` (jsonb subscripting) for $ne/$lt/$lte/$gt/
$gte and $eq on a list or object. `metadata -> 'k'` (what vecs emits) is NOT shipped: the text key
carries a collation that postgres_fdw refuses to send; a subscript does not. Subscripting compares
the very same jsonb values with the very same jsonb operators as vecs, so cross-type ordering
(null < string < number < boolean < array < object) and string collation agree with vecs on the
pod, which a jsonpath predicate (`@@ '$.k > 1'`) would not (jsonpath says "unknown" across types).
No jsonpath text is built at all, so there is no jsonpath quoting to get wrong.

Keys and values are always query parameters (jsonb documents or text); nothing from the filter is
ever part of the SQL text.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from psycopg import sql

from vecdash.errors import UserError

OPERATORS = ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in", "$contains")
_COMPARE = {"$eq": "=", "$ne": "<>", "$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}
MAX_DEPTH = 64
_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")
# jsonb subscripting treats an integer-looking key as an array index when metadata is an array
# (`'[1,2]'::jsonb['0']` is 1, `-> '0'` is NULL): such keys get an "is an object" guard.
_INDEX_LIKE = re.compile(r"^\s*[+-]?\d+\s*$")


class FilterError(UserError):
    """A filter vecs would reject (or that PostgreSQL cannot represent), located by its path."""

    def __init__(self, path: str, problem: str):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def compile_filter(filters: Any, column: str = "metadata") -> tuple[sql.Composable, list[Any]]:
    """`(condition, params)`: a boolean SQL condition with `%s` placeholders and its parameters.

    No filter (None, `{}`, `[]`, like vecs' `if filters:`) compiles to `true`.
    """
    where, params, _ = compile_and_lint(filters, column)
    return where, params


def validate(filters: Any) -> None:
    """Raise FilterError (with the offending path) if vecs would reject `filters`."""
    _Compiler("metadata").top(filters)


def lint(filters: Any) -> list[str]:
    """Warnings for filters that are valid but almost certainly not what was meant."""
    return compile_and_lint(filters)[2]


def compile_and_lint(filters: Any, column: str = "metadata") -> tuple[sql.Composable, list[Any], list[str]]:
    """`compile_filter` and `lint` in one pass: (condition, params, warnings)."""
    c = _Compiler(column)
    where, params = c.top(filters)
    return where, params, c.warnings


def describe_path(path: str, key: Any) -> str:
    if isinstance(key, str) and _PLAIN_KEY.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False) if isinstance(key, str) else repr(key)}]"


class _Compiler:
    def __init__(self, column: str):
        self.col = sql.Identifier(column)
        self.params: list[Any] = []
        self.warnings: list[str] = []

    def top(self, filters: Any) -> tuple[sql.Composable, list[Any]]:
        if not filters:  # vecs: `if filters:` - None, {} and [] mean no filter
            return sql.SQL("true"), []
        cond = self.node(filters, "filters", 0)
        return (cond if cond is not None else sql.SQL("true")), self.params

    # A node compiles to a Composable, or None when it is "absent" (an empty $and/$or, which
    # SQLAlchemy drops from its parent and from the WHERE clause).
    def node(self, f: Any, path: str, depth: int) -> sql.Composable | None:
        if depth > MAX_DEPTH:
            raise FilterError(path, f"nested more than {MAX_DEPTH} levels deep")
        if not isinstance(f, dict):
            raise FilterError(path, f"filters must be a dict (one {{\"key\": {{\"$op\": value}}}}), got {_kind(f)}")
        if len(f) > 1:
            keys = ", ".join(str(k) for k in f)
            raise FilterError(path, f"max 1 entry per filter, got {len(f)} ({keys}): combine them with $and")
        if not f:
            self.warnings.append(f"{path}: an empty filter {{}} is NULL in vecs and matches no row")
            return sql.SQL("null::boolean")
        key, value = next(iter(f.items()))
        if not isinstance(key, str):
            raise FilterError(path, f"filter keys must be strings, got {_kind(key)}")
        if key in ("$and", "$or"):
            return self.boolean(key, value, describe_path(path, key), depth)
        here = describe_path(path, key)
        _check_text(key, here, "key")
        if not isinstance(value, dict):
            self.warnings.append(
                f"{here}: a bare value is NULL in vecs and matches no row; write {{\"$eq\": ...}}")
            return sql.SQL("null::boolean")
        if not value:
            self.warnings.append(f"{here}: an empty operator dict is NULL in vecs and matches no row")
            return sql.SQL("null::boolean")
        if len(value) > 1:
            ops = ", ".join(str(o) for o in value)
            raise FilterError(here, f"only one operator permitted, got {len(value)} ({ops})")
        op, arg = next(iter(value.items()))
        if op not in OPERATORS:
            raise FilterError(here, f"unknown operator {op} (expected one of {', '.join(OPERATORS)})")
        return self.leaf(key, op, arg, here)

    def boolean(self, key: str, value: Any, path: str, depth: int) -> sql.Composable | None:
        if not isinstance(value, list):
            raise FilterError(path, f"$and/$or filters must have an associated list of conditions, got {_kind(value)}")
        parts = [self.node(sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(value)]
        parts = [p for p in parts if p is not None]
        if not value:
            self.warnings.append(f"{path}: an empty {key} is dropped by vecs and matches every row")
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        glue = sql.SQL(" and " if key == "$and" else " or ")
        return sql.SQL("({})").format(glue.join(parts))

    def leaf(self, key: str, op: str, arg: Any, path: str) -> sql.Composable:
        where = f"{path}.{op}"
        if op == "$in":
            if not isinstance(arg, list):
                raise FilterError(where, f"argument to $in filter must be a list, got {_kind(arg)}")
            for i, elem in enumerate(arg):
                if not isinstance(elem, (int, str, float)):
                    raise FilterError(f"{where}[{i}]", f"argument to $in filter must be a list of scalars, got {_kind(elem)}")
                _check_json(elem, f"{where}[{i}]")
            if not arg:
                return sql.SQL("false")
            # vecs: metadata->'k' IN (v1::jsonb, ...); for scalars this is the same as containment.
            return sql.SQL("({})").format(sql.SQL(" or ").join(self.contains({key: e}) for e in arg))
        if op == "$contains":
            if not isinstance(arg, (int, str, float)):
                raise FilterError(where, f"argument to $contains filter must be a scalar, got {_kind(arg)}")
            _check_json(arg, where)
            # vecs: metadata->'k' @> v AND jsonb_typeof(metadata->'k') = 'array'
            return self.contains({key: [arg]})
        _check_json(arg, where)
        if op == "$eq" and not isinstance(arg, (list, dict)):
            # vecs uses containment for non-sized scalars and `->` = for strings; for a scalar
            # both mean "the key holds this scalar" (nested containment does not unwrap arrays).
            return self.contains({key: arg})
        return self.compare(key, _COMPARE[op], arg)

    def contains(self, doc: dict) -> sql.Composable:
        self.params.append(_jsonb(doc))
        return sql.SQL("{} @> %s::jsonb").format(self.col)

    def compare(self, key: str, op: str, arg: Any) -> sql.Composable:
        self.params.append(key)
        self.params.append(_jsonb(arg))
        cond = sql.SQL("({})[%s::text] {} %s::jsonb").format(self.col, sql.SQL(op))
        if _INDEX_LIKE.match(key):
            cond = sql.SQL("({} @> '{{}}'::jsonb and {})").format(self.col, cond)
        return cond


def _jsonb(value: Any):
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _check_text(text: str, path: str, what: str) -> None:
    if "\x00" in text:
        raise FilterError(path, f"{what} contains a NUL character (\\u0000), which PostgreSQL jsonb cannot store")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise FilterError(path, f"{what} is not valid Unicode (lone surrogate)") from None


def _check_json(value: Any, path: str, depth: int = 0) -> None:
    """Values vecs would send as jsonb: anything else fails in PostgreSQL, so reject it here."""
    if depth > MAX_DEPTH:
        raise FilterError(path, f"value nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FilterError(path, f"{value} is not a JSON number (jsonb has no NaN or Infinity)")
        return
    if isinstance(value, str):
        _check_text(value, path, "string")
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            _check_json(v, f"{path}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise FilterError(path, f"object keys must be strings, got {_kind(k)}")
            _check_text(k, path, "key")
            _check_json(v, describe_path(path, k), depth + 1)
        return
    raise FilterError(path, f"{type(value).__name__} is not a JSON value")


# --- the fast path's two filter parameters -------------------------------------------------------------


class NotFast(Exception):
    """A valid filter the fast path's `filter jsonb` / `path jsonpath` cannot state with vecs' meaning."""


def fast_filter(filters: Any) -> tuple[dict | None, str | None]:
    """The same filter as `(containment document, jsonpath)` for `metadata @> doc and metadata @@ path`,
    either None when not needed; NotFast (with the reason) when that cannot mean what vecs means.

    Containment states $eq on a scalar and $contains exactly as `compile_filter` does; $in and $or become
    a strict-mode jsonpath of `==` (equality compares the same jsonb values; strict mode never unwraps an
    array, as containment of `{"k": v}` does not). $ne/$lt/$lte/$gt/$gte order values across JSON types
    in vecs (jsonb's ordering), which a jsonpath comparison does not (different types are "unknown"), so
    they, $eq on a list or object, and the NULL leaves of `lint` stay on the SQL path. Keys and values
    are JSON-quoted into the jsonpath (a key is a quoted member name, never path syntax).
    """
    validate(filters)
    if not filters:
        return None, None
    doc: dict = {}
    paths: list[str] = []
    for key, op, arg in _conjuncts(filters, "filters"):
        if key is None:  # an $or: one jsonpath term
            paths.append(_path_expr({"$or": arg}, "filters"))
        elif op == "$contains" and isinstance(doc.get(key, []), list):
            doc[key] = doc.get(key, []) + [arg]  # {"k": [a, b]}: an array holding a and b, as both filters say
        elif op == "$eq" and key not in doc:
            doc[key] = arg
        else:
            paths.append(_path_expr({key: {op: arg}}, "filters"))
    path = ("strict " + " && ".join(paths)) if paths else None
    return (doc or None), path


def _conjuncts(f: dict, path: str) -> list[tuple[str | None, str, Any]]:
    """The top-level AND of a filter: (key, op, arg) leaves, or (None, "$or", list) for an $or."""
    key, value = next(iter(f.items()))
    if key == "$and":
        if not value:
            return []  # dropped by vecs: no condition
        return [c for i, sub in enumerate(value) for c in _conjuncts(_leaf_or_bool(sub, f"{path}.$and[{i}]"),
                                                                       f"{path}.$and[{i}]")]
    if key == "$or":
        if not value:
            return []
        return [(None, "$or", value)]
    op, arg = _op(value, describe_path(path, key))
    if op in ("$eq", "$contains", "$in") and not (op == "$eq" and isinstance(arg, (list, dict))):
        return [(key, op, arg)]
    raise NotFast(_why_not(op, describe_path(path, key)))


def _leaf_or_bool(f: Any, path: str) -> dict:
    if not f:
        raise NotFast(f"{path}: an empty filter is NULL in vecs, which neither @> nor @@ states")
    return f


def _op(value: Any, path: str) -> tuple[str, Any]:
    if not isinstance(value, dict) or not value:
        raise NotFast(f"{path}: a bare value or empty operator is NULL in vecs, which neither @> nor @@ states")
    return next(iter(value.items()))


def _why_not(op: str, path: str) -> str:
    if op == "$eq":
        return f"{path}: $eq on a list or object compares whole jsonb values, which neither @> nor @@ states"
    return (f"{path}: {op} orders values across JSON types as jsonb does (vecs' meaning); a jsonpath "
            f"comparison does not, so it runs as SQL")


def _path_expr(f: Any, path: str) -> str:
    """A strict-mode jsonpath predicate for $eq (scalar), $in, $and and $or."""
    f = _leaf_or_bool(f, path)
    key, value = next(iter(f.items()))
    if key in ("$and", "$or"):
        if not value:
            raise NotFast(f"{path}.{key}: an empty {key} inside another is dropped by vecs, which @@ does not state")
        glue = " && " if key == "$and" else " || "
        return "(" + glue.join(_path_expr(sub, f"{path}.{key}[{i}]") for i, sub in enumerate(value)) + ")"
    here = describe_path(path, key)
    op, arg = _op(value, here)
    member = "$." + json.dumps(key, ensure_ascii=False)
    if op == "$in":
        if not arg:
            raise NotFast(f"{here}.$in: an empty list matches nothing, which @@ does not state")
        return "(" + " || ".join(f"{member} == {_path_literal(v)}" for v in arg) + ")"
    if op == "$eq" and not isinstance(arg, (list, dict)):
        return f"{member} == {_path_literal(arg)}"
    if op == "$contains":
        raise NotFast(f"{here}.$contains: inside $or it needs an array scan, which strict jsonpath does not state "
                      f"with vecs' meaning")
    raise NotFast(_why_not(op, here))


def _path_literal(value: Any) -> str:
    """A JSON scalar as a jsonpath literal: strings JSON-quoted, floats in plain decimal (the exact digits
    Python's repr gives, as the jsonb parameter carries them)."""
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return json.dumps(value, ensure_ascii=False)


def with_clause(filters: dict | None, key: str, value: Any) -> dict:
    """`filters` AND `{key: {"$eq": value}}`: the clause alone when there is no filter, appended to a
    top-level `$and`, else `{"$and": [filters, clause]}`. Checked like any filter."""
    if key in ("$and", "$or"):
        raise FilterError(describe_path("filters", key), "a metadata key named like an operator cannot be filtered on")
    clause = {key: {"$eq": value}}
    if not filters:
        out = clause
    elif set(filters) == {"$and"} and isinstance(filters["$and"], list):
        out = {"$and": [*filters["$and"], clause]}
    else:
        out = {"$and": [filters, clause]}
    validate(out)
    return out
