"""Statements with parameters: a name from a database is never read as a placeholder.

psycopg finds placeholders by scanning the whole statement text for `%`, quoted identifiers and string
literals included, so a table `vecs."50%off"` or a column `%s` breaks (or shifts) the parameters of any
statement that also has some. The rule, in one place: when a statement runs WITH parameters, every `%`
that came from an Identifier or a Literal is doubled (psycopg turns `%%` back into `%`); the statement's
own SQL parts are vecdash's text and hold the real placeholders.

Every connection vecdash opens uses the cursors below, so `conn.execute(composed, params)` is safe by
construction. Statements rendered to text ahead of time and reused (the query service's cached k-NN
text) are rendered with `params_text`, which applies the same rule.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql


def params_text(stmt: sql.Composable, context: Any = None) -> str:
    """`stmt` as text to execute with parameters: `%` doubled inside its identifiers and literals."""
    if isinstance(stmt, sql.Composed):
        return "".join(params_text(part, context) for part in stmt)
    if isinstance(stmt, (sql.SQL, sql.Placeholder)):
        return stmt.as_string(context)
    return stmt.as_string(context).replace("%", "%%")


def preview_text(text: str) -> str:
    """Text made by `params_text`, as a person should read it (what the server receives)."""
    return text.replace("%%", "%")


def bind_ready(query: Any, params: Any, context: Any = None) -> Any:
    if params is None or not isinstance(query, sql.Composable):
        return query
    return sql.SQL(params_text(query, context))


class Cursor(psycopg.Cursor):
    def execute(self, query, params=None, **kwargs):
        return super().execute(bind_ready(query, params, self), params, **kwargs)

    def executemany(self, query, params_seq, **kwargs):
        return super().executemany(bind_ready(query, (), self), params_seq, **kwargs)


class AsyncCursor(psycopg.AsyncCursor):
    async def execute(self, query, params=None, **kwargs):
        return await super().execute(bind_ready(query, params, self), params, **kwargs)

    async def executemany(self, query, params_seq, **kwargs):
        return await super().executemany(bind_ready(query, (), self), params_seq, **kwargs)
