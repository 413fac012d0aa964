"""Catalog statements for FDW wiring: the primary's wiring state and one remote collection's shape.

Each is one round trip returning one JSON document. Of user-mapping options only `user` is selected
(which database a server without dbname reaches); the only statement that looks at the others
(MAPPING_CREDENTIALS_SQL) compares them on the server and returns booleans, so a stored password
never travels to vecdash.
"""

# The primary: extensions, postgres_fdw servers, user mappings (no options), foreign tables with
# their columns, and the views that read foreign tables (with their definitions, to rebuild them).
PRIMARY_STATE_SQL = r"""
with recursive fts as (
    select c.oid, n.nspname as schema, c.relname as name, s.srvname as server,
           coalesce(array_to_json(ft.ftoptions), '[]'::json) as options,
           c.reltuples >= 0 as analyzed
    from pg_foreign_table ft
    join pg_class c on c.oid = ft.ftrelid
    join pg_namespace n on n.oid = c.relnamespace
    join pg_foreign_server s on s.oid = ft.ftserver
),
readers as (
    -- every view (at any depth) that reads a foreign table, with the relations it reads directly
    select distinct v.oid, rc.oid as reads_oid
    from pg_class v
    join pg_rewrite rw on rw.ev_class = v.oid
    join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = rw.oid
                    and d.refclassid = 'pg_class'::regclass
    join pg_class rc on rc.oid = d.refobjid and rc.oid <> v.oid
    where v.relkind in ('v', 'm')
),
wiring_views(oid) as (
    select r.oid from readers r
    where r.reads_oid in (select oid from fts)
    union
    select r.oid from readers r join wiring_views w on w.oid = r.reads_oid
)
select json_build_object(
    'current_user', current_user,
    'superuser', (select rolsuper from pg_roles where rolname = current_user),
    'dblink_available', exists (select 1 from pg_available_extensions where name = 'dblink'),
    -- functions whose comment marks them as vecdash's fast path (service.wiring.fast_path.MARK)
    'fast_paths', coalesce((select json_agg(json_build_object('schema', n.nspname, 'name', p.proname,
                                                              'comment', d.description) order by n.nspname, p.proname)
                            from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                            join pg_description d on d.objoid = p.oid and d.classoid = 'pg_proc'::regclass
                                                  and d.objsubid = 0
                            where d.description like 'vecdash fast path %'), '[]'::json),
    'schemas', (select json_agg(nspname order by nspname) from pg_namespace),
    'extensions', coalesce((select json_object_agg(e.extname, n.nspname)
                            from pg_extension e join pg_namespace n on n.oid = e.extnamespace), '{}'::json),
    'servers', coalesce((select json_agg(json_build_object(
                             'name', s.srvname, 'fdw', w.fdwname,
                             'options', coalesce(array_to_json(s.srvoptions), '[]'::json),
                             'comment', obj_description(s.oid, 'pg_foreign_server'),
                             'mapping_user', (select (select substr(o, 6) from unnest(m.umoptions) o where o like 'user=%')
                                 from pg_user_mappings m
                                 where m.srvid = s.oid and m.umuser in (0, (select oid from pg_roles where rolname = current_user))
                                 order by m.umuser = 0 limit 1)) order by s.srvname)
                         from pg_foreign_server s join pg_foreign_data_wrapper w on w.oid = s.srvfdw), '[]'::json),
    'mappings', coalesce((select json_agg(json_build_object('server', m.srvname, 'user', m.usename,
                                                            'public', m.umuser = 0) order by m.srvname, m.usename)
                          from pg_user_mappings m), '[]'::json),
    'foreign_tables', coalesce((select json_agg(json_build_object(
        'schema', f.schema, 'name', f.name, 'server', f.server, 'options', f.options, 'analyzed', f.analyzed,
        'columns', (select json_agg(json_build_object(
                        'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'typname', t.typname,
                        'typmod', a.atttypmod, 'notnull', a.attnotnull,
                        'options', coalesce(array_to_json(a.attfdwoptions), '[]'::json)) order by a.attnum)
                    from pg_attribute a join pg_type t on t.oid = a.atttypid
                    where a.attrelid = f.oid and a.attnum > 0 and not a.attisdropped))
      order by f.schema, f.name) from fts f), '[]'::json),
    'views', coalesce((select json_agg(json_build_object(
        'schema', n.nspname, 'name', v.relname, 'materialized', v.relkind = 'm',
        'definition', pg_get_viewdef(v.oid, true),
        'reads', (select json_agg(json_build_array(rn.nspname, rc.relname) order by rn.nspname, rc.relname)
                  from readers r join pg_class rc on rc.oid = r.reads_oid
                  join pg_namespace rn on rn.oid = rc.relnamespace where r.oid = v.oid),
        'columns', (select json_agg(a.attname order by a.attnum) from pg_attribute a
                    where a.attrelid = v.oid and a.attnum > 0 and not a.attisdropped))
      order by n.nspname, v.relname)
      from pg_class v join pg_namespace n on n.oid = v.relnamespace
      where v.oid in (select oid from wiring_views)), '[]'::json)
)
"""

# Does the current role's mapping on server %(server)s hold these credentials? Booleans only.
MAPPING_CREDENTIALS_SQL = r"""
select coalesce(m.umoptions is not null, false) as readable,
       coalesce(exists (select 1 from unnest(m.umoptions) o where o like 'user=%%'), false) as has_user,
       coalesce(('user=' || %(user)s) = any (m.umoptions), false) as user_matches,
       coalesce(exists (select 1 from unnest(m.umoptions) o where o like 'password=%%'), false) as has_password,
       coalesce(('password=' || %(password)s) = any (m.umoptions), false) as password_matches
from pg_user_mappings m
where m.srvname = %(server)s and m.umuser = (select oid from pg_roles where rolname = current_user)
"""

# What kind of relation, if any, holds a name on the primary (for conflicts with the names we create).
RELATION_KIND_SQL = r"""
select c.relkind::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %(schema)s and c.relname = %(name)s
"""

# One collection on a pod: relkind, columns with type details, vector indexes, vector's schema.
# Run with search_path = pg_catalog so format_type() qualifies every type outside pg_catalog.
REMOTE_TABLE_SQL = r"""
with rel as (
    select c.oid, c.relkind::text as relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = %(schema)s and c.relname = %(name)s
),
vext as (select e.oid, n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
         where e.extname = 'vector')
select json_build_object(
    'relkind', (select relkind from rel),
    'vector_schema', (select nspname from vext),
    'columns', (select json_agg(json_build_object(
                    'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'typname', t.typname,
                    'typschema', tn.nspname, 'typmod', a.atttypmod, 'notnull', a.attnotnull,
                    'from_vector', exists (select 1 from pg_depend d join vext on vext.oid = d.refobjid
                                           where d.classid = 'pg_type'::regclass and d.objid = t.oid
                                             and d.deptype = 'e'))
                  order by a.attnum)
                from rel join pg_attribute a on a.attrelid = rel.oid
                join pg_type t on t.oid = a.atttypid join pg_namespace tn on tn.oid = t.typnamespace
                where a.attnum > 0 and not a.attisdropped),
    'indexes', coalesce((select json_agg(json_build_object('name', ic.relname, 'column', a.attname, 'method', am.amname,
                                                           'opclass', opc.opcname, 'valid', i.indisvalid))
                         from rel join pg_index i on i.indrelid = rel.oid
                         join pg_class ic on ic.oid = i.indexrelid join pg_am am on am.oid = ic.relam
                         join pg_attribute a on a.attrelid = rel.oid and a.attnum = i.indkey[0]
                         left join pg_opclass opc on opc.oid = i.indclass[0]), '[]'::json)
)
"""

# What else lives in a schema (relations by name, plus functions and standalone types), so unwire drops
# a pod's schema only when nothing but the dropped tables is left in it.
SCHEMA_CONTENTS_SQL = r"""
select coalesce((select json_agg(c.relname) from pg_class c
                 where c.relnamespace = n.oid and c.relkind in ('r', 'v', 'm', 'f', 'p', 'S', 'c')), '[]'::json),
       (select count(*) from pg_proc p where p.pronamespace = n.oid)
       + (select count(*) from pg_type t where t.typnamespace = n.oid and t.typrelid = 0
          and (t.typelem = 0 or not exists (select 1 from pg_type e where e.oid = t.typelem and e.typrelid <> 0)))
from pg_namespace n where n.nspname = %(schema)s
"""

# Is a function of this name in this schema (any signature)? A fast-path name must not take someone else's.
FUNCTION_EXISTS_SQL = r"""
select exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
               where n.nspname = %(schema)s and p.proname = %(name)s)
"""
