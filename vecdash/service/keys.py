"""Which metadata keys a collection's rows have: every top-level key of a bounded sample, its JSON
types, how often it is present and its most common values, aggregated on the server (only the summary
crosses the wire).

The sample: TABLESAMPLE SYSTEM (random pages, so bounded I/O on any size of table) at about 1.5 times
the rows asked for, then a random `sample` of those. A table under SYSTEM_MIN_BYTES has too few pages
for page sampling to be even (a page holds many rows, or none of the few asked for): it is read whole,
`sample` rows at random. On a table smaller than SAMPLE_WHEN samples, a foreign table or a view (no
TABLESAMPLE there), or when the sample comes back short (a stale row estimate), the first `sample`
rows instead.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from vecdash.db.pods import PodClient
from vecdash.errors import UserError
from vecdash.model import Collection, Topology
from vecdash.model_data import DEFAULT_SAMPLE, MAX_SAMPLE, TOP_VALUES, VALUE_CHARS, KeyReport, KeyStat, KeyValue
from vecdash.service.browse import find_collection, read_rows
from vecdash.units import human_count

# TABLESAMPLE only pays off on a table this many times the sample; a smaller one is read from the start
SAMPLE_WHEN = 4
OVERSAMPLE = 1.5
SYSTEM_MIN_BYTES = 1 << 20  # 128 pages: below that, every row is read (cheap) and `sample` drawn at random

# s: the sampled metadata; kv: every (key, value) of the rows whose metadata is an object;
# one row per key (none when no row has a key), each with the sample's size beside it
_KEYS = """
with s as materialized ({sample}),
kv as (select e.key, e.value from s cross join lateral jsonb_each(s.m) e where jsonb_typeof(s.m) = 'object'),
typed as (select key, jsonb_typeof(value) as t, count(*) as n from kv group by key, jsonb_typeof(value)),
keys as (select key, jsonb_object_agg(t, n) as types, sum(n)::bigint as present from typed group by key),
vals as (select key, value, count(*) as n,
                row_number() over (partition by key order by count(*) desc, value) as rank
         from kv group by key, value),
tops as (select key, jsonb_agg(jsonb_build_array(left(value::text, %s), length(value::text), n,
                                                 case when length(value::text) <= %s then value end)
                               order by rank) as top
         from vals where rank <= %s group by key)
select (select count(*) from s), (select count(*) from s where m is null or jsonb_typeof(m) <> 'object'),
       k.key, k.types, k.present, t.top
from (select 1) one
left join keys k on true
left join tops t on t.key = k.key
order by k.present desc, k.key
"""
_SAMPLED = "select metadata as m from {rel} tablesample system (%s) order by random() limit %s"
_RANDOM = "select metadata as m from {rel} order by random() limit %s"
_FIRST = "select metadata as m from {rel} limit %s"


def check_sample(sample: int, top: int = TOP_VALUES) -> None:
    """UserError before any I/O: a sample size or a number of values out of range."""
    for name, value, high in (("sample", sample, MAX_SAMPLE), ("top", top, 100)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
            raise UserError(f"{name} must be an integer from 1 to {high:,}, got {value!r}")


def _statement(coll: Collection, sampled: bool, sample: int, top: int, pct: float) -> tuple[sql.Composable, list[Any]]:
    """pct > 0: TABLESAMPLE SYSTEM at pct; 0 with `sampled`: the whole (small) table at random."""
    text = (_SAMPLED if pct else _RANDOM) if sampled else _FIRST
    inner = sql.SQL(text).format(rel=sql.Identifier(coll.schema, coll.name))
    params: list[Any] = ([pct] if sampled and pct else []) + [sample]
    return sql.SQL(_KEYS).format(sample=inner), params + [VALUE_CHARS, VALUE_CHARS, top]


async def sample_keys(client: PodClient, pod: str, collection: str, *, schema: str = "vecs",
                      sample: int = DEFAULT_SAMPLE, top: int = TOP_VALUES, topology: Topology | None = None) -> KeyReport:
    """The keys of at most `sample` rows (1..MAX_SAMPLE), their `top` most common values each (1..100).
    UserError: a bad sample size, no such pod or collection, no metadata column; PodError: the pod failed."""
    check_sample(sample, top)
    coll = await find_collection(client, pod, schema, collection, topology)
    if not coll.has_metadata:
        raise UserError(f"{coll.qualified} on {pod} has no jsonb `metadata` column")
    estimate = coll.rows_estimate if coll.rows_estimate is not None and coll.rows_estimate > 0 else None
    sampled = coll.kind in ("table", "matview") and estimate is not None and estimate >= SAMPLE_WHEN * sample
    pages = sampled and coll.table_bytes >= SYSTEM_MIN_BYTES
    pct = min(100.0, 100.0 * OVERSAMPLE * sample / estimate) if pages else 0.0
    rows = (await read_rows(client, coll, [_statement(coll, sampled, sample, top, pct)]))[0]
    method = (f"tablesample system ({pct:.3g}%), {human_count(sample)} rows at random" if pages
              else f"{human_count(sample)} rows at random of a small table, read whole")
    if sampled and rows[0][0] < sample // 2:  # the estimate was stale: the table is smaller than it said
        sampled = False
        rows = (await read_rows(client, coll, [_statement(coll, False, sample, top, 0.0)]))[0]
    if not sampled:
        method = f"the first {human_count(sample)} rows"
    return KeyReport(pod=pod, schema=coll.schema, collection=coll.name, sampled=rows[0][0], method=method,
                     keys=[_stat(r, rows[0][0]) for r in rows if r[2] is not None], not_objects=rows[0][1],
                     rows_estimate=coll.rows_estimate)


def _stat(r: tuple, sampled: int) -> KeyStat:
    _, _, key, types, present, top = r
    values = [KeyValue(text=text, count=n, truncated=length > VALUE_CHARS, value=value)
              for text, length, n, value in (top or [])]
    return KeyStat(key=key, present=present, share=present / sampled if sampled else 0.0,
                   types=dict(sorted(types.items(), key=lambda kv: (-kv[1], kv[0]))), top=values)
