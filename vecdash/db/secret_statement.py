"""Running a statement that holds a secret (a user-mapping password) without the server logging it.

CREATE/ALTER USER MAPPING takes no bind parameters, so its password would be statement text: in the
server log when the statement fails (log_min_error_statement) or when DDL is logged (log_statement),
in pg_stat_statements and in pg_stat_activity. Here the password never is statement text:

1. it travels as a bind parameter into a transaction-local setting (`set_config(..., true)`);
2. a DO block builds the statement from it with format('%L') and EXECUTEs it; an error is re-raised
   with its message and SQLSTATE only, so no CONTEXT line quotes the statement;
3. the setting is emptied again, and anyway ends with the transaction.

Parameters of a SELECT are logged only where a DBA logs every statement with its parameters
(log_statement = all, or log_min_duration_statement with log_parameter_max_length): where the role may
SET those (superuser, or GRANT SET on PostgreSQL 15+), they are switched off for the transaction.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

HOLE = "\x00"  # where the secret goes in a template: PostgreSQL text can never hold NUL
SETTING = "vecdash.statement_secret"

# switched off for the transaction where the role may SET them
QUIET = {"log_statement": "none", "log_min_duration_statement": "-1", "log_parameter_max_length": "0",
         "log_min_error_statement": "panic", "log_duration": "off"}

SETTABLE_15 = "select name from pg_settings where name = any(%(names)s) and has_parameter_privilege(name, 'SET')"
SETTABLE_OLD = ("select name from pg_settings where name = any(%(names)s) "
                "and (select rolsuper from pg_roles where rolname = current_user)")

DO_BODY = """BEGIN
  EXECUTE format({template}, current_setting({setting}));
EXCEPTION WHEN others THEN
  RAISE EXCEPTION USING MESSAGE = SQLERRM, ERRCODE = SQLSTATE;
END"""

NOT_QUIET_NOTE = ("the user-mapping password reaches the primary as a bind parameter, never as statement text; "
                  "a server that logs every statement with its parameters (log_statement = all, or "
                  "log_min_duration_statement with log_parameter_max_length) logs it unless the role may SET "
                  "those settings (superuser, or GRANT SET), which vecdash then turns off for the step")


async def _quiet_settings(conn: psycopg.AsyncConnection) -> list[str]:
    """The logging settings of QUIET this role may SET."""
    query = SETTABLE_15 if conn.info.server_version >= 150000 else SETTABLE_OLD
    cur = await conn.execute(query, {"names": list(QUIET)})
    return [name for (name,) in await cur.fetchall()]


async def can_quiet_logging(conn: psycopg.AsyncConnection) -> bool:
    return set(await _quiet_settings(conn)) == set(QUIET)


def template(render) -> str:
    """A format() template from `render(value_sql)`: the secret's place is %L, any other % doubled."""
    return render(sql.SQL(HOLE)).as_string().replace("%", "%%").replace(HOLE, "%L")


async def execute_secret(conn: psycopg.AsyncConnection, statement_template: str, secret: str) -> None:
    """Run `statement_template` (from `template`) with `secret` in place, in a (sub)transaction."""
    async with conn.transaction():
        for name in await _quiet_settings(conn):
            await conn.execute(sql.SQL("set local {} = {}").format(sql.Identifier(name), sql.Literal(QUIET[name])))
        await conn.execute("set local log_parameter_max_length_on_error = 0")
        await conn.execute("select set_config(%(name)s, %(value)s, true)", {"name": SETTING, "value": secret})
        body = sql.SQL(DO_BODY).format(template=sql.Literal(statement_template), setting=sql.Literal(SETTING))
        await conn.execute(sql.SQL("do {}").format(sql.Literal(body.as_string())))
        # on failure the (sub)transaction's rollback drops the setting; on success it is emptied here
        await conn.execute("select set_config(%(name)s, '', true)", {"name": SETTING})
