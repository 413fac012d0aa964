"""Stand-in fast-path functions, written by hand from issue 17's signatures, for the route tests while
`vecdash wire --fast-path` is not on this branch: `public.<view>_knn` (one pod) and
`public.<view>_knn_all` (several), both over dblink through the existing foreign servers.

Only the signature and the meaning matter to the routes: ids, distances (cosine) and metadata of the
top k on the pod, `metadata @> filter`, `metadata @@ path`, the knobs applied on the pod.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

ARGS = ("query vector, k int default 10, filter jsonb default null, path jsonpath default null, "
        "ef_search int default null, iterative_scan text default null, probes int default null")
TYPES = "vector, int, jsonb, jsonpath, int, text, int"

# the remote statement: the settings (or their defaults), then the scan; every value through %L / %I
SETTINGS = """format('set hnsw.ef_search to %s; set hnsw.iterative_scan to %s; set ivfflat.probes to %s',
  coalesce(ef_search::text, 'default'), coalesce(quote_literal(iterative_scan), 'default'),
  coalesce(probes::text, 'default'))"""
REMOTE = """format('select id::text, (vec <=> %L::vector)::float8, metadata from %I.%I '
  'where (%L::jsonb is null or metadata @> %L::jsonb) and (%L::jsonpath is null or metadata @@ %L::jsonpath) '
  'order by vec <=> %L::vector limit %s', query::text, rschema, rtable, filter, filter, path, path, query::text, k)"""


def make_knn(dsn: str, view: str, server: str, table: str, schema: str = "vecs") -> None:
    # a PL/pgSQL body of constant text; its values go in as literals (_fill), the remote ones via format()
    body = f"""
declare conn text := 'vdt_' || %s; rschema text := %s; rtable text := %s;
begin
  if not (conn = any(coalesce(dblink_get_connections(), '{{}}'))) then
    perform dblink_connect(conn, %s);
  end if;
  perform dblink_exec(conn, {SETTINGS});
  return query select * from dblink(conn, {REMOTE}) as t(id text, distance float8, metadata jsonb);
end"""  # noqa: S608
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create extension if not exists dblink")
        conn.execute(sql.SQL("create or replace function {}(" + ARGS + ") returns table (id text, distance float8, "
                             "metadata jsonb) language plpgsql as {}").format(
            sql.Identifier("public", f"{view}_knn"),
            sql.Literal(_fill(body, [server, schema, table, server]))))


def make_knn_all(dsn: str, view: str, servers: list[str], table: str, schema: str = "vecs") -> None:
    """`<view>_knn_all`: the statement sent to every pod at once, the rows merged (the `pod` column is
    the server's name)."""
    body = f"""
declare s text; conn text; rschema text := %s; rtable text := %s; servers text[] := %s;
begin
  foreach s in array servers loop
    conn := 'vdt_' || s;
    if not (conn = any(coalesce(dblink_get_connections(), '{{}}'))) then
      perform dblink_connect(conn, s);
    end if;
    perform dblink_exec(conn, {SETTINGS});
    perform dblink_send_query(conn, {REMOTE});
  end loop;
  return query select r.pod, r.id, r.distance, r.metadata from (
    select s2 as pod, t.* from unnest(servers) s2,
      lateral dblink_get_result('vdt_' || s2) as t(id text, distance float8, metadata jsonb)) r
    order by r.distance limit k;
  foreach s in array servers loop
    perform * from dblink_get_result('vdt_' || s) as t(id text, distance float8, metadata jsonb);
  end loop;
end"""  # noqa: S608 (constant text; values as literals, remote ones via format())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create extension if not exists dblink")
        conn.execute(sql.SQL("create or replace function {}(" + ARGS + ", partial boolean default false) returns table "
                             "(pod text, id text, distance float8, metadata jsonb) language plpgsql as {}").format(
            sql.Identifier("public", f"{view}_knn_all"), sql.Literal(_fill(body, [schema, table, servers]))))


def _fill(body: str, values: list) -> str:
    """The `%s` declarations of a body as SQL literals (the %L / %I of `format` stay as they are)."""
    parts = body.split("%s", len(values))
    out = parts[0]
    for v, rest in zip(values, parts[1:]):
        lit = sql.Literal(v).as_string(None)
        out += lit + rest
    return out


def drop_knn(dsn: str, view: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop function if exists {}(" + TYPES + ")").format(sql.Identifier("public", f"{view}_knn")))
        conn.execute(sql.SQL("drop function if exists {}(" + TYPES + ", boolean)").format(
            sql.Identifier("public", f"{view}_knn_all")))
