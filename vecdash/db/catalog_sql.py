"""The catalog query: one statement that returns a pod's whole vector estate as one JSON document.

One round trip per pod per refresh, whatever the number of collections. Reads only pg_catalog and
statistics views; never count(*), never user tables. Of user-mapping options it selects only `user`
(never a password).
"""

from psycopg import sql

# The vector columns of the pod's tables (pgvector's types, and pg_catalog's bit): the one detection of a
# "collection", shared by the catalog and the activity statements (db/activity_sql.py).
VECTOR_COLUMNS_CTE = r"""
vec_types as (
    select t.oid, t.typname
    from pg_type t
    where t.typname in ('vector', 'halfvec', 'sparsevec', 'bit')
      and (t.typname = 'bit' and t.typnamespace = 'pg_catalog'::regnamespace
           or t.typname <> 'bit' and exists (
                select 1 from pg_depend d join pg_extension e on e.oid = d.refobjid
                where d.classid = 'pg_type'::regclass and d.objid = t.oid and e.extname = 'vector'))
),
vec_cols as (
    select c.oid as relid, n.nspname as schema, c.relname as name, c.relkind, a.attname as col, a.attnum,
           vt.typname as type, case when a.atttypmod > 0 then a.atttypmod end as dim
    from pg_attribute a
    join vec_types vt on vt.oid = a.atttypid
    join pg_class c on c.oid = a.attrelid
    join pg_namespace n on n.oid = c.relnamespace
    where a.attnum > 0 and not a.attisdropped
      and c.relkind in ('r', 'm', 'f', 'p')
      and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
      and not c.relispartition
),
"""

CATALOG_SQL = sql.SQL(r"""
with {vector_columns}
rels as (
    select relid, min(schema) as schema, min(name) as name, min(relkind::text) as relkind,
           json_agg(json_build_object('column', col, 'attnum', attnum, 'type', type, 'dimension', dim)
                    order by attnum) as columns
    from vec_cols group by relid
),
idx as (
    select i.indrelid as relid,
           json_agg(json_build_object(
               'name', ic.relname, 'method', am.amname, 'column', a.attname, 'opclass', opc.opcname,
               'options', coalesce(array_to_json(ic.reloptions), '[]'::json),
               'bytes', pg_relation_size(ic.oid), 'valid', i.indisvalid and i.indisready)
             order by ic.relname) as indexes
    from pg_index i
    join pg_class ic on ic.oid = i.indexrelid
    join pg_am am on am.oid = ic.relam
    join vec_cols vc on vc.relid = i.indrelid and vc.attnum = i.indkey[0]
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
    left join pg_opclass opc on opc.oid = i.indclass[0]
    group by i.indrelid
),
collections as (
    select json_agg(json_build_object(
        'schema', r.schema, 'name', r.name, 'relkind', r.relkind, 'columns', r.columns,
        'rows_estimate', case when c.reltuples >= 0 then c.reltuples::bigint end,
        'table_bytes', case when r.relkind in ('r', 'm', 'p') then pg_table_size(r.relid) else 0 end,
        'index_bytes', case when r.relkind in ('r', 'm', 'p') then pg_indexes_size(r.relid) else 0 end,
        'has_metadata', exists (select 1 from pg_attribute m where m.attrelid = r.relid and m.attname = 'metadata'
                                and m.atttypid = 'jsonb'::regtype and not m.attisdropped),
        'last_analyze', greatest(s.last_analyze, s.last_autoanalyze),
        'last_vacuum', greatest(s.last_vacuum, s.last_autovacuum),
        'indexes', coalesce(idx.indexes, '[]'::json))
      order by (r.schema <> 'vecs'), r.schema, r.name) as items
    from rels r
    join pg_class c on c.oid = r.relid
    left join pg_stat_all_tables s on s.relid = r.relid
    left join idx on idx.relid = r.relid
),
servers as (
    select json_agg(json_build_object('name', s.srvname, 'fdw', w.fdwname,
                                      'options', coalesce(array_to_json(s.srvoptions), '[]'::json),
                                      -- the login of the mapping postgres_fdw uses (never any other option):
                                      -- a server without dbname reaches the database of that name
                                      'mapping_user', (select (select substr(o, 6) from unnest(m.umoptions) o where o like 'user=%')
                                                from pg_user_mappings m
                                                where m.srvid = s.oid and m.umuser in (0, (select oid from pg_roles where rolname = current_user))
                                                order by m.umuser = 0 limit 1))
                    order by s.srvname) as items
    from pg_foreign_server s join pg_foreign_data_wrapper w on w.oid = s.srvfdw
),
mappings as (
    select json_agg(json_build_object('server', srvname, 'user', usename) order by srvname, usename) as items
    from pg_user_mappings
),
ftables as (
    select json_agg(json_build_object(
        'schema', n.nspname, 'name', c.relname, 'server', s.srvname,
        'options', coalesce(array_to_json(ft.ftoptions), '[]'::json),
        'vector', (select json_build_object('column', vc.col, 'type', vc.type, 'dimension', vc.dim)
                   from vec_cols vc where vc.relid = c.oid order by vc.attnum limit 1))
      order by n.nspname, c.relname) as items
    from pg_foreign_table ft
    join pg_class c on c.oid = ft.ftrelid
    join pg_namespace n on n.oid = c.relnamespace
    join pg_foreign_server s on s.oid = ft.ftserver
),
view_reads as (
    -- unquoted schema.name, the same form as model objects' `.qualified`, so callers can compare them
    select v.oid as viewid, array_agg(distinct rn.nspname || '.' || rc.relname) as reads
    from pg_class v
    join pg_rewrite rw on rw.ev_class = v.oid
    join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = rw.oid and d.refclassid = 'pg_class'::regclass
    join pg_class rc on rc.oid = d.refobjid and rc.oid <> v.oid
    join pg_namespace rn on rn.oid = rc.relnamespace
    where v.relkind in ('v', 'm')
    group by v.oid
),
views as (
    select json_agg(json_build_object('schema', n.nspname, 'name', v.relname, 'materialized', v.relkind = 'm',
                                      'reads', to_json(vr.reads))
                    order by n.nspname, v.relname) as items
    from view_reads vr
    join pg_class v on v.oid = vr.viewid
    join pg_namespace n on n.oid = v.relnamespace
    where n.nspname not in ('pg_catalog', 'information_schema')
      and exists (select 1 from pg_depend d2 join pg_rewrite rw2 on rw2.oid = d2.objid
                  where rw2.ev_class = v.oid and d2.classid = 'pg_rewrite'::regclass
                    and d2.refclassid = 'pg_class'::regclass
                    and (d2.refobjid in (select relid from rels) or d2.refobjid in (select ftrelid from pg_foreign_table)))
),
knn_functions as (
    -- the fast path's functions (`<view>_knn`, `<collection>_knn_all`) by name and argument types (a function
    -- of that name with other arguments is someone else's), with vecdash's mark when they carry it
    -- (service.wiring.fast_path: what the function reaches, as JSON)
    select json_agg(json_build_object('schema', f.nspname, 'name', f.proname, 'types', f.types,
                                      'comment', case when d.description like 'vecdash fast path %' then d.description end)
                    order by f.nspname, f.proname) as items
    from (select p.oid, n.nspname, p.proname,
                 (select array_agg(t.typname::text order by u.o) from unnest(p.proargtypes::oid[]) with ordinality u(typ, o)
                  join pg_type t on t.oid = u.typ) as types
          from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where p.proretset and (p.proname like '%\_knn' or p.proname like '%\_knn\_all')
            and n.nspname not in ('pg_catalog', 'information_schema')) f
    left join pg_description d on d.objoid = f.oid and d.classoid = 'pg_proc'::regclass and d.objsubid = 0
    -- (arguments: query, k, filter, path, ef_search, iterative_scan, probes; `_knn_all` adds `partial`)
    where f.types[1] in ('vector', 'halfvec')
      and f.types[2:] = case when f.proname like '%\_knn' then array['int4', 'jsonb', 'jsonpath', 'int4', 'text', 'int4']
                             else array['int4', 'jsonb', 'jsonpath', 'int4', 'text', 'int4', 'bool'] end
)
select json_build_object(
    'server_version', current_setting('server_version'),
    'pgvector_version', (select extversion from pg_extension where extname = 'vector'),
    'fdw_version', (select extversion from pg_extension where extname = 'postgres_fdw'),
    'database', current_database(),
    'database_bytes', pg_database_size(current_database()),
    'shared_buffers_bytes', pg_size_bytes(current_setting('shared_buffers')),
    'current_user', current_user,
    'read_only', current_setting('default_transaction_read_only') = 'on',
    'collections', coalesce((select items from collections), '[]'::json),
    'foreign_servers', coalesce((select items from servers), '[]'::json),
    'user_mappings', coalesce((select items from mappings), '[]'::json),
    'foreign_tables', coalesce((select items from ftables), '[]'::json),
    'views', coalesce((select items from views), '[]'::json),
    'knn_functions', coalesce((select items from knn_functions), '[]'::json)
)
""").format(vector_columns=sql.SQL(VECTOR_COLUMNS_CTE))
