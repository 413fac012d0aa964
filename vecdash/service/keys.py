"""Which metadata keys a collection's rows have: every top-level key of a bounded sample, its JSON
types, how often it is present and its most common values, aggregated on the server (only the summary
crosses the wire). The sample is service/sampling.py's, as the map's is; the report says how it was drawn.
"""

from __future__ import annotations

from psycopg import sql

from vecdash.db.pods import PodClient
from vecdash.errors import UserError
from vecdash.inputs import check_integer
from vecdash.model import Topology
from vecdash.model_data import DEFAULT_SAMPLE, KEY_VALUE_CHARS, KEYS_MAX_SAMPLE, TOP_VALUES, KeyReport, KeyStat, KeyValue
from vecdash.service.catalog import find_collection
from vecdash.service.sampling import draw

MAX_TOP = 100

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


def check_sample(sample: int, top: int = TOP_VALUES) -> None:
    """UserError before any I/O: a sample size or a number of values out of range."""
    check_integer("sample", sample, 1, KEYS_MAX_SAMPLE)
    check_integer("top", top, 1, MAX_TOP)


async def sample_keys(client: PodClient, pod: str, collection: str, *, schema: str = "vecs",
                      sample: int = DEFAULT_SAMPLE, top: int = TOP_VALUES, topology: Topology | None = None) -> KeyReport:
    """The keys of at most `sample` rows (1..KEYS_MAX_SAMPLE), their `top` most common values each (1..MAX_TOP).
    UserError: a bad sample size, no such pod or collection, no metadata column; PodError: the pod failed."""
    check_sample(sample, top)
    coll = await find_collection(client, pod, schema, collection, topology)
    if not coll.has_metadata:
        raise UserError(f"{coll.qualified} on {pod} has no jsonb `metadata` column")
    results, method = await draw(client, coll, sample, sql.SQL("metadata as m"),
                                 wrap=lambda inner: sql.SQL(_KEYS).format(sample=inner),
                                 extra_params=[KEY_VALUE_CHARS, KEY_VALUE_CHARS, top], count=lambda rows: rows[0][0])
    rows = results[0]
    return KeyReport(pod=pod, schema=coll.schema, collection=coll.name, sampled=rows[0][0], method=method,
                     keys=[_stat(r, rows[0][0]) for r in rows if r[2] is not None], not_objects=rows[0][1],
                     rows_estimate=coll.rows_known)


def _stat(r: tuple, sampled: int) -> KeyStat:
    _, _, key, types, present, top = r
    values = [KeyValue(text=text, count=n, truncated=length > KEY_VALUE_CHARS, value=value)
              for text, length, n, value in (top or [])]
    return KeyStat(key=key, present=present, share=present / sampled if sampled else 0.0,
                   types=dict(sorted(types.items(), key=lambda kv: (-kv[1], kv[0]))), top=values)
