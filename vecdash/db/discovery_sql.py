"""The statement `pods_from_primary` reads on the primary: its postgres_fdw servers.

Server options only, minus any that could hold a credential (postgres_fdw keeps user and password in
user mappings, but a server's options are read defensively all the same). Of the user mapping only the
`user` is selected, as the catalog statement does: the database a server without dbname reaches,
for telling whether a server reaches a configured pod. Never a mapping's password.
"""

FDW_SERVERS_SQL = r"""
select s.srvname as name, w.fdwname as fdw,
       coalesce(array_to_json(array(
           select o from unnest(s.srvoptions) o
           where split_part(o, '=', 1) not in ('user', 'password', 'sslpassword', 'passfile', 'sslkey'))),
           '[]'::json) as options,
       (select (select substr(o, 6) from unnest(m.umoptions) o where o like 'user=%')
          from pg_user_mappings m
         where m.srvid = s.oid and m.umuser in (0, (select oid from pg_roles where rolname = current_user))
         order by m.umuser = 0 limit 1) as mapping_user,
       obj_description(s.oid, 'pg_foreign_server') as comment
from pg_foreign_server s
join pg_foreign_data_wrapper w on w.oid = s.srvfdw
where w.fdwname = 'postgres_fdw'
order by s.srvname
"""
