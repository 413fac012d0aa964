"""The activity statements: what a pod's database is doing now, as one JSON document per statement.

Sent in the catalog's pipeline (service/activity), so a refresh with activity costs the same round
trips as one without: the probe, then one pipeline of catalog + activity (+ top statements).

Everything is read from the statistics views every role may select from; what a role may not see
comes back as nulls (or pg_stat_activity's `<insufficient privilege>`), and the privilege facts say
why, so the service can write a note instead of failing. Ages are taken from the server's clock.
Assumes PostgreSQL 13 or later (leader_pid, pg_stat_progress_analyze, total_exec_time); columns newer
than that (last_seq_scan, 16) are read through to_jsonb, null on older servers.
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
ACTIVITY_SQL = sql.SQL(r"""
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
    select json_agg(json_build_object(
        'schema', r.schema, 'name', r.name,
        'seq_scan', s.seq_scan, 'idx_scan', s.idx_scan, 'seq_tup_read', s.seq_tup_read,
        'idx_tup_fetch', s.idx_tup_fetch, 'n_live_tup', s.n_live_tup, 'n_dead_tup', s.n_dead_tup,
        'last_seq_scan', to_jsonb(s) ->> 'last_seq_scan',
        'last_seq_scan_age_s', extract(epoch from (select now from clock)
                                                  - (to_jsonb(s) ->> 'last_seq_scan')::timestamptz)::float8,
        'last_autovacuum', s.last_autovacuum, 'last_autoanalyze', s.last_autoanalyze,
        'vector_index', vi.name, 'vector_index_scans', si.idx_scan,
        'index_hit_ratio', case when io.idx_blks_hit + io.idx_blks_read > 0
                                then io.idx_blks_hit::float8 / (io.idx_blks_hit + io.idx_blks_read) end)
      order by (r.schema <> 'vecs'), r.schema, r.name) as items
    from (select distinct relid, schema, name from vec_cols where relkind in ('r', 'm', 'p')) r
    left join pg_stat_all_tables s on s.relid = r.relid
    left join vector_index vi on vi.relid = r.relid
    left join pg_stat_all_indexes si on si.indexrelid = vi.indexrelid
    left join pg_statio_all_indexes io on io.indexrelid = vi.indexrelid
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
""").format(vector_columns=sql.SQL(VECTOR_COLUMNS_CTE))

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
