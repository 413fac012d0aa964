"""Catalog statement for rebuilding views exactly: every property a drop would lose, read on the server.

VIEW_PROPERTIES_SQL takes `{rels}`, a JSON array of [schema, name], and returns one row per view or
materialized view: `key` (quoted schema.name), `props` (what a rebuild must give back, compared as a
whole after it), and `extra` (what the rebuild needs but does not compare, plus `blockers`: objects
that depend on the relation and that vecdash does not rebuild). Privileges are spelled out from
`acldefault` when `relacl` is null, so "never granted" and "granted the defaults" compare equal.
"""

VIEW_PROPERTIES_SQL = r"""
with rel as (
    select c.oid, n.nspname, c.relname, c.relkind, c.relowner, c.reltype, c.relnamespace, c.relacl,
           c.reloptions, c.reltablespace, c.relam, c.relispopulated
    from jsonb_array_elements({rels}::jsonb) r
    join pg_catalog.pg_namespace n on n.nspname = r->>0
    join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = r->>1
    where c.relkind in ('v', 'm')
),
acl as (
    select rel.oid, 0 as attnum, g.* from rel,
        aclexplode(coalesce(rel.relacl, acldefault('r', rel.relowner))) g
    union all
    select a.attrelid, a.attnum, g.* from rel join pg_catalog.pg_attribute a on a.attrelid = rel.oid,
        aclexplode(a.attacl) g
    where a.attnum > 0 and not a.attisdropped
),
acl_doc as (
    select oid, attnum, jsonb_agg(jsonb_build_array(
               pg_get_userbyid(grantor), case when grantee = 0 then null else pg_get_userbyid(grantee) end,
               privilege_type, is_grantable)
           order by pg_get_userbyid(grantor), grantee <> 0, pg_get_userbyid(grantee), privilege_type) as doc
    from acl group by oid, attnum
)
select quote_ident(rel.nspname) || '.' || quote_ident(rel.relname) as key,
  jsonb_build_object(
    'owner', pg_get_userbyid(rel.relowner),
    'options', coalesce((select jsonb_agg(o order by o) from unnest(rel.reloptions) o), '[]'),
    'acl', coalesce((select doc from acl_doc d where d.oid = rel.oid and d.attnum = 0), '[]'),
    'comment', obj_description(rel.oid, 'pg_class'),
    'tablespace', (select spcname from pg_catalog.pg_tablespace where oid = rel.reltablespace),
    'access_method', (select amname from pg_catalog.pg_am where oid = rel.relam),
    'populated', rel.relispopulated,
    'labels', coalesce((select jsonb_agg(jsonb_build_array(l.objsubid, l.provider, l.label)
                                         order by l.objsubid, l.provider)
                        from pg_catalog.pg_seclabel l
                        where l.objoid = rel.oid and l.classoid = 'pg_catalog.pg_class'::regclass), '[]'),
    'columns', (select jsonb_agg(jsonb_build_object(
                    'name', a.attname,
                    'acl', coalesce((select doc from acl_doc d where d.oid = rel.oid and d.attnum = a.attnum), '[]'),
                    'comment', col_description(rel.oid, a.attnum),
                    'default', pg_get_expr(ad.adbin, ad.adrelid),
                    'statistics', a.attstattarget,
                    'options', coalesce(to_jsonb(a.attoptions), '[]')) order by a.attnum)
                from pg_catalog.pg_attribute a
                left join pg_catalog.pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
                where a.attrelid = rel.oid and a.attnum > 0 and not a.attisdropped),
    'indexes', coalesce((select jsonb_agg(jsonb_build_object(
                    'name', ic.relname, 'definition', pg_get_indexdef(i.indexrelid),
                    'comment', obj_description(ic.oid, 'pg_class'), 'tablespace', ts.spcname,
                    'clustered', i.indisclustered) order by ic.relname)
                from pg_catalog.pg_index i join pg_catalog.pg_class ic on ic.oid = i.indexrelid
                left join pg_catalog.pg_tablespace ts on ts.oid = ic.reltablespace
                where i.indrelid = rel.oid), '[]')
  ) as props,
  jsonb_build_object(
    'schema', rel.nspname, 'name', rel.relname, 'materialized', rel.relkind = 'm',
    'definition', pg_get_viewdef(rel.oid, true),
    -- roles the creating role's default privileges would grant a new relation in this schema to
    'default_grantees', coalesce((select jsonb_agg(distinct case when g.grantee = 0 then null
                                                             else pg_get_userbyid(g.grantee) end)
                                  from pg_catalog.pg_default_acl da, aclexplode(da.defaclacl) g
                                  where da.defaclrole = (select oid from pg_catalog.pg_roles where rolname = current_user)
                                    and da.defaclobjtype = 'r' and da.defaclnamespace in (0, rel.relnamespace)), '[]'),
    -- what depends on the relation (or its row type) beyond what a rebuild recreates: the views being
    -- rebuilt with it, its own row type, column defaults and indexes
    'blockers', coalesce((select jsonb_agg(distinct pg_describe_object(d.classid, d.objid, d.objsubid))
                          from pg_catalog.pg_depend d
                          where ((d.refclassid = 'pg_catalog.pg_class'::regclass and d.refobjid = rel.oid)
                                 or (d.refclassid = 'pg_catalog.pg_type'::regclass and d.refobjid = rel.reltype))
                            and d.deptype in ('n', 'a')
                            and d.classid <> 'pg_catalog.pg_attrdef'::regclass
                            and not (d.classid = 'pg_catalog.pg_class'::regclass
                                     and exists (select 1 from pg_catalog.pg_index i
                                                 where i.indexrelid = d.objid and i.indrelid = rel.oid))
                            and not (d.classid = 'pg_catalog.pg_rewrite'::regclass
                                     and exists (select 1 from pg_catalog.pg_rewrite w join rel r2 on r2.oid = w.ev_class
                                                 where w.oid = d.objid and w.rulename = '_RETURN'))), '[]')
                || coalesce((select jsonb_agg('member of ' || pg_describe_object(d.refclassid, d.refobjid, 0))
                             from pg_catalog.pg_depend d
                             where d.classid = 'pg_catalog.pg_class'::regclass and d.objid = rel.oid
                               and d.deptype = 'e'), '[]')
  ) as extra
from rel
"""

# Per relation, an md5 of each property (so a plan carries a short expected value, not the documents).
VIEW_FINGERPRINTS_SQL = r"""
select p.key, p.props, p.extra,
       (select jsonb_object_agg(k, md5(v::text)) from jsonb_each(p.props) x(k, v)) as fingerprint
from ({properties}) p
"""

# The last step of a rebuild: null when every relation's fingerprint equals `{expected}` (a JSON object
# key -> fingerprint read when the plan was made), else which properties of which relations differ.
VIEW_CHECK_SQL = r"""
select string_agg(e.key || ': ' || coalesce(
           (select string_agg(f.k, ', ' order by f.k) from jsonb_each_text(e.fp) f(k, h)
            where now.fingerprint->>f.k is distinct from f.h), 'not recreated'), '; ' order by e.key)
from jsonb_each({expected}::jsonb) e(key, fp)
left join ({fingerprints}) now on now.key = e.key
where now.fingerprint is distinct from e.fp
"""
