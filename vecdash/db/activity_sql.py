"""The activity statements: what a pod's database is doing now, as one JSON document per statement.

Sent in the catalog's pipeline (service/activity), so a refresh with activity costs the same round
trips as one without: the probe, then one pipeline of catalog + activity (+ top statements).

Everything is read from the statistics views every role may select from; what a role may not see
comes back as nulls (or pg_stat_activity's `<insufficient privilege>`), and the privilege facts say
why, so the service can write a note instead of failing. Ages are taken from the server's clock.
Assumes PostgreSQL 13 or later (leader_pid, pg_stat_progress_analyze, total_exec_time); a table's last
sequential scan (16) is null on older servers.
"""

from psycopg import sql

from vecdash.db.catalog_sql import VECTOR_COLUMNS_CTE

# The latency probe of a refresh that reads activity: as cheap as `select 1`, and it says where
# pg_stat_statements lives (no row: not installed in this database) and whether its library is loaded,
# so the pipeline that follows can include the statements query, composed with that schema.
PROBE_SQL = """
select n.nspname,
       'pg_stat_statements' = any(string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))
from pg_extension e join pg_namespace n on n.oid = e.extnamespace
where e.extname = 'pg_stat_statements'
"""

# One document: sessions, progress, per-collection counters, replicas, privilege facts.
_ACTIVITY = sql.SQL(r"""
with {vector_columns}
clock as (select clock_timestamp() as now),
sessions as (
    select json_agg(json_build_object(
        'pid', a.pid, 'user', a.usename, 'application', a.application_name,
        'client', case when a.client_port = -1 then 'local'
                       when a.client_addr is not null and family(a.client_addr) = 6
                           then '[' || host(a.client_addr) || ']:' || a.client_port
                       when a.client_addr is not null then host(a.client_addr) || ':' || a.client_port end,
        'state', a.state,
        'wait_event', case when a.wait_event_type is not null
                           then a.wait_event_type || ':' || coalesce(a.wait_event, '') end,
        'xact_age_s', extract(epoch from (select now from clock) - a.xact_start)::float8,
        'query_age_s', extract(epoch from (select now from clock) - a.query_start)::float8,
        'query', a.query,
        -- pg_blocking_pids takes the lock manager's locks: asked only of a session waiting on a lock
        'blocked_by', case when a.wait_event_type = 'Lock' then to_json(pg_blocking_pids(a.pid)) end,
        'backend_type', a.backend_type)
      order by a.xact_start nulls last, a.pid) as items
    from pg_stat_activity a
    where a.datname = current_database()
      -- another role's session shows no backend_type (nor state, ages, text) without pg_read_all_stats
      and (a.backend_type in ('client backend', 'autovacuum worker') or a.backend_type is null)
      and (a.leader_pid is null or a.leader_pid = a.pid)
      and a.pid <> pg_backend_pid()
),
progress_rows as (
    select p.pid, 'CREATE INDEX' as base, p.command, p.phase, p.relid, p.index_relid,
           case when p.phase like 'waiting for%' and p.lockers_total > 0 then p.lockers_done
                when p.blocks_total > 0 then p.blocks_done
                when p.tuples_total > 0 then p.tuples_done end as done,
           case when p.phase like 'waiting for%' and p.lockers_total > 0 then p.lockers_total
                when p.blocks_total > 0 then p.blocks_total
                when p.tuples_total > 0 then p.tuples_total end as total
    from pg_stat_progress_create_index p where p.datname = current_database()
    union all
    select p.pid, 'VACUUM', 'VACUUM', p.phase, p.relid, null,
           case p.phase when 'scanning heap' then p.heap_blks_scanned
                        when 'vacuuming heap' then p.heap_blks_vacuumed end,
           case when p.phase in ('scanning heap', 'vacuuming heap') then p.heap_blks_total end
    from pg_stat_progress_vacuum p where p.datname = current_database()
    union all
    select p.pid, 'ANALYZE', 'ANALYZE', p.phase, p.relid, null,
           case when p.phase like 'acquiring%sample rows' then p.sample_blks_scanned
                when p.phase = 'computing extended statistics' then p.ext_stats_computed end,
           case when p.phase like 'acquiring%sample rows' then p.sample_blks_total
                when p.phase = 'computing extended statistics' then p.ext_stats_total end
    from pg_stat_progress_analyze p where p.datname = current_database()
),
progress as (
    select json_agg(json_build_object(
        'pid', r.pid, 'command', coalesce(r.command, r.base), 'phase', r.phase,
        'relation', case when c.oid is not null then n.nspname || '.' || c.relname end,
        'index', ic.relname,
        'percent', case when r.total > 0 then round(100.0 * least(r.done, r.total) / r.total, 1) end)
      order by r.pid) as items
    from progress_rows r
    left join pg_class c on c.oid = r.relid
    left join pg_namespace n on n.oid = c.relnamespace
    left join pg_class ic on ic.oid = r.index_relid
),
vector_index as (
    -- the first valid hnsw/ivfflat index on one of the table's vector columns, by name
    select distinct on (i.indrelid) i.indrelid as relid, i.indexrelid, ic.relname as name
    from pg_index i
    join pg_class ic on ic.oid = i.indexrelid
    join pg_am am on am.oid = ic.relam
    where am.amname in ('hnsw', 'ivfflat') and i.indisvalid and i.indisready
      and exists (select 1 from vec_cols vc where vc.relid = i.indrelid and vc.attnum = i.indkey[0])
    order by i.indrelid, ic.relname
),
collections as (
    -- the statistics functions the pg_stat_* views are made of, called for these relations only: the
    -- views aggregate every relation of the database first
    select json_agg(json_build_object(
        'schema', r.schema, 'name', r.name,
        'seq_scan', pg_stat_get_numscans(r.relid),
        'idx_scan', (select sum(pg_stat_get_numscans(x.indexrelid))::bigint from pg_index x where x.indrelid = r.relid),
        'seq_tup_read', pg_stat_get_tuples_returned(r.relid),
        'idx_tup_fetch', (select sum(pg_stat_get_tuples_fetched(x.indexrelid))::bigint from pg_index x
                          where x.indrelid = r.relid) + pg_stat_get_tuples_fetched(r.relid),
        'n_live_tup', pg_stat_get_live_tuples(r.relid), 'n_dead_tup', pg_stat_get_dead_tuples(r.relid),
        'last_seq_scan', {last_seq_scan},
        'last_autovacuum', pg_stat_get_last_autovacuum_time(r.relid),
        'last_autoanalyze', pg_stat_get_last_autoanalyze_time(r.relid),
        'vector_index', vi.name, 'vector_index_scans', pg_stat_get_numscans(vi.indexrelid),
        'index_hit_ratio', case when pg_stat_get_blocks_fetched(vi.indexrelid) > 0
                                then pg_stat_get_blocks_hit(vi.indexrelid)::float8
                                     / pg_stat_get_blocks_fetched(vi.indexrelid) end)
      order by (r.schema <> 'vecs'), r.schema, r.name) as items
    from (select distinct relid, schema, name from vec_cols where relkind in ('r', 'm', 'p')) r
    left join vector_index vi on vi.relid = r.relid
),
replicas as (
    select json_agg(json_build_object(
        'name', r.application_name,
        'client', case when r.client_port = -1 then 'local'
                       when r.client_addr is not null then host(r.client_addr) || ':' || r.client_port end,
        'state', r.state,
        -- pg_current_wal_lsn() fails during recovery: a cascading standby reports no byte lag
        'lag_bytes', case when not pg_is_in_recovery() and r.replay_lsn is not null
                          then pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint end,
        'replay_lag_s', extract(epoch from r.replay_lag)::float8)
      order by r.application_name, r.pid) as items
    from pg_stat_replication r
)
select json_build_object(
    'now', (select now from clock),
    'current_user', current_user,
    'privileges', json_build_object(
        'superuser', (select rolsuper from pg_roles where rolname = current_user),
        'read_all_stats', pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER'),
        'monitor', pg_has_role(current_user, 'pg_monitor', 'MEMBER'),
        'signal_backend', pg_has_role(current_user, 'pg_signal_backend', 'MEMBER')),
    'pg_stat_statements', (select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
                           where e.extname = 'pg_stat_statements'),
    'sessions', coalesce((select items from sessions), '[]'::json),
    'progress', coalesce((select items from progress), '[]'::json),
    'collections', coalesce((select items from collections), '[]'::json),
    'replicas', coalesce((select items from replicas), '[]'::json)
)
""")


def activity_sql(server_version: int) -> sql.Composed:
    """The activity statement for a server of `server_version` (libpq's number, e.g. 180006; known without a
    round trip): pg_stat_get_lastscan, a table's last sequential scan, exists from PostgreSQL 16."""
    last = sql.SQL("pg_stat_get_lastscan(r.relid)" if server_version >= 160000 else "null::timestamptz")
    return _ACTIVITY.format(vector_columns=sql.SQL(VECTOR_COLUMNS_CTE), last_seq_scan=last)


# How many statements of pg_stat_statements a refresh reads (vector statements first).
TOP_STATEMENTS = 20
# The pod's database's statements, summed over users; `%(operators)s`: pgvector's distance operators.
_STATEMENTS = r"""
with per_query as (
    select s.queryid, s.query, sum(s.calls)::bigint as calls, sum(s.total_exec_time)::float8 as total_ms,
           sum(s.rows)::bigint as rows,
           exists (select 1 from unnest(%(operators)s::text[]) op where strpos(s.query, op) > 0) as vector
    from {pgss} s
    where s.dbid = (select oid from pg_database where datname = current_database())
    group by s.queryid, s.query
)
select json_build_object(
    'calls', coalesce((select sum(calls) from per_query), 0),
    'vector_calls', coalesce((select sum(calls) from per_query where vector), 0),
    'top', coalesce((select json_agg(json_build_object(
                'queryid', t.queryid, 'query', t.query, 'calls', t.calls, 'total_ms', t.total_ms,
                'mean_ms', case when t.calls > 0 then t.total_ms / t.calls end, 'rows', t.rows, 'vector', t.vector)
              order by t.vector desc, t.total_ms desc)
         from (select * from per_query order by vector desc, total_ms desc limit %(limit)s) t), '[]'::json)
)
"""


def statements_sql(schema: str) -> sql.Composed:
    """The top-statements query on `schema`.pg_stat_statements (the schema the probe found)."""
    return sql.SQL(_STATEMENTS).format(pgss=sql.Identifier(schema, "pg_stat_statements"))
