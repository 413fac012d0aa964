"""SQL text as PostgreSQL's lexer sees it: tokens, never substrings.

Two uses: the sort keys and conditions the server deparsed into the plan (to find the distance operator,
its operands, DESC, a cast), and the user's statement where the plan cannot tell (its first word, its
LIMIT, where its ORDER BY clause is, to write a rewrite). Strings, quoted identifiers, dollar quotes and
comments are single tokens, so an operator or `;` inside them is never mistaken for one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vecdash.model import VECTOR_OPERATORS

_TOKEN = re.compile(r"""
  (?P<ws>\s+)
| (?P<line_comment>--[^\n]*)
| (?P<block_comment>/\*)
| (?P<string>[eE]'(?:[^'\\]|\\.|'')*'|(?:[bBxXnN]|[uU]&)?'(?:[^']|'')*')
| (?P<dollar>\$(?:[^\W\d]\w*)?\$)
| (?P<param>\$\d+)
| (?P<ident>(?:[uU]&)?"(?:[^"]|"")*")
| (?P<word>[^\W\d]\w*(?:\$\w*)*)
| (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
| (?P<cast>::)
| (?P<op>[-+*/<>=~!@\#%^&|`?]+)
| (?P<punct>[(),;\[\].:])
| (?P<other>.)
""", re.VERBOSE | re.DOTALL)
_OP_SPECIAL = set("~!@#%^&|`?")


@dataclass(frozen=True)
class Token:
    kind: str  # word, ident, string, param, number, cast, op, punct, other
    text: str
    start: int
    end: int
    depth: int  # parentheses open before it

    @property
    def word(self) -> str | None:
        """A keyword or unquoted name, lower-cased; None for any other token."""
        return self.text.lower() if self.kind == "word" else None

    @property
    def name(self) -> str | None:
        """An identifier as the server reads it (unquoted words fold to lower case)."""
        if self.kind == "word":
            return self.text.lower()
        if self.kind == "ident" and self.text.startswith('"'):
            return self.text[1:-1].replace('""', '"')
        return None


def tokens(text: str) -> list[Token]:
    """The tokens of `text` (whitespace and comments dropped), each with its parenthesis depth."""
    out: list[Token] = []
    pos, depth = 0, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        kind, start = m.lastgroup, pos
        end = m.end()
        if kind == "block_comment":  # nested /* */, as PostgreSQL allows
            level, end = 1, pos + 2
            while level and end < len(text):
                if text.startswith("/*", end):
                    level, end = level + 1, end + 2
                elif text.startswith("*/", end):
                    level, end = level - 1, end + 2
                else:
                    end += 1
        elif kind == "dollar":
            close = text.find(m.group(), end)
            end = len(text) if close < 0 else close + len(m.group())
            kind = "string"
        elif kind == "op":
            op = m.group()
            cut = min((i for i in (op.find("--"), op.find("/*")) if i > 0), default=len(op))
            op = op[:cut]
            while len(op) > 1 and op[-1] in "+-" and not _OP_SPECIAL & set(op):
                op = op[:-1]
            end = start + len(op)
        pos = end
        if kind in ("ws", "line_comment", "block_comment"):
            continue
        piece = text[start:end]
        if piece == ")":
            depth = max(0, depth - 1)
        out.append(Token(kind, piece, start, end, depth))
        if piece == "(":
            depth += 1
    return out


def first_word(text: str) -> str | None:
    """The statement's first keyword (after any opening parentheses), lower-cased."""
    return next((t.word for t in tokens(text) if t.text != "("), None)


def dollar_params(text: str) -> bool:
    return any(t.kind == "param" for t in tokens(text))


def has_vector_operator(text: str) -> bool:
    return any(t.kind == "op" and t.text in VECTOR_OPERATORS for t in tokens(text))


# --- deparsed expressions (from the plan) ---------------------------------------------------------------

_ORDER_WORDS = {"desc", "asc", "nulls", "using"}


@dataclass(frozen=True)
class Distance:
    """A distance `lhs op rhs` found in a sort key the server deparsed."""

    operator: str
    lhs: str
    rhs: str
    direct: bool  # the key is the distance itself, not an expression of it
    desc: bool
    key: str  # the whole key as deparsed


def _strip_wrapping(toks: list[Token]) -> list[Token]:
    while len(toks) >= 2 and toks[0].text == "(" and toks[-1].text == ")" and _closing(toks, 0) == len(toks) - 1:
        toks = toks[1:-1]
    return toks


def _closing(toks: list[Token], i: int) -> int:
    level = 0
    for j in range(i, len(toks)):
        if toks[j].text == "(":
            level += 1
        elif toks[j].text == ")":
            level -= 1
            if level == 0:
                return j
    return len(toks)


def distance_in(key: str) -> Distance | None:
    """The first pgvector distance inside a deparsed sort key, e.g. `((d.vec <=> $1)) DESC`."""
    toks = tokens(key)
    if not toks:
        return None
    base = toks[0].depth
    cut = next((i for i, t in enumerate(toks) if t.depth == base and t.word in _ORDER_WORDS), len(toks))
    desc = any(t.word == "desc" for t in toks[cut:])
    expr = toks[:cut]
    at = next((i for i, t in enumerate(expr) if t.kind == "op" and t.text in VECTOR_OPERATORS), None)
    if at is None:
        return None
    op = expr[at]
    opener = next((i for i in range(at - 1, -1, -1) if expr[i].text == "(" and expr[i].depth == op.depth - 1), None)
    closer = _closing(expr, opener) if opener is not None else len(expr)
    lo = expr[opener].end if opener is not None else expr[0].start
    hi = expr[closer].start if closer < len(expr) else expr[-1].end
    lhs, rhs = key[lo:op.start].strip(), key[op.end:hi].strip()
    stripped = _strip_wrapping(expr)
    top = min(t.depth for t in stripped) if stripped else op.depth
    direct = op.depth == top and not any(t.kind == "op" and t is not op and t.depth == top for t in stripped)
    return Distance(op.text, lhs, rhs, direct, desc, key)


def normal(expr: str) -> str:
    """An expression for comparison: no parentheses, spaces or `alias.` qualifiers; names unquoted."""
    toks = [t for t in tokens(expr) if t.text not in ("(", ")")]
    out = []
    for i, t in enumerate(toks):
        if i + 1 < len(toks) and toks[i + 1].text == "." and t.name is not None:
            continue  # a qualifier
        if t.text == ".":
            continue
        out.append(t.name if t.name is not None else t.text)
    return "\x00".join(out)


def base_column(expr: str) -> str | None:
    """The column an expression reads: the first name that is not a qualifier, a function or a type."""
    toks = tokens(expr)
    for i, t in enumerate(toks):
        if t.name is None:
            continue
        after = toks[i + 1].text if i + 1 < len(toks) else ""
        before = toks[i - 1].kind if i else ""
        if after in (".", "(") or before == "cast":
            continue
        return t.name
    return None


def column_qualifier(expr: str) -> str | None:
    """The `alias` of the first `alias.column` in an expression (not a function's `schema.`)."""
    toks = tokens(expr)
    for i in range(len(toks) - 2):
        if toks[i].name is not None and toks[i + 1].text == "." and toks[i + 2].name is not None and (
                i + 3 >= len(toks) or toks[i + 3].text not in ("(", ".")):
            return toks[i].name
    return None


def has_cast(expr: str) -> bool:
    return any(t.kind == "cast" for t in tokens(expr))


def unqualified(expr: str) -> str:
    """`expr` with every `qualifier.` removed (for a rewrite on a statement that scans one relation)."""
    toks = tokens(expr)
    drop = [(t.start, toks[i + 1].end) for i, t in enumerate(toks)
            if t.name is not None and i + 1 < len(toks) and toks[i + 1].text == "."]
    for lo, hi in reversed(drop):
        expr = expr[:lo] + expr[hi:]
    return expr


# --- the user's statement ---------------------------------------------------------------------------------

_CLAUSE_END = {"limit", "offset", "fetch", "for", "union", "intersect", "except", "returning", "window"}


@dataclass(frozen=True)
class Clause:
    start: int  # where `ORDER` begins
    end: int  # where the clause's last token ends
    depth: int
    text: str


def order_by_clauses(text: str) -> list[Clause]:
    toks = tokens(text)
    out = []
    for i, t in enumerate(toks[:-1]):
        if t.word == "order" and toks[i + 1].word == "by":
            j = i + 2
            while j < len(toks) and toks[j].depth >= t.depth and not (
                    toks[j].depth == t.depth and (toks[j].word in _CLAUSE_END or toks[j].text == ";")):
                j += 1  # up to the clause's end: LIMIT & co, `;`, or the `)` of an enclosing subquery
            end = toks[j - 1].end
            out.append(Clause(t.start, end, t.depth, text[t.start:end]))
    return out


def main_order_by(text: str) -> Clause | None:
    """The statement's ORDER BY clause the plan's sort comes from: the only one, or the outermost one, or
    the one holding a distance operator."""
    clauses = order_by_clauses(text)
    if len(clauses) <= 1:
        return clauses[0] if clauses else None
    top = [c for c in clauses if c.depth == 0]
    if len(top) == 1:
        return top[0]
    with_op = [c for c in clauses if has_vector_operator(c.text)]
    return with_op[0] if len(with_op) == 1 else None


def limit_value(text: str) -> int | None:
    """The constant of the outermost LIMIT (or FETCH FIRST n ROWS); None for none, a parameter or ALL."""
    toks = tokens(text)
    for i, t in enumerate(toks):
        if t.depth != 0:
            continue
        nxt = toks[i + 1:i + 3]
        if t.word == "limit" and nxt and nxt[0].kind == "number" and nxt[0].text.isdigit():
            return int(nxt[0].text)
        if t.word == "fetch" and len(nxt) == 2 and nxt[1].kind == "number" and nxt[1].text.isdigit():
            return int(nxt[1].text)
    return None


def replace_order_by(text: str, key: str) -> str | None:
    clause = main_order_by(text)
    if clause is None:
        return None
    return text[:clause.start] + "ORDER BY " + key + text[clause.end:]


def add_limit(text: str, k: int) -> str | None:
    """`text` with `LIMIT k` after its outermost ORDER BY clause; None when it has none or a LIMIT already."""
    clause = main_order_by(text)
    if clause is None or clause.depth != 0:
        return None
    return text[:clause.end] + f" LIMIT {int(k)}" + text[clause.end:]
