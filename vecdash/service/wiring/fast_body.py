"""The PL/pgSQL of the fast-path functions (`<view>_knn`, `<collection>_knn_all`), as one template.

Both functions are the same code over a list of members (one per pod): `_knn` has one, `_knn_all` several.
Per call and per member, one simple-Query message goes to the pod over a dblink connection named per
server and kept for the session:

    select concat(set_config('transaction_read_only', 'on', true), set_config('statement_timeout', ..., true)
                  [, set_config('hnsw.ef_search', ..., true) ...]);
    select id::text, vec OPERATOR(vs.<=>) '[...]'::vs.vector as distance, metadata from s.t where ... order by distance limit k

Why two statements in one message, not `dblink_exec(BEGIN READ ONLY)` + `SET LOCAL` + `dblink()` + COMMIT:
one round trip instead of four or more. Why not a CTE calling set_config() inside the k-NN statement:
the order in which a CTE and an index scan start is the planner's, and a statement_timeout set inside a
statement does not bound that statement. The statements of one message run in one implicit transaction,
so the settings are local to it and gone after it, and statement_timeout is armed per statement, so the
k-NN select runs read-only under the timeout and the knobs. With knobs, the first statement also casts
the query to pgvector's type, which loads pgvector in a fresh pod session before its settings are set
(set on a placeholder, they would be lost). The k-NN select is the one a client sends the pod (the vector
once, ordered by the output column). Every value is quoted by format('%L') and every name by format('%I');
the operator is one of pgvector's, fixed at plan time.

Waiting for the answers: the query goes to every pod first (dblink_send_query), then each answer is read
with dblink_get_result. When the calling session has a statement_timeout, that read blocks: on
PostgreSQL 17+ it waits on the backend's latch, so the caller's statement_timeout and a cancel end it,
and no CPU is spent waiting (dblink() itself is not used: when interrupted it drains the pending answer
first, so a hung pod would hold it). Without a caller's timeout the function polls dblink_is_busy
(spinning for the first 20 ms, then in 1 ms sleeps) up to the pod's timeout plus one second, then closes
that connection and fails (or skips the pod with `partial`): a hung pod (its processes stopped) cannot
run its own statement timeout. Interrupted while waiting, the function closes the connections still
owed an answer and re-raises. A connection that broke (class 08, or the pod ended the session) is
reopened once and the query sent again. Opening a connection to a hung pod waits in dblink_connect,
which libpq's connect_timeout does not bound (dblink connects through PostgreSQL's interruptible libpq
wrapper): there the caller's statement_timeout is the bound.
"""

from __future__ import annotations

# Placeholders (psycopg.sql): {dbl} dblink's schema, {vs} pgvector's schema on the primary, {members}
# a `values` list of one row per member, {n} their number, {k_max}, {timeout_ms}, {wait_ms},
# {dim_check} a statement or nothing, {partial} `$8` for _knn_all (else false). Parameters are positional ($1 query,
# $2 k, $3 filter, $4 path, $5 ef_search, $6 iterative_scan, $7 probes, $8 partial): the function's own
# names may be anything the view is called.
BODY = """
#variable_conflict use_column
declare
    m record;
    v_pod text[] := array[]::text[];
    v_srv text[] := array[]::text[];
    v_conn text[] := array[]::text[];
    v_sql text[] := array[]::text[];
    v_err text[] := array[]::text[];
    v_state text[] := array[]::text[];
    v_knobs text := '';
    v_load boolean := $5 is not null or $6 is not null or $7 is not null;
    v_block boolean := current_setting('statement_timeout') <> '0';
    v_q text := $1::text;
    v_iter text;
    v_where text;
    v_deadline timestamptz;
    v_spin timestamptz;
    v_try int;
    v_failed text := '';
    v_first_state text;
    r_pod text[] := array[]::text[];
    r_id text[] := array[]::text[];
    r_d float8[] := array[]::float8[];
    r_m jsonb[] := array[]::jsonb[];
    i int;
    j int;
begin
    if $2 is null or $2 < 1 or $2 > {k_max} then
        raise exception using errcode = '22023', message = format('k must be from 1 to %s, got %s', {k_max}, coalesce($2::text, 'null'));
    end if;
    if $1 is null then
        raise exception using errcode = '22004', message = 'query must not be null';
    end if;
    {dim_check}
    v_knobs := format(', set_config(%L, %L, true)', 'statement_timeout', {timeout_ms});
    if $5 is not null then
        v_knobs := v_knobs || format(', set_config(%L, %L, true)', 'hnsw.ef_search', $5);
    end if;
    if $7 is not null then
        v_knobs := v_knobs || format(', set_config(%L, %L, true)', 'ivfflat.probes', $7);
    end if;
    if $6 is not null then
        v_iter := case lower($6) when 'off' then 'off' when 'strict' then 'strict_order' when 'strict_order' then 'strict_order'
                                 when 'relaxed' then 'relaxed_order' when 'relaxed_order' then 'relaxed_order' end;
        if v_iter is null then
            raise exception using errcode = '22023', message = format('iterative_scan must be off, strict or relaxed, got %L', $6);
        end if;
        v_knobs := v_knobs || format(', set_config(%L, %L, true)', 'hnsw.iterative_scan', v_iter);
        if v_iter <> 'strict_order' then
            v_knobs := v_knobs || format(', set_config(%L, %L, true)', 'ivfflat.iterative_scan', v_iter);
        end if;
    end if;
    for m in select * from (values {members}) as t(pod, srv, conn, tschema, tname, idcol, veccol, vschema, vtype, op, meta) loop
        v_where := '';
        if ($3 is not null or $4 is not null) and m.meta is null then
            raise exception using errcode = '22023', message = format('pod %s: %s.%s has no jsonb metadata column to filter', m.pod, m.tschema, m.tname);
        end if;
        if $3 is not null then
            v_where := v_where || format(' and %I @> %L::jsonb', m.meta, $3);
        end if;
        if $4 is not null then
            v_where := v_where || format(' and %I @@ %L::jsonpath', m.meta, $4);
        end if;
        v_pod := v_pod || m.pod;
        v_srv := v_srv || m.srv;
        v_conn := v_conn || m.conn;
        v_err := v_err || null::text;
        v_state := v_state || null::text;
        v_sql := v_sql || format(
            'select concat(%s set_config(%L, %L, true)%s); '
            'select %I::text, %I operator(%I.%s) %L::%I.%I as distance, %s from %I.%I where true%s order by distance limit %L',
            case when v_load then format('%L::%I.%I is null,', v_q, m.vschema, m.vtype) else '' end,
            'transaction_read_only', 'on', v_knobs,
            m.idcol, m.veccol, m.vschema, m.op, v_q, m.vschema, m.vtype,
            case when m.meta is null then 'null::jsonb' else format('%I', m.meta) end,
            m.tschema, m.tname, v_where, $2);
    end loop;

    -- send to every pod first, so they work concurrently
    for i in 1..{n} loop
        begin
            if v_conn[i] <> all(coalesce({dbl}.dblink_get_connections(), array[]::text[])) then
                perform {dbl}.dblink_connect(v_conn[i], v_srv[i]);
            end if;
            if {dbl}.dblink_send_query(v_conn[i], v_sql[i]) <> 1 then  -- broken or left busy: reopen once
                perform {dbl}.dblink_disconnect(v_conn[i]);
                perform {dbl}.dblink_connect(v_conn[i], v_srv[i]);
                if {dbl}.dblink_send_query(v_conn[i], v_sql[i]) <> 1 then
                    raise exception using errcode = '08006', message = 'could not send the query';
                end if;
            end if;
        exception when others then
            v_err[i] := sqlerrm;
            v_state[i] := sqlstate;
        end;
    end loop;

    -- then collect each answer: blocking when the caller's statement_timeout bounds the wait (dblink_get_result
    -- waits interruptibly), else polling up to the pod's timeout plus a margin
    v_deadline := clock_timestamp() + make_interval(secs => {wait_ms} / 1000.0);
    v_spin := clock_timestamp() + interval '20 milliseconds';
    for i in 1..{n} loop
        continue when v_err[i] is not null;
        v_try := 0;
        loop
            begin
                while not v_block and {dbl}.dblink_is_busy(v_conn[i]) = 1 loop
                    if clock_timestamp() > v_deadline then
                        perform {dbl}.dblink_disconnect(v_conn[i]);
                        -- not 57014: PL/pgSQL's `others` never catches query_canceled (a real cancel must not be
                        -- caught); VD001 is ours, reported as 57014 below
                        raise exception using errcode = 'VD001', message = format('no answer within %s ms (is it hung?)', {wait_ms});
                    end if;
                    if clock_timestamp() > v_spin then
                        perform pg_sleep(0.001);
                    end if;
                end loop;
                perform 1 from {dbl}.dblink_get_result(v_conn[i]) as s(settings text);
                select r_pod || coalesce(array_agg(v_pod[i]), array[]::text[]), r_id || coalesce(array_agg(g.id), array[]::text[]),
                       r_d || coalesce(array_agg(g.distance), array[]::float8[]), r_m || coalesce(array_agg(g.metadata), array[]::jsonb[])
                  into r_pod, r_id, r_d, r_m
                  from {dbl}.dblink_get_result(v_conn[i]) as g(id text, distance float8, metadata jsonb);
                perform 1 from {dbl}.dblink_get_result(v_conn[i]) as e(id text, distance float8, metadata jsonb);
                exit;
            exception when others then
                begin
                    perform {dbl}.dblink_disconnect(v_conn[i]);  -- left mid-answer: the next call opens a fresh one
                exception when others then
                    null;
                end;
                if v_try = 0 and (sqlstate like '08%' or sqlstate in ('57P01', '57P02', '57P03')) then
                    v_try := 1;  -- the connection broke: reopen it and send again, once
                    begin
                        perform {dbl}.dblink_connect(v_conn[i], v_srv[i]);
                        if {dbl}.dblink_send_query(v_conn[i], v_sql[i]) <> 1 then
                            raise exception using errcode = '08006', message = 'could not send the query';
                        end if;
                        v_deadline := greatest(v_deadline, clock_timestamp() + make_interval(secs => {wait_ms} / 1000.0));
                    exception when others then
                        v_err[i] := sqlerrm;
                        v_state[i] := sqlstate;
                        exit;
                    end;
                else
                    v_err[i] := sqlerrm;
                    v_state[i] := case sqlstate when 'VD001' then '57014' else sqlstate end;
                    exit;
                end if;
            end;
        end loop;
    end loop;

    for i in 1..{n} loop
        continue when v_err[i] is null;
        if {partial} then
            raise notice 'pod % skipped: %', v_pod[i], v_err[i];
        else
            v_failed := v_failed || case when v_failed = '' then '' else '; ' end || format('pod %s: %s', v_pod[i], v_err[i]);
            v_first_state := coalesce(v_first_state, v_state[i]);
        end if;
    end loop;
    if v_failed <> '' then
        raise exception using errcode = coalesce(v_first_state, 'XX000'), message = v_failed;
    end if;
    return query {result};
exception when query_canceled then
    -- the caller's statement_timeout or a cancel (while connecting or waiting): answers still owed on
    -- these connections would make the next call's sends fail, so they go (reopened by the next call)
    for j in 1..{n} loop
        begin
            perform {dbl}.dblink_disconnect(v_conn[j]);
        exception when others then
            null;
        end;
    end loop;
    raise;
end
"""

RESULT_ONE = "select u.id, u.distance, u.metadata from unnest(r_id, r_d, r_m) as u(id, distance, metadata) order by u.distance, u.id limit $2"
RESULT_ALL = ("select u.pod, u.id, u.distance, u.metadata from unnest(r_pod, r_id, r_d, r_m) as u(pod, id, distance, metadata) "
              "order by u.distance, u.pod, u.id limit $2")
DIM_CHECK = """if {vs}.vector_dims($1) <> {dim} then
        raise exception using errcode = '22000', message = format('query has %s dimensions, the collection has %s', {vs}.vector_dims($1), {dim});
    end if;"""

# The grant that makes EXECUTE follow the views' SELECT: every role (PUBLIC as 0) holding SELECT on
# every member view gets EXECUTE, read at apply time from the views' ACLs. Placeholders: {fn} the
# function's signature as a literal, {views} an array of the views' names (regclass text).
GRANT = """
declare g record;
begin
    for g in select a.grantee from unnest({views}::text[]) as v(rel)
             cross join lateral aclexplode(coalesce((select c.relacl from pg_class c where c.oid = v.rel::regclass),
                                                    acldefault('r', (select c.relowner from pg_class c where c.oid = v.rel::regclass)))) as a
             where a.privilege_type = 'SELECT'
             group by a.grantee having count(distinct v.rel) = cardinality({views}::text[]) loop
        if g.grantee = 0 then
            execute format('grant execute on function %s to public', {fn}::regprocedure);
        else
            execute format('grant execute on function %s to %I', {fn}::regprocedure, pg_get_userbyid(g.grantee));
        end if;
    end loop;
end
"""
